//! `GET /api/v1/instances/{id}/settings/history` and `POST …/settings/rollback/{history_id}` (seed 001's
//! settings history): every change of an instance's configuration, key by key, and the way back.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::InstanceView;

/// The scopes of the history: `bot` (the bot configuration and its pause), `limits`, `credentials`.
pub const SETTINGS_SCOPES: &[&str] = &["bot", "limits", "credentials"];

fn known_scope(scope: &str, _: &()) -> garde::Result {
    if SETTINGS_SCOPES.contains(&scope) {
        Ok(())
    } else {
        Err(garde::Error::new(format!(
            "must be one of {}",
            SETTINGS_SCOPES.join(", ")
        )))
    }
}

/// `?scope=&key=&limit=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct SettingsHistoryQuery {
    /// `bot`, `limits` or `credentials`.
    #[garde(inner(custom(known_scope)))]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, pattern = "^(bot|limits|credentials)$"))]
    pub scope: Option<String>,
    /// One key (`system_prompt`, `paused`, `memory_limit_mb`, …).
    #[garde(inner(length(min = 1, max = 64)))]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 64))]
    pub key: Option<String>,
    /// 1 to 500, default 50.
    #[garde(inner(range(min = 1, max = 500)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// One changed key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsHistoryEntry {
    pub id: String,
    pub scope: String,
    pub key: String,
    /// The value before (JSON); `null` for a default, and always for a secret.
    pub old_value: Option<serde_json::Value>,
    pub new_value: Option<serde_json::Value>,
    /// A secret (an LLM key, credentials): recorded as changed, never with its values.
    pub secret: bool,
    /// `user:<id>`, `key:<id>` or `bootstrap`.
    pub changed_by: String,
    /// RFC 3339.
    pub changed_at: String,
    /// `created`, `updated`, `cleared` or `rollback`.
    pub change_type: String,
}

/// `GET /api/v1/instances/{id}/settings/history`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsHistory {
    pub success: bool,
    pub count: usize,
    pub history: Vec<SettingsHistoryEntry>,
}

/// `POST /api/v1/instances/{id}/settings/rollback/{history_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackResponse {
    pub success: bool,
    pub message: String,
    pub instance: InstanceView,
}
