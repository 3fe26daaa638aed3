//! `/api/v1/resources*`: the host, the engine's containers, every instance's CPU and memory, the port
//! range, the manager's own timings, a health verdict, the kept samples and the stress test.

use std::collections::BTreeMap;

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::InstanceStatus;

/// The host at one moment (sysinfo).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSample {
    /// Percent of all CPUs (0 to 100).
    pub cpu_percent: f64,
    pub cpu_count: usize,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub memory_percent: f64,
    /// Of the disk holding the manager's data.
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub disk_percent: f64,
    pub uptime_seconds: u64,
    /// 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
}

/// `server` of `GET /api/v1/resources`: the host sample, with its main figures also as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerResources {
    /// `cpu_percent` as text: `12.5%`.
    pub cpu_usage: String,
    /// `memory_percent` as text.
    pub memory_usage: String,
    /// `disk_percent` as text.
    pub disk_usage: String,
    /// `uptime_seconds` as text: `2 days, 3 hours`.
    pub uptime: String,
    #[serde(flatten)]
    pub host: HostSample,
}

/// `docker` of `GET /api/v1/resources`: the engine's containers, or only `available: false` when Docker
/// did not answer the last sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DockerSummary {
    pub available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_containers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_containers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_containers: Option<u64>,
}

/// `instances` of `GET /api/v1/resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceCounts {
    pub total: u64,
    pub running: u64,
    pub stopped: u64,
    /// Instances per status, keyed by the status (`running`, `stopped`, …); only statuses some
    /// instance has.
    pub by_status: BTreeMap<String, u64>,
}

/// `GET /api/v1/resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourcesOverview {
    pub success: bool,
    /// RFC 3339: when the sample was taken.
    pub sampled_at: String,
    pub server: ServerResources,
    pub docker: DockerSummary,
    pub instances: InstanceCounts,
}

/// One instance container's CPU and memory (page cache excluded, as `docker stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceUsage {
    pub instance_id: String,
    pub display_name: String,
    pub status: InstanceStatus,
    /// `cpu_percent` as text: `0.4%`.
    pub cpu_usage: String,
    /// `memory_bytes` as text: `12MB`.
    pub memory_usage: String,
    /// Percent of one CPU (200 = two CPUs busy).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    /// The container's memory limit.
    pub memory_limit_bytes: u64,
    /// `memory_bytes` as a percent of `memory_limit_bytes`.
    pub memory_percent: f64,
}

/// `GET /api/v1/instances/{id}/resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceResourcesResponse {
    pub success: bool,
    pub instance_id: String,
    /// RFC 3339: when the sample was taken.
    pub sampled_at: String,
    /// `null` while the instance's worker does not run.
    pub usage: Option<InstanceUsage>,
}

/// `GET /api/v1/resources/instances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceResources {
    pub success: bool,
    /// RFC 3339: when the sample was taken.
    pub sampled_at: String,
    pub total: u64,
    pub instances: Vec<InstanceUsage>,
}

/// First and last port of the configured range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

/// Usage of the configured port range (camelCase, as the replaced system wrote it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PortStats {
    pub total_ports: u64,
    /// Ports held by an instance.
    pub used_ports: u64,
    /// Neither held by an instance nor seen busy on the host.
    pub available_ports: u64,
    /// Held by an instance still being created.
    pub reserved_ports: u64,
    /// Seen taken by another program on the host.
    pub busy_on_host: u64,
    pub port_range: PortRange,
    /// `usedPorts` as a percent of `totalPorts`.
    pub utilization_percent: f64,
}

/// `GET /api/v1/resources/ports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortsResponse {
    pub success: bool,
    #[serde(flatten)]
    pub stats: PortStats,
}

/// `POST /api/v1/resources/ports/clear-cache`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClearPortCacheResponse {
    pub success: bool,
    /// Host ports that were remembered as busy.
    pub cleared: u64,
    pub message: String,
}

/// Port assignment timings, in ms, over the last 1000 successful assignments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PortAssignmentStats {
    pub successful_requests: u64,
    pub failed_requests: u64,
    pub average_time: f64,
    pub min_time: f64,
    pub p99_time: f64,
    pub max_time: f64,
}

/// HTTP requests served by the manager since it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestStats {
    pub total: u64,
    /// Milliseconds.
    pub average_response_time: f64,
    /// In flight now, this request included.
    pub concurrent_requests: i64,
    pub peak_concurrency: i64,
}

/// `GET /api/v1/resources/performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PerformanceResponse {
    pub success: bool,
    pub port_assignment: PortAssignmentStats,
    pub requests: RequestStats,
    pub port_statistics: PortStats,
}

/// The verdict of `GET /api/v1/resources/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResourceHealthStatus {
    /// Nothing to look at.
    Healthy,
    /// Something to look at (see `issues`).
    Warning,
    /// Docker does not answer, or host memory is nearly exhausted.
    Critical,
}

/// `GET /api/v1/resources/health`: problems an operator should look at, with what to do about each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceHealthResponse {
    pub success: bool,
    pub status: ResourceHealthStatus,
    pub issues: Vec<String>,
    pub recommendations: Vec<String>,
    pub port_statistics: PortStats,
}

/// `POST /api/v1/resources/memory/cleanup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryCleanupResponse {
    pub success: bool,
    pub message: String,
    /// Samples older than the history window that were dropped.
    pub trimmed_samples: u64,
    /// Per-instance operation locks no one held.
    pub released_locks: u64,
    pub total_instances: u64,
    /// The manager's resident memory before and after.
    pub memory_before_mb: u64,
    pub memory_after_mb: u64,
}

/// `?from=&to=&instance_id=&max_points=` of `GET /api/v1/resources/history`: RFC 3339 or unix
/// milliseconds; `to` defaults to now, `from` to an hour before `to`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ResourceHistoryQuery {
    /// Oldest sample: RFC 3339 (`2026-11-23T10:00:00Z`) or unix milliseconds. Default: an hour before
    /// `to`; must not be after `to`.
    #[garde(inner(custom(timestamp)))]
    #[cfg_attr(
        feature = "openapi",
        param(
            pattern = r"^([+-]?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
        )
    )]
    pub from: Option<String>,
    /// Newest sample: RFC 3339 or unix milliseconds. Default: now.
    #[garde(inner(custom(timestamp)))]
    #[cfg_attr(
        feature = "openapi",
        param(
            pattern = r"^([+-]?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
        )
    )]
    pub to: Option<String>,
    /// Only this bot's figures, and only the samples holding them (404 when no such instance); absent:
    /// every sample with every bot's figures.
    #[garde(skip)]
    pub instance_id: Option<String>,
    /// At most this many samples, picked evenly over the range (the first and the last included): 1 to
    /// 10000. Absent: every kept sample.
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10000))]
    pub max_points: Option<u32>,
}

/// RFC 3339 or unix milliseconds, as unix milliseconds. (The parameters' pattern gives the shape; this
/// also refuses impossible dates.)
pub fn parse_timestamp_ms(value: &str) -> Option<i64> {
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
}

/// garde rule: RFC 3339 or unix milliseconds.
pub(crate) fn timestamp(value: &str, _: &()) -> garde::Result {
    match parse_timestamp_ms(value) {
        Some(_) => Ok(()),
        None => Err(garde::Error::new("must be RFC 3339 or unix milliseconds")),
    }
}

/// Engine-wide container counts of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerCounts {
    pub total: u64,
    pub running: u64,
}

/// One instance container in a kept sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceSample {
    pub instance_id: String,
    pub display_name: String,
    pub status: InstanceStatus,
    /// Percent of one CPU.
    pub cpu_percent: f64,
    /// Page cache excluded, as `docker stats`.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}

/// One kept sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceSample {
    /// RFC 3339.
    pub timestamp: String,
    pub host: HostSample,
    /// `null` when Docker did not answer.
    pub containers: Option<ContainerCounts>,
    /// Each sampled bot's figures (only the one asked for with `instance_id`); empty when `bot_detail`
    /// is false.
    pub instances: Vec<InstanceSample>,
    /// Whether the sample kept its per-bot figures: every sample of the last five minutes does, older
    /// ones one a minute (the first of each minute), so an hour of a big fleet's history stays small.
    pub bot_detail: bool,
    pub manager_rss_bytes: u64,
}

/// `GET /api/v1/resources/history`: samples oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceHistoryResponse {
    pub success: bool,
    /// RFC 3339.
    pub from: String,
    /// RFC 3339.
    pub to: String,
    pub count: u64,
    pub data: Vec<ResourceSample>,
}

/// `POST /api/v1/resources/stress-test`: provisions `instances` throwaway instances (with tokens Telegram
/// refuses, so no bot runs) and removes them, timed. `{}` runs 3.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StressTestRequest {
    /// How many instances, 1 to 20 (default 3).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 20)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 20))]
    pub instances: Option<u32>,
}

impl StressTestRequest {
    pub const DEFAULT_INSTANCES: u32 = 3;

    pub fn instances(&self) -> u32 {
        self.instances.unwrap_or(Self::DEFAULT_INSTANCES)
    }
}

/// Average and longest duration, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DurationStats {
    pub average: f64,
    pub max: f64,
}

/// The answer of a stress test; `success` is false when any create or delete failed (see `errors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StressTestResponse {
    pub success: bool,
    /// How many were asked for.
    pub instances: u32,
    pub created: u64,
    pub deleted: u64,
    pub create_ms: DurationStats,
    pub delete_ms: DurationStats,
    pub total_ms: f64,
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_times_are_rfc3339_or_unix_ms() {
        assert_eq!(parse_timestamp_ms("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_timestamp_ms("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_timestamp_ms("yesterday"), None);
        assert_eq!(parse_timestamp_ms(""), None);
        let q = ResourceHistoryQuery {
            from: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(q.validate().is_err());
        for (max_points, ok) in [(0, false), (1, true), (10_000, true), (10_001, false)] {
            let q = ResourceHistoryQuery {
                max_points: Some(max_points),
                ..Default::default()
            };
            assert_eq!(q.validate().is_ok(), ok, "{max_points}");
        }
    }

    #[test]
    fn stress_test_counts_are_1_to_20_and_default_to_3() {
        let ok = |n| {
            StressTestRequest { instances: n }
                .validate()
                .map(|_| StressTestRequest { instances: n }.instances())
        };
        assert_eq!(ok(None).unwrap(), 3);
        assert_eq!(ok(Some(20)).unwrap(), 20);
        assert!(ok(Some(0)).is_err());
        assert!(ok(Some(21)).is_err());
    }
}
