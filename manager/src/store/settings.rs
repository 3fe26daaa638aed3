//! The `settings` table: small values the manager keeps about itself. Secret ones (a signing key) are
//! read and written sealed through `get_secret` / `set_secret`.

use sqlx::Row;

use super::{Store, sealing::SETTING_VALUE};

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get::<String, _>("value")).transpose()
    }

    /// Stores `value` unless the key already has one; returns the value now stored. Two managers
    /// starting at once on one database agree on a single value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }

    /// Stores `value` for `key`, replacing what was there.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Settings key of the key that signs login tokens (a secret: read and written sealed).
pub const JWT_SIGNING_KEY: &str = "jwt_signing_key";

/// Settings whose values are secrets: always written through the `*_secret` methods, and sealed at
/// start when a database from before sealing holds them in plaintext.
pub const SECRET_SETTINGS: &[&str] = &[JWT_SIGNING_KEY];

impl Store {
    /// A secret setting, opened (see [`SECRET_SETTINGS`]).
    pub async fn get_secret(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        let Some(stored) = self.setting(key).await? else {
            return Ok(None);
        };
        Ok(Some(self.sealer().open(SETTING_VALUE.place(key), &stored)?))
    }

    /// Stores a secret setting sealed, replacing what was there.
    pub async fn set_secret(&self, key: &str, value: &str) -> Result<(), sqlx::Error> {
        let sealed = self.sealer().seal(SETTING_VALUE.place(key), value);
        self.set_setting(key, &sealed).await
    }

    /// Stores a secret setting sealed unless the key already has one; returns the value now stored,
    /// opened. Two managers starting at once on one database agree on a single value.
    pub async fn secret_or_insert(&self, key: &str, value: &str) -> Result<String, sqlx::Error> {
        let sealed = self.sealer().seal(SETTING_VALUE.place(key), value);
        let stored = self.setting_or_insert(key, &sealed).await?;
        Ok(self.sealer().open(SETTING_VALUE.place(key), &stored)?)
    }
}

#[cfg(test)]
mod tests {
    use crate::writes::tests::TestDb;

    #[tokio::test]
    async fn secret_settings_are_stored_sealed_and_read_back_plain() {
        let db = TestDb::new().await;
        let store = &db.store;
        store
            .set_secret("jwt_signing_key", "s3cr3t-1")
            .await
            .unwrap();
        let raw = store.setting("jwt_signing_key").await.unwrap().unwrap();
        assert!(
            crate::seal::is_sealed(&raw) && !raw.contains("s3cr3t"),
            "{raw}"
        );
        assert_eq!(
            store
                .get_secret("jwt_signing_key")
                .await
                .unwrap()
                .as_deref(),
            Some("s3cr3t-1")
        );
        assert_eq!(store.get_secret("missing").await.unwrap(), None);
        // The first value stays.
        assert_eq!(
            store
                .secret_or_insert("jwt_signing_key", "other")
                .await
                .unwrap(),
            "s3cr3t-1"
        );
        assert_eq!(
            store.secret_or_insert("other_secret", "v").await.unwrap(),
            "v"
        );
        // A sealed setting moved under another key does not open.
        store.set_setting("moved", &raw).await.unwrap();
        assert!(store.get_secret("moved").await.is_err());
        // A plaintext value from before sealing reads as it is.
        store
            .set_setting("jwt_signing_key", "legacy")
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret("jwt_signing_key")
                .await
                .unwrap()
                .as_deref(),
            Some("legacy")
        );
    }
}
