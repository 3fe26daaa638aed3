//! The MCP face of botfleet's REST APIs (the worker's per-bot API and the manager's fleet API): each
//! tool is a call of a REST route, made in process with the caller's own key, so a tool gets exactly
//! the authorization, validation, throttles, events and audit of the route it calls.

pub mod schema;
mod server;

pub use server::{
    Catalog, Effect, Relayed, ResourceSpec, RestCall, RestMcp, ToolSpec, relay, service,
    tool_result,
};

use rmcp::model::JsonObject;
use shared::ErrorBody;

/// The tool's arguments as `T`, checked as the API checks a body (`garde` rules); a refusal names the
/// argument, as a 422 of the API does.
pub fn arguments<T>(args: &JsonObject) -> Result<T, ErrorBody>
where
    T: serde::de::DeserializeOwned + serde::Serialize + garde::Validate,
    T::Context: Default,
{
    let bytes = serde_json::to_vec(args)
        .map_err(|e| ErrorBody::new(shared::ErrorCode::BadRequest, e.to_string(), None))?;
    shared::http::parse_json::<T>(&bytes).map_err(|rejection| rejection.body)
}

/// The refusal of a tool name a catalog does not know (the server refuses such a call before asking it).
pub fn unknown_tool(name: &str) -> ErrorBody {
    ErrorBody::new(
        shared::ErrorCode::NotFound,
        format!("no tool named {name}"),
        None,
    )
}

/// One path segment, percent-encoded (an id a caller typed cannot leave its segment).
pub fn segment(value: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SEGMENT).to_string()
}

/// `?a=1&b=2` of the fields of `query` that are set (empty when none is).
pub fn query<T: serde::Serialize>(query: &T) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_climb_out_of_its_place() {
        assert_eq!(segment("../admin?x=1"), "%2E%2E%2Fadmin%3Fx%3D1");
        assert_eq!(segment("abc-1_2~3"), "abc-1_2~3");
    }
}
