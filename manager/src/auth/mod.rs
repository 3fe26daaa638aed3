//! Who may call the manager: users (argon2id passwords, roles), login sessions (short-lived JWTs,
//! revocable), API keys with scopes (kept as SHA-256 digests), the bootstrap admin key, request-rate
//! limits and quotas. Users and keys are held in memory and written through to the database, so a
//! request is authenticated without a query, and a revoked key fails on the very next request.

pub mod limits;
pub mod password;
pub mod policy;
pub mod principal;
pub mod session;

use std::{
    collections::{BTreeSet, HashMap},
    sync::RwLock,
};

use shared::api::users::{Role, Scope};

use crate::{
    domain::now_ms,
    error::ApiError,
    keys,
    store::{
        Store,
        users::{ApiKeyRow, UserRow},
    },
};
pub use principal::{Credential, Principal};

/// Prefix of the API keys users mint (`POST /api/v1/api-keys`).
pub const USER_KEY_PREFIX: &str = "bfu_";

/// Quotas every user has unless their own say otherwise.
#[derive(Debug, Clone, Copy)]
pub struct QuotaDefaults {
    pub max_instances: i64,
    pub max_memory_mb: i64,
    /// What a bot without its own memory limit counts for.
    pub worker_memory_mb: i64,
}

/// Users and keys as the database holds them, indexed for the lookups a request needs.
#[derive(Default)]
struct Directory {
    users: HashMap<String, UserRow>,
    by_name: HashMap<String, String>,
    /// By key digest.
    keys: HashMap<String, ApiKeyRow>,
}

impl Directory {
    async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut directory = Self::default();
        for u in store.list_users().await? {
            directory.by_name.insert(u.username.clone(), u.id.clone());
            directory.users.insert(u.id.clone(), u);
        }
        for k in store.list_api_keys().await? {
            directory.keys.insert(k.key_sha256.clone(), k);
        }
        Ok(directory)
    }
}

/// Authentication state of the manager; one per process.
pub struct Auth {
    store: Store,
    bootstrap_sha256: String,
    directory: RwLock<Directory>,
    pub sessions: session::Sessions,
    pub limits: limits::Limits,
    pub quotas: QuotaDefaults,
    passwords: password::Passwords,
    /// Held across a quota check and the create it allows.
    quota_lock: tokio::sync::Mutex<()>,
}

impl Auth {
    pub async fn load(
        store: Store,
        bootstrap_sha256: String,
        sessions: session::Sessions,
        limits: limits::Limits,
        quotas: QuotaDefaults,
    ) -> Result<Self, sqlx::Error> {
        let directory = Directory::load(&store).await?;
        sessions.load_revoked(&store).await?;
        Ok(Self {
            store,
            bootstrap_sha256,
            directory: RwLock::new(directory),
            sessions,
            limits,
            quotas,
            passwords: password::Passwords::new(),
            quota_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads users, keys and revoked sessions again (another manager on the database changed them).
    pub async fn reload(&self) -> Result<(), sqlx::Error> {
        let directory = Directory::load(&self.store).await?;
        self.sessions.load_revoked(&self.store).await?;
        *self.write() = directory;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        self.directory.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller behind a bearer credential: the bootstrap key, an API key, or a session token.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, ApiError> {
        if keys::matches_digest(bearer, &self.bootstrap_sha256) {
            return Ok(Principal::bootstrap());
        }
        if bearer.starts_with(USER_KEY_PREFIX) {
            return self.authenticate_key(bearer);
        }
        let claims = self.sessions.verify(bearer).ok_or(ApiError::Unauthorized(
            "invalid or expired bearer credential",
        ))?;
        let dir = self.read();
        let user = dir
            .users
            .get(&claims.sub)
            .filter(|u| !u.disabled && claims.iat_ms() >= u.sessions_valid_after)
            .ok_or(ApiError::Unauthorized(
                "invalid or expired bearer credential",
            ))?;
        let role = Role::parse(&user.role).unwrap_or(Role::User);
        Ok(Principal {
            user_id: Some(user.id.clone()),
            key_id: None,
            session_id: Some(claims.jti),
            credential: Credential::Session,
            role,
            scopes: Principal::role_scopes(role),
            instance_id: None,
        })
    }

    fn authenticate_key(&self, key: &str) -> Result<Principal, ApiError> {
        let digest = keys::sha256_hex(key);
        let dir = self.read();
        let invalid = ApiError::Unauthorized("invalid, expired or revoked API key");
        // The map is keyed by digest: the lookup compares digests, never the key itself.
        let row = dir.keys.get(&digest).ok_or(invalid)?;
        if row.expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(ApiError::Unauthorized(
                "invalid, expired or revoked API key",
            ));
        }
        let role = match &row.user_id {
            None => Role::Admin,
            Some(id) => {
                let user =
                    dir.users
                        .get(id)
                        .filter(|u| !u.disabled)
                        .ok_or(ApiError::Unauthorized(
                            "invalid, expired or revoked API key",
                        ))?;
                Role::parse(&user.role).unwrap_or(Role::User)
            }
        };
        let allowed = Principal::role_scopes(role);
        let scopes: BTreeSet<Scope> = parse_scopes(&row.scopes)
            .into_iter()
            .filter(|s| allowed.contains(s))
            .collect();
        Ok(Principal {
            user_id: row.user_id.clone(),
            key_id: Some(row.id.clone()),
            session_id: None,
            credential: Credential::ApiKey,
            role,
            scopes,
            instance_id: row.instance_id.clone(),
        })
    }

    /// Checks a username and password in constant time whether or not the user exists (an unknown name
    /// is checked against a fixed hash), and issues a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, shared::api::users::LoginResponse), ApiError> {
        let user = {
            let dir = self.read();
            dir.by_name
                .get(username)
                .and_then(|id| dir.users.get(id))
                .cloned()
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.passwords.verify(password, hash).await;
        match user {
            Some(user) if ok && !user.disabled => {
                let session = self.sessions.issue(&user.id);
                Ok((user.id, session))
            }
            _ => Err(ApiError::Unauthorized("wrong username or password")),
        }
    }

    /// Ends a session at once: the token is refused from the next request on.
    pub async fn logout(&self, principal: &Principal) -> Result<(), ApiError> {
        match &principal.session_id {
            Some(jti) => Ok(self.sessions.revoke(&self.store, jti).await?),
            None => Err(ApiError::BadRequest(
                "only a login session can log out; revoke an API key with DELETE /api/v1/api-keys/{id}"
                    .into(),
            )),
        }
    }

    /// The turn of one quota-bound change (check, then act).
    pub async fn quota_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.quota_lock.lock().await
    }

    pub fn user(&self, id: &str) -> Option<UserRow> {
        self.read().users.get(id).cloned()
    }

    pub fn users(&self) -> Vec<UserRow> {
        let mut users: Vec<UserRow> = self.read().users.values().cloned().collect();
        users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        users
    }

    pub async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        self.passwords.hash(password).await
    }

    /// Adds a user; 409 when the name is taken.
    pub async fn add_user(&self, user: UserRow) -> Result<UserRow, ApiError> {
        if !self.store.insert_user(&user).await? {
            return Err(ApiError::Conflict(format!(
                "username {:?} is taken",
                user.username
            )));
        }
        let mut dir = self.write();
        dir.by_name.insert(user.username.clone(), user.id.clone());
        dir.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    pub async fn update_user(&self, user: UserRow) -> Result<UserRow, ApiError> {
        self.store.update_user(&user).await?;
        self.write().users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    /// Removes a user and every key of theirs.
    pub async fn remove_user(&self, id: &str) -> Result<(), ApiError> {
        self.store.delete_user(id).await?;
        let mut dir = self.write();
        if let Some(u) = dir.users.remove(id) {
            dir.by_name.remove(&u.username);
        }
        dir.keys.retain(|_, k| k.user_id.as_deref() != Some(id));
        Ok(())
    }

    /// Stores a new key (by its digest).
    pub async fn add_key(&self, row: ApiKeyRow) -> Result<ApiKeyRow, ApiError> {
        self.store.insert_api_key(&row).await?;
        self.write()
            .keys
            .insert(row.key_sha256.clone(), row.clone());
        Ok(row)
    }

    pub fn key(&self, id: &str) -> Option<ApiKeyRow> {
        self.read().keys.values().find(|k| k.id == id).cloned()
    }

    /// Keys whose owner is `user_id` (`None`: the admin keys of the bootstrap key), oldest first.
    pub fn keys_of(&self, user_id: Option<&str>) -> Vec<ApiKeyRow> {
        let mut keys: Vec<ApiKeyRow> = self
            .read()
            .keys
            .values()
            .filter(|k| k.user_id.as_deref() == user_id)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        keys
    }

    /// Revokes a key: gone from memory first, so the next request with it fails even if the write is slow.
    pub async fn revoke_key(&self, id: &str) -> Result<(), ApiError> {
        self.write().keys.retain(|_, k| k.id != id);
        self.store.delete_api_key(id).await?;
        Ok(())
    }

    /// Drops the keys bound to a deleted instance.
    pub async fn forget_instance(&self, instance_id: &str) -> Result<(), sqlx::Error> {
        self.write()
            .keys
            .retain(|_, k| k.instance_id.as_deref() != Some(instance_id));
        self.store.delete_instance_api_keys(instance_id).await
    }

    /// Notes that a key was used (written at most once a minute per key).
    pub fn touch_key(&self, key_id: &str) {
        let now = now_ms();
        let due = {
            let mut dir = self.write();
            let Some(row) = dir.keys.values_mut().find(|k| k.id == key_id) else {
                return;
            };
            let due = row.last_used_at.is_none_or(|at| now - at >= 60_000);
            if due {
                row.last_used_at = Some(now);
            }
            due
        };
        if due {
            let (store, id) = (self.store.clone(), key_id.to_string());
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(&id, now).await {
                    tracing::warn!(error = %e, "could not record an API key's use");
                }
            });
        }
    }
}

/// Scopes from their stored comma-separated form (unknown names dropped).
pub fn parse_scopes(stored: &str) -> BTreeSet<Scope> {
    stored.split(',').filter_map(Scope::parse).collect()
}

/// Scopes in their stored form.
pub fn format_scopes(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
