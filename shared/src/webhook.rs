//! Webhooks out: the configuration a user sets (on the worker or through the manager), and the names of
//! the headers every delivery carries.

use serde::{Deserialize, Serialize};

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

/// Shortest secret a user may choose.
pub const MIN_SECRET_LEN: usize = 16;

/// `PUT /api/v1/webhook/config` (worker) and `PUT /api/v1/instances/{id}/webhook/config` (manager).
/// The garde rules are those of [`WebhookConfigRequest::validate`], without its trimming of the URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookConfigRequest {
    /// `http://` or `https://` URL that receives a POST per event (at most 2048 characters).
    #[garde(length(bytes, max = 2048), custom(webhook_url))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = "^https?://[^/?#]")
    )]
    pub url: String,
    /// Event types to deliver; empty or absent means every type.
    #[serde(default)]
    #[garde(custom(known_events))]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::events::EventType>))]
    pub events: Vec<String>,
    /// Signing secret (16 to 256 characters). Absent: the current one is kept, or one is generated
    /// and shown once in this answer.
    #[serde(default)]
    #[garde(inner(custom(secret_length)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 16, max_length = 256))]
    pub secret: Option<String>,
    /// Default true; false keeps the configuration but delivers nothing.
    #[serde(default = "yes")]
    #[garde(skip)]
    pub enabled: bool,
}

/// garde rule: an `http://` or `https://` URL naming a host.
fn webhook_url(url: &str, _: &()) -> garde::Result {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| garde::Error::new("must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(garde::Error::new("must name a host"));
    }
    Ok(())
}

/// garde rule: every event type is known.
fn known_events(events: &[String], _: &()) -> garde::Result {
    match events.iter().find(|e| !is_known_event_type(e)) {
        Some(e) => Err(garde::Error::new(format!(
            "unknown event type {e:?}; known: {}",
            known_event_types()
        ))),
        None => Ok(()),
    }
}

/// garde rule: a secret of 16 characters to 256 bytes.
fn secret_length(secret: &str, _: &()) -> garde::Result {
    if secret.chars().count() < MIN_SECRET_LEN || secret.len() > 256 {
        Err(garde::Error::new(format!(
            "must have {MIN_SECRET_LEN} to 256 characters"
        )))
    } else {
        Ok(())
    }
}

fn yes() -> bool {
    true
}

/// A webhook configuration as shown to users: never the secret, except once when it was generated. The
/// manager also hands its configuration to the worker in this shape (`PUT /api/v1/control/webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[garde(allow_unvalidated)]
pub struct WebhookConfigView {
    pub configured: bool,
    pub url: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    pub has_secret: bool,
    /// Unix ms of the last change; the newer of two configurations wins.
    pub updated_at: Option<i64>,
    /// Present only in the answer to the PUT that generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub events: Vec<String>,
    /// `None` keeps the secret the manager has.
    pub secret: Option<String>,
    pub enabled: bool,
    pub updated_at: i64,
}

/// The request field at fault and why.
pub type Invalid = (&'static str, String);

impl WebhookConfigRequest {
    /// Checks the URL, the event filter and the secret; returns the events without repeats.
    pub fn validate(&self) -> Result<Vec<String>, Invalid> {
        let url = self.url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(("url", "url must start with http:// or https://".to_string()))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(("url", "url must name a host".to_string()));
        }
        if url.len() > 2048 {
            return Err(("url", "url must be at most 2048 characters".to_string()));
        }
        let mut events: Vec<String> = Vec::new();
        for e in &self.events {
            if !is_known_event_type(e) {
                return Err((
                    "events",
                    format!("unknown event type {e:?}; known: {}", known_event_types()),
                ));
            }
            if !events.contains(e) {
                events.push(e.clone());
            }
        }
        if let Some(secret) = &self.secret
            && (secret.chars().count() < MIN_SECRET_LEN || secret.len() > 256)
        {
            return Err((
                "secret",
                format!("secret must have {MIN_SECRET_LEN} to 256 characters"),
            ));
        }
        Ok(events)
    }
}

/// True when a webhook with this filter wants `event_type`.
pub fn wants(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|e| e == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> WebhookConfigRequest {
        WebhookConfigRequest {
            url: url.into(),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(request("https://example.com/hook").validate().is_ok());
        assert!(request("http://10.0.0.1:8080").validate().is_ok());
        assert_eq!(request("ftp://x").validate().unwrap_err().0, "url");
        assert_eq!(request("http:///path").validate().unwrap_err().0, "url");
    }

    #[test]
    fn events_must_be_known_and_secrets_long() {
        let mut r = request("https://example.com");
        r.events = vec!["message.in".into(), "message.in".into()];
        assert_eq!(r.validate().unwrap(), vec!["message.in".to_string()]);
        r.events = vec!["message.typo".into()];
        assert_eq!(r.validate().unwrap_err().0, "events");
        r.events.clear();
        r.secret = Some("short".into());
        assert_eq!(r.validate().unwrap_err().0, "secret");
    }

    #[test]
    fn the_garde_rules_refuse_what_validate_refuses() {
        let field = |r: &WebhookConfigRequest| {
            garde::Validate::validate(r)
                .err()
                .and_then(|report| report.iter().next().map(|(p, _)| p.to_string()))
        };
        let mut r = request("https://example.com/hook");
        r.events = vec!["message.in".into(), "instance.stopped".into()];
        r.secret = Some("s".repeat(16));
        assert_eq!(field(&r), None);
        for url in [
            "ftp://x",
            "http:///path",
            "https://",
            " https://example.com",
        ] {
            assert_eq!(field(&request(url)).as_deref(), Some("url"), "{url}");
        }
        r.events = vec!["message.typo".into()];
        assert_eq!(field(&r).as_deref(), Some("events"));
        r.events.clear();
        r.secret = Some("short".into());
        assert_eq!(field(&r).as_deref(), Some("secret"));
        r.secret = Some("s".repeat(257));
        assert_eq!(field(&r).as_deref(), Some("secret"));
    }

    #[test]
    fn an_empty_filter_wants_everything() {
        assert!(wants(&[], "message.in"));
        assert!(!wants(&["message.out".into()], "message.in"));
    }
}
