//! Workers as Docker Swarm services: one replicated service with one replica per bot, named
//! `<fleet>-<instance id>`, found by the same labels as the plain Docker containers (on the service and on
//! its containers, so container events on a node carry them). The engine the manager talks to must be a
//! manager node of an active swarm.
//!
//! What this runtime decides (the issue leaves it open):
//!
//! - **Who restarts crashed bots: the manager.** Services run with restart condition `none`, so a task
//!   that exits stays dead and the reconciler sees it exactly as it sees an exited container: the same
//!   crash count, backoff, crash-loop guard and status history on both runtimes. `run_worker` creates the
//!   service when it is missing, otherwise sets one replica and, when the current task has ended, forces a
//!   new one (`TaskTemplate.ForceUpdate + 1`); `stop_worker` scales to zero replicas (Swarm stops the task
//!   with SIGTERM and a 10 s grace period, then removes it, so a stopped bot has no container; its log
//!   goes with it). A worker counts as `running` while its current task is wanted running and has not
//!   ended (`state` tells `pending`, `starting` or `running`), so a task waiting for a node (a drained
//!   pinned node, unmet constraints: `state` is `pending: <why>`) is not mistaken for a crash; the
//!   instance stays `starting` until its worker answers. For a task on the manager's own node the
//!   container is checked too, so a killed worker is seen at its `die` event, before Swarm records it.
//! - **Ports: host mode.** The worker port is published only on the node the task runs on, and the
//!   manager dials `<node address>:<port>` (the node's address as Swarm reports it; `127.0.0.1` on a
//!   single-node swarm made with `--advertise-addr 127.0.0.1`). Ingress publishing would reserve every
//!   bot's port on every node and route through the mesh. Host mode cannot name a host IP: the port is
//!   bound on `0.0.0.0` of that node (the manager's `--host-ip` does not apply; firewall the range), and
//!   the manager's port allocator can only check ports on its own host.
//! - **Data: a local volume pinned with its service.** Bulk jobs and seen chats live in
//!   [`WORKER_DATA_DIR`] on a named local volume (`<fleet>-<id>-data`) created on the node the task runs
//!   on. Once the task first ran, the service gets a placement constraint `node.id==<that node>` (label
//!   `botfleet.node`; Swarm does not restart a task for a placement change it still meets), and a
//!   service recreated later (restart, new configuration, removed behind our back) is pinned to the node
//!   the instance last ran on (`WorkerSpec::last_host`, kept in the manager's store). So data and task
//!   stay together; the price: a drained or lost pinned node leaves its bots `pending` until the node is
//!   active again (or the instance is deleted). `remove_worker_data` can only remove a volume on the
//!   manager's own node: Docker has no API to remove another node's local volume.
//! - **Secrets: Docker secrets, files in the task.** The bot token, the API-key digest, the control-key
//!   digest and the agent configuration (it may hold the agent's API key) are Docker secrets named
//!   `<fleet>-<id>-<kind>-<8 hex of the configuration digest>`, mounted as files under `/run/secrets`
//!   readable by the worker's user alone; the worker reads them through `<NAME>_FILE` variables, so
//!   `docker service inspect` shows secret references and no value. Secrets are immutable: a changed
//!   configuration creates new ones, updates the service (the old task stops first), and deletes the old
//!   ones; removing the worker removes its secrets.
//! - **Logs.** A worker on the manager's node is read from its newest task container (Docker's
//!   container log, as on plain Docker: the current task's, or the crashed one's until a new task
//!   starts); a worker on another node through the service log.
//! - **Events.** Container events (`start`, `die`, `oom`, `destroy`) with our fleet label come from the
//!   manager's own node only, and service `remove` events become `Destroyed`. Docker emits no task events,
//!   so a task that dies on another node is seen by the periodic reconcile pass.
//! - **Network.** `--network auto` (the default), `bridge` or empty: each task joins its node's default bridge;
//!   `host`: the node's host network (no publishing; the worker binds 0.0.0.0); any other name: an
//!   existing swarm-scoped (overlay) network. A node-local bridge network cannot carry services.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::RwLock,
    time::{Duration, Instant},
};

use base64::Engine as _;
use bollard::{
    Docker,
    models::{
        ContainerStateStatusEnum, EndpointPortConfig, EndpointPortConfigProtocolEnum,
        EndpointPortConfigPublishModeEnum, EndpointSpec, Limit, LocalNodeState, Mount, MountType,
        MountVolumeOptions, NetworkAttachmentConfig, Node, NodeSpecAvailabilityEnum,
        NodeSpecRoleEnum, Secret, SecretSpec, Service, ServiceSpec, ServiceSpecMode,
        ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
        ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec,
        TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets,
        TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
        TaskSpecRestartPolicyConditionEnum, TaskState,
    },
    query_parameters::{
        EventsOptionsBuilder, InspectContainerOptions, InspectServiceOptions,
        ListContainersOptionsBuilder, ListNodesOptions, ListSecretsOptionsBuilder,
        ListServicesOptionsBuilder, ListTasksOptionsBuilder, LogsOptionsBuilder,
        RemoveVolumeOptions, UpdateNodeOptions, UpdateServiceOptionsBuilder,
    },
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use shared::{env, labels};

use super::{
    Availability, ContainerUsage, Endpoint, HostView, Runtime, RuntimeError, RuntimeKind,
    RuntimeSettings, WORKER_DATA_DIR, WorkerEvent, WorkerEventKind, WorkerSpec, WorkerView,
    docker::{engine_container_counts, log_chunk},
    is_conflict, is_not_found,
    usage::UsageReader,
};

/// Service label: the configuration digest the service was made from.
const CONFIG_LABEL: &str = "botfleet.config_sha256";
/// Service label: the node the service is pinned to (where its data volume is).
const PIN_LABEL: &str = "botfleet.node";
/// Label Swarm puts on every task container: the service's name.
const SERVICE_NAME_LABEL: &str = "com.docker.swarm.service.name";
/// The worker image's user (`USER` in docker/worker.Dockerfile): secret files are readable by it alone.
const WORKER_UID: &str = "65534";
/// Docker refuses secret names longer than this.
const SECRET_NAME_MAX: usize = 64;
/// How long `run_worker` waits for a new task to run (or fail) before answering with it as it is.
const START_WAIT: Duration = Duration::from_secs(30);
/// SIGTERM, then SIGKILL after this long (as `docker stop -t 10`).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long `stop_worker` waits for the task to be gone.
const STOP_WAIT: Duration = Duration::from_secs(25);
/// How long removing a volume waits for Swarm to remove the last container using it.
const VOLUME_WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// One secret a worker gets as a file.
struct SecretKind {
    /// In the secret's name.
    short: &'static str,
    /// File name under `/run/secrets`.
    file: &'static str,
    /// The worker's variable; it reads `<var>_FILE`.
    var: &'static str,
}

const CREDENTIALS: SecretKind = SecretKind {
    short: "crd",
    file: "credentials",
    var: env::CREDENTIALS,
};
const API_KEY: SecretKind = SecretKind {
    short: "key",
    file: "api_key_sha256",
    var: env::API_KEY_SHA256,
};
const CONTROL_KEY: SecretKind = SecretKind {
    short: "ctl",
    file: "control_key_sha256",
    var: env::CONTROL_KEY_SHA256,
};
const AGENT: SecretKind = SecretKind {
    short: "agt",
    file: "bot_config",
    var: env::BOT_CONFIG,
};

pub struct SwarmRuntime {
    docker: Docker,
    settings: RuntimeSettings,
    /// The node id of the engine the manager talks to.
    node_id: String,
    /// Node id → address the manager dials workers on; filled on demand and by `hosts()`.
    addresses: RwLock<HashMap<String, String>>,
    usage: UsageReader,
}

impl SwarmRuntime {
    /// A runtime on `docker`, which must be a manager node of an active swarm.
    pub async fn new(docker: Docker, settings: RuntimeSettings) -> Result<Self, RuntimeError> {
        let swarm = docker.info().await?.swarm.unwrap_or_default();
        let active = swarm.local_node_state == Some(LocalNodeState::ACTIVE);
        if !active || !swarm.control_available.unwrap_or(false) {
            return Err(RuntimeError::Unsupported(
                "the swarm runtime needs an engine that is a manager node of an active swarm \
                 (`docker swarm init`); use --runtime docker for a plain engine"
                    .into(),
            ));
        }
        Ok(Self {
            node_id: swarm.node_id.unwrap_or_default(),
            usage: UsageReader::new(docker.clone()),
            docker,
            settings,
            addresses: RwLock::default(),
        })
    }

    pub fn service_name(&self, instance_id: &str) -> String {
        format!("{}-{}", self.settings.fleet, instance_id)
    }

    /// The name of the instance's data volume (on the node its task runs on).
    pub fn volume_name(&self, instance_id: &str) -> String {
        format!("{}-data", self.service_name(instance_id))
    }

    /// The labels that say which fleet and instance an object belongs to.
    fn owner_labels(&self, instance_id: &str) -> HashMap<String, String> {
        HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::FLEET.to_string(), self.settings.fleet.clone()),
            (labels::INSTANCE_ID.to_string(), instance_id.to_string()),
        ])
    }

    fn worker_labels(&self, spec: &WorkerSpec<'_>) -> HashMap<String, String> {
        let mut l = self.owner_labels(spec.instance_id);
        l.insert(labels::PROVIDER.to_string(), spec.provider.to_string());
        l.insert(labels::PORT.to_string(), spec.port.to_string());
        l
    }

    fn host_network(&self) -> bool {
        self.settings.network == "host"
    }

    async fn inspect_service(&self, name_or_id: &str) -> Result<Option<Service>, RuntimeError> {
        match self
            .docker
            .inspect_service(name_or_id, None::<InspectServiceOptions>)
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every task Swarm still keeps for the service (the current one and a short history).
    async fn tasks(&self, service_id: &str) -> Result<Vec<Task>, RuntimeError> {
        let filters = HashMap::from([("service", vec![service_id])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        match self.docker.list_tasks(Some(options)).await {
            Ok(tasks) => Ok(tasks),
            // The service went between its inspect and this list.
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the service's spec; Swarm wants the version it was read at.
    async fn update(&self, service: &Service, spec: ServiceSpec) -> Result<(), RuntimeError> {
        let id = service.id.as_deref().unwrap_or_default();
        let version = service
            .version
            .as_ref()
            .and_then(|v| v.index)
            .unwrap_or_default();
        let options = UpdateServiceOptionsBuilder::new()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .build();
        self.docker.update_service(id, spec, options, None).await?;
        Ok(())
    }

    /// Creates the instance's secrets for this configuration (or finds them, made by an earlier try) and
    /// returns how the task mounts them.
    async fn ensure_secrets(
        &self,
        spec: &WorkerSpec<'_>,
    ) -> Result<Vec<TaskSpecContainerSpecSecrets>, RuntimeError> {
        let mut values = vec![
            (&CREDENTIALS, spec.credentials.as_ref()),
            (&API_KEY, spec.api_key_sha256),
            (&CONTROL_KEY, spec.control_key_sha256.as_str()),
        ];
        if let Some(agent) = &spec.bot_config {
            values.push((&AGENT, agent.as_str()));
        }
        // Made by an earlier try of this configuration: reused (one list instead of a create each).
        let existing: HashMap<String, String> = self
            .instance_secrets(spec.instance_id)
            .await?
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect();
        let mut refs = Vec::with_capacity(values.len());
        for (kind, value) in values {
            let name = secret_name(
                &self.settings.fleet,
                spec.instance_id,
                kind,
                spec.config_sha256,
            );
            let id = match existing.get(&name) {
                Some(id) => id.clone(),
                None => self.create_secret(spec.instance_id, &name, value).await?,
            };
            refs.push(TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(kind.file.to_string()),
                    uid: Some(WORKER_UID.to_string()),
                    gid: Some(WORKER_UID.to_string()),
                    mode: Some(0o400),
                }),
                secret_id: Some(id),
                secret_name: Some(name),
            });
        }
        Ok(refs)
    }

    /// Creates a secret; one of that name made meanwhile is taken as it is (names carry the content's
    /// digest).
    async fn create_secret(
        &self,
        instance_id: &str,
        name: &str,
        value: &str,
    ) -> Result<String, RuntimeError> {
        let secret = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(self.owner_labels(instance_id)),
            data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
            ..Default::default()
        };
        match self.docker.create_secret(secret).await {
            Ok(created) => Ok(created.id),
            Err(e) if is_conflict(&e) => Ok(self
                .docker
                .inspect_secret(name)
                .await?
                .id
                .unwrap_or_else(|| name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    async fn instance_secrets(&self, instance_id: &str) -> Result<Vec<Secret>, RuntimeError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{}={}", labels::FLEET, self.settings.fleet),
                format!("{}={instance_id}", labels::INSTANCE_ID),
            ],
        )]);
        let options = ListSecretsOptionsBuilder::new().filters(&filters).build();
        Ok(self.docker.list_secrets(Some(options)).await?)
    }

    /// Deletes the instance's secrets except those named in `keep`. One still in use (by a service
    /// someone else updated) is left for the next removal.
    async fn remove_secrets(
        &self,
        instance_id: &str,
        keep: &HashSet<String>,
    ) -> Result<(), RuntimeError> {
        for secret in self.instance_secrets(instance_id).await? {
            let name = secret.spec.and_then(|s| s.name).unwrap_or_default();
            if keep.contains(&name) {
                continue;
            }
            let Some(id) = secret.id else { continue };
            match self.docker.delete_secret(&id).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) if e.to_string().contains("in use") => {
                    tracing::debug!(secret = %name, error = %e, "secret still in use; kept for now");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The service spec for `spec`: one replica, the manager restarts it, secrets as files, the data
    /// volume, host-mode port, limits and placement (plus the pin, when there is one).
    fn service_spec(
        &self,
        spec: &WorkerSpec<'_>,
        secrets: Vec<TaskSpecContainerSpecSecrets>,
        pin: Option<&str>,
        force_update: u64,
    ) -> ServiceSpec {
        let s = &self.settings;
        let host_network = self.host_network();
        let mut env_vars = spec.port_env();
        env_vars.extend([
            format!("{}={}", env::INSTANCE_ID, spec.instance_id),
            format!("{}={}", env::PROVIDER, spec.provider),
            format!("{}={WORKER_DATA_DIR}", env::DATA_DIR),
        ]);
        env_vars.extend(spec.platform_urls.env(spec.provider));
        env_vars.extend(spec.outbound_env());
        if let Some(url) = &spec.telegram_webhook_url {
            env_vars.push(format!("{}={url}", env::TELEGRAM_WEBHOOK_URL));
        }
        for secret in &secrets {
            if let Some(file) = secret.file.as_ref().and_then(|f| f.name.as_deref())
                && let Some(kind) = [&CREDENTIALS, &API_KEY, &CONTROL_KEY, &AGENT]
                    .into_iter()
                    .find(|k| k.file == file)
            {
                env_vars.push(format!(
                    "{}{}=/run/secrets/{file}",
                    kind.var,
                    env::FILE_SUFFIX
                ));
            }
        }
        let mut service_labels = self.worker_labels(spec);
        service_labels.insert(CONFIG_LABEL.to_string(), spec.config_sha256.to_string());
        let mut constraints = spec.placement.to_vec();
        if let Some(node) = pin {
            service_labels.insert(PIN_LABEL.to_string(), node.to_string());
            constraints.push(format!("node.id=={node}"));
        }
        let container = TaskSpecContainerSpec {
            image: Some(s.image.clone()),
            labels: Some(self.worker_labels(spec)),
            env: Some(env_vars),
            // Bulk jobs and the seen chats outlive the task (restart, recreate), not the instance.
            mounts: Some(vec![Mount {
                target: Some(WORKER_DATA_DIR.to_string()),
                source: Some(self.volume_name(spec.instance_id)),
                typ: Some(MountType::VOLUME),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(self.owner_labels(spec.instance_id)),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            secrets: Some(secrets),
            stop_grace_period: Some(STOP_GRACE.as_nanos() as i64),
            hosts: (!host_network).then(|| vec!["host-gateway host.docker.internal".to_string()]),
            ..Default::default()
        };
        let networks = match s.network.as_str() {
            "" | "bridge" | super::networks::AUTO => None,
            name => Some(vec![NetworkAttachmentConfig {
                target: Some(name.to_string()),
                ..Default::default()
            }]),
        };
        ServiceSpec {
            name: Some(self.service_name(spec.instance_id)),
            labels: Some(service_labels),
            task_template: Some(TaskSpec {
                container_spec: Some(container),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        nano_cpus: Some(spec.nano_cpus),
                        memory_bytes: Some(spec.memory_bytes),
                        pids: None,
                    }),
                    ..Default::default()
                }),
                // The manager restarts crashed workers itself, with backoff and a crash-loop guard.
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(constraints),
                    ..Default::default()
                }),
                force_update: Some(force_update),
                networks,
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            // The old task stops before the new one starts: never two consumers of one bot token.
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(1),
                order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE),
                ..Default::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                ports: (!host_network).then(|| {
                    std::iter::once(spec.port)
                        .chain(spec.mcp_port)
                        .map(|port| EndpointPortConfig {
                            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                            target_port: Some(i64::from(port)),
                            published_port: Some(i64::from(port)),
                            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Whether `node` is (still) a node of the swarm.
    async fn node_exists(&self, node: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_node(node).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The address the manager dials workers of `node` on.
    async fn node_address(&self, node: &str) -> Result<Option<String>, RuntimeError> {
        if let Some(addr) = self
            .addresses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
        {
            return Ok(Some(addr.clone()));
        }
        let found = match self.docker.inspect_node(node).await {
            Ok(n) => node_address(&n),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(addr) = &found {
            self.addresses
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.to_string(), addr.clone());
        }
        Ok(found)
    }

    /// For a starting or running task on the manager's own node, what its container says: a container
    /// is seen running, or killed, before Swarm's agent reports it. `None` for other tasks.
    async fn local_container(&self, task: &Task) -> Result<Option<LocalContainer>, RuntimeError> {
        if task.node_id.as_deref() != Some(self.node_id.as_str())
            || !matches!(
                task_state(task),
                Some(TaskState::STARTING | TaskState::RUNNING)
            )
        {
            return Ok(None);
        }
        let Some(id) = task
            .status
            .as_ref()
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.as_deref())
        else {
            return Ok(None);
        };
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let state = c.state.unwrap_or_default();
                let running = state.running.unwrap_or(false);
                Ok(Some(LocalContainer {
                    running,
                    ended: !running
                        && matches!(
                            state.status,
                            Some(
                                ContainerStateStatusEnum::EXITED
                                    | ContainerStateStatusEnum::DEAD
                                    | ContainerStateStatusEnum::REMOVING
                            )
                        ),
                    exit_code: state.exit_code,
                    started_at: state.started_at,
                }))
            }
            Err(e) if is_not_found(&e) => Ok(Some(LocalContainer {
                running: false,
                ended: true,
                exit_code: None,
                started_at: None,
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the task is wanted running and has not ended (its container checked when it is local).
    async fn is_live(&self, task: &Task) -> Result<bool, RuntimeError> {
        if !wanted_running(task) || task_state(task).is_none_or(is_ended) {
            return Ok(false);
        }
        if let Some(local) = self.local_container(task).await? {
            return Ok(!local.ended);
        }
        Ok(true)
    }

    /// The worker as the service and its current task show it.
    async fn view(&self, service: &Service, tasks: &[Task]) -> Result<WorkerView, RuntimeError> {
        let spec = service.spec.clone().unwrap_or_default();
        let service_labels = spec.labels.clone().unwrap_or_default();
        let port = service_labels
            .get(labels::PORT)
            .and_then(|p| p.parse::<u16>().ok());
        let mut view = WorkerView {
            id: service.id.clone().unwrap_or_default(),
            instance_id: service_labels.get(labels::INSTANCE_ID).cloned(),
            name: spec.name.clone().unwrap_or_default(),
            state: "stopped".into(),
            running: false,
            started_at: None,
            exit_code: None,
            restart_count: 0,
            endpoint: None,
            host_id: service_labels.get(PIN_LABEL).cloned(),
        };
        if replicas(&spec) == 0 {
            return Ok(view);
        }
        let Some(task) = current(tasks) else {
            // Created a moment ago; Swarm has not made its task yet.
            view.state = "new".into();
            view.running = true;
            return Ok(view);
        };
        let status = task.status.clone().unwrap_or_default();
        let state = status.state;
        let mut ended = state.is_none_or(is_ended) || !wanted_running(task);
        let mut exit_code = status.container_status.and_then(|c| c.exit_code);
        view.state = state.map_or_else(|| "unknown".into(), |s| s.to_string());
        if state == Some(TaskState::RUNNING) {
            view.started_at = status.timestamp.clone();
        }
        if let Some(local) = self.local_container(task).await? {
            if local.running {
                view.started_at = local.started_at.or(view.started_at);
                view.state = "running".into();
            } else if local.ended {
                ended = true;
                exit_code = local.exit_code;
                view.state = "exited".into();
            }
        }
        if state == Some(TaskState::PENDING)
            && let Some(why) = status.err.filter(|e| !e.is_empty())
        {
            view.state = format!("pending: {why}");
        }
        view.running = !ended;
        view.exit_code = if ended { exit_code } else { None };
        if let Some(node) = &task.node_id {
            view.host_id = Some(node.clone());
            if let (Some(host), Some(port)) = (self.node_address(node).await?, port) {
                view.endpoint = Some(Endpoint { host, port });
            }
        }
        Ok(view)
    }

    /// Waits for the newest task not in `before` to run, end or wait for a node; returns it (`None` when
    /// none showed up in time). A task that ended without ever running is an error with Swarm's reason.
    async fn wait_for_task(
        &self,
        service_id: &str,
        before: &HashSet<String>,
    ) -> Result<Option<Task>, RuntimeError> {
        let deadline = Instant::now() + START_WAIT;
        loop {
            let tasks = self.tasks(service_id).await?;
            let fresh: Vec<Task> = tasks
                .into_iter()
                .filter(|t| t.id.as_ref().is_some_and(|id| !before.contains(id)))
                .collect();
            if let Some(task) = current(&fresh) {
                let status = task.status.clone().unwrap_or_default();
                match status.state {
                    Some(TaskState::RUNNING) => return Ok(Some(task.clone())),
                    Some(state) if is_ended(state) => {
                        // It ran and exited: a crash, which the reconciler counts as one.
                        if status.message.as_deref() == Some("started") {
                            return Ok(Some(task.clone()));
                        }
                        return Err(RuntimeError::TaskFailed(
                            status
                                .err
                                .filter(|e| !e.is_empty())
                                .unwrap_or_else(|| state.to_string()),
                        ));
                    }
                    Some(TaskState::PENDING) if status.err.is_some_and(|e| !e.is_empty()) => {
                        return Ok(Some(task.clone()));
                    }
                    // On the manager's node the container is seen running (or already exited: a
                    // crash) before Swarm's agent reports it.
                    Some(TaskState::STARTING)
                        if self
                            .local_container(task)
                            .await?
                            .is_some_and(|c| c.running || c.ended) =>
                    {
                        return Ok(Some(task.clone()));
                    }
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until no task of the service runs or is about to.
    async fn wait_stopped(&self, service_id: &str) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            let tasks = self.tasks(service_id).await?;
            if tasks.iter().all(|t| task_state(t).is_none_or(is_ended)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Timeout(format!(
                    "the task of service {service_id} was still running {} s after it was told to stop",
                    STOP_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Scales the service to zero and waits for its task to be gone.
    async fn scale_down(&self, service: &Service) -> Result<(), RuntimeError> {
        let spec = service.spec.clone().unwrap_or_default();
        if replicas(&spec) != 0 {
            self.update(service, with_replicas(spec, 0)).await?;
        }
        self.wait_stopped(service.id.as_deref().unwrap_or_default())
            .await
    }

    /// Stops the service's task, then deletes the service (a missing one is fine).
    async fn remove_service(&self, service: &Service) -> Result<(), RuntimeError> {
        self.scale_down(service).await?;
        match self
            .docker
            .delete_service(service.id.as_deref().unwrap_or_default())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a volume of the manager's node by name; a missing one is fine. Waits while a container
    /// Swarm is still removing holds it.
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + VOLUME_WAIT;
        loop {
            match self
                .docker
                .remove_volume(name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) if is_conflict(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Pins the service to the node its task runs on, unless it is pinned already. Swarm leaves a
    /// running task alone when only the placement changes and the task still meets it.
    async fn pin(&self, name: &str, node: &str) -> Result<(), RuntimeError> {
        let Some(service) = self.inspect_service(name).await? else {
            return Ok(());
        };
        let mut spec = service.spec.clone().unwrap_or_default();
        let service_labels = spec.labels.get_or_insert_with(HashMap::new);
        if service_labels.contains_key(PIN_LABEL) {
            return Ok(());
        }
        service_labels.insert(PIN_LABEL.to_string(), node.to_string());
        let task = spec.task_template.get_or_insert_with(TaskSpec::default);
        task.placement
            .get_or_insert_with(TaskSpecPlacement::default)
            .constraints
            .get_or_insert_with(Vec::new)
            .push(format!("node.id=={node}"));
        self.update(&service, spec).await
    }

    fn host_view(&self, n: Node) -> HostView {
        let address = node_address(&n);
        let spec = n.spec.unwrap_or_default();
        let description = n.description.unwrap_or_default();
        let resources = description.resources.unwrap_or_default();
        let id = n.id.unwrap_or_default();
        HostView {
            local: id == self.node_id,
            id,
            hostname: description.hostname.unwrap_or_default(),
            role: match spec.role {
                Some(NodeSpecRoleEnum::MANAGER) => "manager",
                _ => "worker",
            }
            .into(),
            availability: match spec.availability {
                Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
                Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
                _ => Availability::Active,
            },
            state: n
                .status
                .and_then(|s| s.state)
                .map_or_else(|| "unknown".into(), |s| s.to_string()),
            address,
            cpus: resources.nano_cpus.unwrap_or(0) as f64 / 1e9,
            memory_bytes: resources.memory_bytes.unwrap_or(0),
            engine_version: description.engine.and_then(|e| e.engine_version),
            labels: spec
                .labels
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

/// `<fleet>-<id>-<kind>-<8 hex of the configuration digest>`; the fleet part is shortened when the name
/// would pass Docker's limit (the labels still carry it whole).
fn secret_name(fleet: &str, instance_id: &str, kind: &SecretKind, config_sha256: &str) -> String {
    let hash: String = config_sha256.chars().take(8).collect();
    let tail = format!("-{instance_id}-{}-{hash}", kind.short);
    let room = SECRET_NAME_MAX.saturating_sub(tail.len());
    let fleet: String = fleet.chars().take(room).collect();
    format!("{fleet}{tail}")
}

/// What the manager's own engine says about a task's container.
struct LocalContainer {
    running: bool,
    /// Exited, dead or gone: it will not run again.
    ended: bool,
    exit_code: Option<i64>,
    started_at: Option<String>,
}

fn task_state(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

fn wanted_running(task: &Task) -> bool {
    task.desired_state == Some(TaskState::RUNNING)
}

/// A task in this state will not run (again).
fn is_ended(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::COMPLETE
            | TaskState::SHUTDOWN
            | TaskState::FAILED
            | TaskState::REJECTED
            | TaskState::REMOVE
            | TaskState::ORPHANED
    )
}

/// Unix nanoseconds of a Docker timestamp (0 when it does not parse).
fn nanos(timestamp: Option<&String>) -> i128 {
    timestamp
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| t.unix_timestamp_nanos())
}

/// The task that stands for the worker: the newest one wanted running and not ended, else the newest.
fn current(tasks: &[Task]) -> Option<&Task> {
    tasks.iter().max_by_key(|t| {
        (
            wanted_running(t) && !task_state(t).is_none_or(is_ended),
            nanos(t.created_at.as_ref()),
        )
    })
}

fn replicas(spec: &ServiceSpec) -> i64 {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1)
}

fn with_replicas(mut spec: ServiceSpec, replicas: i64) -> ServiceSpec {
    spec.mode = Some(ServiceSpecMode {
        replicated: Some(ServiceSpecModeReplicated {
            replicas: Some(replicas),
        }),
        ..Default::default()
    });
    spec
}

fn force_update(spec: &ServiceSpec) -> u64 {
    spec.task_template
        .as_ref()
        .and_then(|t| t.force_update)
        .unwrap_or(0)
}

/// The placement constraints a user gave (the pin left out).
fn user_constraints(spec: &ServiceSpec) -> Vec<String> {
    let pin = spec
        .labels
        .as_ref()
        .and_then(|l| l.get(PIN_LABEL))
        .map(|node| format!("node.id=={node}"));
    spec.task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| Some(c) != pin.as_ref())
        .collect()
}

/// The address of a node: its status address, or (a manager that reports 0.0.0.0) its manager address.
fn node_address(n: &Node) -> Option<String> {
    let status = n
        .status
        .as_ref()
        .and_then(|s| s.addr.clone())
        .filter(|a| !a.is_empty() && a != "0.0.0.0");
    status.or_else(|| {
        n.manager_status
            .as_ref()
            .and_then(|m| m.addr.as_deref())
            .and_then(|a| a.rsplit_once(':').map(|(host, _)| host.to_string()))
    })
}

/// A service `remove` event of this fleet, as the instance's `Destroyed`.
fn service_removed(message: bollard::models::EventMessage, prefix: &str) -> Option<WorkerEvent> {
    let name = message.actor?.attributes?.get("name")?.clone();
    let instance_id = name.strip_prefix(prefix)?.to_string();
    (!instance_id.is_empty()).then(|| WorkerEvent {
        instance_id,
        kind: WorkerEventKind::Destroyed,
        time: message.time.unwrap_or(0),
    })
}

#[async_trait::async_trait]
impl Runtime for SwarmRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Swarm
    }

    fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker.ping().await?;
        Ok(())
    }

    async fn run_worker(&self, spec: &WorkerSpec<'_>) -> Result<WorkerView, RuntimeError> {
        let name = self.service_name(spec.instance_id);
        let secrets = self.ensure_secrets(spec).await?;
        let keep: HashSet<String> = secrets
            .iter()
            .filter_map(|s| s.secret_name.clone())
            .collect();
        // `before`: the tasks that were there, so the wait below looks at the new one.
        let (service_id, before) = match self.inspect_service(&name).await? {
            None => {
                let pin = match spec.last_host {
                    Some(node) if self.node_exists(node).await? => Some(node),
                    _ => None,
                };
                let created = self
                    .docker
                    .create_service(self.service_spec(spec, secrets, pin, 0), None)
                    .await?;
                (created.id.unwrap_or_else(|| name.clone()), HashSet::new())
            }
            Some(service) => {
                let id = service.id.clone().unwrap_or_else(|| name.clone());
                let tasks = self.tasks(&id).await?;
                let all: HashSet<String> = tasks.iter().filter_map(|t| t.id.clone()).collect();
                let current_spec = service.spec.clone().unwrap_or_default();
                let service_labels = current_spec.labels.clone().unwrap_or_default();
                if service_labels.get(CONFIG_LABEL).map(String::as_str) != Some(spec.config_sha256)
                {
                    // A new configuration: new secrets and spec; the old task stops first. The pin
                    // stays unless the user's placement changed.
                    let pin = service_labels
                        .get(PIN_LABEL)
                        .filter(|_| user_constraints(&current_spec) == spec.placement);
                    let next = self.service_spec(
                        spec,
                        secrets,
                        pin.map(String::as_str),
                        force_update(&current_spec),
                    );
                    self.update(&service, next).await?;
                    (id, all)
                } else {
                    let live = match current(&tasks) {
                        Some(task) => self.is_live(task).await?,
                        None => replicas(&current_spec) > 0,
                    };
                    let scaled = replicas(&current_spec);
                    let running = scaled >= 1 && live;
                    if scaled != 1 || !live {
                        // One replica, and a new task when the last one ended (a replica count
                        // alone makes one only from zero).
                        let forced = force_update(&current_spec) + u64::from(scaled >= 1 && !live);
                        let mut next = with_replicas(current_spec, 1);
                        if let Some(task) = next.task_template.as_mut() {
                            task.force_update = Some(forced);
                        }
                        self.update(&service, next).await?;
                    }
                    (id, if running { HashSet::new() } else { all })
                }
            }
        };
        let task = self.wait_for_task(&service_id, &before).await?;
        // The pin, the old secrets' removal and the answer, at once: the reconciler records the
        // endpoint only once this returns.
        let pin = async {
            if let Some(task) = &task
                && matches!(
                    task_state(task),
                    Some(TaskState::STARTING | TaskState::RUNNING)
                )
                && let Some(node) = &task.node_id
                && let Err(e) = self.pin(&name, node).await
            {
                tracing::warn!(service = %name, error = %e, "could not pin the service to its node");
            }
        };
        let cleanup = async {
            if let Err(e) = self.remove_secrets(spec.instance_id, &keep).await {
                tracing::warn!(service = %name, error = %e, "could not remove outdated secrets");
            }
        };
        let ((), (), view) = tokio::join!(pin, cleanup, self.inspect_worker(spec.instance_id));
        view?.ok_or_else(|| {
            RuntimeError::Unsupported(format!(
                "service {name} vanished right after it was started"
            ))
        })
    }

    async fn stop_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        match self
            .inspect_service(&self.service_name(instance_id))
            .await?
        {
            Some(service) => self.scale_down(&service).await,
            None => Ok(()),
        }
    }

    async fn remove_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.usage.forget(&self.service_name(instance_id));
        if let Some(service) = self
            .inspect_service(&self.service_name(instance_id))
            .await?
        {
            self.remove_service(&service).await?;
        }
        self.remove_secrets(instance_id, &HashSet::new()).await
    }

    async fn remove_worker_data(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.remove_volume(&self.volume_name(instance_id)).await
    }

    async fn remove_orphan(&self, worker: &WorkerView) -> Result<(), RuntimeError> {
        if let Some(service) = self.inspect_service(&worker.id).await? {
            self.remove_service(&service).await?;
        }
        if let Some(id) = &worker.instance_id {
            self.remove_secrets(id, &HashSet::new()).await?;
            self.remove_worker_data(id).await?;
        }
        Ok(())
    }

    async fn inspect_worker(&self, instance_id: &str) -> Result<Option<WorkerView>, RuntimeError> {
        let Some(service) = self
            .inspect_service(&self.service_name(instance_id))
            .await?
        else {
            return Ok(None);
        };
        let tasks = self
            .tasks(service.id.as_deref().unwrap_or_default())
            .await?;
        Ok(Some(self.view(&service, &tasks).await?))
    }

    /// Every service of the fleet with its current task (from Swarm's records, one list for all:
    /// no container is inspected), so each worker names the node it runs on.
    async fn tidy(&self) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn list_workers(&self) -> Result<Vec<WorkerView>, RuntimeError> {
        let filters = HashMap::from([(
            "label",
            vec![format!("{}={}", labels::FLEET, self.settings.fleet)],
        )]);
        let options = ListServicesOptionsBuilder::new().filters(&filters).build();
        let services = self.docker.list_services(Some(options)).await?;
        let filters = HashMap::from([("desired-state", vec!["running"])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let mut tasks: HashMap<String, Vec<Task>> = HashMap::new();
        for task in self.docker.list_tasks(Some(options)).await? {
            if let Some(service) = task.service_id.clone() {
                tasks.entry(service).or_default().push(task);
            }
        }
        let mut workers = Vec::with_capacity(services.len());
        for s in services {
            let spec = s.spec.unwrap_or_default();
            let service_labels = spec.labels.clone().unwrap_or_default();
            let id = s.id.unwrap_or_default();
            let task = tasks.get(&id).and_then(|t| current(t));
            let mut view = WorkerView {
                instance_id: service_labels.get(labels::INSTANCE_ID).cloned(),
                name: spec.name.clone().unwrap_or_default(),
                state: if replicas(&spec) == 0 {
                    "stopped"
                } else {
                    "not running"
                }
                .into(),
                running: false,
                started_at: None,
                exit_code: None,
                restart_count: 0,
                endpoint: None,
                host_id: service_labels.get(PIN_LABEL).cloned(),
                id,
            };
            if let Some(task) = task.filter(|_| replicas(&spec) > 0) {
                let state = task_state(task);
                view.state = state.map_or_else(|| "unknown".into(), |s| s.to_string());
                view.running = wanted_running(task) && !state.is_none_or(is_ended);
                if let Some(node) = &task.node_id {
                    view.host_id = Some(node.clone());
                    let port = service_labels
                        .get(labels::PORT)
                        .and_then(|p| p.parse::<u16>().ok());
                    if let (Some(host), Some(port)) = (self.node_address(node).await?, port) {
                        view.endpoint = Some(Endpoint { host, port });
                    }
                }
            }
            workers.push(view);
        }
        Ok(workers)
    }

    fn events(&self, since: Option<i64>) -> BoxStream<'static, Result<WorkerEvent, RuntimeError>> {
        let since = since.map(|s| s.to_string());
        let options = |filters: &HashMap<&str, Vec<String>>| {
            let mut options = EventsOptionsBuilder::new().filters(filters);
            if let Some(since) = &since {
                options = options.since(since);
            }
            options.build()
        };
        let container_filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            (
                "label",
                vec![format!("{}={}", labels::FLEET, self.settings.fleet)],
            ),
            (
                "event",
                ["die", "destroy", "start", "oom"]
                    .map(String::from)
                    .to_vec(),
            ),
        ]);
        // Service events carry only the service's name, no labels: the fleet prefix picks ours.
        let service_filters = HashMap::from([
            ("type", vec!["service".to_string()]),
            ("event", vec!["remove".to_string()]),
        ]);
        let prefix = format!("{}-", self.settings.fleet);
        let containers = self
            .docker
            .events(Some(options(&container_filters)))
            .filter_map(|event| async move {
                match event {
                    Err(e) => Some(Err(e.into())),
                    Ok(message) => WorkerEvent::from_message(message).map(Ok),
                }
            });
        let services = self
            .docker
            .events(Some(options(&service_filters)))
            .filter_map(move |event| {
                let prefix = prefix.clone();
                async move {
                    match event {
                        Err(e) => Some(Err(e.into())),
                        Ok(message) => service_removed(message, &prefix).map(Ok),
                    }
                }
            });
        // One stream that ends when either ends (the engine restarted): the caller reconnects both.
        let end = || futures::stream::once(async { None });
        futures::stream::select(
            containers.map(Some).chain(end()),
            services.map(Some).chain(end()),
        )
        .take_while(|event| futures::future::ready(event.is_some()))
        .filter_map(futures::future::ready)
        .boxed()
    }

    /// The newest container of the service on the manager's node (the current or last task) is read
    /// through Docker's container log, as on plain Docker; a worker on another node through the service
    /// log, which Swarm's log broker gathers from that node (and which can answer late, or empty, for
    /// a task that just started).
    fn logs(
        &self,
        instance_id: &str,
        tail: u64,
        follow: bool,
    ) -> BoxStream<'static, Result<Bytes, RuntimeError>> {
        let docker = self.docker.clone();
        let name = self.service_name(instance_id);
        futures::stream::once(async move {
            let tail = tail.to_string();
            let options = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .follow(follow)
                .tail(&tail)
                .build();
            let filters = HashMap::from([("label", vec![format!("{SERVICE_NAME_LABEL}={name}")])]);
            let listed = docker
                .list_containers(Some(
                    ListContainersOptionsBuilder::new()
                        .all(true)
                        .filters(&filters)
                        .build(),
                ))
                .await;
            let local = match listed {
                Ok(containers) => containers
                    .into_iter()
                    .max_by_key(|c| c.created.unwrap_or(0))
                    .and_then(|c| c.id),
                Err(e) => return futures::stream::once(async { Err(e.into()) }).boxed(),
            };
            match local {
                Some(id) => docker.logs(&id, Some(options)).map(log_chunk).boxed(),
                None => docker
                    .service_logs(&name, Some(options))
                    .map(log_chunk)
                    .boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    /// Measured only when the task runs on the manager's own node (the engine it talks to).
    async fn worker_usage(
        &self,
        instance_id: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        let filters = HashMap::from([
            (
                "label",
                vec![format!(
                    "{SERVICE_NAME_LABEL}={}",
                    self.service_name(instance_id)
                )],
            ),
            ("status", vec!["running".to_string()]),
        ]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let containers = self.docker.list_containers(Some(options)).await?;
        match containers.into_iter().find_map(|c| c.id) {
            Some(id) => self.usage.usage(&self.service_name(instance_id), &id).await,
            None => Ok(None),
        }
    }

    async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError> {
        engine_container_counts(&self.docker).await
    }

    async fn hosts(&self) -> Result<Vec<HostView>, RuntimeError> {
        let nodes = self.docker.list_nodes(None::<ListNodesOptions>).await?;
        let hosts: Vec<HostView> = nodes.into_iter().map(|n| self.host_view(n)).collect();
        let mut addresses = self.addresses.write().unwrap_or_else(|e| e.into_inner());
        for h in &hosts {
            if let Some(addr) = &h.address {
                addresses.insert(h.id.clone(), addr.clone());
            }
        }
        Ok(hosts)
    }

    async fn set_host_availability(
        &self,
        host_id: &str,
        availability: Availability,
    ) -> Result<HostView, RuntimeError> {
        let node = match self.docker.inspect_node(host_id).await {
            Ok(n) => n,
            Err(e) if is_not_found(&e) => return Err(RuntimeError::NoSuchHost(host_id.into())),
            Err(e) => return Err(e.into()),
        };
        let mut spec = node.spec.clone().unwrap_or_default();
        spec.availability = Some(match availability {
            Availability::Active => NodeSpecAvailabilityEnum::ACTIVE,
            Availability::Pause => NodeSpecAvailabilityEnum::PAUSE,
            Availability::Drain => NodeSpecAvailabilityEnum::DRAIN,
        });
        let version = node
            .version
            .as_ref()
            .and_then(|v| v.index)
            .unwrap_or_default();
        self.docker
            .update_node(
                node.id.as_deref().unwrap_or(host_id),
                spec,
                UpdateNodeOptions {
                    version: i64::try_from(version).unwrap_or(i64::MAX),
                },
            )
            .await?;
        let node = self.docker.inspect_node(host_id).await?;
        Ok(self.host_view(node))
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{ObjectVersion, TaskStatus};

    use super::*;

    fn task(id: &str, created: &str, state: TaskState, desired: TaskState) -> Task {
        Task {
            id: Some(id.into()),
            version: Some(ObjectVersion { index: Some(1) }),
            created_at: Some(created.into()),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_current_task_is_the_newest_live_one() {
        let tasks = vec![
            task(
                "old",
                "2026-01-01T10:00:00.5Z",
                TaskState::FAILED,
                TaskState::SHUTDOWN,
            ),
            task(
                "live",
                "2026-01-01T10:00:00.25Z",
                TaskState::RUNNING,
                TaskState::RUNNING,
            ),
        ];
        assert_eq!(current(&tasks).unwrap().id.as_deref(), Some("live"));
        // Fractions of different lengths compare as times, not as text.
        let ended = vec![
            task(
                "a",
                "2026-01-01T10:00:00.5Z",
                TaskState::FAILED,
                TaskState::SHUTDOWN,
            ),
            task(
                "b",
                "2026-01-01T10:00:00.25Z",
                TaskState::FAILED,
                TaskState::SHUTDOWN,
            ),
        ];
        assert_eq!(current(&ended).unwrap().id.as_deref(), Some("a"));
        assert!(current(&[]).is_none());
    }

    #[test]
    fn secret_names_fit_dockers_limit_and_change_with_the_configuration() {
        let id = "0b0e8a4e-4a4f-4c1e-9d55-1f2d3c4b5a69";
        let a = secret_name("bft0123456789", id, &CREDENTIALS, "abcdef0123456789");
        assert_eq!(a, format!("bft0123456789-{id}-crd-abcdef01"));
        assert_ne!(
            a,
            secret_name("bft0123456789", id, &CREDENTIALS, "ffcdef0123456789")
        );
        let long = secret_name(&"f".repeat(40), id, &AGENT, "abcdef0123456789");
        assert_eq!(long.len(), SECRET_NAME_MAX, "{long}");
        assert!(long.ends_with(&format!("-{id}-agt-abcdef01")), "{long}");
    }

    #[test]
    fn a_service_remove_event_names_its_instance() {
        let message = |name: &str| bollard::models::EventMessage {
            action: Some("remove".into()),
            actor: Some(bollard::models::EventActor {
                id: Some("svc".into()),
                attributes: Some(HashMap::from([("name".to_string(), name.to_string())])),
            }),
            time: Some(7),
            ..Default::default()
        };
        let event = service_removed(message("fleet-1234"), "fleet-").unwrap();
        assert_eq!(event.instance_id, "1234");
        assert_eq!(event.kind, WorkerEventKind::Destroyed);
        assert_eq!(event.time, 7);
        assert!(service_removed(message("other-1234"), "fleet-").is_none());
        assert!(service_removed(message("fleet-"), "fleet-").is_none());
    }

    /// Against the real engine; runs in the Swarm pass of scripts/test (`BOTFLEET_TEST_RUNTIME=swarm`).
    #[tokio::test]
    async fn hosts_on_a_real_swarm() {
        if std::env::var("BOTFLEET_TEST_RUNTIME").as_deref() != Ok("swarm") {
            eprintln!("not run: BOTFLEET_TEST_RUNTIME is not swarm");
            return;
        }
        let docker = crate::runtime::connect(None).await.unwrap();
        let settings = RuntimeSettings {
            image: "unused".into(),
            fleet: "bftunit".into(),
            host_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            network: "bridge".into(),
            bots_per_network: 1000,
            memory_bytes: 0,
            nano_cpus: 0,
        };
        let runtime = SwarmRuntime::new(docker, settings).await.unwrap();
        let hosts = runtime.hosts().await.unwrap();
        let local = hosts
            .iter()
            .find(|h| h.local)
            .expect("the manager's own node");
        assert_eq!(local.role, "manager");
        assert_eq!(local.state, "ready");
        assert!(local.address.is_some());
        assert!(local.cpus > 0.0 && local.memory_bytes > 0, "{local:?}");
        assert!(local.engine_version.is_some());
        // A round trip through update_node that changes nothing: other tests run on this node.
        let same = runtime
            .set_host_availability(&local.id, local.availability)
            .await
            .unwrap();
        assert_eq!(
            (same.id.as_str(), same.availability),
            (local.id.as_str(), local.availability)
        );
        assert!(matches!(
            runtime
                .set_host_availability("no-such-node", Availability::Active)
                .await,
            Err(RuntimeError::NoSuchHost(_))
        ));
    }

    #[test]
    fn a_manager_reporting_0_0_0_0_is_reached_at_its_manager_address() {
        let node = Node {
            status: Some(bollard::models::NodeStatus {
                addr: Some("0.0.0.0".into()),
                ..Default::default()
            }),
            manager_status: Some(bollard::models::ManagerStatus {
                addr: Some("10.0.0.5:2377".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(node_address(&node).as_deref(), Some("10.0.0.5"));
    }
}
