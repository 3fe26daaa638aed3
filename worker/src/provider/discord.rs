//! Discord behind the seam. What reaches the bot comes through the gateway (twilight-gateway: HELLO,
//! IDENTIFY/READY, heartbeats, RESUME after a dropped connection, a new IDENTIFY after INVALID_SESSION);
//! what it sends goes through the REST API v10 (`POST /channels/{id}/messages`, JSON or multipart with
//! the file), with Discord's limits honoured here: each route's bucket (`X-RateLimit-Bucket`,
//! `-Remaining`, `-Reset-After`) is waited out before it is spent, a 429's `retry_after` (per bucket, or
//! for every route when `global`) is waited out, and the global 50 requests/s is kept. A wait that would
//! pass [`MAX_WAIT`] is given back as [`SendError::RateLimited`].
//!
//! Chats are channels: a guild's text channel (and a thread, a group DM) is a `group`, an announcement
//! channel a `channel`, a DM `private`. A chat reference is the channel's id (a snowflake).
//!
//! twilight-http is not used for REST: its 0.18 rate limiter reads bucket headers only on 429s that
//! carry `X-RateLimit-Scope`, retries a global 429 at once (not after `retry_after`), and retries every
//! 429 forever, so it could neither honour the global limit nor give a long wait back to the caller.
//! Nor are twilight-model's typed events: the few fields read here are read into small types of this
//! module (twilight-model's deserializers for every event cost the worker binary about 4.3 MB).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use bytes::Bytes;
use reqwest::{Method, StatusCode, header::HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::{
    Provider as ProviderKind,
    api::credentials::DiscordCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind},
};
use tokio::time::Instant;
use twilight_gateway::{
    ConfigBuilder, Intents, Message as GatewayMessage, Shard, ShardId, ShardState,
    error::ReceiveMessageErrorType,
};

use super::{
    Chat, ConnectError, Identity, Inbound, Media, MediaSource, Message, Person, Provider,
    SendError, TextOptions,
};

/// The longest a send waits for Discord's limits before it gives the wait back as a 429.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Discord's global limit: requests per second per bot.
const GLOBAL_PER_SECOND: u32 = 50;
/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds: a snowflake's top bits count from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Largest file a bot may upload to a server without boosts.
const MAX_UPLOAD: usize = 10 * 1024 * 1024;
/// Longest message content.
const MAX_CONTENT_CHARS: usize = 2000;
/// What the bot asks the gateway for: guilds and their channels, messages in guilds and DMs, and their
/// content (a privileged intent: it must be enabled for the bot in the developer portal).
const INTENTS: Intents = Intents::GUILDS
    .union(Intents::GUILD_MESSAGES)
    .union(Intents::DIRECT_MESSAGES)
    .union(Intents::MESSAGE_CONTENT);

/// A Discord bot: the gateway for what arrives, the REST API for what it sends.
pub struct DiscordProvider {
    token: String,
    gateway_url: String,
    rest: Rest,
    /// The bot's user id (from `connect` or READY): its own messages are not inbound.
    me: Mutex<Option<u64>>,
    /// Channels the bot has seen (GUILD_CREATE, CHANNEL_CREATE, messages, lookups).
    channels: Mutex<HashMap<u64, Chat>>,
}

impl std::fmt::Debug for DiscordProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordProvider")
            .field("api", &self.rest.base)
            .field("gateway_url", &self.gateway_url)
            .finish_non_exhaustive()
    }
}

impl DiscordProvider {
    /// A provider for the bot with `credentials`, talking to the REST API at `api_url` (Discord's is
    /// `https://discord.com/api`; `/v10/…` is added) and the gateway at `gateway_url`
    /// (`wss://gateway.discord.gg`).
    pub fn new(
        credentials: &DiscordCredentials,
        api_url: &str,
        gateway_url: &str,
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        let api = reqwest::Url::parse(api_url)
            .map_err(|e| anyhow::anyhow!("the Discord API URL is invalid: {e}"))?;
        if !matches!(api.scheme(), "http" | "https") {
            anyhow::bail!("the Discord API URL must be http(s)");
        }
        let gateway = reqwest::Url::parse(gateway_url)
            .map_err(|e| anyhow::anyhow!("the Discord gateway URL is invalid: {e}"))?;
        if !matches!(gateway.scheme(), "ws" | "wss") {
            anyhow::bail!("the Discord gateway URL must be ws(s)");
        }
        let token = credentials
            .bot_token
            .strip_prefix("Bot ")
            .unwrap_or(&credentials.bot_token)
            .to_string();
        let mut auth = HeaderValue::from_str(&format!("Bot {token}")).map_err(|_| {
            anyhow::anyhow!("the Discord bot token has characters a header cannot carry")
        })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "DiscordBot (botfleet, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            token,
            gateway_url: gateway_url.trim_end_matches('/').to_string(),
            rest: Rest {
                http,
                base: format!("{}/v10/", api_url.trim_end_matches('/')),
                auth,
                limits: Mutex::new(Limits::default()),
                routes: Mutex::new(HashMap::new()),
            },
            me: Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
        })
    }

    fn me(&self) -> Option<u64> {
        *self.me.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_me(&self, id: u64) {
        *self.me.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    fn known(&self, id: u64) -> Option<Chat> {
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn remember(&self, id: u64, chat: Chat) {
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, chat);
    }

    fn remember_channel(&self, channel: &ApiChannel, guild_name: Option<&str>) {
        if let (Some(id), Some(chat)) = (snowflake(&channel.id), channel_chat(channel, guild_name))
        {
            self.remember(id, chat);
        }
    }

    /// The chat a message was in: what the bot knows of the channel, else what the message says (a
    /// guild's channel is a group; a DM is private, named after the person when they wrote).
    fn chat_of(&self, message: &ApiMessage, id: u64) -> Chat {
        if let Some(chat) = self.known(id) {
            return chat;
        }
        let chat = match &message.guild_id {
            Some(_) => Chat {
                id: chat_ref(id),
                name: None,
                kind: ChatKind::Group,
                username: None,
            },
            None => {
                let from_person = snowflake(&message.author.id) != self.me();
                Chat {
                    id: chat_ref(id),
                    name: from_person.then(|| display_name(&message.author)),
                    kind: ChatKind::Private,
                    username: None,
                }
            }
        };
        // A DM first seen through the bot's own message does not know the person yet.
        if chat.name.is_some() || message.guild_id.is_some() {
            self.remember(id, chat.clone());
        }
        chat
    }

    /// The message in neutral terms; `None` when its ids are not Discord's.
    fn neutral(&self, message: &ApiMessage) -> Option<Message> {
        let id = snowflake(&message.id)?;
        let channel = snowflake(&message.channel_id)?;
        Some(Message {
            id: id.to_string(),
            chat: self.chat_of(message, channel),
            from: Some(person(&message.author)),
            text: (!message.content.is_empty()).then(|| message.content.clone()),
            // A snowflake's top bits are when it was made, in milliseconds since Discord's epoch.
            date: (((id >> 22) + DISCORD_EPOCH_MS) / 1000) as i64,
        })
    }

    /// Learns what a channel is before the bot first sends to it (a DM's person, a guild channel's
    /// name); a failed lookup is no reason not to send.
    async fn learn(&self, id: u64) {
        if self.known(id).is_some() {
            return;
        }
        if let Ok(channel) = self
            .rest
            .call::<ApiChannel>(Method::GET, &format!("channels/{id}"), Body::None)
            .await
            && let Some(chat) = channel_chat(&channel, None)
        {
            self.remember(id, chat);
        }
    }

    async fn post_message(&self, channel: u64, body: Body) -> Result<Message, SendError> {
        self.learn(channel).await;
        let sent: ApiMessage = self
            .rest
            .call(Method::POST, &format!("channels/{channel}/messages"), body)
            .await
            .map_err(RestError::into_send_error)?;
        self.neutral(&sent).ok_or_else(|| SendError::Failed {
            message: "Discord's answer carries no message id".into(),
            transient: false,
        })
    }

    /// Handles one gateway dispatch (`t` is its type; `text` the whole payload).
    fn dispatch(&self, t: &str, text: &str, inbound: &dyn Inbound, failures: &mut u32) {
        fn data<'a, T: Deserialize<'a>>(t: &str, text: &'a str) -> Option<T> {
            serde_json::from_str::<Data<T>>(text)
                .map_err(
                    |e| tracing::warn!(event = t, error = %e, "a Discord event could not be read"),
                )
                .ok()
                .map(|d| d.d)
        }
        match t {
            "READY" | "RESUMED" => {
                if t == "READY"
                    && let Some(ready) = data::<ApiReady>(t, text)
                    && let Some(id) = snowflake(&ready.user.id)
                {
                    self.set_me(id);
                }
                tracing::info!(event = t, "Discord gateway session up");
                if *failures > 0 {
                    inbound.recovered(*failures);
                }
                *failures = 0;
            }
            "GUILD_CREATE" => {
                if let Some(guild) = data::<ApiGuild>(t, text) {
                    for channel in guild.channels.iter().chain(&guild.threads) {
                        self.remember_channel(channel, guild.name.as_deref());
                    }
                }
            }
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" | "THREAD_UPDATE" => {
                if let Some(channel) = data::<ApiChannel>(t, text) {
                    self.remember_channel(&channel, None);
                }
            }
            "CHANNEL_DELETE" | "THREAD_DELETE" => {
                if let Some(id) = data::<ApiChannel>(t, text).and_then(|c| snowflake(&c.id)) {
                    self.channels
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                }
            }
            "MESSAGE_CREATE" => {
                let Some(message) = data::<ApiMessage>(t, text) else {
                    return;
                };
                if snowflake(&message.author.id) == self.me() {
                    return;
                }
                if let Some(message) = self.neutral(&message) {
                    inbound.message(message);
                }
            }
            _ => {}
        }
    }
}

/// rustls needs one process-wide crypto provider; the worker uses ring (no aws-lc, no OpenSSL).
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Already installed by someone else: theirs is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn chat_ref(id: u64) -> ChatRef {
    // A decimal id always is a valid chat reference.
    ChatRef::parse(&id.to_string()).unwrap_or_else(|_| ChatRef::from(0))
}

fn display_name(user: &ApiUser) -> String {
    user.global_name
        .clone()
        .unwrap_or_else(|| user.username.clone())
}

fn person(user: &ApiUser) -> Person {
    Person {
        id: user.id.clone(),
        name: display_name(user),
        username: Some(user.username.clone()),
        is_bot: user.bot,
    }
}

/// What a Discord channel is as a chat; `None` for channels without messages (voice, categories).
fn channel_chat(channel: &ApiChannel, guild_name: Option<&str>) -> Option<Chat> {
    // Discord's channel types: 0 text, 1 DM, 2 voice (with its text chat), 3 group DM, 5 announcement,
    // 10 announcement thread, 11/12 public/private thread, 15 forum, 16 media; the rest (categories,
    // stages, directories) carry no messages.
    let kind = match channel.kind {
        1 => ChatKind::Private,
        5 | 10 => ChatKind::Channel,
        0 | 2 | 3 | 11 | 12 | 15 | 16 => ChatKind::Group,
        _ => return None,
    };
    let name = match kind {
        ChatKind::Private => channel.recipients.first().map(display_name),
        _ => channel.name.as_ref().map(|n| match guild_name {
            Some(guild) => format!("{guild} #{n}"),
            None => format!("#{n}"),
        }),
    };
    Some(Chat {
        id: chat_ref(snowflake(&channel.id)?),
        name,
        kind,
        username: None,
    })
}

/// A snowflake as Discord writes it (a decimal string).
fn snowflake(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|id| *id > 0)
}

/// A chat reference as a channel id.
fn channel_id(chat: &ChatRef) -> Result<u64, String> {
    let s = chat.as_str();
    match s.parse::<u64>() {
        Ok(id) if id > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(format!(
            "'{s}' is not a Discord channel: a chat is a channel's id (a snowflake, digits only)"
        )),
    }
}

fn check_content(text: &str, field: &'static str) -> Result<(), SendError> {
    if text.chars().count() > MAX_CONTENT_CHARS {
        return Err(SendError::Unsupported {
            field,
            message: format!("Discord takes at most {MAX_CONTENT_CHARS} characters"),
        });
    }
    Ok(())
}

/// Who may be pinged by what the bot sends: people it names, never @everyone or roles.
fn allowed_mentions() -> Value {
    json!({"parse": ["users"]})
}

/// A file name for media fetched from `url`: its last path segment, else one made from the kind and
/// content type.
fn file_name_for(url: &reqwest::Url, kind: MediaKind, content_type: Option<&str>) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty() && s.contains('.'))
        .map(str::to_string);
    last.unwrap_or_else(|| {
        let ext = match content_type.unwrap_or_default() {
            "image/png" => "png",
            "image/gif" => "gif",
            "image/webp" => "webp",
            "image/jpeg" => "jpg",
            "audio/mpeg" => "mp3",
            "audio/ogg" => "ogg",
            "video/mp4" => "mp4",
            "video/webm" => "webm",
            "application/pdf" => "pdf",
            _ => match kind {
                MediaKind::Photo => "jpg",
                MediaKind::Audio => "mp3",
                MediaKind::Video => "mp4",
                MediaKind::Document => "bin",
            },
        };
        format!("{}.{ext}", kind.as_str())
    })
}

#[async_trait::async_trait]
impl Provider for DiscordProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Discord
    }

    async fn connect(&self) -> Result<Identity, ConnectError> {
        let me: ApiUser = self
            .rest
            .call(Method::GET, "users/@me", Body::None)
            .await
            .map_err(|e| match e {
                RestError::Status { status, .. } if status == StatusCode::UNAUTHORIZED => {
                    ConnectError::Refused("Discord refused the bot token (401 Unauthorized)".into())
                }
                other => ConnectError::Failed(other.to_string()),
            })?;
        let id = snowflake(&me.id).ok_or_else(|| {
            ConnectError::Failed("Discord's answer to users/@me carries no user id".into())
        })?;
        self.set_me(id);
        Ok(Identity {
            id: id.to_string(),
            name: display_name(&me),
            username: Some(me.username),
        })
    }

    async fn receive(&self, inbound: Arc<dyn Inbound>) -> ConnectError {
        let config = ConfigBuilder::new(self.token.clone(), INTENTS)
            .proxy_url(self.gateway_url.clone())
            .build();
        let mut shard = Shard::with_config(ShardId::ONE, config);
        let mut failures = 0u32;
        // HELLOs seen: each starts a connection, so one after the first is a reconnection.
        let mut hellos = 0u32;
        // Discord asked for the reconnection (op 7): not a failure.
        let mut asked_to_reconnect = false;
        loop {
            let item = futures::StreamExt::next(&mut shard).await;
            match item {
                Some(Ok(GatewayMessage::Text(text))) => {
                    // HELLO, HEARTBEAT_ACK, a dispatch: Discord answered.
                    inbound.alive();
                    let head = match serde_json::from_str::<Head>(&text) {
                        Ok(head) => head,
                        Err(e) => {
                            tracing::warn!(error = %e, "a Discord gateway payload could not be read");
                            continue;
                        }
                    };
                    match head.op {
                        OP_DISPATCH => {
                            let t = head.t.as_deref().unwrap_or_default();
                            self.dispatch(t, &text, inbound.as_ref(), &mut failures);
                        }
                        OP_HELLO => {
                            // twilight reconnects by itself after a connection ends without a close
                            // frame; the new HELLO is the first sign of it.
                            if hellos > 0 && failures == 0 && !asked_to_reconnect {
                                failures = 1;
                                tracing::warn!("Discord gateway connection was lost; reconnected");
                                inbound.trouble("the Discord gateway connection was lost", true);
                            }
                            hellos += 1;
                            asked_to_reconnect = false;
                        }
                        OP_RECONNECT => {
                            tracing::info!("Discord asked the gateway to reconnect");
                            asked_to_reconnect = true;
                        }
                        OP_INVALID_SESSION => {
                            failures += 1;
                            tracing::warn!("Discord invalidated the gateway session");
                            inbound.trouble(
                                "Discord invalidated the gateway session; connecting anew",
                                failures == 1,
                            );
                        }
                        _ => {}
                    }
                }
                Some(Ok(GatewayMessage::Close(frame))) => {
                    let (code, reason) = frame
                        .as_ref()
                        .map(|f| (f.code, f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    if shard.state() == ShardState::FatallyClosed {
                        return ConnectError::Refused(fatal_close(code, &reason));
                    }
                    if asked_to_reconnect {
                        continue;
                    }
                    failures += 1;
                    tracing::warn!(
                        code,
                        reason,
                        "Discord gateway connection closed; reconnecting"
                    );
                    inbound.trouble(
                        &format!("the Discord gateway closed the connection ({code} {reason})"),
                        failures == 1,
                    );
                }
                Some(Err(e)) => {
                    if matches!(e.kind(), ReceiveMessageErrorType::Reconnect) {
                        failures += 1;
                        tracing::warn!(error = %e, "Discord gateway unreachable; retrying");
                        inbound.trouble(
                            &format!("the Discord gateway is unreachable: {e}"),
                            failures == 1,
                        );
                    } else {
                        tracing::warn!(error = %e, "Discord gateway message could not be read");
                    }
                }
                // The shard ends only after a fatal close, which came above.
                None => {
                    return ConnectError::Refused(
                        "the Discord gateway closed the session for good".into(),
                    );
                }
            }
        }
    }

    fn check_chat(&self, chat: &ChatRef, group: bool) -> Result<ChatRef, String> {
        let id = channel_id(chat)?;
        if group && self.known(id).is_some_and(|c| c.kind == ChatKind::Private) {
            return Err(format!("channel {id} is a direct message, not a group"));
        }
        ChatRef::parse(&id.to_string()).map_err(str::to_string)
    }

    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        let channel = channel_id(chat).map_err(|message| SendError::BadChat { message })?;
        options.check_supported(self.kind())?;
        check_content(text, "text")?;
        self.post_message(
            channel,
            Body::Json(json!({"content": text, "allowed_mentions": allowed_mentions()})),
        )
        .await
    }

    async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        let channel = channel_id(chat).map_err(|message| SendError::BadChat { message })?;
        options.check_supported(self.kind())?;
        let caption = media.caption.unwrap_or_default();
        check_content(&caption, "caption")?;
        let (file_name, bytes, content_type) = match media.source {
            MediaSource::Upload { file_name, bytes } => (file_name, bytes, None),
            MediaSource::Url(url) => match self.rest.fetch(&url).await? {
                Fetched::File {
                    bytes,
                    content_type,
                } => {
                    let parsed = reqwest::Url::parse(&url).map_err(|e| SendError::Unsupported {
                        field: "url",
                        message: format!("the media URL is invalid: {e}"),
                    })?;
                    let name = file_name_for(&parsed, media.kind, content_type.as_deref());
                    (name, bytes, content_type)
                }
                // Larger than a bot may upload: Discord shows the link itself (a picture as an embed).
                Fetched::TooLarge => {
                    let body = match media.kind {
                        MediaKind::Photo => json!({
                            "content": caption,
                            "embeds": [{"image": {"url": url}}],
                            "allowed_mentions": allowed_mentions(),
                        }),
                        _ => {
                            let content = if caption.is_empty() {
                                url
                            } else {
                                format!("{caption}\n{url}")
                            };
                            check_content(&content, "caption")?;
                            json!({"content": content, "allowed_mentions": allowed_mentions()})
                        }
                    };
                    return self.post_message(channel, Body::Json(body)).await;
                }
            },
        };
        if bytes.len() > MAX_UPLOAD {
            return Err(SendError::Unsupported {
                field: "file",
                message: format!(
                    "Discord takes files up to {} MiB",
                    MAX_UPLOAD / (1024 * 1024)
                ),
            });
        }
        let payload = json!({
            "content": caption,
            "attachments": [{"id": 0, "filename": file_name}],
            "allowed_mentions": allowed_mentions(),
        });
        self.post_message(
            channel,
            Body::Multipart {
                payload,
                file_name,
                bytes,
                content_type,
            },
        )
        .await
    }
}

/// Why the gateway closed the session for good, in words the operator can act on.
fn fatal_close(code: u16, reason: &str) -> String {
    match code {
        4004 => format!("Discord refused the bot token ({code} {reason})"),
        4014 => format!(
            "Discord refused the Message Content intent: enable it for the bot in the developer portal \
             ({code} {reason})"
        ),
        _ => format!("the Discord gateway closed the session for good ({code} {reason})"),
    }
}

// -------------------------------------------------------------------------------------------------
// What the worker reads of Discord's payloads: these fields only, the rest is skipped unread (typed
// models of every event would cost the worker image megabytes).
// -------------------------------------------------------------------------------------------------

const OP_DISPATCH: u8 = 0;
const OP_RECONNECT: u8 = 7;
const OP_INVALID_SESSION: u8 = 9;
const OP_HELLO: u8 = 10;

/// A gateway payload's opcode and event type.
#[derive(Deserialize)]
struct Head {
    op: u8,
    #[serde(default)]
    t: Option<String>,
}

/// A gateway payload's data.
#[derive(Deserialize)]
struct Data<T> {
    d: T,
}

#[derive(Debug, Clone, Deserialize)]
struct ApiUser {
    id: String,
    username: String,
    #[serde(default)]
    global_name: Option<String>,
    #[serde(default)]
    bot: bool,
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    id: String,
    channel_id: String,
    #[serde(default)]
    guild_id: Option<String>,
    author: ApiUser,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Deserialize)]
struct ApiChannel {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    recipients: Vec<ApiUser>,
}

#[derive(Debug, Deserialize)]
struct ApiGuild {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    channels: Vec<ApiChannel>,
    #[serde(default)]
    threads: Vec<ApiChannel>,
}

#[derive(Debug, Deserialize)]
struct ApiReady {
    user: ApiUser,
}

// -------------------------------------------------------------------------------------------------
// REST, with Discord's rate limits
// -------------------------------------------------------------------------------------------------

/// A request body, kept so that a rate-limited request can be sent again.
enum Body {
    None,
    Json(Value),
    Multipart {
        payload: Value,
        file_name: String,
        bytes: Bytes,
        content_type: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
enum RestError {
    /// Discord answered with an error.
    #[error("Discord answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    /// A limit that would take longer than [`MAX_WAIT`] to clear.
    #[error("Discord rate limit: retry after {:.1} s", retry_after.as_secs_f64())]
    RateLimited { retry_after: Duration },
    /// Discord could not be reached, or answered something that is not its API.
    #[error("{message}")]
    Failed { message: String, transient: bool },
}

impl RestError {
    fn into_send_error(self) -> SendError {
        match self {
            RestError::Status { status, message } => match status.as_u16() {
                400 | 403 | 404 | 413 => SendError::Refused(message),
                401 => SendError::Failed {
                    message: "Discord refused the bot token (401 Unauthorized)".into(),
                    transient: false,
                },
                _ => SendError::Failed {
                    message: format!("Discord answered {status}: {message}"),
                    transient: status.is_server_error(),
                },
            },
            RestError::RateLimited { retry_after } => SendError::RateLimited {
                message: format!(
                    "Discord rate limit: retry after {:.1} s",
                    retry_after.as_secs_f64()
                ),
                retry_after,
            },
            RestError::Failed { message, transient } => SendError::Failed { message, transient },
        }
    }
}

/// Discord's words in an error answer: `message` (`code`), and the first field error of a 50035.
fn discord_error(body: &[u8], status: StatusCode) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return status.to_string();
    };
    let message = value
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let code = value.get("code").and_then(Value::as_u64).unwrap_or(0);
    let detail = value.get("errors").and_then(first_field_error);
    match detail {
        Some((path, text)) => format!("{message} ({code}): {path}: {text}"),
        None => format!("{message} ({code})"),
    }
}

/// The first `_errors` entry in Discord's nested error object, with its path.
fn first_field_error(errors: &Value) -> Option<(String, String)> {
    let object = errors.as_object()?;
    if let Some(list) = object.get("_errors").and_then(Value::as_array) {
        let text = list.first()?.get("message")?.as_str()?.to_string();
        return Some((String::new(), text));
    }
    object.iter().find_map(|(key, inner)| {
        first_field_error(inner).map(|(path, text)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{key}.{path}")
            };
            (path, text)
        })
    })
}

/// What a bucket allows, as Discord's headers said.
#[derive(Debug, Clone, Copy)]
struct BucketState {
    remaining: u32,
    reset_at: Instant,
}

#[derive(Debug)]
struct Limits {
    /// Route (method and path, the major id kept) → the bucket Discord said it belongs to.
    buckets: HashMap<String, String>,
    /// `bucket:major` (or the route while its bucket is unknown) → its state.
    states: HashMap<String, BucketState>,
    /// Until when every request waits (a global 429).
    global_until: Option<Instant>,
    /// The current second of the global limit and the requests made in it.
    second: Instant,
    in_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            states: HashMap::new(),
            global_until: None,
            second: Instant::now(),
            in_second: 0,
        }
    }
}

impl Limits {
    fn key(&self, route: &str, major: &str) -> String {
        match self.buckets.get(route) {
            Some(bucket) => format!("{bucket}:{major}"),
            None => route.to_string(),
        }
    }

    /// How long to wait before the route may be spent; zero when it may go now (and then it is spent).
    fn acquire(&mut self, route: &str, major: &str, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        if let Some(until) = self.global_until {
            if until > now {
                wait = wait.max(until - now);
            } else {
                self.global_until = None;
            }
        }
        if now.duration_since(self.second) >= Duration::from_secs(1) {
            self.second = now;
            self.in_second = 0;
        }
        if self.in_second >= GLOBAL_PER_SECOND {
            wait = wait.max(self.second + Duration::from_secs(1) - now);
        }
        let key = self.key(route, major);
        if let Some(state) = self.states.get(&key)
            && state.remaining == 0
            && state.reset_at > now
        {
            wait = wait.max(state.reset_at - now);
        }
        if wait.is_zero() {
            self.in_second += 1;
            if let Some(state) = self.states.get_mut(&key) {
                if state.reset_at <= now {
                    // The window passed: Discord's next answer tells the new one.
                    self.states.remove(&key);
                } else {
                    state.remaining = state.remaining.saturating_sub(1);
                }
            }
        }
        wait
    }

    /// Reads a response's bucket headers.
    fn update(
        &mut self,
        route: &str,
        major: &str,
        headers: &reqwest::header::HeaderMap,
        now: Instant,
    ) {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(bucket) = text("x-ratelimit-bucket") else {
            return;
        };
        let remaining = text("x-ratelimit-remaining").and_then(|v| v.parse::<u32>().ok());
        let reset_after = text("x-ratelimit-reset-after").and_then(|v| v.parse::<f64>().ok());
        // Requests made before the bucket was known were counted under the route.
        self.states.remove(route);
        self.buckets.insert(route.to_string(), bucket.to_string());
        if let (Some(remaining), Some(reset_after)) = (remaining, reset_after)
            && reset_after.is_finite()
            && reset_after >= 0.0
        {
            let key = format!("{bucket}:{major}");
            self.states.insert(
                key,
                BucketState {
                    remaining,
                    reset_at: now + Duration::from_secs_f64(reset_after.min(3600.0)),
                },
            );
        }
    }

    /// A 429: the bucket (or everything, when global) waits `retry_after`.
    fn limited(
        &mut self,
        route: &str,
        major: &str,
        global: bool,
        retry_after: Duration,
        now: Instant,
    ) {
        let until = now + retry_after;
        if global {
            self.global_until = Some(self.global_until.map_or(until, |u| u.max(until)));
        } else {
            let key = self.key(route, major);
            self.states.insert(
                key,
                BucketState {
                    remaining: 0,
                    reset_at: until,
                },
            );
        }
    }
}

/// The rate-limit route of a path: method and path with ids after the major one replaced, and the
/// major parameter (`channels/{id}`, `guilds/{id}`, `webhooks/{id}`) that buckets are kept per.
fn route_of(method: &Method, path: &str) -> (String, String) {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let major = match segments.as_slice() {
        [top @ ("channels" | "guilds" | "webhooks"), id, ..] => format!("{top}/{id}"),
        _ => String::new(),
    };
    let route: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i >= 2 && s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    (format!("{method} {}", route.join("/")), major)
}

/// The REST client.
struct Rest {
    http: reqwest::Client,
    /// `…/api/v10/`.
    base: String,
    auth: HeaderValue,
    limits: Mutex<Limits>,
    /// One lock per route: requests on a route go one at a time, so a bucket's count stays true.
    routes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

enum Fetched {
    File {
        bytes: Bytes,
        content_type: Option<String>,
    },
    TooLarge,
}

impl Rest {
    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn route_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Sends a request, waiting out Discord's limits, and reads the answer as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<T, RestError> {
        let (route, major) = route_of(&method, path);
        let lock = self.route_lock(&format!("{route} {major}"));
        let _turn = lock.lock().await;
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            let wait = self.limits().acquire(&route, &major, Instant::now());
            if !wait.is_zero() {
                if Instant::now() + wait > deadline {
                    return Err(RestError::RateLimited { retry_after: wait });
                }
                tracing::debug!(?wait, route, "waiting for Discord's rate limit");
                tokio::time::sleep(wait).await;
                continue;
            }
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header(reqwest::header::AUTHORIZATION, self.auth.clone());
            request = match &body {
                Body::None => request,
                Body::Json(value) => request.json(value),
                Body::Multipart {
                    payload,
                    file_name,
                    bytes,
                    content_type,
                } => {
                    let payload = reqwest::multipart::Part::text(payload.to_string())
                        .mime_str("application/json")
                        .map_err(|e| failed(e, false))?;
                    let mut file = reqwest::multipart::Part::stream(bytes.clone())
                        .file_name(file_name.clone());
                    if let Some(ct) = content_type {
                        file = file.mime_str(ct).map_err(|e| failed(e, false))?;
                    }
                    request.multipart(
                        reqwest::multipart::Form::new()
                            .part("payload_json", payload)
                            .part("files[0]", file),
                    )
                }
            };
            let response = request.send().await.map_err(|e| failed(e, true))?;
            let now = Instant::now();
            let status = response.status();
            self.limits()
                .update(&route, &major, response.headers(), now);
            let global_header = response
                .headers()
                .get("x-ratelimit-global")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let retry_header = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            let bytes = response.bytes().await.map_err(|e| failed(e, true))?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let global = global_header
                    || parsed
                        .get("global")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                let secs = parsed
                    .get("retry_after")
                    .and_then(Value::as_f64)
                    .or(retry_header)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .unwrap_or(1.0)
                    .min(86_400.0);
                let retry_after = Duration::from_secs_f64(secs);
                tracing::info!(route, global, ?retry_after, "Discord answered 429");
                self.limits()
                    .limited(&route, &major, global, retry_after, now);
                if now + retry_after > deadline {
                    return Err(RestError::RateLimited { retry_after });
                }
                continue;
            }
            if !status.is_success() {
                return Err(RestError::Status {
                    status,
                    message: discord_error(&bytes, status),
                });
            }
            return serde_json::from_slice(&bytes).map_err(|e| RestError::Failed {
                message: format!("Discord's answer could not be read: {e}"),
                transient: false,
            });
        }
    }

    /// Fetches media from a URL to upload it (up to the upload limit).
    async fn fetch(&self, url: &str) -> Result<Fetched, SendError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| SendError::Unsupported {
            field: "url",
            message: format!("the media URL is invalid: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SendError::Unsupported {
                field: "url",
                message: "the media URL must be http(s)".into(),
            });
        }
        let mut response =
            self.http.get(parsed).send().await.map_err(|e| {
                SendError::Refused(format!("the media URL could not be fetched: {e}"))
            })?;
        if !response.status().is_success() {
            return Err(SendError::Refused(format!(
                "the media URL could not be fetched: {}",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_UPLOAD as u64)
        {
            return Ok(Fetched::TooLarge);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SendError::Refused(format!("the media URL could not be fetched: {e}")))?
        {
            if bytes.len() + chunk.len() > MAX_UPLOAD {
                return Ok(Fetched::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::File {
            bytes: Bytes::from(bytes),
            content_type,
        })
    }
}

fn failed(e: impl std::fmt::Display, transient: bool) -> RestError {
    RestError::Failed {
        message: format!("Discord could not be reached: {e}"),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_the_major_id_only() {
        let (route, major) = route_of(&Method::POST, "channels/123/messages");
        assert_eq!(route, "POST channels/123/messages");
        assert_eq!(major, "channels/123");
        let (route, major) = route_of(&Method::DELETE, "channels/123/messages/456");
        assert_eq!(route, "DELETE channels/123/messages/{id}");
        assert_eq!(major, "channels/123");
        let (route, major) = route_of(&Method::GET, "users/@me");
        assert_eq!((route.as_str(), major.as_str()), ("GET users/@me", ""));
    }

    #[test]
    fn a_chat_is_a_snowflake() {
        let ok = ChatRef::parse("1098765432109876543").unwrap();
        assert_eq!(channel_id(&ok), Ok(1_098_765_432_109_876_543));
        for bad in ["@someone", "-100", "0", "12a", "99999999999999999999999"] {
            let chat = ChatRef::parse(bad).unwrap();
            assert!(channel_id(&chat).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_are_waited_out_and_429s_block() {
        let mut limits = Limits::default();
        let now = Instant::now();
        let route = "POST channels/1/messages";
        assert!(limits.acquire(route, "channels/1", now).is_zero());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-bucket", HeaderValue::from_static("abc"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset-after", HeaderValue::from_static("2.5"));
        limits.update(route, "channels/1", &headers, now);
        let wait = limits.acquire(route, "channels/1", now);
        assert_eq!(wait, Duration::from_millis(2500));
        // Another channel has its own count of the same bucket.
        assert!(
            limits
                .acquire("POST channels/2/messages", "channels/2", now)
                .is_zero()
        );
        // A global 429 holds every route.
        limits.limited(route, "channels/1", true, Duration::from_secs(3), now);
        assert_eq!(
            limits.acquire("GET users/@me", "", now),
            Duration::from_secs(3)
        );
        assert!(
            limits
                .acquire("GET users/@me", "", now + Duration::from_secs(3))
                .is_zero()
        );
    }

    #[test]
    fn discords_errors_are_read_with_their_field() {
        let body = br#"{"message":"Invalid Form Body","code":50035,"errors":{"content":{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be 2000 or fewer in length."}]}}}"#;
        assert_eq!(
            discord_error(body, StatusCode::BAD_REQUEST),
            "Invalid Form Body (50035): content: Must be 2000 or fewer in length."
        );
        assert_eq!(
            discord_error(
                br#"{"message":"Unknown Channel","code":10003}"#,
                StatusCode::NOT_FOUND
            ),
            "Unknown Channel (10003)"
        );
        assert_eq!(
            discord_error(b"<html>", StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
    }

    #[test]
    fn fetched_media_is_named() {
        let url = reqwest::Url::parse("https://example.org/a/cat.png?x=1").unwrap();
        assert_eq!(file_name_for(&url, MediaKind::Photo, None), "cat.png");
        let url = reqwest::Url::parse("https://example.org/img").unwrap();
        assert_eq!(
            file_name_for(&url, MediaKind::Photo, Some("image/png")),
            "photo.png"
        );
        assert_eq!(file_name_for(&url, MediaKind::Audio, None), "audio.mp3");
    }
}
