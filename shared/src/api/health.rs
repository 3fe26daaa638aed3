//! `GET /health` (no auth) and `GET /api/v1/health/history`: the manager's own health, now and sampled.

use garde::Validate;
use serde::{Deserialize, Serialize};

/// Whether the manager can serve: `unhealthy` when its database does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ManagerStatus {
    Healthy,
    Unhealthy,
}

/// Whether a service the manager depends on answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Ok,
    Unreachable,
}

impl Reachability {
    pub fn of(answered: bool) -> Self {
        if answered {
            Self::Ok
        } else {
            Self::Unreachable
        }
    }
}

/// Whether this manager leads the fleet. Every manager on one database serves the API; the leader alone
/// changes workers, checks their health, collects their events and delivers webhooks. A manager on
/// SQLite always leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ManagerRole {
    Leader,
    Follower,
}

/// `GET /health`; the same body comes with 503 when the database is unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub status: ManagerStatus,
    /// Seconds since the manager started.
    pub uptime: f64,
    /// The manager's resident memory.
    pub memory_mb: f64,
    /// Requests being served right now, this one included.
    pub active_tasks: i64,
    /// RFC 3339.
    pub timestamp: String,
    pub version: String,
    pub database: Reachability,
    /// The container engine, as the reconciler last found it. While it is unreachable the manager serves
    /// reads from its cache and refuses writes with 503.
    pub engine: Reachability,
    /// `docker` or `swarm`.
    pub runtime: String,
    /// Instances the manager knows.
    pub instances: u64,
    pub role: ManagerRole,
}

/// `?hours=&limit=` of `GET /api/v1/health/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HealthHistoryQuery {
    /// How far back, in hours: more than 0, at most 720 (30 days). Default 24.
    #[garde(inner(custom(hours_in_range)))]
    #[cfg_attr(feature = "openapi", param(exclusive_minimum = 0, maximum = 720))]
    pub hours: Option<f64>,
    /// At most this many samples, newest first: 1 to 10000. Default 100.
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10000))]
    pub limit: Option<u32>,
}

impl HealthHistoryQuery {
    pub fn hours(&self) -> f64 {
        self.hours.unwrap_or(24.0)
    }

    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(100)
    }
}

/// More than 0 and at most 720; NaN is neither.
fn hours_in_range(value: &f64, _: &()) -> garde::Result {
    if *value > 0.0 && *value <= 720.0 {
        Ok(())
    } else {
        Err(garde::Error::new("must be more than 0 and at most 720"))
    }
}

/// The manager's state in one sample: `degraded` when the database or Docker did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SampledStatus {
    Healthy,
    Degraded,
}

/// One sample of the manager's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSample {
    /// Always `botfleet-manager`.
    pub service: String,
    pub version: String,
    pub status: SampledStatus,
    pub db_status: Reachability,
    pub docker_status: Reachability,
    pub instances: u64,
    pub running_instances: u64,
    /// The manager's resident memory.
    pub memory_mb: u64,
    /// RFC 3339.
    pub checked_at: String,
}

/// `GET /api/v1/health/history`: samples newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthHistoryResponse {
    pub success: bool,
    pub history: Vec<HealthSample>,
    pub period_hours: f64,
    pub total_records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_more_than_0_and_at_most_720() {
        let q = |hours| HealthHistoryQuery { hours, limit: None };
        assert!(q(None).validate().is_ok());
        assert!(q(Some(0.5)).validate().is_ok());
        assert!(q(Some(720.0)).validate().is_ok());
        for bad in [0.0, -1.0, 720.5, f64::NAN, f64::INFINITY] {
            assert!(q(Some(bad)).validate().is_err(), "{bad}");
        }
        let limit = |limit| HealthHistoryQuery { hours: None, limit };
        assert!(limit(Some(0)).validate().is_err());
        assert!(limit(Some(10_001)).validate().is_err());
    }
}
