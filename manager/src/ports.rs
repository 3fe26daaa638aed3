//! Port allocation for workers. The database's UNIQUE constraint on `instances.port` is the guarantee
//! (it holds across processes and restarts); the in-process lock only keeps concurrent creates of one
//! manager from racing each other into constraint retries. Ports busy on the host are skipped.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    ops::RangeInclusive,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use crate::{
    domain::InstanceRecord,
    error::ApiError,
    monitor::performance::Performance,
    store::{Store, instances::WriteError},
};

/// How long a port found busy on the host is skipped without checking again.
const BUSY_TTL: Duration = Duration::from_secs(30);

pub struct PortAllocator {
    range: RangeInclusive<u16>,
    host_ip: IpAddr,
    lock: Mutex<()>,
    /// Ports something else on the host was listening on, and when that was seen.
    busy: std::sync::Mutex<HashMap<u16, Instant>>,
    performance: Arc<Performance>,
}

impl PortAllocator {
    pub fn new(range: RangeInclusive<u16>, host_ip: IpAddr, performance: Arc<Performance>) -> Self {
        Self {
            range,
            host_ip,
            lock: Mutex::new(()),
            busy: Default::default(),
            performance,
        }
    }

    /// Ports of the range recently found busy on the host (not ours).
    pub fn busy_on_host(&self) -> usize {
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.values()
            .filter(|seen| seen.elapsed() < BUSY_TTL)
            .count()
    }

    /// Records that Docker could not bind `port` on the host.
    pub fn mark_busy(&self, port: u16) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.insert(port, Instant::now());
    }

    /// Forgets which host ports were busy, so the next allocation checks them all again.
    pub fn clear_cache(&self) -> usize {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.len();
        busy.clear();
        n
    }

    pub fn range(&self) -> &RangeInclusive<u16> {
        &self.range
    }

    /// Ports in the range.
    pub fn len(&self) -> u64 {
        u64::from(self.range.end() - self.range.start()) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Inserts the record built by `make` for the lowest free port; the row holds the port from then on.
    pub async fn insert_with_port(
        &self,
        store: &Store,
        make: impl Fn(u16) -> InstanceRecord,
    ) -> Result<InstanceRecord, ApiError> {
        let started = Instant::now();
        let result = self.insert_locked(store, make).await;
        self.performance
            .record_port_assignment(started.elapsed(), result.is_ok());
        result
    }

    async fn insert_locked(
        &self,
        store: &Store,
        make: impl Fn(u16) -> InstanceRecord,
    ) -> Result<InstanceRecord, ApiError> {
        let _guard = self.lock.lock().await;
        let mut taken: HashSet<u16> = store.used_ports().await?.into_iter().collect();
        for port in self.range.clone() {
            if taken.contains(&port) || !self.free_on_host(port) {
                continue;
            }
            match store.insert_instance(&make(port)).await {
                Ok(record) => return Ok(record),
                // Another manager on the same database took it first: try the next one.
                Err(WriteError::PortTaken) => {
                    taken.insert(port);
                }
                Err(WriteError::TokenTaken) => {
                    return Err(ApiError::Conflict(
                        "these credentials (this bot token) are already used by another instance"
                            .into(),
                    ));
                }
                Err(WriteError::Database(e)) => return Err(e.into()),
            }
        }
        Err(ApiError::PortsExhausted(format!(
            "no free port left in {}-{}",
            self.range.start(),
            self.range.end()
        )))
    }

    /// The lowest port no instance holds and nothing on the host listens on, for an instance that must
    /// move (the database's UNIQUE constraint still decides when it is written).
    pub async fn free_port(&self, store: &Store) -> Result<u16, ApiError> {
        let _guard = self.lock.lock().await;
        let taken: HashSet<u16> = store.used_ports().await?.into_iter().collect();
        self.range
            .clone()
            .find(|port| !taken.contains(port) && self.free_on_host(*port))
            .ok_or_else(|| {
                ApiError::PortsExhausted(format!(
                    "no free port left in {}-{}",
                    self.range.start(),
                    self.range.end()
                ))
            })
    }

    /// Whether something on the host already listens on `port` (then Docker could not publish it).
    fn free_on_host(&self, port: u16) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if busy
            .get(&port)
            .is_some_and(|seen| seen.elapsed() < BUSY_TTL)
        {
            return false;
        }
        let free = std::net::TcpListener::bind((self.host_ip, port)).is_ok();
        if free {
            busy.remove(&port);
        } else {
            busy.insert(port, Instant::now());
        }
        free
    }
}
