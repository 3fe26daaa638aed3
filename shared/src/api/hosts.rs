//! `/api/v1/hosts*`: the machines the fleet's workers run on (seed 004's servers, metrics and docker
//! routes, for a fleet): the engine itself under plain Docker, every node under Swarm; their
//! availability, the latest metrics and their history (of the manager's own host), and botfleet's own
//! containers on a host with start, stop, restart and logs.

use std::collections::BTreeMap;

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::{InstanceStatus, InstanceView};

/// Which engine the manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuntimeName {
    /// Plain Docker: one engine, one host, one container per bot.
    Docker,
    /// Docker Swarm: every node is a host, one service per bot.
    Swarm,
}

/// Seed 004's server status, from the host's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// The host is `ready`.
    Online,
    /// The host is `down` or `disconnected`.
    Offline,
    /// Its state is unknown, or the engine does not answer and this is the last list it gave.
    Unknown,
}

/// What the host is to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostRole {
    /// The one host of plain Docker: the engine itself.
    Engine,
    /// A Swarm manager node.
    Manager,
    /// A Swarm worker node.
    Worker,
}

/// Whether a host takes workers (Swarm's node availability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostAvailability {
    /// Takes new workers and keeps its own.
    Active,
    /// Keeps its workers, takes no new ones.
    Pause,
    /// Takes no workers: its workers stop; those not pinned to it (by their data) start on other hosts.
    Drain,
}

impl HostAvailability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pause => "pause",
            Self::Drain => "drain",
        }
    }
}

/// The host's state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Ready,
    Down,
    Disconnected,
    Unknown,
}

/// One host, in seed 004's server shape (`id`, `name`, `host`, `status`, `created_at`) with what a fleet
/// needs beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostView {
    /// The engine's id (plain Docker) or the node id (Swarm).
    pub id: String,
    /// Its hostname.
    pub name: String,
    /// Its address: the node's address (Swarm), or where the manager dials published worker ports
    /// (plain Docker). `null` when the engine does not say.
    pub host: Option<String>,
    pub status: HostStatus,
    /// RFC 3339: when the node joined (Swarm); `null` when the engine does not say (plain Docker).
    pub created_at: Option<String>,
    pub role: HostRole,
    pub availability: HostAvailability,
    pub state: HostState,
    /// CPUs the engine reports.
    pub cpus: f64,
    /// Memory the engine reports.
    pub memory_bytes: u64,
    /// The Docker engine's version.
    pub engine_version: Option<String>,
    /// Node labels (Swarm; placement constraints `node.labels.<key>==<value>` match them).
    pub labels: BTreeMap<String, String>,
    /// Instances whose worker was last placed on this host.
    pub bots: u64,
    /// Whether the manager runs on this host (only its metrics are sampled).
    pub local: bool,
}

/// `GET /api/v1/hosts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostList {
    pub success: bool,
    pub runtime: RuntimeName,
    /// `false` when the engine did not answer: the hosts are the last list it gave (status `unknown`).
    pub engine_reachable: bool,
    /// RFC 3339: when the engine gave this list.
    pub observed_at: String,
    pub count: u64,
    pub hosts: Vec<HostView>,
}

/// `GET /api/v1/hosts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostResponse {
    pub success: bool,
    pub host: HostView,
}

/// `PATCH /api/v1/hosts/{id}`: whether the host takes workers. Plain Docker has one host, which can
/// only be `active` (`pause` and `drain` answer 422); under Swarm `drain` stops the node's bots and starts them on other nodes, except bots pinned to it by their
/// data, which wait until it is active again.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateHostRequest {
    #[garde(skip)]
    pub availability: HostAvailability,
}

/// The answer of `PATCH /api/v1/hosts/{id}`: the host as the engine reports it afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatedHost {
    pub success: bool,
    pub message: String,
    pub host: HostView,
}

/// One mounted file system of a host (seed 004's `disk_usage` entry), in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiskUsage {
    /// Where it is mounted.
    pub path: String,
    pub total: u64,
    pub used: u64,
    pub free: u64,
    /// `used` as a percent of `total`.
    pub percent: f64,
}

/// One network interface of a host (seed 004's `network` entry): bytes since the host started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkUsage {
    pub interface: String,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
}

/// A host's metrics at one moment, in seed 004's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostMetrics {
    /// The host's id.
    pub server_id: String,
    /// Percent of all CPUs (0 to 100).
    pub cpu_percent: f64,
    pub memory_percent: f64,
    /// Mounted file systems (containers' own mounts left out).
    pub disk_usage: Vec<DiskUsage>,
    /// Network interfaces (containers' `veth` ends left out).
    pub network: Vec<NetworkUsage>,
    /// RFC 3339: when the sample was taken.
    pub timestamp: String,
}

/// `GET /api/v1/hosts/{id}/metrics`: the latest sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostMetricsResponse {
    pub success: bool,
    #[serde(flatten)]
    pub metrics: HostMetrics,
}

/// The most samples one history answer holds; a longer range is thinned evenly.
pub const MAX_HISTORY_POINTS: usize = 1000;

/// `?start=&end=` of `GET /api/v1/hosts/{id}/metrics/history`: RFC 3339 (or unix milliseconds); `end`
/// defaults to now, `start` to an hour before `end`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HostMetricsQuery {
    /// Oldest sample: RFC 3339 (`2026-11-23T10:00:00Z`) or unix milliseconds. Default: an hour before
    /// `end`; must not be after `end`.
    #[garde(inner(custom(super::resources::timestamp)))]
    #[cfg_attr(
        feature = "openapi",
        param(
            pattern = r"^([+-]?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
        )
    )]
    pub start: Option<String>,
    /// Newest sample: RFC 3339 or unix milliseconds. Default: now.
    #[garde(inner(custom(super::resources::timestamp)))]
    #[cfg_attr(
        feature = "openapi",
        param(
            pattern = r"^([+-]?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$"
        )
    )]
    pub end: Option<String>,
}

/// `GET /api/v1/hosts/{id}/metrics/history`: samples in `[start, end]`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostMetricsHistory {
    pub success: bool,
    pub server_id: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// Samples kept in the range (the manager keeps `--history-window-mins` of them).
    pub available: u64,
    /// Samples in `data`: all of them, or at most 1000 picked evenly from them.
    pub count: u64,
    pub data: Vec<HostMetrics>,
}

/// One of botfleet's worker containers on a host (Swarm: the bot's service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostContainer {
    /// Container id (Docker) or service id (Swarm).
    pub id: String,
    pub name: String,
    /// The bot it runs.
    pub instance_id: String,
    /// The bot's status; `null` when no instance of this fleet owns the container any more (the
    /// reconciler removes it soon).
    pub instance_status: Option<InstanceStatus>,
    /// `created`, `running`, `exited`, … as the engine says.
    pub state: String,
    pub running: bool,
}

/// `GET /api/v1/hosts/{id}/containers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostContainerList {
    pub success: bool,
    pub host_id: String,
    pub count: u64,
    pub containers: Vec<HostContainer>,
}

/// `?timeout=` of the container `stop` and `restart` routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ContainerStopQuery {
    /// Seconds, 0 to 600: accepted for seed 004's clients. The stop goes through the bot's own stop
    /// (the reconciler), so the worker always gets its full grace period to finish (SIGTERM, then
    /// SIGKILL after 10 s).
    #[garde(inner(range(max = 600)))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 600))]
    pub timeout: Option<u32>,
}

/// What a container route did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
}

impl ContainerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
        }
    }
}

/// The answer of `POST /api/v1/hosts/{id}/containers/{container_id}/{start,stop,restart}`: the bot's
/// verb was run on the instance the container belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerActionResponse {
    pub success: bool,
    pub action: ContainerAction,
    pub host_id: String,
    /// The container the request named.
    pub container_id: String,
    /// The bot's worker now: a start or restart gives the bot a fresh one, with a new id.
    pub current_container_id: Option<String>,
    pub instance_id: String,
    pub status: InstanceStatus,
    pub message: String,
    pub instance: InstanceView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "server")]
    #[test]
    fn availability_is_one_of_three_words_and_nothing_else() {
        let parse = |body: &str| crate::http::parse_json::<UpdateHostRequest>(body.as_bytes());
        assert_eq!(
            parse(r#"{"availability":"drain"}"#).unwrap().availability,
            HostAvailability::Drain
        );
        for bad in [
            r#"{"availability":"gone"}"#,
            r#"{}"#,
            r#"{"availability":"active","name":"x"}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 422, "{bad}");
        }
    }

    #[test]
    fn history_times_and_stop_timeouts_are_checked() {
        let q = |start: &str| HostMetricsQuery {
            start: Some(start.into()),
            end: None,
        };
        assert!(q("2026-11-23T10:00:00Z").validate().is_ok());
        assert!(q("yesterday").validate().is_err());
        assert!(
            ContainerStopQuery { timeout: Some(601) }
                .validate()
                .is_err()
        );
        assert!(ContainerStopQuery { timeout: Some(10) }.validate().is_ok());
    }
}
