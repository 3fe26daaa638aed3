//! `users`, `api_keys` and `revoked_sessions`: who may call the manager.

use sqlx::{Row, any::AnyRow};

use super::{Store, peers::Change};

/// One user, as stored (the password only as its argon2id hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub max_instances: Option<i64>,
    pub max_memory_mb: Option<i64>,
    pub sessions_valid_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One API key, as stored (the key only as its SHA-256 digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub key_sha256: String,
    pub key_hint: String,
    /// Comma-separated.
    pub scopes: String,
    pub instance_id: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn user(r: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        role: r.try_get("role")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        max_instances: r.try_get("max_instances")?,
        max_memory_mb: r.try_get("max_memory_mb")?,
        sessions_valid_after: r.try_get("sessions_valid_after")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn api_key(r: &AnyRow) -> Result<ApiKeyRow, sqlx::Error> {
    Ok(ApiKeyRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        key_sha256: r.try_get("key_sha256")?,
        key_hint: r.try_get("key_hint")?,
        scopes: r.try_get("scopes")?,
        instance_id: r.try_get("instance_id")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

const USER_COLUMNS: &str = "id, username, password_hash, role, disabled, max_instances, max_memory_mb, \
     sessions_valid_after, created_at, updated_at";
const KEY_COLUMNS: &str = "id, user_id, name, key_sha256, key_hint, scopes, instance_id, expires_at, \
     created_at, last_used_at";

impl Store {
    pub async fn list_users(&self) -> Result<Vec<UserRow>, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(user)
        .collect()
    }

    /// Inserts a user; `Ok(false)` when the username is taken.
    pub async fn insert_user(&self, u: &UserRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, disabled, max_instances, max_memory_mb, \
             sessions_valid_after, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(i64::from(u.disabled))
        .bind(u.max_instances)
        .bind(u.max_memory_mb)
        .bind(u.sessions_valid_after)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(self.pool())
        .await?;
        self.announce(Change::Auth).await;
        Ok(done.rows_affected() == 1)
    }

    /// Writes every field of an existing user.
    pub async fn update_user(&self, u: &UserRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE users SET password_hash = $2, role = $3, disabled = $4, max_instances = $5, \
             max_memory_mb = $6, sessions_valid_after = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(i64::from(u.disabled))
        .bind(u.max_instances)
        .bind(u.max_memory_mb)
        .bind(u.sessions_valid_after)
        .bind(u.updated_at)
        .execute(self.pool())
        .await?;
        self.announce(Change::Auth).await;
        Ok(())
    }

    /// Deletes a user and their keys, in one transaction.
    pub async fn delete_user(&self, id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.announce_in(&mut tx, &Change::Auth).await?;
        tx.commit().await
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(api_key)
        .collect()
    }

    pub async fn insert_api_key(&self, k: &ApiKeyRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, key_sha256, key_hint, scopes, instance_id, expires_at, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&k.id)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_sha256)
        .bind(&k.key_hint)
        .bind(&k.scopes)
        .bind(&k.instance_id)
        .bind(k.expires_at)
        .bind(k.created_at)
        .bind(k.last_used_at)
        .execute(self.pool())
        .await?;
        self.announce(Change::Auth).await;
        Ok(())
    }

    pub async fn delete_api_key(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        self.announce(Change::Auth).await;
        Ok(())
    }

    /// Keys bound to an instance go with it.
    pub async fn delete_instance_api_keys(&self, instance_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM api_keys WHERE instance_id = $1")
            .bind(instance_id)
            .execute(self.pool())
            .await?;
        self.announce(Change::Auth).await;
        Ok(())
    }

    pub async fn touch_api_key(&self, id: &str, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sessions logged out and not yet expired (older ones are dropped on the way).
    pub async fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query("SELECT jti, expires_at FROM revoked_sessions")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("jti")?, r.try_get("expires_at")?)))
            .collect()
    }

    pub async fn revoke_session(&self, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO revoked_sessions (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        self.announce(Change::Auth).await;
        Ok(())
    }
}
