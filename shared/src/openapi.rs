//! What both OpenAPI documents share: the error responses every route can answer, added by the shape of
//! the operation (so no route forgets one), and the checks the documents are tested against.

use utoipa::openapi::{
    Content, OpenApi, Ref, ResponseBuilder,
    path::{Operation, ParameterIn},
};

/// Adds to every operation the error responses that follow from its shape, unless the route already
/// documents that status with its own words:
/// - a security requirement: 401 (no key or a wrong key);
/// - a path parameter: 404 (nothing by that id);
/// - a query string: 400 (does not parse) and 422 (a parameter out of range, named in `field`);
/// - a request body: 400 (not JSON, wrong `Content-Type`), 413 (too large), 422 (a field, named).
pub struct StandardErrors;

impl utoipa::Modify for StandardErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for op in operations_mut(openapi) {
            add_standard_errors(op);
        }
    }
}

/// Every GET, PUT, POST, DELETE and PATCH operation of the document.
fn operations_mut(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

fn add_standard_errors(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let params_in = |place: ParameterIn| {
        op.parameters.iter().flatten().any(|p| match p {
            utoipa::openapi::RefOr::T(p) => p.parameter_in == place,
            utoipa::openapi::RefOr::Ref(_) => false,
        })
    };
    let (path, query, body) = (
        params_in(ParameterIn::Path),
        params_in(ParameterIn::Query),
        op.request_body.is_some(),
    );
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if query || body {
        add(
            "400",
            "The body is not JSON, its Content-Type is not application/json, or the query string does not parse",
        );
        add(
            "422",
            "A field or parameter is missing or wrong; `field` names it",
        );
    }
    if secured {
        add("401", "No bearer key, or a key that is not accepted");
    }
    if path {
        add("404", "Nothing exists by that id");
    }
    if body {
        add("413", "The body is larger than this route accepts");
    }
}

/// The answers of a server whose credentials have roles, scopes and request-rate limits (the
/// manager's): every secured operation may also answer 403 and 429.
pub struct ScopedCredentialErrors;

impl utoipa::Modify for ScopedCredentialErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for op in operations_mut(openapi) {
            if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                continue;
            }
            for (status, description) in [
                (
                    "403",
                    "The credential is valid but may not do this (its role, scopes or instance binding)",
                ),
                (
                    "429",
                    "Too many requests from this key or user; the `Retry-After` header says when to try again",
                ),
            ] {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
}

/// A response whose body is the shared `ErrorBody`.
pub fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
        .into()
}

/// Operation ids that appear more than once (a valid document has none).
pub fn duplicate_operation_ids(openapi: &OpenApi) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for item in openapi.paths.paths.values() {
        for op in [
            &item.get,
            &item.put,
            &item.post,
            &item.delete,
            &item.patch,
            &item.head,
            &item.options,
            &item.trace,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect()
}

/// Panics unless every operation id is unique and every success answer has a schema: the unit test
/// both services run on their own document.
pub fn assert_complete(openapi: &OpenApi) {
    assert_eq!(
        duplicate_operation_ids(openapi),
        Vec::<String>::new(),
        "duplicate operation ids"
    );
    assert_eq!(
        untyped_success_responses(openapi),
        Vec::<String>::new(),
        "success answers without a schema"
    );
}

/// Operations whose success answer has no schema (`METHOD path`), for the tests that keep it at zero.
pub fn untyped_success_responses(openapi: &OpenApi) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in &openapi.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ] {
            let Some(op) = op else { continue };
            for (status, response) in &op.responses.responses {
                if !status.starts_with('2') {
                    continue;
                }
                let utoipa::openapi::RefOr::T(response) = response else {
                    continue;
                };
                let untyped = response.content.values().any(|c| match c {
                    utoipa::openapi::RefOr::Ref(_) => false,
                    utoipa::openapi::RefOr::T(c) => match &c.schema {
                        None => true,
                        Some(utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(o))) => {
                            // `serde_json::Value` comes out as an object with no type and no properties.
                            o.schema_type == utoipa::openapi::schema::SchemaType::AnyValue
                                && o.properties.is_empty()
                        }
                        Some(_) => false,
                    },
                }) && status != "204";
                if untyped {
                    out.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    out
}
