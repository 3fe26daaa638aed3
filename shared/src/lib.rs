//! The botfleet contract: every body the manager's and the worker's APIs speak, as Rust types (serde,
//! with OpenAPI schemas behind the `openapi` feature), the validation rules of what clients send
//! (garde), the event and webhook envelopes, and the names of environment variables, headers and
//! container labels both sides must agree on. Servers enable `server` for the extractors that parse and
//! validate requests into these types.

pub mod agent;
pub mod api;
pub mod chat;
pub mod env;
pub mod error;
pub mod events;
#[cfg(feature = "server")]
pub mod http;
pub mod labels;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod provider;
pub mod rules;
pub mod secret;
pub mod webhook;
pub mod worker_api;

pub use error::{ErrorBody, ErrorCode};
pub use provider::Provider;

/// The key in an `Authorization: Bearer <key>` header value, if the value has that form.
pub fn bearer_key(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
}
