//! The guarded client: reqwest with a resolver that drops refused addresses (so the address connected to
//! is the one checked, with no second lookup in between), a check of IP-literal URLs before sending
//! (reqwest connects to those without resolving), no redirects and no proxy.

use std::{error::Error as StdError, net::SocketAddr, sync::Arc, time::Duration};

use reqwest::{
    Method, Response,
    dns::{Addrs, Name, Resolve, Resolving},
    header::{HeaderName, HeaderValue},
};

use crate::{Policy, Refused};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination is not allowed: nothing was sent.
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Http(reqwest::Error),
}

impl From<reqwest::Error> for Error {
    /// A refusal by the resolver reaches reqwest as a connect error: it is told apart here.
    fn from(e: reqwest::Error) -> Self {
        let mut source = e.source();
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return Self::Refused(refused.clone());
            }
            source = cause.source();
        }
        Self::Http(e)
    }
}

impl Error {
    pub fn refused(&self) -> Option<&Refused> {
        match self {
            Self::Refused(r) => Some(r),
            Self::Http(_) => None,
        }
    }
}

/// An HTTP client for destinations users configure (webhooks, agents, alert hooks). Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

/// Settings of an [`Outbound`] beyond the guard, which cannot be turned off.
#[derive(Debug, Clone)]
pub struct Builder {
    policy: Policy,
    timeout: Option<Duration>,
    user_agent: Option<String>,
}

impl Builder {
    /// Longest time a request may take, connecting included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    pub fn build(self) -> Result<Outbound, reqwest::Error> {
        let policy = Arc::new(self.policy);
        let mut builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            // A redirect is a destination chosen by the receiver: a public host could send us to an
            // internal one, and a signed body would go where it was not meant to.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect in our stead, to an address we never see.
            .no_proxy();
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(user_agent) = self.user_agent {
            builder = builder.user_agent(user_agent);
        }
        Ok(Outbound {
            http: builder.build()?,
            policy,
        })
    }
}

impl Outbound {
    pub fn builder(policy: Policy) -> Builder {
        Builder {
            policy,
            timeout: None,
            user_agent: None,
        }
    }

    /// A client with no timeout of its own (give one per request) and reqwest's user agent.
    pub fn new(policy: Policy) -> Result<Self, reqwest::Error> {
        Self::builder(policy).build()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// See [`Policy::check_url`].
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        self.policy.check_url(url)
    }

    pub fn request(&self, method: Method, url: &str) -> Request {
        Request {
            inner: self.http.request(method, url),
            policy: self.policy.clone(),
        }
    }

    pub fn get(&self, url: &str) -> Request {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Request {
        self.request(Method::POST, url)
    }
}

/// A request being built; [`Request::send`] checks its URL before anything leaves.
pub struct Request {
    inner: reqwest::RequestBuilder,
    policy: Arc<Policy>,
}

impl Request {
    fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            inner: f(self.inner),
            policy: self.policy,
        }
    }

    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|r| r.header(key, value))
    }

    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
        self.map(|r| r.bearer_auth(token))
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|r| r.body(body))
    }

    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        self.map(|r| r.json(json))
    }

    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.map(|r| r.form(form))
    }

    /// Longest time this request may take, connecting included.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|r| r.timeout(timeout))
    }

    /// Checks the destination, then sends. A refused destination gets nothing, not even a connection.
    pub async fn send(self) -> Result<Response, Error> {
        let (client, request) = self.inner.build_split();
        let request = request?;
        self.policy.check_url(request.url())?;
        Ok(client.execute(request).await?)
    }
}

/// Resolves like the system does, then keeps only the addresses the policy lets through: reqwest
/// connects to what this returns, and to nothing else.
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = policy.filter(&host, resolved)?;
            if kept.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;
    use crate::{Range, Reason};

    fn allowing(list: &str) -> Policy {
        Policy::allowing(list.parse().unwrap())
    }

    /// A server on 127.0.0.1 that answers every request with `response` and counts connections.
    async fn server(response: String) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (port, hits)
    }

    fn ok() -> String {
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_refused_addresses() {
        let resolver = GuardedResolver {
            policy: Arc::default(),
        };
        let Err(e) = resolver.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost resolved");
        };
        let refused = e.downcast_ref::<Refused>().expect("a refusal");
        assert!(
            matches!(refused, Refused::Name { host, reason: Reason::Range(Range::Loopback), .. } if host == "localhost"),
            "{refused}"
        );
        let resolver = GuardedResolver {
            policy: Arc::new(allowing("127.0.0.0/8")),
        };
        let addrs: Vec<SocketAddr> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()));
    }

    #[tokio::test]
    async fn loopback_is_refused_by_literal_and_by_name_and_reached_when_allowed() {
        let (port, hits) = server(ok()).await;
        let guarded = Outbound::new(Policy::default()).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://localhost:{port}/"),
        ] {
            let err = guarded.post(&url).body("x").send().await.unwrap_err();
            let refused = err.refused().unwrap_or_else(|| panic!("{url}: {err}"));
            assert!(refused.to_string().contains("loopback"), "{refused}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");

        let allowed = Outbound::new(allowing("127.0.0.0/8")).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
        ] {
            let response = allowed.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (target, target_hits) = server(ok()).await;
        let (redirector, _) = server(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ))
        .await;
        let allowed = Outbound::new(allowing("127.0.0.0/8")).unwrap();
        let response = allowed
            .post(&format!("http://127.0.0.1:{redirector}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(target_hits.load(Ordering::SeqCst), 0);
    }
}
