//! The in-memory view of the fleet. It is written through: the spec and status it holds are what the
//! database stored, the counters are newer than the database's until the next flush (the cache is
//! their authority meanwhile). Each part of a record (spec, status, counters) is replaced only by a
//! higher version of that part, and a deleted id never comes back, so a slow writer, or a record
//! reloaded from the database, cannot resurrect an instance or roll any part of it back.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
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

/// Records by id, and the same records in creation order (what every list starts from, so no read
/// sorts); the creation time of a record never changes.
#[derive(Default)]
struct Inner {
    records: HashMap<String, Arc<InstanceRecord>>,
    ordered: BTreeMap<(i64, String), Arc<InstanceRecord>>,
    deleted: HashSet<String>,
}

impl Inner {
    fn insert(&mut self, record: Arc<InstanceRecord>) {
        if let Some(old) = self.records.insert(record.id.clone(), record.clone())
            && old.created_at != record.created_at
        {
            self.ordered.remove(&(old.created_at, old.id.clone()));
        }
        self.ordered
            .insert((record.created_at, record.id.clone()), record);
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.records.remove(id) {
            self.ordered.remove(&(old.created_at, old.id.clone()));
        }
    }
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
        inner.insert(Arc::new(merged));
        drop(inner);
        self.changed();
    }

    pub fn remove(&self, id: &str) {
        let mut inner = self.write();
        inner.remove(id);
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
        self.read().ordered.values().cloned().collect()
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

    #[test]
    fn lists_are_oldest_first_without_sorting_on_read() {
        let cache = InstanceCache::default();
        let at = |n: u16, created: i64| {
            let mut r = running(n);
            r.created_at = created;
            r
        };
        for (n, created) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            cache.put(at(n, created));
        }
        let ids = |c: &InstanceCache| c.list().iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&cache),
            ["i2", "i4", "i3", "i1"],
            "by creation, then id"
        );
        cache.remove("i3");
        assert_eq!(ids(&cache), ["i2", "i4", "i1"]);
        assert_eq!(cache.len(), 3);
        assert!(cache.get("i3").is_none());
        assert_eq!(cache.get("i4").unwrap().created_at, 10);
    }
}
