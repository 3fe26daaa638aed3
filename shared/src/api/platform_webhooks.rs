//! `POST /api/v1/webhooks/{platform}/{instance_id}` (and WhatsApp's `GET` handshake): platform callbacks
//! in, verified each platform's way, kept and handed to the instance's worker; and
//! `GET /api/v1/instances/{id}/platform-callbacks`, what was received and whether the worker took it.

use garde::Validate;
use serde::{Deserialize, Serialize};

/// A verified callback was kept for the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallbackAccepted {
    pub success: bool,
    /// The callback's id in `GET …/platform-callbacks`.
    pub id: String,
}

/// Slack's `url_verification`: the challenge, echoed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlackChallenge {
    pub challenge: String,
}

/// Discord's interaction response: `1` (PONG) to a PING, `5` (a deferred answer) to anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscordInteractionResponse {
    #[serde(rename = "type")]
    pub kind: u8,
}

/// One received callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformCallbackView {
    pub id: String,
    pub platform: String,
    /// RFC 3339.
    pub received_at: String,
    /// Deliveries to the worker tried so far.
    pub attempts: i64,
    /// RFC 3339, once the worker took it.
    pub delivered_at: Option<String>,
    /// RFC 3339, while it waits.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

/// `GET /api/v1/instances/{id}/platform-callbacks`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformCallbackList {
    pub success: bool,
    pub count: usize,
    /// Callbacks the worker has not taken yet.
    pub pending: usize,
    pub callbacks: Vec<PlatformCallbackView>,
}

/// `?limit=` (1 to 500, default 50).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CallbackListQuery {
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 500)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// The worker's answer to a callback handed on (`POST /api/v1/control/callback`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallbackDelivered {
    pub success: bool,
    /// Messages the callback carried.
    pub messages: usize,
}
