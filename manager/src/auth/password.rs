//! Passwords: argon2id (the crate's defaults: 19 MiB, 2 passes), hashed and checked off the async
//! threads, at most a few at once (each takes ~19 MiB and tens of ms of CPU).

use std::sync::Arc;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use tokio::sync::Semaphore;

use crate::error::ApiError;

pub struct Passwords {
    /// Checked when a login names no user, so that an unknown name takes as long as a wrong password.
    dummy_hash: String,
    slots: Arc<Semaphore>,
}

impl Passwords {
    pub fn new() -> Self {
        Self {
            dummy_hash: hash_blocking("not the password of anyone").expect("argon2 hashing"),
            slots: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let _slot = self.slots.acquire().await.expect("never closed");
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .ok()
            .flatten()
            .ok_or_else(|| ApiError::Internal("password hashing failed".into()))
    }

    /// Whether `password` matches `hash`; with no hash (no such user) the same work is done and the
    /// answer is no.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> bool {
        let _slot = self.slots.acquire().await.expect("never closed");
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        exists && matches
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_blocking(password: &str) -> Option<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .ok()
        .map(|h| h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn right_password_matches_wrong_and_unknown_do_not() {
        let p = Passwords::new();
        let h = p.hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse", Some(h.clone())).await);
        assert!(!p.verify("wrong horse", Some(h)).await);
        assert!(!p.verify("not the password of anyone", None).await);
    }
}
