//! Incoming text → agent → reply in the same chat, one message at a time per chat (so replies keep their
//! order), with a welcome message for `/start` and a fallback when the agent fails. The agent can be
//! replaced while the bridge runs (a configuration pushed by the manager); the chats' context stays.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use tokio::sync::Mutex;

use super::{AgentClient, AgentConfig, ChatContext, Role};

pub struct AgentBridge {
    client: RwLock<Option<Arc<AgentClient>>>,
    http: netguard::Outbound,
    context: ChatContext,
    instance_id: String,
    chat_locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// What the bridge decided to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Welcome(String),
    Agent(String),
    Fallback(String),
}

impl Reply {
    pub fn text(&self) -> &str {
        match self {
            Reply::Welcome(t) | Reply::Agent(t) | Reply::Fallback(t) => t,
        }
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

    /// The reply to `text` from `user` in `chat`; `send` delivers it while the chat is still locked.
    pub async fn answer<F, Fut>(&self, chat: &str, user: &str, text: &str, send: F)
    where
        F: FnOnce(Reply) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let lock = self.chat_lock(chat);
        let _turn = lock.lock().await;
        let Some(client) = self.client() else {
            return;
        };
        let config = client.config();
        if text.trim() == "/start"
            && let Some(welcome) = &config.welcome_message
        {
            send(Reply::Welcome(welcome.clone())).await;
            return;
        }
        let (keep, ttl) = (
            config.context_messages,
            Duration::from_millis(config.conversation_ttl_ms.max(0) as u64),
        );
        let history = self.context.history(chat, keep, ttl);
        let session = format!("{}:{chat}", self.instance_id);
        match client.ask(&session, user, &history, text).await {
            Ok(answer) => {
                tracing::info!(
                    chat,
                    latency_ms = answer.latency.as_millis() as u64,
                    "agent answered"
                );
                if send(Reply::Agent(answer.text.clone())).await {
                    self.context.push(chat, Role::User, text, keep);
                    self.context.push(chat, Role::Assistant, &answer.text, keep);
                }
            }
            Err(e) => {
                tracing::warn!(chat, error = %e, "agent failed; sending the fallback message");
                send(Reply::Fallback(config.fallback_message.clone())).await;
            }
        }
    }
}
