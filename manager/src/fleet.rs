//! The fleet service: the one place that changes instances. It writes the database first and feeds the
//! cache only with what the database returned, and it drives the runtime for create and delete.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    cache::InstanceCache,
    domain::{AuthStatus, InstanceRecord, InstanceStatus, NewInstance},
    error::ApiError,
    keys,
    ports::PortAllocator,
    runtime::{DockerRuntime, WorkerSpec},
    store::Store,
};

/// How many times a write is retried when another writer changed the row in between.
const MAX_WRITE_ATTEMPTS: usize = 8;

pub struct Fleet {
    pub store: Store,
    pub cache: InstanceCache,
    pub runtime: DockerRuntime,
    pub ports: PortAllocator,
    pub telegram_api_url: String,
}

/// A new instance with the API key that is shown this once.
pub struct Provisioned {
    pub record: InstanceRecord,
    pub api_key: String,
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Fleet {
    /// Reserves a port, writes the instance, and starts its worker container. If the container cannot
    /// start, everything is rolled back: no row, no port, no container is left behind.
    pub async fn provision(&self, new: NewInstance) -> Result<Provisioned, ApiError> {
        let token_sha256 = keys::sha256_hex(&new.token);
        if self
            .store
            .instance_with_token(&token_sha256)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "this bot token is already used by another instance".into(),
            ));
        }
        let api_key = keys::generate(keys::INSTANCE_KEY_PREFIX);
        let control_key = keys::generate(keys::CONTROL_KEY_PREFIX);
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let display_name = new.display_name();
        let record = self
            .ports
            .insert_with_port(&self.store, |port| InstanceRecord {
                id: id.clone(),
                user_id: new.user_id.clone(),
                provider: new.provider.to_string(),
                type_instance: new.type_instance.clone(),
                display_name: display_name.clone(),
                token: new.token.clone(),
                token_sha256: token_sha256.clone(),
                api_key_sha256: keys::sha256_hex(&api_key),
                api_key_hint: keys::hint(&api_key),
                api_key_created_at: now,
                control_key: control_key.clone(),
                port,
                agno_config: new.agno_config.clone(),
                status: InstanceStatus::Creating,
                status_reason: Some("port reserved; starting the container".into()),
                auth_status: AuthStatus::Pending,
                account: None,
                bot_username: None,
                bot_id: None,
                container_id: None,
                health_ok: false,
                last_health_at: None,
                health_check_count: 0,
                consecutive_failures: 0,
                sent_count: 0,
                received_count: 0,
                restart_count: 0,
                error_count: 0,
                last_error: None,
                version: 1,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.cache.put(record.clone());
        tracing::info!(instance_id = %id, port = record.port, "instance created");

        let spec = WorkerSpec {
            instance_id: &record.id,
            provider: &record.provider,
            port: record.port,
            bot_token: &record.token,
            api_key_sha256: &record.api_key_sha256,
            control_key_sha256: &keys::sha256_hex(&record.control_key),
            telegram_api_url: &self.telegram_api_url,
        };
        let container_id = match self.runtime.start_worker(&spec).await {
            Ok(container_id) => container_id,
            Err(e) => {
                tracing::error!(instance_id = %id, error = %e, "worker did not start; rolling back");
                if let Err(cleanup) = self.runtime.remove_worker(&id).await {
                    tracing::warn!(instance_id = %id, error = %cleanup, "could not remove the container");
                }
                self.store.delete_instance(&id).await?;
                self.cache.remove(&id);
                return Err(e.into());
            }
        };
        let record = self
            .update(&id, |r| {
                r.container_id = Some(container_id.clone());
                if r.status == InstanceStatus::Creating {
                    r.status = InstanceStatus::Starting;
                    r.status_reason =
                        Some("container started; waiting for the bot to connect".into());
                }
            })
            .await?
            .ok_or_else(|| ApiError::instance_not_found(&id))?;
        Ok(Provisioned { record, api_key })
    }

    /// Removes the instance's container, then its row (which frees its port).
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        self.update(id, |r| {
            r.status = InstanceStatus::Deleting;
            r.status_reason = Some("deletion requested".into());
        })
        .await?
        .ok_or_else(|| ApiError::instance_not_found(id))?;
        self.runtime.remove_worker(id).await?;
        self.store.delete_instance(id).await?;
        self.cache.remove(id);
        tracing::info!(instance_id = %id, "instance deleted");
        Ok(())
    }

    /// The instance, from the cache.
    pub fn get(&self, id: &str) -> Result<std::sync::Arc<InstanceRecord>, ApiError> {
        self.cache
            .get(id)
            .ok_or_else(|| ApiError::instance_not_found(id))
    }

    /// Applies `change` to the instance and writes it (compare-and-swap on `version`, retried on a
    /// concurrent write); returns the stored row, or `None` when the instance is gone.
    pub async fn update(
        &self,
        id: &str,
        mut change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, sqlx::Error> {
        let mut current = match self.cache.get(id) {
            Some(r) => (*r).clone(),
            None => match self.store.get_instance(id).await? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let mut next = current.clone();
            change(&mut next);
            next.version = current.version + 1;
            next.updated_at = now_ms();
            if let Some(saved) = self.store.update_instance(&next).await? {
                self.cache.put(saved.clone());
                return Ok(Some(saved));
            }
            match self.store.get_instance(id).await? {
                Some(fresh) => current = fresh,
                None => {
                    self.cache.remove(id);
                    return Ok(None);
                }
            }
        }
        Err(sqlx::Error::Protocol(format!(
            "instance {id} kept changing; write abandoned after {MAX_WRITE_ATTEMPTS} attempts"
        )))
    }
}
