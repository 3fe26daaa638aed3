//! The messaging providers a bot can run on, and what each can do. One table, read by the manager (which
//! lists it at `GET /api/v1/providers` and refuses what a provider cannot do) and by the worker (which
//! serves only what its provider can).

use serde::{Deserialize, Serialize};

use crate::{chat::ChatKind, worker_api::MediaKind};

/// The messaging provider a bot runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Telegram,
    Discord,
    Slack,
    Whatsapp,
}

impl Provider {
    /// Every provider this build supports, for error messages.
    pub const ALL: &'static [Provider] = &[
        Provider::Telegram,
        Provider::Discord,
        Provider::Slack,
        Provider::Whatsapp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Telegram => "telegram",
            Provider::Discord => "discord",
            Provider::Slack => "slack",
            Provider::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }

    /// The platform's own name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Telegram => "Telegram",
            Provider::Discord => "Discord",
            Provider::Slack => "Slack",
            Provider::Whatsapp => "WhatsApp",
        }
    }

    /// What bots on this provider can do.
    pub fn capabilities(self) -> &'static Capabilities {
        match self {
            Provider::Telegram => &TELEGRAM,
            Provider::Discord => &DISCORD,
            Provider::Slack => &SLACK,
            Provider::Whatsapp => &WHATSAPP,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a bot learns of new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Receive {
    /// The worker asks the platform (Telegram's `getUpdates`).
    Polling,
    /// The worker holds a websocket open (Discord's gateway, Slack's Socket Mode).
    Socket,
    /// The platform calls the manager's `POST /api/v1/webhooks/{platform}/{instance_id}`, which hands the
    /// call to the worker.
    Webhook,
}

impl Receive {
    pub const ALL: [Receive; 3] = [Self::Polling, Self::Socket, Self::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Socket => "socket",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a provider can do. A request for something not listed here is refused with 422 naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    /// Text messages.
    pub text: bool,
    /// Media kinds `POST /api/v1/send/media` takes.
    pub media: Vec<MediaKind>,
    /// Media may be uploaded (multipart) rather than given by URL.
    pub media_upload: bool,
    /// `parseMode` is honoured.
    pub parse_modes: bool,
    /// `replyMarkup` (keyboards) is honoured.
    pub reply_markup: bool,
    /// Longest text message, in characters.
    pub max_text_chars: u32,
    /// Longest media caption, in characters.
    pub max_caption_chars: u32,
    /// The kinds of chat a bot takes part in.
    pub chat_kinds: Vec<ChatKind>,
    /// Ways the bot can receive messages (the first is the default).
    pub receive: Vec<Receive>,
    /// The bot logs in by a QR code shown to a phone (`GET …/qr`).
    pub qr_login: bool,
    /// Sending limits the worker honours, in the platform's words.
    pub rate_limits: String,
    /// Longest time, in seconds, between two signs of life of a healthy link (an answered long poll, a
    /// heartbeat ACK, a check of the credentials): the manager counts a bot whose last sign is older
    /// than three times this (plus 15 s) as not really running.
    pub liveness_secs: u32,
}

impl Capabilities {
    /// Milliseconds after the last sign of life at which a bot counts as stalled.
    pub fn stale_after_ms(&self) -> i64 {
        (i64::from(self.liveness_secs) * 3 + 15) * 1000
    }
}

impl Capabilities {
    /// The capability a media kind needs, when this provider lacks it.
    pub fn check_media(&self, kind: MediaKind) -> Result<(), String> {
        if self.media.contains(&kind) {
            Ok(())
        } else {
            Err(format!("sending {} is not supported", kind.as_str()))
        }
    }
}

// `Vec` is not const-constructible with elements, so the tables are built once, lazily.
static TELEGRAM: std::sync::LazyLock<Capabilities> = std::sync::LazyLock::new(|| Capabilities {
    text: true,
    media: MediaKind::ALL.to_vec(),
    media_upload: true,
    parse_modes: true,
    reply_markup: true,
    max_text_chars: 4096,
    max_caption_chars: 1024,
    chat_kinds: ChatKind::ALL.to_vec(),
    receive: vec![Receive::Polling, Receive::Webhook],
    qr_login: false,
    rate_limits:
        "30 messages/s overall, 1/s and 20/min per chat; a 429's retry_after is waited out".into(),
    liveness_secs: 10,
});

static DISCORD: std::sync::LazyLock<Capabilities> = std::sync::LazyLock::new(|| Capabilities {
    text: true,
    media: MediaKind::ALL.to_vec(),
    media_upload: true,
    parse_modes: false,
    reply_markup: false,
    max_text_chars: 2000,
    max_caption_chars: 2000,
    chat_kinds: vec![ChatKind::Private, ChatKind::Group, ChatKind::Channel],
    receive: vec![Receive::Socket],
    qr_login: false,
    rate_limits:
        "per-route buckets (X-RateLimit-Bucket) and the global limit (50/s); a 429's retry_after \
                  is waited out"
            .into(),
    liveness_secs: 45,
});

static SLACK: std::sync::LazyLock<Capabilities> = std::sync::LazyLock::new(|| Capabilities {
    text: true,
    media: MediaKind::ALL.to_vec(),
    media_upload: false,
    parse_modes: false,
    reply_markup: false,
    max_text_chars: 40_000,
    max_caption_chars: 3000,
    chat_kinds: vec![ChatKind::Private, ChatKind::Group, ChatKind::Channel],
    receive: vec![Receive::Socket],
    qr_login: false,
    rate_limits:
        "chat.postMessage: about 1 message/s per channel (special tier); a 429's Retry-After is \
                  waited out"
            .into(),
    liveness_secs: 10,
});

static WHATSAPP: std::sync::LazyLock<Capabilities> = std::sync::LazyLock::new(|| Capabilities {
    text: true,
    media: MediaKind::ALL.to_vec(),
    media_upload: false,
    parse_modes: false,
    reply_markup: false,
    max_text_chars: 4096,
    max_caption_chars: 1024,
    chat_kinds: vec![ChatKind::Private],
    receive: vec![Receive::Webhook],
    qr_login: false,
    rate_limits:
        "per business number: 80 messages/s, and 1 message every 6 s to the same user; error \
                  130429/131056 is waited out"
            .into(),
    liveness_secs: 60,
});
