//! A fake Slack for tests: the Web API methods a bot uses (`auth.test`, `apps.connections.open`,
//! `chat.postMessage`, `conversations.info`, `users.info`, and the external file upload:
//! `files.getUploadURLExternal`, a `POST` of the bytes to the returned `upload_url`,
//! `files.completeUploadExternal`) and Socket Mode (the websocket `apps.connections.open` hands out).
//!
//! Faithful where a client can tell: Web API calls are `POST /api/<method>` (or `GET` with a query) with
//! the token as `Authorization: Bearer …` (or a `token` argument); errors are HTTP 200 with
//! `{"ok": false, "error": "<code>"}` (`not_authed`, `invalid_auth`, `token_revoked`,
//! `not_allowed_token_type`, `channel_not_found`, `is_archived`, `no_text`, `msg_too_long`,
//! `invalid_arguments`, `file_not_found`…); a rate limit is HTTP 429 with `Retry-After: <seconds>` and
//! `{"ok": false, "error": "ratelimited"}`. `conversations.info`, `users.info` and
//! `files.getUploadURLExternal` take form or query arguments only, as Slack's do (a JSON body is not read).
//!
//! Socket Mode: the socket starts with a `hello`; every event arrives in an `events_api` envelope with an
//! `envelope_id` that the client must acknowledge by sending `{"envelope_id": "…"}`. An envelope left
//! unacknowledged for the ack timeout (3 s, as Slack) is delivered again in a new envelope with the same
//! `event_id`, `retry_attempt` raised and `retry_reason: "timeout"`, up to 3 retries. Events pushed while
//! the app has no socket wait for its next one. [`FakeSlack::disconnect`] sends a `disconnect` envelope
//! (`refresh_requested`) and closes the socket a moment later; the client is expected to call
//! `apps.connections.open` again. The server pings every socket every 10 s.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{
        FromRequest, Path, Query, Request, State,
        ws::{Message as WsMessage, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};

/// A Slack app installed in the fake workspace: its bot user and its two tokens.
#[derive(Debug, Clone)]
pub struct SlackApp {
    pub app_id: String,
    pub team_id: String,
    /// The bot user's id (`U…`): what `auth.test` says as `user_id` and what the bot's own messages carry.
    pub bot_user_id: String,
    /// `B…`.
    pub bot_id: String,
    /// The bot user's name (`auth.test`'s `user`).
    pub name: String,
    /// `xoxb-…`: the Web API.
    pub bot_token: String,
    /// `xapp-…`: `apps.connections.open` only.
    pub app_token: String,
}

/// What a bot posted with `chat.postMessage`.
#[derive(Debug, Clone)]
pub struct Posted {
    pub app_id: String,
    pub channel: String,
    pub text: Option<String>,
    /// `blocks` as sent (`Null` when absent).
    pub blocks: Value,
    pub thread_ts: Option<String>,
    /// The message's `ts`, its id in the channel.
    pub ts: String,
    pub at: Instant,
}

/// A file shared through the external upload flow.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub app_id: String,
    pub file_id: String,
    pub filename: String,
    pub title: Option<String>,
    pub bytes: Vec<u8>,
    /// The channel it was shared to (`None`: uploaded privately).
    pub channel: Option<String>,
    pub initial_comment: Option<String>,
}

/// A conversation of the fake workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// A channel (`C…`); `private` for a private one (Slack's `channel_type: "group"`).
    Channel { name: String, private: bool },
    /// A direct message with a user (`D…`, `channel_type: "im"`).
    Im { user: String },
    /// A group DM (`channel_type: "mpim"`).
    Mpim { name: String },
}

impl Conversation {
    fn channel_type(&self) -> &'static str {
        match self {
            Conversation::Channel { private: false, .. } => "channel",
            Conversation::Channel { private: true, .. } => "group",
            Conversation::Im { .. } => "im",
            Conversation::Mpim { .. } => "mpim",
        }
    }
}

/// What the fake sends down one socket.
enum Outgoing {
    Text(String),
    /// A `disconnect` envelope, then the close a moment later.
    Disconnect(String),
    /// Close the TCP connection at once, without a close frame (a dropped link).
    Drop,
    /// Stop reading, writing and pinging, keeping the connection open (a link that hangs).
    Stall,
}

struct Socket {
    app_id: String,
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Sent `disconnect` or stalled: takes no more envelopes.
    retiring: bool,
    opened: u64,
}

/// A file id `files.getUploadURLExternal` handed out: (app, filename, announced length, the bytes once
/// uploaded).
type UploadSlot = (String, String, usize, Option<Vec<u8>>);

/// An envelope sent and not yet acknowledged.
struct Pending {
    app_id: String,
    event_id: String,
    payload: Value,
    attempt: u32,
    sent_at: Instant,
}

#[derive(Default)]
struct Inner {
    apps: Vec<SlackApp>,
    revoked: HashSet<String>,
    users: HashMap<String, String>,
    conversations: HashMap<String, Conversation>,
    archived: HashSet<String>,
    posted: Vec<Posted>,
    files: Vec<UploadedFile>,
    upload_slots: HashMap<String, UploadSlot>,
    /// Single-use Socket Mode tickets → app id.
    tickets: HashMap<String, String>,
    sockets: HashMap<u64, Socket>,
    next_socket: u64,
    /// Per app: event payloads waiting for a socket.
    queued: HashMap<String, VecDeque<(String, Value, u32)>>,
    pending: HashMap<String, Pending>,
    /// Per event id: the app and the payload last delivered.
    history: HashMap<String, (String, Value)>,
    /// Per app: acknowledgements received.
    acks: HashMap<String, usize>,
    /// Per event id: how many envelopes carried it.
    deliveries: HashMap<String, usize>,
    /// Acks still to be ignored (as if lost on the way).
    ignore_acks: usize,
    /// Per app: `apps.connections.open` answered with a URL.
    connections_opened: HashMap<String, usize>,
    /// Per method: calls received, and calls answered 429.
    calls: HashMap<String, usize>,
    limited: HashMap<String, usize>,
    /// Per method: (calls still to refuse with 429, Retry-After seconds).
    rate_limits: HashMap<String, (usize, u64)>,
    ack_timeout: Option<Duration>,
    ping_interval: Option<Duration>,
    /// Seconds part of the next `ts` and its counter, to keep `ts` unique and rising.
    last_ts: (u64, u64),
    counter: u64,
}

/// Shared state of a running fake Slack.
#[derive(Clone, Default)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

const MAX_RETRIES: u32 = 3;

impl FakeSlack {
    /// Starts the server on `addr` (port 0 picks one) and returns it with its bound address. The Web API
    /// is at `http://<addr>/api/` (what `BOTFLEET_SLACK_API_URL` should be).
    pub async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route("/api/{method}", any(web_api))
            .route("/link/", get(socket_mode))
            .route("/upload/v1/{file_id}", post(upload))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        tokio::spawn(redeliver_loop(fake.clone()));
        Ok((fake, bound))
    }

    /// Installs an app with a bot user called `name`; its tokens pass botfleet's Slack credential rules.
    pub fn add_app(&self, name: &str) -> SlackApp {
        let mut inner = self.lock();
        let n = inner.apps.len() + 1;
        let app = SlackApp {
            app_id: format!("A0FAKE{n:04}"),
            team_id: "T0FAKETEAM".into(),
            bot_user_id: format!("U0BOT{n:04}"),
            bot_id: format!("B0BOT{n:04}"),
            name: name.to_string(),
            bot_token: format!(
                "xoxb-{}-{}-{}",
                1000 + n,
                2000 + n,
                &uuid::Uuid::new_v4().simple().to_string()[..24]
            ),
            app_token: format!(
                "xapp-1-A0FAKE{n:04}-{}-{}",
                3000 + n,
                uuid::Uuid::new_v4().simple()
            ),
        };
        inner
            .users
            .insert(app.bot_user_id.clone(), app.name.clone());
        inner.apps.push(app.clone());
        app
    }

    /// Revokes the app's tokens: every call with them answers `token_revoked`.
    pub fn revoke(&self, app: &SlackApp) {
        let mut inner = self.lock();
        inner.revoked.insert(app.bot_token.clone());
        inner.revoked.insert(app.app_token.clone());
    }

    /// Adds a person to the workspace and returns their id (`U…`).
    pub fn add_user(&self, name: &str) -> String {
        let mut inner = self.lock();
        let id = format!("U{}", inner.next_id());
        inner.users.insert(id.clone(), name.to_string());
        id
    }

    /// Creates a channel and returns its id (`C…`).
    pub fn add_channel(&self, name: &str, private: bool) -> String {
        let mut inner = self.lock();
        let id = format!("C{}", inner.next_id());
        inner.conversations.insert(
            id.clone(),
            Conversation::Channel {
                name: name.to_string(),
                private,
            },
        );
        id
    }

    /// Opens a direct message between the bot and `user`, returning its id (`D…`).
    pub fn open_im(&self, user: &str) -> String {
        let mut inner = self.lock();
        let id = format!("D{}", inner.next_id());
        inner.conversations.insert(
            id.clone(),
            Conversation::Im {
                user: user.to_string(),
            },
        );
        id
    }

    /// Archives a channel: posting there answers `is_archived`.
    pub fn archive(&self, channel: &str) {
        self.lock().archived.insert(channel.to_string());
    }

    /// `user` writes `text` in `channel` (which must exist): a `message` event for the app. Returns the
    /// event's `event_id`.
    pub fn push_message(&self, app: &SlackApp, channel: &str, user: &str, text: &str) -> String {
        let (channel_type, ts) = {
            let mut inner = self.lock();
            let channel_type = inner
                .conversations
                .get(channel)
                .map(Conversation::channel_type)
                .unwrap_or("channel");
            (channel_type, inner.next_ts())
        };
        self.push_event(
            app,
            json!({
                "type": "message",
                "channel": channel,
                "user": user,
                "text": text,
                "ts": ts,
                "event_ts": ts,
                "channel_type": channel_type,
                "client_msg_id": uuid::Uuid::new_v4().to_string(),
                "team": app.team_id,
                "blocks": [{"type": "rich_text", "block_id": "b1", "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ]}],
            }),
        )
    }

    /// Pushes any event (a `message` with a subtype, the bot's own message…) in an `event_callback`;
    /// returns its `event_id`.
    pub fn push_event(&self, app: &SlackApp, event: Value) -> String {
        let mut inner = self.lock();
        let event_id = format!("Ev{}", inner.next_id());
        let payload = json!({
            "token": "fakeverificationtoken",
            "team_id": app.team_id,
            "api_app_id": app.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": now_secs(),
            "authorizations": [{
                "enterprise_id": null, "team_id": app.team_id, "user_id": app.bot_user_id,
                "is_bot": true, "is_enterprise_install": false,
            }],
            "is_ext_shared_channel": false,
            "event_context": format!("4-{}", uuid::Uuid::new_v4().simple()),
        });
        inner.deliver(&app.app_id, event_id.clone(), payload, 0);
        drop(inner);
        self.changed.notify_waiters();
        event_id
    }

    /// Delivers `event_id` again in a new envelope (as Slack does when it did not see the ack), with
    /// `retry_attempt` one higher. Returns false when the fake never sent that event.
    pub fn redeliver(&self, event_id: &str) -> bool {
        let mut inner = self.lock();
        let Some((app_id, payload)) = inner.last_payload(event_id) else {
            return false;
        };
        let attempt = inner
            .deliveries
            .get(event_id)
            .copied()
            .unwrap_or(1)
            .try_into()
            .unwrap_or(u32::MAX);
        inner.deliver(&app_id, event_id.to_string(), payload, attempt);
        true
    }

    /// Sends a `disconnect` envelope with `reason` (Slack's is `refresh_requested`, or `warning` ahead
    /// of it) down every socket of the app; each closes a second later.
    pub fn disconnect(&self, app: &SlackApp, reason: &str) {
        for tx in self.sockets_of(app, true) {
            let _ = tx.send(Outgoing::Disconnect(reason.to_string()));
        }
    }

    /// Drops every socket of the app without a close frame.
    pub fn drop_sockets(&self, app: &SlackApp) {
        for tx in self.sockets_of(app, true) {
            let _ = tx.send(Outgoing::Drop);
        }
    }

    /// Hangs every socket of the app: the connection stays open but nothing more is read or written, not
    /// even pongs.
    pub fn stall_sockets(&self, app: &SlackApp) {
        for tx in self.sockets_of(app, true) {
            let _ = tx.send(Outgoing::Stall);
        }
    }

    /// The next `count` calls of `method` (e.g. `chat.postMessage`) answer 429 with `Retry-After`.
    pub fn rate_limit(&self, method: &str, count: usize, retry_after_secs: u64) {
        self.lock()
            .rate_limits
            .insert(method.to_string(), (count, retry_after_secs));
    }

    /// The next `count` acknowledgements are ignored, as if lost: their envelopes are delivered again.
    pub fn ignore_acks(&self, count: usize) {
        self.lock().ignore_acks = count;
    }

    /// How long an envelope may stay unacknowledged before it is delivered again (Slack: 3 s).
    pub fn set_ack_timeout(&self, timeout: Duration) {
        self.lock().ack_timeout = Some(timeout);
    }

    /// How often the server pings each socket (default 10 s); takes effect for new sockets.
    pub fn set_ping_interval(&self, interval: Duration) {
        self.lock().ping_interval = Some(interval);
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.lock().posted.clone()
    }

    pub fn files(&self) -> Vec<UploadedFile> {
        self.lock().files.clone()
    }

    /// Acknowledgements the app's sockets sent (ignored ones included).
    pub fn acks(&self, app: &SlackApp) -> usize {
        self.lock().acks.get(&app.app_id).copied().unwrap_or(0)
    }

    /// Envelopes of the app sent and not yet acknowledged.
    pub fn unacked(&self, app: &SlackApp) -> usize {
        self.lock()
            .pending
            .values()
            .filter(|p| p.app_id == app.app_id)
            .count()
    }

    /// Events of the app still waiting for a socket.
    pub fn queued(&self, app: &SlackApp) -> usize {
        self.lock().queued.get(&app.app_id).map_or(0, VecDeque::len)
    }

    /// How many envelopes carried `event_id`.
    pub fn deliveries(&self, event_id: &str) -> usize {
        self.lock().deliveries.get(event_id).copied().unwrap_or(0)
    }

    /// How many socket URLs `apps.connections.open` gave the app.
    pub fn connections_opened(&self, app: &SlackApp) -> usize {
        self.lock()
            .connections_opened
            .get(&app.app_id)
            .copied()
            .unwrap_or(0)
    }

    /// Sockets of the app that are open and take envelopes.
    pub fn live_sockets(&self, app: &SlackApp) -> usize {
        self.sockets_of(app, false).len()
    }

    /// Calls of a Web API method received (`auth.test`, `chat.postMessage`…), refused ones included.
    pub fn calls(&self, method: &str) -> usize {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Calls of a method answered 429.
    pub fn rate_limited(&self, method: &str) -> usize {
        self.lock().limited.get(method).copied().unwrap_or(0)
    }

    /// Waits until `check` holds (checked on every change and every 20 ms), at most `timeout`.
    pub async fn wait_for(&self, timeout: Duration, mut check: impl FnMut(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if check(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), changed).await;
        }
    }

    fn sockets_of(
        &self,
        app: &SlackApp,
        retiring_too: bool,
    ) -> Vec<mpsc::UnboundedSender<Outgoing>> {
        self.lock()
            .sockets
            .values()
            .filter(|s| s.app_id == app.app_id && (retiring_too || !s.retiring))
            .map(|s| s.tx.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("0F{:08}", self.counter)
    }

    /// A message timestamp: Unix seconds and a six-digit counter, unique and rising.
    fn next_ts(&mut self) -> String {
        let now = now_secs();
        if now > self.last_ts.0 {
            self.last_ts = (now, 0);
        }
        self.last_ts.1 += 1;
        format!("{}.{:06}", self.last_ts.0, self.last_ts.1)
    }

    fn app_by_token(&self, token: &str) -> Option<&SlackApp> {
        self.apps
            .iter()
            .find(|a| a.bot_token == token || a.app_token == token)
    }

    fn last_payload(&self, event_id: &str) -> Option<(String, Value)> {
        self.pending
            .values()
            .find(|p| p.event_id == event_id)
            .map(|p| (p.app_id.clone(), p.payload.clone()))
            .or_else(|| self.delivered_payloads_lookup(event_id))
    }

    /// Acknowledged envelopes are forgotten; their payloads are kept apart for [`FakeSlack::redeliver`].
    fn delivered_payloads_lookup(&self, event_id: &str) -> Option<(String, Value)> {
        self.history.get(event_id).cloned()
    }

    /// Sends the event in a new envelope down the app's newest live socket, or queues it.
    fn deliver(&mut self, app_id: &str, event_id: String, payload: Value, attempt: u32) {
        self.history
            .insert(event_id.clone(), (app_id.to_string(), payload.clone()));
        let socket = self
            .sockets
            .values()
            .filter(|s| s.app_id == app_id && !s.retiring)
            .max_by_key(|s| s.opened)
            .map(|s| s.tx.clone());
        let Some(tx) = socket else {
            self.queued
                .entry(app_id.to_string())
                .or_default()
                .push_back((event_id, payload, attempt));
            return;
        };
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let envelope = json!({
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": attempt,
            "retry_reason": if attempt == 0 { "" } else { "timeout" },
        });
        *self.deliveries.entry(event_id.clone()).or_default() += 1;
        let _ = tx.send(Outgoing::Text(envelope.to_string()));
        self.pending.insert(
            envelope_id,
            Pending {
                app_id: app_id.to_string(),
                event_id,
                payload,
                attempt,
                sent_at: Instant::now(),
            },
        );
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Slack's answer: HTTP 200 whether or not the call worked.
fn answer(body: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn error(code: &str) -> Response {
    answer(json!({"ok": false, "error": code}))
}

fn ok(mut body: Value) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("ok".into(), Value::Bool(true));
    }
    answer(body)
}

/// Methods whose arguments may come as a JSON body; the others read form or query arguments only.
const JSON_METHODS: &[&str] = &[
    "auth.test",
    "apps.connections.open",
    "chat.postMessage",
    "files.completeUploadExternal",
];

/// The call's arguments (query string, then a form or JSON body) and its token (the `Authorization`
/// header or a `token` argument).
async fn read_args(method: &str, request: Request) -> (Map<String, Value>, Option<String>) {
    let mut args = Map::new();
    if let Some(query) = request.uri().query()
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
    {
        for (k, v) in pairs {
            args.insert(k, Value::String(v));
        }
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = Bytes::from_request(request, &()).await.unwrap_or_default();
    if content_type.starts_with("application/json") {
        if JSON_METHODS.contains(&method)
            && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
        {
            args.extend(map);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        && let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
    {
        for (k, v) in pairs {
            args.insert(k, Value::String(v));
        }
    }
    let token = bearer.or_else(|| {
        args.get("token")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    (args, token)
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A JSON argument that a form carries as a string.
fn json_arg(args: &Map<String, Value>, name: &str) -> Value {
    match args.get(name) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

async fn web_api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (args, token) = read_args(&method, request).await;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let app = {
        let mut inner = fake.lock();
        *inner.calls.entry(method.clone()).or_default() += 1;
        let Some(token) = token else {
            return error("not_authed");
        };
        if inner.revoked.contains(&token) {
            return error("token_revoked");
        }
        let Some(app) = inner.app_by_token(&token).cloned() else {
            return error("invalid_auth");
        };
        let app_level = token == app.app_token;
        if app_level != (method == "apps.connections.open") {
            return error("not_allowed_token_type");
        }
        if let Some((left, retry_after)) = inner.rate_limits.get_mut(&method)
            && *left > 0
        {
            *left -= 1;
            let retry_after = *retry_after;
            *inner.limited.entry(method.clone()).or_default() += 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, retry_after.to_string()),
                    (
                        header::CONTENT_TYPE,
                        "application/json; charset=utf-8".to_string(),
                    ),
                ],
                json!({"ok": false, "error": "ratelimited"}).to_string(),
            )
                .into_response();
        }
        app
    };
    let response = match method.as_str() {
        "auth.test" => ok(json!({
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": app.name,
            "team_id": app.team_id,
            "user_id": app.bot_user_id,
            "bot_id": app.bot_id,
            "is_enterprise_install": false,
        })),
        "apps.connections.open" => {
            let ticket = uuid::Uuid::new_v4().to_string();
            let mut inner = fake.lock();
            inner.tickets.insert(ticket.clone(), app.app_id.clone());
            *inner
                .connections_opened
                .entry(app.app_id.clone())
                .or_default() += 1;
            ok(json!({"url": format!("ws://{host}/link/?ticket={ticket}&app_id={}", app.app_id)}))
        }
        "chat.postMessage" => post_message(&fake, &app, &args),
        "conversations.info" => conversations_info(&fake, &args),
        "users.info" => users_info(&fake, &args),
        "files.getUploadURLExternal" => {
            let (Some(filename), Some(length)) = (
                arg(&args, "filename"),
                arg(&args, "length").and_then(|l| l.parse::<usize>().ok()),
            ) else {
                return error("invalid_arguments");
            };
            let mut inner = fake.lock();
            let file_id = format!("F{}", inner.next_id());
            inner.upload_slots.insert(
                file_id.clone(),
                (app.app_id.clone(), filename.to_string(), length, None),
            );
            ok(json!({
                "upload_url": format!("http://{host}/upload/v1/{file_id}"),
                "file_id": file_id,
            }))
        }
        "files.completeUploadExternal" => complete_upload(&fake, &app, &args),
        _ => error("unknown_method"),
    };
    fake.changed.notify_waiters();
    response
}

fn post_message(fake: &FakeSlack, app: &SlackApp, args: &Map<String, Value>) -> Response {
    let Some(channel) = arg(args, "channel") else {
        return error("channel_not_found");
    };
    let text = arg(args, "text").map(str::to_string);
    let blocks = json_arg(args, "blocks");
    let mut inner = fake.lock();
    // A user id posts to the bot's DM with that person (opened if need be).
    let dm;
    let channel = if channel.starts_with(['U', 'W']) && inner.users.contains_key(channel) {
        let existing = inner.conversations.iter().find_map(|(id, c)| match c {
            Conversation::Im { user } if user == channel => Some(id.clone()),
            _ => None,
        });
        dm = existing.unwrap_or_else(|| {
            let id = format!("D{}", inner.next_id());
            inner.conversations.insert(
                id.clone(),
                Conversation::Im {
                    user: channel.to_string(),
                },
            );
            id
        });
        dm.as_str()
    } else {
        channel
    };
    let Some(conversation) = inner.conversations.get(channel).cloned() else {
        return error("channel_not_found");
    };
    if inner.archived.contains(channel) {
        return error("is_archived");
    }
    let has_blocks = blocks.as_array().is_some_and(|b| !b.is_empty());
    if text.is_none() && !has_blocks {
        return error("no_text");
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > 40_000) {
        return error("msg_too_long");
    }
    let ts = inner.next_ts();
    inner.posted.push(Posted {
        app_id: app.app_id.clone(),
        channel: channel.to_string(),
        text: text.clone(),
        blocks: blocks.clone(),
        thread_ts: arg(args, "thread_ts").map(str::to_string),
        ts: ts.clone(),
        at: Instant::now(),
    });
    let mut message = json!({
        "user": app.bot_user_id,
        "type": "message",
        "ts": ts,
        "bot_id": app.bot_id,
        "app_id": app.app_id,
        "text": text.clone().unwrap_or_default(),
        "team": app.team_id,
        "bot_profile": {
            "id": app.bot_id, "app_id": app.app_id, "name": app.name, "deleted": false,
            "team_id": app.team_id, "updated": now_secs(),
            "icons": {"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
        },
    });
    if has_blocks {
        message["blocks"] = blocks;
    }
    // Slack sends the bot's own message back as an event to an app subscribed to the channel's messages.
    let mut echo = message.clone();
    echo["channel"] = Value::String(channel.to_string());
    echo["event_ts"] = Value::String(ts.clone());
    echo["channel_type"] = Value::String(conversation.channel_type().to_string());
    if let Some(o) = echo.as_object_mut() {
        o.remove("bot_profile");
    }
    drop(inner);
    fake.push_event(app, echo);
    ok(json!({"channel": channel, "ts": ts, "message": message}))
}

fn conversation_json(id: &str, conversation: &Conversation, archived: bool) -> Value {
    let created = now_secs().saturating_sub(86_400);
    match conversation {
        Conversation::Channel { name, private } => json!({
            "id": id, "name": name, "is_channel": true, "is_group": false, "is_im": false,
            "is_mpim": false, "is_private": private, "created": created, "is_archived": archived,
            "is_general": false, "unlinked": 0, "name_normalized": name, "is_shared": false,
            "is_org_shared": false, "is_pending_ext_shared": false, "is_ext_shared": false,
            "creator": "U0ADMIN001", "is_member": true,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }),
        Conversation::Im { user } => json!({
            "id": id, "created": created, "is_im": true, "is_org_shared": false, "user": user,
            "is_user_deleted": false, "priority": 0,
        }),
        Conversation::Mpim { name } => json!({
            "id": id, "name": name, "is_channel": false, "is_group": false, "is_im": false,
            "is_mpim": true, "is_private": true, "created": created, "is_archived": archived,
            "name_normalized": name, "is_member": true,
        }),
    }
}

fn conversations_info(fake: &FakeSlack, args: &Map<String, Value>) -> Response {
    let inner = fake.lock();
    let found = arg(args, "channel").and_then(|id| {
        inner
            .conversations
            .get(id)
            .map(|c| conversation_json(id, c, inner.archived.contains(id)))
    });
    match found {
        Some(channel) => ok(json!({"channel": channel})),
        None => error("channel_not_found"),
    }
}

fn users_info(fake: &FakeSlack, args: &Map<String, Value>) -> Response {
    let inner = fake.lock();
    let Some((id, name)) =
        arg(args, "user").and_then(|id| inner.users.get(id).map(|name| (id, name)))
    else {
        return error("user_not_found");
    };
    let is_bot = inner.apps.iter().any(|a| a.bot_user_id == id);
    ok(json!({"user": {
        "id": id, "team_id": "T0FAKETEAM", "name": name.to_lowercase().replace(' ', "."),
        "deleted": false, "real_name": name, "tz": "Europe/Berlin", "is_bot": is_bot,
        "is_admin": false, "is_owner": false, "is_app_user": false, "updated": now_secs(),
        "profile": {"real_name": name, "display_name": name, "real_name_normalized": name,
                    "display_name_normalized": name, "team": "T0FAKETEAM"},
    }}))
}

fn complete_upload(fake: &FakeSlack, app: &SlackApp, args: &Map<String, Value>) -> Response {
    let Some(files) = json_arg(args, "files").as_array().cloned() else {
        return error("invalid_arguments");
    };
    let channel = arg(args, "channel_id").map(str::to_string);
    let initial_comment = arg(args, "initial_comment").map(str::to_string);
    let mut inner = fake.lock();
    if let Some(c) = &channel
        && !inner.conversations.contains_key(c)
    {
        return error("channel_not_found");
    }
    let mut done = Vec::new();
    for file in &files {
        let Some(id) = file.get("id").and_then(Value::as_str) else {
            return error("invalid_arguments");
        };
        let ready = inner
            .upload_slots
            .get(id)
            .filter(|(owner, _, _, bytes)| *owner == app.app_id && bytes.is_some());
        let Some((_, filename, _, Some(bytes))) = ready.cloned() else {
            return error("file_not_found");
        };
        let title = file
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string);
        done.push(UploadedFile {
            app_id: app.app_id.clone(),
            file_id: id.to_string(),
            filename,
            title,
            bytes,
            channel: channel.clone(),
            initial_comment: initial_comment.clone(),
        });
    }
    let answer_files: Vec<Value> = done
        .iter()
        .map(|f| {
            json!({
                "id": f.file_id, "created": now_secs(), "timestamp": now_secs(),
                "name": f.filename, "title": f.title.clone().unwrap_or_else(|| f.filename.clone()),
                "mimetype": "", "filetype": "", "user": app.bot_user_id, "size": f.bytes.len(),
                "mode": "hosted", "is_external": false, "is_public": channel.is_some(),
                "url_private": format!("https://files.slack.com/files-pri/{}/{}", app.team_id, f.file_id),
                "shares": {}, "channels": [], "groups": [], "ims": [],
            })
        })
        .collect();
    for f in &done {
        inner.upload_slots.remove(&f.file_id);
    }
    inner.files.extend(done);
    ok(json!({"files": answer_files}))
}

/// The `upload_url` of the external upload flow: the file's bytes, raw or as a multipart form.
async fn upload(
    State(fake): State<FakeSlack>,
    Path(file_id): Path<String>,
    request: Request,
) -> Response {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if is_multipart {
        let Ok(mut form) = axum::extract::Multipart::from_request(request, &()).await else {
            return (StatusCode::BAD_REQUEST, "bad form").into_response();
        };
        let mut bytes = None;
        while let Ok(Some(field)) = form.next_field().await {
            if field.file_name().is_some() || field.name() == Some("file") {
                bytes = Some(field.bytes().await.unwrap_or_default().to_vec());
            }
        }
        bytes.unwrap_or_default()
    } else {
        Bytes::from_request(request, &())
            .await
            .unwrap_or_default()
            .to_vec()
    };
    let mut inner = fake.lock();
    let Some(slot) = inner.upload_slots.get_mut(&file_id) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let len = bytes.len();
    slot.3 = Some(bytes);
    drop(inner);
    fake.changed.notify_waiters();
    (StatusCode::OK, format!("OK - {len}")).into_response()
}

async fn socket_mode(
    State(fake): State<FakeSlack>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let app_id = query
        .get("ticket")
        .and_then(|t| fake.lock().tickets.remove(t));
    let Some(app_id) = app_id else {
        return (StatusCode::UNAUTHORIZED, "invalid or used ticket").into_response();
    };
    ws.on_upgrade(move |socket| run_socket(fake, app_id, socket))
}

async fn run_socket(fake: FakeSlack, app_id: String, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, num_connections, ping_interval) = {
        let mut inner = fake.lock();
        inner.next_socket += 1;
        let id = inner.next_socket;
        inner.sockets.insert(
            id,
            Socket {
                app_id: app_id.clone(),
                tx: tx.clone(),
                retiring: false,
                opened: id,
            },
        );
        let live = inner
            .sockets
            .values()
            .filter(|s| s.app_id == app_id && !s.retiring)
            .count();
        (
            id,
            live,
            inner.ping_interval.unwrap_or(Duration::from_secs(10)),
        )
    };
    let (mut sink, mut stream) = socket.split();
    let hello = json!({
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": app_id},
    });
    if sink
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_ok()
    {
        // What waited for a socket goes down this one (events already in the channel keep their order).
        {
            let mut inner = fake.lock();
            let waiting: Vec<_> = inner
                .queued
                .remove(&app_id)
                .unwrap_or_default()
                .into_iter()
                .collect();
            for (event_id, payload, attempt) in waiting {
                inner.deliver(&app_id, event_id, payload, attempt);
            }
        }
        fake.changed.notify_waiters();
        serve_socket(
            &fake,
            &app_id,
            id,
            &mut sink,
            &mut stream,
            &mut rx,
            ping_interval,
        )
        .await;
    }
    fake.lock().sockets.remove(&id);
    fake.changed.notify_waiters();
}

async fn serve_socket(
    fake: &FakeSlack,
    app_id: &str,
    id: u64,
    sink: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
    stream: &mut futures::stream::SplitStream<WebSocket>,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
    ping_interval: Duration,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    let mut close_at: Option<tokio::time::Instant> = None;
    loop {
        let closing = async {
            match close_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => acknowledge(fake, app_id, text.as_str()),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if sink.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Outgoing::Disconnect(reason)) => {
                    let message = json!({"type": "disconnect", "reason": reason,
                                         "debug_info": {"host": "applink-fake-1"}});
                    if reason != "warning" {
                        retire(fake, id);
                        close_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    }
                    if sink.send(WsMessage::Text(message.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Some(Outgoing::Drop) | None => return,
                Some(Outgoing::Stall) => {
                    retire(fake, id);
                    // Nothing more is read or written until the test drops the socket.
                    while let Some(out) = rx.recv().await {
                        if matches!(out, Outgoing::Drop) {
                            return;
                        }
                    }
                    return;
                }
            },
            _ = ping.tick() => {
                if sink.send(WsMessage::Ping(Bytes::from_static(b"fake-slack"))).await.is_err() {
                    return;
                }
            }
            _ = closing => {
                let _ = sink.send(WsMessage::Close(None)).await;
                return;
            }
        }
    }
}

fn retire(fake: &FakeSlack, id: u64) {
    if let Some(s) = fake.lock().sockets.get_mut(&id) {
        s.retiring = true;
    }
    fake.changed.notify_waiters();
}

/// A client's `{"envelope_id": "…"}`.
fn acknowledge(fake: &FakeSlack, app_id: &str, text: &str) {
    let Some(envelope_id) = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        v.get("envelope_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    }) else {
        return;
    };
    let mut inner = fake.lock();
    *inner.acks.entry(app_id.to_string()).or_default() += 1;
    if inner.ignore_acks > 0 {
        inner.ignore_acks -= 1;
    } else {
        inner.pending.remove(&envelope_id);
    }
    drop(inner);
    fake.changed.notify_waiters();
}

/// Delivers again what stayed unacknowledged past the ack timeout, up to [`MAX_RETRIES`] times.
async fn redeliver_loop(fake: FakeSlack) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let mut inner = fake.lock();
        let timeout = inner.ack_timeout.unwrap_or(Duration::from_secs(3));
        let late: Vec<String> = inner
            .pending
            .iter()
            .filter(|(_, p)| p.sent_at.elapsed() >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        if late.is_empty() {
            continue;
        }
        for envelope_id in late {
            if let Some(p) = inner.pending.remove(&envelope_id)
                && p.attempt < MAX_RETRIES
            {
                inner.deliver(&p.app_id, p.event_id, p.payload, p.attempt + 1);
            }
        }
        drop(inner);
        fake.changed.notify_waiters();
    }
}
