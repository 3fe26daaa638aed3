//! Two kinds of per-instance exclusion. [`Operations`]: one user operation per instance at a time, taken
//! without waiting, so a concurrent verb gets 409 naming the one in flight; it is held from the request
//! until the reconciler has acted on it. [`ConvergeLocks`]: never two converges of one instance at once;
//! the reconciler waits for it. The same kind of lock, as [`WriteLocks`], gives writes of one instance
//! their turns (`writes.rs`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::ApiError;

/// User operations in flight, by instance.
#[derive(Default, Clone)]
pub struct Operations {
    inflight: Arc<Mutex<HashMap<String, &'static str>>>,
}

/// Held while a user operation runs on one instance; dropping it ends the operation.
pub struct OpGuard {
    inflight: Arc<Mutex<HashMap<String, &'static str>>>,
    id: String,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.id);
    }
}

impl Operations {
    /// Starts `operation` on `id`, or 409 naming the operation already in flight.
    pub fn try_begin(&self, id: &str, operation: &'static str) -> Result<OpGuard, ApiError> {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = map.get(id) {
            return Err(ApiError::Conflict(format!(
                "a {running} is in progress on instance {id}; retry when it has finished"
            )));
        }
        map.insert(id.to_string(), operation);
        Ok(OpGuard {
            inflight: self.inflight.clone(),
            id: id.to_string(),
        })
    }

    /// The operation in flight on `id`, if any.
    pub fn current(&self, id: &str) -> Option<&'static str> {
        let map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).copied()
    }
}

/// One converge per instance at a time.
#[derive(Default)]
pub struct ConvergeLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while one instance converges.
pub type ConvergeGuard = OwnedMutexGuard<()>;

/// One write of an instance at a time (a turn is held for the length of one database write).
pub type WriteLocks = ConvergeLocks;

impl ConvergeLocks {
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

    /// The lock, unless a converge holds it now.
    pub fn try_acquire(&self, id: &str) -> Option<ConvergeGuard> {
        self.lock_for(id).try_lock_owned().ok()
    }

    /// The lock, waiting for the current holder.
    pub async fn acquire(&self, id: &str) -> ConvergeGuard {
        self.lock_for(id).lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_operation_on_one_instance_is_refused_by_name() {
        let ops = Operations::default();
        let held = ops.try_begin("a", "restart").unwrap();
        let refused = ops.try_begin("a", "stop").err().unwrap();
        assert!(
            refused.to_string().contains("restart is in progress"),
            "{refused}"
        );
        assert!(ops.try_begin("b", "stop").is_ok());
        drop(held);
        assert!(ops.try_begin("a", "stop").is_ok());
    }

    #[tokio::test]
    async fn converges_of_one_instance_take_turns() {
        let locks = ConvergeLocks::default();
        let held = locks.acquire("a").await;
        assert!(locks.try_acquire("a").is_none());
        assert!(locks.try_acquire("b").is_some());
        drop(held);
        assert!(locks.try_acquire("a").is_some());
    }
}
