//! Slack through its Web API (reqwest) and Socket Mode (tokio-tungstenite): `auth.test` to connect,
//! `apps.connections.open` with the app-level token for a websocket of envelopes to receive,
//! `chat.postMessage` to send. Plain HTTP and a websocket rather than slack-morphism: the bot needs six
//! Web API methods and one envelope shape, reqwest is already in the worker, and owning the socket loop
//! is what lets it acknowledge every envelope at once, drop redeliveries by event id, report liveness
//! and reconnect exactly when Slack asks to.
//!
//! - Receive: every envelope is acknowledged (`{"envelope_id": …}`) before anything else; an `events_api`
//!   envelope whose `event_id` was seen is a redelivery and goes no further; `message` events from people
//!   (no subtype, or `file_share`, `thread_broadcast`, `me_message`) reach [`Inbound::message`], the bot's
//!   own messages and edits, deletions, joins… do not. A `disconnect` (`refresh_requested`) opens a new
//!   socket at once; a dropped or silent socket (no frame for [`SlackTimings::idle_timeout`] while the
//!   client pings every [`SlackTimings::ping_interval`]) is reported as trouble and reopened with backoff.
//! - Send: text with `chat.postMessage`; media by URL as a message (an `image` block for a photo, the
//!   link for the others, which Slack unfurls); an uploaded file through the external upload flow
//!   (`files.getUploadURLExternal`, the bytes, `files.completeUploadExternal`). A 429's `Retry-After` is
//!   waited out (and holds back later calls of the same method) unless the wait would pass
//!   [`SlackTimings::max_wait`], which is then [`SendError::RateLimited`].
//! - Chats are conversation ids: `C…` channels (public → [`ChatKind::Channel`], private →
//!   [`ChatKind::Group`]), `G…` private channels and group DMs ([`ChatKind::Group`]), `D…` direct messages
//!   ([`ChatKind::Private`]); a user id `U…`/`W…` sends to the bot's DM with that person.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shared::{
    Provider as ProviderKind,
    api::credentials::SlackCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind},
};
use tokio::{sync::mpsc, time::Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{
    Chat, ConnectError, Identity, Inbound, Media, MediaSource, Message, Person, Provider,
    SendError, TextOptions,
};

/// Slack's Web API, where `BOTFLEET_SLACK_API_URL` does not say otherwise.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// The waits of the provider; tests shorten them.
#[derive(Debug, Clone)]
pub struct SlackTimings {
    /// How often the client pings its socket.
    pub ping_interval: Duration,
    /// A socket silent this long (no envelope, ping or pong) is taken for dropped.
    pub idle_timeout: Duration,
    /// Longest wait for the websocket handshake, and for one Web API call.
    pub request_timeout: Duration,
    /// The longest a send waits out Slack's `Retry-After`; beyond it, [`SendError::RateLimited`].
    pub max_wait: Duration,
    /// First wait before reconnecting after a failure; doubles per failure in a row.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for SlackTimings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(35),
            request_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Who the bot is, to leave its own messages out.
#[derive(Debug, Clone)]
struct Me {
    user_id: String,
    bot_id: Option<String>,
}

/// Most entries a name cache keeps before it starts over.
const CACHE_MAX: usize = 10_000;
/// Event ids remembered to drop redeliveries.
const SEEN_MAX: usize = 4096;
/// Events read off the socket and not yet handed to [`Inbound`].
const QUEUE: usize = 1024;

pub struct SlackProvider {
    http: reqwest::Client,
    /// Ends with `/`: a method's URL is this and its name.
    api_url: String,
    bot_token: String,
    app_token: String,
    timings: SlackTimings,
    me: Mutex<Option<Me>>,
    /// Conversation id → its name and kind, from `conversations.info`.
    chats: Mutex<HashMap<String, (Option<String>, ChatKind)>>,
    /// User id → the person, from `users.info`.
    people: Mutex<HashMap<String, Person>>,
    /// Per Web API method: no call before this (a 429's `Retry-After`).
    held_until: Mutex<HashMap<&'static str, Instant>>,
}

/// Why a Web API call failed.
#[derive(Debug)]
enum CallError {
    /// `{"ok": false, "error": code}`.
    Slack(String),
    /// A 429 whose `Retry-After` passes the wait allowed.
    RateLimited(Duration),
    /// Another HTTP status.
    Status(reqwest::StatusCode),
    /// No answer (connection, timeout).
    Network(String),
    /// An answer that is not Slack's JSON.
    BadAnswer(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Slack(code) => write!(f, "Slack answered {code}"),
            CallError::RateLimited(wait) => {
                write!(
                    f,
                    "Slack rate limit: retry after {} s",
                    wait.as_secs().max(1)
                )
            }
            CallError::Status(status) => write!(f, "Slack answered HTTP {status}"),
            CallError::Network(e) => write!(f, "Slack could not be reached: {e}"),
            CallError::BadAnswer(e) => write!(f, "Slack's answer could not be read: {e}"),
        }
    }
}

/// A call's arguments: JSON for the methods that take it, a form for the others.
enum Args<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, String)]),
}

/// How a socket ended.
enum SocketEnd {
    /// Slack asked for a new one (`disconnect`: `refresh_requested`).
    Refresh,
    /// It failed, closed or went silent.
    Lost(String),
}

/// The error codes that mean a token is refused: no retry helps until the credentials change.
fn is_auth_error(code: &str) -> bool {
    matches!(
        code,
        "not_authed"
            | "invalid_auth"
            | "account_inactive"
            | "token_revoked"
            | "token_expired"
            | "not_allowed_token_type"
            | "team_access_not_granted"
            | "no_permission"
    )
}

impl SlackProvider {
    /// A provider for the bot with `credentials`; `api_url` is the Web API's base (Slack's:
    /// [`DEFAULT_API_URL`]).
    pub fn new(credentials: &SlackCredentials, api_url: &str) -> anyhow::Result<Self> {
        Self::with_timings(credentials, api_url, SlackTimings::default())
    }

    pub fn with_timings(
        credentials: &SlackCredentials,
        api_url: &str,
        timings: SlackTimings,
    ) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(api_url)
            .map_err(|e| anyhow::anyhow!("invalid Slack API URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("invalid Slack API URL: not http(s)");
        }
        let mut api_url = api_url.to_string();
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        let http = reqwest::Client::builder()
            .timeout(timings.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            api_url,
            bot_token: credentials.bot_token.clone(),
            app_token: credentials.app_token.clone(),
            timings,
            me: Mutex::new(None),
            chats: Mutex::new(HashMap::new()),
            people: Mutex::new(HashMap::new()),
            held_until: Mutex::new(HashMap::new()),
        })
    }

    /// Calls a Web API method. A 429 is waited out (its `Retry-After`, which also holds back later calls
    /// of the method) while the wait ends within `budget`; past it the call fails with
    /// [`CallError::RateLimited`].
    async fn call(
        &self,
        method: &'static str,
        token: &str,
        args: Args<'_>,
        budget: Duration,
    ) -> Result<Value, CallError> {
        let deadline = Instant::now() + budget;
        loop {
            let held = lock(&self.held_until).get(method).copied();
            if let Some(until) = held
                && until > Instant::now()
            {
                if until > deadline {
                    return Err(CallError::RateLimited(until - Instant::now()));
                }
                tokio::time::sleep_until(until).await;
            }
            let request = self
                .http
                .post(format!("{}{method}", self.api_url))
                .bearer_auth(token);
            let request = match &args {
                Args::Json(body) => request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/json; charset=utf-8",
                    )
                    .body(body.to_string()),
                Args::Form(fields) => request.form(fields),
            };
            let response = request
                .send()
                .await
                .map_err(|e| CallError::Network(e.without_url().to_string()))?;
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs);
                let until = Instant::now() + wait;
                lock(&self.held_until).insert(method, until);
                if until > deadline {
                    return Err(CallError::RateLimited(wait));
                }
                tracing::info!(
                    method,
                    wait_secs = wait.as_secs(),
                    "Slack rate limit: waiting"
                );
                continue;
            }
            if !status.is_success() {
                return Err(CallError::Status(status));
            }
            let body: Value = response
                .json()
                .await
                .map_err(|e| CallError::BadAnswer(e.without_url().to_string()))?;
            if body.get("ok").and_then(Value::as_bool) == Some(true) {
                return Ok(body);
            }
            let code = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            return Err(CallError::Slack(code.to_string()));
        }
    }

    fn me(&self) -> Option<Me> {
        lock(&self.me).clone()
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(10);
        self.timings
            .backoff_base
            .saturating_mul(factor)
            .min(self.timings.backoff_max)
    }

    /// Opens sockets one after the other until Slack refuses a token; every event read goes to `events`.
    async fn sockets(&self, events: mpsc::Sender<Value>, inbound: &dyn Inbound) -> ConnectError {
        let mut failures = 0u32;
        let mut seen = Seen::default();
        loop {
            let trouble = |failures: &mut u32, error: String| {
                *failures += 1;
                tracing::warn!(error = %error, failures = *failures, "Slack Socket Mode");
                inbound.trouble(&error, *failures == 1);
            };
            if self.me().is_none() {
                match self.connect().await {
                    Ok(_) => {}
                    Err(refused @ ConnectError::Refused(_)) => return refused,
                    Err(ConnectError::Failed(e)) => {
                        trouble(&mut failures, e);
                        tokio::time::sleep(self.backoff(failures)).await;
                        continue;
                    }
                }
            }
            let opened = self
                .call(
                    "apps.connections.open",
                    &self.app_token,
                    Args::Form(&[]),
                    self.timings.max_wait,
                )
                .await;
            let url = match opened {
                Ok(body) => match body.get("url").and_then(Value::as_str) {
                    Some(url) => url.to_string(),
                    None => {
                        trouble(&mut failures, "apps.connections.open gave no url".into());
                        tokio::time::sleep(self.backoff(failures)).await;
                        continue;
                    }
                },
                Err(CallError::Slack(code)) if is_auth_error(&code) => {
                    tracing::error!(code, "Slack refused the app-level token");
                    return ConnectError::Refused(format!(
                        "Slack refused the app-level token (apps.connections.open): {code}"
                    ));
                }
                Err(e) => {
                    trouble(&mut failures, format!("apps.connections.open failed: {e}"));
                    tokio::time::sleep(self.backoff(failures)).await;
                    continue;
                }
            };
            match self
                .socket(&url, &events, &mut seen, inbound, &mut failures)
                .await
            {
                SocketEnd::Refresh => {
                    tracing::debug!("Slack asked for a new socket");
                }
                SocketEnd::Lost(error) => {
                    trouble(&mut failures, error);
                    tokio::time::sleep(self.backoff(failures)).await;
                }
            }
        }
    }

    /// One socket, until it ends: acknowledges every envelope, hands on the events not seen before.
    async fn socket(
        &self,
        url: &str,
        events: &mpsc::Sender<Value>,
        seen: &mut Seen,
        inbound: &dyn Inbound,
        failures: &mut u32,
    ) -> SocketEnd {
        let handshake = tokio::time::timeout(
            self.timings.request_timeout,
            tokio_tungstenite::connect_async(url),
        )
        .await;
        let socket = match handshake {
            Ok(Ok((socket, _))) => socket,
            // The error names neither the URL nor its ticket.
            Ok(Err(e)) => return SocketEnd::Lost(format!("Socket Mode connection failed: {e}")),
            Err(_) => return SocketEnd::Lost("Socket Mode connection timed out".into()),
        };
        let (mut sink, mut stream) = socket.split();
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.timings.ping_interval,
            self.timings.ping_interval,
        );
        let mut heard = Instant::now();
        loop {
            let silent = tokio::time::sleep_until(heard + self.timings.idle_timeout);
            let frame = tokio::select! {
                frame = stream.next() => frame,
                _ = ping.tick() => {
                    if let Err(e) = sink.send(WsMessage::Ping(Vec::new().into())).await {
                        return SocketEnd::Lost(format!("Socket Mode ping failed: {e}"));
                    }
                    continue;
                }
                () = silent => {
                    let secs = self.timings.idle_timeout.as_secs_f32();
                    return SocketEnd::Lost(format!("no word from Slack's socket for {secs} s"));
                }
            };
            let text = match frame {
                None | Some(Ok(WsMessage::Close(_))) => {
                    return SocketEnd::Lost("Slack closed the socket".into());
                }
                Some(Err(e)) => {
                    return SocketEnd::Lost(format!("Socket Mode connection lost: {e}"));
                }
                Some(Ok(WsMessage::Text(text))) => text,
                // Pings (tungstenite answers them) and pongs: the link lives.
                Some(Ok(_)) => {
                    heard = Instant::now();
                    inbound.alive();
                    continue;
                }
            };
            heard = Instant::now();
            let envelope: Value = match serde_json::from_str(text.as_str()) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "Slack sent a frame that is not JSON");
                    continue;
                }
            };
            // Acknowledged first, whatever it carries: Slack redelivers what is not acknowledged in 3 s.
            if let Some(id) = envelope.get("envelope_id").and_then(Value::as_str) {
                let ack = json!({"envelope_id": id}).to_string();
                if let Err(e) = sink.send(WsMessage::Text(ack.into())).await {
                    return SocketEnd::Lost(format!("acknowledging an envelope failed: {e}"));
                }
            }
            inbound.alive();
            match envelope.get("type").and_then(Value::as_str) {
                Some("hello") if *failures > 0 => {
                    inbound.recovered(*failures);
                    *failures = 0;
                }
                Some("disconnect") => {
                    let reason = envelope.get("reason").and_then(Value::as_str);
                    // A warning comes ahead of the refresh itself.
                    if reason == Some("warning") {
                        continue;
                    }
                    let _ = sink.send(WsMessage::Close(None)).await;
                    return match reason {
                        Some("refresh_requested") => SocketEnd::Refresh,
                        reason => SocketEnd::Lost(format!(
                            "Slack ended the socket: {}",
                            reason.unwrap_or("no reason")
                        )),
                    };
                }
                Some("events_api") => {
                    let payload = envelope.get("payload").unwrap_or(&Value::Null);
                    if let Some(event_id) = payload.get("event_id").and_then(Value::as_str)
                        && !seen.first_time(event_id)
                    {
                        tracing::debug!(event_id, "Slack delivered an event again; skipped");
                        continue;
                    }
                    if let Some(event) = payload.get("event")
                        && events.send(event.clone()).await.is_err()
                    {
                        return SocketEnd::Lost("the event queue closed".into());
                    }
                }
                // Slash commands and interactions: acknowledged, not messages.
                _ => {}
            }
        }
    }

    /// A message event from a person, in neutral terms, named from the caches (a chat or person not
    /// looked up yet goes by its id).
    fn parse_event(&self, event: &Value) -> Option<Message> {
        if event.get("type").and_then(Value::as_str) != Some("message") {
            return None;
        }
        let subtype = event.get("subtype").and_then(Value::as_str);
        if !matches!(
            subtype,
            None | Some("file_share" | "thread_broadcast" | "me_message")
        ) {
            return None;
        }
        let user = event.get("user").and_then(Value::as_str)?;
        let bot_id = event.get("bot_id").and_then(Value::as_str);
        if let Some(me) = self.me()
            && (me.user_id == user || (bot_id.is_some() && me.bot_id.as_deref() == bot_id))
        {
            return None;
        }
        let channel = event.get("channel").and_then(Value::as_str)?;
        let ts = event.get("ts").and_then(Value::as_str)?;
        let text = event
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let channel_type = event.get("channel_type").and_then(Value::as_str);
        let chat = ChatRef::parse(channel).ok()?;
        Some(Message {
            id: ts.to_string(),
            chat: self.cached_chat(chat, channel_type),
            from: Some(self.cached_person(user, bot_id.is_some())),
            text,
            date: ts_seconds(ts),
        })
    }

    fn cached_chat(&self, id: ChatRef, channel_type: Option<&str>) -> Chat {
        let cached = lock(&self.chats).get(id.as_str()).cloned();
        let (name, kind) = cached.unwrap_or_else(|| (None, kind_of(id.as_str(), channel_type)));
        Chat {
            id,
            name,
            kind,
            username: None,
        }
    }

    fn cached_person(&self, user: &str, is_bot: bool) -> Person {
        lock(&self.people)
            .get(user)
            .cloned()
            .unwrap_or_else(|| Person {
                id: user.to_string(),
                name: user.to_string(),
                username: None,
                is_bot,
            })
    }

    /// Names the chat and the person of a message: `conversations.info` and `users.info` once each,
    /// cached; a lookup that fails (or is rate limited: no waiting here) leaves the ids.
    async fn name(&self, event: &Value, mut message: Message) -> Message {
        let channel = message.chat.id.as_str().to_string();
        if !lock(&self.chats).contains_key(&channel) {
            let args = [("channel", channel.clone())];
            if let Ok(answer) = self
                .call(
                    "conversations.info",
                    &self.bot_token,
                    Args::Form(&args),
                    Duration::ZERO,
                )
                .await
                && let Some(info) = answer.get("channel")
            {
                let kind = if info.get("is_im").and_then(Value::as_bool) == Some(true) {
                    ChatKind::Private
                } else if info.get("is_mpim").and_then(Value::as_bool) == Some(true)
                    || info.get("is_private").and_then(Value::as_bool) == Some(true)
                {
                    ChatKind::Group
                } else {
                    ChatKind::Channel
                };
                // A DM is named after the person in it.
                let name = match info.get("user").and_then(Value::as_str) {
                    Some(user) if kind == ChatKind::Private => {
                        Some(self.person(user, false).await.name)
                    }
                    _ => info.get("name").and_then(Value::as_str).map(str::to_string),
                };
                let mut chats = lock(&self.chats);
                if chats.len() >= CACHE_MAX {
                    chats.clear();
                }
                chats.insert(channel.clone(), (name, kind));
            }
        }
        if let Some((name, kind)) = lock(&self.chats).get(&channel).cloned() {
            message.chat.name = name;
            message.chat.kind = kind;
        }
        if let Some(user) = event.get("user").and_then(Value::as_str) {
            let is_bot = event.get("bot_id").is_some();
            message.from = Some(self.person(user, is_bot).await);
        }
        message
    }

    /// The person with id `user`, looked up once.
    async fn person(&self, user: &str, is_bot: bool) -> Person {
        if let Some(person) = lock(&self.people).get(user).cloned() {
            return person;
        }
        let args = [("user", user.to_string())];
        let Ok(answer) = self
            .call(
                "users.info",
                &self.bot_token,
                Args::Form(&args),
                Duration::ZERO,
            )
            .await
        else {
            return self.cached_person(user, is_bot);
        };
        let info = answer.get("user").unwrap_or(&Value::Null);
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let profile = info.get("profile");
        let handle = text(info.get("name"));
        let person = Person {
            id: user.to_string(),
            name: text(profile.and_then(|p| p.get("display_name")))
                .or_else(|| text(profile.and_then(|p| p.get("real_name"))))
                .or_else(|| text(info.get("real_name")))
                .or_else(|| handle.clone())
                .unwrap_or_else(|| user.to_string()),
            username: handle,
            is_bot: is_bot || info.get("is_bot").and_then(Value::as_bool) == Some(true),
        };
        let mut people = lock(&self.people);
        if people.len() >= CACHE_MAX {
            people.clear();
        }
        people.insert(user.to_string(), person.clone());
        person
    }

    /// Hands what the sockets read to `inbound`, in order, named.
    async fn deliver(&self, mut events: mpsc::Receiver<Value>, inbound: &dyn Inbound) {
        while let Some(event) = events.recv().await {
            if let Some(message) = self.parse_event(&event) {
                inbound.message(self.name(&event, message).await);
            }
        }
    }

    /// `chat.postMessage`, and what was sent in neutral terms.
    async fn post(
        &self,
        chat: &ChatRef,
        body: Value,
        text: Option<String>,
    ) -> Result<Message, SendError> {
        let answer = self
            .call(
                "chat.postMessage",
                &self.bot_token,
                Args::Json(&body),
                self.timings.max_wait,
            )
            .await
            .map_err(send_error)?;
        let ts = answer
            .get("ts")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Failed {
                message: "chat.postMessage answered without a ts".into(),
                transient: false,
            })?;
        // Sent to a user id, the message lands in the DM with them: Slack answers with the DM's id.
        let chat = answer
            .get("channel")
            .and_then(Value::as_str)
            .and_then(|c| ChatRef::parse(c).ok())
            .unwrap_or_else(|| chat.clone());
        Ok(Message {
            id: ts.to_string(),
            chat: self.cached_chat(chat, None),
            from: self.bot_person(),
            text,
            date: ts_seconds(ts),
        })
    }

    fn bot_person(&self) -> Option<Person> {
        self.me().map(|me| Person {
            name: lock(&self.people)
                .get(&me.user_id)
                .map_or_else(|| me.user_id.clone(), |p| p.name.clone()),
            id: me.user_id,
            username: None,
            is_bot: true,
        })
    }

    /// The external upload flow: an upload URL for the file, its bytes, then the share to the channel.
    async fn upload(
        &self,
        chat: &ChatRef,
        file_name: String,
        bytes: bytes::Bytes,
        caption: Option<String>,
    ) -> Result<Message, SendError> {
        let args = [
            ("filename", file_name.clone()),
            ("length", bytes.len().to_string()),
        ];
        let slot = self
            .call(
                "files.getUploadURLExternal",
                &self.bot_token,
                Args::Form(&args),
                self.timings.max_wait,
            )
            .await
            .map_err(send_error)?;
        let (Some(upload_url), Some(file_id)) = (
            slot.get("upload_url").and_then(Value::as_str),
            slot.get("file_id").and_then(Value::as_str),
        ) else {
            return Err(SendError::Failed {
                message: "files.getUploadURLExternal answered without upload_url or file_id".into(),
                transient: false,
            });
        };
        let uploaded = self
            .http
            .post(upload_url)
            .body(bytes)
            .send()
            .await
            .map_err(|e| SendError::Failed {
                message: format!("uploading the file to Slack failed: {}", e.without_url()),
                transient: true,
            })?;
        if !uploaded.status().is_success() {
            return Err(SendError::Failed {
                message: format!("Slack refused the file's bytes: HTTP {}", uploaded.status()),
                transient: uploaded.status().is_server_error(),
            });
        }
        let mut body = json!({
            "files": [{"id": file_id, "title": file_name}],
            "channel_id": chat.as_str(),
        });
        if let Some(caption) = &caption {
            body["initial_comment"] = Value::String(caption.clone());
        }
        self.call(
            "files.completeUploadExternal",
            &self.bot_token,
            Args::Json(&body),
            self.timings.max_wait,
        )
        .await
        .map_err(send_error)?;
        Ok(Message {
            id: file_id.to_string(),
            chat: self.cached_chat(chat.clone(), None),
            from: self.bot_person(),
            text: caption,
            date: time::OffsetDateTime::now_utc().unix_timestamp(),
        })
    }
}

#[async_trait]
impl Provider for SlackProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Slack
    }

    async fn connect(&self) -> Result<Identity, ConnectError> {
        let answer = self
            .call(
                "auth.test",
                &self.bot_token,
                Args::Form(&[]),
                self.timings.max_wait,
            )
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(CallError::Slack(code)) if is_auth_error(&code) => {
                return Err(ConnectError::Refused(format!(
                    "Slack refused the bot token (auth.test): {code}"
                )));
            }
            Err(e) => return Err(ConnectError::Failed(format!("auth.test failed: {e}"))),
        };
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_string);
        let Some(user_id) = text("user_id") else {
            return Err(ConnectError::Failed(
                "auth.test answered without a user_id".into(),
            ));
        };
        let name = text("user").unwrap_or_else(|| user_id.clone());
        *lock(&self.me) = Some(Me {
            user_id: user_id.clone(),
            bot_id: text("bot_id"),
        });
        lock(&self.people).insert(
            user_id.clone(),
            Person {
                id: user_id.clone(),
                name: name.clone(),
                username: Some(name.clone()),
                is_bot: true,
            },
        );
        Ok(Identity {
            id: user_id,
            name: name.clone(),
            username: Some(name),
        })
    }

    async fn receive(&self, inbound: Arc<dyn Inbound>) -> ConnectError {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::select! {
            refused = self.sockets(tx, inbound.as_ref()) => refused,
            () = self.deliver(rx, inbound.as_ref()) => ConnectError::Failed("Slack event delivery stopped".into()),
        }
    }

    /// An Events API callback (`event_callback`) the manager verified (`X-Slack-Signature`); a
    /// `url_verification` carries no message.
    fn parse_callback(&self, body: &[u8]) -> Result<Vec<Message>, String> {
        let body: Value =
            serde_json::from_slice(body).map_err(|e| format!("not a Slack event callback: {e}"))?;
        match body.get("type").and_then(Value::as_str) {
            Some("url_verification") => Ok(Vec::new()),
            Some("event_callback") => Ok(body
                .get("event")
                .and_then(|event| self.parse_event(event))
                .into_iter()
                .collect()),
            _ => Err("not a Slack event callback: no type event_callback".into()),
        }
    }

    fn check_chat(&self, chat: &ChatRef, group: bool) -> Result<ChatRef, String> {
        let id = chat.as_str();
        let valid = (3..=32).contains(&id.len())
            && matches!(id.as_bytes()[0], b'C' | b'G' | b'D' | b'U' | b'W')
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(
                "a Slack chat is a conversation id (C… or G… for a channel, D… for a direct \
                        message) or a user id (U…, W…)"
                    .into(),
            );
        }
        if group && matches!(id.as_bytes()[0], b'D' | b'U' | b'W') {
            return Err("a Slack group is a channel id (C… or G…)".into());
        }
        Ok(chat.clone())
    }

    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        options.check_supported(self.kind())?;
        let channel = channel(chat, self)?;
        let body = json!({"channel": channel, "text": text});
        self.post(chat, body, Some(text.to_string())).await
    }

    async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        options.check_supported(self.kind())?;
        let channel = channel(chat, self)?;
        let caption = media.caption.filter(|c| !c.is_empty());
        match media.source {
            MediaSource::Url(url) => {
                let parsed = reqwest::Url::parse(&url).map_err(|e| SendError::Unsupported {
                    field: "url",
                    message: format!("url: {e}"),
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(SendError::Unsupported {
                        field: "url",
                        message: "url: Slack takes http(s) links only".into(),
                    });
                }
                let body = media_message(channel, media.kind, &url, caption.as_deref());
                self.post(chat, body, caption).await
            }
            MediaSource::Upload { file_name, bytes } => {
                self.upload(chat, file_name, bytes, caption).await
            }
        }
    }
}

/// A media link as a message: a photo as an `image` block (its caption in a section above), the other
/// kinds as the caption and the link, which Slack unfurls.
fn media_message(channel: &str, kind: MediaKind, url: &str, caption: Option<&str>) -> Value {
    let fallback = match caption {
        Some(caption) => format!("{caption}\n{url}"),
        None => url.to_string(),
    };
    if kind == MediaKind::Photo {
        let alt = caption.unwrap_or("photo");
        let mut blocks = Vec::new();
        if let Some(caption) = caption {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": caption}}));
        }
        blocks.push(json!({
            "type": "image",
            "image_url": url,
            // Slack caps alt_text at 2000 characters.
            "alt_text": alt.chars().take(2000).collect::<String>(),
        }));
        json!({"channel": channel, "text": fallback, "blocks": blocks})
    } else {
        json!({"channel": channel, "text": fallback, "unfurl_links": true, "unfurl_media": true})
    }
}

fn channel<'a>(chat: &'a ChatRef, provider: &SlackProvider) -> Result<&'a str, SendError> {
    provider
        .check_chat(chat, false)
        .map_err(|message| SendError::BadChat { message })?;
    Ok(chat.as_str())
}

/// A chat's kind from Slack's `channel_type`, or else from its id.
fn kind_of(channel: &str, channel_type: Option<&str>) -> ChatKind {
    match channel_type {
        Some("im") => ChatKind::Private,
        Some("group" | "mpim") => ChatKind::Group,
        Some("channel") => ChatKind::Channel,
        _ => match channel.as_bytes().first() {
            Some(b'D' | b'U' | b'W') => ChatKind::Private,
            Some(b'G') => ChatKind::Group,
            _ => ChatKind::Channel,
        },
    }
}

/// A message's `ts` (`"1700000000.000100"`) in Unix seconds.
fn ts_seconds(ts: &str) -> i64 {
    ts.split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What a Web API failure means for a send.
fn send_error(e: CallError) -> SendError {
    match e {
        CallError::Slack(code) if is_auth_error(&code) => SendError::Failed {
            message: format!("Slack refused the bot token: {code}"),
            transient: false,
        },
        CallError::Slack(code)
            if matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ) =>
        {
            SendError::Failed {
                message: format!("Slack failed: {code}"),
                transient: true,
            }
        }
        CallError::Slack(code) => SendError::Refused(format!("Slack refused the message: {code}")),
        CallError::RateLimited(wait) => SendError::RateLimited {
            message: format!("Slack rate limit: retry after {} s", wait.as_secs().max(1)),
            retry_after: wait.max(Duration::from_secs(1)),
        },
        CallError::Status(status) => SendError::Failed {
            message: format!("Slack answered HTTP {status}"),
            transient: status.is_server_error(),
        },
        CallError::Network(e) => SendError::Failed {
            message: format!("Slack could not be reached: {e}"),
            transient: true,
        },
        CallError::BadAnswer(e) => SendError::Failed {
            message: format!("Slack's answer could not be read: {e}"),
            transient: false,
        },
    }
}

/// Event ids seen lately, to drop what Slack delivers again.
#[derive(Default)]
struct Seen {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Seen {
    /// True the first time `id` is seen.
    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() >= SEEN_MAX
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.order.push_back(id.to_string());
        self.ids.insert(id.to_string());
        true
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> SlackProvider {
        let credentials = SlackCredentials {
            bot_token: "xoxb-1111-2222-abcdefabcdefabcdefabcdef".into(),
            app_token: "xapp-1-A0001-3333-abcdefabcdef".into(),
            signing_secret: None,
        };
        SlackProvider::new(&credentials, "http://127.0.0.1:1/api").unwrap()
    }

    #[test]
    fn slack_chats_are_conversation_or_user_ids() {
        let p = provider();
        let check = |s: &str, group: bool| p.check_chat(&ChatRef::parse(s).unwrap(), group);
        for ok in [
            "C0123ABCD",
            "G0123ABCD",
            "D0123ABCD",
            "U0123ABCD",
            "W0123ABCD",
        ] {
            assert!(check(ok, false).is_ok(), "{ok}");
        }
        assert!(check("C0123ABCD", true).is_ok() && check("G0123ABCD", true).is_ok());
        for not_group in ["D0123ABCD", "U0123ABCD"] {
            assert!(check(not_group, true).is_err(), "{not_group}");
        }
        for bad in ["42", "-100", "@general", "c0123abcd", "X0123ABCD", "C0"] {
            assert!(check(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_peoples_messages_are_messages() {
        let p = provider();
        *lock(&p.me) = Some(Me {
            user_id: "U0BOT".into(),
            bot_id: Some("B0BOT".into()),
        });
        let event = |extra: Value| {
            let mut e = json!({"type": "message", "channel": "D0AAA", "user": "U0ANN",
                               "text": "hi", "ts": "1700000000.000100", "channel_type": "im"});
            if let (Some(o), Value::Object(x)) = (e.as_object_mut(), extra) {
                o.extend(x);
            }
            e
        };
        let m = p.parse_event(&event(json!({}))).unwrap();
        assert_eq!(
            (m.id.as_str(), m.chat.id.as_str()),
            ("1700000000.000100", "D0AAA")
        );
        assert_eq!((m.chat.kind, m.date), (ChatKind::Private, 1_700_000_000));
        assert_eq!(m.text.as_deref(), Some("hi"));
        assert!(
            p.parse_event(&event(json!({"subtype": "thread_broadcast"})))
                .is_some()
        );
        for ignored in [
            json!({"subtype": "message_changed"}),
            json!({"subtype": "bot_message", "bot_id": "B0OTHER"}),
            json!({"subtype": "channel_join"}),
            json!({"user": "U0BOT"}),
            json!({"user": "U0OTHERBOTUSER", "bot_id": "B0BOT"}),
            json!({"type": "app_mention"}),
        ] {
            assert!(
                p.parse_event(&event(ignored.clone())).is_none(),
                "{ignored}"
            );
        }
        let kinds = [
            ("channel", ChatKind::Channel),
            ("group", ChatKind::Group),
            ("mpim", ChatKind::Group),
        ];
        for (channel_type, kind) in kinds {
            let m = p
                .parse_event(&event(
                    json!({"channel": "C0CHAN", "channel_type": channel_type}),
                ))
                .unwrap();
            assert_eq!(m.chat.kind, kind);
        }
    }

    #[test]
    fn a_verified_callback_becomes_messages() {
        let p = provider();
        let body = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"message",
            "channel":"C0CHAN","user":"U0ANN","text":"yo","ts":"1700000001.000200","channel_type":"channel"}}"#;
        let messages = p.parse_callback(body).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].chat.kind, ChatKind::Channel);
        assert!(
            p.parse_callback(br#"{"type":"url_verification","challenge":"x"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(p.parse_callback(b"{}").is_err() && p.parse_callback(b"nope").is_err());
    }

    #[test]
    fn redeliveries_are_seen() {
        let mut seen = Seen::default();
        assert!(seen.first_time("Ev1") && seen.first_time("Ev2"));
        assert!(!seen.first_time("Ev1"));
        for i in 0..SEEN_MAX {
            seen.first_time(&format!("x{i}"));
        }
        assert!(seen.first_time("Ev1"), "old ids are forgotten");
        assert!(seen.ids.len() <= SEEN_MAX);
    }

    #[test]
    fn a_photo_link_is_an_image_block() {
        let m = media_message("C1", MediaKind::Photo, "https://x.test/a.png", Some("look"));
        assert_eq!(m["blocks"][1]["type"], "image");
        assert_eq!(m["blocks"][1]["image_url"], "https://x.test/a.png");
        assert_eq!(m["text"], "look\nhttps://x.test/a.png");
        let d = media_message("C1", MediaKind::Document, "https://x.test/a.pdf", None);
        assert!(d.get("blocks").is_none());
        assert_eq!(d["text"], "https://x.test/a.pdf");
    }
}
