//! The reconciler: makes Docker match what the database says each instance should be. `converge` never
//! asks why it was called (a user verb, a Docker event, a timer or the periodic pass), so calling it twice
//! is harmless; it runs under the instance's operation lock, so never twice at once for one instance.
//! The first full pass at boot is the recovery pass: it adopts running containers without restarting
//! them, recreates missing ones, removes containers no instance owns, and finishes interrupted work.

pub mod crash;

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

pub use crash::CrashPolicy;

use crate::{
    domain::{DesiredState, InstanceRecord, InstanceStatus},
    error::ApiError,
    fleet::{Fleet, Source, now_ms},
    monitor::health::Prober,
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
    pub prober: Arc<Prober>,
    pub policy: CrashPolicy,
    triggers: mpsc::UnboundedSender<String>,
}

/// Receives the ids to converge; owned by the reconciler loop.
pub struct Triggers(mpsc::UnboundedReceiver<String>);

impl Reconciler {
    pub fn new(
        fleet: Arc<Fleet>,
        prober: Arc<Prober>,
        policy: CrashPolicy,
    ) -> (Arc<Self>, Triggers) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                fleet,
                prober,
                policy,
                triggers: tx,
            }),
            Triggers(rx),
        )
    }

    /// Asks for a converge of `id` soon.
    pub fn trigger(&self, id: &str) {
        let _ = self.triggers.send(id.to_string());
    }

    /// Asks for a converge of `id` at `at` (unix ms).
    pub fn trigger_at(&self, id: &str, at: i64) {
        let wait = Duration::from_millis((at - now_ms()).max(0) as u64);
        let tx = self.triggers.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(id);
        });
    }

    /// Converges one instance, waiting for its operation lock.
    pub async fn converge_locked(
        self: &Arc<Self>,
        id: &str,
        source: Source,
    ) -> Result<Outcome, ApiError> {
        let _op = self.fleet.locks.acquire(id).await;
        self.converge(id, source).await
    }

    /// Makes Docker match the instance. The caller holds the instance's operation lock.
    pub async fn converge(self: &Arc<Self>, id: &str, source: Source) -> Result<Outcome, ApiError> {
        let outcome = self.converge_inner(id, source, false).await?;
        if let Outcome::RetryAt(at) = outcome {
            self.trigger_at(id, at);
        }
        Ok(outcome)
    }

    /// Removes the container and creates it anew from the current configuration (`/process`, key
    /// rotation). The caller holds the operation lock.
    pub async fn recreate(self: &Arc<Self>, id: &str, source: Source) -> Result<Outcome, ApiError> {
        self.converge_inner(id, source, true).await
    }

    async fn converge_inner(
        self: &Arc<Self>,
        id: &str,
        source: Source,
        force_recreate: bool,
    ) -> Result<Outcome, ApiError> {
        let fleet = &self.fleet;
        let Some(r) = fleet.cache.get(id) else {
            return Ok(Outcome::Deleted);
        };
        if r.status == InstanceStatus::Deleting {
            fleet.runtime.remove_worker(id).await?;
            fleet.runtime.remove_worker_data(id).await?;
            fleet.forget(id).await?;
            tracing::info!(instance_id = %id, "instance deleted");
            return Ok(Outcome::Deleted);
        }
        let container = fleet.runtime.inspect_worker(id).await?;
        if r.desired_state == DesiredState::Stopped {
            if container.as_ref().is_some_and(|c| c.running) {
                fleet.runtime.stop_worker(id).await?;
            }
            if r.status != InstanceStatus::Stopped {
                fleet
                    .update(id, source, |r| {
                        r.status = InstanceStatus::Stopped;
                        r.status_reason = Some("stopped on request".into());
                        r.health_ok = false;
                        r.running_since = None;
                    })
                    .await?;
            }
            return Ok(Outcome::Done);
        }
        if r.status == InstanceStatus::Failed && !force_recreate {
            // The crash-loop guard (or a refused token) holds it until a user acts.
            return Ok(Outcome::Done);
        }
        let now = now_ms();
        match container {
            _ if force_recreate => {
                self.create_fresh(&r, source, "configuration applied; container recreated")
                    .await
            }
            None => {
                let reason = if r.status == InstanceStatus::Creating {
                    "container started; waiting for the bot to connect"
                } else {
                    "container was missing; recreated"
                };
                self.create_fresh(&r, source, reason).await
            }
            Some(c) if !c.running => {
                if matches!(
                    r.status,
                    InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
                ) {
                    // It was meant to be up and is not: a crash.
                    let policy = self.policy;
                    let saved = fleet
                        .update(id, source, |r| policy.record_crash(r, c.exit_code, now))
                        .await?;
                    tracing::warn!(instance_id = %id, exit_code = ?c.exit_code, "worker exited");
                    return Ok(match saved.and_then(|s| s.next_restart_at) {
                        Some(at) => Outcome::RetryAt(at),
                        None => Outcome::Done,
                    });
                }
                if let Some(at) = r.next_restart_at.filter(|at| *at > now) {
                    return Ok(Outcome::RetryAt(at));
                }
                let container_id = match fleet.runtime.start_worker(&fleet.worker_spec(&r)).await {
                    Ok(container_id) => container_id,
                    Err(e) => {
                        tracing::warn!(instance_id = %id, error = %e, "worker did not start; retrying after a backoff");
                        let (policy, error) = (self.policy, e.to_string());
                        let saved = fleet
                            .update(id, source, |r| policy.record_failed_start(r, &error, now))
                            .await?;
                        return Ok(match saved.and_then(|s| s.next_restart_at) {
                            Some(at) => Outcome::RetryAt(at),
                            None => Outcome::Done,
                        });
                    }
                };
                let was_restart = r.status == InstanceStatus::Restarting;
                fleet
                    .update(id, source, |r| {
                        r.container_id = Some(container_id.clone());
                        r.status = InstanceStatus::Starting;
                        r.status_reason =
                            Some("worker started; waiting for the bot to connect".into());
                        r.next_restart_at = None;
                        if was_restart {
                            r.restart_count += 1;
                        }
                    })
                    .await?;
                Ok(Outcome::Done)
            }
            Some(c) => {
                let up = matches!(
                    r.status,
                    InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
                );
                if !up || r.container_id.as_deref() != Some(c.id.as_str()) {
                    fleet
                        .update(id, source, |r| {
                            r.container_id = Some(c.id.clone());
                            r.next_restart_at = None;
                            if !up {
                                r.status = InstanceStatus::Starting;
                                r.status_reason = Some("running container adopted".into());
                            }
                        })
                        .await?;
                }
                Ok(Outcome::Done)
            }
        }
    }

    /// Replaces whatever container the instance has with a new one. The old one is removed first, so two
    /// containers never poll one bot token.
    async fn create_fresh(
        self: &Arc<Self>,
        r: &InstanceRecord,
        source: Source,
        reason: &str,
    ) -> Result<Outcome, ApiError> {
        let fleet = &self.fleet;
        fleet.runtime.remove_worker(&r.id).await?;
        let container_id = fleet.runtime.start_worker(&fleet.worker_spec(r)).await?;
        let applied = fleet.config_digest(r);
        let counts_as_restart = r.status != InstanceStatus::Creating;
        fleet
            .update(&r.id, source, |r| {
                r.container_id = Some(container_id.clone());
                r.applied_config_sha256 = Some(applied.clone());
                r.status = InstanceStatus::Starting;
                r.status_reason = Some(reason.to_string());
                r.health_ok = false;
                r.running_since = None;
                r.next_restart_at = None;
                if counts_as_restart {
                    r.restart_count += 1;
                }
            })
            .await?;
        // `monitor::follow` watches starting workers closely from here on.
        Ok(Outcome::Done)
    }

    /// One pass over the fleet: remove containers no instance owns, converge every instance that no
    /// operation holds at the moment.
    pub async fn full_pass(self: &Arc<Self>) {
        // Containers first: a container listed here was created after its row, so the row is in the
        // cache read below and a brand-new instance is never mistaken for an orphan.
        let containers = match self.fleet.runtime.list_workers().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: cannot list containers");
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
        for c in &containers {
            let owned = c.instance_id.as_ref().is_some_and(|id| known.contains(id));
            if !owned {
                let still_unknown = match &c.instance_id {
                    Some(id) => matches!(self.fleet.store.get_instance(id).await, Ok(None)),
                    None => true,
                };
                if still_unknown {
                    tracing::warn!(container = %c.name, "removing a container no instance owns");
                    if let Err(e) = self.fleet.runtime.remove_container(&c.id).await {
                        tracing::warn!(container = %c.name, error = %e, "could not remove orphan");
                    } else if let Some(id) = &c.instance_id
                        && let Err(e) = self.fleet.runtime.remove_worker_data(id).await
                    {
                        tracing::warn!(container = %c.name, error = %e, "could not remove an orphan's volume");
                    }
                }
            }
        }
        let ids: Vec<String> = known.into_iter().collect();
        futures::stream::iter(ids)
            .for_each_concurrent(8, |id| async move {
                let Ok(_op) = self.fleet.locks.try_acquire(&id) else {
                    return; // an operation is running on it; it converges itself
                };
                match self.converge(&id, Source::Reconciler).await {
                    Ok(_) => {}
                    Err(e) => tracing::warn!(instance_id = %id, error = %e, "reconcile failed"),
                }
            })
            .await;
    }

    /// Runs full passes every `interval` (the first at once) and converges triggered ids, until `stop`.
    pub async fn run(
        self: Arc<Self>,
        mut triggers: Triggers,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut inflight = tokio::task::JoinSet::new();
        loop {
            let next = tokio::select! {
                _ = ticker.tick() => Some(None),
                id = triggers.0.recv() => id.map(Some),
                _ = stop.wait_for(|s| *s) => None,
            };
            match next {
                None => break,
                Some(None) => self.full_pass().await,
                Some(Some(id)) => {
                    let this = self.clone();
                    inflight.spawn(async move {
                        if let Err(e) = this.converge_locked(&id, Source::Reconciler).await {
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
