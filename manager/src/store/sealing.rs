//! Which stored values are secrets, and the pass that keeps them all sealed under the current master
//! key: at start (plaintext values from a database written before sealing, values sealed with an older
//! key of the keyring) and by `manager master-key rotate`.
//!
//! The secrets: an instance's credentials (`instances.token`: provider JSON or a bare Telegram token),
//! its control key and its agent configuration (it may hold the agent's API key); a webhook's URL (it
//! may carry credentials) and signing secret; an alert hook's URL; secret settings
//! (`settings::SECRET_SETTINGS`). Digests (`token_sha256`, `api_key_sha256`, the admin key's) are not
//! secrets and stay as they are.

use std::{collections::BTreeSet, sync::Arc};

use sqlx::{AnyPool, Row};

use super::{Store, settings::SECRET_SETTINGS};
use crate::seal::{
    KeySource, MasterKeyArgs, Place, SealError, Sealer, is_sealed, key_id_of, keyring::KeyringError,
};

/// A column holding a secret, and the column that names its row (part of the associated data).
#[derive(Debug, Clone, Copy)]
pub struct SecretColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
}

impl SecretColumn {
    pub fn place<'a>(&self, row: &'a str) -> Place<'a> {
        Place::new(self.table, self.column, row)
    }
}

pub const INSTANCE_TOKEN: SecretColumn = SecretColumn {
    table: "instances",
    key: "id",
    column: "token",
};
pub const INSTANCE_CONTROL_KEY: SecretColumn = SecretColumn {
    table: "instances",
    key: "id",
    column: "control_key",
};
pub const INSTANCE_AGENT_CONFIG: SecretColumn = SecretColumn {
    table: "instances",
    key: "id",
    column: "agno_config",
};
pub const WEBHOOK_URL: SecretColumn = SecretColumn {
    table: "webhooks",
    key: "instance_id",
    column: "url",
};
pub const WEBHOOK_SECRET: SecretColumn = SecretColumn {
    table: "webhooks",
    key: "instance_id",
    column: "secret",
};
pub const ALERT_HOOK_URL: SecretColumn = SecretColumn {
    table: "alert_thresholds",
    key: "id",
    column: "webhook_url",
};
/// Only the settings named in `SECRET_SETTINGS` (and any value found sealed) are secrets.
pub const SETTING_VALUE: SecretColumn = SecretColumn {
    table: "settings",
    key: "key",
    column: "value",
};

/// Every column that holds secrets.
pub const SECRET_COLUMNS: [SecretColumn; 7] = [
    INSTANCE_TOKEN,
    INSTANCE_CONTROL_KEY,
    INSTANCE_AGENT_CONFIG,
    WEBHOOK_URL,
    WEBHOOK_SECRET,
    ALERT_HOOK_URL,
    SETTING_VALUE,
];

/// What a sealing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Secrets found (each one opened, so a wrong key shows now rather than at first use).
    pub values: usize,
    /// Plaintext ones sealed.
    pub sealed: usize,
    /// Ones sealed with another key of the keyring, sealed again with the first.
    pub resealed: usize,
}

/// A sealing pass that could not finish; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum SealPassError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The ids of the master keys that sealed values in the database, read before any key is loaded.
pub async fn sealed_key_ids(pool: &AnyPool) -> Result<BTreeSet<String>, sqlx::Error> {
    let mut ids = BTreeSet::new();
    for c in SECRET_COLUMNS {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} AS v FROM {table} WHERE {column} LIKE 'sealed:%'",
            column = c.column,
            table = c.table
        )))
        .fetch_all(pool)
        .await?;
        for row in rows {
            let value: String = row.try_get("v")?;
            if let Some(id) = key_id_of(&value) {
                ids.insert(id.to_string());
            }
        }
    }
    Ok(ids)
}

impl Store {
    /// Opens every secret in the database and stores again, sealed with the first key, each one that is
    /// plaintext or sealed with another key; all in one transaction. Idempotent.
    pub async fn seal_at_rest(&self) -> Result<SealReport, SealPassError> {
        let sealer = self.sealer();
        let mut report = SealReport::default();
        let mut tx = self.pool().begin().await?;
        // Write first: a SQLite transaction that reads and then writes cannot wait for another writer.
        sqlx::query("UPDATE settings SET value = value WHERE key = ''")
            .execute(&mut *tx)
            .await?;
        for c in SECRET_COLUMNS {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL",
                key = c.key,
                column = c.column,
                table = c.table
            )))
            .fetch_all(&mut *tx)
            .await?;
            let update = format!(
                "UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3",
                key = c.key,
                column = c.column,
                table = c.table
            );
            for row in rows {
                let (row_key, stored): (String, String) = (row.try_get("k")?, row.try_get("v")?);
                if c.table == SETTING_VALUE.table
                    && !is_sealed(&stored)
                    && !SECRET_SETTINGS.contains(&row_key.as_str())
                {
                    continue;
                }
                report.values += 1;
                let place = c.place(&row_key);
                let plaintext = zeroize::Zeroizing::new(sealer.open(place, &stored)?);
                if sealer.is_current(&stored) {
                    continue;
                }
                if is_sealed(&stored) {
                    report.resealed += 1;
                } else {
                    report.sealed += 1;
                }
                // Guarded on the value read: one written meanwhile is already sealed by its writer.
                sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                    .bind(sealer.seal(place, &plaintext))
                    .bind(row_key.clone())
                    .bind(stored)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// The manager's store on `pool`: the master key loaded (or created, see `seal::keyring`), checked
/// against the keys the database's secrets were sealed with, and every secret sealed under it.
pub async fn open(
    pool: AnyPool,
    keys: &MasterKeyArgs,
    database_url: &str,
) -> anyhow::Result<Store> {
    let sealed = sealed_key_ids(&pool).await?;
    let (keyring, source) = keys
        .load_or_create(database_url, &sealed)
        .map_err(|e: KeyringError| anyhow::anyhow!(e))?;
    match &source {
        KeySource::File {
            path,
            created: true,
        } => tracing::warn!(
            path = %path.display(),
            key_id = keyring.primary().id(),
            "there was no master key: a new one was made in this file; back the file up, without it \
             the secrets in the database cannot be read"
        ),
        _ => tracing::info!(
            from = %source,
            key_id = keyring.primary().id(),
            "master key loaded"
        ),
    }
    let ids = keyring.ids();
    let missing: Vec<&str> = sealed
        .iter()
        .map(String::as_str)
        .filter(|id| !ids.contains(id))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "this database holds secrets sealed with master key {}, which {source} does not hold (it \
             holds {}): start the manager with the master key these secrets were sealed with",
            missing.join(", "),
            ids.join(", ")
        );
    }
    let store = Store::new(pool, Arc::new(Sealer::new(&keyring)));
    let started = std::time::Instant::now();
    let report = store.seal_at_rest().await.map_err(|e| match e {
        SealPassError::Seal(e) => anyhow::anyhow!(
            "the secrets in this database cannot be opened with the master key from {source}: {e}"
        ),
        SealPassError::Database(e) => anyhow::anyhow!("sealing the stored secrets failed: {e}"),
    })?;
    if report.sealed + report.resealed > 0 {
        tracing::info!(
            sealed = report.sealed,
            resealed = report.resealed,
            secrets = report.values,
            ms = started.elapsed().as_millis() as u64,
            "stored secrets sealed with master key {}",
            keyring.primary().id()
        );
    }
    Ok(store)
}

/// For `seal::rotate`: whether any secret is still sealed with a key other than `current`.
pub(crate) async fn keys_other_than(
    pool: &AnyPool,
    current: &str,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let mut ids = sealed_key_ids(pool).await?;
    ids.remove(current);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        seal::{Keyring, MasterKey},
        writes::tests::{TestDb, running},
    };

    /// Every text value of every secret column, as stored.
    async fn raw_secrets(pool: &AnyPool) -> Vec<String> {
        let mut all = Vec::new();
        for c in SECRET_COLUMNS {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} AS v FROM {} WHERE {} IS NOT NULL",
                c.column, c.table, c.column
            )))
            .fetch_all(pool)
            .await
            .unwrap();
            all.extend(rows.iter().map(|r| r.get::<String, _>("v")));
        }
        all
    }

    #[tokio::test]
    async fn plaintext_rows_from_before_sealing_are_read_and_then_sealed_once() {
        let db = TestDb::new().await;
        let pool = db.store.pool().clone();
        let mut r = running(1);
        r.agno_config = Some(
            serde_json::from_value(serde_json::json!({"kind": "openai", "api_key": "sk-legacy"}))
                .unwrap(),
        );
        db.store.insert_instance(&r).await.unwrap();
        // Turn the row into one written before sealing.
        sqlx::query("UPDATE instances SET token = $1, control_key = $2, agno_config = $3")
            .bind(r.token.clone())
            .bind(r.control_key.clone())
            .bind(serde_json::to_string(r.agno_config.as_ref().unwrap()).unwrap())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO webhooks (instance_id, url, events, secret, enabled, updated_at) \
             VALUES ($1, 'http://u:p@h/x', '', 'whsec-legacy', 1, 1)",
        )
        .bind(r.id.clone())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('jwt_signing_key', 'jwt-legacy'), \
             ('runtime', 'docker')",
        )
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(db.store.get_instance(&r.id).await.unwrap().unwrap(), r);

        let report = db.store.seal_at_rest().await.unwrap();
        assert_eq!(
            report,
            SealReport {
                values: 6,
                sealed: 6,
                resealed: 0
            }
        );
        for raw in raw_secrets(&pool).await {
            assert!(
                is_sealed(&raw) || raw == "docker",
                "left in plaintext: {raw}"
            );
        }
        assert_eq!(db.store.get_instance(&r.id).await.unwrap().unwrap(), r);
        let hook = db.store.webhook(&r.id).await.unwrap().unwrap();
        assert_eq!(
            (hook.url.as_str(), hook.secret.as_str()),
            ("http://u:p@h/x", "whsec-legacy")
        );
        assert_eq!(
            db.store
                .get_secret("jwt_signing_key")
                .await
                .unwrap()
                .as_deref(),
            Some("jwt-legacy")
        );
        assert_eq!(
            db.store.setting("runtime").await.unwrap().as_deref(),
            Some("docker")
        );
        // Once is enough.
        let again = db.store.seal_at_rest().await.unwrap();
        assert_eq!((again.values, again.sealed, again.resealed), (6, 0, 0));
    }

    #[tokio::test]
    async fn a_new_first_key_reseals_everything_and_the_old_one_can_go() {
        let db = TestDb::new().await;
        let pool = db.store.pool().clone();
        let old = MasterKey::generate();
        let before = Store::new(
            pool.clone(),
            Arc::new(Sealer::new(&Keyring::new(vec![old.clone()]))),
        );
        for n in 1..=3 {
            before.insert_instance(&running(n)).await.unwrap();
        }
        before.set_secret("jwt_signing_key", "jwt").await.unwrap();
        assert_eq!(
            sealed_key_ids(&pool).await.unwrap(),
            BTreeSet::from([old.id().to_string()])
        );

        let new = MasterKey::generate();
        let both = Keyring::new(vec![old.clone()]).with_primary(new.clone());
        let during = Store::new(pool.clone(), Arc::new(Sealer::new(&both)));
        let report = during.seal_at_rest().await.unwrap();
        assert_eq!((report.values, report.resealed, report.sealed), (7, 7, 0));
        assert_eq!(
            sealed_key_ids(&pool).await.unwrap(),
            BTreeSet::from([new.id().to_string()])
        );
        assert!(keys_other_than(&pool, new.id()).await.unwrap().is_empty());

        let after = Store::new(
            pool.clone(),
            Arc::new(Sealer::new(&Keyring::new(vec![new]))),
        );
        assert_eq!(after.list_instances().await.unwrap().len(), 3);
        assert_eq!(
            after
                .get_secret("jwt_signing_key")
                .await
                .unwrap()
                .as_deref(),
            Some("jwt")
        );
        // The old key alone opens nothing any more.
        assert!(before.list_instances().await.is_err());
        assert!(matches!(
            before.seal_at_rest().await,
            Err(SealPassError::Seal(_))
        ));
    }

    #[tokio::test]
    async fn a_value_copied_to_another_row_is_refused() {
        let db = TestDb::new().await;
        let pool = db.store.pool().clone();
        let (a, b) = (running(1), running(2));
        db.store.insert_instance(&a).await.unwrap();
        db.store.insert_instance(&b).await.unwrap();
        sqlx::query("UPDATE instances SET token = (SELECT token FROM instances WHERE id = $1) WHERE id = $2")
            .bind(a.id.clone())
            .bind(b.id.clone())
            .execute(&pool)
            .await
            .unwrap();
        let error = db.store.get_instance(&b.id).await.unwrap_err().to_string();
        assert!(
            error.contains("instances.token") && error.contains(&b.id),
            "{error}"
        );
        assert!(db.store.get_instance(&a.id).await.unwrap().is_some());
    }
}
