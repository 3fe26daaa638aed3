//! `schedules` and `schedule_runs`: what each instance sends by itself and when, and one row per due
//! time reached. A run row is inserted (`ON CONFLICT DO NOTHING`) in the transaction that moves its
//! schedule to the next due time, before anything is sent: its primary key `(schedule_id, due_at)` is
//! what keeps a due time from running twice, whatever restarts in between.

use std::collections::HashMap;

use shared::api::schedules::{MissedPolicy, RunStatus, Weekday};
use sqlx::{Row, any::AnyRow};

use super::Store;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    pub id: String,
    pub instance_id: String,
    pub name: Option<String>,
    pub chat_id: String,
    pub message: String,
    pub cron: Option<String>,
    /// With `time`: the days (empty: every day).
    pub days: Option<Vec<Weekday>>,
    /// `HH:MM[:SS]`.
    pub time: Option<String>,
    /// A one-off's instant, unix ms.
    pub at: Option<i64>,
    pub timezone: String,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub enabled: bool,
    pub missed: MissedPolicy,
    pub grace_secs: i64,
    /// The next due time not taken yet.
    pub next_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub schedule_id: String,
    pub due_at: i64,
    pub instance_id: String,
    pub chat_id: String,
    pub message: String,
    pub status: RunStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub send_until: i64,
    pub message_id: Option<String>,
    pub reason: Option<String>,
    pub superseded: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl RunRow {
    /// `<schedule id>-<due ms>`: the run's id, and the `Idempotency-Key` its sends carry.
    pub fn id(&self) -> String {
        run_id(&self.schedule_id, self.due_at)
    }
}

pub fn run_id(schedule_id: &str, due_at: i64) -> String {
    format!("{schedule_id}-{due_at}")
}

const SCHEDULE_COLUMNS: &str = "id, instance_id, name, chat_id, message, cron, days, time_of_day, at, \
     timezone, starts_at, ends_at, enabled, missed, grace_secs, next_due_at, created_at, updated_at";

const RUN_COLUMNS: &str = "schedule_id, due_at, instance_id, chat_id, message, status, attempts, \
     next_attempt_at, send_until, message_id, reason, superseded, created_at, finished_at";

fn decode(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("schedule with {what} {value:?}").into())
}

fn schedule_from_row(r: &AnyRow) -> Result<ScheduleRow, sqlx::Error> {
    let days: Option<String> = r.try_get("days")?;
    let missed: String = r.try_get("missed")?;
    Ok(ScheduleRow {
        id: r.try_get("id")?,
        instance_id: r.try_get("instance_id")?,
        name: r.try_get("name")?,
        chat_id: r.try_get("chat_id")?,
        message: r.try_get("message")?,
        cron: r.try_get("cron")?,
        days: days
            .map(|d| {
                d.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Weekday::parse(s).ok_or_else(|| decode("day", s)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?,
        time: r.try_get("time_of_day")?,
        at: r.try_get("at")?,
        timezone: r.try_get("timezone")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        missed: MissedPolicy::parse(&missed).ok_or_else(|| decode("missed", &missed))?,
        grace_secs: r.try_get("grace_secs")?,
        next_due_at: r.try_get("next_due_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn run_from_row(r: &AnyRow) -> Result<RunRow, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(RunRow {
        schedule_id: r.try_get("schedule_id")?,
        due_at: r.try_get("due_at")?,
        instance_id: r.try_get("instance_id")?,
        chat_id: r.try_get("chat_id")?,
        message: r.try_get("message")?,
        status: RunStatus::parse(&status).ok_or_else(|| decode("run status", &status))?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        send_until: r.try_get("send_until")?,
        message_id: r.try_get("message_id")?,
        reason: r.try_get("reason")?,
        superseded: r.try_get("superseded")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn days_text(days: &Option<Vec<Weekday>>) -> Option<String> {
    days.as_ref()
        .map(|d| d.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(","))
}

/// Binds a schedule's fields as `$1` to `$16`, in `SCHEDULE_COLUMNS` order up to `next_due_at`.
fn bind_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    row: &ScheduleRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(row.id.clone())
        .bind(row.instance_id.clone())
        .bind(row.name.clone())
        .bind(row.chat_id.clone())
        .bind(row.message.clone())
        .bind(row.cron.clone())
        .bind(days_text(&row.days))
        .bind(row.time.clone())
        .bind(row.at)
        .bind(row.timezone.clone())
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(i64::from(row.enabled))
        .bind(row.missed.as_str())
        .bind(row.grace_secs)
        .bind(row.next_due_at)
}

impl Store {
    /// The instance's schedules, oldest first.
    pub async fn schedules(&self, instance_id: &str) -> Result<Vec<ScheduleRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE instance_id = $1 ORDER BY created_at, id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance_id.to_string())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(schedule_from_row)
            .collect()
    }

    pub async fn schedule(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<ScheduleRow>, sqlx::Error> {
        let sql =
            format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE instance_id = $1 AND id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance_id.to_string())
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(schedule_from_row)
            .transpose()
    }

    /// Inserts `row` unless the instance has `max` schedules already; false when it has.
    pub async fn insert_schedule(&self, row: &ScheduleRow, max: i64) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 \
             WHERE (SELECT COUNT(*) FROM schedules WHERE instance_id = $2) < $19"
        );
        let done = bind_fields(sqlx::query(sqlx::AssertSqlSafe(sql)), row)
            .bind(row.created_at)
            .bind(row.updated_at)
            .bind(max)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the schedule's fields (all but its id, instance and creation time); false when the
    /// instance has no such schedule.
    pub async fn replace_schedule(&self, row: &ScheduleRow) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(
            "UPDATE schedules SET name = $3, chat_id = $4, message = $5, cron = $6, days = $7, \
             time_of_day = $8, at = $9, timezone = $10, starts_at = $11, ends_at = $12, enabled = $13, \
             missed = $14, grace_secs = $15, next_due_at = $16, updated_at = $17 \
             WHERE id = $1 AND instance_id = $2",
        );
        let done = bind_fields(query, row)
            .bind(row.updated_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the schedule and its runs; false when the instance has no such schedule. A run being
    /// sent finishes; its outcome is not recorded.
    pub async fn delete_schedule(&self, instance_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM schedules WHERE id = $1 AND instance_id = $2")
            .bind(id.to_string())
            .bind(instance_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone > 0 {
            sqlx::query("DELETE FROM schedule_runs WHERE schedule_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// The newest run of each of the instance's schedules, by schedule id.
    pub async fn last_runs(
        &self,
        instance_id: &str,
    ) -> Result<HashMap<String, RunRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM schedule_runs r WHERE r.instance_id = $1 AND r.due_at = \
             (SELECT MAX(due_at) FROM schedule_runs WHERE schedule_id = r.schedule_id)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance_id.to_string())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| run_from_row(r).map(|run| (run.schedule_id.clone(), run)))
            .collect()
    }

    /// The schedule's runs, newest due time first.
    pub async fn runs(&self, schedule_id: &str, limit: i64) -> Result<Vec<RunRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM schedule_runs WHERE schedule_id = $1 ORDER BY due_at DESC LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(schedule_id.to_string())
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// Schedules whose next due time has come, earliest first.
    pub async fn due_schedules(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ScheduleRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(schedule_from_row)
            .collect()
    }

    /// The earliest moment the scheduler has something to do: a schedule's next due time, or a pending
    /// run's next attempt.
    pub async fn next_schedule_work(&self) -> Result<Option<i64>, sqlx::Error> {
        let due: Option<i64> = sqlx::query("SELECT MIN(next_due_at) AS t FROM schedules")
            .fetch_one(self.pool())
            .await?
            .try_get("t")?;
        let retry: Option<i64> = sqlx::query(
            "SELECT MIN(next_attempt_at) AS t FROM schedule_runs WHERE status = 'pending'",
        )
        .fetch_one(self.pool())
        .await?
        .try_get("t")?;
        Ok(match (due, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Takes the due time `due` of `schedule` (whose `next_due_at` it still must be): moves the schedule
    /// to `next_due_at`, and inserts `run` unless a run of that due time exists. One transaction, so a
    /// crash leaves either both or neither. True when this call inserted the run (and so must carry it
    /// out); false when the schedule had moved on (changed meanwhile) or the run existed.
    pub async fn take_run(
        &self,
        schedule_id: &str,
        due: i64,
        next_due_at: Option<i64>,
        run: &RunRow,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        // The update first: it takes SQLite's write lock at once (a read first could not upgrade while
        // another writer holds it), and on PostgreSQL it locks the row.
        let moved =
            sqlx::query("UPDATE schedules SET next_due_at = $3 WHERE id = $1 AND next_due_at = $2")
                .bind(schedule_id.to_string())
                .bind(due)
                .bind(next_due_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        let sql = format!(
            "INSERT INTO schedule_runs ({RUN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (schedule_id, due_at) DO NOTHING"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.schedule_id.clone())
            .bind(run.due_at)
            .bind(run.instance_id.clone())
            .bind(run.chat_id.clone())
            .bind(run.message.clone())
            .bind(run.status.as_str())
            .bind(run.attempts)
            .bind(run.next_attempt_at)
            .bind(run.send_until)
            .bind(run.message_id.clone())
            .bind(run.reason.clone())
            .bind(run.superseded)
            .bind(run.created_at)
            .bind(run.finished_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(inserted > 0)
    }

    /// Moves the schedule from due time `due` (if it is still its next) to `next_due_at`, with no run.
    pub async fn set_next_due(
        &self,
        schedule_id: &str,
        due: i64,
        next_due_at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE schedules SET next_due_at = $3 WHERE id = $1 AND next_due_at = $2")
            .bind(schedule_id.to_string())
            .bind(due)
            .bind(next_due_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Pending runs whose next attempt has come, earliest first.
    pub async fn due_retries(&self, now: i64, limit: i64) -> Result<Vec<RunRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM schedule_runs WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// Claims a pending run for an attempt: counts it and holds it until `lease_until`, if it is still
    /// pending with the next attempt `seen`. True when this call claimed it.
    pub async fn claim_run(
        &self,
        run: &RunRow,
        seen: i64,
        lease_until: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE schedule_runs SET attempts = attempts + 1, next_attempt_at = $3 \
             WHERE schedule_id = $1 AND due_at = $2 AND status = 'pending' AND next_attempt_at = $4",
        )
        .bind(run.schedule_id.clone())
        .bind(run.due_at)
        .bind(lease_until)
        .bind(seen)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a pending run's outcome.
    pub async fn finish_run(
        &self,
        schedule_id: &str,
        due_at: i64,
        status: RunStatus,
        message_id: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE schedule_runs SET status = $3, message_id = $4, reason = $5, finished_at = $6, \
             next_attempt_at = NULL WHERE schedule_id = $1 AND due_at = $2 AND status = 'pending'",
        )
        .bind(schedule_id.to_string())
        .bind(due_at)
        .bind(status.as_str())
        .bind(message_id.map(str::to_string))
        .bind(reason.map(str::to_string))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Leaves a pending run for another attempt at `next_attempt_at`, noting why this one failed.
    pub async fn retry_run_later(
        &self,
        schedule_id: &str,
        due_at: i64,
        next_attempt_at: i64,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE schedule_runs SET next_attempt_at = $3, reason = $4 \
             WHERE schedule_id = $1 AND due_at = $2 AND status = 'pending'",
        )
        .bind(schedule_id.to_string())
        .bind(due_at)
        .bind(next_attempt_at)
        .bind(reason.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// At start: the runs an earlier process was sending when it stopped are due again now (their
    /// leases died with it). Returns how many.
    pub async fn release_pending_runs(&self, now: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE schedule_runs SET next_attempt_at = $1 \
             WHERE status = 'pending' AND next_attempt_at > $1",
        )
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Drops finished runs whose due time is before `before`; returns how many.
    pub async fn prune_runs(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(
            sqlx::query("DELETE FROM schedule_runs WHERE status <> 'pending' AND due_at < $1")
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::writes::tests::TestDb;

    const T0: i64 = 1_800_000_000_000;

    fn schedule(id: &str, next_due_at: Option<i64>) -> ScheduleRow {
        ScheduleRow {
            id: id.into(),
            instance_id: "i1".into(),
            name: Some("n".into()),
            chat_id: "42".into(),
            message: "hi".into(),
            cron: None,
            days: Some(vec![Weekday::Mon, Weekday::Fri]),
            time: Some("09:30".into()),
            at: None,
            timezone: "Europe/Berlin".into(),
            starts_at: Some(T0),
            ends_at: None,
            enabled: true,
            missed: MissedPolicy::Skip,
            grace_secs: 60,
            next_due_at,
            created_at: T0,
            updated_at: T0,
        }
    }

    fn run(schedule_id: &str, due_at: i64) -> RunRow {
        RunRow {
            schedule_id: schedule_id.into(),
            due_at,
            instance_id: "i1".into(),
            chat_id: "42".into(),
            message: "hi".into(),
            status: RunStatus::Pending,
            attempts: 1,
            next_attempt_at: Some(due_at + 35_000),
            send_until: due_at + 60_000,
            message_id: None,
            reason: None,
            superseded: 0,
            created_at: due_at,
            finished_at: None,
        }
    }

    #[tokio::test]
    async fn a_schedule_reads_back_as_written_and_is_capped_per_instance() {
        let db = TestDb::new().await;
        let s = schedule("s1", Some(T0));
        assert!(db.store.insert_schedule(&s, 2).await.unwrap());
        assert_eq!(
            db.store.schedule("i1", "s1").await.unwrap(),
            Some(s.clone())
        );
        assert_eq!(db.store.schedule("i2", "s1").await.unwrap(), None);
        assert!(
            db.store
                .insert_schedule(&schedule("s2", None), 2)
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .insert_schedule(&schedule("s3", None), 2)
                .await
                .unwrap()
        );
        let mut changed = s.clone();
        changed.message = "bye".into();
        changed.days = Some(vec![]);
        assert!(db.store.replace_schedule(&changed).await.unwrap());
        assert_eq!(db.store.schedule("i1", "s1").await.unwrap(), Some(changed));
        assert_eq!(db.store.schedules("i1").await.unwrap().len(), 2);
        assert!(db.store.delete_schedule("i1", "s2").await.unwrap());
        assert!(!db.store.delete_schedule("i1", "s2").await.unwrap());
    }

    #[tokio::test]
    async fn a_due_time_is_taken_once() {
        let db = TestDb::new().await;
        db.store
            .insert_schedule(&schedule("s1", Some(T0)), 10)
            .await
            .unwrap();
        assert_eq!(db.store.due_schedules(T0 - 1, 10).await.unwrap().len(), 0);
        assert_eq!(db.store.due_schedules(T0, 10).await.unwrap().len(), 1);
        assert!(
            db.store
                .take_run("s1", T0, Some(T0 + 1000), &run("s1", T0))
                .await
                .unwrap()
        );
        // The schedule moved on: a second taker (with the old due time) gets nothing.
        assert!(
            !db.store
                .take_run("s1", T0, Some(T0 + 1000), &run("s1", T0))
                .await
                .unwrap()
        );
        // A run of that due time exists: taking it again (the schedule set back by a PUT) inserts none.
        db.store
            .set_next_due("s1", T0 + 1000, Some(T0))
            .await
            .unwrap();
        assert!(
            !db.store
                .take_run("s1", T0, Some(T0 + 1000), &run("s1", T0))
                .await
                .unwrap()
        );
        assert_eq!(
            db.store.next_schedule_work().await.unwrap(),
            Some(T0 + 1000)
        );
        assert_eq!(db.store.runs("s1", 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_pending_run_is_claimed_once_and_finished_once() {
        let db = TestDb::new().await;
        db.store
            .insert_schedule(&schedule("s1", Some(T0)), 10)
            .await
            .unwrap();
        let r = run("s1", T0);
        assert!(db.store.take_run("s1", T0, None, &r).await.unwrap());
        // Held by its lease until the process that took it dies; a new start releases it.
        assert!(
            db.store
                .due_retries(T0 + 1000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.store.release_pending_runs(T0 + 1000).await.unwrap(), 1);
        let due = db.store.due_retries(T0 + 1000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(
            db.store
                .claim_run(&due[0], T0 + 1000, T0 + 40_000)
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .claim_run(&due[0], T0 + 1000, T0 + 40_000)
                .await
                .unwrap()
        );
        db.store
            .finish_run("s1", T0, RunStatus::Sent, Some("7"), None, T0 + 2000)
            .await
            .unwrap();
        // Finished runs stay finished.
        db.store
            .finish_run("s1", T0, RunStatus::Failed, None, Some("late"), T0 + 3000)
            .await
            .unwrap();
        let last = db
            .store
            .last_runs("i1")
            .await
            .unwrap()
            .remove("s1")
            .unwrap();
        assert_eq!((last.status, last.attempts), (RunStatus::Sent, 2));
        assert_eq!(last.message_id.as_deref(), Some("7"));
        assert_eq!(db.store.next_schedule_work().await.unwrap(), None);
        assert_eq!(db.store.prune_runs(T0 + 1).await.unwrap(), 1);
    }

    /// What the scheduler's wake-ups cost with 10,000 schedules (none due): the `MIN` queries it sleeps
    /// on and the reads of due work. Printed with `--nocapture`; asserted loosely.
    #[tokio::test]
    async fn an_idle_pass_over_ten_thousand_schedules_is_cheap() {
        let db = TestDb::new().await;
        let mut tx = db.store.pool().begin().await.unwrap();
        for n in 0..10_000i64 {
            let s = schedule(&format!("s{n}"), Some(T0 + n * 1000));
            sqlx::query(
                "INSERT INTO schedules (id, instance_id, chat_id, message, cron, timezone, enabled, \
                 missed, grace_secs, next_due_at, created_at, updated_at) \
                 VALUES ($1, $2, '42', 'hi', '* * * * *', 'UTC', 1, 'send_late', 3600, $3, 0, 0)",
            )
            .bind(s.id)
            .bind(format!("i{}", n % 100))
            .bind(s.next_due_at)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let passes = 200;
        let started = Instant::now();
        for _ in 0..passes {
            assert_eq!(db.store.next_schedule_work().await.unwrap(), Some(T0));
            assert!(
                db.store
                    .due_schedules(T0 - 1, 500)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(db.store.due_retries(T0 - 1, 500).await.unwrap().is_empty());
        }
        let per_pass = started.elapsed() / passes;
        eprintln!("idle scheduler pass over 10,000 schedules: {per_pass:?}");
        assert!(
            per_pass < std::time::Duration::from_millis(50),
            "{per_pass:?}"
        );
        // One due schedule among them is read alone.
        let started = Instant::now();
        assert_eq!(db.store.due_schedules(T0, 500).await.unwrap().len(), 1);
        eprintln!("reading 1 due schedule of 10,000: {:?}", started.elapsed());
    }
}
