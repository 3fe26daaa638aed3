//! `GET /api/v1/events` and `POST /api/v1/events/ack`: the worker's outbox, which only the manager (with
//! its control key) collects and acknowledges.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::ChatKind;
use crate::events::EventType;

/// Longest long poll of `GET /api/v1/events`, in milliseconds.
pub const MAX_EVENTS_WAIT_MS: u64 = 30_000;
/// Most events one `GET /api/v1/events` returns.
pub const MAX_EVENTS_PER_BATCH: u32 = 1000;

/// What a worker event is about. The names are those of [`EventType`] where one fits (the manager logs
/// and delivers these under that type), and `webhook.config` for a webhook set on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WorkerEventKind {
    /// A message reached the bot.
    #[serde(rename = "message.in")]
    MessageIn,
    /// The bot sent a message.
    #[serde(rename = "message.out")]
    MessageOut,
    /// The bot's connection changed: connected, token refused, polling again.
    #[serde(rename = "bot.status")]
    BotStatus,
    /// Something failed in the bot: a poll, the agent, a reply.
    #[serde(rename = "bot.error")]
    BotError,
    /// A user set the webhook on the worker; `webhook` carries it, for the manager to keep.
    #[serde(rename = "webhook.config")]
    WebhookConfig,
}

impl WorkerEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageIn => "message.in",
            Self::MessageOut => "message.out",
            Self::BotStatus => "bot.status",
            Self::BotError => "bot.error",
            Self::WebhookConfig => "webhook.config",
        }
    }

    /// The event type the manager records this as (none for `webhook.config`, which it only applies).
    pub fn event_type(self) -> Option<EventType> {
        match self {
            Self::MessageIn => Some(EventType::MessageIn),
            Self::MessageOut => Some(EventType::MessageOut),
            Self::BotStatus => Some(EventType::BotStatus),
            Self::BotError => Some(EventType::BotError),
            Self::WebhookConfig => None,
        }
    }
}

impl std::fmt::Display for WorkerEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a question put to the bot's agent (one exchange: a message in, the bot's reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent answered and its answer was sent.
    Answered,
    /// The agent failed (error, timeout, no text); the fallback message was sent.
    Fallback,
    /// `/start` with a welcome message configured: the welcome was sent, the agent not called.
    Welcome,
    /// The reply (answer, fallback or welcome) could not be delivered to the chat.
    Failed,
    /// The chat's rate limit stopped the agent call; the fallback message was sent (or nothing).
    DroppedRate,
    /// The spending cap stopped the agent call; the fallback message was sent (or nothing).
    DroppedCap,
}

impl Outcome {
    pub const ALL: [Self; 6] = [
        Self::Answered,
        Self::Fallback,
        Self::Welcome,
        Self::Failed,
        Self::DroppedRate,
        Self::DroppedCap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Fallback => "fallback",
            Self::Welcome => "welcome",
            Self::Failed => "failed",
            Self::DroppedRate => "dropped_rate",
            Self::DroppedCap => "dropped_cap",
        }
    }

    /// The outcome by its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One question and the bot's reply to it, as the agent bridge saw it: carried by the `message.out`
/// event of the reply, or by a `bot.error` event when the reply could not be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exchange {
    pub outcome: Outcome,
    /// How long the agent call took, in milliseconds; none when the agent was not called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Tokens of the question with its context, as the agent's `usage` reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u64>,
    /// Tokens of the answer, as the agent's `usage` reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u64>,
    /// Why the agent gave no answer, or why the reply was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider's id of the message answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
    /// For `failed`: the reply that could not be sent (a sent reply is its event's `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent_reply: Option<String>,
}

impl Exchange {
    /// An exchange that ended with `outcome`, nothing else known yet.
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            latency_ms: None,
            tokens_in: None,
            tokens_out: None,
            error: None,
            question_id: None,
            unsent_reply: None,
        }
    }

    /// This exchange once its reply `text` could not be delivered (`error`): `failed`, keeping what the
    /// agent call cost.
    pub fn undelivered(self, text: String, error: &str) -> Self {
        let error = match self.error {
            Some(why) => format!("{why}; could not send the fallback either: {error}"),
            None => format!("could not send the reply: {error}"),
        };
        Self {
            outcome: Outcome::Failed,
            error: Some(error),
            unsent_reply: Some(text),
            ..self
        }
    }
}

/// Something that happened in a worker, kept until the manager acknowledged it (at-least-once; the
/// manager stores events by `id`, so a repeat is harmless).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerEvent {
    /// Unique over all workers and restarts.
    pub id: String,
    /// Order within this worker process; acknowledgements name it.
    pub seq: u64,
    pub kind: WorkerEventKind,
    /// The chat a message (or a failure) concerns, as its provider names it; none for the bot as a whole.
    #[serde(default, deserialize_with = "super::id_string::option")]
    pub chat_id: Option<String>,
    pub chat_name: Option<String>,
    pub chat_type: Option<ChatKind>,
    /// Who wrote, as the provider names them.
    #[serde(default, deserialize_with = "super::id_string::option")]
    pub from_id: Option<String>,
    pub from_name: Option<String>,
    /// The provider's id of the message.
    #[serde(default, deserialize_with = "super::id_string::option")]
    pub message_id: Option<String>,
    /// A message's text or caption; what happened, for `bot.status` and `bot.error`.
    pub text: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// For `webhook.config`: the configuration set on the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhook::WebhookSetting>,
    /// For the `message.out` of an agent's reply, and the `bot.error` of a reply that could not be
    /// sent: what became of the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
}

/// `GET /api/v1/events` answer: events after a sequence number, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventBatch {
    pub events: Vec<WorkerEvent>,
    /// Events the worker dropped because nobody collected them in time (its buffer is bounded).
    pub dropped: u64,
    /// The bot's health and status as of this answer, when the request asked for them (`status=true`):
    /// the manager's event collector then also serves as its health check, over the one connection it
    /// keeps to the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<super::WorkerReport>,
}

/// `GET /api/v1/events?after=&limit=&wait_ms=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events after this sequence number (default 0: all).
    #[serde(default)]
    #[garde(skip)]
    pub after: Option<u64>,
    /// At most this many (1 to 1000, default 500).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = MAX_EVENTS_PER_BATCH)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// When there are none yet, wait up to this many milliseconds for one (0 to 30000, default 0).
    #[serde(default)]
    #[garde(inner(range(max = MAX_EVENTS_WAIT_MS)))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 30000))]
    pub wait_ms: Option<u64>,
    /// Also answer the bot's health and status (`report`), as they are when the answer leaves.
    #[serde(default)]
    #[garde(skip)]
    pub status: Option<bool>,
}

/// `POST /api/v1/events/ack` body: forget events up to and including `up_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventAck {
    /// The `seq` of the last event the manager stored.
    #[garde(skip)]
    pub up_to: u64,
}

/// `POST /api/v1/events/ack` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckResponse {
    pub success: bool,
    /// How many events the worker forgot.
    pub forgotten: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of `/data/events.jsonl` as workers wrote it before `kind` was typed.
    const OLD_LINE: &str = r#"{"id":"e1","seq":3,"kind":"message.in","chat_id":7,"chat_name":"Ann","chat_type":"private","from_id":7,"from_name":"Ann","message_id":9,"text":"hi","at":1700000000000}"#;

    #[test]
    fn outbox_lines_read_and_write_the_same_names() {
        let event: WorkerEvent = serde_json::from_str(OLD_LINE).unwrap();
        assert_eq!(event.kind, WorkerEventKind::MessageIn);
        assert_eq!(event.chat_type, Some(ChatKind::Private));
        assert_eq!(
            (
                event.chat_id.as_deref(),
                event.from_id.as_deref(),
                event.message_id.as_deref()
            ),
            (Some("7"), Some("7"), Some("9")),
            "numeric ids of older workers read as strings"
        );
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            OLD_LINE
                .replace(r#""chat_id":7"#, r#""chat_id":"7""#)
                .replace(r#""from_id":7"#, r#""from_id":"7""#)
                .replace(r#""message_id":9"#, r#""message_id":"9""#)
        );
        let notice: WorkerEvent = serde_json::from_str(
            r#"{"id":"e2","seq":4,"kind":"bot.status","chat_id":0,"chat_name":null,"chat_type":null,"from_id":null,"from_name":null,"message_id":null,"text":"up","at":1}"#,
        )
        .unwrap();
        assert_eq!(notice.chat_id, None, "an older worker's 0 meant no chat");
        for kind in [
            WorkerEventKind::MessageIn,
            WorkerEventKind::MessageOut,
            WorkerEventKind::BotStatus,
            WorkerEventKind::BotError,
            WorkerEventKind::WebhookConfig,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            if let Some(t) = kind.event_type() {
                assert_eq!(t.as_str(), kind.as_str());
            }
        }
    }
}
