//! `/api/v1/instances/{id}/webhook/*`: the webhook configuration (its bodies are the ones the worker
//! speaks too, in `crate::webhook`) and the delivery outbox with its replays.

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::{events::EventType, webhook::WebhookEnvelope};

/// Where a delivery is in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (the dead-letter list); replay it to try again.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: &'static [DeliveryStatus] = &[Self::Pending, Self::Delivered, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The status by its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most deliveries a page may ask for.
pub const MAX_DELIVERIES: u32 = 1000;
/// Deliveries in a page unless `limit` says otherwise.
pub const DEFAULT_DELIVERIES: u32 = 50;

/// `?status=&limit=` of `GET /api/v1/instances/{id}/webhook/deliveries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state (`dead`: the dead-letter list); all when absent.
    #[garde(skip)]
    pub status: Option<DeliveryStatus>,
    /// At most this many, 1 to 1000 (default 50).
    #[garde(inner(range(min = 1, max = MAX_DELIVERIES)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

impl DeliveriesQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_DELIVERIES)
    }
}

/// A delivery in the outbox (never the URL or the secret). Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    /// The event id (the envelope's `id`); replays name it.
    pub id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// Attempts since it was queued (or last replayed).
    pub attempts: i64,
    /// When the next attempt is due; only while `pending`.
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// HTTP status of the receiver's last answer, if it answered.
    pub last_status: Option<i64>,
    pub created_at: String,
    /// When it was delivered or given up; `null` while pending.
    pub finished_at: Option<String>,
    /// The body sent, as signed; `null` only if the stored body could not be read.
    pub payload: Option<WebhookEnvelope>,
}

/// `GET /api/v1/instances/{id}/webhook/deliveries`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    pub success: bool,
    pub count: usize,
    pub deliveries: Vec<DeliveryView>,
}

/// `202` answer of a replay: how many deliveries were queued again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayResponse {
    pub success: bool,
    pub queued: u64,
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_query;

    fn field(query: &str) -> Option<String> {
        parse_query::<DeliveriesQuery>(query)
            .err()
            .and_then(|r| r.body.field)
    }

    #[test]
    fn the_query_takes_a_known_status_and_a_bounded_limit() {
        let q = parse_query::<DeliveriesQuery>("status=dead&limit=5").unwrap();
        assert_eq!((q.status, q.limit()), (Some(DeliveryStatus::Dead), 5));
        let q = parse_query::<DeliveriesQuery>("").unwrap();
        assert_eq!((q.status, q.limit()), (None, 50));
        assert_eq!(field("status=weird"), Some("status".into()));
        assert_eq!(field("limit=0"), Some("limit".into()));
        assert_eq!(field("limit=1001"), Some("limit".into()));
        assert_eq!(field("nope=1"), Some("nope".into()));
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn statuses_keep_their_wire_names() {
        for s in DeliveryStatus::ALL {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(DeliveryStatus::parse("weird"), None);
    }
}
