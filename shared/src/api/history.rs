//! An instance's past: `status-history`, `errors` (and `clear-errors`), `activity-stats`, and the
//! worker's log (`logs`, plain text).

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::InstanceStatus;

/// What made a change to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// A request to this API.
    Api,
    /// The health poller.
    Health,
    /// The reconciler (crash restarts, adoption at start-up, recovery).
    Reconciler,
    /// An event of the container engine (a worker died or was removed).
    DockerEvent,
}

impl ChangeSource {
    pub const ALL: [Self; 4] = [Self::Api, Self::Health, Self::Reconciler, Self::DockerEvent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Health => "health",
            Self::Reconciler => "reconciler",
            Self::DockerEvent => "docker_event",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// `?limit=` of the history lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// At most this many, newest first: 1 to 1000, default 50.
    #[garde(inner(range(min = 1, max = 1000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

impl HistoryQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(50)
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusChange {
    pub status: InstanceStatus,
    /// `null` for the first status (`creating`).
    pub previous_status: Option<InstanceStatus>,
    pub reason: Option<String>,
    /// The same as `reason` (the replaced system's name).
    pub message: Option<String>,
    pub source: ChangeSource,
    /// RFC 3339.
    pub timestamp: String,
}

/// `GET /api/v1/instances/{id}/status-history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusHistory {
    pub success: bool,
    pub count: u64,
    pub limit: u32,
    /// Newest first.
    pub data: Vec<StatusChange>,
}

/// One recorded error (a crash, a refused token, a worker that did not start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEntry {
    pub message: String,
    pub source: ChangeSource,
    /// RFC 3339.
    pub timestamp: String,
}

/// `GET /api/v1/instances/{id}/errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorList {
    pub success: bool,
    pub count: u64,
    pub limit: u32,
    /// Errors counted since the last `clear-errors` (also those past `limit`).
    pub error_count: i64,
    /// Newest first.
    pub data: Vec<ErrorEntry>,
}

/// `POST /api/v1/instances/{id}/clear-errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClearErrorsResponse {
    pub success: bool,
    /// Recorded errors forgotten.
    pub cleared: u64,
    pub message: String,
}

/// Activity of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityStats {
    pub status: InstanceStatus,
    /// Since the worker last started (0 when it is not running).
    pub uptime_seconds: i64,
    pub uptime_hours: f64,
    /// RFC 3339.
    pub running_since: Option<String>,
    /// Today is the UTC day.
    pub messages_sent_today: i64,
    pub messages_received_today: i64,
    pub messages_sent_total: i64,
    pub messages_received_total: i64,
    /// Percent of health checks answered (100 before the first check).
    pub health_score: f64,
    pub health_checks: i64,
    pub failed_health_checks: i64,
    pub restarts: i64,
    pub crashes_in_a_row: i64,
    /// RFC 3339: the last answered health check.
    pub last_seen: Option<String>,
    /// RFC 3339: the worker's last poll of Telegram.
    pub last_poll_at: Option<String>,
}

/// `GET /api/v1/instances/{id}/activity-stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityStatsResponse {
    pub success: bool,
    pub data: ActivityStats,
}

/// `?tail=&follow=` of `GET /api/v1/instances/{id}/logs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// The last this many lines: 1 to 10000, default 100.
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10000))]
    pub tail: Option<u32>,
    /// Keep the answer open and stream new lines (chunked) until the client leaves.
    #[serde(default)]
    #[garde(skip)]
    pub follow: bool,
}

impl LogQuery {
    pub fn tail(&self) -> u32 {
        self.tail.unwrap_or(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for s in ChangeSource::ALL {
            assert_eq!(ChangeSource::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }

    #[test]
    fn limits_and_tails_are_bounded() {
        assert!(HistoryQuery { limit: Some(0) }.validate().is_err());
        assert!(HistoryQuery { limit: Some(1001) }.validate().is_err());
        assert_eq!(HistoryQuery { limit: None }.limit(), 50);
        let tail = |tail| LogQuery {
            tail,
            follow: false,
        };
        assert!(tail(Some(0)).validate().is_err());
        assert!(tail(Some(10_001)).validate().is_err());
        assert_eq!(tail(None).tail(), 100);
    }
}
