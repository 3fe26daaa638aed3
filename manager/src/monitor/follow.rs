//! Follows workers that are starting closely, so a bot shows `client_ready` within a few tens of
//! milliseconds of passing `getMe` rather than at the next health round (seconds later). Only a cheap
//! `/health` is asked at that pace; the full check (which writes the record) runs when the worker says
//! it is healthy, and otherwise at most every `FULL_CHECK_EVERY` (to notice a refused token early). A
//! worker whose port does not answer yet costs a refused connection and no write.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::sync::watch;

use super::health::{self, Prober, Quick};
use crate::{
    domain::{DesiredState, InstanceStatus},
    fleet::Fleet,
};

/// The pace for one starting worker; with many starting at once the round stretches (see `pace`).
const INTERVAL: Duration = Duration::from_millis(20);
const FULL_CHECK_EVERY: Duration = Duration::from_millis(250);
const CONCURRENCY: usize = 32;

/// The pause between rounds: 20 ms for a few workers, growing with their number (2 ms each), so a
/// hundred creates at once do not turn the follower into a load of its own.
fn pace(starting: usize) -> Duration {
    INTERVAL.max(Duration::from_millis(2) * starting as u32)
}

pub async fn run(fleet: Arc<Fleet>, prober: Arc<Prober>, mut stop: watch::Receiver<bool>) {
    let mut changes = fleet.cache.subscribe();
    let mut last_full: HashMap<String, Instant> = HashMap::new();
    loop {
        let starting: Vec<String> = fleet
            .cache
            .list()
            .iter()
            .filter(|r| {
                r.status == InstanceStatus::Starting && r.desired_state == DesiredState::Running
            })
            .map(|r| r.id.clone())
            .collect();
        last_full.retain(|id, _| starting.contains(id));
        if starting.is_empty() {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        let due: Vec<(String, bool)> = starting
            .iter()
            .map(|id| {
                let full_due = last_full
                    .get(id)
                    .is_none_or(|t| t.elapsed() >= FULL_CHECK_EVERY);
                (id.clone(), full_due)
            })
            .collect();
        let checked: Vec<String> = futures::stream::iter(due)
            .map(|(id, full_due)| {
                let (fleet, prober) = (&fleet, &prober);
                async move {
                    let record = fleet.cache.get(&id)?;
                    let full = match prober.quick_health(&record).await {
                        Quick::Healthy => true,
                        Quick::Unhealthy => full_due,
                        Quick::Unreachable => false,
                    };
                    if full {
                        health::check(fleet, prober, &id, Default::default()).await;
                        Some(id)
                    } else {
                        None
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .filter_map(|id| async move { id })
            .collect()
            .await;
        let now = Instant::now();
        for id in checked {
            last_full.insert(id, now);
        }
        tokio::select! {
            _ = tokio::time::sleep(pace(starting.len())) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_stretches_with_the_number_of_starting_workers() {
        assert_eq!(pace(1), Duration::from_millis(20));
        assert_eq!(pace(10), Duration::from_millis(20));
        assert_eq!(pace(100), Duration::from_millis(200));
    }
}
