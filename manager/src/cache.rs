//! The in-memory view of the fleet. It is written through: the spec and status it holds are what the
//! database stored, the counters are newer than the database's until the next flush (the cache is
//! their authority meanwhile). Each part of a record (spec, status, counters) is replaced only by a
//! higher version of that part, and a deleted id never comes back, so a slow writer, or a record
//! reloaded from the database, cannot resurrect an instance or roll any part of it back.

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

    /// Stores `record`, part by part: each of its parts that has a higher version than the cached one
    /// replaces it (`InstanceRecord::merged_with`); nothing happens when no part is newer or the id was
    /// deleted.
    pub fn put(&self, record: InstanceRecord) {
        let mut inner = self.write();
        if inner.deleted.contains(&record.id) {
            return;
        }
        let merged = match inner.records.get(&record.id) {
            None => record,
            Some(cached) => match cached.merged_with(&record) {
                Some(merged) => merged,
                None => return,
            },
        };
        inner.records.insert(merged.id.clone(), Arc::new(merged));
        drop(inner);
        self.changed();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::tests::running;

    #[test]
    fn each_part_is_replaced_only_by_a_newer_version_of_it() {
        let cache = InstanceCache::default();
        let mut r = running(1);
        cache.put(r.clone());
        // Counters moved in memory (unflushed).
        r.health_check_count = 5;
        r.counters_version = 5;
        r.version = r.combined_version();
        cache.put(r.clone());
        // The database's view after another writer changed the spec: older counters.
        let mut stored = running(1);
        stored.revision = 2;
        stored.spec_version = 2;
        stored.updated_at = r.updated_at + 10;
        cache.put(stored);
        let merged = cache.get("i1").unwrap();
        assert_eq!(merged.revision, 2, "the newer spec was not taken");
        assert_eq!(merged.health_check_count, 5, "the counters rolled back");
        assert_eq!(merged.version, 2 + 1 + 5);
        assert_eq!(merged.updated_at, r.updated_at + 10);

        // Nothing newer: no change, no wake-up.
        let mut changes = cache.subscribe();
        changes.mark_unchanged();
        cache.put(running(1));
        assert!(!changes.has_changed().unwrap());
        assert!(Arc::ptr_eq(&merged, &cache.get("i1").unwrap()));

        // A deleted id never comes back.
        cache.remove("i1");
        cache.put(r);
        assert!(cache.get("i1").is_none());
    }
}
