//! Background observers of the fleet.

pub mod alerts;
pub mod collectors;
pub mod events;
pub mod follow;
pub mod health;
pub mod host_limits;
pub mod performance;
pub mod resources;

use std::time::Duration;

use tokio::sync::watch;

/// A ticker for background loops: resolves at each `interval` (the first at once) with `true`, or with
/// `false` once `stop` turns true.
pub struct Every {
    ticker: tokio::time::Interval,
    stop: watch::Receiver<bool>,
}

impl Every {
    pub fn new(interval: Duration, stop: watch::Receiver<bool>) -> Self {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { ticker, stop }
    }

    /// `true` when it is time for the next round, `false` when the loop should end.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.ticker.tick() => true,
            _ = self.stop.wait_for(|s| *s) => false,
        }
    }
}
