//! The in-memory view of the fleet. It is written through: only rows the database returned from a write
//! enter it, newer versions replace older ones, and a deleted id never comes back, so a slow writer
//! cannot resurrect or roll back an instance.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use tokio::sync::watch;

use crate::domain::InstanceRecord;

pub struct InstanceCache {
    inner: RwLock<Inner>,
    /// Counts changes, so waiters (a create with `?wait=true`, the start follower) wake on each one.
    changes: watch::Sender<u64>,
}

impl Default for InstanceCache {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            changes: watch::Sender::new(0),
        }
    }
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, Arc<InstanceRecord>>,
    deleted: HashSet<String>,
}

impl InstanceCache {
    /// A cache holding `records` (as loaded at start).
    pub fn from_records(records: Vec<InstanceRecord>) -> Self {
        let cache = Self::default();
        for r in records {
            cache.put(r);
        }
        cache
    }

    /// Stores a row the database returned, unless a newer version is cached or the id was deleted.
    pub fn put(&self, record: InstanceRecord) {
        let mut inner = self.write();
        if inner.deleted.contains(&record.id) {
            return;
        }
        let newer = inner
            .records
            .get(&record.id)
            .is_none_or(|cached| cached.version < record.version);
        if newer {
            inner.records.insert(record.id.clone(), Arc::new(record));
            drop(inner);
            self.changed();
        }
    }

    pub fn remove(&self, id: &str) {
        let mut inner = self.write();
        inner.records.remove(id);
        inner.deleted.insert(id.to_string());
        drop(inner);
        self.changed();
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Lets an id that was removed be stored again (a create that retries under the same id).
    pub fn revive(&self, id: &str) {
        self.write().deleted.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<Arc<InstanceRecord>> {
        self.read().records.get(id).cloned()
    }

    /// Every instance, oldest first.
    pub fn list(&self) -> Vec<Arc<InstanceRecord>> {
        let mut all: Vec<_> = self.read().records.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    pub fn len(&self) -> usize {
        self.read().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}
