//! Bodies of the worker's per-instance REST API, one module per resource: health and status, sending
//! (text, media, bulk jobs), what the bot has seen (chats, contacts, messages) and the event outbox the
//! manager collects. Requests derive `garde::Validate` (the worker parses them with `crate::http`);
//! everything is re-exported here, so `shared::worker_api::SendRequest` names any of them.

mod bulk;
mod conversations;
mod events;
mod send;
mod status;

pub use bulk::*;
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

/// A space for the "not blank" rule: Rust's whitespace, plus what other validators count as one (Python's
/// `\s` also matches U+001C to U+001F, ECMAScript's U+FEFF), so a text the schema's `\S` pattern refuses
/// in any of them is refused here too.
fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}' | '\u{feff}')
}

/// garde rule: some character other than a space (the schema says `pattern: \S`).
fn not_blank(s: &str, _: &()) -> garde::Result {
    if s.chars().all(is_space) {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blank_means_spaces_of_any_validator() {
        assert!(super::not_blank("hi", &()).is_ok());
        assert!(super::not_blank(" \u{a0}x", &()).is_ok());
        for blank in ["", "  ", "\t\n", "\u{1c}", "\u{feff}", "\u{3000}"] {
            assert!(super::not_blank(blank, &()).is_err(), "{blank:?}");
        }
    }
}
