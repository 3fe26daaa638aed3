//! Server-side extractors that turn a request into a contract type exactly once: serde parses, garde
//! validates, and every refusal is the same `ErrorBody` — 400 for what is not JSON (or not a query
//! string), 413 for a body over the limit, 422 naming the field at fault as a path (`agno_config.url`).

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header::CONTENT_TYPE, request::Parts},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use crate::error::{ErrorBody, ErrorCode};

/// A request the extractors refused, answered as an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl Rejection {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody::new(ErrorCode::BadRequest, message, None),
        }
    }

    /// 422 naming `field`; the message is prefixed with the field so it reads on its own.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody::new(
                ErrorCode::ValidationFailed,
                format!("{field}: {message}"),
                Some(field),
            ),
        }
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: ErrorBody::new(ErrorCode::PayloadTooLarge, message, None),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A JSON body of type `T`, parsed and validated.
#[derive(Debug, Clone)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    T: serde::Serialize,
    S: Send + Sync,
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        if !is_json(request.headers().get(CONTENT_TYPE)) {
            return Err(Rejection::bad_request(
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Rejection::too_large("the body is larger than this route accepts")
            } else {
                Rejection::bad_request(format!("could not read the body: {e}"))
            }
        })?;
        parse_json(&bytes).map(ValidJson)
    }
}

fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The request's `Idempotency-Key`, if it has one; a 422 naming it when it is not one value of 1 to 255
/// visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, Rejection> {
    use crate::worker_api::{IDEMPOTENCY_KEY_HEADER, is_idempotency_key};
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if values.next().is_none() && is_idempotency_key(key) => Ok(Some(key.to_string())),
        _ => Err(Rejection::invalid(
            "Idempotency-Key",
            "must be one value of 1 to 255 visible ASCII characters",
        )),
    }
}

/// Parses and validates a JSON document (a body, or a multipart field).
pub fn parse_json<T>(bytes: &[u8]) -> Result<T, Rejection>
where
    T: DeserializeOwned + serde::Serialize + garde::Validate,
    T::Context: Default,
{
    // Syntax first (400), then shape (422): serde_json reports some shape errors of a typed parse
    // (`null` for an enum) as syntax errors.
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Rejection::bad_request(format!("the body is not valid JSON: {e}")))?;
    // serde would also read a struct from an array of its fields in order (`[null, null]`); every body
    // of this API is an object.
    if !json.is_object() {
        return Err(Rejection::invalid("body", "must be a JSON object"));
    }
    let value: T = serde_path_to_error::deserialize(&json)
        .map_err(|e| data_error(&e.path().to_string(), &e.inner().to_string()))?;
    // The same inside: where the value read is an object, the document must have held one.
    if let Ok(read) = serde_json::to_value(&value)
        && let Some(path) = array_read_as_object(&json, &read, String::new())
    {
        return Err(Rejection::invalid(path, "must be a JSON object"));
    }
    validate(&value)?;
    Ok(value)
}

/// The first path where `read` (the typed value, serialized again) is an object but `sent` (the
/// document) held an array: serde reads a struct from an array of its fields in order. Keys the two do
/// not share (aliases, skipped fields) are not compared.
fn array_read_as_object(
    sent: &serde_json::Value,
    read: &serde_json::Value,
    path: String,
) -> Option<String> {
    use serde_json::Value;
    match (sent, read) {
        (Value::Array(_), Value::Object(_)) => Some(path),
        (Value::Object(sent), Value::Object(read)) => sent.iter().find_map(|(key, inner)| {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            read.get(key)
                .and_then(|r| array_read_as_object(inner, r, at))
        }),
        (Value::Array(sent), Value::Array(read)) => sent
            .iter()
            .zip(read)
            .enumerate()
            .find_map(|(i, (s, r))| array_read_as_object(s, r, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Runs the type's garde rules; the first failure becomes a 422 naming its path.
pub fn validate<T>(value: &T) -> Result<(), Rejection>
where
    T: garde::Validate,
    T::Context: Default,
{
    value.validate().map_err(|report| {
        let (path, error) = report
            .iter()
            .next()
            .map(|(p, e)| (p.to_string(), e.to_string()))
            .unwrap_or_default();
        Rejection::invalid(if path.is_empty() { "body".into() } else { path }, error)
    })
}

/// A serde data error at `path` as a 422. serde names a missing or unknown field only in its message
/// (`missing field `token``), with the path pointing at the parent, so the name is taken from there.
fn data_error(path: &str, message: &str) -> Rejection {
    let parent = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.split_once(p))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name);
    let field = match (parent, named) {
        // An unknown field is already the last part of the path.
        (parent, Some(name)) if parent == name || parent.ends_with(&format!(".{name}")) => {
            parent.to_string()
        }
        ("", Some(name)) => name.to_string(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        ("", None) => "body".to_string(),
        (parent, None) => parent.to_string(),
    };
    // serde's message ends with "at line 1 column 42", which says nothing to an API user.
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    Rejection::invalid(field, message)
}

/// Query parameters of type `T`, parsed and validated.
#[derive(Debug, Clone)]
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ValidQuery)
    }
}

/// Parses and validates a query string.
pub fn parse_query<T>(query: &str) -> Result<T, Rejection>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        data_error(&path, &e.inner().to_string())
    })?;
    validate(&value)?;
    Ok(value)
}

/// Parses and validates named text values (the text parts of a `multipart/form-data` body) the way a
/// query string is: each value is read as the field's type, and a refusal names the field.
pub fn parse_fields<T>(
    fields: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
) -> Result<T, Rejection>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        encoded.append_pair(name.as_ref(), value.as_ref());
    }
    parse_query(&encoded.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, serde::Serialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[garde(length(min = 1))]
        url: String,
    }

    #[derive(Debug, Deserialize, serde::Serialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[garde(length(min = 1, max = 8))]
        name: String,
        #[garde(dive)]
        inner: Option<Inner>,
        #[garde(range(min = 1, max = 10))]
        #[serde(default)]
        limit: Option<u32>,
    }

    fn field(r: Result<Body, Rejection>) -> (u16, Option<String>) {
        let r = r.unwrap_err();
        (r.status.as_u16(), r.body.field)
    }

    #[test]
    fn each_refusal_names_its_field_as_a_path() {
        assert!(parse_json::<Body>(br#"{"name":"a"}"#).is_ok());
        assert_eq!(field(parse_json(b"{")), (400, None));
        assert_eq!(
            field(parse_json(b"[null, null]")),
            (422, Some("body".into()))
        );
        // Nor a nested object (serde would read it from the array of its fields).
        assert_eq!(
            field(parse_json(br#"{"name":"a","inner":["https://x"]}"#)),
            (422, Some("inner".into()))
        );
        assert!(parse_json::<Body>(br#"{"name":"a","inner":{"url":"https://x"}}"#).is_ok());
        assert_eq!(field(parse_json(br#"{"name":"a"} x"#)), (400, None));
        assert_eq!(field(parse_json(b"{}")), (422, Some("name".into())));
        assert_eq!(
            field(parse_json(br#"{"name":5}"#)),
            (422, Some("name".into()))
        );
        assert_eq!(
            field(parse_json(br#"{"name":"a","typo":1}"#)),
            (422, Some("typo".into()))
        );
        assert_eq!(
            field(parse_json(br#"{"name":"a","inner":{}}"#)),
            (422, Some("inner.url".into()))
        );
        assert_eq!(
            field(parse_json(br#"{"name":"a","inner":{"url":""}}"#)),
            (422, Some("inner.url".into()))
        );
        assert_eq!(
            field(parse_json(br#"{"name":"much too long"}"#)),
            (422, Some("name".into()))
        );
    }

    #[test]
    fn query_strings_are_checked_the_same_way() {
        assert_eq!(
            parse_query::<Body>("name=a&limit=3").unwrap().limit,
            Some(3)
        );
        assert_eq!(
            field(parse_query("name=a&limit=abc")),
            (422, Some("limit".into()))
        );
        assert_eq!(
            field(parse_query("name=a&limit=0")),
            (422, Some("limit".into()))
        );
    }
}
