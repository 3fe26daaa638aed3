//! One long-polling event collector per running worker. It asks the worker for events with `wait_ms`, so
//! messages and bot events reach the database (and webhooks) as they happen rather than at the next
//! health check, and with `status=true`, so every answer also carries the bot's health and status: the
//! collector records them as the health check would (`health::record`), and the health round leaves a
//! worker alone while its collector reports. One connection a worker then carries both, and an idle
//! worker costs one request per health interval.
//!
//! The health round still checks a worker whose collector has not reported lately (it stopped, or the
//! worker is older and knows no `status`), and collects its events too when no collector is live, so a
//! collector that stopped loses nothing; the health loop starts collectors again for every running
//! worker that has none.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::health::{self, CollectError, Probe, Prober, RoundFacts};
use crate::{domain::InstanceStatus, fleet::Fleet};

/// The longest one long poll waits for an event.
const MAX_LONG_POLL: Duration = Duration::from_secs(20);

/// An answer quicker than this with no event means the worker does not long-poll (or is going away):
/// pause instead of asking again at once.
const TOO_QUICK: Duration = Duration::from_secs(1);

pub struct Collectors {
    /// Instances with a live collector, and when each last reported the worker's health and status.
    active: Mutex<HashMap<String, Option<Instant>>>,
    /// Every instance's webhook version, as the last health round read them (so a report costs no read).
    webhook_versions: Mutex<Option<Arc<HashMap<String, i64>>>>,
    /// How long one long poll waits: the health interval, so that an idle worker reports once a round.
    wait: Duration,
    /// Every collector ends when this turns true.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Takes the instance off the active set when its collector ends, however it ends.
struct Active {
    collectors: Arc<Collectors>,
    id: String,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.collectors.lock().remove(&self.id);
    }
}

fn collects(status: InstanceStatus) -> bool {
    matches!(status, InstanceStatus::Running | InstanceStatus::Degraded)
}

impl Collectors {
    /// Collectors whose long polls last `health_interval` (at most 20 s).
    pub fn new(health_interval: Duration, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            active: Mutex::default(),
            webhook_versions: Mutex::default(),
            wait: health_interval.min(MAX_LONG_POLL),
            stop,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Instant>>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a collector is live for `id`.
    pub fn is_collecting(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Whether `id`'s collector reported the worker's health and status recently enough that a health
    /// check would learn nothing more: within two long polls and a probe's timeout. A worker that stops
    /// answering fails its collector's long poll within one poll and a timeout, which ends the collector,
    /// so the next round checks it.
    pub fn reported_lately(&self, id: &str) -> bool {
        let fresh = 2 * self.wait + health::PROBE_TIMEOUT;
        self.lock()
            .get(id)
            .copied()
            .flatten()
            .is_some_and(|at| at.elapsed() < fresh)
    }

    fn reported(&self, id: &str) {
        if let Some(at) = self.lock().get_mut(id) {
            *at = Some(Instant::now());
        }
    }

    /// Keeps the webhook versions a health round read, for the reports until the next round.
    pub fn set_webhook_versions(&self, versions: Option<Arc<HashMap<String, i64>>>) {
        *self
            .webhook_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = versions;
    }

    fn webhook_versions(&self) -> Option<Arc<HashMap<String, i64>>> {
        self.webhook_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts a collector for every running instance that has none.
    pub fn ensure_all(self: &Arc<Self>, fleet: &Arc<Fleet>, prober: &Arc<Prober>) {
        for r in fleet.cache.list() {
            if !collects(r.status) {
                continue;
            }
            match self.lock().entry(r.id.clone()) {
                std::collections::hash_map::Entry::Occupied(_) => continue,
                std::collections::hash_map::Entry::Vacant(new) => new.insert(None),
            };
            let active = Active {
                collectors: self.clone(),
                id: r.id.clone(),
            };
            let (mut stop, run) = (
                self.stop.clone(),
                collect(active, fleet.clone(), prober.clone()),
            );
            tokio::spawn(async move {
                tokio::select! {
                    _ = run => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
        }
    }
}

/// Long-polls one worker until it stops running, is deleted, or does not answer.
async fn collect(active: Active, fleet: Arc<Fleet>, prober: Arc<Prober>) {
    let collectors = active.collectors.clone();
    let wait = collectors.wait;
    // A worker older than this manager refuses `status=true`; it is then only collected from, and the
    // health round checks it.
    let mut with_status = true;
    loop {
        let Some(record) = fleet.cache.get(&active.id) else {
            return;
        };
        if !collects(record.status) {
            return;
        }
        let asked = Instant::now();
        match prober
            .collect_events(&fleet, &record, wait, with_status)
            .await
        {
            Ok(collected) => {
                if let Some(report) = collected.report {
                    let versions = collectors.webhook_versions();
                    let facts = RoundFacts {
                        collecting: true,
                        webhook_versions: versions.as_deref(),
                    };
                    health::record(&fleet, &prober, &active.id, Probe::from(report), facts).await;
                    collectors.reported(&active.id);
                }
                if collected.received == 0 && asked.elapsed() < TOO_QUICK.min(wait / 2) {
                    tokio::time::sleep(TOO_QUICK.min(wait)).await;
                }
            }
            Err(CollectError::Refused(e)) if with_status => {
                tracing::debug!(instance_id = %active.id, error = %e, "the worker reports no status with its events");
                with_status = false;
            }
            Err(e) => {
                tracing::debug!(instance_id = %active.id, error = %e, "event collector stopped");
                return;
            }
        }
    }
}
