//! Worker containers on one Docker engine. Containers are found by name and labels; every verb is
//! idempotent (start of a running container and removal of a missing one are successes).

use std::{collections::HashMap, net::IpAddr};

use bollard::{
    Docker,
    container::LogOutput,
    models::{
        ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions, PortBinding,
        RestartPolicy, RestartPolicyNameEnum,
    },
    query_parameters::{
        CreateContainerOptionsBuilder, EventsOptionsBuilder, InspectContainerOptions,
        ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
        StartContainerOptions, StatsOptionsBuilder, StopContainerOptionsBuilder,
    },
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use shared::{env, labels};

use super::{RuntimeError, is_not_found};

/// How every worker container is set up.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub image: String,
    /// Container name prefix and `botfleet.fleet` label value.
    pub fleet: String,
    pub host_ip: IpAddr,
    /// `bridge`, `host`, or a user network name.
    pub network: String,
    /// Defaults for instances without their own limits.
    pub memory_bytes: i64,
    pub nano_cpus: i64,
}

/// What one worker needs to run.
#[derive(Debug, Clone)]
pub struct WorkerSpec<'a> {
    pub instance_id: &'a str,
    pub provider: &'a str,
    pub port: u16,
    pub bot_token: &'a str,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub api_key_sha256: &'a str,
    pub control_key_sha256: String,
    pub telegram_api_url: &'a str,
    /// The agent configuration as JSON, when the instance has one.
    pub agent_config: Option<String>,
}

/// A worker container as Docker reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerView {
    pub id: String,
    /// From the `botfleet.instance_id` label.
    pub instance_id: Option<String>,
    pub name: String,
    /// `created`, `running`, `exited`, …
    pub state: String,
    pub running: bool,
    pub started_at: Option<String>,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
}

pub struct DockerRuntime {
    docker: Docker,
    settings: RuntimeSettings,
}

impl DockerRuntime {
    pub fn new(docker: Docker, settings: RuntimeSettings) -> Self {
        Self { docker, settings }
    }

    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    pub fn container_name(&self, instance_id: &str) -> String {
        format!("{}-{}", self.settings.fleet, instance_id)
    }

    /// Creates (if missing) and starts the worker's container; returns its id.
    pub async fn start_worker(&self, spec: &WorkerSpec<'_>) -> Result<String, RuntimeError> {
        let name = self.container_name(spec.instance_id);
        let id = match self.inspect_raw(&name).await? {
            Some(existing) => existing.id.unwrap_or_else(|| name.clone()),
            None => {
                let options = CreateContainerOptionsBuilder::new().name(&name).build();
                self.docker
                    .create_container(Some(options), self.container_body(spec))
                    .await?
                    .id
            }
        };
        match self
            .docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(id)
    }

    /// Stops the worker's container (SIGTERM, then SIGKILL after 10 s); stopped or missing is fine.
    pub async fn stop_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        let options = StopContainerOptionsBuilder::new().t(10).build();
        match self
            .docker
            .stop_container(&self.container_name(instance_id), Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every container of this fleet, running or not, found by label.
    pub async fn list_workers(&self) -> Result<Vec<ContainerView>, RuntimeError> {
        let filters = HashMap::from([(
            "label",
            vec![format!("{}={}", labels::FLEET, self.settings.fleet)],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self.docker.list_containers(Some(options)).await?;
        Ok(containers
            .into_iter()
            .map(|c| {
                let state = c
                    .state
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into());
                ContainerView {
                    instance_id: c
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::INSTANCE_ID).cloned()),
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    running: state == "running",
                    state,
                    started_at: None,
                    exit_code: None,
                    restart_count: 0,
                }
            })
            .collect())
    }

    /// Lifecycle events of this fleet's containers from `since` (unix seconds) on. The stream ends when
    /// dockerd restarts; the caller reconnects and reconciles.
    pub fn events(
        &self,
        since: Option<i64>,
    ) -> impl Stream<Item = Result<WorkerEvent, RuntimeError>> + Send + 'static {
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            (
                "label",
                vec![format!("{}={}", labels::FLEET, self.settings.fleet)],
            ),
            (
                "event",
                vec![
                    "die".to_string(),
                    "destroy".to_string(),
                    "start".to_string(),
                    "oom".to_string(),
                ],
            ),
        ]);
        let mut options = EventsOptionsBuilder::new().filters(&filters);
        let since = since.map(|s| s.to_string());
        if let Some(since) = &since {
            options = options.since(since);
        }
        self.docker
            .events(Some(options.build()))
            .filter_map(|event| async move {
                match event {
                    Err(e) => Some(Err(e.into())),
                    Ok(message) => WorkerEvent::from_message(message).map(Ok),
                }
            })
    }

    /// The worker's log: the last `tail` lines, then (with `follow`) new lines as they come.
    pub fn logs(
        &self,
        instance_id: &str,
        tail: u64,
        follow: bool,
    ) -> impl Stream<Item = Result<Bytes, RuntimeError>> + Send + 'static {
        let tail = tail.to_string();
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        self.docker
            .logs(&self.container_name(instance_id), Some(options))
            .map(|chunk| match chunk {
                Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::StdErr { message })
                | Ok(LogOutput::Console { message })
                | Ok(LogOutput::StdIn { message }) => Ok(message),
                Err(e) => Err(e.into()),
            })
    }

    /// CPU and memory of the worker's container. Docker computes the CPU figure from two samples one
    /// second apart (`precpu_stats`), so this takes about a second.
    pub async fn worker_usage(
        &self,
        instance_id: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(false)
            .build();
        let mut stream = self
            .docker
            .stats(&self.container_name(instance_id), Some(options));
        match stream.next().await {
            Some(Ok(stats)) => Ok(Some(ContainerUsage::from_stats(&stats))),
            Some(Err(e)) if is_not_found(&e) => Ok(None),
            Some(Err(e)) => Err(e.into()),
            None => Ok(None),
        }
    }

    /// Containers on the whole engine: (total, running).
    pub async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError> {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let all = self.docker.list_containers(Some(options)).await?;
        let running = all
            .iter()
            .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
            .count();
        Ok((all.len(), running))
    }

    /// The name of the instance's data volume.
    pub fn volume_name(&self, instance_id: &str) -> String {
        format!("{}-data", self.container_name(instance_id))
    }

    /// Removes the instance's data volume (after its container); a missing volume is fine.
    pub async fn remove_worker_data(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.remove_volume(&self.volume_name(instance_id)).await
    }

    /// Removes a volume by name; a missing one is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        match self
            .docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the worker's container, running or not; a missing container is fine.
    pub async fn remove_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.remove_container(&self.container_name(instance_id))
            .await
    }

    /// Removes a container by id or name, running or not; a missing container is fine.
    pub async fn remove_container(&self, id_or_name: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self
            .docker
            .remove_container(id_or_name, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The worker's container, if it exists.
    pub async fn inspect_worker(
        &self,
        instance_id: &str,
    ) -> Result<Option<ContainerView>, RuntimeError> {
        let name = self.container_name(instance_id);
        Ok(self.inspect_raw(&name).await?.map(|c| {
            let state = c.state.unwrap_or_default();
            ContainerView {
                instance_id: c
                    .config
                    .and_then(|cfg| cfg.labels)
                    .and_then(|l| l.get(labels::INSTANCE_ID).cloned()),
                id: c.id.unwrap_or_default(),
                name: c.name.unwrap_or(name).trim_start_matches('/').to_string(),
                state: state
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                running: state.running.unwrap_or(false),
                started_at: state.started_at,
                exit_code: state.exit_code,
                restart_count: c.restart_count.unwrap_or(0),
            }
        }))
    }

    async fn inspect_raw(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::ContainerInspectResponse>, RuntimeError> {
        match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn container_body(&self, spec: &WorkerSpec<'_>) -> ContainerCreateBody {
        let s = &self.settings;
        let host_network = s.network == "host";
        let port_key = format!("{}/tcp", spec.port);
        let mut env_vars = vec![
            format!("{}={}", env::INSTANCE_ID, spec.instance_id),
            format!("{}={}", env::PROVIDER, spec.provider),
            format!("{}={}", env::BOT_TOKEN, spec.bot_token),
            format!("{}={}", env::API_KEY_SHA256, spec.api_key_sha256),
            format!("{}={}", env::CONTROL_KEY_SHA256, &spec.control_key_sha256),
            format!("{}={}", env::PORT, spec.port),
            format!("{}={}", env::TELEGRAM_API_URL, spec.telegram_api_url),
        ];
        env_vars.push(format!("{}={WORKER_DATA_DIR}", env::DATA_DIR));
        if let Some(agent) = &spec.agent_config {
            env_vars.push(format!("{}={agent}", env::AGENT_CONFIG));
        }
        if host_network {
            // No port publishing on the host network: the worker itself binds the configured host IP.
            env_vars.push(format!("BOTFLEET_LISTEN_HOST={}", s.host_ip));
        }
        let container_labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::FLEET.to_string(), s.fleet.clone()),
            (
                labels::INSTANCE_ID.to_string(),
                spec.instance_id.to_string(),
            ),
            (labels::PROVIDER.to_string(), spec.provider.to_string()),
            (labels::PORT.to_string(), spec.port.to_string()),
        ]);
        let host_config = HostConfig {
            network_mode: Some(s.network.clone()),
            port_bindings: (!host_network).then(|| {
                HashMap::from([(
                    port_key.clone(),
                    Some(vec![PortBinding {
                        host_ip: Some(s.host_ip.to_string()),
                        host_port: Some(spec.port.to_string()),
                    }]),
                )])
            }),
            extra_hosts: (!host_network)
                .then(|| vec!["host.docker.internal:host-gateway".to_string()]),
            // Bulk jobs and the seen chats outlive the container (restart, recreate), not the instance.
            mounts: Some(vec![Mount {
                target: Some(WORKER_DATA_DIR.to_string()),
                source: Some(self.volume_name(spec.instance_id)),
                typ: Some(MountType::VOLUME),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(HashMap::from([
                        (labels::MANAGED.to_string(), "true".to_string()),
                        (labels::FLEET.to_string(), s.fleet.clone()),
                        (
                            labels::INSTANCE_ID.to_string(),
                            spec.instance_id.to_string(),
                        ),
                    ])),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            memory: Some(spec.memory_bytes),
            nano_cpus: Some(spec.nano_cpus),
            // The manager restarts crashed workers itself, with backoff and a crash-loop guard.
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(s.image.clone()),
            env: Some(env_vars),
            labels: Some(container_labels),
            exposed_ports: (!host_network).then(|| vec![port_key.clone()]),
            host_config: Some(host_config),
            ..Default::default()
        }
    }
}

/// Where the worker's volume is mounted.
pub const WORKER_DATA_DIR: &str = "/data";

/// What happened to a worker container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEventKind {
    Started,
    Died { exit_code: Option<i64> },
    OutOfMemory,
    Destroyed,
}

/// One Docker event about a worker container.
#[derive(Debug, Clone)]
pub struct WorkerEvent {
    pub instance_id: String,
    pub kind: WorkerEventKind,
    /// Unix seconds.
    pub time: i64,
}

impl WorkerEvent {
    fn from_message(message: bollard::models::EventMessage) -> Option<Self> {
        let attributes = message.actor?.attributes?;
        let instance_id = attributes.get(labels::INSTANCE_ID)?.clone();
        let kind = match message.action.as_deref()? {
            "start" => WorkerEventKind::Started,
            "die" => WorkerEventKind::Died {
                exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
            },
            "oom" => WorkerEventKind::OutOfMemory,
            "destroy" => WorkerEventKind::Destroyed,
            _ => return None,
        };
        Some(Self {
            instance_id,
            kind,
            time: message.time.unwrap_or(0),
        })
    }
}

/// CPU and memory use of one container, computed as `docker stats` does.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ContainerUsage {
    /// Percent of one CPU (200 = two CPUs busy).
    pub cpu_percent: f64,
    /// Memory in use, page cache that can be reclaimed (inactive files) excluded.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}

impl ContainerUsage {
    fn from_stats(s: &bollard::models::ContainerStatsResponse) -> Self {
        let total = |c: &Option<bollard::models::ContainerCpuStats>| {
            c.as_ref()
                .and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        let system = |c: &Option<bollard::models::ContainerCpuStats>| {
            c.as_ref().and_then(|c| c.system_cpu_usage).unwrap_or(0)
        };
        let cpu_delta = total(&s.cpu_stats).saturating_sub(total(&s.precpu_stats)) as f64;
        let system_delta = system(&s.cpu_stats).saturating_sub(system(&s.precpu_stats)) as f64;
        let cpus = s
            .cpu_stats
            .as_ref()
            .and_then(|c| {
                c.online_cpus.map(f64::from).or_else(|| {
                    c.cpu_usage
                        .as_ref()
                        .and_then(|u| u.percpu_usage.as_ref())
                        .map(|p| p.len() as f64)
                })
            })
            .unwrap_or(1.0);
        let cpu_percent = if system_delta > 0.0 {
            cpu_delta / system_delta * cpus * 100.0
        } else {
            0.0
        };
        let memory = s.memory_stats.as_ref();
        let usage = memory.and_then(|m| m.usage).unwrap_or(0);
        // cgroup v2 names it inactive_file, v1 total_inactive_file.
        let inactive = memory
            .and_then(|m| m.stats.as_ref())
            .and_then(|st| {
                st.get("inactive_file")
                    .or_else(|| st.get("total_inactive_file"))
                    .copied()
            })
            .unwrap_or(0);
        Self {
            cpu_percent,
            memory_bytes: usage.saturating_sub(inactive),
            memory_limit_bytes: memory.and_then(|m| m.limit).unwrap_or(0),
        }
    }
}

impl From<ContainerView> for shared::api::instances::ContainerInfo {
    fn from(c: ContainerView) -> Self {
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
