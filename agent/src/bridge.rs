//! Incoming text → agent → reply in the same chat, one message at a time per chat (so replies keep their
//! order), with a welcome message for `/start` and a fallback when the agent fails. The agent can be
//! replaced while the bridge runs (a configuration pushed by the manager); the chats' context stays.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use super::{AgentClient, AgentConfig, ChatContext, Exchange, Outcome, Role};

pub struct AgentBridge {
    client: RwLock<Option<Arc<AgentClient>>>,
    http: netguard::Outbound,
    context: ChatContext,
    instance_id: String,
    chat_locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    guard: super::guard::Guard,
}

/// What the bridge sends to the chat, and what became of the question so far (the exchange it reports
/// once the text is delivered, or `failed` when it is not).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub exchange: Exchange,
}

impl Reply {
    fn new(text: String, exchange: Exchange) -> Self {
        Self { text, exchange }
    }

    /// The fallback message, for a question that got no answer because of `outcome` (the agent failed,
    /// or the chat's rate limit or the spending cap stopped the call).
    fn fallback(config: &super::AgentConfig, outcome: Outcome, error: Option<String>) -> Self {
        Self::new(
            config.fallback_message.clone(),
            Exchange {
                error,
                ..Exchange::new(outcome)
            },
        )
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl AgentBridge {
    /// A bridge to `config`'s agent (none: the bridge answers nothing until one is configured).
    pub fn new(config: Option<AgentConfig>, instance_id: String, http: netguard::Outbound) -> Self {
        let bridge = Self {
            client: RwLock::new(None),
            http,
            context: ChatContext::new(),
            instance_id,
            chat_locks: Default::default(),
            guard: Default::default(),
        };
        bridge.reconfigure(config);
        bridge
    }

    /// Talks to `config`'s agent from now on (none: answers nothing); questions being answered finish
    /// with the agent they started with.
    pub fn reconfigure(&self, config: Option<AgentConfig>) {
        let client = config.map(|c| Arc::new(AgentClient::new(c, self.http.clone())));
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = client;
    }

    /// The agent answering now, if any.
    pub fn client(&self) -> Option<Arc<AgentClient>> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn chat_lock(&self, chat: &str) -> Arc<Mutex<()>> {
        let mut locks = self.chat_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(chat.to_string()).or_default().clone()
    }

    /// Answers `text` from `user` in `chat`: `send` delivers the reply while the chat is still locked
    /// (`Err` with why it could not). Returns the question's exchange (`failed` when the reply was not
    /// delivered); none when no agent is configured, and nothing was sent.
    pub async fn answer<F, Fut>(
        &self,
        chat: &str,
        user: &str,
        text: &str,
        send: F,
    ) -> Option<Exchange>
    where
        F: FnOnce(Reply) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let lock = self.chat_lock(chat);
        let _turn = lock.lock().await;
        let client = self.client()?;
        let config = client.config();
        if text.trim() == "/start"
            && let Some(welcome) = &config.welcome_message
        {
            let reply = Reply::new(welcome.clone(), Exchange::new(Outcome::Welcome));
            return Some(deliver(send, reply).await);
        }
        let (keep, ttl) = (
            config.context_messages,
            Duration::from_millis(config.conversation_ttl_ms.max(0) as u64),
        );
        if let Err(stopped) = self
            .guard
            .admit(chat, config.chat_rate_limit, config.spending_cap)
            .await
        {
            let (outcome, why) = match stopped {
                super::guard::Stopped::Rate => (
                    Outcome::DroppedRate,
                    "the chat is over its rate of agent calls",
                ),
                super::guard::Stopped::Cap => (
                    Outcome::DroppedCap,
                    "the bot spent its tokens for today (spending cap)",
                ),
            };
            tracing::info!(
                chat,
                reason = why,
                "agent not called; sending the fallback message"
            );
            let reply = Reply::fallback(config, outcome, Some(why.to_string()));
            return Some(deliver(send, reply).await);
        }
        let history = self.context.history(chat, keep, ttl);
        let session = format!("{}:{chat}", self.instance_id);
        let started = Instant::now();
        let reply = match client.ask(&session, user, &history, text).await {
            Ok(answer) => {
                if let Some(tokens) = answer.tokens {
                    self.guard.spend(tokens.input + tokens.output);
                }
                tracing::info!(
                    chat,
                    latency_ms = answer.latency.as_millis() as u64,
                    "agent answered"
                );
                Reply::new(
                    answer.text,
                    Exchange {
                        latency_ms: Some(millis(answer.latency)),
                        tokens_in: answer.tokens.map(|t| t.input),
                        tokens_out: answer.tokens.map(|t| t.output),
                        ..Exchange::new(Outcome::Answered)
                    },
                )
            }
            Err(e) => {
                tracing::warn!(chat, error = %e, "agent failed; sending the fallback message");
                let mut reply = Reply::fallback(config, Outcome::Fallback, Some(e.to_string()));
                reply.exchange.latency_ms = Some(millis(started.elapsed()));
                reply
            }
        };
        let answer = reply.text.clone();
        let exchange = deliver(send, reply).await;
        if exchange.outcome == Outcome::Answered {
            self.context.push(chat, Role::User, text, keep);
            self.context.push(chat, Role::Assistant, &answer, keep);
        }
        Some(exchange)
    }
}

/// Sends `reply`; its exchange as it ended.
async fn deliver<F, Fut>(send: F, reply: Reply) -> Exchange
where
    F: FnOnce(Reply) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let (text, exchange) = (reply.text.clone(), reply.exchange.clone());
    match send(reply).await {
        Ok(()) => exchange,
        Err(e) => exchange.undelivered(text, &e),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use shared::agent::{AgentKind, BotConfig};

    use super::*;

    /// An OpenAI-compatible agent on loopback answering each request with `body`, for `n` requests.
    fn agent(body: &'static str, n: usize) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut request = Vec::new();
                let mut buf = [0; 4096];
                // Headers, then as many bytes as Content-Length says.
                loop {
                    let read = stream.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..read]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        url
    }

    fn bridge(url: &str) -> AgentBridge {
        let config = BotConfig {
            llm_provider: Some(AgentKind::OpenAi),
            llm_url: Some(url.to_string()),
            welcome_message: Some("Welcome!".into()),
            fallback_message: Some("Resting.".into()),
            timeout_ms: Some(5000),
            ..BotConfig::default()
        };
        let policy = netguard::Policy::allowing("127.0.0.0/8".parse().unwrap());
        AgentBridge::new(
            config.active(),
            "i1".into(),
            netguard::Outbound::new(policy).unwrap(),
        )
    }

    /// Answers `text` in chat 1, recording what was sent; `refuse` makes the delivery fail.
    async fn ask(bridge: &AgentBridge, text: &str, refuse: bool) -> (Option<Exchange>, Vec<Reply>) {
        let sent = std::sync::Mutex::new(Vec::new());
        let exchange = bridge
            .answer("1", "u1", text, |reply| {
                sent.lock().unwrap().push(reply);
                async move {
                    if refuse {
                        Err("chat not found".to_string())
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        (exchange, sent.into_inner().unwrap())
    }

    #[tokio::test]
    async fn an_answer_reports_its_latency_and_tokens() {
        let url = agent(
            r#"{"choices":[{"message":{"content":"hi there"}}],"usage":{"prompt_tokens":9,"completion_tokens":2}}"#,
            2,
        );
        let bridge = bridge(&url);
        let (exchange, sent) = ask(&bridge, "hello", false).await;
        let exchange = exchange.unwrap();
        assert_eq!(exchange.outcome, Outcome::Answered);
        assert_eq!(
            (exchange.tokens_in, exchange.tokens_out),
            (Some(9), Some(2))
        );
        assert!(exchange.latency_ms.is_some_and(|ms| ms > 0.0));
        assert_eq!(exchange.error, None);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].text, "hi there");
        assert_eq!(
            sent[0].exchange, exchange,
            "sent with the exchange it reports"
        );

        // The answer could not be delivered: failed, with what the call cost and the text kept.
        let (exchange, _) = ask(&bridge, "again", true).await;
        let exchange = exchange.unwrap();
        assert_eq!(exchange.outcome, Outcome::Failed);
        assert_eq!(
            (exchange.tokens_in, exchange.tokens_out),
            (Some(9), Some(2))
        );
        assert_eq!(exchange.unsent_reply.as_deref(), Some("hi there"));
        assert_eq!(
            exchange.error.as_deref(),
            Some("could not send the reply: chat not found")
        );
    }

    #[tokio::test]
    async fn welcome_fallback_and_no_agent() {
        // Nothing listens on the agent's port: the agent fails.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            closed.local_addr().unwrap()
        );
        drop(closed);
        let bridge = bridge(&url);

        let (exchange, sent) = ask(&bridge, "/start", false).await;
        assert_eq!(exchange, Some(Exchange::new(Outcome::Welcome)));
        assert_eq!(sent[0].text, "Welcome!");

        let (exchange, sent) = ask(&bridge, "hello", false).await;
        let exchange = exchange.unwrap();
        assert_eq!(exchange.outcome, Outcome::Fallback);
        assert_eq!(sent[0].text, "Resting.");
        assert!(exchange.latency_ms.is_some(), "the call was tried");
        assert_eq!((exchange.tokens_in, exchange.tokens_out), (None, None));
        assert!(
            exchange
                .error
                .as_deref()
                .is_some_and(|e| e.contains("unreachable")),
            "{exchange:?}"
        );

        let (exchange, _) = ask(&bridge, "hello", true).await;
        let exchange = exchange.unwrap();
        assert_eq!(exchange.outcome, Outcome::Failed);
        assert_eq!(exchange.unsent_reply.as_deref(), Some("Resting."));
        assert!(
            exchange
                .error
                .as_deref()
                .is_some_and(|e| e.contains("unreachable")
                    && e.ends_with("; could not send the fallback either: chat not found")),
            "{exchange:?}"
        );

        bridge.reconfigure(None);
        let (exchange, sent) = ask(&bridge, "hello", false).await;
        assert_eq!((exchange, sent.len()), (None, 0), "no agent: nothing said");
    }
}
