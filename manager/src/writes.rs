//! How a change of an instance reaches the database. A change is compared with the record it was made on:
//! the spec and the status are written (each compare-and-swap on its own version, with the history the
//! change makes, in one transaction) only when they changed; counters go to the cache at once and are
//! marked dirty, and `flush` stores every dirty instance's counters, with their per-day message counts, in
//! one transaction (every few seconds and at shutdown). A bot whose only change is that it was seen alive
//! again (its health check count, last check, last poll) is stored at the latest after
//! `--liveness-flush-secs` (5 minutes) or at shutdown, so an idle fleet writes next to nothing. A change that changes nothing writes nothing and
//! leaves the cache alone. In this process one write per instance runs at a time, so counters, held only
//! in memory until flushed, never lose an increment to a concurrent writer.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use crate::{
    cache::InstanceCache,
    domain::{InstanceRecord, now_ms},
    error::ApiError,
    op_locks::WriteLocks,
    store::{
        Store,
        events::Event,
        history::utc_day,
        instances::{CounterFlush, WriteError},
        settings_history::Attribution,
    },
};

/// How many times a write is retried when another writer changed the row in between.
const MAX_WRITE_ATTEMPTS: usize = 8;

/// How long counters that only say a bot is alive wait for a flush by default (a crash loses at most
/// this much of them; every other counter waits for the next flush).
pub const LIVENESS_FLUSH_MS: i64 = 5 * 60 * 1000;

/// Counters changed since the last flush, by instance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Pending {
    /// Messages sent and received per UTC day, not yet added to `message_counts_daily`.
    daily: BTreeMap<String, (i64, i64)>,
    /// A counter other than the liveness ones changed: stored at the next flush.
    due: bool,
    /// When the counters were first marked since the last flush (unix ms).
    since: i64,
}

impl Pending {
    fn add(&mut self, day: String, sent: i64, received: i64) {
        if sent > 0 || received > 0 {
            let entry = self.daily.entry(day).or_default();
            entry.0 += sent;
            entry.1 += received;
        }
    }

    fn absorb(&mut self, other: Pending) {
        for (day, (sent, received)) in other.daily {
            self.add(day, sent, received);
        }
        self.due |= other.due;
        self.since = self.since.min(other.since);
    }

    fn ready(&self, now: i64, liveness_ms: i64) -> bool {
        self.due || now - self.since >= liveness_ms
    }
}

/// The write path of instances: per-instance turns, and the counters waiting for the flush.
pub struct InstanceWrites {
    turns: WriteLocks,
    pending: Mutex<HashMap<String, Pending>>,
    /// One flush at a time (the periodic one and the one at shutdown).
    flushing: tokio::sync::Mutex<()>,
    /// How long liveness-only counters wait (ms).
    liveness_ms: i64,
}

impl Default for InstanceWrites {
    fn default() -> Self {
        Self::new(LIVENESS_FLUSH_MS)
    }
}

impl InstanceWrites {
    /// A write path whose liveness-only counters wait up to `liveness_ms` for a flush.
    pub fn new(liveness_ms: i64) -> Self {
        Self {
            turns: WriteLocks::default(),
            pending: Mutex::default(),
            flushing: tokio::sync::Mutex::default(),
            liveness_ms,
        }
    }

    /// Applies `change` to the instance (as the cache holds it, else as stored) and stores what changed;
    /// returns the record and the events the write produced, or `None` when the instance is gone. A
    /// compare-and-swap that finds another writer's change (another manager on the same database)
    /// reloads the instance and applies `change` again; the reload keeps the cache's counters.
    pub async fn update(
        &self,
        store: &Store,
        cache: &InstanceCache,
        id: &str,
        source: &str,
        change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<(InstanceRecord, Vec<Event>)>, ApiError> {
        self.update_by(store, cache, id, source, None, change).await
    }

    /// [`update`](Self::update), with who made the change (recorded in the settings history).
    pub async fn update_by(
        &self,
        store: &Store,
        cache: &InstanceCache,
        id: &str,
        source: &str,
        attribution: Option<&Attribution>,
        mut change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<(InstanceRecord, Vec<Event>)>, ApiError> {
        let _turn = self.turns.acquire(id).await;
        let mut current = match cache.get(id) {
            Some(r) => (*r).clone(),
            None => match store.get_instance(id).await? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let mut next = current.clone();
            change(&mut next);
            let parts = current.changed_parts(&next);
            if !parts.any() {
                return Ok(Some((current, Vec::new())));
            }
            next.updated_at = now_ms().max(current.updated_at);
            next.spec_version = current.spec_version + i64::from(parts.spec);
            next.status_version = current.status_version + i64::from(parts.status);
            next.counters_version = current.counters_version + i64::from(parts.counters);
            next.version = next.combined_version();
            let events = if parts.stored_now() {
                match store
                    .update_instance(&current, &next, parts, source, attribution)
                    .await
                {
                    Ok(Some(events)) => events,
                    Ok(None) => match store.get_instance(id).await? {
                        Some(fresh) => {
                            cache.put(fresh.clone());
                            current = cache.get(id).map_or(fresh, |r| (*r).clone());
                            continue;
                        }
                        None => {
                            cache.remove(id);
                            self.forget(id);
                            return Ok(None);
                        }
                    },
                    Err(WriteError::TokenTaken) => return Err(token_conflict()),
                    Err(WriteError::PortTaken) => {
                        return Err(ApiError::Conflict("port already taken".into()));
                    }
                    Err(WriteError::Database(e)) => return Err(e.into()),
                }
            } else {
                Vec::new()
            };
            // The cache first, then the mark: a flush that takes the mark reads these counters or newer.
            cache.put(next.clone());
            if parts.counters {
                self.mark(&current, &next);
            }
            return Ok(Some((next, events)));
        }
        Err(ApiError::Conflict(format!(
            "instance {id} kept changing; write abandoned after {MAX_WRITE_ATTEMPTS} attempts"
        )))
    }

    /// Marks the counters of `next` dirty and counts the messages it added to `before`'s, on its day.
    fn mark(&self, before: &InstanceRecord, next: &InstanceRecord) {
        let sent = (next.sent_count - before.sent_count).max(0);
        let received = (next.received_count - before.received_count).max(0);
        let due = !before.only_liveness_differs(next);
        let mut pending = self.pending();
        let entry = pending.entry(next.id.clone()).or_insert_with(|| Pending {
            since: next.updated_at,
            ..Pending::default()
        });
        entry.add(utc_day(next.updated_at), sent, received);
        entry.due |= due;
    }

    /// Stores the counters of every instance marked dirty (as the cache holds them now) in one
    /// transaction; returns how many instances it wrote. On failure they stay dirty for the next flush.
    pub async fn flush(&self, store: &Store, cache: &InstanceCache) -> Result<usize, sqlx::Error> {
        self.flush_where(store, cache, |_| true).await
    }

    /// [`flush`](Self::flush) of the counters that are due: every change but a bot seen alive again,
    /// which waits up to the liveness interval.
    pub async fn flush_due(
        &self,
        store: &Store,
        cache: &InstanceCache,
    ) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        self.flush_where(store, cache, |p| p.ready(now, self.liveness_ms))
            .await
    }

    async fn flush_where(
        &self,
        store: &Store,
        cache: &InstanceCache,
        take: impl Fn(&Pending) -> bool,
    ) -> Result<usize, sqlx::Error> {
        let _one_at_a_time = self.flushing.lock().await;
        let taken: HashMap<String, Pending> = {
            let mut pending = self.pending();
            let ids: Vec<String> = pending
                .iter()
                .filter(|(_, p)| take(p))
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| pending.remove_entry(&id))
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let batch: Vec<CounterFlush> = taken
            .iter()
            .filter_map(|(id, pending)| {
                // A deleted instance has nothing left to store.
                let record: Arc<InstanceRecord> = cache.get(id)?;
                let daily = pending
                    .daily
                    .iter()
                    .map(|(day, (sent, received))| (day.clone(), *sent, *received))
                    .collect();
                Some(CounterFlush { record, daily })
            })
            .collect();
        match store.flush_counters(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut pending = self.pending();
                for (id, p) in taken {
                    pending.entry(id).or_default().absorb(p);
                }
                Err(e)
            }
        }
    }

    /// Messages counted on `day` that the next flush adds to `message_counts_daily`.
    pub fn unflushed_messages(&self, id: &str, day: &str) -> (i64, i64) {
        self.pending()
            .get(id)
            .and_then(|p| p.daily.get(day).copied())
            .unwrap_or((0, 0))
    }

    /// How many instances have counters waiting for the flush.
    pub fn dirty(&self) -> usize {
        self.pending().len()
    }

    /// Drops what waits for the flush of a deleted instance.
    pub fn forget(&self, id: &str) {
        self.pending().remove(id);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn token_conflict() -> ApiError {
    ApiError::Conflict(
        "these credentials (this bot token) are already used by another instance".into(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::{
        domain::{AuthStatus, InstanceStatus, NewInstance},
        monitor::health::{Probe, apply},
        reconcile::CrashPolicy,
    };

    /// A migrated SQLite database in a file of its own, removed when dropped.
    pub(crate) struct TestDb {
        pub path: PathBuf,
        pub store: Store,
    }

    impl TestDb {
        pub(crate) async fn new() -> Self {
            let path = std::env::temp_dir().join(format!("botfleet-{}.db", uuid::Uuid::new_v4()));
            let pool = crate::db::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("test database");
            Self {
                path,
                store: Store::new(pool, std::sync::Arc::new(crate::seal::Sealer::ephemeral())),
            }
        }

        /// Write transactions committed to the file so far: SQLite's file change counter (header
        /// offset 24), which every committing write transaction increments.
        pub(crate) fn write_transactions(&self) -> u32 {
            change_counter(&self.path)
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn change_counter(path: &Path) -> u32 {
        let bytes = std::fs::read(path).expect("database file");
        u32::from_be_bytes(bytes[24..28].try_into().expect("a SQLite header"))
    }

    /// Instance number `n`, running and healthy, as the health loop sees it once settled.
    pub(crate) fn running(n: u16) -> InstanceRecord {
        let new = NewInstance {
            user_id: "u".into(),
            provider: shared::Provider::Telegram,
            type_instance: vec![crate::domain::Interface::Api],
            credentials: shared::api::credentials::Credentials::telegram(format!("{n}:token")),
            agno_config: None,
            placement: vec![],
            labels: Default::default(),
            receive: None,
        };
        let mut r = crate::fleet::new_record(
            &format!("i{n}"),
            &new,
            &format!("sha-{n}"),
            "bfk_key",
            (4000 + n, None),
            1_000,
        );
        r.status = InstanceStatus::Running;
        r.auth_status = AuthStatus::ClientReady;
        r.health_ok = true;
        r.endpoint = Some(format!("127.0.0.1:{}", 4000 + n));
        r
    }

    /// A store, a cache and a write path holding `records`.
    async fn fleet_of(records: &[InstanceRecord]) -> (TestDb, InstanceCache, InstanceWrites) {
        let db = TestDb::new().await;
        let cache = InstanceCache::default();
        for r in records {
            cache.put(db.store.insert_instance(r).await.unwrap());
        }
        (db, cache, InstanceWrites::default())
    }

    /// An answered health check that finds the bot as it was.
    fn idle_check(r: &mut InstanceRecord) {
        let probe = Probe::Reported {
            healthy: true,
            status: None,
        };
        apply(r, &probe, now_ms(), &CrashPolicy::default());
    }

    #[tokio::test]
    async fn a_change_that_changes_nothing_writes_nothing_and_leaves_the_cache_alone() {
        let (db, cache, writes) = fleet_of(&[running(1)]).await;
        let before = cache.get("i1").unwrap();
        let mut changes = cache.subscribe();
        changes.mark_unchanged();
        let writes_before = db.write_transactions();
        let (same, events) = writes
            .update(&db.store, &cache, "i1", "health", |r| {
                r.status = InstanceStatus::Running;
                r.health_ok = true;
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(same, *before);
        assert!(events.is_empty());
        assert_eq!(db.write_transactions(), writes_before, "a write happened");
        assert!(Arc::ptr_eq(&before, &cache.get("i1").unwrap()));
        assert!(!changes.has_changed().unwrap(), "the cache changed");
        assert_eq!(writes.dirty(), 0);
    }

    #[tokio::test]
    async fn an_idle_health_check_is_stored_only_by_the_flush() {
        let (db, cache, writes) = fleet_of(&[running(1)]).await;
        let stored = db.store.get_instance("i1").await.unwrap().unwrap();
        let writes_before = db.write_transactions();
        for _ in 0..10 {
            writes
                .update(&db.store, &cache, "i1", "health", idle_check)
                .await
                .unwrap();
        }
        assert_eq!(db.write_transactions(), writes_before, "a check wrote");
        let cached = cache.get("i1").unwrap();
        assert_eq!(cached.health_check_count, 10);
        assert_eq!(cached.counters_version, 10);
        assert_eq!(cached.version, stored.version + 10);
        assert_eq!(
            (cached.spec_version, cached.status_version),
            (stored.spec_version, stored.status_version)
        );
        assert_eq!(
            db.store.get_instance("i1").await.unwrap().unwrap(),
            stored,
            "the database moved before the flush"
        );

        assert_eq!(writes.flush(&db.store, &cache).await.unwrap(), 1);
        assert_eq!(db.write_transactions(), writes_before + 1);
        assert_eq!(
            db.store.get_instance("i1").await.unwrap().unwrap(),
            *cache.get("i1").unwrap()
        );
        // Nothing is dirty any more: the next flush writes nothing.
        assert_eq!(writes.flush(&db.store, &cache).await.unwrap(), 0);
        assert_eq!(db.write_transactions(), writes_before + 1);
    }

    #[tokio::test]
    async fn a_bot_only_seen_alive_waits_for_a_later_flush_and_any_other_counter_does_not() {
        let (db, cache, writes) = fleet_of(&[running(1), running(2)]).await;
        let writes_before = db.write_transactions();
        for id in ["i1", "i2"] {
            writes
                .update(&db.store, &cache, id, "health", idle_check)
                .await
                .unwrap();
        }
        // Seen alive only: nothing is due yet.
        assert_eq!(writes.flush_due(&db.store, &cache).await.unwrap(), 0);
        assert_eq!(
            db.write_transactions(),
            writes_before,
            "an idle check wrote"
        );
        assert_eq!(writes.dirty(), 2);

        // A message counted: that bot is due, with its liveness counters; the idle one still waits.
        writes
            .update(&db.store, &cache, "i2", "health", |r| {
                idle_check(r);
                r.received_count += 1;
            })
            .await
            .unwrap();
        assert_eq!(writes.flush_due(&db.store, &cache).await.unwrap(), 1);
        assert_eq!(
            db.store.get_instance("i2").await.unwrap().unwrap(),
            *cache.get("i2").unwrap()
        );
        assert_eq!(writes.dirty(), 1);

        // Waiting longer than the liveness interval makes it due.
        writes.pending().get_mut("i1").unwrap().since -= LIVENESS_FLUSH_MS;
        assert_eq!(writes.flush_due(&db.store, &cache).await.unwrap(), 1);
        assert_eq!(
            db.store.get_instance("i1").await.unwrap().unwrap(),
            *cache.get("i1").unwrap()
        );
        assert_eq!(writes.dirty(), 0);
        assert_eq!(db.write_transactions(), writes_before + 2);
    }

    #[tokio::test]
    async fn counters_of_the_whole_fleet_are_flushed_in_one_transaction() {
        let records: Vec<_> = (1..=5).map(running).collect();
        let (db, cache, writes) = fleet_of(&records).await;
        let writes_before = db.write_transactions();
        for round in 1..=3_i64 {
            for r in &records {
                writes
                    .update(&db.store, &cache, &r.id, "health", |r| {
                        idle_check(r);
                        r.sent_count += round;
                        r.received_count += 1;
                    })
                    .await
                    .unwrap();
            }
        }
        assert_eq!(db.write_transactions(), writes_before);
        assert_eq!(writes.dirty(), 5);
        let today = utc_day(now_ms());
        assert_eq!(writes.unflushed_messages("i1", &today), (6, 3));
        assert_eq!(db.store.messages_on("i1", &today).await.unwrap(), (0, 0));

        assert_eq!(writes.flush(&db.store, &cache).await.unwrap(), 5);
        assert_eq!(
            db.write_transactions(),
            writes_before + 1,
            "one transaction"
        );
        assert_eq!(writes.dirty(), 0);
        for r in &records {
            let stored = db.store.get_instance(&r.id).await.unwrap().unwrap();
            assert_eq!((stored.sent_count, stored.received_count), (6, 3));
            assert_eq!(stored.health_check_count, 3);
            assert_eq!(db.store.messages_on(&r.id, &today).await.unwrap(), (6, 3));
        }
        assert_eq!(writes.unflushed_messages("i1", &today), (0, 0));

        // More messages add to the day's counts at the next flush.
        writes
            .update(&db.store, &cache, "i1", "health", |r| r.sent_count += 4)
            .await
            .unwrap();
        writes.flush(&db.store, &cache).await.unwrap();
        assert_eq!(db.store.messages_on("i1", &today).await.unwrap(), (10, 3));
    }

    #[tokio::test]
    async fn a_status_change_is_written_at_once_with_its_history() {
        let (db, cache, writes) = fleet_of(&[running(1)]).await;
        let stored = db.store.get_instance("i1").await.unwrap().unwrap();
        let writes_before = db.write_transactions();
        let (saved, events) = writes
            .update(&db.store, &cache, "i1", "health", |r| {
                idle_check(r);
                apply(
                    r,
                    &Probe::Unreachable("refused".into()),
                    now_ms(),
                    &CrashPolicy::default(),
                );
                apply(
                    r,
                    &Probe::Unreachable("refused".into()),
                    now_ms(),
                    &CrashPolicy::default(),
                );
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved.status, InstanceStatus::Degraded);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(db.write_transactions(), writes_before + 1);
        let now_stored = db.store.get_instance("i1").await.unwrap().unwrap();
        assert_eq!(now_stored.status, InstanceStatus::Degraded);
        assert_eq!(now_stored.status_version, stored.status_version + 1);
        assert_eq!(now_stored.spec_version, stored.spec_version);
        // The counters it moved wait for the flush.
        assert_eq!(now_stored.health_check_count, 0);
        assert_eq!(cache.get("i1").unwrap().health_check_count, 3);
        let history = db.store.status_history("i1", 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].status, "degraded");
    }

    #[tokio::test]
    async fn a_spec_write_and_a_status_write_from_one_record_both_land() {
        let (db, _cache, _writes) = fleet_of(&[running(1)]).await;
        let base = db.store.get_instance("i1").await.unwrap().unwrap();
        let mut spec = base.clone();
        spec.revision += 1;
        spec.spec_version += 1;
        let mut status = base.clone();
        status.observed_revision = 5;
        status.status_version += 1;
        let spec_parts = base.changed_parts(&spec);
        let status_parts = base.changed_parts(&status);
        assert_eq!(
            (
                spec_parts.spec,
                spec_parts.status,
                status_parts.spec,
                status_parts.status
            ),
            (true, false, false, true)
        );
        assert!(
            db.store
                .update_instance(&base, &spec, spec_parts, "api", None)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.store
                .update_instance(&base, &status, status_parts, "reconciler", None)
                .await
                .unwrap()
                .is_some(),
            "the status write conflicted with the spec write"
        );
        let both = db.store.get_instance("i1").await.unwrap().unwrap();
        assert_eq!((both.revision, both.observed_revision), (2, 5));
        // A second status write from the same base is a conflict.
        let mut late = base.clone();
        late.restart_count = 9;
        late.status_version += 1;
        let parts = base.changed_parts(&late);
        assert!(
            db.store
                .update_instance(&base, &late, parts, "reconciler", None)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn two_managers_writing_spec_and_status_do_not_retry_and_a_reload_keeps_counters() {
        // Two managers on one database: each its own cache and write path.
        let (db, cache_a, writes_a) = fleet_of(&[running(1)]).await;
        let cache_b = InstanceCache::from_records(db.store.list_instances().await.unwrap());
        let writes_b = InstanceWrites::default();
        // B has unflushed counters.
        for _ in 0..4 {
            writes_b
                .update(&db.store, &cache_b, "i1", "health", idle_check)
                .await
                .unwrap();
        }
        // A changes the spec; B, not knowing it, changes the status: its first attempt goes through.
        writes_a
            .update(&db.store, &cache_a, "i1", "api", |r| r.revision += 1)
            .await
            .unwrap();
        let mut attempts = 0;
        writes_b
            .update(&db.store, &cache_b, "i1", "reconciler", |r| {
                attempts += 1;
                r.observed_revision = 7;
            })
            .await
            .unwrap();
        assert_eq!(attempts, 1, "the status write was retried");
        let stored = db.store.get_instance("i1").await.unwrap().unwrap();
        assert_eq!((stored.revision, stored.observed_revision), (2, 7));

        // A now changes the status too: B's next status write conflicts, reloads, and keeps its own
        // unflushed counters instead of the stored ones.
        writes_a
            .update(&db.store, &cache_a, "i1", "reconciler", |r| {
                r.restart_count += 1
            })
            .await
            .unwrap();
        let mut attempts = 0;
        let (saved, _) = writes_b
            .update(&db.store, &cache_b, "i1", "reconciler", |r| {
                attempts += 1;
                r.error_count += 1;
                r.last_error = Some("boom".into());
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(attempts, 2);
        assert_eq!((saved.restart_count, saved.error_count), (1, 1));
        assert_eq!(saved.revision, 2, "the reload brought A's spec");
        assert_eq!(
            saved.health_check_count, 4,
            "the reload rolled counters back"
        );
        assert_eq!(*cache_b.get("i1").unwrap(), saved);
        assert_eq!(db.store.errors("i1", 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_restart_after_the_flush_shows_the_counters() {
        let (db, cache, writes) = fleet_of(&[running(1), running(2)]).await;
        for _ in 0..3 {
            for id in ["i1", "i2"] {
                writes
                    .update(&db.store, &cache, id, "health", |r| {
                        idle_check(r);
                        r.sent_count += 2;
                        r.api_key_usage_count += 1;
                        r.last_poll_at = Some(42);
                    })
                    .await
                    .unwrap();
            }
        }
        writes
            .update(&db.store, &cache, "i2", "api", |r| r.revision += 1)
            .await
            .unwrap();
        writes.flush(&db.store, &cache).await.unwrap();
        // A new manager loads the fleet from the database.
        let reloaded = InstanceCache::from_records(db.store.list_instances().await.unwrap());
        for id in ["i1", "i2"] {
            let (before, after) = (cache.get(id).unwrap(), reloaded.get(id).unwrap());
            assert_eq!(before, after, "{id} differs after the restart");
            assert_eq!(after.sent_count, 6);
            assert_eq!(after.health_check_count, 3);
            assert_eq!(after.last_poll_at, Some(42));
        }
    }

    #[tokio::test]
    async fn a_deleted_instance_gets_no_counters_back() {
        let (db, cache, writes) = fleet_of(&[running(1)]).await;
        writes
            .update(&db.store, &cache, "i1", "health", |r| r.sent_count += 1)
            .await
            .unwrap();
        // Deleted behind the flush's back (the flush has read the cache already, say).
        db.store.delete_instance("i1").await.unwrap();
        writes.flush(&db.store, &cache).await.unwrap();
        assert!(db.store.get_instance("i1").await.unwrap().is_none());
        assert_eq!(
            db.store
                .messages_on("i1", &utc_day(now_ms()))
                .await
                .unwrap(),
            (0, 0)
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instance_counters")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }
}
