//! The one error body both APIs answer with, and its machine-readable codes.

use serde::{Deserialize, Serialize};

/// What kind of failure an error body reports; stable, for clients to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, has the wrong `Content-Type`, or the query string does not parse.
    BadRequest,
    /// A field is missing or wrong; `field` names it.
    ValidationFailed,
    /// No key, or a key that is not accepted.
    Unauthorized,
    /// The key is valid but may not do this.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The request conflicts with the current state (another operation, a used token, a state).
    Conflict,
    /// The bot is paused: it sends nothing until it is activated (409).
    Paused,
    PayloadTooLarge,
    RateLimited,
    /// The provider (Telegram) refused the request for a reason of its own (chat not found, bot blocked,
    /// text too long); `error` carries its words. Retrying the same request will not help.
    ProviderRefused,
    /// A service we called (Telegram, an agent) failed or could not be reached.
    UpstreamFailed,
    /// Not possible yet (the bot has not connected, no sample taken).
    NotReady,
    /// No free port is left in the configured range.
    PortsExhausted,
    /// The container engine refused or cannot be reached.
    RuntimeUnavailable,
    /// A fault of our own; the detail is in the server's log.
    Internal,
}

/// The JSON body of every error answered by the manager and the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Always `false`, so clients of the replaced system keep working.
    pub success: bool,
    pub code: ErrorCode,
    /// What is wrong, for a human.
    pub error: String,
    /// The request field at fault, when one is, as a path: `agno_config.url`, `recipients[2].chatId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, error: impl Into<String>, field: Option<String>) -> Self {
        Self {
            success: false,
            code,
            error: error.into(),
            field,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}
