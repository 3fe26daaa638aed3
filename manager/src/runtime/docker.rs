//! Worker containers on one Docker engine. Containers are found by name and labels; every verb is
//! idempotent (start of a running container and removal of a missing one are successes).
//!
//! Secrets never go in a container's configuration (`docker inspect` shows its environment, command and
//! labels): the credentials, the agent configuration and the key digests are files under
//! `/run/secrets` (where Swarm mounts its secrets too), copied into the created container before it
//! starts, readable by the worker's user alone; the environment only names them
//! (`BOTFLEET_CREDENTIALS_FILE=/run/secrets/credentials`). The files live in the container's own layer:
//! they survive `docker restart` and go with the container.

use std::collections::HashMap;

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
        UploadToContainerOptionsBuilder,
    },
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use shared::{env, labels};

use super::{
    Availability, ContainerUsage, Endpoint, HostView, Runtime, RuntimeError, RuntimeKind,
    RuntimeSettings, WorkerEvent, WorkerEventKind, WorkerSpec, WorkerView, binary_volume,
    is_not_found,
    networks::{self, NetworkPool},
    usage::UsageReader,
};

pub struct DockerRuntime {
    docker: Docker,
    settings: RuntimeSettings,
    /// The engine's id and name: plain Docker has one host.
    engine_id: String,
    engine_name: String,
    /// Where the manager dials published worker ports.
    dial_host: String,
    /// With `--network auto`: the networks workers are spread over.
    pool: Option<NetworkPool>,
    usage: UsageReader,
    /// The volume holding the worker binary, mounted read-only at its place in every worker
    /// (`binary_volume`); `None`: workers run the image's own copy.
    binary_volume: Option<String>,
}

impl DockerRuntime {
    /// A runtime on `docker`; asks the engine who it is (its id names the one host).
    pub async fn new(docker: Docker, settings: RuntimeSettings) -> Result<Self, RuntimeError> {
        let info = docker.info().await?;
        let dial_host = if settings.host_ip.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            settings.host_ip.to_string()
        };
        let pool = (settings.network == networks::AUTO)
            .then(|| NetworkPool::new(&settings.fleet, settings.bots_per_network));
        let binary_volume = match binary_volume::prepare(&docker, &settings.image).await {
            Ok(volume) => volume,
            Err(e) => {
                tracing::warn!(error = %e, "no shared binary volume; workers run the image's own binary");
                None
            }
        };
        Ok(Self {
            binary_volume,
            engine_id: info.id.unwrap_or_else(|| "local".into()),
            engine_name: info.name.unwrap_or_else(|| "docker".into()),
            usage: UsageReader::new(docker.clone()),
            docker,
            settings,
            dial_host,
            pool,
        })
    }

    pub fn container_name(&self, instance_id: &str) -> String {
        format!("{}-{}", self.settings.fleet, instance_id)
    }

    /// The name of the instance's data volume.
    pub fn volume_name(&self, instance_id: &str) -> String {
        format!("{}-data", self.container_name(instance_id))
    }

    /// Removes a volume by name; a missing one is fine.
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
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

    /// Removes a container by id or name, running or not; a missing container is fine.
    async fn remove_container(&self, id_or_name: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self
            .docker
            .remove_container(id_or_name, Some(options))
            .await
        {
            Ok(()) => {
                if let Some(pool) = &self.pool {
                    pool.worker_removed().await;
                }
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The network a new worker joins.
    async fn network(&self) -> Result<String, RuntimeError> {
        match &self.pool {
            Some(pool) => pool.place(&self.docker).await,
            None => Ok(self.settings.network.clone()),
        }
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

    /// The endpoint of a worker published on `port` (the `botfleet.port` label).
    fn endpoint(&self, port: Option<u16>) -> Option<Endpoint> {
        port.map(|port| Endpoint {
            host: self.dial_host.clone(),
            port,
        })
    }

    fn view(&self, c: bollard::models::ContainerInspectResponse, name: String) -> WorkerView {
        let state = c.state.unwrap_or_default();
        let labels = c.config.and_then(|cfg| cfg.labels).unwrap_or_default();
        let running = state.running.unwrap_or(false);
        WorkerView {
            instance_id: labels.get(labels::INSTANCE_ID).cloned(),
            id: c.id.unwrap_or_default(),
            name: c.name.unwrap_or(name).trim_start_matches('/').to_string(),
            state: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
            running,
            started_at: state.started_at,
            exit_code: state.exit_code,
            restart_count: c.restart_count.unwrap_or(0),
            endpoint: self.endpoint(labels.get(labels::PORT).and_then(|p| p.parse().ok())),
            host_id: Some(self.engine_id.clone()),
        }
    }
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker.ping().await?;
        Ok(())
    }

    async fn run_worker(&self, spec: &WorkerSpec<'_>) -> Result<WorkerView, RuntimeError> {
        if !spec.placement.is_empty() {
            return Err(RuntimeError::Unsupported(
                "placement constraints need the swarm runtime; plain Docker has one host".into(),
            ));
        }
        let name = self.container_name(spec.instance_id);
        let existing = match self.inspect_raw(&name).await? {
            // Made by a manager that passed secrets in the environment: made again without them.
            Some(old) if !is_running(&old) && has_secrets_in_env(&old) => {
                self.remove_container(&name).await?;
                None
            }
            other => other,
        };
        let (id, running) = match existing {
            Some(existing) => (
                existing.id.clone().unwrap_or_else(|| name.clone()),
                is_running(&existing),
            ),
            None => {
                let options = CreateContainerOptionsBuilder::new().name(&name).build();
                let network = self.network().await?;
                let id = self
                    .docker
                    .create_container(Some(options), self.container_body(spec, network))
                    .await?
                    .id;
                (id, false)
            }
        };
        // Before every start, so a container whose copy failed (or was interrupted) gets them too.
        if !running {
            self.put_secret_files(&id, spec).await?;
        }
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
        match self.inspect_raw(&id).await? {
            Some(c) => Ok(self.view(c, name)),
            // Removed behind our back between start and inspect: the next converge recreates it.
            None => Err(RuntimeError::Unsupported(format!(
                "container {name} vanished right after it started"
            ))),
        }
    }

    async fn stop_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
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

    async fn remove_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        let name = self.container_name(instance_id);
        self.usage.forget(&name);
        self.remove_container(&name).await
    }

    async fn remove_worker_data(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.remove_volume(&self.volume_name(instance_id)).await
    }

    async fn remove_orphan(&self, worker: &WorkerView) -> Result<(), RuntimeError> {
        self.remove_container(&worker.id).await?;
        if let Some(id) = &worker.instance_id {
            self.remove_worker_data(id).await?;
        }
        Ok(())
    }

    async fn inspect_worker(&self, instance_id: &str) -> Result<Option<WorkerView>, RuntimeError> {
        let name = self.container_name(instance_id);
        Ok(self.inspect_raw(&name).await?.map(|c| self.view(c, name)))
    }

    async fn list_workers(&self) -> Result<Vec<WorkerView>, RuntimeError> {
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
                let labels = c.labels.unwrap_or_default();
                WorkerView {
                    instance_id: labels.get(labels::INSTANCE_ID).cloned(),
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
                    endpoint: self.endpoint(labels.get(labels::PORT).and_then(|p| p.parse().ok())),
                    host_id: Some(self.engine_id.clone()),
                }
            })
            .collect())
    }

    async fn tidy(&self) -> Result<(), RuntimeError> {
        if let Some(pool) = &self.pool {
            pool.prune(&self.docker).await?;
        }
        Ok(())
    }

    fn events(&self, since: Option<i64>) -> BoxStream<'static, Result<WorkerEvent, RuntimeError>> {
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
            .boxed()
    }

    fn logs(
        &self,
        instance_id: &str,
        tail: u64,
        follow: bool,
    ) -> BoxStream<'static, Result<Bytes, RuntimeError>> {
        let tail = tail.to_string();
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        self.docker
            .logs(&self.container_name(instance_id), Some(options))
            .map(log_chunk)
            .boxed()
    }

    /// Docker computes the CPU figure from two samples one second apart (`precpu_stats`), so this takes
    /// about a second.
    async fn worker_usage(
        &self,
        instance_id: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        let name = self.container_name(instance_id);
        self.usage.usage(&name, &name).await
    }

    async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError> {
        engine_container_counts(&self.docker).await
    }

    async fn hosts(&self) -> Result<Vec<HostView>, RuntimeError> {
        let info = self.docker.info().await?;
        Ok(vec![HostView {
            id: self.engine_id.clone(),
            hostname: info.name.unwrap_or_else(|| self.engine_name.clone()),
            role: "engine".into(),
            availability: Availability::Active,
            state: "ready".into(),
            address: Some(self.dial_host.clone()),
            cpus: info.ncpu.unwrap_or(0) as f64,
            memory_bytes: info.mem_total.unwrap_or(0),
            engine_version: info.server_version,
            labels: Default::default(),
            local: true,
        }])
    }

    async fn set_host_availability(
        &self,
        host_id: &str,
        availability: Availability,
    ) -> Result<HostView, RuntimeError> {
        if host_id != self.engine_id {
            return Err(RuntimeError::NoSuchHost(host_id.to_string()));
        }
        if availability != Availability::Active {
            return Err(RuntimeError::Unsupported(format!(
                "plain Docker has one host and cannot {} it; run the manager with --runtime swarm",
                availability.as_str()
            )));
        }
        let mut hosts = self.hosts().await?;
        Ok(hosts.remove(0))
    }
}

/// One chunk of a container's log, whichever stream it came from.
pub(crate) fn log_chunk(
    chunk: Result<LogOutput, bollard::errors::Error>,
) -> Result<Bytes, RuntimeError> {
    match chunk {
        Ok(LogOutput::StdOut { message })
        | Ok(LogOutput::StdErr { message })
        | Ok(LogOutput::Console { message })
        | Ok(LogOutput::StdIn { message }) => Ok(message),
        Err(e) => Err(e.into()),
    }
}

/// CPU and memory of one container by id or name; `None` when it is missing.
/// A container's usage from Docker's stats (about a second: the engine takes two CPU readings).
pub(crate) async fn container_stats(
    docker: &Docker,
    container: &str,
) -> Result<Option<ContainerUsage>, RuntimeError> {
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(false)
        .build();
    let mut stream = docker.stats(container, Some(options));
    match stream.next().await {
        Some(Ok(stats)) => Ok(Some(ContainerUsage::from_stats(&stats))),
        Some(Err(e)) if is_not_found(&e) => Ok(None),
        Some(Err(e)) => Err(e.into()),
        None => Ok(None),
    }
}

/// Containers on the whole engine: (total, running).
pub(crate) async fn engine_container_counts(
    docker: &Docker,
) -> Result<(usize, usize), RuntimeError> {
    let options = ListContainersOptionsBuilder::new().all(true).build();
    let all = docker.list_containers(Some(options)).await?;
    let running = all
        .iter()
        .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .count();
    Ok((all.len(), running))
}

impl DockerRuntime {
    /// The shared binary, read-only where the image keeps its own.
    fn binary_mount(&self) -> Option<Mount> {
        self.binary_volume.as_ref().map(|volume| Mount {
            target: Some(binary_volume::BINARY_DIR.to_string()),
            source: Some(volume.clone()),
            typ: Some(MountType::VOLUME),
            read_only: Some(true),
            ..Default::default()
        })
    }

    fn container_body(&self, spec: &WorkerSpec<'_>, network: String) -> ContainerCreateBody {
        let s = &self.settings;
        let host_network = network == "host";
        // The worker listens on the port it is published on (host networking needs no mapping).
        let ports: Vec<u16> = std::iter::once(spec.port).chain(spec.mcp_port).collect();
        let mut env_vars = spec.port_env();
        env_vars.extend([
            format!("{}={}", env::INSTANCE_ID, spec.instance_id),
            format!("{}={}", env::PROVIDER, spec.provider),
        ]);
        // The secrets themselves are files (see `put_secret_files`).
        env_vars.extend(
            secret_files(spec)
                .iter()
                .map(|f| format!("{}{}={SECRETS_DIR}/{}", f.var, env::FILE_SUFFIX, f.name)),
        );
        env_vars.extend(spec.platform_urls.env(spec.provider));
        env_vars.extend(spec.outbound_env());
        if let Some(url) = &spec.telegram_webhook_url {
            env_vars.push(format!("{}={url}", env::TELEGRAM_WEBHOOK_URL));
        }
        env_vars.push(format!("{}={WORKER_DATA_DIR}", env::DATA_DIR));
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
            network_mode: Some(network),
            port_bindings: (!host_network).then(|| {
                ports
                    .iter()
                    .map(|port| {
                        let binding = PortBinding {
                            host_ip: Some(s.host_ip.to_string()),
                            host_port: Some(port.to_string()),
                        };
                        (format!("{port}/tcp"), Some(vec![binding]))
                    })
                    .collect()
            }),
            extra_hosts: (!host_network)
                .then(|| vec!["host.docker.internal:host-gateway".to_string()]),
            // Bulk jobs and the seen chats outlive the container (restart, recreate), not the instance.
            mounts: Some(
                self.binary_mount()
                    .into_iter()
                    .chain([Mount {
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
                    }])
                    .collect(),
            ),
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
            exposed_ports: (!host_network)
                .then(|| ports.iter().map(|port| format!("{port}/tcp")).collect()),
            host_config: Some(host_config),
            ..Default::default()
        }
    }
}

/// Where the worker's volume is mounted.
pub const WORKER_DATA_DIR: &str = "/data";

/// Where the worker finds its secret files (as Swarm mounts secrets).
pub const SECRETS_DIR: &str = "/run/secrets";
/// The worker image's user (`USER` in docker/worker.Dockerfile): the secret files are its alone.
const WORKER_UID: u64 = 65534;

/// One secret the worker gets as a file.
struct SecretFile {
    /// File name under [`SECRETS_DIR`].
    name: &'static str,
    /// The worker's variable; the container's environment names the file in `<var>_FILE`.
    var: &'static str,
    value: String,
}

/// The worker's secrets: its credentials, the key digests it checks callers against (the Telegram
/// webhook secret derives from the control key's), and the agent configuration (it may hold the
/// agent's key).
fn secret_files(spec: &WorkerSpec<'_>) -> Vec<SecretFile> {
    let file = |name, var, value: &str| SecretFile {
        name,
        var,
        value: value.to_string(),
    };
    let mut files = vec![
        file("credentials", env::CREDENTIALS, &spec.credentials),
        file("api_key_sha256", env::API_KEY_SHA256, spec.api_key_sha256),
        file(
            "control_key_sha256",
            env::CONTROL_KEY_SHA256,
            &spec.control_key_sha256,
        ),
    ];
    if let Some(agent) = &spec.bot_config {
        files.push(file("bot_config", env::BOT_CONFIG, agent));
    }
    files
}

/// A tar of `run/`, `run/secrets/` and the files, owned by the worker's user: directories 0500, files
/// 0400 (the image is `FROM scratch`: there is no `/run` to extract into).
fn secrets_tar(files: &[SecretFile]) -> std::io::Result<Vec<u8>> {
    let entry = |path: &str, kind: tar::EntryType, mode: u32, size: usize| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(WORKER_UID);
        header.set_gid(WORKER_UID);
        header.set_size(size as u64);
        header.set_mtime(0);
        header.set_path(path).map(|()| header)
    };
    let dir = SECRETS_DIR.trim_start_matches('/');
    let mut tar = tar::Builder::new(Vec::new());
    let mut parents = String::new();
    for part in dir.split('/') {
        parents.push_str(part);
        parents.push('/');
        let mut header = entry(&parents, tar::EntryType::Directory, 0o500, 0)?;
        header.set_cksum();
        tar.append(&header, std::io::empty())?;
    }
    for f in files {
        let path = format!("{dir}/{}", f.name);
        let mut header = entry(&path, tar::EntryType::Regular, 0o400, f.value.len())?;
        header.set_cksum();
        tar.append(&header, f.value.as_bytes())?;
    }
    tar.into_inner()
}

fn is_running(c: &bollard::models::ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// Whether a container was created with a secret in its environment (by a manager before secret files).
fn has_secrets_in_env(c: &bollard::models::ContainerInspectResponse) -> bool {
    let env = c.config.as_ref().and_then(|cfg| cfg.env.as_ref());
    env.into_iter().flatten().any(|var| {
        [env::CREDENTIALS, env::BOT_TOKEN, env::BOT_CONFIG]
            .iter()
            .any(|name| {
                var.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
            })
    })
}

impl DockerRuntime {
    /// Copies the worker's secret files into container `id` (created or stopped), replacing any there.
    async fn put_secret_files(&self, id: &str, spec: &WorkerSpec<'_>) -> Result<(), RuntimeError> {
        let tar = secrets_tar(&secret_files(spec))
            .map_err(|e| RuntimeError::Unsupported(format!("packing the secret files: {e}")))?;
        let options = UploadToContainerOptionsBuilder::new().path("/").build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await?;
        Ok(())
    }
}

impl WorkerEvent {
    pub(crate) fn from_message(message: bollard::models::EventMessage) -> Option<Self> {
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

impl ContainerUsage {
    pub(crate) fn from_stats(s: &bollard::models::ContainerStatsResponse) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(
        urls: &'a super::super::PlatformUrls,
        outbound: &'a netguard::Policy,
    ) -> WorkerSpec<'a> {
        WorkerSpec {
            outbound,
            instance_id: "i1",
            provider: shared::Provider::Telegram,
            port: 3001,
            mcp_port: None,
            credentials: r#"{"provider":"telegram","token":"1:s3cr3t"}"#.into(),
            memory_bytes: 1,
            nano_cpus: 1,
            api_key_sha256: "aa",
            control_key_sha256: "bb".into(),
            platform_urls: urls,
            bot_config: Some(r#"{"api_key":"sk-s3cr3t"}"#.into()),
            telegram_webhook_url: None,
            placement: &[],
            config_sha256: "cc",
            last_host: None,
        }
    }

    #[test]
    fn the_secret_files_are_the_workers_alone_under_run_secrets() {
        let urls = super::super::PlatformUrls {
            telegram_api: "http://t".into(),
            discord_api: String::new(),
            discord_gateway: String::new(),
            slack_api: String::new(),
            whatsapp_api: String::new(),
            callbacks: String::new(),
        };
        let tar = secrets_tar(&secret_files(&spec(&urls, &netguard::Policy::default()))).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut entry, &mut body).unwrap();
            assert_eq!(
                (header.uid().unwrap(), header.gid().unwrap()),
                (65534, 65534)
            );
            let path = header.path().unwrap().display().to_string();
            seen.push((path, header.mode().unwrap(), body));
        }
        let expect = |p: &str, m: u32, b: &str| (p.to_string(), m, b.to_string());
        assert_eq!(
            seen,
            [
                expect("run/", 0o500, ""),
                expect("run/secrets/", 0o500, ""),
                expect(
                    "run/secrets/credentials",
                    0o400,
                    r#"{"provider":"telegram","token":"1:s3cr3t"}"#
                ),
                expect("run/secrets/api_key_sha256", 0o400, "aa"),
                expect("run/secrets/control_key_sha256", 0o400, "bb"),
                expect(
                    "run/secrets/bot_config",
                    0o400,
                    r#"{"api_key":"sk-s3cr3t"}"#
                ),
            ]
        );
    }

    #[test]
    fn containers_with_secrets_in_their_environment_are_told_apart() {
        let with_env = |vars: &[&str]| bollard::models::ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig {
                env: Some(vars.iter().map(|v| v.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(has_secrets_in_env(&with_env(&["BOTFLEET_CREDENTIALS={}"])));
        assert!(has_secrets_in_env(&with_env(&["BOTFLEET_BOT_CONFIG={}"])));
        assert!(!has_secrets_in_env(&with_env(&[
            "BOTFLEET_CREDENTIALS_FILE=/run/secrets/credentials",
            "BOTFLEET_PORT=3001",
        ])));
    }
}
