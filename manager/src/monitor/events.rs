//! Docker events: a worker that dies or is removed is seen at once, not at the next poll. Each event
//! triggers a converge of its instance; when the stream ends (dockerd restarted) it is reopened from the
//! last event's time and a full reconcile pass covers anything missed in between.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::sync::watch;

use crate::{reconcile::Reconciler, runtime::WorkerEventKind};

pub async fn run(reconciler: Arc<Reconciler>, mut stop: watch::Receiver<bool>) {
    let mut since: Option<i64> = None;
    loop {
        let mut events = reconciler.fleet.runtime.events(since);
        loop {
            let next = tokio::select! {
                event = events.next() => event,
                _ = stop.wait_for(|s| *s) => return,
            };
            match next {
                Some(Ok(event)) => {
                    since = Some(event.time);
                    reconciler.fleet.observed.worker_changed(&event.instance_id);
                    match event.kind {
                        WorkerEventKind::Died { exit_code } => {
                            tracing::info!(instance_id = %event.instance_id, ?exit_code, "worker died");
                            reconciler.trigger(&event.instance_id);
                        }
                        WorkerEventKind::Destroyed => {
                            tracing::info!(instance_id = %event.instance_id, "worker container removed");
                            reconciler.trigger(&event.instance_id);
                        }
                        WorkerEventKind::OutOfMemory => {
                            tracing::warn!(instance_id = %event.instance_id, "worker ran out of memory");
                        }
                        // A worker that started late (a Swarm task that waited for a node) gets its
                        // endpoint recorded; for one the reconciler just started this changes nothing.
                        WorkerEventKind::Started => reconciler.trigger(&event.instance_id),
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Docker event stream failed; reconnecting");
                    break;
                }
                None => {
                    tracing::warn!("Docker event stream ended; reconnecting");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        reconciler.full_pass().await;
    }
}
