//! One long-polling event collector per running worker: it asks the worker for events with `wait_ms`,
//! so messages and bot events reach the database (and webhooks) as they happen rather than at the next
//! health check. The health checks still collect too, so a collector that stopped loses nothing; the
//! health loop starts collectors again for every running worker that has none.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::health::Prober;
use crate::{domain::InstanceStatus, fleet::Fleet};

/// How long one long poll waits for an event.
const LONG_POLL: Duration = Duration::from_secs(20);

/// An answer quicker than this with no event means the worker does not long-poll (or is going away):
/// pause instead of asking again at once.
const TOO_QUICK: Duration = Duration::from_secs(1);

pub struct Collectors {
    active: Mutex<HashSet<String>>,
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
    pub fn new(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            active: Mutex::default(),
            stop,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a collector is live for `id`.
    pub fn is_collecting(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    /// Starts a collector for every running instance that has none.
    pub fn ensure_all(self: &Arc<Self>, fleet: &Arc<Fleet>, prober: &Arc<Prober>) {
        for r in fleet.cache.list() {
            if collects(r.status) && self.lock().insert(r.id.clone()) {
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
}

/// Long-polls one worker until it stops running, is deleted, or does not answer.
async fn collect(active: Active, fleet: Arc<Fleet>, prober: Arc<Prober>) {
    loop {
        let Some(record) = fleet.cache.get(&active.id) else {
            return;
        };
        if !collects(record.status) {
            return;
        }
        let asked = Instant::now();
        match prober.collect_events(&fleet, &record, LONG_POLL).await {
            Ok(0) if asked.elapsed() < TOO_QUICK => tokio::time::sleep(TOO_QUICK).await,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(instance_id = %active.id, error = %e, "event collector stopped");
                return;
            }
        }
    }
}
