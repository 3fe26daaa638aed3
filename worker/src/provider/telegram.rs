//! Telegram through teloxide: `getMe` to connect, `getUpdates` long polling to receive, and everything
//! sent paced by [`Pacer`] at Telegram's limits counted from delivery (`retry_after` waited out). Or, in
//! webhook mode, `setWebhook` to the manager's public URL and updates handed on by the manager.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use shared::{
    Provider as ProviderKind,
    worker_api::{ChatKind, ChatRef, MediaKind, ParseMode},
};
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    requests::Output,
    types::{InputFile, Recipient, Update, UpdateKind},
};

use super::{
    Chat, ConnectError, Identity, Inbound, Media, MediaSource, Message, Person, Provider,
    SendError, TextOptions,
    pace::{Limits, Pacer, Window},
};

/// Seconds one `getUpdates` long poll waits for updates.
pub const POLL_TIMEOUT_SECS: u32 = 10;

/// Telegram's limits for one bot: 30 messages a second overall; one a second and 20 a minute to one
/// chat (Telegram says 20 a minute to a group; teloxide's throttle, used before, applied it to every
/// chat, and so does the worker's per-chat backlog).
pub fn limits() -> Limits {
    Limits {
        overall: vec![Window::per_second(30)],
        per_chat: vec![Window::per_second(1), Window::per_minute(20)],
    }
}

/// Tries of one message while Telegram answers 429, each after the `retry_after` it named.
const MAX_TRIES: u32 = 5;

/// How the bot learns of updates.
#[derive(Debug, Clone)]
pub enum Receive {
    /// `getUpdates` long polling (after `deleteWebhook`).
    Polling,
    /// Telegram calls `url` (the manager's `/api/v1/webhooks/telegram/{id}`) with `secret_token`.
    Webhook { url: String, secret_token: String },
}

pub struct TelegramProvider {
    /// For polling, `getMe`, the webhook calls, and (through [`TelegramProvider::paced`]) sending.
    bot: Bot,
    /// Everything sent waits here for its places under [`limits`].
    pacer: Arc<Pacer>,
    receive: Receive,
}

impl TelegramProvider {
    pub fn new(token: &str, api_url: &str, receive: Receive) -> anyhow::Result<Self> {
        let api_url = reqwest::Url::parse(api_url)
            .map_err(|e| anyhow::anyhow!("invalid Telegram API URL: {e}"))?;
        let bot = Bot::new(token).set_api_url(api_url);
        Ok(Self {
            bot,
            pacer: Pacer::new(limits()),
            receive,
        })
    }

    /// Sends `request` to `chat` when the pacer gives it its places; when Telegram still answers 429,
    /// holds every send for the `retry_after` it named and tries again (up to [`MAX_TRIES`] times).
    async fn paced<R>(&self, chat: &Recipient, request: R) -> Result<Output<R>, RequestError>
    where
        R: Request<Err = RequestError> + Sync,
        Output<R>: Send,
    {
        let key = pace_key(chat);
        let mut tries = 0;
        loop {
            tries += 1;
            let ticket = self.pacer.admit(&key).await;
            let answer = request.send_ref().await;
            // Delivered (or refused) by now: the ticket's windows start here.
            drop(ticket);
            match answer {
                Err(RequestError::RetryAfter(wait)) if tries < MAX_TRIES => {
                    tracing::warn!(
                        retry_after_secs = wait.seconds(),
                        "Telegram answered 429; every send waits"
                    );
                    self.pacer.freeze(wait.duration());
                }
                answer => return answer,
            }
        }
    }

    /// The long-polling loop. Every answered `getUpdates` (even an empty one) is a heartbeat; failures
    /// back off exponentially up to 30 s.
    async fn poll(&self, inbound: &dyn Inbound) -> ConnectError {
        if let Err(e) = self.bot.delete_webhook().await {
            tracing::warn!(error = %e, "deleteWebhook failed; polling anyway");
        }
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
                        inbound.recovered(failures);
                    }
                    failures = 0;
                    inbound.alive();
                    for update in updates {
                        offset = update.id.as_offset();
                        if let Some(message) = neutral_update(&update) {
                            inbound.message(message);
                        }
                    }
                }
                Err(e) if is_token_refused(&e) => {
                    tracing::error!("Telegram refused the bot token while polling");
                    return ConnectError::Refused(e.to_string());
                }
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::warn!(error = %e, ?wait, "getUpdates failed");
                    inbound.trouble(&format!("getUpdates failed: {e}"), failures == 1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Registers the webhook (retrying until Telegram takes it), then waits: updates arrive through the
    /// manager.
    async fn register_webhook(
        &self,
        url: &str,
        secret: &str,
        inbound: &dyn Inbound,
    ) -> ConnectError {
        let url = match reqwest::Url::parse(url) {
            Ok(url) => url,
            Err(e) => return ConnectError::Refused(format!("the webhook URL is invalid: {e}")),
        };
        let mut failures = 0u32;
        loop {
            match self
                .bot
                .set_webhook(url.clone())
                .secret_token(secret.to_string())
                .await
            {
                Ok(_) => break,
                Err(e) if is_token_refused(&e) => return ConnectError::Refused(e.to_string()),
                Err(e) => {
                    failures += 1;
                    inbound.trouble(&format!("setWebhook failed: {e}"), failures == 1);
                    tokio::time::sleep(Duration::from_secs(u64::from(failures.min(30)))).await;
                }
            }
        }
        if failures > 0 {
            inbound.recovered(failures);
        }
        inbound.alive();
        // No polls to show the link lives: ask Telegram about the webhook as often as a poll would end.
        let mut failures = 0u32;
        loop {
            tokio::time::sleep(Duration::from_secs(u64::from(POLL_TIMEOUT_SECS))).await;
            match self.bot.get_webhook_info().await {
                Ok(info) if info.url.as_ref().map(|u| u.as_str()) == Some(url.as_str()) => {
                    if failures > 0 {
                        inbound.recovered(failures);
                    }
                    failures = 0;
                    inbound.alive();
                }
                Ok(_) => {
                    // Someone removed or replaced the webhook: set it again.
                    return Box::pin(self.register_webhook(url.as_str(), secret, inbound)).await;
                }
                Err(e) if is_token_refused(&e) => return ConnectError::Refused(e.to_string()),
                Err(e) => {
                    failures += 1;
                    inbound.trouble(&format!("getWebhookInfo failed: {e}"), failures == 1);
                }
            }
        }
    }
}

/// `parseMode` and `replyMarkup` in teloxide's terms.
struct TeloxideOptions {
    parse_mode: Option<teloxide::types::ParseMode>,
    reply_markup: Option<teloxide::types::ReplyMarkup>,
}

impl TeloxideOptions {
    fn new(options: &TextOptions) -> Result<Self, SendError> {
        use teloxide::types::ParseMode as Mode;
        let reply_markup = options
            .reply_markup
            .as_ref()
            .map(|m| serde::Deserialize::deserialize(&m.0))
            .transpose()
            .map_err(|e: serde_json::Error| SendError::Unsupported {
                field: "replyMarkup",
                message: format!("replyMarkup is not a Telegram reply markup: {e}"),
            })?;
        Ok(Self {
            parse_mode: options.parse_mode.map(|m| match m {
                ParseMode::Html => Mode::Html,
                ParseMode::MarkdownV2 => Mode::MarkdownV2,
                #[allow(deprecated)]
                ParseMode::Markdown => Mode::Markdown,
            }),
            reply_markup,
        })
    }
}

#[async_trait]
impl Provider for TelegramProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Telegram
    }

    async fn connect(&self) -> Result<Identity, ConnectError> {
        match self.bot.get_me().await {
            Ok(me) => Ok(Identity {
                id: me.user.id.0.to_string(),
                name: me.user.first_name.clone(),
                username: me.user.username.clone(),
            }),
            Err(e) if is_token_refused(&e) => Err(ConnectError::Refused(e.to_string())),
            Err(e) => Err(ConnectError::Failed(e.to_string())),
        }
    }

    async fn receive(&self, inbound: Arc<dyn Inbound>) -> ConnectError {
        match &self.receive {
            Receive::Polling => self.poll(inbound.as_ref()).await,
            Receive::Webhook { url, secret_token } => {
                self.register_webhook(url, secret_token, inbound.as_ref())
                    .await
            }
        }
    }

    fn parse_callback(&self, body: &[u8]) -> Result<Vec<Message>, String> {
        let update: Update =
            serde_json::from_slice(body).map_err(|e| format!("not a Telegram update: {e}"))?;
        Ok(neutral_update(&update).into_iter().collect())
    }

    fn check_chat(&self, chat: &ChatRef, group: bool) -> Result<ChatRef, String> {
        match recipient(chat)? {
            Recipient::Id(id) if group && id.0 >= 0 => {
                Err("a Telegram group is a negative chat id or an @username".into())
            }
            Recipient::Id(id) => Ok(ChatRef::from(id.0)),
            Recipient::ChannelUsername(_) => Ok(chat.clone()),
        }
    }

    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        let options = TeloxideOptions::new(options)?;
        let chat = recipient(chat).map_err(|message| SendError::BadChat { message })?;
        let mut request = self.bot.send_message(chat.clone(), text.to_string());
        if let Some(mode) = options.parse_mode {
            request = request.parse_mode(mode);
        }
        if let Some(markup) = options.reply_markup {
            request = request.reply_markup(markup);
        }
        let message = self.paced(&chat, request).await.map_err(send_error)?;
        Ok(neutral(&message))
    }

    async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        let options = TeloxideOptions::new(options)?;
        let chat = recipient(chat).map_err(|message| SendError::BadChat { message })?;
        let file = match media.source {
            MediaSource::Url(url) => {
                InputFile::url(
                    reqwest::Url::parse(&url).map_err(|e| SendError::Unsupported {
                        field: "url",
                        message: format!("url: {e}"),
                    })?,
                )
            }
            MediaSource::Upload { file_name, bytes } => {
                InputFile::memory(bytes).file_name(file_name)
            }
        };
        let caption = media.caption;
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
                self.paced(&chat, request).await.map_err(send_error)?
            }};
        }
        let message = match media.kind {
            MediaKind::Photo => with_options!(self.bot.send_photo(chat.clone(), file)),
            MediaKind::Document => with_options!(self.bot.send_document(chat.clone(), file)),
            MediaKind::Audio => with_options!(self.bot.send_audio(chat.clone(), file)),
            MediaKind::Video => with_options!(self.bot.send_video(chat.clone(), file)),
        };
        Ok(neutral(&message))
    }
}

/// The chat in teloxide's terms: a numeric id (within 2^53 - 1 either way, what clients reading JSON
/// numbers as doubles keep exact) or a public `@username`.
fn recipient(chat: &ChatRef) -> Result<Recipient, String> {
    const WRONG: &str = "a Telegram chat is a numeric chat id or an @username";
    const MAX_ID: u64 = (1 << 53) - 1;
    let s = chat.as_str();
    if let Some(name) = s.strip_prefix('@') {
        let valid = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(Recipient::ChannelUsername(s.to_string()))
        } else {
            Err(WRONG.into())
        };
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !(1..=16).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WRONG.into());
    }
    match s.parse::<i64>() {
        Ok(id) if id.unsigned_abs() <= MAX_ID => Ok(Recipient::Id(teloxide::types::ChatId(id))),
        _ => Err("the chat id is out of range (at most 2^53 - 1 either way)".into()),
    }
}

/// The chat's key in the pacer: its id, or its `@username` (which Telegram reads case-insensitively).
fn pace_key(chat: &Recipient) -> String {
    match chat {
        Recipient::Id(id) => id.0.to_string(),
        Recipient::ChannelUsername(name) => name.to_ascii_lowercase(),
    }
}

/// A message that reached the bot, in neutral terms; other updates are not messages.
fn neutral_update(update: &Update) -> Option<Message> {
    match &update.kind {
        UpdateKind::Message(message) => Some(neutral(message)),
        _ => None,
    }
}

fn neutral(message: &teloxide::types::Message) -> Message {
    let chat = &message.chat;
    Message {
        id: message.id.0.to_string(),
        chat: Chat {
            id: ChatRef::from(chat.id.0),
            name: chat_name(chat),
            kind: chat_kind(chat),
            username: chat.username().map(str::to_string),
        },
        from: message.from.as_ref().map(|user| Person {
            id: user.id.0.to_string(),
            name: match &user.last_name {
                Some(last) => format!("{} {last}", user.first_name),
                None => user.first_name.clone(),
            },
            username: user.username.clone(),
            is_bot: user.is_bot,
        }),
        text: message
            .text()
            .or_else(|| message.caption())
            .map(str::to_string),
        date: message.date.timestamp(),
    }
}

/// Private, group, supergroup or channel.
fn chat_kind(chat: &teloxide::types::Chat) -> ChatKind {
    if chat.is_private() {
        ChatKind::Private
    } else if chat.is_supergroup() {
        ChatKind::Supergroup
    } else if chat.is_group() {
        ChatKind::Group
    } else {
        ChatKind::Channel
    }
}

/// A group's title, a person's name, or the `@username`.
fn chat_name(chat: &teloxide::types::Chat) -> Option<String> {
    chat.title()
        .map(str::to_string)
        .or_else(|| {
            let first = chat.first_name()?;
            Some(match chat.last_name() {
                Some(last) => format!("{first} {last}"),
                None => first.to_string(),
            })
        })
        .or_else(|| chat.username().map(|u| format!("@{u}")))
}

fn is_token_refused(e: &RequestError) -> bool {
    matches!(e, RequestError::Api(ApiError::InvalidToken))
}

/// Telegram's refusal of the request itself (chat not found, bot blocked, text too long) is the caller's
/// to fix; a rate limit Telegram still insists on after it was waited out [`MAX_TRIES`] times is a 429; a network failure
/// or a server error of Telegram's is a failure (a network error may pass on retry).
fn send_error(e: RequestError) -> SendError {
    match &e {
        RequestError::Api(api) => SendError::Refused(api.to_string()),
        RequestError::RetryAfter(wait) => SendError::RateLimited {
            message: format!("Telegram rate limit: retry after {} s", wait.seconds()),
            retry_after: Duration::from_secs(u64::from(wait.seconds()).max(1)),
        },
        RequestError::Network(_) => SendError::Failed {
            message: e.to_string(),
            transient: true,
        },
        _ => SendError::Failed {
            message: e.to_string(),
            transient: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_chats_are_ids_or_usernames() {
        let chat = |s: &str| recipient(&ChatRef::parse(s).unwrap());
        assert!(matches!(chat("42"), Ok(Recipient::Id(id)) if id.0 == 42));
        assert!(matches!(chat("-100123"), Ok(Recipient::Id(id)) if id.0 == -100123));
        assert!(matches!(chat("@chan_1"), Ok(Recipient::ChannelUsername(n)) if n == "@chan_1"));
        for bad in [
            "abc",
            "@",
            "C0123",
            "9007199254740992",
            "-9007199254740992",
            "12345678901234567",
        ] {
            assert!(chat(bad).is_err(), "{bad} should fail");
        }
        assert!(chat("-9007199254740991").is_ok());
    }

    #[tokio::test]
    async fn groups_are_negative_ids_or_usernames() {
        let p = TelegramProvider::new(
            "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "http://127.0.0.1:1",
            Receive::Polling,
        )
        .unwrap();
        let group = |s: &str| p.check_chat(&ChatRef::parse(s).unwrap(), true);
        assert!(group("-100222").is_ok() && group("@chan").is_ok());
        assert!(group("55").is_err());
        assert_eq!(
            p.check_chat(&ChatRef::parse("0055").unwrap(), false)
                .unwrap()
                .as_str(),
            "55",
            "one spelling per chat"
        );
    }

    #[test]
    fn a_markup_telegram_cannot_read_is_unsupported() {
        let markup = |json: &str| Some(serde_json::from_str(json).unwrap());
        let ok = TextOptions {
            parse_mode: Some(ParseMode::Html),
            reply_markup: markup(r#"{"inline_keyboard":[[{"text":"Yes","callback_data":"yes"}]]}"#),
        };
        assert!(TeloxideOptions::new(&ok).is_ok());
        let bad = TextOptions {
            parse_mode: None,
            reply_markup: markup(r#"{"keyboard":"no"}"#),
        };
        assert!(matches!(
            TeloxideOptions::new(&bad),
            Err(SendError::Unsupported { .. })
        ));
    }

    #[tokio::test]
    async fn a_webhook_update_becomes_a_neutral_message() {
        let p = TelegramProvider::new(
            "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "http://127.0.0.1:1",
            Receive::Polling,
        )
        .unwrap();
        let body = br#"{"update_id":5,"message":{"message_id":9,"date":1700000000,
            "chat":{"id":-100222,"type":"supergroup","title":"Ops"},
            "from":{"id":7,"is_bot":false,"first_name":"Ann","last_name":"Lee","username":"ann"},
            "text":"hi"}}"#;
        let messages = p.parse_callback(body).unwrap();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!((m.id.as_str(), m.chat.id.as_str()), ("9", "-100222"));
        assert_eq!(m.chat.kind, ChatKind::Supergroup);
        assert_eq!(m.chat.name.as_deref(), Some("Ops"));
        assert_eq!(m.from.as_ref().unwrap().name, "Ann Lee");
        assert_eq!(m.text.as_deref(), Some("hi"));
        assert!(p.parse_callback(b"{}").is_err());
    }

    /// A Telegram nearby that enforces the limits where it counts a message: each request waits
    /// 0–15 ms before it is counted and 0–15 ms more before it is answered (as a network and a busy
    /// server would), and a message over 30 in any second or within a second of the chat's last one is
    /// refused with 429.
    #[derive(Clone, Default)]
    struct StrictTelegram {
        state: Arc<std::sync::Mutex<Counted>>,
    }

    #[derive(Default)]
    struct Counted {
        requests: u64,
        accepted: Vec<(i64, std::time::Instant)>,
        refused: usize,
    }

    impl StrictTelegram {
        async fn start() -> (Self, String) {
            use axum::{Json, extract::State, routing::post};
            async fn send_message(
                State(fake): State<StrictTelegram>,
                Json(body): Json<serde_json::Value>,
            ) -> Json<serde_json::Value> {
                let chat = body["chat_id"].as_i64().unwrap_or_default();
                let n = {
                    let mut state = fake.state.lock().unwrap();
                    state.requests += 1;
                    state.requests
                };
                // Fixed pseudo-random delays, from the request's number.
                let delay = |salt: u64| {
                    Duration::from_millis(
                        (n.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 3) % 16,
                    )
                };
                tokio::time::sleep(delay(0)).await;
                let ok = {
                    let mut state = fake.state.lock().unwrap();
                    let now = std::time::Instant::now();
                    let second = Duration::from_secs(1);
                    let in_second = state
                        .accepted
                        .iter()
                        .filter(|(_, t)| now - *t < second)
                        .count();
                    let chat_busy = state
                        .accepted
                        .iter()
                        .any(|(c, t)| *c == chat && now - *t < second);
                    if in_second >= 30 || chat_busy {
                        state.refused += 1;
                        false
                    } else {
                        state.accepted.push((chat, now));
                        true
                    }
                };
                tokio::time::sleep(delay(977)).await;
                Json(if ok {
                    serde_json::json!({"ok": true, "result": {
                        "message_id": n, "date": 1_700_000_000,
                        "chat": {"id": chat, "type": "private", "first_name": "T"},
                        "text": body["text"],
                    }})
                } else {
                    serde_json::json!({"ok": false, "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}})
                })
            }
            let fake = Self::default();
            let app = axum::Router::new()
                .route("/{bot}/SendMessage", post(send_message))
                .with_state(fake.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            (fake, url)
        }
    }

    /// 90 messages to 45 chats (two each), all asked for at once: Telegram never has to refuse one, and
    /// they take what 30 a second allows (three seconds' worth, so about two seconds), where pacing
    /// started sends at 20 a second took over four.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_go_at_telegrams_limit_and_telegram_refuses_none() {
        let (fake, url) = StrictTelegram::start().await;
        let p = TelegramProvider::new("1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA", &url, Receive::Polling)
            .unwrap();
        let chats: Vec<ChatRef> = (0..90).map(|i| ChatRef::from(5_000 + i % 45)).collect();
        let options = TextOptions::default();
        let start = std::time::Instant::now();
        let sends = chats.iter().map(|chat| p.send_text(chat, "hi", &options));
        let answers = futures::future::join_all(sends).await;
        let took = start.elapsed();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let state = fake.state.lock().unwrap();
        assert_eq!((state.accepted.len(), state.refused), (90, 0));
        assert!(took < Duration::from_millis(3300), "{took:?}");
    }
}
