//! Building and running the manager: database, admin key, Docker and worker image, cache, poller, API.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
    sync::watch,
};

use crate::{
    api::{self, AppState},
    cache::InstanceCache,
    coherence::Peers,
    config::ServeArgs,
    db,
    fleet::Fleet,
    keys,
    leadership::{self, Leader},
    monitor::{
        alerts, events,
        health::{self, Prober},
        performance::Performance,
        resources::{self, HostProbe, Resources},
    },
    op_locks::Operations,
    ports::PortAllocator,
    reconcile::{Reconciler, Triggers},
    runtime::{self, RuntimeReader, RuntimeSettings},
    store::Store,
};

/// Settings key of the admin key digest.
const ADMIN_KEY_SETTING: &str = "admin_key_sha256";

/// A manager ready to serve: its listener is bound, so `local_addr` is known before `run_until_stopped`.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    triggers: Triggers,
    args: ServeArgs,
    /// Set on PostgreSQL: the other managers' changes reach this one's caches through it.
    peers: Option<Arc<Peers>>,
    stop: (watch::Sender<bool>, watch::Receiver<bool>),
}

impl Application {
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        if args.port_min > args.port_max {
            anyhow::bail!("--port-min must not exceed --port-max");
        }
        let pool = db::connect(&args.database_url).await?;
        let store = crate::store::sealing::open(pool, &args.master_key, &args.database_url).await?;
        // On PostgreSQL other managers may share the database: one leads, all serve; each announces
        // what it writes. A SQLite file has one manager, which leads.
        let shared_database = !args.database_url.starts_with("sqlite:");
        let stop = watch::channel(false);
        let (store, leader) = if shared_database {
            let node = uuid::Uuid::new_v4().simple().to_string();
            let leader =
                leadership::campaign(args.database_url.clone(), &args.fleet, stop.1.clone());
            (store.announcing(node), leader)
        } else {
            (store, Leader::sole())
        };
        let admin_key_sha256 = admin_key_digest(&store, args.admin_key.as_deref()).await?;
        let auth = Arc::new(build_auth(&store, &args, admin_key_sha256).await?);

        let docker = runtime::connect(args.image.docker_host.as_deref()).await?;
        let image = args.image.image();
        runtime::image::ensure(&docker, &image, &args.image.binary()).await?;
        let settings = RuntimeSettings {
            image,
            fleet: args.fleet.clone(),
            host_ip: args.host_ip,
            network: args.network.clone(),
            bots_per_network: usize::from(args.bots_per_network),
            memory_bytes: (args.worker_memory_mb * 1024 * 1024) as i64,
            nano_cpus: (args.worker_cpus * 1e9) as i64,
        };
        let kind = choose_runtime(&store, args.runtime, &docker).await?;
        let runtime = runtime::build(docker, kind, settings).await?;
        tracing::info!(
            runtime = runtime.kind().as_str(),
            "container runtime chosen"
        );

        let listener = TcpListener::bind(&args.listen).await?;
        let local = listener.local_addr()?;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"))
            .trim_end_matches('/')
            .to_string();
        let cache = InstanceCache::from_records(store.list_instances().await?);
        let performance = Arc::new(Performance::default());
        crate::metrics::install();
        let fleet = Arc::new(Fleet {
            store,
            cache,
            runtime: RuntimeReader::new(runtime.clone()),
            ports: PortAllocator::new(args.port_range(), args.host_ip, performance.clone()),
            ops: Operations::default(),
            events: tokio::sync::broadcast::channel(1024).0,
            platform_urls: crate::runtime::PlatformUrls {
                telegram_api: args.telegram_api_url.clone(),
                discord_api: args.discord_api_url.clone(),
                discord_gateway: args.discord_gateway_url.clone(),
                slack_api: args.slack_api_url.clone(),
                whatsapp_api: args.whatsapp_api_url.clone(),
                callbacks: format!("{public_url}/api/v1/webhooks"),
            },
            writes: crate::writes::InstanceWrites::new(
                (args.liveness_flush_secs.max(0.0) * 1000.0) as i64,
            ),
            observed: Default::default(),
            outbound: netguard::Outbound::new(args.outbound_policy())?,
        });
        if args.outbound_policy() != netguard::Policy::default() {
            tracing::info!(allow = %args.outbound_allow, deny = %args.outbound_deny, "outbound requests: networks allowed and denied");
        }

        let public_host = args.public_host.clone().unwrap_or_else(|| {
            if args.host_ip.is_loopback() || args.host_ip.is_unspecified() {
                "localhost".to_string()
            } else {
                args.host_ip.to_string()
            }
        });
        let prober = Arc::new(Prober::new(args.crash_policy()));
        let (reconciler, triggers) =
            Reconciler::new(fleet.clone(), runtime, args.crash_policy(), leader.clone());
        let wait_timeout = std::time::Duration::from_secs(args.wait_timeout_secs);
        let state = AppState {
            fleet,
            verbs: Arc::new(crate::verbs::Verbs {
                reconciler: reconciler.clone(),
                timeout: wait_timeout,
            }),
            reconciler,
            prober,
            hosts: Default::default(),
            resources: Arc::new(Resources::new(std::time::Duration::from_secs(
                args.history_window_mins * 60,
            ))),
            performance,
            auth,
            public_url: Arc::new(public_url),
            public_host: Arc::new(public_host),
            wait_timeout,
            started_at: Instant::now(),
            callbacks_arrived: Default::default(),
            schedules: Default::default(),
            leader,
        };
        let peers = shared_database.then(|| {
            Arc::new(Peers {
                fleet: state.fleet.clone(),
                auth: state.auth.clone(),
                reconciler: state.reconciler.clone(),
            })
        });
        Ok(Self {
            listener,
            state,
            triggers,
            args,
            peers,
            stop,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or SIGINT: stops accepting, finishes in-flight requests, stops the poller.
    /// Workers keep running; the next start finds them again.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        // One line on stdout that scripts and tests wait for.
        println!("botfleet manager listening on http://{addr}");
        tracing::info!(%addr, instances = self.state.fleet.cache.len(), "manager started");

        let (stop_tx, stop_rx) = self.stop;
        let leader = self.state.leader.clone();
        // Work that must run once per fleet runs on the leader only, for as long as it leads.
        let lead = |task| spawn_leading(&leader, &stop_rx, task);
        let (reconciler, triggers, interval, peers) = (
            self.state.reconciler.clone(),
            self.triggers,
            self.args.reconcile_interval(),
            self.peers.clone(),
        );
        let (fleet, prober) = (self.state.fleet.clone(), self.state.prober.clone());
        let (health_interval, health_concurrency) =
            (self.args.health_interval(), self.args.health_concurrency);
        let (store, retention) = (self.state.fleet.store.clone(), self.args.retention);
        let dispatcher = Arc::new(crate::webhook_delivery::Dispatcher::new(
            self.state.fleet.store.clone(),
            self.args.webhook_retry(),
            std::time::Duration::from_millis(self.args.webhook_timeout_ms.max(100)),
            self.args.outbound_policy(),
        )?);
        let forwarder = Arc::new(crate::platform_webhooks::Forwarder::new(
            self.state.fleet.clone(),
            self.state.callbacks_arrived.clone(),
        )?);
        let scheduler = crate::schedules::Scheduler::new(
            self.state.fleet.clone(),
            self.state.prober.clone(),
            self.state.schedules.clone(),
        );
        let mut background = vec![
            // The reconciler's first pass of each term runs at once: it is the recovery after a
            // restart, a crash, or the previous leader's end. A new leader first reads the database
            // again, so it acts on what is stored rather than on what it was told.
            lead(Box::new(move |stop| {
                let (reconciler, triggers, peers) =
                    (reconciler.clone(), triggers.clone(), peers.clone());
                Box::pin(async move {
                    if let Some(peers) = peers
                        && let Err(e) = peers.resync().await
                    {
                        tracing::warn!(error = %e, "could not read the database again on taking the lead");
                    }
                    reconciler.run(triggers, interval, stop).await
                })
            })),
            lead(Box::new({
                let reconciler = self.state.reconciler.clone();
                move |stop| Box::pin(events::run(reconciler.clone(), stop))
            })),
            lead(Box::new({
                let (fleet, prober) = (fleet.clone(), prober.clone());
                move |stop| {
                    Box::pin(crate::monitor::follow::run(
                        fleet.clone(),
                        prober.clone(),
                        stop,
                    ))
                }
            })),
            lead(Box::new({
                let (fleet, prober) = (fleet.clone(), prober.clone());
                move |stop| {
                    Box::pin(health::run(
                        fleet.clone(),
                        prober.clone(),
                        health_interval,
                        health_concurrency,
                        stop,
                    ))
                }
            })),
            lead(Box::new(move |stop| {
                Box::pin(crate::retention::run(store.clone(), retention, stop))
            })),
            lead(Box::new(move |stop| {
                Box::pin(
                    dispatcher
                        .clone()
                        .run(std::time::Duration::from_millis(250), stop),
                )
            })),
            lead(Box::new(move |stop| {
                Box::pin(
                    forwarder
                        .clone()
                        .run(std::time::Duration::from_secs(1), stop),
                )
            })),
            lead(Box::new(move |stop| Box::pin(scheduler.clone().run(stop)))),
            // Every manager: its own rate limits and counters.
            tokio::spawn(auth_upkeep(
                self.state.clone(),
                self.args.audit_retention_days,
                stop_rx.clone(),
            )),
            tokio::spawn(crate::fleet::run_counter_flusher(
                self.state.fleet.clone(),
                self.args.counter_flush_interval(),
                stop_rx.clone(),
            )),
        ];
        if let Some(peers) = self.peers.clone() {
            let node = self
                .state
                .fleet
                .store
                .node()
                .unwrap_or_default()
                .to_string();
            background.push(tokio::spawn(crate::coherence::run(
                peers,
                self.args.database_url.clone(),
                node,
                stop_rx.clone(),
            )));
        }
        let host = HostProbe::new(data_path(&self.args.database_url))?;
        let (fleet, client) = (
            self.state.fleet.clone(),
            alerts::hook_client(self.args.outbound_policy())?,
        );
        // One evaluation at a time: two overlapping ones would both see no active alert and both fire.
        // A sample that arrives while one runs is skipped; the next sample is evaluated. Only the leader
        // evaluates (each manager samples its own host).
        let evaluating = Arc::new(tokio::sync::Mutex::new(()));
        let on_sample = move |sample: Arc<resources::Sample>| {
            let records = fleet.cache.list();
            crate::metrics::record_sample(&sample, &records);
            crate::metrics::record_fleet(&records, fleet.ports.len());
            if !leader.is_leading() {
                return;
            }
            let (fleet, client, evaluating) = (fleet.clone(), client.clone(), evaluating.clone());
            tokio::spawn(async move {
                let Ok(_turn) = evaluating.try_lock() else {
                    return;
                };
                if let Err(e) = alerts::evaluate(&fleet, &client, &sample).await {
                    tracing::warn!(error = %e, "alert evaluation failed");
                }
            });
        };
        let sampler = tokio::spawn(resources::run(
            self.state.fleet.clone(),
            self.state.resources.clone(),
            host,
            self.args.sample_interval(),
            on_sample,
            stop_rx.clone(),
        ));
        let fleet_for_flush = self.state.fleet.clone();
        let app = api::router(self.state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await?;
        // In-flight requests are done; let background work finish its current step.
        let _ = stop_tx.send(true);
        for task in background {
            let _ = task.await;
        }
        let _ = sampler.await;
        // Nothing moves the counters any more: store the last of them.
        match fleet_for_flush.flush_counters().await {
            Ok(n) => tracing::info!(instances = n, "counters stored"),
            Err(e) => tracing::error!(error = %e, "could not store the last counters"),
        }
        tracing::info!("manager stopped; workers left running");
        Ok(())
    }
}

/// A task of the leader: given the stop of its term, the future it runs for that term.
type LeaderTask = Box<
    dyn Fn(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

fn spawn_leading(
    leader: &Leader,
    stop: &watch::Receiver<bool>,
    task: LeaderTask,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(leadership::while_leading(
        leader.clone(),
        stop.clone(),
        task,
    ))
}

/// Where the manager's data lives, for the disk figure: the SQLite file's folder, else the working folder.
fn data_path(database_url: &str) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .map(std::path::PathBuf::from);
    match path {
        Some(p) if p.is_absolute() => p,
        Some(p) => cwd.join(p),
        None => cwd,
    }
}

/// Users, keys, sessions, limits and quotas, loaded from the database.
async fn build_auth(
    store: &Store,
    args: &ServeArgs,
    bootstrap_sha256: String,
) -> anyhow::Result<crate::auth::Auth> {
    let secret = match &args.session_secret {
        Some(s) if s.len() < 32 => anyhow::bail!("--session-secret must be at least 32 bytes"),
        Some(s) => s.clone(),
        None => {
            // Sealed at rest like every other secret.
            store
                .secret_or_insert(crate::store::settings::JWT_SIGNING_KEY, &keys::generate(""))
                .await?
        }
    };
    let sessions = crate::auth::session::Sessions::new(
        secret.as_bytes(),
        std::time::Duration::from_secs(args.session_ttl_secs.max(1)),
    );
    let quotas = crate::auth::QuotaDefaults {
        max_instances: args.user_max_instances.max(0),
        max_memory_mb: args.user_max_memory_mb.max(0),
        worker_memory_mb: args.worker_memory_mb as i64,
    };
    Ok(crate::auth::Auth::load(
        store.clone(),
        bootstrap_sha256,
        sessions,
        crate::auth::limits::Limits::new(args.rate_settings()),
        quotas,
    )
    .await?)
}

/// Every minute: forgets recovered rate-limit keys and drops audit entries past their retention.
async fn auth_upkeep(state: AppState, retention_days: u64, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        state.auth.limits.retain_recent();
        let before = crate::fleet::now_ms() - (retention_days as i64) * 86_400_000;
        match state.fleet.store.prune_audit(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "old audit entries dropped"),
            Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
        }
    }
}

/// Settings key of the runtime this database's bots run on.
const RUNTIME_SETTING: &str = "runtime";

/// The runtime: `--runtime` when given, else the one this database's bots already run on, else what the
/// engine suggests (`runtime::detect`). Switching runtimes under live bots would leave the old runtime's
/// workers polling beside the new ones (two consumers of one token), so an explicit switch while the
/// database has instances is refused.
async fn choose_runtime(
    store: &Store,
    asked: Option<runtime::RuntimeKind>,
    docker: &bollard::Docker,
) -> anyhow::Result<runtime::RuntimeKind> {
    use clap::ValueEnum;
    let recorded = store
        .setting(RUNTIME_SETTING)
        .await?
        .and_then(|s| runtime::RuntimeKind::from_str(&s, true).ok());
    let kind = match (asked, recorded) {
        (Some(asked), Some(recorded))
            if asked != recorded && !store.list_instances().await?.is_empty() =>
        {
            anyhow::bail!(
                "this database's bots run on the {} runtime; starting them on {} would leave the old \
                 workers running beside new ones. Start with --runtime {}, or delete the bots first",
                recorded.as_str(),
                asked.as_str(),
                recorded.as_str()
            )
        }
        (Some(asked), _) => asked,
        (None, Some(recorded)) => recorded,
        (None, None) => runtime::detect(docker).await?,
    };
    store.set_setting(RUNTIME_SETTING, kind.as_str()).await?;
    Ok(kind)
}

/// The admin key digest: from `--admin-key` when given, else the stored one, else a new key that is
/// printed once and stored only as its digest.
async fn admin_key_digest(store: &Store, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(key) = configured.filter(|k| !k.trim().is_empty()) {
        return Ok(keys::sha256_hex(key.trim()));
    }
    if let Some(digest) = store.setting(ADMIN_KEY_SETTING).await? {
        return Ok(digest);
    }
    let key = keys::generate(keys::ADMIN_KEY_PREFIX);
    let digest = keys::sha256_hex(&key);
    let stored = store.setting_or_insert(ADMIN_KEY_SETTING, &digest).await?;
    if stored == digest {
        println!("botfleet admin key (shown once, store it now): {key}");
    }
    Ok(stored)
}

async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the manager with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}
