//! A fake Telegram Bot API for tests: enough of `getMe`, `getUpdates` (long poll), `sendMessage`,
//! `sendPhoto`/`sendDocument`/`sendAudio`/`sendVideo` (JSON or multipart, URL or upload),
//! `getWebhookInfo` and `deleteWebhook` for teloxide 0.17, plus Telegram's error replies. Requests are
//! `POST /bot<token>/<Method>`; method names are matched case-insensitively.
//!
//! Special chat ids give errors: 400 → "chat not found", 403 → "bot was blocked", 429 → retry_after.
//!
//! Telegram's sending limits are enforced on the moment the fake accepts a message (see [`Limits`]): a
//! message over any of them is refused with 429 and a `retry_after`, and counted (see
//! [`FakeTelegram::refusals`]).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{FromRequest, Multipart, Path, Request, State},
    routing::any,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A bot the fake server knows.
#[derive(Debug, Clone)]
pub struct FakeBot {
    pub id: u64,
    pub first_name: String,
    pub username: String,
}

/// A file uploaded in a multipart request.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Where a sent medium came from.
#[derive(Debug, Clone)]
pub enum MediaSource {
    Url(String),
    Upload(Upload),
}

/// A photo, document, audio or video a bot sent.
#[derive(Debug, Clone)]
pub struct SentMedia {
    pub token: String,
    pub chat_id: Value,
    pub kind: &'static str,
    pub caption: Option<String>,
    pub source: MediaSource,
    pub message_id: i64,
}

/// A message a bot sent through the fake server.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub token: String,
    pub chat_id: Value,
    pub text: String,
    pub message_id: i64,
    /// When the fake accepted it.
    pub at: std::time::Instant,
    /// `parse_mode` and `reply_markup` as sent (`Null` when absent).
    pub parse_mode: Value,
    pub reply_markup: Value,
}

/// Telegram's sending limits per bot, as the fake enforces them on the moments it accepts messages
/// (text and media alike): at most `per_second` in any second overall, one a `chat_interval` to one chat,
/// at most `group_per_minute` in any minute to one group (a negative chat id or an `@username`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_second: usize,
    pub chat_interval: Duration,
    pub group_per_minute: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_second: 30,
            chat_interval: Duration::from_secs(1),
            group_per_minute: 20,
        }
    }
}

/// The messages of one bot refused with 429 for a limit, by limit (the 429 storm and chat id 429 are
/// not counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    pub overall: usize,
    pub per_chat: usize,
    pub per_group: usize,
}

impl Refusals {
    pub fn total(&self) -> usize {
        self.overall + self.per_chat + self.per_group
    }
}

/// When one bot's messages were accepted, as far back as the limits look.
#[derive(Default)]
struct Accepted {
    /// Overall, within the last second.
    last_second: VecDeque<Instant>,
    /// Per chat: the last message.
    chat_last: HashMap<String, Instant>,
    /// Per group: within the last minute.
    group_minute: HashMap<String, VecDeque<Instant>>,
}

#[derive(Default)]
struct Inner {
    bots: HashMap<String, FakeBot>,
    sent: Vec<SentMessage>,
    media: Vec<SentMedia>,
    updates: HashMap<String, VecDeque<Value>>,
    next_update_id: i64,
    next_message_id: i64,
    /// Per token: a number bumped by every getUpdates; a waiting call whose number is no longer the
    /// newest was superseded and is answered 409, as Telegram does.
    poll_generation: HashMap<String, u64>,
    /// Per token: how many getUpdates were ended by a newer one (a second consumer shows up here).
    conflicts: HashMap<String, usize>,
    calls: HashMap<String, usize>,
    /// Per token: when `getMe` was first answered (the moment the bot could know it is connected).
    first_get_me: HashMap<String, std::time::Instant>,
    /// Tokens in a "429 storm": the first send to each chat is refused with retry_after 1.
    storm: std::collections::HashSet<String>,
    stormed: std::collections::HashSet<(String, String)>,
    rate_limited: HashMap<String, usize>,
    limits: Limits,
    accepted: HashMap<String, Accepted>,
    refusals: HashMap<String, Refusals>,
    /// Per token: the webhook set with `setWebhook` (URL, secret token) until `deleteWebhook`.
    webhooks: HashMap<String, (String, Option<String>)>,
}

/// Shared state of a running fake server.
#[derive(Clone, Default)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

impl FakeTelegram {
    /// Starts the server on `addr` (port 0 picks one) and returns it with its bound address.
    pub async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route("/{bot}/{method}", any(handle))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, bound))
    }

    /// The webhook the bot with `token` set (URL, secret token), if it has one.
    pub fn webhook(&self, token: &str) -> Option<(String, Option<String>)> {
        self.lock().webhooks.get(token).cloned()
    }

    /// An update carrying a text message from `chat_id`, as Telegram POSTs it to a webhook.
    pub fn text_update(&self, chat_id: i64, text: &str) -> Value {
        let mut inner = self.lock();
        inner.next_update_id += 1;
        inner.next_message_id += 1;
        json!({
            "update_id": inner.next_update_id,
            "message": {
                "message_id": inner.next_message_id,
                "date": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                "chat": {"id": chat_id, "type": "private", "first_name": "Hook"},
                "from": {"id": chat_id, "is_bot": false, "first_name": "Hook"},
                "text": text,
            }
        })
    }

    /// Registers a bot and returns its token.
    pub fn add_bot(&self, id: u64, username: &str) -> String {
        let token = format!("{id}:AAH{}", uuid::Uuid::new_v4().simple());
        self.lock().bots.insert(
            token.clone(),
            FakeBot {
                id,
                first_name: format!("Bot {username}"),
                username: username.to_string(),
            },
        );
        token
    }

    /// Queues an incoming text message from `chat_id` for the bot with `token`.
    pub fn push_text(&self, token: &str, chat_id: i64, text: &str) {
        let mut inner = self.lock();
        inner.next_update_id += 1;
        let update_id = inner.next_update_id;
        inner.next_message_id += 1;
        let message_id = inner.next_message_id;
        // Negative ids are groups (as in Telegram); the sender is then user 1000.
        let (chat, from) = if chat_id < 0 {
            (
                json!({"id": chat_id, "type": "group", "title": format!("Group {}", -chat_id)}),
                json!({"id": 1000, "is_bot": false, "first_name": "Member"}),
            )
        } else {
            (
                json!({"id": chat_id, "type": "private", "first_name": "Tester"}),
                json!({"id": chat_id, "is_bot": false, "first_name": "Tester"}),
            )
        };
        let update = json!({
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": now_secs(),
                "chat": chat,
                "from": from,
                "text": text,
            }
        });
        inner
            .updates
            .entry(token.to_string())
            .or_default()
            .push_back(update);
        drop(inner);
        self.arrived.notify_waiters();
    }

    pub fn media(&self) -> Vec<SentMedia> {
        self.lock().media.clone()
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// The texts the bot with `token` sent to `chat`, once they are at least `count` (panics after 30 s).
    pub async fn wait_texts_to(&self, token: &str, chat: i64, count: usize) -> Vec<String> {
        self.wait_texts(
            token,
            chat,
            |texts| texts.len() >= count,
            &format!("{count} texts"),
        )
        .await
    }

    /// Waits until the bot with `token` sent `text` to `chat` (panics after 30 s).
    pub async fn wait_sent(&self, token: &str, chat: i64, text: &str) {
        self.wait_texts(
            token,
            chat,
            |texts| texts.iter().any(|t| t == text),
            &format!("'{text}'"),
        )
        .await;
    }

    async fn wait_texts(
        &self,
        token: &str,
        chat: i64,
        done: impl Fn(&[String]) -> bool,
        what: &str,
    ) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let texts: Vec<String> = self
                .sent()
                .iter()
                .filter(|m| m.token == token && m.chat_id == serde_json::json!(chat))
                .map(|m| m.text.clone())
                .collect();
            if done(&texts) {
                return texts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} never sent to {chat}; sent: {texts:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// When the bot with `token` was first answered `getMe`.
    pub fn first_get_me(&self, token: &str) -> Option<std::time::Instant> {
        self.lock().first_get_me.get(token).copied()
    }

    /// How many calls of `method` (lowercase) the bot with `token` made.
    pub fn calls(&self, token: &str, method: &str) -> usize {
        self.lock()
            .calls
            .get(&format!("{token}/{method}"))
            .copied()
            .unwrap_or(0)
    }

    /// Starts a 429 storm for `token`: Telegram refuses the first message to every chat with
    /// `retry_after: 1`.
    pub fn start_storm(&self, token: &str) {
        self.lock().storm.insert(token.to_string());
    }

    /// How many sends of `token` were refused with 429 (storm and limits alike).
    pub fn rate_limited(&self, token: &str) -> usize {
        self.lock().rate_limited.get(token).copied().unwrap_or(0)
    }

    /// The sends of `token` refused with 429 because they broke one of [`Limits`].
    pub fn refusals(&self, token: &str) -> Refusals {
        self.lock().refusals.get(token).copied().unwrap_or_default()
    }

    /// How many `getUpdates` calls of `token` a newer one ended with 409 "terminated by other getUpdates
    /// request". Two live consumers of one token keep raising it.
    pub fn conflicts(&self, token: &str) -> usize {
        self.lock().conflicts.get(token).copied().unwrap_or(0)
    }

    /// Asserts that for `window` no long poll of `token` is superseded: a second consumer would supersede
    /// the first within one poll.
    pub async fn assert_one_consumer(&self, token: &str, window: Duration) {
        let before = self.conflicts(token);
        tokio::time::sleep(window).await;
        assert_eq!(self.conflicts(token), before, "two workers poll one token");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn error(code: u16, description: &str) -> Json<Value> {
    Json(json!({"ok": false, "error_code": code, "description": description}))
}

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

/// A request's parameters: a JSON body, or a multipart form (teloxide sends every method with a file
/// that way) whose text fields are parsed as JSON where they are JSON and whose file parts are kept
/// apart, by part name.
async fn read_params(request: Request) -> (Value, HashMap<String, Upload>) {
    let is_multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let body = Json::<Value>::from_request(request, &()).await;
        return (body.map(|Json(v)| v).unwrap_or(Value::Null), HashMap::new());
    }
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return (Value::Null, HashMap::new());
    };
    let mut params = serde_json::Map::new();
    let mut files = HashMap::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                let bytes = field.bytes().await.unwrap_or_default().to_vec();
                files.insert(name, Upload { file_name, bytes });
            }
            None => {
                let text = field.text().await.unwrap_or_default();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                params.insert(name, value);
            }
        }
    }
    (Value::Object(params), files)
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    request: Request,
) -> Json<Value> {
    let (body, files) = read_params(request).await;
    let Some(token) = bot.strip_prefix("bot").map(str::to_string) else {
        return error(404, "Not Found");
    };
    let method = method.to_ascii_lowercase();
    let known = {
        let mut inner = fake.lock();
        *inner.calls.entry(format!("{token}/{method}")).or_default() += 1;
        inner.bots.get(&token).cloned()
    };
    let Some(me) = known else {
        return error(401, "Unauthorized");
    };
    if method == "getme" {
        fake.lock()
            .first_get_me
            .entry(token.clone())
            .or_insert_with(std::time::Instant::now);
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": me.id, "is_bot": true, "first_name": me.first_name, "username": me.username,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "getwebhookinfo" => {
            let url = fake.webhook(&token).map(|(url, _)| url).unwrap_or_default();
            ok(json!({"url": url, "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "setwebhook" => {
            let Some(url) = body.get("url").and_then(Value::as_str).map(str::to_string) else {
                return error(400, "Bad Request: bad webhook: URL must be provided");
            };
            let secret = body
                .get("secret_token")
                .and_then(Value::as_str)
                .map(str::to_string);
            fake.lock().webhooks.insert(token.clone(), (url, secret));
            ok(json!(true))
        }
        "deletewebhook" => {
            fake.lock().webhooks.remove(&token);
            ok(json!(true))
        }
        "setmycommands" | "close" | "logout" => ok(json!(true)),
        "getupdates" if fake.webhook(&token).is_some() => error(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        ),
        "getupdates" => get_updates(&fake, &token, &body).await,
        "sendmessage" => send_message(&fake, &token, &me, &body),
        "sendphoto" => send_media(&fake, &token, &me, "photo", &body, &files),
        "senddocument" => send_media(&fake, &token, &me, "document", &body, &files),
        "sendaudio" => send_media(&fake, &token, &me, "audio", &body, &files),
        "sendvideo" => send_media(&fake, &token, &me, "video", &body, &files),
        _ => error(404, "Not Found: method not found"),
    }
}

async fn get_updates(fake: &FakeTelegram, token: &str, body: &Value) -> Json<Value> {
    let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
    // Telegram returns at most 100 updates per call.
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(100)
        .clamp(1, 100) as usize;
    let timeout = body
        .get("timeout")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(30);
    let generation = {
        let mut inner = fake.lock();
        let g = inner.poll_generation.entry(token.to_string()).or_default();
        *g += 1;
        *g
    };
    // Wake the call this one supersedes.
    fake.arrived.notify_waiters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.arrived.notified();
        let ready: Vec<Value> = {
            let mut inner = fake.lock();
            if inner.poll_generation.get(token).copied() != Some(generation) {
                *inner.conflicts.entry(token.to_string()).or_default() += 1;
                return Json(json!({"ok": false, "error_code": 409,
                    "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}));
            }
            let queue = inner.updates.entry(token.to_string()).or_default();
            // Telegram forgets updates below the offset the client confirmed.
            queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            queue.iter().take(limit).cloned().collect()
        };
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
            return ok(Value::Array(ready));
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

fn chat_json(chat_id: &Value) -> Value {
    match chat_id.as_i64() {
        Some(id) if id < 0 => json!({"id": id, "type": "group", "title": format!("Group {}", -id)}),
        Some(id) => json!({"id": id, "type": "private", "first_name": "Tester"}),
        None => json!({"id": -1000000000001i64, "type": "channel", "title": "Channel",
                       "username": chat_id.as_str().unwrap_or("").trim_start_matches('@')}),
    }
}

/// `sendPhoto`, `sendDocument`, `sendAudio`, `sendVideo`: the file is a URL (a text field) or an upload
/// (a file part, named directly or through `attach://<name>`).
fn send_media(
    fake: &FakeTelegram,
    token: &str,
    me: &FakeBot,
    kind: &'static str,
    body: &Value,
    files: &HashMap<String, Upload>,
) -> Json<Value> {
    let chat_id = body.get("chat_id").cloned().unwrap_or(Value::Null);
    if chat_id.as_i64() == Some(400) {
        return error(400, "Bad Request: chat not found");
    }
    let reference = body.get(kind).and_then(Value::as_str).unwrap_or_default();
    let upload = files.get(kind).or_else(|| {
        reference
            .strip_prefix("attach://")
            .and_then(|n| files.get(n))
    });
    let source = match (upload, reference) {
        (Some(upload), _) => MediaSource::Upload(upload.clone()),
        (None, url) if url.starts_with("http://") || url.starts_with("https://") => {
            MediaSource::Url(url.to_string())
        }
        _ => return error(400, "Bad Request: there is no file in the request"),
    };
    let size = match &source {
        MediaSource::Upload(u) => u.bytes.len(),
        MediaSource::Url(_) => 1234,
    };
    let caption = body
        .get("caption")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut inner = fake.lock();
    if let Err(refused) = within_limits(&mut inner, token, &chat_id, Instant::now()) {
        return refused;
    }
    inner.next_message_id += 1;
    let message_id = inner.next_message_id;
    inner.media.push(SentMedia {
        token: token.to_string(),
        chat_id: chat_id.clone(),
        kind,
        caption: caption.clone(),
        source,
        message_id,
    });
    let file = json!({"file_id": format!("file-{message_id}"), "file_unique_id": format!("u{message_id}"), "file_size": size});
    let mut message = json!({
        "message_id": message_id,
        "date": now_secs(),
        "chat": chat_json(&chat_id),
        "from": {"id": me.id, "is_bot": true, "first_name": me.first_name, "username": me.username},
    });
    let media = match kind {
        "photo" => json!([merge(&file, json!({"width": 640, "height": 480}))]),
        "audio" => merge(&file, json!({"duration": 3})),
        "video" => merge(&file, json!({"width": 640, "height": 480, "duration": 3})),
        _ => file,
    };
    message[kind] = media;
    if let Some(c) = caption {
        message["caption"] = Value::String(c);
    }
    ok(message)
}

fn merge(a: &Value, b: Value) -> Value {
    let mut out = a.clone();
    if let (Some(o), Value::Object(extra)) = (out.as_object_mut(), b) {
        o.extend(extra);
    }
    out
}

/// Which limit a message broke, and the whole seconds until it would not.
enum Broken {
    Overall(Duration),
    PerChat(Duration),
    PerGroup(Duration),
}

/// Accepts a message of `token` to `chat_id` at `now` under the limits (recording it), or refuses it
/// with 429 and `retry_after` (counting the refusal).
fn within_limits(
    inner: &mut Inner,
    token: &str,
    chat_id: &Value,
    now: Instant,
) -> Result<(), Json<Value>> {
    let limits = inner.limits;
    let chat = chat_id.to_string();
    let group = chat_id.as_i64().is_none_or(|id| id < 0);
    let accepted = inner.accepted.entry(token.to_string()).or_default();
    let second = Duration::from_secs(1);
    let minute = Duration::from_secs(60);
    accepted
        .last_second
        .retain(|t| now.duration_since(*t) < second);
    let broken = if accepted.last_second.len() >= limits.per_second {
        let oldest = accepted.last_second.front().copied().unwrap_or(now);
        Some(Broken::Overall(second - now.duration_since(oldest)))
    } else if let Some(last) = accepted
        .chat_last
        .get(&chat)
        .filter(|t| now.duration_since(**t) < limits.chat_interval)
    {
        Some(Broken::PerChat(
            limits.chat_interval - now.duration_since(*last),
        ))
    } else if group {
        let recent = accepted.group_minute.entry(chat.clone()).or_default();
        recent.retain(|t| now.duration_since(*t) < minute);
        (recent.len() >= limits.group_per_minute).then(|| {
            let oldest = recent.front().copied().unwrap_or(now);
            Broken::PerGroup(minute - now.duration_since(oldest))
        })
    } else {
        None
    };
    let Some(broken) = broken else {
        accepted.last_second.push_back(now);
        accepted.chat_last.insert(chat.clone(), now);
        if group {
            accepted
                .group_minute
                .entry(chat)
                .or_default()
                .push_back(now);
        }
        return Ok(());
    };
    let refusals = inner.refusals.entry(token.to_string()).or_default();
    let wait = match broken {
        Broken::Overall(wait) => {
            refusals.overall += 1;
            wait
        }
        Broken::PerChat(wait) => {
            refusals.per_chat += 1;
            wait
        }
        Broken::PerGroup(wait) => {
            refusals.per_group += 1;
            wait
        }
    };
    *inner.rate_limited.entry(token.to_string()).or_default() += 1;
    let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
    Err(Json(json!({"ok": false, "error_code": 429,
        "description": format!("Too Many Requests: retry after {retry_after}"),
        "parameters": {"retry_after": retry_after}})))
}

fn send_message(fake: &FakeTelegram, token: &str, me: &FakeBot, body: &Value) -> Json<Value> {
    let chat_id = body.get("chat_id").cloned().unwrap_or(Value::Null);
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match chat_id.as_i64() {
        Some(400) => return error(400, "Bad Request: chat not found"),
        Some(403) => return error(403, "Forbidden: bot was blocked by the user"),
        Some(429) => {
            return Json(json!({"ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}));
        }
        _ => {}
    }
    let mut inner = fake.lock();
    if inner.storm.contains(token)
        && inner
            .stormed
            .insert((token.to_string(), chat_id.to_string()))
    {
        *inner.rate_limited.entry(token.to_string()).or_default() += 1;
        return Json(json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}));
    }
    let now = Instant::now();
    if let Err(refused) = within_limits(&mut inner, token, &chat_id, now) {
        return refused;
    }
    inner.next_message_id += 1;
    let message_id = inner.next_message_id;
    inner.sent.push(SentMessage {
        token: token.to_string(),
        chat_id: chat_id.clone(),
        text: text.clone(),
        message_id,
        at: now,
        parse_mode: body.get("parse_mode").cloned().unwrap_or(Value::Null),
        reply_markup: body.get("reply_markup").cloned().unwrap_or(Value::Null),
    });
    let chat = chat_json(&chat_id);
    ok(json!({
        "message_id": message_id,
        "date": now_secs(),
        "chat": chat,
        "from": {"id": me.id, "is_bot": true, "first_name": me.first_name, "username": me.username},
        "text": text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_refuse_what_telegram_would() {
        let mut inner = Inner::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 30 chats at once, the 31st in the same second is refused; a second later it passes.
        for chat in 0..30 {
            assert!(within_limits(&mut inner, "t", &json!(chat), ms(chat * 10)).is_ok());
        }
        let refused = within_limits(&mut inner, "t", &json!(99), ms(999)).unwrap_err();
        assert_eq!(refused.0["parameters"]["retry_after"], 1);
        assert!(within_limits(&mut inner, "t", &json!(99), ms(1000)).is_ok());
        // One a second to one chat.
        assert!(within_limits(&mut inner, "t", &json!(99), ms(1999)).is_err());
        assert!(within_limits(&mut inner, "t", &json!(99), ms(2000)).is_ok());
        // Twenty a minute to one group.
        for i in 0..20 {
            assert!(within_limits(&mut inner, "t", &json!(-5), ms(10_000 + i * 1000)).is_ok());
        }
        let refused = within_limits(&mut inner, "t", &json!(-5), ms(40_000)).unwrap_err();
        assert_eq!(refused.0["parameters"]["retry_after"], 30);
        assert!(within_limits(&mut inner, "t", &json!(-5), ms(70_000)).is_ok());
        assert_eq!(
            inner.refusals["t"],
            Refusals {
                overall: 1,
                per_chat: 1,
                per_group: 1
            }
        );
        // Another bot has its own limits.
        assert!(within_limits(&mut inner, "u", &json!(99), ms(2000)).is_ok());
    }
}
