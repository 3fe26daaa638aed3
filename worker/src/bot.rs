//! The Telegram side of the worker: checks the token with `getMe` (retrying with backoff), then long-polls
//! for updates until shutdown, counting what it sees.

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use shared::worker_api::{
    BotInfo, ChatRef, Direction, MediaKind, ParseMode, ReplyMarkup, WorkerEventKind,
};
use teloxide::{
    ApiError, RequestError,
    adaptors::{Throttle, throttle::Limits},
    prelude::*,
    types::{ChatId, Me, Recipient, Update, UpdateKind},
};

use crate::{
    config::Config, events::EventLog, seen::Seen, shutdown::ShutdownSignal, state::BotStatus,
};
use agent::AgentBridge;

/// How a text is formatted and what keyboard comes with it.
#[derive(Debug, Clone, Default)]
pub struct TextOptions {
    pub parse_mode: Option<teloxide::types::ParseMode>,
    pub reply_markup: Option<teloxide::types::ReplyMarkup>,
}

impl TextOptions {
    /// A request's `parseMode` and `replyMarkup` in teloxide's terms; `Err` says why Telegram would not
    /// read the markup.
    pub fn new(
        parse_mode: Option<ParseMode>,
        reply_markup: Option<&ReplyMarkup>,
    ) -> Result<Self, String> {
        use teloxide::types::ParseMode as Mode;
        let reply_markup = reply_markup
            .map(|m| serde::Deserialize::deserialize(&m.0))
            .transpose()
            .map_err(|e| format!("is not a Telegram reply markup: {e}"))?;
        Ok(Self {
            parse_mode: parse_mode.map(|m| match m {
                ParseMode::Html => Mode::Html,
                ParseMode::MarkdownV2 => Mode::MarkdownV2,
                #[allow(deprecated)]
                ParseMode::Markdown => Mode::Markdown,
            }),
            reply_markup,
        })
    }
}

/// The chat in teloxide's terms.
pub fn recipient(chat: &ChatRef) -> Recipient {
    match chat {
        ChatRef::Id(id) => Recipient::Id(ChatId(*id)),
        ChatRef::Username(name) => Recipient::ChannelUsername(name.clone()),
    }
}

/// Seconds one `getUpdates` long poll waits for updates.
pub const POLL_TIMEOUT_SECS: u32 = 10;

/// A cloneable handle on the bot: the API handlers send through it, the run loop polls through it.
#[derive(Clone)]
pub struct TelegramBot {
    /// For polling and `getMe`.
    bot: Bot,
    /// For everything sent: Telegram's limits (1 msg/s per chat, 20/min per group, 30/s overall) applied
    /// by teloxide's `Throttle`, which also waits out a 429's `retry_after` and retries.
    sender: Throttle<Bot>,
    status: Arc<BotStatus>,
    seen: Arc<Seen>,
    events: Arc<EventLog>,
    agent: Option<Arc<AgentBridge>>,
}

impl TelegramBot {
    pub fn new(
        config: &Config,
        status: Arc<BotStatus>,
        seen: Arc<Seen>,
        events: Arc<EventLog>,
        agent: Option<Arc<AgentBridge>>,
    ) -> anyhow::Result<Self> {
        let api_url = reqwest::Url::parse(&config.telegram_api_url)
            .map_err(|e| anyhow::anyhow!("invalid Telegram API URL: {e}"))?;
        let bot = Bot::new(config.bot_token.clone()).set_api_url(api_url);
        // Telegram's limits, overall with a margin: the throttle paces when sends start, and the few sends in
        // flight at once must not push a second's worth of deliveries over 30 at Telegram's end.
        let limits = Limits {
            messages_per_sec_overall: 20,
            ..Limits::default()
        };
        let sender = bot.clone().throttle(limits);
        Ok(Self {
            bot,
            sender,
            status,
            seen,
            events,
            agent,
        })
    }

    /// Connects, then long-polls until `shutdown`. When Telegram refuses the token the loop ends and the
    /// worker keeps serving its API, reporting itself unhealthy.
    pub async fn run(self, shutdown: ShutdownSignal) {
        let connected = tokio::select! {
            me = self.connect() => me,
            _ = shutdown.clone().wait() => return,
        };
        let Some(me) = connected else { return };
        tracing::info!(username = ?me.user.username, "bot connected, polling for updates");
        tokio::select! {
            _ = self.poll() => {}
            _ = shutdown.wait() => {}
        }
    }

    /// The long-polling loop. Every answered `getUpdates` (even an empty one) is a heartbeat the manager
    /// reads through `/status`; failures back off exponentially up to 30 s.
    async fn poll(&self) {
        let mut offset = 0;
        let mut failures = 0u32;
        loop {
            let answer = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT_SECS)
                .await;
            match answer {
                Ok(updates) => {
                    if failures > 0 {
                        self.events.notice(
                            WorkerEventKind::BotStatus,
                            0,
                            format!("polling again after {failures} failed getUpdates"),
                        );
                    }
                    failures = 0;
                    self.status.mark_polled();
                    for update in updates {
                        offset = update.id.as_offset();
                        self.handle(update);
                    }
                }
                Err(e) if is_token_refused(&e) => {
                    tracing::error!("Telegram refused the bot token while polling");
                    self.status.set_unauthorized(e.to_string());
                    self.events.notice(
                        WorkerEventKind::BotStatus,
                        0,
                        "Telegram refused the bot token".into(),
                    );
                    return;
                }
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::warn!(error = %e, ?wait, "getUpdates failed");
                    self.status.record_poll_error(e.to_string());
                    if failures == 1 {
                        self.events.notice(
                            WorkerEventKind::BotError,
                            0,
                            format!("getUpdates failed: {e}"),
                        );
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn handle(&self, update: Update) {
        if let UpdateKind::Message(message) = &update.kind {
            self.status.count_received();
            self.seen.record(message, Direction::In);
            self.events.message(message, WorkerEventKind::MessageIn);
            if let (Some(agent), Some(text)) = (&self.agent, message.text()) {
                let (agent, this, text) = (agent.clone(), self.clone(), text.to_string());
                let chat = message.chat.id.0;
                let user = message
                    .from
                    .as_ref()
                    .map(|u| u.id.0.to_string())
                    .unwrap_or_default();
                tokio::spawn(async move {
                    agent
                        .answer(chat, &user, &text, |reply| async move {
                            if matches!(reply, agent::Reply::Fallback(_)) {
                                this.events.notice(
                                    WorkerEventKind::BotError,
                                    chat,
                                    "the agent failed; the fallback message was sent".into(),
                                );
                            }
                            match this.send_text(Recipient::Id(ChatId(chat)), reply.text().to_string()).await {
                                Ok(_) => true,
                                Err(e) => {
                                    tracing::warn!(chat, error = %e, "could not send the agent's reply");
                                    this.events.notice(
                                        WorkerEventKind::BotError,
                                        chat,
                                        format!(
                                            "could not send the agent's reply: {}",
                                            crate::api::provider_error_text(&e)
                                        ),
                                    );
                                    false
                                }
                            }
                        })
                        .await;
                });
            }
        }
    }

    /// Calls `getMe` until it succeeds; `None` when the token is refused (retrying cannot help).
    async fn connect(&self) -> Option<Me> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times();
        let result = (|| async { self.bot.get_me().await })
            .retry(backoff)
            .when(|e| !is_token_refused(e))
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, "getMe failed, retrying");
                self.status.set_retrying(e.to_string());
            })
            .await;
        match result {
            Ok(me) => {
                self.events.notice(
                    WorkerEventKind::BotStatus,
                    0,
                    match &me.user.username {
                        Some(u) => format!("connected to Telegram as @{u}"),
                        None => "connected to Telegram".into(),
                    },
                );
                self.status.set_ready(BotInfo {
                    id: me.user.id.0,
                    first_name: me.user.first_name.clone(),
                    username: me.user.username.clone(),
                    is_bot: me.user.is_bot,
                });
                Some(me)
            }
            Err(e) => {
                tracing::error!(error = %e, "Telegram refused the bot token");
                self.status.set_unauthorized(e.to_string());
                self.events.notice(
                    WorkerEventKind::BotStatus,
                    0,
                    "Telegram refused the bot token".into(),
                );
                None
            }
        }
    }

    /// Sends a text message and returns Telegram's message id.
    pub async fn send_text(&self, chat: Recipient, text: String) -> Result<i32, RequestError> {
        self.send_formatted(chat, text, TextOptions::default())
            .await
    }

    /// Sends a text message with a parse mode and reply markup, when given.
    pub async fn send_formatted(
        &self,
        chat: Recipient,
        text: String,
        options: TextOptions,
    ) -> Result<i32, RequestError> {
        let started = std::time::Instant::now();
        let mut request = self.sender.send_message(chat, text);
        if let Some(mode) = options.parse_mode {
            request = request.parse_mode(mode);
        }
        if let Some(markup) = options.reply_markup {
            request = request.reply_markup(markup);
        }
        let message = request.await?;
        self.status.count_sent(started.elapsed());
        self.seen.record(&message, Direction::Out);
        self.events.message(&message, WorkerEventKind::MessageOut);
        Ok(message.id.0)
    }
}

impl TelegramBot {
    /// Sends a photo, document, audio or video (by URL, which Telegram fetches, or uploaded) with an
    /// optional caption; returns Telegram's message id.
    pub async fn send_media(
        &self,
        chat: Recipient,
        kind: MediaKind,
        file: teloxide::types::InputFile,
        caption: Option<String>,
        options: TextOptions,
    ) -> Result<i32, RequestError> {
        // Each teloxide request type has its own builder; the same three options go on each.
        macro_rules! with_options {
            ($request:expr) => {{
                let mut request = $request;
                if let Some(caption) = caption {
                    request = request.caption(caption);
                }
                if let Some(mode) = options.parse_mode {
                    request = request.parse_mode(mode);
                }
                if let Some(markup) = options.reply_markup {
                    request = request.reply_markup(markup);
                }
                request.await?
            }};
        }
        let started = std::time::Instant::now();
        let message = match kind {
            MediaKind::Photo => with_options!(self.sender.send_photo(chat, file)),
            MediaKind::Document => with_options!(self.sender.send_document(chat, file)),
            MediaKind::Audio => with_options!(self.sender.send_audio(chat, file)),
            MediaKind::Video => with_options!(self.sender.send_video(chat, file)),
        };
        self.status.count_sent(started.elapsed());
        self.seen.record(&message, Direction::Out);
        self.events.message(&message, WorkerEventKind::MessageOut);
        Ok(message.id.0)
    }
}

fn is_token_refused(e: &RequestError) -> bool {
    matches!(e, RequestError::Api(ApiError::InvalidToken))
}
