//! What the round-trip benches share: creating a bot, timing messages in → replies out one after the
//! other, percentiles.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::harness::{self, Created, Manager};

/// Port 0 on the test network's gateway: where a fake listens so workers in containers reach it.
pub fn gateway() -> SocketAddr {
    SocketAddr::new(harness::test_network_gateway(), 0)
}

/// Creates an instance and waits until it is running; an error names what the manager answered.
pub async fn create(m: &Manager, body: Value) -> anyhow::Result<Created> {
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=60", &body)
        .await;
    anyhow::ensure!(status == 201, "create failed: {created}");
    Ok(Created::from_body(&created))
}

/// Times `rounds` messages back to back: `push(i)` sends one in, `replies()` counts the replies seen so
/// far. Sorted, in ms.
pub async fn round_trips(
    rounds: usize,
    push: impl AsyncFnMut(usize),
    replies: impl Fn() -> usize,
) -> anyhow::Result<Vec<f64>> {
    round_trips_paced(rounds, Duration::ZERO, push, replies).await
}

/// Like [`round_trips`], waiting `pause` after each reply before the next message (not timed).
pub async fn round_trips_paced(
    rounds: usize,
    pause: Duration,
    mut push: impl AsyncFnMut(usize),
    replies: impl Fn() -> usize,
) -> anyhow::Result<Vec<f64>> {
    let mut took = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let before = replies();
        let started = Instant::now();
        push(i).await;
        let deadline = started + Duration::from_secs(30);
        while replies() == before {
            anyhow::ensure!(
                Instant::now() < deadline,
                "no reply to message {i} (seen {})",
                replies()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(pause).await;
    }
    took.sort_by(f64::total_cmp);
    Ok(took)
}

/// The `p` quantile (0 to 1) of `sorted` values, nearest rank rounded.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
