//! A fake Discord for tests: the REST API (v10) and the gateway websocket, one server for both.
//!
//! REST (`/api/v10/…`, also `/api/v9/…`): `GET /users/@me`, `GET /gateway`, `GET /gateway/bot`,
//! `GET /channels/{id}`, `POST /channels/{id}/messages` (JSON, or `multipart/form-data` with `payload_json`
//! and `files[n]`). Every answer carries the `X-RateLimit-*` headers of its bucket; a request over a
//! bucket's limit (message create: 5 per 5 s per channel, as Discord) or over the global limit (50/s per
//! bot) gets Discord's 429: `X-RateLimit-Scope`, `Retry-After`, `X-RateLimit-Global` and the body
//! `{"message": "You are being rate limited.", "retry_after": …, "global": …}`. A wrong token gets
//! `401 {"message": "401: Unauthorized", "code": 0}`; Discord's JSON errors otherwise (10003 Unknown
//! Channel, 50001 Missing Access, 50006 empty message, 50007 cannot message the user, 50035 Invalid Form
//! Body, 40005 too large).
//!
//! Gateway (`ws://host/?v=10&encoding=json`; READY's `resume_gateway_url` is `ws://host/resume`): HELLO
//! with `heartbeat_interval`, IDENTIFY → READY (`session_id`, `resume_gateway_url`) then GUILD_CREATE per
//! guild, HEARTBEAT → HEARTBEAT_ACK, dispatches numbered per session (MESSAGE_CREATE filtered by intents,
//! content blanked without MESSAGE_CONTENT in guilds, as Discord), RESUME → the missed dispatches then
//! RESUMED, or INVALID_SESSION (`d: false`) for an unknown session; close codes 4001 unknown opcode,
//! 4002 decode error, 4003 not authenticated, 4004 authentication failed, 4005 already authenticated,
//! 4012 invalid API version, 4013 invalid intents, 4014 disallowed intents.
//!
//! Test hooks: register bots, guilds, channels and DMs; push a message into a channel; read what the bot
//! sent; drop a bot's socket (it should RESUME), force INVALID_SESSION or a close code, force 429s; and
//! counters (identifies, resumes, heartbeats, 429s, retries made before a 429's `retry_after` ran out).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::{
        FromRequest, Multipart, Path, Query, Request, State,
        ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Gateway intents the fake looks at.
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// Privileged: message content in guild channels.
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// Every intent Discord defines (bits 0–25, less the unused 17–19 and 22–23), as of API v10.
    pub const ALL: u64 = ((1 << 26) - 1) & !(0b111 << 17) & !(0b11 << 22);
    /// The privileged intents: GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
    pub const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | MESSAGE_CONTENT;
}

/// Per-route buckets' ids, as Discord shows them in `X-RateLimit-Bucket` (opaque hashes).
const BUCKET_MESSAGE_CREATE: &str = "80c17d2f203122d936070c88c8d10f33";
const BUCKET_OTHER: &str = "b2f4a1c3d5e6f708192a3b4c5d6e7f80";

/// The scope of a forced 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The bot's own per-route bucket (`X-RateLimit-Scope: user`).
    User,
    /// The bot's global limit (`X-RateLimit-Global: true`, `X-RateLimit-Scope: global`).
    Global,
    /// A limit shared across bots on the resource (`X-RateLimit-Scope: shared`).
    Shared,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Global => "global",
            Scope::Shared => "shared",
        }
    }
}

/// A file uploaded with a message.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A message a bot sent through the REST API.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub token: String,
    pub channel_id: u64,
    pub message_id: u64,
    pub content: String,
    pub embeds: Vec<Value>,
    pub files: Vec<Upload>,
    /// The JSON payload as sent (the body, or the multipart `payload_json`).
    pub payload: Value,
    /// Whether it came as multipart.
    pub multipart: bool,
    pub at: Instant,
}

/// One REST request the fake answered.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The token it carried (empty without one).
    pub token: String,
    pub method: String,
    /// The path below `/api/v10/`.
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

/// A guild made by [`FakeDiscord::add_guild`].
#[derive(Debug, Clone, Copy)]
pub struct FakeGuild {
    pub id: u64,
    /// Its `general` text channel.
    pub general: u64,
}

/// A DM made by [`FakeDiscord::open_dm`].
#[derive(Debug, Clone, Copy)]
pub struct FakeDm {
    pub channel_id: u64,
    pub user_id: u64,
}

#[derive(Debug, Clone)]
struct Bot {
    id: u64,
    username: String,
    application_id: u64,
    /// Whether the developer portal allows the privileged intents (else IDENTIFY with one → 4014).
    privileged_allowed: bool,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct User {
    id: u64,
    username: String,
    global_name: Option<String>,
    bot: bool,
}

#[derive(Debug, Clone)]
struct Guild {
    id: u64,
    name: String,
    owner_id: u64,
    /// Bot tokens that are members.
    bots: HashSet<String>,
    /// A human member who writes there.
    member: u64,
    channels: Vec<u64>,
}

#[derive(Debug, Clone)]
enum ChannelKind {
    /// Type 0 (`announcement` = type 5).
    Guild {
        guild_id: u64,
        name: String,
        announcement: bool,
    },
    /// Type 1, between `bot` and `recipient`.
    Dm {
        bot: String,
        recipient: u64,
        /// The recipient blocked the bot or closed DMs (sending gets 50007).
        closed: bool,
    },
}

#[derive(Debug, Clone)]
struct Channel {
    id: u64,
    kind: ChannelKind,
    last_message_id: Option<u64>,
}

enum Out {
    Text(String),
    Close(u16, &'static str),
    Drop,
}

struct Session {
    token: String,
    id: String,
    seq: u64,
    intents: u64,
    /// Dispatches sent in this session, for RESUME (the newest 1000).
    log: VecDeque<(u64, String)>,
    /// The socket the session is on now, if any.
    conn: Option<(u64, mpsc::UnboundedSender<Out>)>,
}

#[derive(Debug, Default, Clone)]
struct Stats {
    identifies: usize,
    resumes: usize,
    heartbeats: usize,
    connections: usize,
    resume_connections: usize,
    rate_limited: usize,
    early_retries: usize,
    closes: Vec<u16>,
}

/// A fixed window of a bucket.
#[derive(Debug, Clone, Copy)]
struct Window {
    remaining: u16,
    reset_at: Instant,
    /// A 429 told the client to wait until `reset_at`: a request before then is an early retry.
    limited: bool,
}

struct ForcedLimit {
    scope: Scope,
    retry_after: Duration,
}

struct Inner {
    bots: HashMap<String, Bot>,
    users: HashMap<u64, User>,
    guilds: HashMap<u64, Guild>,
    channels: HashMap<u64, Channel>,
    sessions: Vec<Session>,
    sent: Vec<SentMessage>,
    requests: Vec<RequestRecord>,
    stats: HashMap<String, Stats>,
    windows: HashMap<(String, &'static str, u64), Window>,
    global: HashMap<String, Window>,
    forced: HashMap<String, VecDeque<ForcedLimit>>,
    files: HashMap<String, (String, Vec<u8>)>,
    message_limit: (u16, Duration),
    global_limit: u16,
    heartbeat_interval: Duration,
    last_snowflake: u64,
    next_conn: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            bots: HashMap::new(),
            users: HashMap::new(),
            guilds: HashMap::new(),
            channels: HashMap::new(),
            sessions: Vec::new(),
            sent: Vec::new(),
            requests: Vec::new(),
            stats: HashMap::new(),
            windows: HashMap::new(),
            global: HashMap::new(),
            forced: HashMap::new(),
            files: HashMap::new(),
            message_limit: (5, Duration::from_secs(5)),
            global_limit: 50,
            heartbeat_interval: Duration::from_millis(41_250),
            last_snowflake: 0,
            next_conn: 0,
        }
    }
}

impl Inner {
    /// A new snowflake: milliseconds since Discord's epoch in the top bits, unique and increasing.
    fn snowflake(&mut self) -> u64 {
        let ms = now_ms().saturating_sub(DISCORD_EPOCH_MS);
        let id = (ms << 22).max(self.last_snowflake + 1);
        self.last_snowflake = id;
        id
    }

    fn stats(&mut self, token: &str) -> &mut Stats {
        self.stats.entry(token.to_string()).or_default()
    }

    fn user_json(&self, id: u64) -> Value {
        match self.users.get(&id) {
            Some(u) => json!({
                "id": u.id.to_string(),
                "username": u.username,
                "discriminator": "0",
                "global_name": u.global_name,
                "avatar": null,
                "bot": u.bot,
                "public_flags": 0,
            }),
            None => json!({"id": id.to_string(), "username": "deleted_user", "discriminator": "0",
                           "global_name": null, "avatar": null}),
        }
    }

    fn channel_json(&self, channel: &Channel) -> Value {
        let last = channel.last_message_id.map(|id| id.to_string());
        match &channel.kind {
            ChannelKind::Guild {
                guild_id,
                name,
                announcement,
            } => {
                let position = self
                    .guilds
                    .get(guild_id)
                    .and_then(|g| g.channels.iter().position(|c| *c == channel.id))
                    .unwrap_or(0);
                json!({
                    "id": channel.id.to_string(),
                    "type": if *announcement { 5 } else { 0 },
                    "guild_id": guild_id.to_string(),
                    "name": name,
                    "position": position,
                    "permission_overwrites": [],
                    "topic": null,
                    "nsfw": false,
                    "last_message_id": last,
                    "rate_limit_per_user": 0,
                    "parent_id": null,
                    "flags": 0,
                })
            }
            ChannelKind::Dm { recipient, .. } => json!({
                "id": channel.id.to_string(),
                "type": 1,
                "last_message_id": last,
                "recipients": [self.user_json(*recipient)],
                "flags": 0,
            }),
        }
    }

    fn guild_create_json(&self, guild: &Guild) -> Value {
        let channels: Vec<Value> = guild
            .channels
            .iter()
            .filter_map(|id| self.channels.get(id))
            .map(|c| {
                let mut v = self.channel_json(c);
                // GUILD_CREATE's channels carry no guild_id.
                if let Some(o) = v.as_object_mut() {
                    o.remove("guild_id");
                }
                v
            })
            .collect();
        let everyone = json!({
            "id": guild.id.to_string(), "name": "@everyone", "color": 0, "colors": {"primary_color": 0},
            "hoist": false, "icon": null, "unicode_emoji": null, "position": 0,
            "permissions": "1071698660929", "managed": false, "mentionable": false, "flags": 0,
        });
        json!({
            "id": guild.id.to_string(),
            "name": guild.name,
            "icon": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": guild.owner_id.to_string(),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone],
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": false,
            "stickers": [],
            "joined_at": timestamp(now_ms()),
            "large": false,
            "unavailable": false,
            "member_count": 2 + guild.bots.len(),
            "members": [],
            "voice_states": [],
            "channels": channels,
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        })
    }

    fn message_json(&self, channel: &Channel, id: u64, author: u64, content: &str) -> Value {
        let mut message = json!({
            "id": id.to_string(),
            "type": 0,
            "channel_id": channel.id.to_string(),
            "author": self.user_json(author),
            "content": content,
            "timestamp": timestamp(snowflake_ms(id)),
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "flags": 0,
            "components": [],
        });
        if let ChannelKind::Guild { guild_id, .. } = &channel.kind {
            message["guild_id"] = json!(guild_id.to_string());
        }
        message
    }

    /// The bots that see what happens in `channel`.
    fn audience(&self, channel: &Channel) -> Vec<String> {
        match &channel.kind {
            ChannelKind::Guild { guild_id, .. } => self
                .guilds
                .get(guild_id)
                .map(|g| g.bots.iter().cloned().collect())
                .unwrap_or_default(),
            ChannelKind::Dm { bot, .. } => vec![bot.clone()],
        }
    }

    fn can_see(&self, token: &str, channel: &Channel) -> bool {
        self.audience(channel).iter().any(|t| t == token)
    }

    /// Sends a dispatch in one session: numbered, kept for RESUME, written to the socket if one is up.
    fn dispatch(session: &mut Session, event: &str, data: &Value) {
        session.seq += 1;
        let text = json!({"op": 0, "s": session.seq, "t": event, "d": data}).to_string();
        session.log.push_back((session.seq, text.clone()));
        if session.log.len() > 1000 {
            session.log.pop_front();
        }
        if let Some((_, tx)) = &session.conn {
            let _ = tx.send(Out::Text(text));
        }
    }

    /// MESSAGE_CREATE to every session that sees the channel, filtered by intents as Discord does.
    fn dispatch_message(&mut self, channel_id: u64, message: &Value) {
        let Some(channel) = self.channels.get(&channel_id).cloned() else {
            return;
        };
        let audience = self.audience(&channel);
        let is_dm = matches!(channel.kind, ChannelKind::Dm { .. });
        let author = message["author"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for session in self
            .sessions
            .iter_mut()
            .filter(|s| audience.contains(&s.token))
        {
            let needed = if is_dm {
                intents::DIRECT_MESSAGES
            } else {
                intents::GUILD_MESSAGES
            };
            if session.intents & needed == 0 {
                continue;
            }
            let own = self
                .bots
                .get(&session.token)
                .is_some_and(|b| b.id.to_string() == author);
            let mut data = message.clone();
            if !is_dm && !own && session.intents & intents::MESSAGE_CONTENT == 0 {
                data["content"] = json!("");
                data["embeds"] = json!([]);
                data["attachments"] = json!([]);
                data["components"] = json!([]);
            }
            if !is_dm {
                data["member"] = json!({"roles": [], "joined_at": timestamp(now_ms()), "deaf": false,
                                        "mute": false, "flags": 0});
            }
            Self::dispatch(session, "MESSAGE_CREATE", &data);
        }
    }
}

/// Shared state of a running fake Discord.
#[derive(Clone, Default)]
pub struct FakeDiscord {
    inner: Arc<Mutex<Inner>>,
    sent_notify: Arc<Notify>,
}

impl FakeDiscord {
    /// Starts the server on `addr` (port 0 picks one) and returns it with its bound address. The REST
    /// base URL is `http://<addr>/api`, the gateway's `ws://<addr>`.
    pub async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route("/", get(gateway))
            .route("/resume", get(gateway_resume))
            .route("/resume/", get(gateway_resume))
            .route("/api/{version}/{*path}", any(rest))
            .route("/test-files/{name}", get(test_file))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, bound))
    }

    /// Registers a bot (whose portal allows the privileged intents) and returns its token, shaped like
    /// Discord's: the bot's id in base64, a timestamp part and an HMAC part.
    pub fn add_bot(&self, username: &str) -> String {
        let mut inner = self.lock();
        let id = inner.snowflake();
        let application_id = id;
        let random = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let token = format!(
            "{}.{}.{}",
            base64url(id.to_string().as_bytes()),
            &random[..6],
            &random[6..44]
        );
        inner.bots.insert(
            token.clone(),
            Bot {
                id,
                username: username.to_string(),
                application_id,
                privileged_allowed: true,
                revoked: false,
            },
        );
        inner.users.insert(
            id,
            User {
                id,
                username: username.to_string(),
                global_name: None,
                bot: true,
            },
        );
        token
    }

    /// The bot's user id.
    pub fn bot_id(&self, token: &str) -> Option<u64> {
        self.lock().bots.get(token).map(|b| b.id)
    }

    /// Whether the developer portal lets the bot ask for privileged intents (MESSAGE_CONTENT…); when not,
    /// an IDENTIFY asking for one is closed with 4014.
    pub fn allow_privileged_intents(&self, token: &str, allowed: bool) {
        if let Some(bot) = self.lock().bots.get_mut(token) {
            bot.privileged_allowed = allowed;
        }
    }

    /// Resets the token: REST answers 401 and the bot's sockets are closed with 4004.
    pub fn revoke(&self, token: &str) {
        let mut inner = self.lock();
        if let Some(bot) = inner.bots.get_mut(token) {
            bot.revoked = true;
        }
        for session in inner.sessions.iter_mut().filter(|s| s.token == token) {
            if let Some((_, tx)) = session.conn.take() {
                let _ = tx.send(Out::Close(4004, "Authentication failed."));
            }
        }
        inner.sessions.retain(|s| s.token != token);
    }

    /// A guild with the bot in it and a `general` text channel (GUILD_CREATE reaches the bot's live
    /// sessions).
    pub fn add_guild(&self, token: &str, name: &str) -> FakeGuild {
        let mut inner = self.lock();
        let id = inner.snowflake();
        let owner = inner.snowflake();
        let member = inner.snowflake();
        let general = inner.snowflake();
        inner.users.insert(
            owner,
            User {
                id: owner,
                username: "owner".into(),
                global_name: Some("Owner".into()),
                bot: false,
            },
        );
        inner.users.insert(
            member,
            User {
                id: member,
                username: "member".into(),
                global_name: Some("Member".into()),
                bot: false,
            },
        );
        inner.channels.insert(
            general,
            Channel {
                id: general,
                kind: ChannelKind::Guild {
                    guild_id: id,
                    name: "general".into(),
                    announcement: false,
                },
                last_message_id: None,
            },
        );
        let guild = Guild {
            id,
            name: name.to_string(),
            owner_id: owner,
            bots: HashSet::from([token.to_string()]),
            member,
            channels: vec![general],
        };
        let data = inner.guild_create_json(&guild);
        inner.guilds.insert(id, guild);
        for session in inner.sessions.iter_mut().filter(|s| s.token == token) {
            if session.intents & intents::GUILDS != 0 {
                Inner::dispatch(session, "GUILD_CREATE", &data);
            }
        }
        FakeGuild { id, general }
    }

    /// Another text channel (`announcement`: type 5) in a guild; CHANNEL_CREATE reaches its bots.
    pub fn add_channel(&self, guild_id: u64, name: &str, announcement: bool) -> u64 {
        let mut inner = self.lock();
        let id = inner.snowflake();
        let channel = Channel {
            id,
            kind: ChannelKind::Guild {
                guild_id,
                name: name.to_string(),
                announcement,
            },
            last_message_id: None,
        };
        let data = inner.channel_json(&channel);
        let audience = inner.audience(&channel);
        inner.channels.insert(id, channel);
        if let Some(g) = inner.guilds.get_mut(&guild_id) {
            g.channels.push(id);
        }
        for session in inner
            .sessions
            .iter_mut()
            .filter(|s| audience.contains(&s.token) && s.intents & intents::GUILDS != 0)
        {
            Inner::dispatch(session, "CHANNEL_CREATE", &data);
        }
        id
    }

    /// A person and their DM channel with the bot.
    pub fn open_dm(&self, token: &str, name: &str) -> FakeDm {
        let mut inner = self.lock();
        let user_id = inner.snowflake();
        let channel_id = inner.snowflake();
        inner.users.insert(
            user_id,
            User {
                id: user_id,
                username: name.to_lowercase().replace(' ', "_"),
                global_name: Some(name.to_string()),
                bot: false,
            },
        );
        inner.channels.insert(
            channel_id,
            Channel {
                id: channel_id,
                kind: ChannelKind::Dm {
                    bot: token.to_string(),
                    recipient: user_id,
                    closed: false,
                },
                last_message_id: None,
            },
        );
        FakeDm {
            channel_id,
            user_id,
        }
    }

    /// The DM's person blocks the bot (or closes DMs): sending gets 403 50007.
    pub fn close_dm(&self, channel_id: u64) {
        if let Some(Channel {
            kind: ChannelKind::Dm { closed, .. },
            ..
        }) = self.lock().channels.get_mut(&channel_id)
        {
            *closed = true;
        }
    }

    /// A person writes `text` in a channel (the DM's person, or the guild's member): MESSAGE_CREATE
    /// reaches the sessions that see it. Returns the message id (0 for an unknown channel).
    pub fn push_message(&self, channel_id: u64, text: &str) -> u64 {
        let author = {
            let inner = self.lock();
            match inner.channels.get(&channel_id).map(|c| &c.kind) {
                Some(ChannelKind::Dm { recipient, .. }) => *recipient,
                Some(ChannelKind::Guild { guild_id, .. }) => {
                    inner.guilds.get(guild_id).map(|g| g.member).unwrap_or(0)
                }
                None => return 0,
            }
        };
        self.push_message_from(channel_id, author, text)
    }

    /// `author` (a user id the fake knows: a person, or a bot's id) writes `text` in a channel.
    pub fn push_message_from(&self, channel_id: u64, author: u64, text: &str) -> u64 {
        let mut inner = self.lock();
        let id = inner.snowflake();
        let Some(channel) = inner.channels.get_mut(&channel_id) else {
            return 0;
        };
        channel.last_message_id = Some(id);
        let channel = channel.clone();
        let message = inner.message_json(&channel, id, author, text);
        inner.dispatch_message(channel_id, &message);
        id
    }

    /// Serves `bytes` at `http://<addr>/test-files/<name>` (a URL to send media from).
    pub fn host_file(&self, name: &str, content_type: &str, bytes: Vec<u8>) {
        self.lock()
            .files
            .insert(name.to_string(), (content_type.to_string(), bytes));
    }

    /// Everything bots sent, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Waits until at least `count` messages were sent (or `timeout` passes) and returns them all.
    pub async fn wait_sent(&self, count: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.sent_notify.notified();
            let sent = self.sent();
            if sent.len() >= count || tokio::time::Instant::now() >= deadline {
                return sent;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Every REST request of `token`, in order.
    pub fn requests(&self, token: &str) -> Vec<RequestRecord> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.token == token)
            .cloned()
            .collect()
    }

    /// Drops the websocket of each live session of the bot without a close frame (a network failure).
    /// The sessions stay resumable; what is pushed meanwhile is replayed on RESUME. Returns how many
    /// sockets were dropped.
    pub fn drop_socket(&self, token: &str) -> usize {
        let mut inner = self.lock();
        let mut dropped = 0;
        for session in inner.sessions.iter_mut().filter(|s| s.token == token) {
            if let Some((_, tx)) = session.conn.take() {
                let _ = tx.send(Out::Drop);
                dropped += 1;
            }
        }
        dropped
    }

    /// Sends INVALID_SESSION (`op 9`) on each live session of the bot. With `resumable: false` the
    /// session is forgotten: a RESUME of it gets INVALID_SESSION again, and the bot must IDENTIFY anew.
    pub fn invalidate_session(&self, token: &str, resumable: bool) -> usize {
        let mut inner = self.lock();
        let mut sent = 0;
        for session in inner.sessions.iter_mut().filter(|s| s.token == token) {
            if let Some((_, tx)) = &session.conn {
                let _ = tx.send(Out::Text(json!({"op": 9, "d": resumable}).to_string()));
                sent += 1;
            }
        }
        if !resumable {
            inner.sessions.retain(|s| s.token != token);
        }
        sent
    }

    /// Closes each live socket of the bot with `code` (4000 unknown error and 4009 session timed out
    /// let it reconnect; 4004 and 4010–4014 are fatal). Fatal codes and 4009 end the session.
    pub fn close_socket(&self, token: &str, code: u16) -> usize {
        let mut inner = self.lock();
        let mut closed = 0;
        for session in inner.sessions.iter_mut().filter(|s| s.token == token) {
            if let Some((_, tx)) = session.conn.take() {
                let _ = tx.send(Out::Close(code, close_reason(code)));
                closed += 1;
            }
        }
        if code == 4009 || (4010..=4014).contains(&code) || code == 4004 {
            inner.sessions.retain(|s| s.token != token);
        }
        closed
    }

    /// The next `count` message creates of the bot get a 429 of `scope` with `retry_after`. The limit
    /// holds for `retry_after`: a retry before then gets another 429 and counts in
    /// [`early_retries`](Self::early_retries).
    pub fn rate_limit(&self, token: &str, scope: Scope, retry_after: Duration, count: usize) {
        let mut inner = self.lock();
        let queue = inner.forced.entry(token.to_string()).or_default();
        for _ in 0..count {
            queue.push_back(ForcedLimit { scope, retry_after });
        }
    }

    /// The message-create bucket's limit per channel and its window (Discord: 5 per 5 s).
    pub fn set_message_limit(&self, limit: u16, window: Duration) {
        self.lock().message_limit = (limit.max(1), window);
    }

    /// The heartbeat interval HELLO announces to new connections (Discord: 41.25 s).
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.lock().heartbeat_interval = interval;
    }

    pub fn identifies(&self, token: &str) -> usize {
        self.stat(token, |s| s.identifies)
    }

    pub fn resumes(&self, token: &str) -> usize {
        self.stat(token, |s| s.resumes)
    }

    pub fn heartbeats(&self, token: &str) -> usize {
        self.stat(token, |s| s.heartbeats)
    }

    /// Websocket connections that identified or resumed as the bot.
    pub fn connections(&self, token: &str) -> usize {
        self.stat(token, |s| s.connections)
    }

    /// Of those, the ones made to READY's `resume_gateway_url`.
    pub fn resume_connections(&self, token: &str) -> usize {
        self.stat(token, |s| s.resume_connections)
    }

    /// 429s answered to the bot.
    pub fn rate_limited(&self, token: &str) -> usize {
        self.stat(token, |s| s.rate_limited)
    }

    /// Requests the bot made while a 429 it had been given still held: a client that honours
    /// `retry_after` and the buckets keeps this at 0.
    pub fn early_retries(&self, token: &str) -> usize {
        self.stat(token, |s| s.early_retries)
    }

    /// Close codes the fake sent the bot.
    pub fn closes(&self, token: &str) -> Vec<u16> {
        self.lock()
            .stats
            .get(token)
            .map(|s| s.closes.clone())
            .unwrap_or_default()
    }

    /// Sessions of the bot with a socket up.
    pub fn live_sessions(&self, token: &str) -> usize {
        self.lock()
            .sessions
            .iter()
            .filter(|s| s.token == token && s.conn.is_some())
            .count()
    }

    /// Waits until `check` holds (polling every 20 ms) or `timeout` passes; returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, check: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stat(&self, token: &str, f: impl Fn(&Stats) -> usize) -> usize {
        self.lock().stats.get(token).map(f).unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn close_reason(code: u16) -> &'static str {
    match code {
        4000 => "Unknown error.",
        4001 => "Unknown opcode.",
        4002 => "Error while decoding payload.",
        4003 => "Not authenticated.",
        4004 => "Authentication failed.",
        4005 => "Already authenticated.",
        4007 => "Invalid seq.",
        4008 => "Rate limited.",
        4009 => "Session timed out.",
        4010 => "Invalid shard.",
        4011 => "Sharding required.",
        4012 => "Invalid API version.",
        4013 => "Invalid intent(s).",
        4014 => "Disallowed intent(s).",
        _ => "",
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Discord's ISO 8601 timestamp: `2024-05-01T12:00:00.123000+00:00`.
fn timestamp(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------------------------------

async fn gateway(
    ws: WebSocketUpgrade,
    State(fake): State<FakeDiscord>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let host = host(&headers);
    ws.on_upgrade(move |socket| run_socket(fake, socket, host, query, false))
}

async fn gateway_resume(
    ws: WebSocketUpgrade,
    State(fake): State<FakeDiscord>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let host = host(&headers);
    ws.on_upgrade(move |socket| run_socket(fake, socket, host, query, true))
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

async fn run_socket(
    fake: FakeDiscord,
    socket: WebSocket,
    host: String,
    query: HashMap<String, String>,
    via_resume: bool,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let conn_id = {
        let mut inner = fake.lock();
        inner.next_conn += 1;
        inner.next_conn
    };
    let close = |code: u16| {
        WsMessage::Close(Some(CloseFrame {
            code,
            reason: close_reason(code).into(),
        }))
    };
    let version_ok = matches!(query.get("v").map(String::as_str), Some("9" | "10"));
    if !version_ok {
        let _ = sink.send(close(4012)).await;
        return;
    }
    let interval = fake.lock().heartbeat_interval.as_millis() as u64;
    let hello = json!({"op": 10, "d": {"heartbeat_interval": interval}, "s": null, "t": null});
    if sink
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    // The session this socket serves, once identified or resumed.
    let mut session_id: Option<String> = None;
    let mut token: Option<String> = None;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(t))) => t.to_string(),
                    Some(Ok(WsMessage::Binary(_))) => {
                        let _ = sink.send(close(4002)).await;
                        break;
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                };
                let reply = handle_payload(&fake, &text, conn_id, &tx, &host, via_resume,
                                           &mut session_id, &mut token);
                if let Some(code) = reply {
                    if let Some(t) = &token {
                        fake.lock().stats(t).closes.push(code);
                    }
                    let _ = sink.send(close(code)).await;
                    break;
                }
            }
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if sink.send(WsMessage::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    if let Some(t) = &token {
                        fake.lock().stats(t).closes.push(code);
                    }
                    let _ = sink.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                // Gone without a close frame, as a broken network leaves it.
                Some(Out::Drop) | None => return,
            }
        }
    }
    // The socket is gone: its session waits for a RESUME.
    let mut inner = fake.lock();
    if let Some(id) = session_id
        && let Some(session) = inner.sessions.iter_mut().find(|s| s.id == id)
        && session.conn.as_ref().is_some_and(|(c, _)| *c == conn_id)
    {
        session.conn = None;
    }
}

/// Handles one payload from the client; `Some(code)` closes the socket with that code.
#[allow(clippy::too_many_arguments)]
fn handle_payload(
    fake: &FakeDiscord,
    text: &str,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Out>,
    host: &str,
    via_resume: bool,
    session_id: &mut Option<String>,
    token: &mut Option<String>,
) -> Option<u16> {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        return Some(4002);
    };
    let Some(op) = payload.get("op").and_then(Value::as_u64) else {
        return Some(4002);
    };
    let d = payload.get("d").cloned().unwrap_or(Value::Null);
    let mut inner = fake.lock();
    match op {
        // HEARTBEAT
        1 => {
            if let Some(t) = token.as_deref() {
                inner.stats(t).heartbeats += 1;
            }
            let _ = tx.send(Out::Text(json!({"op": 11}).to_string()));
            None
        }
        // IDENTIFY
        2 => {
            if session_id.is_some() {
                return Some(4005);
            }
            let given = d.get("token").and_then(Value::as_str).unwrap_or_default();
            let given = given.strip_prefix("Bot ").unwrap_or(given).to_string();
            let Some(bot) = inner.bots.get(&given).filter(|b| !b.revoked).cloned() else {
                return Some(4004);
            };
            *token = Some(given.clone());
            let Some(requested) = d.get("intents").and_then(Value::as_u64) else {
                return Some(4013);
            };
            if requested & !intents::ALL != 0 {
                return Some(4013);
            }
            if requested & intents::PRIVILEGED != 0 && !bot.privileged_allowed {
                return Some(4014);
            }
            if let Some(shard) = d.get("shard").and_then(Value::as_array) {
                let (id, count) = (
                    shard.first().and_then(Value::as_u64).unwrap_or(0),
                    shard.get(1).and_then(Value::as_u64).unwrap_or(1),
                );
                if count == 0 || id >= count {
                    return Some(4010);
                }
            }
            let id = uuid::Uuid::new_v4().simple().to_string();
            let stats = inner.stats(&given);
            stats.identifies += 1;
            stats.connections += 1;
            if via_resume {
                stats.resume_connections += 1;
            }
            let guilds: Vec<Guild> = inner
                .guilds
                .values()
                .filter(|g| g.bots.contains(&given))
                .cloned()
                .collect();
            let ready = json!({
                "v": 10,
                "user": {
                    "id": bot.id.to_string(), "username": bot.username, "discriminator": "0",
                    "global_name": null, "avatar": null, "bot": true, "verified": true,
                    "mfa_enabled": false, "flags": 0, "email": null,
                },
                "guilds": guilds.iter().map(|g| json!({"id": g.id.to_string(), "unavailable": true}))
                    .collect::<Vec<_>>(),
                "session_id": id,
                "resume_gateway_url": format!("ws://{host}/resume"),
                "shard": [0, 1],
                "application": {"id": bot.application_id.to_string(), "flags": 0},
                "private_channels": [],
                "presences": [],
                "relationships": [],
                "guild_join_requests": [],
                "user_settings": {},
                "auth_session_id_hash": "",
            });
            let guild_creates: Vec<Value> =
                guilds.iter().map(|g| inner.guild_create_json(g)).collect();
            let mut session = Session {
                token: given,
                id: id.clone(),
                seq: 0,
                intents: requested,
                log: VecDeque::new(),
                conn: Some((conn_id, tx.clone())),
            };
            Inner::dispatch(&mut session, "READY", &ready);
            if requested & intents::GUILDS != 0 {
                for g in &guild_creates {
                    Inner::dispatch(&mut session, "GUILD_CREATE", g);
                }
            }
            inner.sessions.push(session);
            *session_id = Some(id);
            None
        }
        // RESUME
        6 => {
            if session_id.is_some() {
                return Some(4005);
            }
            let given = d.get("token").and_then(Value::as_str).unwrap_or_default();
            let given = given.strip_prefix("Bot ").unwrap_or(given).to_string();
            if inner.bots.get(&given).is_none_or(|b| b.revoked) {
                return Some(4004);
            }
            *token = Some(given.clone());
            let wanted = d
                .get("session_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
            let found = inner
                .sessions
                .iter_mut()
                .find(|s| s.id == wanted && s.token == given);
            let Some(session) = found else {
                let _ = tx.send(Out::Text(json!({"op": 9, "d": false}).to_string()));
                return None;
            };
            // A sequence the session never reached, or one older than what it kept: not resumable.
            let oldest = session.log.front().map(|(s, _)| *s).unwrap_or(1);
            if seq > session.seq || seq + 1 < oldest {
                let _ = tx.send(Out::Text(json!({"op": 9, "d": false}).to_string()));
                return None;
            }
            // Another socket on this session is replaced.
            if let Some((_, old)) = session.conn.take() {
                let _ = old.send(Out::Drop);
            }
            session.conn = Some((conn_id, tx.clone()));
            for (_, text) in session.log.iter().filter(|(s, _)| *s > seq) {
                let _ = tx.send(Out::Text(text.clone()));
            }
            Inner::dispatch(session, "RESUMED", &json!({}));
            *session_id = Some(session.id.clone());
            let stats = inner.stats(&given);
            stats.resumes += 1;
            stats.connections += 1;
            if via_resume {
                stats.resume_connections += 1;
            }
            None
        }
        // PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_GUILD_MEMBERS, REQUEST_SOUNDBOARD_SOUNDS.
        3 | 4 | 8 | 31 => {
            if session_id.is_none() {
                Some(4003)
            } else {
                None
            }
        }
        _ => Some(4001),
    }
}

// ---------------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------------

fn api_error(status: StatusCode, code: u64, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

fn with_header(response: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}

/// Adds a bucket's headers to an answer.
fn bucket_headers(response: &mut Response, bucket: &str, limit: u16, window: &Window) {
    let reset_after = window
        .reset_at
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let reset = now_ms() as f64 / 1000.0 + reset_after;
    with_header(response, "x-ratelimit-limit", limit.to_string());
    with_header(
        response,
        "x-ratelimit-remaining",
        window.remaining.to_string(),
    );
    with_header(response, "x-ratelimit-reset", format!("{reset:.3}"));
    with_header(
        response,
        "x-ratelimit-reset-after",
        format!("{reset_after:.3}"),
    );
    with_header(response, "x-ratelimit-bucket", bucket.to_string());
}

/// Discord's 429.
fn too_many(scope: Scope, retry_after: Duration, bucket: Option<(&str, u16, &Window)>) -> Response {
    let secs = retry_after.as_secs_f64();
    let global = scope == Scope::Global;
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "message": "You are being rate limited.",
            "retry_after": (secs * 1000.0).round() / 1000.0,
            "global": global,
        })),
    )
        .into_response();
    with_header(
        &mut response,
        "retry-after",
        (secs.ceil() as u64).to_string(),
    );
    with_header(
        &mut response,
        "x-ratelimit-scope",
        scope.as_str().to_string(),
    );
    if global {
        with_header(&mut response, "x-ratelimit-global", "true".into());
    } else if let Some((name, limit, window)) = bucket {
        bucket_headers(&mut response, name, limit, window);
    }
    response
}

async fn test_file(State(fake): State<FakeDiscord>, Path(name): Path<String>) -> Response {
    match fake.lock().files.get(&name).cloned() {
        Some((content_type, bytes)) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn rest(
    State(fake): State<FakeDiscord>,
    Path((version, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bot "))
        .unwrap_or_default()
        .to_string();
    let host = host(request.headers());
    let response = route(&fake, &version, &path, &method, &token, &host, request).await;
    let mut inner = fake.lock();
    inner.requests.push(RequestRecord {
        token,
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
        at: Instant::now(),
    });
    response
}

#[allow(clippy::too_many_arguments)]
async fn route(
    fake: &FakeDiscord,
    version: &str,
    path: &str,
    method: &Method,
    token: &str,
    host: &str,
    request: Request,
) -> Response {
    if version != "v10" && version != "v9" {
        return api_error(StatusCode::NOT_FOUND, 0, "404: Not Found");
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // `GET /gateway` needs no token.
    if method == Method::GET && segments == ["gateway"] {
        return axum::Json(json!({"url": format!("ws://{host}")})).into_response();
    }
    let bot = {
        let inner = fake.lock();
        inner.bots.get(token).filter(|b| !b.revoked).cloned()
    };
    let Some(bot) = bot else {
        return api_error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    };
    let (bucket, major, is_message_create) = match (method, segments.as_slice()) {
        (&Method::POST, ["channels", id, "messages"]) => {
            (BUCKET_MESSAGE_CREATE, id.parse::<u64>().unwrap_or(0), true)
        }
        (_, ["channels", id, ..]) => (BUCKET_OTHER, id.parse::<u64>().unwrap_or(0), false),
        _ => (BUCKET_OTHER, 0, false),
    };
    // Limits: the global one, a forced 429, then the route's bucket.
    let window = {
        let mut inner = fake.lock();
        let now = Instant::now();
        let global_limit = inner.global_limit;
        let global = inner.global.entry(token.to_string()).or_insert(Window {
            remaining: global_limit,
            reset_at: now + Duration::from_secs(1),
            limited: false,
        });
        if now >= global.reset_at {
            *global = Window {
                remaining: global_limit,
                reset_at: now + Duration::from_secs(1),
                limited: false,
            };
        }
        if global.remaining == 0 {
            let early = global.limited;
            global.limited = true;
            let retry = global.reset_at - now;
            let stats = inner.stats(token);
            stats.rate_limited += 1;
            if early {
                stats.early_retries += 1;
            }
            return too_many(Scope::Global, retry, None);
        }
        global.remaining -= 1;

        let (limit, span) = if is_message_create {
            inner.message_limit
        } else {
            (50, Duration::from_secs(1))
        };
        let key = (token.to_string(), bucket, major);
        let window = inner.windows.entry(key.clone()).or_insert(Window {
            remaining: limit,
            reset_at: now + span,
            limited: false,
        });
        if now >= window.reset_at {
            *window = Window {
                remaining: limit,
                reset_at: now + span,
                limited: false,
            };
        }
        if window.remaining == 0 {
            let early = window.limited;
            window.limited = true;
            let snapshot = *window;
            let stats = inner.stats(token);
            stats.rate_limited += 1;
            if early {
                stats.early_retries += 1;
            }
            return too_many(
                Scope::User,
                snapshot.reset_at - now,
                Some((bucket, limit, &snapshot)),
            );
        }
        if is_message_create
            && let Some(forced) = inner.forced.get_mut(token).and_then(VecDeque::pop_front)
        {
            inner.stats(token).rate_limited += 1;
            let until = now + forced.retry_after;
            match forced.scope {
                Scope::Global => {
                    if let Some(g) = inner.global.get_mut(token) {
                        *g = Window {
                            remaining: 0,
                            reset_at: until,
                            limited: true,
                        };
                    }
                    return too_many(Scope::Global, forced.retry_after, None);
                }
                scope => {
                    let window = inner.windows.entry(key).or_insert(Window {
                        remaining: 0,
                        reset_at: until,
                        limited: true,
                    });
                    *window = Window {
                        remaining: 0,
                        reset_at: until,
                        limited: true,
                    };
                    let snapshot = *window;
                    return too_many(scope, forced.retry_after, Some((bucket, limit, &snapshot)));
                }
            }
        }
        let window = inner.windows.get_mut(&key).map(|w| {
            w.remaining -= 1;
            *w
        });
        window.map(|w| (limit, w))
    };
    let mut response = match (method, segments.as_slice()) {
        (&Method::GET, ["users", "@me"]) => {
            let inner = fake.lock();
            let mut user = inner.user_json(bot.id);
            user["bot"] = json!(true);
            user["verified"] = json!(true);
            user["mfa_enabled"] = json!(false);
            user["flags"] = json!(0);
            user["email"] = Value::Null;
            user["locale"] = json!("en-US");
            user["premium_type"] = json!(0);
            user["banner"] = Value::Null;
            user["accent_color"] = Value::Null;
            axum::Json(user).into_response()
        }
        (&Method::GET, ["gateway", "bot"]) => axum::Json(json!({
            "url": format!("ws://{host}"),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000,
                                    "max_concurrency": 1},
        }))
        .into_response(),
        (&Method::GET, ["channels", id]) => {
            let inner = fake.lock();
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| inner.channels.get(&id))
            {
                None => api_error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"),
                Some(c) if !inner.can_see(token, c) => {
                    api_error(StatusCode::FORBIDDEN, 50001, "Missing Access")
                }
                Some(c) => axum::Json(inner.channel_json(c)).into_response(),
            }
        }
        (&Method::POST, ["channels", id, "messages"]) => {
            create_message(fake, token, &bot, id, host, request).await
        }
        _ => api_error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
    };
    if let Some((limit, w)) = window {
        bucket_headers(&mut response, bucket, limit, &w);
    }
    response
}

/// A message's JSON payload and files: a JSON body, or multipart with `payload_json` (or plain fields)
/// and `files[n]` parts.
async fn read_message_body(request: Request) -> Result<(Value, Vec<Upload>, bool), Response> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bad_json = || {
        api_error(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    };
    if !is_multipart {
        let bytes = Bytes::from_request(request, &())
            .await
            .map_err(|_| bad_json())?;
        let payload: Value = serde_json::from_slice(&bytes).map_err(|_| bad_json())?;
        return Ok((payload, Vec::new(), false));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|_| bad_json())?;
    let mut payload = serde_json::Map::new();
    let mut files: Vec<(usize, Upload)> = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(index) = name
            .strip_prefix("files[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            let file_name = field.file_name().unwrap_or("unknown").to_string();
            let content_type = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.map_err(|_| bad_json())?.to_vec();
            files.push((
                index,
                Upload {
                    file_name,
                    content_type,
                    bytes,
                },
            ));
        } else if name == "payload_json" {
            let text = field.text().await.map_err(|_| bad_json())?;
            match serde_json::from_str(&text) {
                Ok(Value::Object(o)) => payload.extend(o),
                _ => return Err(bad_json()),
            }
        } else {
            let text = field.text().await.unwrap_or_default();
            payload.insert(name, Value::String(text));
        }
    }
    files.sort_by_key(|(i, _)| *i);
    Ok((
        Value::Object(payload),
        files.into_iter().map(|(_, f)| f).collect(),
        true,
    ))
}

async fn create_message(
    fake: &FakeDiscord,
    token: &str,
    bot: &Bot,
    id: &str,
    host: &str,
    request: Request,
) -> Response {
    let channel = {
        let inner = fake.lock();
        match id
            .parse::<u64>()
            .ok()
            .and_then(|id| inner.channels.get(&id))
        {
            None => return api_error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"),
            Some(c) if !inner.can_see(token, c) => {
                return api_error(StatusCode::FORBIDDEN, 50001, "Missing Access");
            }
            Some(c) => c.clone(),
        }
    };
    let (payload, files, multipart) = match read_message_body(request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    if files.iter().any(|f| f.bytes.len() > 10 * 1024 * 1024) {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            40005,
            "Request entity too large",
        );
    }
    let content = payload
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let embeds: Vec<Value> = payload
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if content.chars().count() > 2000 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {"content": {"_errors": [
                    {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                ]}},
            })),
        )
            .into_response();
    }
    if content.is_empty() && embeds.is_empty() && files.is_empty() {
        return api_error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        );
    }
    if let ChannelKind::Dm { closed: true, .. } = channel.kind {
        return api_error(
            StatusCode::FORBIDDEN,
            50007,
            "Cannot send messages to this user",
        );
    }
    let mut inner = fake.lock();
    let message_id = inner.snowflake();
    let mut attachments = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let attachment_id = inner.snowflake();
        let described = payload
            .get("attachments")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|x| x.get("id").and_then(Value::as_u64) == Some(i as u64))
            });
        let url = format!(
            "http://{host}/attachments/{}/{attachment_id}/{}",
            channel.id, file.file_name
        );
        attachments.push(json!({
            "id": attachment_id.to_string(),
            "filename": file.file_name,
            "description": described.and_then(|d| d.get("description")).cloned(),
            "content_type": file.content_type,
            "size": file.bytes.len(),
            "url": url,
            "proxy_url": url,
        }));
    }
    let mut message = inner.message_json(&channel, message_id, bot.id, &content);
    message["attachments"] = json!(attachments);
    message["embeds"] = json!(
        embeds
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["type"] = json!("rich");
                e
            })
            .collect::<Vec<_>>()
    );
    if let Some(c) = inner.channels.get_mut(&channel.id) {
        c.last_message_id = Some(message_id);
    }
    inner.sent.push(SentMessage {
        token: token.to_string(),
        channel_id: channel.id,
        message_id,
        content,
        embeds,
        files,
        payload,
        multipart,
        at: Instant::now(),
    });
    inner.dispatch_message(channel.id, &message);
    drop(inner);
    fake.sent_notify.notify_waiters();
    axum::Json(message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_looks_like_discords() {
        let fake = FakeDiscord::default();
        let token = fake.add_bot("helper");
        assert!(
            shared::api::credentials::discord_token(&token, &()).is_ok(),
            "{token}"
        );
        let id = fake.bot_id(&token).unwrap();
        let first = token.split('.').next().unwrap();
        assert_eq!(first, base64url(id.to_string().as_bytes()));
    }

    #[test]
    fn timestamps_and_snowflakes_agree() {
        let mut inner = Inner::default();
        let a = inner.snowflake();
        let b = inner.snowflake();
        assert!(b > a);
        assert!(snowflake_ms(a).abs_diff(now_ms()) < 5_000);
        assert_eq!(
            timestamp(1_700_000_000_123),
            "2023-11-14T22:13:20.123000+00:00"
        );
    }
}
