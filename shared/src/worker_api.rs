//! Bodies of the worker's per-instance REST API.

use serde::{Deserialize, Serialize};

/// `healthy` once the bot passed `getMe`, `unhealthy` before and after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

/// `GET /api/v1/health` (no auth).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub status: HealthStatus,
    pub provider: String,
    /// RFC 3339.
    pub timestamp: String,
}

/// Connection of the bot to its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConnectionStatus {
    /// `getMe` not yet answered.
    Connecting,
    /// `getMe` answered; the bot polls for updates.
    Connected,
    /// The provider rejected the token; retrying cannot help.
    Unauthorized,
    /// The worker is shutting down.
    Disconnected,
}

/// The bot's state in the vocabulary of the replaced system (`READY` when it can send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BotState {
    Starting,
    Ready,
    AuthFailed,
    Stopping,
}

/// Who the bot is, as `getMe` told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotInfo {
    pub id: u64,
    pub first_name: String,
    pub username: Option<String>,
    pub is_bot: bool,
}

/// Messages the worker has handled since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageCounts {
    pub sent: u64,
    pub received: u64,
}

/// `GET /api/v1/status` (bearer).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusResponse {
    pub provider: String,
    pub status: ConnectionStatus,
    pub info: Option<BotInfo>,
    pub state: BotState,
    pub messages: MessageCounts,
    /// Milliseconds since Telegram last answered a long poll (`None` before the first answer). An age, not
    /// a time, so the manager needs no clock agreement with the worker's host.
    #[serde(default)]
    pub last_poll_age_ms: Option<u64>,
    /// Milliseconds spent in successful Telegram send calls since the worker started (with
    /// `messages.sent`, the average send latency).
    #[serde(default)]
    pub send_latency_ms_total: u64,
    /// Use of the instance API key since the worker started.
    #[serde(default)]
    pub api_key_usage: KeyUsage,
    /// `updated_at` of the webhook configuration the worker holds, if any; the manager sends its own
    /// when they differ (after a restart the worker holds none).
    #[serde(default)]
    pub webhook_updated_at: Option<i64>,
    /// The provider's words when it last refused us, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How often the user's API key was used since the worker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyUsage {
    pub uses: u64,
    /// Milliseconds since the last use, if any.
    pub last_used_age_ms: Option<u64>,
}

/// `POST /api/v1/send` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub message_id: String,
    pub provider: String,
}

/// Something that happened in a worker, kept until the manager acknowledged it (at-least-once; the
/// manager stores events by `id`, so a repeat is harmless).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerEvent {
    /// Unique over all workers and restarts.
    pub id: String,
    /// Order within this worker process; acknowledgements name it.
    pub seq: u64,
    /// `message.in`, `message.out`.
    pub kind: String,
    pub chat_id: i64,
    pub chat_name: Option<String>,
    pub chat_type: Option<String>,
    pub from_id: Option<u64>,
    pub from_name: Option<String>,
    pub message_id: Option<i32>,
    pub text: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// For `webhook.config`: the configuration set on the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhook::WebhookSetting>,
}

/// `GET /api/v1/events` answer: events after a sequence number, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventBatch {
    pub events: Vec<WorkerEvent>,
    /// Events the worker dropped because nobody collected them in time (its buffer is bounded).
    pub dropped: u64,
}

/// `POST /api/v1/events/ack` body: forget events up to and including `up_to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventAck {
    pub up_to: u64,
}

/// The worker's OpenAPI document, generated from its handlers and checked in (the worker's test
/// `the_checked_in_openapi_document_is_current` keeps it so), for the manager to serve beside its own.
pub const OPENAPI_JSON: &str = include_str!("../openapi/worker.json");

/// [`OPENAPI_JSON`] parsed.
pub fn openapi_document() -> serde_json::Value {
    serde_json::from_str(OPENAPI_JSON).expect("the checked-in worker document is valid JSON")
}
