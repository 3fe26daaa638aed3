//! The bot, whatever its platform: connects through its [`Provider`] (retrying with backoff), receives
//! until shutdown, and is what the API, jobs and the agent bridge send through. Everything that reaches
//! or leaves the bot is counted, kept in what the bot has seen, and put in the outbox here, once.

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use shared::worker_api::{BotInfo, ChatRef, Direction, Exchange, Outcome, WorkerEventKind};

use crate::{
    events::EventLog,
    live_config::LiveConfig,
    provider::{ConnectError, Identity, Inbound, Media, Message, Provider, SendError, TextOptions},
    seen::Seen,
    shutdown::ShutdownSignal,
    state::BotStatus,
};

/// A cloneable handle on the bot.
#[derive(Clone)]
pub struct Bot {
    provider: Arc<dyn Provider>,
    core: Arc<Core>,
}

/// What handles what reaches the bot: counters, the seen store, the outbox, the agent.
struct Core {
    status: Arc<BotStatus>,
    seen: Arc<Seen>,
    events: Arc<EventLog>,
    config: Arc<LiveConfig>,
}

impl Bot {
    pub fn new(
        provider: Arc<dyn Provider>,
        status: Arc<BotStatus>,
        seen: Arc<Seen>,
        events: Arc<EventLog>,
        config: Arc<LiveConfig>,
    ) -> Self {
        let core = Arc::new(Core {
            status,
            seen,
            events,
            config,
        });
        Self { provider, core }
    }

    pub fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
    }

    /// The configuration the bot runs by (replaced by the manager's pushes).
    pub fn config(&self) -> &Arc<LiveConfig> {
        &self.core.config
    }

    /// Connects, then receives until `shutdown`. When the platform refuses the credentials the loop
    /// ends and the worker keeps serving its API, reporting itself unhealthy.
    pub async fn run(self, shutdown: ShutdownSignal) {
        let connected = tokio::select! {
            me = self.connect() => me,
            _ = shutdown.clone().wait() => return,
        };
        let Some(me) = connected else { return };
        tracing::info!(username = ?me.username, provider = %self.provider.kind(), "bot connected, receiving");
        let inbound: Arc<dyn Inbound> = Arc::new(self.clone());
        let refused = tokio::select! {
            refused = self.provider.receive(inbound) => refused,
            _ = shutdown.wait() => return,
        };
        self.core
            .refused(self.provider.kind().display_name(), &refused);
    }

    /// Connects until it succeeds; `None` when the credentials are refused (retrying cannot help).
    async fn connect(&self) -> Option<Identity> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times();
        let platform = self.provider.kind().display_name();
        let result = (|| async { self.provider.connect().await })
            .retry(backoff)
            .when(|e| matches!(e, ConnectError::Failed(_)))
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, "connecting failed, retrying");
                self.core.status.set_retrying(e.to_string());
            })
            .await;
        match result {
            Ok(me) => {
                // Ready before the notice: the notice wakes the manager's long poll, whose answer
                // carries the status.
                self.core.status.set_ready(BotInfo {
                    id: me.id.clone(),
                    first_name: me.name.clone(),
                    username: me.username.clone(),
                    is_bot: true,
                });
                self.core.events.notice(
                    WorkerEventKind::BotStatus,
                    None,
                    match &me.username {
                        Some(u) => format!("connected to {platform} as @{u}"),
                        None => format!("connected to {platform} as {}", me.name),
                    },
                );
                Some(me)
            }
            Err(e) => {
                self.core.refused(platform, &e);
                None
            }
        }
    }

    /// Messages of a platform callback the manager verified and handed on; `Err` when the body is not
    /// one of this platform's callbacks.
    pub fn deliver_callback(&self, body: &[u8]) -> Result<usize, String> {
        let messages = self.provider.parse_callback(body)?;
        let count = messages.len();
        self.alive();
        for message in messages {
            self.message(message);
        }
        Ok(count)
    }

    /// Sends a text and returns the platform's message id.
    pub async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<String, SendError> {
        self.deliver_text(chat, text, options, None).await
    }

    /// Sends a text; its `message.out` carries `exchange` (the agent bridge's replies).
    async fn deliver_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
        exchange: Option<Exchange>,
    ) -> Result<String, SendError> {
        if self.core.config.paused() {
            return Err(SendError::Paused);
        }
        let started = std::time::Instant::now();
        let sent = self.provider.send_text(chat, text, options).await?;
        Ok(self.core.sent(sent, started.elapsed(), exchange))
    }

    /// Sends a photo, document, audio or video; returns the platform's message id.
    pub async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<String, SendError> {
        if self.core.config.paused() {
            return Err(SendError::Paused);
        }
        self.provider
            .capabilities()
            .check_media(media.kind)
            .map_err(|e| SendError::Unsupported {
                field: "type",
                message: format!("{e} by {} bots", self.provider.kind().display_name()),
            })?;
        let started = std::time::Instant::now();
        let sent = self.provider.send_media(chat, media, options).await?;
        Ok(self.core.sent(sent, started.elapsed(), None))
    }
}

impl Core {
    fn refused(&self, platform: &str, e: &ConnectError) {
        tracing::error!(error = %e, "{platform} refused the bot's credentials");
        self.status.set_unauthorized(e.to_string());
        self.events.notice(
            WorkerEventKind::BotStatus,
            None,
            format!("{platform} refused the bot's credentials"),
        );
    }

    /// A message went out: counted, kept, in the outbox (with the exchange it ends); returns its id.
    fn sent(&self, message: Message, took: Duration, exchange: Option<Exchange>) -> String {
        self.status.count_sent(took);
        self.seen.record(&message, Direction::Out);
        self.events
            .message(&message, WorkerEventKind::MessageOut, exchange);
        message.id
    }
}

impl Bot {
    /// Sends the agent bridge's reply to `chat`, answering the message `question`; `Err` says why it
    /// could not be sent.
    async fn reply(
        self,
        chat: ChatRef,
        question: String,
        reply: agent::Reply,
    ) -> Result<(), String> {
        if reply.exchange.outcome == Outcome::Fallback {
            self.core.events.notice(
                WorkerEventKind::BotError,
                Some(chat.to_string()),
                "the agent failed; the fallback message was sent".into(),
            );
        }
        let exchange = Exchange {
            question_id: Some(question),
            ..reply.exchange
        };
        match self
            .deliver_text(&chat, &reply.text, &TextOptions::default(), Some(exchange))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(chat = %chat, error = %e, "could not send the agent's reply");
                Err(e.to_string())
            }
        }
    }

    /// Asks the agent bridge about `text` (the message `question` in `chat`) and sends its reply; a reply
    /// that could not be sent is reported with its exchange.
    async fn converse(self, chat: ChatRef, question: String, user: String, text: String) {
        let bridge = self.core.config.bridge().clone();
        let exchange = bridge
            .answer(chat.as_str(), &user, &text, |reply| {
                self.clone().reply(chat.clone(), question.clone(), reply)
            })
            .await;
        if let Some(exchange) = exchange
            && exchange.outcome == Outcome::Failed
        {
            let text = exchange
                .error
                .clone()
                .unwrap_or_else(|| "could not send the reply".into());
            self.core.events.notice_exchange(
                WorkerEventKind::BotError,
                Some(chat.to_string()),
                text,
                Some(Exchange {
                    question_id: Some(question),
                    ..exchange
                }),
            );
        }
    }
}

/// What the provider delivers goes through the bot: counted, kept, in the outbox, and to the agent.
impl Inbound for Bot {
    fn message(&self, message: Message) {
        let core = &self.core;
        if core.config.paused() {
            // Acknowledged to the platform (it is not delivered again) and dropped.
            tracing::debug!(chat = %message.chat.id, "paused: message dropped");
            return;
        }
        core.status.count_received();
        core.seen.record(&message, Direction::In);
        core.events
            .message(&message, WorkerEventKind::MessageIn, None);
        let Some(text) = &message.text else {
            return;
        };
        if !core.config.has_agent() {
            return;
        }
        let user = message.from.map(|u| u.id).unwrap_or_default();
        tokio::spawn(self.clone().converse(
            message.chat.id.clone(),
            message.id.clone(),
            user,
            text.clone(),
        ));
    }

    fn alive(&self) {
        self.core.status.mark_polled();
    }

    fn trouble(&self, error: &str, first: bool) {
        self.core.status.record_poll_error(error.to_string());
        if first {
            self.core
                .events
                .notice(WorkerEventKind::BotError, None, error.to_string());
        }
    }

    fn recovered(&self, failures: u32) {
        self.core.events.notice(
            WorkerEventKind::BotStatus,
            None,
            format!("receiving again after {failures} failures"),
        );
    }
}
