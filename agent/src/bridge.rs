//! Incoming text → agent → reply in the same chat, one message at a time per chat (so replies keep their
//! order), with a welcome message for `/start` and a fallback when the agent fails.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::Mutex;

use super::{AgentClient, AgentConfig, ChatContext, Role};

pub struct AgentBridge {
    client: AgentClient,
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
    pub fn new(config: AgentConfig, instance_id: String, http: netguard::Outbound) -> Self {
        Self {
            context: ChatContext::new(config.context_messages),
            client: AgentClient::new(config, http),
            instance_id,
            chat_locks: Default::default(),
        }
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
        let config = self.client.config();
        if text.trim() == "/start"
            && let Some(welcome) = &config.welcome_message
        {
            send(Reply::Welcome(welcome.clone())).await;
            return;
        }
        let history = self.context.history(chat);
        let session = format!("{}:{chat}", self.instance_id);
        match self.client.ask(&session, user, &history, text).await {
            Ok(answer) => {
                tracing::info!(
                    chat,
                    latency_ms = answer.latency.as_millis() as u64,
                    "agent answered"
                );
                if send(Reply::Agent(answer.text.clone())).await {
                    self.context.push(chat, Role::User, text);
                    self.context.push(chat, Role::Assistant, &answer.text);
                }
            }
            Err(e) => {
                tracing::warn!(chat, error = %e, "agent failed; sending the fallback message");
                send(Reply::Fallback(config.fallback_message.clone())).await;
            }
        }
    }
}
