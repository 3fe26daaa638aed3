//! A typed client of the botfleet manager's REST API. Every method sends one request and decodes the
//! answer into the type `shared` declares for it; the manager's refusals come back as
//! [`ClientError::Api`] with its error body as it is.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = botfleet_client::Client::new("http://127.0.0.1:3000", "bfa_…")?;
//! for instance in client.list_instances(&Default::default()).await?.instances {
//!     println!("{} {:?}", instance.id, instance.status);
//! }
//! # Ok(()) }
//! ```

mod error;
mod sse;
mod stream;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::{Serialize, de::DeserializeOwned};
use shared::{
    ErrorBody, ErrorCode,
    api::{
        Done,
        access::{ApiKeyResponse, AuthStatusResponse, CredentialsResponse, RotatedApiKey},
        audit::{AuditList, AuditQuery},
        events::{EventList, EventListQuery, EventStreamQuery, EventView},
        hosts::{
            ContainerAction, ContainerActionResponse, ContainerStopQuery, HostAvailability,
            HostContainerList, HostList, HostMetricsHistory, HostMetricsQuery, HostMetricsResponse,
            HostResponse, UpdateHostRequest, UpdatedHost,
        },
        instances::{
            AuthStatus, CreateInstanceQuery, CreateInstanceRequest, CreateInstanceResponse,
            DeleteInstanceResponse, InstanceList, InstanceListQuery, InstanceResponse,
        },
        lifecycle::{ProcessResponse, UpdateInstanceRequest, UpdateInstanceResponse, VerbResponse},
        resources::{InstanceResources, ResourcesOverview},
        users::{
            ApiKeyList, CreateApiKeyRequest, CreateUserRequest, CreatedApiKey, LoginRequest,
            LoginResponse, MeView, UpdateUserRequest, UserList, UserView,
        },
        webhooks::{DeliveriesQuery, DeliveryList, ReplayResponse},
    },
    webhook::{WebhookConfigRequest, WebhookConfigView},
};

pub use error::{ClientError, DecodeError, InvalidBaseUrl};
pub use sse::{SseMessage, SseParser};
pub use stream::{LineStream, SseStream};

/// The default time one request may take (streams and waits have their own).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one manager, with its bearer credential: the bootstrap admin key, an API key
/// (`bfu_…`) or a session token from [`Client::login`]; the manager treats them alike. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: String,
    timeout: Duration,
}

/// How a wait for a new bot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// `client_ready`: the bot is connected and can send.
    Ready(AuthStatusResponse),
    /// `failed`: the provider refused the token, or the worker kept crashing (`reason` says which).
    Failed(AuthStatusResponse),
    /// Still `pending` when the time was up; the last answer.
    TimedOut(AuthStatusResponse),
}

/// `?tail=&follow=` of the log route.
#[derive(Serialize)]
struct LogQuery {
    tail: u32,
    follow: bool,
}

impl Client {
    /// A client of the manager at `base_url` (`http://host:port`, optionally with a path prefix),
    /// authenticating with `key` (any bearer credential). Uses rustls for `https://`.
    pub fn new(base_url: &str, key: impl Into<String>) -> Result<Self, InvalidBaseUrl> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("botfleet-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InvalidBaseUrl(format!("cannot build an HTTP client: {e}")))?;
        Self::with_http(http, base_url, key)
    }

    /// The same with an HTTP client of your own (proxies, certificates, timeouts).
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        key: impl Into<String>,
    ) -> Result<Self, InvalidBaseUrl> {
        let base = Url::parse(base_url.trim())
            .map_err(|e| InvalidBaseUrl(format!("{base_url:?} is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(InvalidBaseUrl(format!(
                "{base_url:?} is not an http:// or https:// URL"
            )));
        }
        Ok(Self {
            http,
            base,
            key: key.into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The longest a plain request may take (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The manager's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `<base>/api/v1/<segments…>`, each segment percent-encoded (an id cannot escape its place).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .expect("checked in new: the base URL can be a base")
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .bearer_auth(&self.key)
            .timeout(self.timeout)
    }

    /// Sends a request and returns the response when its status is a success; otherwise the error
    /// body the manager answered with.
    async fn send_raw(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(ClientError::Transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        Err(ClientError::Api {
            status: status.as_u16(),
            body: error_body(status, &bytes),
        })
    }

    /// Sends a request and decodes its JSON answer.
    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let request = request.build().map_err(ClientError::Transport)?;
        // Named in a decode error; never the body (it may hold a token).
        let what = format!("{} {}", request.method(), request.url().path());
        let response = self
            .send_raw(RequestBuilder::from_parts(self.http.clone(), request))
            .await?;
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Decode(DecodeError {
                request: what,
                reason: e.to_string(),
            })
        })
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.send(self.request(Method::GET, segments)).await
    }

    async fn post<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.send(self.request(Method::POST, segments)).await
    }

    // ----- instances -----

    /// `POST /api/v1/instances[?wait=&timeout=]`. The answer holds the instance API key, the only time
    /// it is shown. With `query.wait`, the manager answers once the bot is ready or failed (up to
    /// `query.timeout` seconds); this request then waits that long too.
    pub async fn create_instance(
        &self,
        request: &CreateInstanceRequest,
        query: &CreateInstanceQuery,
    ) -> Result<CreateInstanceResponse, ClientError> {
        let mut builder = self
            .request(Method::POST, &["instances"])
            .query(query)
            .json(request);
        if query.wait {
            let wait = Duration::from_secs(query.timeout.unwrap_or(60).into());
            builder = builder.timeout(self.timeout + wait);
        }
        self.send(builder).await
    }

    /// `GET /api/v1/instances[?limit=&offset=&status=&provider=&owner=&label=&q=&sort=&order=]`: the
    /// instances the caller may see, filtered and ordered (oldest first by default); every match unless
    /// paged.
    pub async fn list_instances(
        &self,
        query: &InstanceListQuery,
    ) -> Result<InstanceList, ClientError> {
        self.send(self.request(Method::GET, &["instances"]).query(query))
            .await
    }

    /// `GET /api/v1/instances/{id}`: with health, the live container and the cached record.
    pub async fn get_instance(&self, id: &str) -> Result<InstanceResponse, ClientError> {
        self.get(&["instances", id]).await
    }

    /// `PATCH /api/v1/instances/{id}`: stored at once, applied by the next [`Client::process`].
    pub async fn update(
        &self,
        id: &str,
        request: &UpdateInstanceRequest,
    ) -> Result<UpdateInstanceResponse, ClientError> {
        self.send(
            self.request(Method::PATCH, &["instances", id])
                .json(request),
        )
        .await
    }

    /// `DELETE /api/v1/instances/{id}`: the container is removed and the port freed.
    pub async fn delete(&self, id: &str) -> Result<DeleteInstanceResponse, ClientError> {
        self.send(self.request(Method::DELETE, &["instances", id]))
            .await
    }

    /// `POST /api/v1/instances/{id}/start`.
    pub async fn start(&self, id: &str) -> Result<VerbResponse, ClientError> {
        self.post(&["instances", id, "start"]).await
    }

    /// `POST /api/v1/instances/{id}/stop`.
    pub async fn stop(&self, id: &str) -> Result<VerbResponse, ClientError> {
        self.post(&["instances", id, "stop"]).await
    }

    /// `POST /api/v1/instances/{id}/restart`.
    pub async fn restart(&self, id: &str) -> Result<VerbResponse, ClientError> {
        self.post(&["instances", id, "restart"]).await
    }

    /// `POST /api/v1/instances/{id}/pause`: the bot receives and answers nothing; its worker stays warm.
    pub async fn pause(&self, id: &str) -> Result<VerbResponse, ClientError> {
        self.post(&["instances", id, "pause"]).await
    }

    /// `POST /api/v1/instances/{id}/activate`.
    pub async fn activate(&self, id: &str) -> Result<VerbResponse, ClientError> {
        self.post(&["instances", id, "activate"]).await
    }

    /// `POST /api/v1/instances/{id}/process`: applies the stored configuration.
    pub async fn process(&self, id: &str) -> Result<ProcessResponse, ClientError> {
        self.post(&["instances", id, "process"]).await
    }

    /// `GET /api/v1/instances/{id}/auth-status`.
    pub async fn auth_status(&self, id: &str) -> Result<AuthStatusResponse, ClientError> {
        self.get(&["instances", id, "auth-status"]).await
    }

    /// Follows `auth-status` until the bot is `client_ready` or `failed`, or `timeout` passes;
    /// `on_poll` sees every answer (to show progress).
    pub async fn wait_settled(
        &self,
        id: &str,
        timeout: Duration,
        mut on_poll: impl FnMut(&AuthStatusResponse),
    ) -> Result<WaitOutcome, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.auth_status(id).await?;
            on_poll(&status);
            match status.auth_status {
                AuthStatus::ClientReady => return Ok(WaitOutcome::Ready(status)),
                AuthStatus::Failed => return Ok(WaitOutcome::Failed(status)),
                AuthStatus::Pending if tokio::time::Instant::now() >= deadline => {
                    return Ok(WaitOutcome::TimedOut(status));
                }
                AuthStatus::Pending => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// `GET /api/v1/instances/{id}/credentials`: the key's hint and the worker's API URL.
    pub async fn credentials(&self, id: &str) -> Result<CredentialsResponse, ClientError> {
        self.get(&["instances", id, "credentials"]).await
    }

    /// `GET /api/v1/instances/{id}/api-key`: the key's metadata, never the key.
    pub async fn api_key(&self, id: &str) -> Result<ApiKeyResponse, ClientError> {
        self.get(&["instances", id, "api-key"]).await
    }

    /// `POST /api/v1/instances/{id}/api-key/rotate`: a new key, shown only in this answer; the worker
    /// accepts only it from then on.
    pub async fn rotate_api_key(&self, id: &str) -> Result<RotatedApiKey, ClientError> {
        self.post(&["instances", id, "api-key", "rotate"]).await
    }

    // ----- logs -----

    /// `GET /api/v1/instances/{id}/logs?tail=N`: the worker's last `tail` lines (1 to 10000), as text.
    pub async fn logs(&self, id: &str, tail: u32) -> Result<String, ClientError> {
        let request = self
            .request(Method::GET, &["instances", id, "logs"])
            .query(&LogQuery {
                tail,
                follow: false,
            });
        self.send_raw(request)
            .await?
            .text()
            .await
            .map_err(ClientError::Transport)
    }

    /// `GET /api/v1/instances/{id}/logs?tail=N&follow=true`: the last `tail` lines, then each new one
    /// as the worker writes it, until the stream is dropped (or the container goes away).
    pub async fn follow_logs(&self, id: &str, tail: u32) -> Result<LineStream, ClientError> {
        let request = self
            .http
            .get(self.url(&["instances", id, "logs"]))
            .bearer_auth(&self.key)
            .query(&LogQuery { tail, follow: true });
        Ok(LineStream::new(self.send_raw(request).await?))
    }

    // ----- webhooks -----

    /// `GET /api/v1/instances/{id}/webhook/config` (never the secret).
    pub async fn webhook(&self, id: &str) -> Result<WebhookConfigView, ClientError> {
        self.get(&["instances", id, "webhook", "config"]).await
    }

    /// `PUT /api/v1/instances/{id}/webhook/config`; a secret the manager generated is in this answer
    /// only.
    pub async fn put_webhook(
        &self,
        id: &str,
        request: &WebhookConfigRequest,
    ) -> Result<WebhookConfigView, ClientError> {
        self.send(
            self.request(Method::PUT, &["instances", id, "webhook", "config"])
                .json(request),
        )
        .await
    }

    /// `DELETE /api/v1/instances/{id}/webhook/config`: the webhook and its undelivered events go.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), ClientError> {
        self.send_raw(self.request(Method::DELETE, &["instances", id, "webhook", "config"]))
            .await
            .map(drop)
    }

    // ----- webhook deliveries -----

    /// `GET /api/v1/instances/{id}/webhook/deliveries?status=&limit=`: the outbox, newest first.
    pub async fn deliveries(
        &self,
        id: &str,
        query: &DeliveriesQuery,
    ) -> Result<DeliveryList, ClientError> {
        self.send(
            self.request(Method::GET, &["instances", id, "webhook", "deliveries"])
                .query(query),
        )
        .await
    }

    /// `POST /api/v1/instances/{id}/webhook/deliveries/{event_id}/replay`: one finished delivery again.
    pub async fn replay(&self, id: &str, event_id: &str) -> Result<ReplayResponse, ClientError> {
        self.post(&["instances", id, "webhook", "deliveries", event_id, "replay"])
            .await
    }

    /// `POST /api/v1/instances/{id}/webhook/deliveries/replay`: every dead delivery again.
    pub async fn replay_dead(&self, id: &str) -> Result<ReplayResponse, ClientError> {
        self.post(&["instances", id, "webhook", "deliveries", "replay"])
            .await
    }

    // ----- events -----

    /// `GET /api/v1/events?instance_id=&types=&limit=`: the operational event log, newest first.
    pub async fn events(&self, query: &EventListQuery) -> Result<EventList, ClientError> {
        self.send(self.request(Method::GET, &["events"]).query(query))
            .await
    }

    /// `GET /api/v1/events/stream?instance_id=&types=`: events as they happen (Server-Sent Events),
    /// until the stream is dropped.
    pub async fn event_stream(
        &self,
        query: &EventStreamQuery,
    ) -> Result<SseStream<EventView>, ClientError> {
        self.sse(&["events", "stream"], query).await
    }

    // ----- resources -----

    /// `GET /api/v1/resources`: host, Docker and instance counts from the latest sample (503
    /// `not_ready` before the first one).
    pub async fn resources(&self) -> Result<ResourcesOverview, ClientError> {
        self.get(&["resources"]).await
    }

    /// `GET /api/v1/resources/instances`: CPU and memory of every instance container.
    pub async fn instance_resources(&self) -> Result<InstanceResources, ClientError> {
        self.get(&["resources", "instances"]).await
    }

    // ----- hosts -----

    /// `GET /api/v1/hosts`: the engine's hosts (one for plain Docker, every node for Swarm).
    pub async fn hosts(&self) -> Result<HostList, ClientError> {
        self.get(&["hosts"]).await
    }

    /// `GET /api/v1/hosts/{id}`.
    pub async fn host(&self, id: &str) -> Result<HostResponse, ClientError> {
        self.get(&["hosts", id]).await
    }

    /// `PATCH /api/v1/hosts/{id}`: whether the host takes bots (`drain` moves them off; Swarm only).
    pub async fn set_host_availability(
        &self,
        id: &str,
        availability: HostAvailability,
    ) -> Result<UpdatedHost, ClientError> {
        self.send(
            self.request(Method::PATCH, &["hosts", id])
                .json(&UpdateHostRequest { availability }),
        )
        .await
    }

    /// `GET /api/v1/hosts/{id}/metrics`: the latest sample of the manager's own host.
    pub async fn host_metrics(&self, id: &str) -> Result<HostMetricsResponse, ClientError> {
        self.get(&["hosts", id, "metrics"]).await
    }

    /// `GET /api/v1/hosts/{id}/metrics/history?start=&end=`.
    pub async fn host_metrics_history(
        &self,
        id: &str,
        query: &HostMetricsQuery,
    ) -> Result<HostMetricsHistory, ClientError> {
        self.send(
            self.request(Method::GET, &["hosts", id, "metrics", "history"])
                .query(query),
        )
        .await
    }

    /// `GET /api/v1/hosts/{id}/containers`: this fleet's containers on the host.
    pub async fn host_containers(&self, id: &str) -> Result<HostContainerList, ClientError> {
        self.get(&["hosts", id, "containers"]).await
    }

    /// `POST /api/v1/hosts/{id}/containers/{container_id}/{start|stop|restart}[?timeout=]`: the verb
    /// of the bot the container belongs to (`timeout` is sent with stop and restart only).
    pub async fn host_container_action(
        &self,
        id: &str,
        container_id: &str,
        action: ContainerAction,
        timeout: Option<u32>,
    ) -> Result<ContainerActionResponse, ClientError> {
        let mut request = self.request(
            Method::POST,
            &["hosts", id, "containers", container_id, action.as_str()],
        );
        if action != ContainerAction::Start {
            request = request.query(&ContainerStopQuery { timeout });
        }
        self.send(request).await
    }

    /// `GET /api/v1/hosts/{id}/containers/{container_id}/logs?tail=N`: the container's last lines.
    pub async fn host_container_logs(
        &self,
        id: &str,
        container_id: &str,
        tail: u32,
    ) -> Result<String, ClientError> {
        let request = self
            .request(
                Method::GET,
                &["hosts", id, "containers", container_id, "logs"],
            )
            .query(&LogQuery {
                tail,
                follow: false,
            });
        self.send_raw(request)
            .await?
            .text()
            .await
            .map_err(ClientError::Transport)
    }

    // ----- sessions -----

    /// `POST /api/v1/auth/login`: a session token for `username` (sent without this client's key, so
    /// a client made with an empty key can log in). Use the token as the key of a new client.
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.send(
            self.http
                .post(self.url(&["auth", "login"]))
                .timeout(self.timeout)
                .json(request),
        )
        .await
    }

    /// `POST /api/v1/auth/logout`: ends the session whose token is this client's key (400 for an API
    /// key or the bootstrap key).
    pub async fn logout(&self) -> Result<Done, ClientError> {
        self.post(&["auth", "logout"]).await
    }

    // ----- users -----

    /// `GET /api/v1/users/me`: who this client's key is, its scopes, rate limits and quotas.
    pub async fn me(&self) -> Result<MeView, ClientError> {
        self.get(&["users", "me"]).await
    }

    /// `POST /api/v1/users` (admins).
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<UserView, ClientError> {
        self.send(self.request(Method::POST, &["users"]).json(request))
            .await
    }

    /// `GET /api/v1/users` (admins): oldest first.
    pub async fn users(&self) -> Result<UserList, ClientError> {
        self.get(&["users"]).await
    }

    /// `GET /api/v1/users/{id}` (admins).
    pub async fn user(&self, id: &str) -> Result<UserView, ClientError> {
        self.get(&["users", id]).await
    }

    /// `PATCH /api/v1/users/{id}` (admins): the fields given change; a new password, role or
    /// `disabled: true` ends the user's sessions.
    pub async fn update_user(
        &self,
        id: &str,
        request: &UpdateUserRequest,
    ) -> Result<UserView, ClientError> {
        self.send(self.request(Method::PATCH, &["users", id]).json(request))
            .await
    }

    /// `DELETE /api/v1/users/{id}` (admins): the user and their API keys (409 while they own bots).
    pub async fn delete_user(&self, id: &str) -> Result<Done, ClientError> {
        self.send(self.request(Method::DELETE, &["users", id]))
            .await
    }

    // ----- API keys -----

    /// `POST /api/v1/api-keys`: a key acting as its owner with the scopes asked; the key is in this
    /// answer only.
    pub async fn create_api_key(
        &self,
        request: &CreateApiKeyRequest,
    ) -> Result<CreatedApiKey, ClientError> {
        self.send(self.request(Method::POST, &["api-keys"]).json(request))
            .await
    }

    /// `GET /api/v1/api-keys/me`: the caller's keys (never the keys themselves).
    pub async fn my_api_keys(&self) -> Result<ApiKeyList, ClientError> {
        self.get(&["api-keys", "me"]).await
    }

    /// `DELETE /api/v1/api-keys/{id}`: the key is refused from the next request on.
    pub async fn revoke_api_key(&self, id: &str) -> Result<Done, ClientError> {
        self.send(self.request(Method::DELETE, &["api-keys", id]))
            .await
    }

    // ----- audit -----

    /// `GET /api/v1/audit?user_id=&instance_id=&limit=&offset=` (admins): newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditList, ClientError> {
        self.send(self.request(Method::GET, &["audit"]).query(query))
            .await
    }

    /// Opens a Server-Sent Events stream at `segments` with `query`.
    async fn sse<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &impl Serialize,
    ) -> Result<SseStream<T>, ClientError> {
        let request = self
            .http
            .get(self.url(segments))
            .bearer_auth(&self.key)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .query(query);
        Ok(SseStream::new(self.send_raw(request).await?))
    }
}

/// The manager's error body; an answer that is not one (a proxy's page, say) becomes one with the
/// status's code and the answer's text.
fn error_body(status: StatusCode, bytes: &[u8]) -> ErrorBody {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return body;
    }
    let code = match status.as_u16() {
        400 => ErrorCode::BadRequest,
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        502 | 504 => ErrorCode::UpstreamFailed,
        503 => ErrorCode::NotReady,
        _ => ErrorCode::Internal,
    };
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let message = if text.is_empty() || text.len() > 500 {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    ErrorBody::new(code, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_prefix_and_encode_ids() {
        let c = Client::new("http://h:3000/fleet/", "k").unwrap();
        assert_eq!(
            c.url(&["instances", "a/b?c", "start"]).as_str(),
            "http://h:3000/fleet/api/v1/instances/a%2Fb%3Fc/start"
        );
        let c = Client::new("http://h:3000", "k").unwrap();
        assert_eq!(
            c.url(&["instances"]).as_str(),
            "http://h:3000/api/v1/instances"
        );
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(Client::new("127.0.0.1:3000", "k").is_err());
        assert!(Client::new("ftp://h", "k").is_err());
        assert!(Client::new("not a url", "k").is_err());
    }

    #[test]
    fn error_bodies_are_kept_and_other_answers_wrapped() {
        let body = error_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"success":false,"code":"validation_failed","error":"url must name a host","field":"url"}"#,
        );
        assert_eq!(body.error, "url must name a host");
        assert_eq!(body.field.as_deref(), Some("url"));
        let body = error_body(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(body.code, ErrorCode::UpstreamFailed);
        assert!(body.error.contains("502"), "{}", body.error);
    }
}
