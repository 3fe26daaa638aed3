//! `GET /api/v1/health` and `GET /api/v1/status`: is the bot up, who it is, and its counters.

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

/// The bot's health and status together, as an event collection answers them (`EventBatch::report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerReport {
    /// What `GET /api/v1/health` would answer.
    pub health: HealthStatus,
    /// What `GET /api/v1/status` would answer.
    pub status: StatusResponse,
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

/// Who the bot is, as its provider told (Telegram's `getMe`, Discord's READY, Slack's `auth.test`, the
/// WhatsApp number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotInfo {
    #[serde(deserialize_with = "super::id_string::required")]
    pub id: String,
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
    /// Revision of the bot configuration the worker runs by (the manager sends its own when they differ).
    #[serde(default)]
    pub config_revision: i64,
    /// Paused: the bot receives nothing and answers nothing.
    #[serde(default)]
    pub paused: bool,
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
