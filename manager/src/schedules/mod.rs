//! Scheduled messages: the scheduler task, which turns each due time of a schedule into one run and has
//! the instance's worker send it.
//!
//! A run happens once across restarts of the manager and of the worker:
//! 1. the scheduler inserts the run row (`schedule_runs`, keyed by `(schedule_id, due_at)`) in the same
//!    transaction that moves the schedule to its next due time, `ON CONFLICT DO NOTHING`; only the
//!    inserter goes on;
//! 2. it asks the worker to send (`POST /api/v1/send`, control key) with the run's id as
//!    `Idempotency-Key`: a worker that already sent with that key (it remembers keys for a day, on its
//!    volume) answers with the first answer and sends nothing;
//! 3. it records the outcome. A manager killed between 1 and 3 finds the run `pending` at its next start
//!    and asks again with the same key.
//!
//! Missed due times (the manager or the bot was down): only the newest one is run, late, when within the
//! schedule's grace period and its policy is `send_late`; otherwise it is recorded `skipped_late`. The
//! earlier ones are counted in the run's `superseded`, never sent in a burst.
//!
//! The task sleeps until the earliest next due time (or next retry) in the database (one indexed
//! `MIN` each), woken early when a schedule is written, and at least every [`MAX_SLEEP`].

pub mod plan;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use shared::{
    api::schedules::{MissedPolicy, RunStatus},
    worker_api::{ChatRef, SendRequest},
};
use tokio::sync::{Notify, Semaphore, watch};

use crate::{
    fleet::{Fleet, now_ms},
    monitor::health::{Prober, SendFailure},
    store::schedules::{RunRow, ScheduleRow},
};
use plan::{Plan, PlanError};

/// A run taken this long after its due time (or later) is late: `missed: skip` records it
/// `skipped_late`, `send_late` sends it while within the grace period. Also the least grace a run has.
pub const ON_TIME_MS: i64 = 10_000;
/// How long one send request to a worker may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a run being sent is held before another attempt may take it.
const LEASE_MS: i64 = SEND_TIMEOUT.as_millis() as i64 + 5_000;
/// The longest the task sleeps without looking at the database.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);
/// Schedules (or retries) read at a time.
const BATCH: i64 = 500;
/// Sends in flight at once.
const MAX_IN_FLIGHT: usize = 32;
/// Missed due times counted at most (`superseded`).
const SUPERSEDED_CAP: i64 = 10_000;
/// Finished runs are kept this long after their due time.
const KEEP_RUNS_MS: i64 = 30 * 24 * 3600 * 1000;

/// Test hook: with `BOTFLEET_TEST_FAILPOINT=schedule_exit_after_send` the manager exits right after a
/// worker acknowledged a scheduled send and before the outcome is recorded — the crash the
/// `Idempotency-Key` is for (`tests/tests/schedules.rs` restarts it and counts the messages).
fn exit_after_send() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        std::env::var("BOTFLEET_TEST_FAILPOINT").is_ok_and(|v| v == "schedule_exit_after_send")
    })
}

/// The plan of a stored schedule.
pub fn plan_of(s: &ScheduleRow) -> Result<Plan, PlanError> {
    let tz = plan::zone(&s.timezone)?;
    if let Some(at) = s.at {
        return Ok(Plan::once(at, tz));
    }
    let pattern = match (&s.cron, &s.time) {
        (Some(cron), _) => cron.clone(),
        (None, Some(time)) => {
            let hms = shared::api::schedules::parse_time_of_day(time).ok_or(PlanError {
                field: "time",
                message: "must be HH:MM or HH:MM:SS".into(),
            })?;
            plan::days_pattern(s.days.as_deref().unwrap_or_default(), hms)
        }
        (None, None) => {
            return Err(PlanError {
                field: "cron",
                message: "the schedule has no timing".into(),
            });
        }
    };
    Plan::cron(plan::parse_cron(&pattern)?, tz, s.starts_at, s.ends_at)
}

/// The last moment a run due at `due` may be sent under the schedule's policy.
pub fn send_until(due: i64, missed: MissedPolicy, grace_secs: i64) -> i64 {
    due + match missed {
        MissedPolicy::Skip => ON_TIME_MS,
        MissedPolicy::SendLate => (grace_secs * 1000).max(ON_TIME_MS),
    }
}

/// What the scheduler does with a schedule whose due time `due` has come, at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The due time that is run: the newest that has passed.
    pub run_due: i64,
    /// Due times before it that passed unsent.
    pub superseded: i64,
    /// The schedule's next due time after this one.
    pub next_due: Option<i64>,
    /// `Some(reason)` when the run is too late to be sent.
    pub skip: Option<String>,
}

/// Pure: which due time runs, whether it is sent, and the schedule's next due time.
pub fn decide(plan: &Plan, s: &ScheduleRow, due: i64, now: i64) -> Decision {
    let run_due = plan.latest_until(now).filter(|n| *n > due).unwrap_or(due);
    let superseded = if run_due > due {
        plan.count_between(due, run_due, SUPERSEDED_CAP)
    } else {
        0
    };
    let late_ms = now - run_due;
    let skip = if now > send_until(run_due, s.missed, s.grace_secs) {
        Some(match s.missed {
            MissedPolicy::Skip => format!(
                "taken {} s after its due time (the manager or the bot was not running then) and the \
                 schedule says `missed: skip`",
                late_ms / 1000
            ),
            MissedPolicy::SendLate => format!(
                "taken {} s after its due time (the manager or the bot was not running then), past \
                 its grace period of {} s",
                late_ms / 1000,
                s.grace_secs
            ),
        })
    } else {
        None
    };
    Decision {
        run_due,
        superseded,
        next_due: if s.enabled {
            plan.next_after(run_due.max(now))
        } else {
            None
        },
        skip,
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Sent(String),
    /// Recorded as is; not tried again.
    Final(RunStatus, String),
    /// Tried again later, while the run may still be sent.
    Transient {
        reason: String,
        retry_after: Option<u64>,
    },
}

/// The outcome of a worker's refusal.
fn classify(f: SendFailure) -> Outcome {
    let transient = |reason: String| Outcome::Transient {
        reason,
        retry_after: f.retry_after,
    };
    match f.status {
        None => transient(format!("the worker could not be reached: {}", f.message)),
        Some(409) => {
            let paused = f.message.to_ascii_lowercase().contains("pause")
                || f.error.as_ref().is_some_and(|e| {
                    serde_json::to_string(&e.code).is_ok_and(|c| c.contains("pause"))
                });
            Outcome::Final(
                if paused {
                    RunStatus::SkippedPaused
                } else {
                    RunStatus::Skipped
                },
                f.message,
            )
        }
        // Busy, not connected to its platform yet, the platform failing: worth another try.
        Some(429 | 500..=599) => transient(f.message),
        // 401/403 (a key just rotated) are the manager's own to fix at the next converge.
        Some(401 | 403) => transient(f.message),
        Some(_) => Outcome::Final(RunStatus::Failed, f.message),
    }
}

/// Wait before attempt `attempts + 1`: 1, 2, 4, … up to 30 s.
fn backoff_ms(attempts: i64) -> i64 {
    1000 * (1i64 << attempts.clamp(1, 6).saturating_sub(1)).min(30)
}

/// The scheduler task and what it shares with the API.
pub struct Scheduler {
    fleet: Arc<Fleet>,
    prober: Arc<Prober>,
    /// Rung by the API when a schedule is written, so the task looks again at once.
    wake: Arc<Notify>,
    /// Runs this process is sending now.
    in_flight: Mutex<HashSet<String>>,
    sends: Arc<Semaphore>,
}

/// Removes a run from the in-flight set when its attempt ends, however it ends.
struct InFlight<'a> {
    scheduler: &'a Scheduler,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.scheduler.in_flight().remove(&self.id);
    }
}

impl Scheduler {
    pub fn new(fleet: Arc<Fleet>, prober: Arc<Prober>, wake: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            fleet,
            prober,
            wake,
            in_flight: Mutex::default(),
            sends: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs until `stop`; then waits (a little) for the sends in flight to record their outcome. One
    /// not recorded stays `pending` and is asked again, with the same key, at the next start.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        match self.fleet.store.release_pending_runs(now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                runs = n,
                "scheduled runs left pending by the last process are due again"
            ),
            Err(e) => tracing::warn!(error = %e, "could not release pending scheduled runs"),
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_prune = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            let now = now_ms();
            if let Err(e) = self.tick(now, &mut tasks).await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            while tasks.try_join_next().is_some() {}
            if now - last_prune > 3_600_000 {
                last_prune = now;
                match self.fleet.store.prune_runs(now - KEEP_RUNS_MS).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(runs = n, "old scheduled runs dropped"),
                    Err(e) => tracing::warn!(error = %e, "could not prune scheduled runs"),
                }
            }
            let wait = match self.fleet.store.next_schedule_work().await {
                // Something still due after a pass is being sent (or failed to be taken): look again
                // soon, without spinning.
                Ok(Some(t)) => Duration::from_millis((t - now_ms()).max(50) as u64).min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the next scheduled time");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tracing::info!("scheduler stopped");
    }

    /// Takes every due schedule and every run due for another attempt.
    async fn tick(
        self: &Arc<Self>,
        now: i64,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), sqlx::Error> {
        loop {
            let due = self.fleet.store.due_schedules(now, BATCH).await?;
            for s in &due {
                if let Some(run) = self.take(s, now).await? {
                    self.spawn_attempt(run, tasks);
                }
            }
            if (due.len() as i64) < BATCH {
                break;
            }
        }
        for run in self.fleet.store.due_retries(now, BATCH).await? {
            if self.in_flight().contains(&run.id()) {
                continue;
            }
            let Some(seen) = run.next_attempt_at else {
                continue;
            };
            if self
                .fleet
                .store
                .claim_run(&run, seen, now + LEASE_MS)
                .await?
            {
                let run = RunRow {
                    attempts: run.attempts + 1,
                    ..run
                };
                self.spawn_attempt(run, tasks);
            }
        }
        Ok(())
    }

    /// Takes the due time of `s`: inserts its run and moves it on. Returns the run when it is to be
    /// sent by this process.
    async fn take(&self, s: &ScheduleRow, now: i64) -> Result<Option<RunRow>, sqlx::Error> {
        let Some(due) = s.next_due_at else {
            return Ok(None);
        };
        if !s.enabled {
            self.fleet.store.set_next_due(&s.id, due, None).await?;
            return Ok(None);
        }
        let plan = match plan_of(s) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::warn!(schedule_id = %s.id, error = %e.message, "a schedule that does not read is stopped");
                let stopped = RunRow {
                    status: RunStatus::Failed,
                    reason: Some(format!("{}: {}", e.field, e.message)),
                    finished_at: Some(now),
                    next_attempt_at: None,
                    ..self.new_run(s, due, 0, now)
                };
                self.fleet
                    .store
                    .take_run(&s.id, due, None, &stopped)
                    .await?;
                return Ok(None);
            }
        };
        let d = decide(&plan, s, due, now);
        let mut run = self.new_run(s, d.run_due, d.superseded, now);
        if let Some(reason) = d.skip {
            run.status = RunStatus::SkippedLate;
            run.reason = Some(reason);
            run.finished_at = Some(now);
            run.next_attempt_at = None;
            run.attempts = 0;
        } else if self.fleet.cache.get(&s.instance_id).is_none() {
            run.status = RunStatus::Failed;
            run.reason = Some("the instance no longer exists".into());
            run.finished_at = Some(now);
            run.next_attempt_at = None;
            run.attempts = 0;
        }
        let inserted = self
            .fleet
            .store
            .take_run(&s.id, due, d.next_due, &run)
            .await?;
        if inserted {
            crate::metrics::schedule_run(run.status.as_str());
            if run.status != RunStatus::Pending {
                tracing::info!(schedule_id = %s.id, due_at = run.due_at, status = run.status.as_str(), reason = ?run.reason, "scheduled run not sent");
            }
        }
        Ok((inserted && run.status == RunStatus::Pending).then_some(run))
    }

    /// A pending run of `s` due at `due`, held for its first attempt.
    fn new_run(&self, s: &ScheduleRow, due: i64, superseded: i64, now: i64) -> RunRow {
        RunRow {
            schedule_id: s.id.clone(),
            due_at: due,
            instance_id: s.instance_id.clone(),
            chat_id: s.chat_id.clone(),
            message: s.message.clone(),
            status: RunStatus::Pending,
            attempts: 1,
            next_attempt_at: Some(now + LEASE_MS),
            send_until: send_until(due, s.missed, s.grace_secs),
            message_id: None,
            reason: None,
            superseded,
            created_at: now,
            finished_at: None,
        }
    }

    fn spawn_attempt(self: &Arc<Self>, run: RunRow, tasks: &mut tokio::task::JoinSet<()>) {
        self.in_flight().insert(run.id());
        let this = self.clone();
        tasks.spawn(async move {
            let _in_flight = InFlight {
                scheduler: &this,
                id: run.id(),
            };
            let Ok(_permit) = this.sends.clone().acquire_owned().await else {
                return;
            };
            let outcome = this.attempt(&run).await;
            if matches!(outcome, Outcome::Sent(_)) && exit_after_send() {
                tracing::error!(run_id = %run.id(), "failpoint: exiting after a send, before recording it");
                std::process::exit(86);
            }
            if let Err(e) = this.record(&run, outcome).await {
                tracing::warn!(run_id = %run.id(), error = %e, "could not record a scheduled run; it is tried again");
            }
            // A retry may now be due sooner than the task planned to look.
            this.wake.notify_one();
        });
    }

    async fn attempt(&self, run: &RunRow) -> Outcome {
        let Some(instance) = self.fleet.cache.get(&run.instance_id) else {
            return Outcome::Final(RunStatus::Failed, "the instance no longer exists".into());
        };
        let chat_id = match ChatRef::parse(&run.chat_id) {
            Ok(c) => c,
            Err(e) => return Outcome::Final(RunStatus::Failed, format!("chat_id: {e}")),
        };
        let request = SendRequest {
            chat_id,
            message: run.message.clone(),
            parse_mode: None,
            reply_markup: None,
        };
        match self
            .prober
            .send_message(&instance, &run.id(), &request, SEND_TIMEOUT)
            .await
        {
            Ok(sent) => Outcome::Sent(sent.message_id),
            Err(f) => classify(f),
        }
    }

    async fn record(&self, run: &RunRow, outcome: Outcome) -> Result<(), sqlx::Error> {
        let store = &self.fleet.store;
        let now = now_ms();
        let (status, message_id, reason) = match outcome {
            Outcome::Sent(id) => (RunStatus::Sent, Some(id), None),
            Outcome::Final(status, reason) => (status, None, Some(reason)),
            Outcome::Transient {
                reason,
                retry_after,
            } => {
                let wait = backoff_ms(run.attempts).max(retry_after.unwrap_or(0) as i64 * 1000);
                if now + wait <= run.send_until {
                    tracing::debug!(run_id = %run.id(), %reason, "scheduled run tried again later");
                    return store
                        .retry_run_later(&run.schedule_id, run.due_at, now + wait, &reason)
                        .await;
                }
                (
                    RunStatus::SkippedLate,
                    None,
                    Some(format!("not sent within its grace period: {reason}")),
                )
            }
        };
        crate::metrics::schedule_run(status.as_str());
        tracing::info!(run_id = %run.id(), status = status.as_str(), reason = ?reason, "scheduled run finished");
        store
            .finish_run(
                &run.schedule_id,
                run.due_at,
                status,
                message_id.as_deref(),
                reason.as_deref(),
                now,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, missed: MissedPolicy, grace_secs: i64) -> ScheduleRow {
        ScheduleRow {
            id: "s1".into(),
            instance_id: "i1".into(),
            name: None,
            chat_id: "42".into(),
            message: "hi".into(),
            cron: Some(cron.into()),
            days: None,
            time: None,
            at: None,
            timezone: "UTC".into(),
            starts_at: None,
            ends_at: None,
            enabled: true,
            missed,
            grace_secs,
            next_due_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    const T0: i64 = 1_800_000_000_000; // a whole minute (2027-01-15T08:00:00Z)

    #[test]
    fn an_on_time_run_is_sent_and_the_next_is_planned() {
        let s = schedule("* * * * *", MissedPolicy::SendLate, 3600);
        let plan = plan_of(&s).unwrap();
        let d = decide(&plan, &s, T0, T0 + 120);
        assert_eq!(
            d,
            Decision {
                run_due: T0,
                superseded: 0,
                next_due: Some(T0 + 60_000),
                skip: None
            }
        );
    }

    #[test]
    fn only_the_newest_missed_due_time_runs_late() {
        let s = schedule("* * * * *", MissedPolicy::SendLate, 3600);
        let plan = plan_of(&s).unwrap();
        // Down for ten and a half minutes: due times T0 … T0+10 min passed.
        let d = decide(&plan, &s, T0, T0 + 630_000);
        assert_eq!(d.run_due, T0 + 600_000);
        assert_eq!(d.superseded, 10);
        assert_eq!(d.next_due, Some(T0 + 660_000));
        assert_eq!(d.skip, None);
    }

    #[test]
    fn a_run_past_its_grace_or_late_under_skip_is_skipped() {
        let s = schedule("0 8 * * *", MissedPolicy::SendLate, 600);
        let plan = plan_of(&s).unwrap();
        assert!(decide(&plan, &s, T0, T0 + 599_000).skip.is_none());
        assert!(decide(&plan, &s, T0, T0 + 601_000).skip.is_some());
        let s = schedule("0 8 * * *", MissedPolicy::Skip, 600);
        assert!(decide(&plan, &s, T0, T0 + 5_000).skip.is_none());
        let late = decide(&plan, &s, T0, T0 + ON_TIME_MS + 1);
        assert!(late.skip.unwrap().contains("missed: skip"));
        // Grace 0 still has the on-time tolerance.
        let s = schedule("0 8 * * *", MissedPolicy::SendLate, 0);
        assert!(decide(&plan, &s, T0, T0 + 2_000).skip.is_none());
    }

    #[test]
    fn a_one_off_has_no_next_due_time() {
        let mut s = schedule("", MissedPolicy::SendLate, 3600);
        s.cron = None;
        s.at = Some(T0);
        let plan = plan_of(&s).unwrap();
        let d = decide(&plan, &s, T0, T0 + 50);
        assert_eq!((d.run_due, d.next_due, d.skip), (T0, None, None));
    }

    #[test]
    fn the_days_form_reads_back_from_a_row() {
        let mut s = schedule("", MissedPolicy::SendLate, 3600);
        s.cron = None;
        s.time = Some("08:00".into());
        s.days = Some(vec![shared::api::schedules::Weekday::Fri]);
        let plan = plan_of(&s).unwrap();
        // T0 is a Friday 08:00 UTC; the next is a week later.
        assert_eq!(plan.next_after(T0), Some(T0 + 7 * 86_400_000));
    }

    #[test]
    fn refusals_are_sorted_into_final_and_transient() {
        let f = |status: Option<u16>, message: &str| SendFailure {
            status,
            error: None,
            message: message.into(),
            retry_after: Some(3),
        };
        assert!(matches!(
            classify(f(None, "refused")),
            Outcome::Transient {
                retry_after: Some(3),
                ..
            }
        ));
        assert!(matches!(
            classify(f(Some(503), "not connected")),
            Outcome::Transient { .. }
        ));
        assert!(matches!(
            classify(f(Some(429), "wait")),
            Outcome::Transient { .. }
        ));
        assert_eq!(
            classify(f(Some(409), "the bot is paused")),
            Outcome::Final(RunStatus::SkippedPaused, "the bot is paused".into())
        );
        assert_eq!(
            classify(f(Some(409), "busy")),
            Outcome::Final(RunStatus::Skipped, "busy".into())
        );
        assert_eq!(
            classify(f(Some(422), "chat not found")),
            Outcome::Final(RunStatus::Failed, "chat not found".into())
        );
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(3), 4000);
        assert_eq!(backoff_ms(50), 30_000);
    }
}
