//! Which manager leads. Every manager on one database serves the API; one of them, the leader, also runs
//! the work that must happen once: reconciling workers, health checks and event collection, Docker
//! events, webhook deliveries, platform callbacks, schedules, retention and alert evaluation.
//!
//! On PostgreSQL the leader is whoever holds a session-level advisory lock, keyed by the fleet name, on a
//! connection of its own. The server releases the lock the moment that connection ends, so a leader that
//! dies (even by `kill -9`) is replaced at the next attempt of another manager (every second). A leader
//! whose lock connection stops answering (checked every second, two seconds allowed) stops leading at
//! once: its leader-only work is told to stop before anyone else can take the lock over.
//!
//! On SQLite the database is one local file and its manager leads alone.

use std::{future::Future, time::Duration};

use sha2::{Digest, Sha256};
use sqlx::{Connection, postgres::PgConnection};
use tokio::sync::watch;

/// How often a follower tries to take the lock, and a leader checks it still holds it.
const ATTEMPT_EVERY: Duration = Duration::from_secs(1);
/// How long the lock's connection may take to answer before the leader gives up leading.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Whether this manager leads, as it changes.
#[derive(Clone)]
pub struct Leader(watch::Receiver<bool>);

impl Leader {
    /// The only manager: it always leads (SQLite, tests).
    pub fn sole() -> Self {
        Self(watch::channel(true).1)
    }

    pub fn is_leading(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until this manager leads (at once when it does).
    pub async fn leads(&mut self) {
        let _ = self.0.wait_for(|leads| *leads).await;
    }

    /// Waits until this manager no longer leads; never returns for the sole manager.
    pub async fn lost(&mut self) {
        if self.0.wait_for(|leads| !*leads).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The advisory lock's key for `fleet`: the first eight bytes of a digest of its name.
fn lock_key(fleet: &str) -> i64 {
    let digest = Sha256::digest(format!("botfleet leader {fleet}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// Starts campaigning for the lead of `fleet` on the PostgreSQL database at `url`; the campaign ends with
/// `stop`, releasing the lock.
pub fn campaign(url: String, fleet: &str, stop: watch::Receiver<bool>) -> Leader {
    let (tx, rx) = watch::channel(false);
    let key = lock_key(fleet);
    tokio::spawn(run_campaign(url, key, tx, stop));
    Leader(rx)
}

async fn run_campaign(
    url: String,
    key: i64,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut held: Option<PgConnection> = None;
    let mut every = tokio::time::interval(ATTEMPT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped(&mut stop) => break,
        }
        held = match held.take() {
            Some(conn) => match tokio::time::timeout(ANSWER_WITHIN, still_holds(conn)).await {
                Ok(Ok(conn)) => Some(conn),
                Ok(Err(e)) => step_down(&leading, &e.to_string()),
                Err(_) => step_down(&leading, "the lock's connection did not answer in time"),
            },
            None => match tokio::time::timeout(ANSWER_WITHIN, try_lock(&url, key)).await {
                Ok(Ok(Some(conn))) => {
                    tracing::info!("this manager leads now");
                    leading.send_replace(true);
                    Some(conn)
                }
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "could not ask for the lead");
                    None
                }
                Err(_) => None,
            },
        };
    }
    leading.send_replace(false);
    if let Some(conn) = held {
        // Closing the connection releases the lock for the next leader at once.
        let _ = conn.close().await;
    }
}

fn step_down(leading: &watch::Sender<bool>, why: &str) -> Option<PgConnection> {
    tracing::warn!(reason = why, "this manager stops leading");
    leading.send_replace(false);
    None
}

/// A connection holding the lock, or `None` when another manager holds it.
async fn try_lock(url: &str, key: i64) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut conn)
        .await?;
    if got {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

async fn still_holds(mut conn: PgConnection) -> Result<PgConnection, sqlx::Error> {
    conn.ping().await?;
    Ok(conn)
}

/// Waits until `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs `task` whenever this manager leads: started each time it takes the lead, told to stop (through
/// the stop receiver it is given) when it loses the lead or `stop` turns true, and awaited before it can
/// start again. Returns once `stop` is true and the task has ended.
pub async fn while_leading<F, Fut>(mut leader: Leader, mut stop: watch::Receiver<bool>, task: F)
where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = leader.leads() => {}
            _ = stopped(&mut stop) => return,
        }
        if *stop.borrow() {
            return;
        }
        let (end, ended) = watch::channel(false);
        let run = task(ended);
        tokio::pin!(run);
        enum Ended {
            ByItself,
            LeadLost,
            Stopped,
        }
        let ended = tokio::select! {
            _ = &mut run => Ended::ByItself,
            _ = leader.lost() => Ended::LeadLost,
            _ = stopped(&mut stop) => Ended::Stopped,
        };
        let stopping = match ended {
            // The task ended of itself (it only does when told to stop): wait for the next term.
            Ended::ByItself => {
                tokio::select! {
                    _ = leader.lost() => continue,
                    _ = stopped(&mut stop) => return,
                }
            }
            Ended::LeadLost => false,
            Ended::Stopped => true,
        };
        let _ = end.send(true);
        run.await;
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[test]
    fn the_key_depends_on_the_fleet() {
        assert_eq!(lock_key("botfleet"), lock_key("botfleet"));
        assert_ne!(lock_key("botfleet"), lock_key("other"));
    }

    /// The task runs only while leading, ends when the lead is lost, starts again with the next term.
    #[tokio::test]
    async fn a_task_runs_for_each_term_and_stops_with_it() {
        let (lead, rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let (starts, running) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, r) = (starts.clone(), running.clone());
        let runner = tokio::spawn(while_leading(Leader(rx), stop_rx, move |mut end| {
            let (s, r) = (s.clone(), r.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                r.fetch_add(1, Ordering::SeqCst);
                stopped(&mut end).await;
                r.fetch_sub(1, Ordering::SeqCst);
            }
        }));
        let settle = || tokio::time::sleep(Duration::from_millis(50));
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 0, "a follower runs nothing");
        lead.send_replace(true);
        settle().await;
        assert_eq!(running.load(Ordering::SeqCst), 1);
        lead.send_replace(false);
        settle().await;
        assert_eq!(
            running.load(Ordering::SeqCst),
            0,
            "the lost lead stops the task"
        );
        lead.send_replace(true);
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(1), runner)
            .await
            .expect("the stop ends it")
            .unwrap();
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
