//! Wire types spoken by the botfleet manager and its workers: request and response bodies, status enums,
//! and the names of environment variables, headers and container labels both sides must agree on.

pub mod env;
pub mod labels;
pub mod webhook;
pub mod worker_api;

use serde::{Deserialize, Serialize};

/// The messaging provider a bot runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Telegram,
}

impl Provider {
    /// Every provider this build supports, for error messages.
    pub const ALL: &'static [Provider] = &[Provider::Telegram];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Telegram => "telegram",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }
}

/// The key in an `Authorization: Bearer <key>` header value, if the value has that form.
pub fn bearer_key(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error answered by the manager and the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Always `false`, so clients of the replaced system keep working.
    pub success: bool,
    /// A short machine-readable code, e.g. `validation_failed`, `not_found`, `conflict`.
    pub code: String,
    /// What is wrong, for a human.
    pub error: String,
    /// The request field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, error: impl Into<String>, field: Option<String>) -> Self {
        Self {
            success: false,
            code: code.into(),
            error: error.into(),
            field,
        }
    }
}
