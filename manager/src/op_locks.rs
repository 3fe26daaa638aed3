//! One operation per instance at a time. User verbs take the lock without waiting (a concurrent verb
//! gets 409); the reconciler waits for it, so it never interleaves with a verb.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::ApiError;

#[derive(Default)]
pub struct OpLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while an operation runs on one instance.
pub type OpGuard = OwnedMutexGuard<()>;

impl OpLocks {
    fn lock_for(&self, id: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget locks nobody holds, so the map does not grow with every instance ever seen.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_string()).or_default().clone()
    }

    /// Forgets the locks nobody holds; returns how many went.
    pub fn forget_idle(&self) -> usize {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        let before = locks.len();
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        before - locks.len()
    }

    /// The lock, or 409 when another operation holds it.
    pub fn try_acquire(&self, id: &str) -> Result<OpGuard, ApiError> {
        self.lock_for(id).try_lock_owned().map_err(|_| {
            ApiError::Conflict(format!(
                "another operation is in progress on instance {id}; retry when it has finished"
            ))
        })
    }

    /// The lock, waiting for the current holder.
    pub async fn acquire(&self, id: &str) -> OpGuard {
        self.lock_for(id).lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_operation_on_one_instance_is_refused() {
        let locks = OpLocks::default();
        let held = locks.try_acquire("a").unwrap();
        assert!(locks.try_acquire("a").is_err());
        assert!(locks.try_acquire("b").is_ok());
        drop(held);
        assert!(locks.try_acquire("a").is_ok());
    }
}
