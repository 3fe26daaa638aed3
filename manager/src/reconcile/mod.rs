//! The reconciler: the only code that changes workers. It makes the runtime match what the database says
//! each instance should be. `converge` never asks why it was called (a user verb, an engine event, a timer
//! or the periodic pass), so calling it twice is harmless, and never runs twice at once for one instance.
//! It writes only status (and, when the engine refuses a port, a new port). The first full pass at boot is
//! the recovery pass: it adopts running workers without restarting them, recreates missing ones, removes
//! workers no instance owns, and finishes interrupted work.

pub mod crash;
pub mod decide;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};

pub use crash::CrashPolicy;
use decide::{Action, decide};

use crate::{
    domain::{InstanceRecord, InstanceStatus},
    error::ApiError,
    fleet::{Fleet, Source, now_ms},
    leadership::Leader,
    op_locks::ConvergeLocks,
    runtime::{Availability, HostView, Runtime, RuntimeError, WorkerView},
};

/// What a converge left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Look again at this time (unix ms): a crashed worker waits out its backoff.
    RetryAt(i64),
    Deleted,
}

pub struct Reconciler {
    pub fleet: Arc<Fleet>,
    runtime: Arc<dyn Runtime>,
    pub policy: CrashPolicy,
    converging: ConvergeLocks,
    triggers: mpsc::UnboundedSender<String>,
    /// Whether the engine answered the last time it was asked.
    engine_up: AtomicBool,
    /// Hands a running worker its bot configuration.
    control: crate::worker_control::WorkerControl,
    /// Only the leader acts on triggers; a follower's verbs reach it through the database.
    leader: Leader,
}

/// Triggered instances converged at once, at most. A burst of creates (or deletes) accepted by the API
/// reaches the engine this many at a time: all at once, a thousand creates made Docker slower for every
/// one of them (and held their requests and answers in the manager's memory together).
pub const MAX_CONVERGING: usize = 16;

/// Receives the ids to converge; held by the reconciler loop for as long as it runs (a term of the lead).
#[derive(Clone)]
pub struct Triggers(Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>);

impl Reconciler {
    pub fn new(
        fleet: Arc<Fleet>,
        runtime: Arc<dyn Runtime>,
        policy: CrashPolicy,
        leader: Leader,
    ) -> (Arc<Self>, Triggers) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                fleet,
                runtime,
                policy,
                converging: ConvergeLocks::default(),
                triggers: tx,
                engine_up: AtomicBool::new(true),
                control: Default::default(),
                leader,
            }),
            Triggers(Arc::new(tokio::sync::Mutex::new(rx))),
        )
    }

    /// Asks for a converge of `id` soon.
    /// Nothing on a follower: the leader converges what the follower wrote when the write's announcement
    /// reaches it (`coherence.rs`), and at its full passes.
    pub fn trigger(&self, id: &str) {
        if self.leader.is_leading() {
            let _ = self.triggers.send(id.to_string());
        }
    }

    /// Asks for a converge of `id` at `at` (unix ms).
    pub fn trigger_at(&self, id: &str, at: i64) {
        let wait = Duration::from_millis((at - now_ms()).max(0) as u64);
        let tx = self.triggers.clone();
        let id = id.to_string();
        let leader = self.leader.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if leader.is_leading() {
                let _ = tx.send(id);
            }
        });
    }

    /// Whether the engine answered when last asked; writes are refused (503) while it does not.
    pub fn engine_up(&self) -> bool {
        self.engine_up.load(Ordering::Relaxed)
    }

    /// Refuses a write while the engine is unreachable: the user's change could not be acted on. Asks the
    /// engine first (a ping, bounded), so a write right after the engine went away is refused too.
    pub async fn ensure_engine_up(&self) -> Result<(), ApiError> {
        if self.check_engine().await {
            Ok(())
        } else {
            Err(ApiError::EngineUnavailable(format!(
                "the {} engine is unreachable; reads are served from the cache and writes are refused \
                 until it answers again",
                self.runtime.kind().as_str()
            )))
        }
    }

    /// Asks the engine whether it answers and records the answer; true when it does.
    pub async fn check_engine(&self) -> bool {
        let up = tokio::time::timeout(Duration::from_secs(2), self.runtime.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        self.note_engine(up);
        up
    }

    fn note_engine(&self, up: bool) {
        let was = self.engine_up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("container engine answers again");
            } else {
                tracing::error!("container engine unreachable");
            }
        }
    }

    /// Records an engine failure: an unreachable engine turns writes off until it answers.
    fn engine_failed(&self, e: &RuntimeError) {
        if e.is_unreachable() {
            self.note_engine(false);
        }
    }

    /// Converges one instance, waiting for any converge of it in progress.
    pub async fn converge(self: &Arc<Self>, id: &str, source: Source) -> Result<Outcome, ApiError> {
        let _turn = self.converging.acquire(id).await;
        let outcome = match self.converge_inner(id, source).await {
            Ok(outcome) => outcome,
            Err(ApiError::Runtime(e)) => {
                self.engine_failed(&e);
                return Err(ApiError::Runtime(e));
            }
            Err(e) => return Err(e),
        };
        if let Outcome::RetryAt(at) = outcome {
            self.trigger_at(id, at);
        }
        Ok(outcome)
    }

    async fn converge_inner(
        self: &Arc<Self>,
        id: &str,
        source: Source,
    ) -> Result<Outcome, ApiError> {
        let fleet = &self.fleet;
        let Some(r) = fleet.cache.get(id) else {
            return Ok(Outcome::Deleted);
        };
        let worker = self.runtime.inspect_worker(id).await?;
        fleet.observed.saw_worker(id, worker.as_ref());
        let config_current =
            r.applied_config_sha256.as_deref() == Some(fleet.config_digest(&r).as_str());
        let now = now_ms();
        let seen = r.revision;
        let action = decide(&r, worker.as_ref(), config_current, now);
        if action.changes_worker() {
            fleet.observed.worker_changed(id);
        }
        match action {
            Action::Delete => {
                self.transition(&r, source, InstanceStatus::Deleting, "deletion requested")
                    .await?;
                self.runtime.stop_worker(id).await?;
                self.runtime.remove_worker(id).await?;
                self.runtime.remove_worker_data(id).await?;
                fleet.forget(id).await?;
                tracing::info!(instance_id = %id, "instance deleted");
                Ok(Outcome::Deleted)
            }
            Action::Stop { remove } => {
                if worker.as_ref().is_some_and(|w| w.running) {
                    self.transition(&r, source, InstanceStatus::Stopping, "stop requested")
                        .await?;
                    self.runtime.stop_worker(id).await?;
                }
                if remove {
                    self.runtime.remove_worker(id).await?;
                }
                fleet
                    .update(id, source, |r| {
                        if r.status != InstanceStatus::Stopped {
                            r.status = InstanceStatus::Stopped;
                            r.status_reason = Some("stopped on request".into());
                        }
                        r.health_ok = false;
                        r.running_since = None;
                        r.next_restart_at = None;
                        if remove {
                            r.container_id = None;
                            r.applied_config_sha256 = None;
                        }
                        r.observed_revision = r.observed_revision.max(seen);
                    })
                    .await?;
                Ok(Outcome::Done)
            }
            Action::Create { reason, requested } => {
                self.create_fresh(&r, source, reason, requested).await
            }
            Action::Hold => {
                self.observe(id, source, seen).await?;
                Ok(Outcome::Done)
            }
            Action::RecordCrash { exit_code } => {
                let policy = self.policy;
                let saved = fleet
                    .update(id, source, |r| {
                        policy.record_crash(r, exit_code, now);
                        r.observed_revision = r.observed_revision.max(seen);
                    })
                    .await?;
                tracing::warn!(instance_id = %id, ?exit_code, "worker exited");
                Ok(match saved.and_then(|s| s.next_restart_at) {
                    Some(at) => Outcome::RetryAt(at),
                    None => Outcome::Done,
                })
            }
            Action::WaitUntil(at) => Ok(Outcome::RetryAt(at)),
            Action::Start => {
                let digest = fleet.config_digest(&r);
                let started = self
                    .runtime
                    .run_worker(&fleet.worker_spec(&r, &digest))
                    .await;
                let view = match started {
                    Ok(view) => view,
                    Err(e) => return self.failed_start(&r, source, e).await,
                };
                let was_restart = r.status == InstanceStatus::Restarting;
                fleet
                    .update(id, source, |r| {
                        set_worker(r, &view);
                        r.status = InstanceStatus::Starting;
                        r.status_reason =
                            Some("worker started; waiting for the bot to connect".into());
                        r.next_restart_at = None;
                        if was_restart {
                            r.restart_count += 1;
                        }
                        r.observed_revision = r.observed_revision.max(seen);
                    })
                    .await?;
                Ok(Outcome::Done)
            }
            Action::Adopt => {
                let Some(w) = worker else {
                    return Ok(Outcome::Done);
                };
                let up = matches!(
                    r.status,
                    InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
                );
                let endpoint = w.endpoint.as_ref().map(ToString::to_string);
                let acked = self.push_config(&r, endpoint.as_deref()).await;
                let changed = !up
                    || r.container_id.as_deref() != Some(w.id.as_str())
                    || r.endpoint != endpoint
                    || r.host_id != w.host_id
                    || r.observed_revision < seen
                    || r.applied_config_revision != acked;
                if changed {
                    fleet
                        .update(id, source, |r| {
                            set_worker(r, &w);
                            r.next_restart_at = None;
                            if acked > r.applied_config_revision {
                                r.applied_config_revision = acked;
                            }
                            if !up {
                                r.status = InstanceStatus::Starting;
                                r.status_reason = Some("running worker adopted".into());
                            }
                            r.observed_revision = r.observed_revision.max(seen);
                        })
                        .await?;
                }
                Ok(Outcome::Done)
            }
        }
    }

    /// Hands a running worker (at `endpoint`) the instance's bot configuration unless it already runs by
    /// it; returns the revision the worker runs by as far as is known. A worker that cannot be reached
    /// yet (just started) gets it from the health poller, which sees its older revision.
    async fn push_config(&self, r: &InstanceRecord, endpoint: Option<&str>) -> Option<i64> {
        if r.applied_config_revision == Some(r.config_revision) {
            return r.applied_config_revision;
        }
        let mut target = r.clone();
        target.endpoint = endpoint.map(str::to_string);
        match self.control.push_config(&target).await {
            Ok(applied) => Some(applied.revision),
            Err(e) => {
                tracing::debug!(instance_id = %r.id, error = %e, "bot configuration not pushed yet");
                r.applied_config_revision
            }
        }
    }

    /// Shows a slow step (a stop waits for the worker to finish) while it runs.
    async fn transition(
        &self,
        r: &InstanceRecord,
        source: Source,
        status: InstanceStatus,
        reason: &str,
    ) -> Result<(), ApiError> {
        if r.status != status {
            self.fleet
                .update(&r.id, source, |r| {
                    r.status = status;
                    r.status_reason = Some(reason.to_string());
                    r.health_ok = false;
                })
                .await?;
        }
        Ok(())
    }

    /// Records that the reconciler has seen revision `seen` (nothing else to do).
    async fn observe(&self, id: &str, source: Source, seen: i64) -> Result<(), ApiError> {
        if self
            .fleet
            .cache
            .get(id)
            .is_some_and(|r| r.observed_revision < seen)
        {
            self.fleet
                .update(id, source, |r| {
                    r.observed_revision = r.observed_revision.max(seen)
                })
                .await?;
        }
        Ok(())
    }

    /// A start the engine refused: a new bot whose port was taken moves to another; otherwise back off
    /// and count it
    /// like a crash, so a lasting cause ends in `failed` with the reason.
    async fn failed_start(
        self: &Arc<Self>,
        r: &InstanceRecord,
        source: Source,
        e: RuntimeError,
    ) -> Result<Outcome, ApiError> {
        if e.is_unreachable() {
            return Err(e.into());
        }
        let fleet = &self.fleet;
        let now = now_ms();
        if e.is_port_taken() && r.status == InstanceStatus::Creating {
            // Something took the port between the allocation and the engine's first bind: move to
            // another. A bot that ran before keeps its port (its users know it) and backs off instead.
            // Which of its ports the engine could not bind, it does not say: both move.
            fleet.ports.mark_busy(r.port);
            if let Some(port) = r.mcp_port {
                fleet.ports.mark_busy(port);
            }
            let _ = self.runtime.remove_worker(&r.id).await;
            // Both in one write, under one lock; an MCP port dropped meanwhile stays dropped.
            let moved = fleet
                .ports
                .assign(&fleet.store, r.mcp_port.is_some(), async |(api, mcp)| {
                    fleet
                        .update(&r.id, source, |r| {
                            r.port = api;
                            if r.mcp_port.is_some() {
                                r.mcp_port = mcp;
                            }
                        })
                        .await
                })
                .await?;
            tracing::warn!(instance_id = %r.id, old = r.port, new = ?moved.map(|m| m.port), "port taken on the host; moving");
            return Ok(Outcome::RetryAt(now));
        }
        tracing::warn!(instance_id = %r.id, error = %e, "worker did not start; retrying after a backoff");
        let (policy, error, seen) = (self.policy, e.to_string(), r.revision);
        let saved = fleet
            .update(&r.id, source, |r| {
                policy.record_failed_start(r, &error, now);
                r.observed_revision = r.observed_revision.max(seen);
            })
            .await?;
        Ok(match saved.and_then(|s| s.next_restart_at) {
            Some(at) => Outcome::RetryAt(at),
            None => Outcome::Done,
        })
    }

    /// Replaces whatever worker the instance has with a new one. The old one is removed first, so two
    /// workers never poll one bot token.
    async fn create_fresh(
        self: &Arc<Self>,
        r: &InstanceRecord,
        source: Source,
        reason: &str,
        requested: bool,
    ) -> Result<Outcome, ApiError> {
        let fleet = &self.fleet;
        if requested && r.status != InstanceStatus::Creating {
            self.transition(r, source, InstanceStatus::Restarting, "restart requested")
                .await?;
        }
        if r.container_id.is_some() || requested {
            self.runtime.stop_worker(&r.id).await?;
        }
        self.runtime.remove_worker(&r.id).await?;
        let digest = fleet.config_digest(r);
        let view = match self
            .runtime
            .run_worker(&fleet.worker_spec(r, &digest))
            .await
        {
            Ok(view) => view,
            Err(e) => return self.failed_start(r, source, e).await,
        };
        let counts_as_restart = r.status != InstanceStatus::Creating;
        let seen = r.revision;
        fleet
            .update(&r.id, source, |r| {
                set_worker(r, &view);
                r.applied_config_sha256 = Some(digest.clone());
                r.status = InstanceStatus::Starting;
                r.status_reason = Some(reason.to_string());
                r.health_ok = false;
                r.running_since = None;
                r.next_restart_at = None;
                if requested {
                    r.crash_count = 0;
                }
                if counts_as_restart {
                    r.restart_count += 1;
                }
                r.observed_revision = r.observed_revision.max(seen);
            })
            .await?;
        // `monitor::follow` watches starting workers closely from here on.
        Ok(Outcome::Done)
    }

    /// Forgets converge locks nobody holds; returns how many went.
    pub fn forget_idle_locks(&self) -> usize {
        self.converging.forget_idle()
    }

    /// Sets a host's availability (`drain` stops its workers; the converges that follow start them where
    /// the engine places them).
    pub async fn set_host_availability(
        &self,
        host_id: &str,
        availability: Availability,
    ) -> Result<HostView, ApiError> {
        self.ensure_engine_up().await?;
        Ok(self
            .runtime
            .set_host_availability(host_id, availability)
            .await?)
    }

    /// One pass over the fleet: remove workers no instance owns, converge every instance that is not
    /// converging at the moment.
    pub async fn full_pass(self: &Arc<Self>) {
        // Workers first: a worker listed here was created after its row, so the row is in the cache
        // read below and a brand-new instance is never mistaken for an orphan.
        let workers = match self.runtime.list_workers().await {
            Ok(w) => {
                self.note_engine(true);
                w
            }
            Err(e) => {
                self.engine_failed(&e);
                tracing::warn!(error = %e, "reconcile: cannot list workers");
                return;
            }
        };
        let known: HashSet<String> = self
            .fleet
            .cache
            .list()
            .iter()
            .map(|r| r.id.clone())
            .collect();
        for w in &workers {
            self.remove_if_orphan(w, &known).await;
        }
        if let Err(e) = self.runtime.tidy().await {
            tracing::warn!(error = %e, "reconcile: could not tidy the engine");
        }
        // Workers running just as recorded need no look of their own.
        let listed: HashMap<&str, &WorkerView> = workers
            .iter()
            .filter_map(|w| Some((w.instance_id.as_deref()?, w)))
            .collect();
        let ids: Vec<String> = known
            .into_iter()
            .filter(|id| {
                let Some(r) = self.fleet.cache.get(id) else {
                    return false;
                };
                !listed.get(id.as_str()).is_some_and(|w| {
                    let current = r.applied_config_sha256.as_deref()
                        == Some(self.fleet.config_digest(&r).as_str());
                    decide::settled(&r, w, current)
                })
            })
            .collect();
        futures::stream::iter(ids)
            .for_each_concurrent(8, |id| async move {
                if self.converging.try_acquire(&id).is_none() {
                    return; // it is converging now
                }
                if let Err(e) = self.converge(&id, Source::Reconciler).await {
                    tracing::warn!(instance_id = %id, error = %e, "reconcile failed");
                }
            })
            .await;
    }

    async fn remove_if_orphan(&self, w: &WorkerView, known: &HashSet<String>) {
        if w.instance_id.as_ref().is_some_and(|id| known.contains(id)) {
            return;
        }
        let still_unknown = match &w.instance_id {
            Some(id) => matches!(self.fleet.store.get_instance(id).await, Ok(None)),
            None => true,
        };
        if still_unknown {
            tracing::warn!(worker = %w.name, "removing a worker no instance owns");
            if let Err(e) = self.runtime.remove_orphan(w).await {
                tracing::warn!(worker = %w.name, error = %e, "could not remove orphan");
            }
        }
    }

    /// Runs full passes every `interval` (the first at once) and converges triggered ids, at most
    /// [`MAX_CONVERGING`] at a time and in the order they came, until `stop`.
    /// While the engine is unreachable it checks it every second and runs a full pass once it is back.
    pub async fn run(
        self: Arc<Self>,
        triggers: Triggers,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut triggers = triggers.0.lock().await;
        // Triggers of an earlier term were acted on then, or are covered by this term's first full pass.
        while triggers.try_recv().is_ok() {}
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut engine_check = tokio::time::interval(Duration::from_secs(1));
        let mut inflight = tokio::task::JoinSet::new();
        let turns = Arc::new(tokio::sync::Semaphore::new(MAX_CONVERGING));
        loop {
            let next = tokio::select! {
                _ = ticker.tick() => Some(None),
                id = triggers.recv() => id.map(Some),
                _ = engine_check.tick(), if !self.engine_up() => Some(Some(String::new())),
                _ = stop.wait_for(|s| *s).map(|_| ()) => None,
            };
            // The empty id is the engine check's turn: a full pass once the engine answers again.
            let next = match next {
                Some(Some(id)) if id.is_empty() => {
                    if !self.check_engine().await {
                        continue;
                    }
                    Some(None)
                }
                other => other,
            };
            match next {
                None => break,
                Some(None) => self.full_pass().await,
                Some(Some(id)) => {
                    let (this, turns) = (self.clone(), turns.clone());
                    inflight.spawn(async move {
                        // The semaphore is fair: ids take their turns in the order they came.
                        let Ok(_turn) = turns.acquire_owned().await else {
                            return;
                        };
                        if let Err(e) = this.converge(&id, Source::Reconciler).await {
                            tracing::warn!(instance_id = %id, error = %e, "reconcile failed");
                        }
                    });
                }
            }
            while inflight.try_join_next().is_some() {}
        }
        // Finish what was started; leave workers as they are.
        while inflight.join_next().await.is_some() {}
    }
}

/// Records where the worker runs, as the runtime reported it.
fn set_worker(r: &mut InstanceRecord, w: &WorkerView) {
    r.container_id = Some(w.id.clone());
    r.endpoint = w.endpoint.as_ref().map(ToString::to_string);
    r.host_id = w.host_id.clone();
}
