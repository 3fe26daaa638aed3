//! The container runtime seam: what the manager needs from an engine to run one worker per bot, with two
//! implementations, plain Docker (`docker.rs`, one container per bot) and Docker Swarm (`swarm.rs`, one
//! replicated service per bot). Nothing outside this module sees a bollard type.
//!
//! Only the reconciler holds a [`Runtime`]; everything else reads through a [`RuntimeReader`], which has
//! no verb that changes a worker. So one code path makes the engine match the database.

mod binary_volume;
pub mod docker;
pub mod image;
#[cfg(test)]
pub mod memory;
pub mod networks;
pub mod swarm;
mod usage;

use std::{fmt, sync::Arc};

use bytes::Bytes;
use futures::stream::BoxStream;

pub use docker::{DockerRuntime, WORKER_DATA_DIR};
pub use swarm::SwarmRuntime;

/// A failure of the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error(
        "worker image {image} is missing and the worker binary {binary} cannot be read: {source}"
    )]
    ImageUnavailable {
        image: String,
        binary: String,
        source: std::io::Error,
    },
    #[error("building the worker image failed: {0}")]
    Build(String),
    /// The volume holding the worker binary for every worker could not be filled or checked.
    #[error("the worker binary volume: {0}")]
    BinaryVolume(String),
    /// The engine cannot do what was asked (a placement plain Docker cannot honour, an unknown host, …).
    #[error("{0}")]
    Unsupported(String),
    #[error("no host {0}")]
    NoSuchHost(String),
    /// The engine took the worker but could not start it (Swarm: the task failed before it ran, e.g. its
    /// port is taken on the node).
    #[error("the worker's task did not start: {0}")]
    TaskFailed(String),
    /// The engine did not get there in time (Swarm: a task still running after the stop grace period).
    #[error("{0}")]
    Timeout(String),
}

impl RuntimeError {
    /// Docker could not publish the port because something else holds it on the host.
    pub fn is_port_taken(&self) -> bool {
        let text = self.to_string();
        text.contains("address already in use") || text.contains("port is already allocated")
    }

    /// The engine did not answer at all (socket gone, daemon restarting), as opposed to refusing.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Docker(e) => !matches!(
                e,
                bollard::errors::Error::DockerResponseServerError { .. }
                    | bollard::errors::Error::JsonDataError { .. }
                    | bollard::errors::Error::JsonSerdeError { .. }
            ),
            _ => false,
        }
    }
}

/// Which engine the manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Swarm,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Swarm => "swarm",
        }
    }
}

/// How every worker is set up, whatever the engine.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub image: String,
    /// Container / service name prefix and `botfleet.fleet` label value.
    pub fleet: String,
    /// Plain Docker: the host IP worker ports are published on.
    pub host_ip: std::net::IpAddr,
    /// Plain Docker: `auto` (see `networks.rs`), `bridge`, `host`, or a user network name. Swarm: an
    /// overlay network, or empty (`auto`, `bridge`: each node's default bridge).
    pub network: String,
    /// Plain Docker, `auto`: workers per network.
    pub bots_per_network: usize,
    /// Defaults for instances without their own limits.
    pub memory_bytes: i64,
    pub nano_cpus: i64,
}

/// Where workers reach each platform (tests point these at fakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUrls {
    pub telegram_api: String,
    pub discord_api: String,
    pub discord_gateway: String,
    pub slack_api: String,
    pub whatsapp_api: String,
    /// Where platforms reach this manager: `<public URL>/api/v1/webhooks`.
    pub callbacks: String,
}

impl PlatformUrls {
    /// The URL a bot of `provider` uses (for the configuration digest: changing it recreates that
    /// provider's workers only).
    pub fn of(&self, provider: shared::Provider) -> &str {
        use shared::Provider;
        match provider {
            Provider::Telegram => &self.telegram_api,
            Provider::Discord => &self.discord_api,
            Provider::Slack => &self.slack_api,
            Provider::Whatsapp => &self.whatsapp_api,
        }
    }

    /// Where `provider`'s platform calls for `instance_id`.
    pub fn callback_url(&self, provider: shared::Provider, instance_id: &str) -> String {
        format!("{}/{provider}/{instance_id}", self.callbacks)
    }

    /// The variables a worker of `provider` is given.
    pub fn env(&self, provider: shared::Provider) -> Vec<String> {
        use shared::{Provider, env};
        let pairs: Vec<(&str, &str)> = match provider {
            Provider::Telegram => vec![(env::TELEGRAM_API_URL, &self.telegram_api)],
            Provider::Discord => vec![
                (env::DISCORD_API_URL, &self.discord_api),
                (env::DISCORD_GATEWAY_URL, &self.discord_gateway),
            ],
            Provider::Slack => vec![(env::SLACK_API_URL, &self.slack_api)],
            Provider::Whatsapp => vec![(env::WHATSAPP_API_URL, &self.whatsapp_api)],
        };
        pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// What one worker needs to run.
#[derive(Debug, Clone)]
pub struct WorkerSpec<'a> {
    pub instance_id: &'a str,
    pub provider: shared::Provider,
    pub port: u16,
    /// The port of the worker's MCP server, when it serves one.
    pub mcp_port: Option<u16>,
    /// The bot's credentials as the provider-tagged JSON the worker reads (`BOTFLEET_CREDENTIALS`).
    pub credentials: std::borrow::Cow<'a, str>,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub api_key_sha256: &'a str,
    pub control_key_sha256: String,
    pub platform_urls: &'a PlatformUrls,
    /// `shared::worker_api::WorkerBotConfig` as JSON: revision, paused, the bot configuration.
    pub bot_config: Option<String>,
    /// Telegram webhook mode: the URL Telegram calls (`None`: polling).
    pub telegram_webhook_url: Option<String>,
    /// Placement constraints (`node.labels.region==eu`, `node.hostname==a`); Swarm honours them.
    pub placement: &'a [String],
    /// Digest of everything above: a runtime that keeps secrets by name versions them with it.
    pub config_sha256: &'a str,
    /// The host the worker last ran on, where its data volume is (Swarm pins a recreated service to it);
    /// not part of the configuration digest.
    pub last_host: Option<&'a str>,
    /// `--outbound-allow` and `--outbound-deny`, for the worker's agent calls.
    pub outbound: &'a netguard::Policy,
}

impl WorkerSpec<'_> {
    /// The variables that give the worker its ports (the REST API's, and the MCP server's if any).
    pub fn port_env(&self) -> Vec<String> {
        use shared::env;
        let mut vars = vec![format!("{}={}", env::PORT, self.port)];
        if let Some(port) = self.mcp_port {
            vars.push(format!("{}={port}", env::MCP_PORT));
        }
        vars
    }

    /// The variables that give the worker the manager's outbound policy.
    pub fn outbound_env(&self) -> [String; 2] {
        use shared::env;
        [
            format!("{}={}", env::OUTBOUND_ALLOW, self.outbound.allow()),
            format!("{}={}", env::OUTBOUND_DENY, self.outbound.deny()),
        ]
    }
}

/// Where the manager reaches a worker's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A worker as the engine reports it: a container (Docker) or a service and its current task (Swarm).
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Container id (Docker) or service id (Swarm).
    pub id: String,
    /// From the `botfleet.instance_id` label.
    pub instance_id: Option<String>,
    pub name: String,
    /// `created`, `running`, `exited`, … (Swarm: the current task's state).
    pub state: String,
    pub running: bool,
    pub started_at: Option<String>,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
    /// Where the manager dials the worker, once it runs somewhere.
    pub endpoint: Option<Endpoint>,
    /// The host (Docker engine or Swarm node id) it runs on.
    pub host_id: Option<String>,
}

/// What happened to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEventKind {
    Started,
    Died { exit_code: Option<i64> },
    OutOfMemory,
    Destroyed,
}

/// One engine event about a worker.
#[derive(Debug, Clone)]
pub struct WorkerEvent {
    pub instance_id: String,
    pub kind: WorkerEventKind,
    /// Unix seconds.
    pub time: i64,
}

/// CPU and memory use of one worker, computed as `docker stats` does.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ContainerUsage {
    /// Percent of one CPU (200 = two CPUs busy).
    pub cpu_percent: f64,
    /// Memory in use, page cache that can be reclaimed (inactive files) excluded.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}

/// Whether a host takes new workers (Swarm's node availability).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Active,
    Pause,
    Drain,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pause => "pause",
            Self::Drain => "drain",
        }
    }
}

/// One machine the runtime runs workers on: the engine itself (Docker) or a Swarm node.
#[derive(Debug, Clone)]
pub struct HostView {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker` (Swarm); `engine` for plain Docker.
    pub role: String,
    pub availability: Availability,
    /// `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    pub address: Option<String>,
    pub cpus: f64,
    pub memory_bytes: i64,
    pub engine_version: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Whether this is the host the manager itself runs on (whose metrics it samples).
    pub local: bool,
}

/// The engine seam. Every verb is idempotent: running a running worker, stopping a stopped one and
/// removing a missing one are successes, so the reconciler can repeat itself after any failure.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    fn settings(&self) -> &RuntimeSettings;
    /// Is the engine answering?
    async fn ping(&self) -> Result<(), RuntimeError>;

    /// Creates the worker if it is missing and makes it run; returns it as it is then.
    async fn run_worker(&self, spec: &WorkerSpec<'_>) -> Result<WorkerView, RuntimeError>;
    /// Stops the worker (SIGTERM, then SIGKILL after a grace period); stopped or missing is fine.
    async fn stop_worker(&self, instance_id: &str) -> Result<(), RuntimeError>;
    /// Removes the worker (and what it was created with, such as secrets), but not its data.
    async fn remove_worker(&self, instance_id: &str) -> Result<(), RuntimeError>;
    /// Removes the worker's data volume.
    async fn remove_worker_data(&self, instance_id: &str) -> Result<(), RuntimeError>;
    /// Removes a worker found by `list_workers` that no instance owns, with its data.
    async fn remove_orphan(&self, worker: &WorkerView) -> Result<(), RuntimeError>;

    async fn inspect_worker(&self, instance_id: &str) -> Result<Option<WorkerView>, RuntimeError>;
    /// Every worker of this fleet, running or not, found by label.
    async fn list_workers(&self) -> Result<Vec<WorkerView>, RuntimeError>;
    /// Removes what no worker needs any more (plain Docker: the fleet's own networks left empty).
    async fn tidy(&self) -> Result<(), RuntimeError>;
    /// Worker events from `since` (unix seconds) on. The stream ends when the engine restarts; the
    /// caller reconnects and reconciles.
    fn events(&self, since: Option<i64>) -> BoxStream<'static, Result<WorkerEvent, RuntimeError>>;
    /// The worker's log: the last `tail` lines, then (with `follow`) new lines as they come.
    fn logs(
        &self,
        instance_id: &str,
        tail: u64,
        follow: bool,
    ) -> BoxStream<'static, Result<Bytes, RuntimeError>>;
    /// CPU and memory of the worker, when it runs where the manager can measure it.
    async fn worker_usage(&self, instance_id: &str)
    -> Result<Option<ContainerUsage>, RuntimeError>;
    /// Containers on the engine the manager talks to: (total, running).
    async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError>;

    /// The machines workers run on.
    async fn hosts(&self) -> Result<Vec<HostView>, RuntimeError>;
    /// Sets whether a host takes workers; `drain` stops its workers (Swarm only; see `swarm.rs` for where
    /// they start again).
    async fn set_host_availability(
        &self,
        host_id: &str,
        availability: Availability,
    ) -> Result<HostView, RuntimeError>;
}

/// Read-only access to the runtime, for the API and the observers: no verb here changes a worker.
#[derive(Clone)]
pub struct RuntimeReader(Arc<dyn Runtime>);

impl RuntimeReader {
    pub fn new(runtime: Arc<dyn Runtime>) -> Self {
        Self(runtime)
    }
    pub fn kind(&self) -> RuntimeKind {
        self.0.kind()
    }
    pub fn settings(&self) -> &RuntimeSettings {
        self.0.settings()
    }
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.0.ping().await
    }
    pub async fn inspect_worker(
        &self,
        instance_id: &str,
    ) -> Result<Option<WorkerView>, RuntimeError> {
        self.0.inspect_worker(instance_id).await
    }
    pub async fn list_workers(&self) -> Result<Vec<WorkerView>, RuntimeError> {
        self.0.list_workers().await
    }
    pub fn events(
        &self,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<WorkerEvent, RuntimeError>> {
        self.0.events(since)
    }
    pub fn logs(
        &self,
        instance_id: &str,
        tail: u64,
        follow: bool,
    ) -> BoxStream<'static, Result<Bytes, RuntimeError>> {
        self.0.logs(instance_id, tail, follow)
    }
    pub async fn worker_usage(
        &self,
        instance_id: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        self.0.worker_usage(instance_id).await
    }
    pub async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError> {
        self.0.engine_container_counts().await
    }
    pub async fn hosts(&self) -> Result<Vec<HostView>, RuntimeError> {
        self.0.hosts().await
    }
}

/// The runtime the engine suggests: Swarm when it is a manager node of an active swarm, else plain
/// Docker.
pub async fn detect(docker: &bollard::Docker) -> Result<RuntimeKind, RuntimeError> {
    let info = docker.info().await?;
    let swarm = info.swarm.unwrap_or_default();
    let active = swarm
        .local_node_state
        .is_some_and(|s| s == bollard::models::LocalNodeState::ACTIVE);
    Ok(if active && swarm.control_available.unwrap_or(false) {
        RuntimeKind::Swarm
    } else {
        RuntimeKind::Docker
    })
}

/// The runtime of `kind` on `docker`.
pub async fn build(
    docker: bollard::Docker,
    kind: RuntimeKind,
    settings: RuntimeSettings,
) -> Result<Arc<dyn Runtime>, RuntimeError> {
    match kind {
        RuntimeKind::Docker => Ok(Arc::new(DockerRuntime::new(docker, settings).await?)),
        RuntimeKind::Swarm => Ok(Arc::new(SwarmRuntime::new(docker, settings).await?)),
    }
}

/// Connects to Docker at `host` (`unix://…`, `tcp://…`; default: DOCKER_HOST or the local socket) and
/// settles on an API version both sides speak (engines may be older than bollard's default).
pub async fn connect(host: Option<&str>) -> Result<bollard::Docker, RuntimeError> {
    use bollard::{API_DEFAULT_VERSION, Docker};
    const TIMEOUT_SECS: u64 = 120;
    let docker = match host {
        Some(h) if h.starts_with("unix://") => {
            Docker::connect_with_unix(h, TIMEOUT_SECS, API_DEFAULT_VERSION)?
        }
        Some(h) => Docker::connect_with_http(h, TIMEOUT_SECS, API_DEFAULT_VERSION)?,
        None => Docker::connect_with_local_defaults()?,
    };
    Ok(docker.negotiate_version().await?)
}

/// True for Docker's "already exists" answer.
pub(crate) fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// True for Docker's "no such object" answer, which idempotent verbs treat as done.
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl From<WorkerView> for shared::api::instances::ContainerInfo {
    fn from(c: WorkerView) -> Self {
        Self {
            id: c.id,
            instance_id: c.instance_id,
            name: c.name,
            state: c.state,
            running: c.running,
            started_at: c.started_at,
            exit_code: c.exit_code,
            restart_count: c.restart_count,
        }
    }
}
