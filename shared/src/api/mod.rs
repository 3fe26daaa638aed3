//! Bodies of the manager's REST API, one module per resource. Requests derive `garde::Validate` (the
//! servers parse them with `crate::http`); responses are what handlers return and clients decode.

pub mod access;
pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod conversations;
pub mod credentials;
pub mod events;
pub mod health;
pub mod history;
pub mod hosts;
pub mod instances;
pub mod lifecycle;
pub mod mcp;
pub mod memory;
pub mod messages;
pub mod overview;
pub mod platform_webhooks;
pub mod providers;
pub mod qr;
pub mod resources;
pub mod schedules;
pub mod settings;
pub mod templates;
pub mod users;
pub mod webhooks;

use serde::{Deserialize, Serialize};

/// The largest `offset` a page may start at (declared in the document too: a generated client must not
/// be able to send a value the server reads differently).
pub const MAX_OFFSET: u32 = 1_000_000_000;

/// `{ "success": true, "message": … }`: the answer of an action with nothing else to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Done {
    pub success: bool,
    pub message: String,
}

impl Done {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
        }
    }
}
