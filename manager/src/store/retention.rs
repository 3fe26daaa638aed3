//! Forgetting by age: each kind of kept record (events, messages, webhook deliveries, histories) and the
//! statement that deletes a batch of its rows older than a moment. Batches keep each write short, so a
//! large backlog never holds the database's write lock for long (SQLite has one writer).

use super::Store;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 5_000;

/// What is kept, and how long (`Kept::days` of the `Retention` it belongs to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Events,
    Messages,
    Deliveries,
    History,
}

/// A table and how its rows are forgotten.
#[derive(Debug)]
pub struct Rule {
    pub kind: Kind,
    pub table: &'static str,
    /// The columns that name a row (its key).
    key: &'static str,
    /// The unix-ms column its age is read from.
    time: &'static str,
    /// What else a row must be to go (a pending delivery or an active alert never goes).
    only: &'static str,
}

/// Every rule, by table.
pub const RULES: &[Rule] = &[
    Rule {
        kind: Kind::Events,
        table: "events",
        key: "id",
        time: "at",
        only: "",
    },
    Rule {
        kind: Kind::Messages,
        table: "messages",
        key: "id",
        time: "at",
        only: "",
    },
    Rule {
        kind: Kind::Deliveries,
        table: "webhook_deliveries",
        key: "id",
        time: "finished_at",
        only: "AND status <> 'pending'",
    },
    Rule {
        kind: Kind::History,
        table: "status_history",
        key: "instance_id, version",
        time: "at",
        only: "",
    },
    Rule {
        kind: Kind::History,
        table: "instance_errors",
        key: "instance_id, version",
        time: "at",
        only: "",
    },
    Rule {
        kind: Kind::History,
        table: "settings_history",
        key: "id",
        time: "changed_at",
        only: "",
    },
    Rule {
        kind: Kind::History,
        table: "schedule_runs",
        key: "schedule_id, due_at",
        time: "finished_at",
        only: "",
    },
    Rule {
        kind: Kind::History,
        table: "alerts",
        key: "id",
        time: "resolved_at",
        only: "AND status = 'resolved'",
    },
];

impl Store {
    /// Deletes at most [`BATCH`] rows of `rule`'s table older than `before` (unix ms); how many.
    pub async fn forget_batch(&self, rule: &Rule, before: i64) -> Result<u64, sqlx::Error> {
        let Rule {
            table,
            key,
            time,
            only,
            ..
        } = rule;
        // The same SQL on SQLite and PostgreSQL: a row-value `IN` over the oldest rows' keys.
        let sql = format!(
            "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {time} < $1 {only} \
             ORDER BY {time} LIMIT {BATCH})"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
