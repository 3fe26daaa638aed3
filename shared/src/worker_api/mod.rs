//! Bodies of the worker's per-instance REST API, one module per resource: health and status, sending
//! (text, media, bulk jobs), what the bot has seen (chats, contacts, messages) and the event outbox the
//! manager collects. Requests derive `garde::Validate` (the worker parses them with `crate::http`);
//! everything is re-exported here, so `shared::worker_api::SendRequest` names any of them.

mod bulk;
mod config;
mod conversations;
mod events;
mod send;
mod status;

pub use bulk::*;
pub use config::*;
pub use conversations::*;
pub use events::*;
pub use send::*;
pub use status::*;

/// The worker's OpenAPI document, generated from its handlers and checked in (the worker's test
/// `the_checked_in_openapi_document_is_current` keeps it so), for the manager to serve beside its own.
pub const OPENAPI_JSON: &str = include_str!("../../openapi/worker.json");

/// [`OPENAPI_JSON`] parsed.
pub fn openapi_document() -> serde_json::Value {
    serde_json::from_str(OPENAPI_JSON).expect("the checked-in worker document is valid JSON")
}

use crate::rules::not_blank;
