//! Webhooks out: the configuration a user sets (on the worker or through the manager), the envelope
//! every delivery carries, the names of its headers, and how it is signed (`Signer`, `sign`, `verify`):
//! `x-botfleet-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.

use garde::Validate;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::events::EventType;

/// Events of an instance's life, written by the manager.
pub const INSTANCE_EVENT_TYPES: &[&str] = &[
    "instance.created",
    "instance.started",
    "instance.stopped",
    "instance.crashed",
    "instance.restarted",
    "instance.failed",
    "instance.adopted",
    "instance.recreated",
    "instance.degraded",
    "instance.config_changed",
    "instance.key_rotated",
    "instance.paused",
    "instance.activated",
    "instance.deleted",
];

/// Events of a bot's messages, written by the worker.
pub const MESSAGE_EVENT_TYPES: &[&str] = &["message.in", "message.out"];

/// What a worker reports about its bot: its connection changed (`bot.status`: connected, token refused,
/// polling again) or something failed (`bot.error`: polling, the agent, a reply). Logged by the manager
/// with the instance events.
pub const BOT_EVENT_TYPES: &[&str] = &["bot.status", "bot.error"];

/// True for every event type a webhook or an event filter may name.
pub fn is_known_event_type(t: &str) -> bool {
    [INSTANCE_EVENT_TYPES, BOT_EVENT_TYPES, MESSAGE_EVENT_TYPES]
        .iter()
        .any(|types| types.contains(&t))
}

/// Every event type, for error messages.
pub fn known_event_types() -> String {
    [MESSAGE_EVENT_TYPES, BOT_EVENT_TYPES, INSTANCE_EVENT_TYPES]
        .concat()
        .join(", ")
}

/// Header with the delivery's event id (the same on every retry, so receivers can drop repeats).
pub const HEADER_EVENT_ID: &str = "x-botfleet-event-id";
/// Header with the event type.
pub const HEADER_EVENT_TYPE: &str = "x-botfleet-event-type";
/// Header with the unix time (seconds) at which this attempt was signed.
pub const HEADER_TIMESTAMP: &str = "x-botfleet-timestamp";
/// Header `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the webhook secret>`.
pub const HEADER_SIGNATURE: &str = "x-botfleet-signature";

/// Shortest secret a user may choose (characters).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret a user may choose (characters).
pub const MAX_SECRET_LEN: usize = 256;
/// Longest webhook URL (characters).
pub const MAX_URL_LEN: usize = 2048;

/// `PUT /api/v1/webhook/config` (worker) and `PUT /api/v1/instances/{id}/webhook/config` (manager).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookConfigRequest {
    /// `http://` or `https://` URL with a host (no whitespace, at most 2048 characters) that receives a
    /// POST per event.
    #[garde(length(chars, max = MAX_URL_LEN), custom(http_url), url)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            format = "uri",
            max_length = 2048,
            pattern = r"^https?://[^\s/?#][^\s]*$"
        )
    )]
    pub url: String,
    /// Event types to deliver (repeats are dropped); empty or absent means every type.
    #[serde(default)]
    #[garde(skip)]
    pub events: Vec<EventType>,
    /// Signing secret, 16 to 256 characters. Write-only: never shown. Absent: the current one is kept,
    /// or one is generated and shown once in this answer.
    #[serde(default)]
    #[garde(inner(length(chars, min = MIN_SECRET_LEN, max = MAX_SECRET_LEN)))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, min_length = 16, max_length = 256)
    )]
    pub secret: Option<String>,
    /// Default true; false keeps the configuration but delivers nothing.
    #[serde(default = "yes")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The URL must be `http://` or `https://`, name a host and hold no whitespace (the schema's pattern
/// `^https?://[^\s/?#][^\s]*$`). The error never echoes the URL (its path or query may hold a token).
fn http_url(url: &str, _: &()) -> garde::Result {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| garde::Error::new("must start with http:// or https://"))?;
    if url.contains(char::is_whitespace) {
        return Err(garde::Error::new("must not contain whitespace"));
    }
    if rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(garde::Error::new("must name a host"));
    }
    Ok(())
}

impl WebhookConfigRequest {
    /// The event filter without repeats, in the order given.
    pub fn unique_events(&self) -> Vec<EventType> {
        let mut events = Vec::with_capacity(self.events.len());
        for e in &self.events {
            if !events.contains(e) {
                events.push(*e);
            }
        }
        events
    }
}

/// A webhook configuration as shown to users: never the secret, except once when it was generated.
/// Also what the manager hands to the worker (`PUT /api/v1/control/webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookConfigView {
    #[garde(skip)]
    pub configured: bool,
    #[garde(skip)]
    pub url: Option<String>,
    /// Event types delivered; empty means every type.
    #[garde(skip)]
    pub events: Vec<EventType>,
    #[garde(skip)]
    pub enabled: bool,
    #[garde(skip)]
    pub has_secret: bool,
    /// Unix ms of the last change; the newer of two configurations wins.
    #[garde(skip)]
    pub updated_at: Option<i64>,
    /// Present only in the answer to the PUT that generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub secret: Option<String>,
}

impl WebhookConfigView {
    /// No webhook.
    pub fn none() -> Self {
        Self {
            configured: false,
            url: None,
            events: Vec::new(),
            enabled: false,
            has_secret: false,
            updated_at: None,
            secret: None,
        }
    }
}

/// A configuration change made on the worker, carried to the manager in the worker's event outbox (over
/// the manager's control-key channel, never to users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSetting {
    pub url: String,
    pub events: Vec<EventType>,
    /// `None` keeps the secret the manager has.
    pub secret: Option<String>,
    pub enabled: bool,
    pub updated_at: i64,
}

/// True when a webhook with this filter wants `event_type`.
pub fn wants(filter: &[EventType], event_type: EventType) -> bool {
    filter.is_empty() || filter.contains(&event_type)
}

/// The body of every delivery (`POST` to the webhook URL, `Content-Type: application/json`), signed as
/// [`Signer`] describes. The same event keeps its `id` over retries and replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEnvelope {
    /// The event id, also in the `x-botfleet-event-id` header: receivers drop repeats by it.
    pub id: String,
    /// The event type, also in the `x-botfleet-event-type` header.
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub instance_id: String,
    /// Unix ms when the event happened.
    pub occurred_at: i64,
    /// What happened; a JSON object whose fields depend on the type. `message.in` / `message.out`:
    /// `chat_id`, `chat_name`, `chat_type`, `from_id`, `from_name`, `message_id`, `text`;
    /// `bot.*` and `instance.*`: `message`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// Signs and verifies deliveries under one webhook secret: the signature header is
/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, where `<timestamp>` is the
/// `x-botfleet-timestamp` header (unix seconds) and `<body>` the exact bytes of the body. Receivers
/// should also refuse timestamps far from their clock, so that a captured request cannot be replayed.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("Signer")
    }
}

impl Signer {
    pub fn new(secret: &str) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key length"),
        }
    }

    fn digest(&self, timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// The `x-botfleet-signature` value for `body` sent at `timestamp` (unix seconds).
    pub fn sign(&self, timestamp: i64, body: impl AsRef<[u8]>) -> String {
        format!(
            "v1={}",
            hex::encode(self.digest(&timestamp.to_string(), body.as_ref()))
        )
    }

    /// True when `signature` (the header value) signs `body` at `timestamp` (the header value, as
    /// received). The comparison takes the same time wherever the signatures differ.
    pub fn verify(&self, timestamp: &str, body: impl AsRef<[u8]>, signature: &str) -> bool {
        let Some(given) = signature
            .trim()
            .strip_prefix("v1=")
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        let expected = self.digest(timestamp, body.as_ref());
        expected.ct_eq(&given).into()
    }
}

/// [`Signer::sign`] under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: impl AsRef<[u8]>) -> String {
    Signer::new(secret).sign(timestamp, body)
}

/// [`Signer::verify`] under `secret`.
pub fn verify(secret: &str, timestamp: &str, body: impl AsRef<[u8]>, signature: &str) -> bool {
    Signer::new(secret).verify(timestamp, body, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<WebhookConfigRequest, String> {
        let r: WebhookConfigRequest = serde_json::from_value(json).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())?;
        Ok(r)
    }

    /// The field a server would name in its 422.
    #[cfg(feature = "server")]
    fn field_of(json: &str) -> Option<String> {
        crate::http::parse_json::<WebhookConfigRequest>(json.as_bytes())
            .err()
            .and_then(|r| r.body.field)
    }

    fn request(url: &str) -> Result<WebhookConfigRequest, String> {
        parse(serde_json::json!({ "url": url }))
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(request("https://example.com/hook").is_ok());
        assert!(request("http://10.0.0.1:8080").is_ok());
        assert!(request("http://user@example.com/p?q=1#f").is_ok());
        for bad in [
            "ftp://x",
            "http:///path",
            "https://",
            "http://?q",
            " https://example.com",
            "https://example.com/a b",
            "example.com",
            "http://exa mple.com",
        ] {
            assert!(request(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(request(&long).is_err());
    }

    #[test]
    fn url_errors_do_not_echo_the_url() {
        let err = request("ftp://example.com/?token=hush").unwrap_err();
        assert!(!err.contains("hush"), "{err}");
    }

    #[test]
    fn events_must_be_known_and_are_kept_once() {
        let r = parse(serde_json::json!({"url": "https://example.com",
            "events": ["message.in", "message.in", "instance.stopped"]}))
        .unwrap();
        assert_eq!(
            r.unique_events(),
            vec![EventType::MessageIn, EventType::InstanceStopped]
        );
        assert!(r.enabled, "enabled by default");
        assert!(
            parse(serde_json::json!({"url": "https://example.com", "events": ["message.typo"]}))
                .is_err()
        );
        #[cfg(feature = "server")]
        assert_eq!(
            field_of(r#"{"url":"https://example.com","events":["message.in","message.typo"]}"#),
            Some("events[1]".into())
        );
    }

    #[test]
    fn secrets_have_16_to_256_characters_and_are_never_echoed() {
        let with = |s: &str| parse(serde_json::json!({"url": "https://example.com", "secret": s}));
        assert!(with(&"s".repeat(16)).is_ok());
        assert!(with(&"é".repeat(256)).is_ok(), "characters, not bytes");
        let err = with("short-secret").unwrap_err();
        assert!(!err.contains("short-secret"), "{err}");
        assert!(with(&"s".repeat(257)).is_err());
        #[cfg(feature = "server")]
        assert_eq!(
            field_of(r#"{"url":"https://example.com","secret":"short"}"#),
            Some("secret".into())
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(parse(serde_json::json!({"url": "https://example.com", "nope": 1})).is_err());
        #[cfg(feature = "server")]
        assert_eq!(field_of(r#"{"nope":1}"#), Some("nope".into()));
    }

    #[test]
    fn an_empty_filter_wants_everything() {
        assert!(wants(&[], EventType::MessageIn));
        assert!(!wants(&[EventType::MessageOut], EventType::MessageIn));
        assert!(wants(&[EventType::MessageIn], EventType::MessageIn));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer from Python's hmac module.
        assert_eq!(
            sign("key", 1_700_000_000, r#"{"a":1}"#),
            "v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
        assert_ne!(sign("key", 1, "x"), sign("key", 2, "x"));
        assert_ne!(sign("key", 1, "x"), sign("other", 1, "x"));
    }

    #[test]
    fn verify_accepts_only_the_right_signature() {
        let signer = Signer::new("key");
        let sig = signer.sign(1_700_000_000, r#"{"a":1}"#);
        assert!(signer.verify("1700000000", r#"{"a":1}"#, &sig));
        assert!(verify(
            "key",
            "1700000000",
            r#"{"a":1}"#,
            &sig.to_uppercase().replace("V1=", "v1=")
        ));
        assert!(!verify("other", "1700000000", r#"{"a":1}"#, &sig));
        assert!(!signer.verify("1700000001", r#"{"a":1}"#, &sig));
        assert!(!signer.verify("1700000000", r#"{"a":2}"#, &sig));
        assert!(!signer.verify("1700000000", r#"{"a":1}"#, &sig[..sig.len() - 2]));
        assert!(!signer.verify("1700000000", r#"{"a":1}"#, &sig["v1=".len()..]));
        assert!(!signer.verify("1700000000", r#"{"a":1}"#, "v1=zz"));
        assert!(!signer.verify("1700000000", r#"{"a":1}"#, ""));
        assert_eq!(format!("{signer:?}"), "Signer");
    }

    #[test]
    fn the_envelope_keeps_its_wire_names() {
        let envelope = WebhookEnvelope {
            id: "e1".into(),
            event_type: EventType::MessageIn,
            instance_id: "i1".into(),
            occurred_at: 5,
            data: serde_json::json!({"text": "hi"})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "e1", "type": "message.in", "instance_id": "i1",
                "occurred_at": 5, "data": {"text": "hi"}})
        );
        let back: WebhookEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
    }
}
