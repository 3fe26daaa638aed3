//! Storage that stays bounded: every `--retention-interval-secs` (and once soon after start) the
//! manager forgets events, messages, finished webhook deliveries and histories (status changes, errors,
//! settings changes, finished scheduled runs, resolved alerts) older than their retention, in batches
//! (`store::retention`). A retention of 0 days keeps that kind for ever. The audit log has its own
//! (`--audit-retention-days`).

use std::time::Duration;

use tokio::sync::watch;

use crate::{
    fleet::now_ms,
    store::{
        Store,
        retention::{BATCH, Kind, RULES},
    },
};

/// How long each kind of record is kept, in days (0: for ever).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RetentionArgs {
    /// Days the event log keeps an event.
    #[arg(long, env = "BOTFLEET_RETAIN_EVENTS_DAYS", default_value_t = 30)]
    pub retain_events_days: u64,
    /// Days a stored message (in or out) is kept; chats and daily counts stay.
    #[arg(long, env = "BOTFLEET_RETAIN_MESSAGES_DAYS", default_value_t = 90)]
    pub retain_messages_days: u64,
    /// Days a finished webhook delivery (delivered or dead) is kept; pending ones always are.
    #[arg(long, env = "BOTFLEET_RETAIN_DELIVERIES_DAYS", default_value_t = 14)]
    pub retain_deliveries_days: u64,
    /// Days status changes, errors, settings changes, finished scheduled runs and resolved alerts are kept.
    #[arg(long, env = "BOTFLEET_RETAIN_HISTORY_DAYS", default_value_t = 90)]
    pub retain_history_days: u64,
    /// Seconds between two sweeps.
    #[arg(long, env = "BOTFLEET_RETENTION_INTERVAL_SECS", default_value_t = 3600)]
    pub retention_interval_secs: u64,
}

impl RetentionArgs {
    /// Days `kind` is kept (0: for ever).
    pub fn days(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Events => self.retain_events_days,
            Kind::Messages => self.retain_messages_days,
            Kind::Deliveries => self.retain_deliveries_days,
            Kind::History => self.retain_history_days,
        }
    }
}

/// Sweeps now and then every interval until `stop`.
pub async fn run(store: Store, args: RetentionArgs, mut stop: watch::Receiver<bool>) {
    // The first sweep waits a little: a manager starting has other work first.
    let mut next = Duration::from_secs(args.retention_interval_secs.clamp(1, 30));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = stop.changed() => return,
        }
        sweep(&store, &args, now_ms()).await;
        next = Duration::from_secs(args.retention_interval_secs.max(1));
    }
}

/// Forgets, table by table, the rows older than their retention at `now` (unix ms); the rows deleted
/// per table. A table that fails is logged and left for the next sweep.
pub async fn sweep(store: &Store, args: &RetentionArgs, now: i64) -> Vec<(&'static str, u64)> {
    let mut deleted = Vec::new();
    for rule in RULES {
        let days = args.days(rule.kind);
        if days == 0 {
            continue;
        }
        let before = now - (days as i64) * 86_400_000;
        let mut total = 0;
        let mut swept = false;
        loop {
            match store.forget_batch(rule, before).await {
                Ok(n) => {
                    total += n;
                    if n < BATCH as u64 {
                        swept = true;
                        break;
                    }
                    // Let other writers in between batches.
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(table = rule.table, error = %e, "could not forget old rows");
                    break;
                }
            }
        }
        // The analytics rollup follows the messages: once none older than `before` is left, its days
        // before that go and the day cut is counted again from the messages left.
        if rule.kind == Kind::Messages
            && swept
            && let Err(e) = store.forget_analytics(before).await
        {
            tracing::warn!(error = %e, "could not forget the analytics of old messages");
        }
        if total > 0 {
            metrics::counter!("botfleet_retention_deleted_rows_total", "table" => rule.table)
                .increment(total);
            tracing::info!(
                table = rule.table,
                rows = total,
                days,
                "forgot rows past their retention"
            );
        }
        deleted.push((rule.table, total));
    }
    deleted
}
