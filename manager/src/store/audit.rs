//! `audit_log`: who did what, and when.

use sqlx::{Row, any::AnyRow};

use super::Store;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub method: String,
    pub route: String,
    pub instance_id: Option<String>,
    pub status: i64,
    pub remote_addr: Option<String>,
}

fn row(r: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        user_id: r.try_get("user_id")?,
        key_id: r.try_get("key_id")?,
        method: r.try_get("method")?,
        route: r.try_get("route")?,
        instance_id: r.try_get("instance_id")?,
        status: r.try_get("status")?,
        remote_addr: r.try_get("remote_addr")?,
    })
}

impl Store {
    pub async fn insert_audit(&self, e: &AuditRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, user_id, key_id, method, route, instance_id, status, \
             remote_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&e.id)
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.user_id)
        .bind(&e.key_id)
        .bind(&e.method)
        .bind(&e.route)
        .bind(&e.instance_id)
        .bind(e.status)
        .bind(&e.remote_addr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Entries newest first, optionally for one user or one instance; with the total that matched.
    pub async fn list_audit(
        &self,
        user_id: Option<&str>,
        instance_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
        // Placeholders numbered by the filters present, so no untyped NULL parameter reaches PostgreSQL.
        let mut filter = String::from("1 = 1");
        let mut n = 0;
        for (value, column) in [(user_id, "user_id"), (instance_id, "instance_id")] {
            if value.is_some() {
                n += 1;
                filter.push_str(&format!(" AND {column} = ${n}"));
            }
        }
        let binds: Vec<&str> = [user_id, instance_id].into_iter().flatten().collect();
        let mut count = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE {filter}"
        )));
        for b in &binds {
            count = count.bind(*b);
        }
        let total: i64 = count.fetch_one(self.pool()).await?.try_get("n")?;
        let mut page = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, actor, user_id, key_id, method, route, instance_id, status, remote_addr \
             FROM audit_log WHERE {filter} ORDER BY at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in &binds {
            page = page.bind(*b);
        }
        let rows = page
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(row)
            .collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    /// Drops entries older than `before` (unix ms); returns how many.
    pub async fn prune_audit(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
