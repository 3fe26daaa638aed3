//! `GET /api/v1/instances/{id}/qr`, `/current-qr` and `/qr-history`: the QR code a bot that pairs with a
//! phone shows (seed `002`'s WhatsApp login). Providers that log in with credentials have none: the
//! first two answer the seed's 404, the history is empty.

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// `GET …/qr` and `…/current-qr` when a code is waiting to be scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QrCode {
    pub success: bool,
    pub qr_code: String,
    /// `qr_ready`.
    pub auth_status: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

/// The seed's 404 when there is no code: the error body, plus the seed's `message` (absent when the
/// instance itself is unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QrUnavailable {
    /// Always `false`.
    pub success: bool,
    pub code: ErrorCode,
    /// `QR code not available`.
    pub error: String,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One code that was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QrHistoryEntry {
    pub qr_code: String,
    /// RFC 3339.
    pub generated_at: String,
    /// RFC 3339.
    pub expires_at: String,
    pub source: String,
}

/// `GET …/qr-history?limit=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QrHistory {
    pub success: bool,
    pub data: Vec<QrHistoryEntry>,
    pub count: usize,
    pub limit: u32,
}

/// `?limit=` of the history: 1 to 100, default 10.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct QrHistoryQuery {
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 100)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
}

impl QrHistoryQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(10)
    }
}
