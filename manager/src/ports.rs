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

    /// Inserts the record built by `make` for the lowest free port (and, `with_mcp`, the next free one
    /// for its MCP server); the rows in `port_leases` hold them from then on.
    pub async fn insert_with_ports(
        &self,
        store: &Store,
        with_mcp: bool,
        make: impl Fn((u16, Option<u16>)) -> InstanceRecord,
    ) -> Result<InstanceRecord, ApiError> {
        let started = Instant::now();
        let result = self.insert_locked(store, with_mcp, make).await;
        self.performance
            .record_port_assignment(started.elapsed(), result.is_ok());
        result
    }

    async fn insert_locked(
        &self,
        store: &Store,
        with_mcp: bool,
        make: impl Fn((u16, Option<u16>)) -> InstanceRecord,
    ) -> Result<InstanceRecord, ApiError> {
        let _guard = self.lock.lock().await;
        let mut taken: HashSet<u16> = store.used_ports().await?.into_iter().collect();
        // Each round either inserts or learns of a port taken meanwhile: bounded by the range.
        for _ in 0..self.len() {
            let api = self.lowest_free(&taken, None)?;
            let mcp = match with_mcp {
                true => Some(self.lowest_free(&taken, Some(api))?),
                false => None,
            };
            match store.insert_instance(&make((api, mcp))).await {
                Ok(record) => return Ok(record),
                // Another manager on the same database took one first: look again.
                Err(WriteError::PortTaken) => {
                    let now: HashSet<u16> = store.used_ports().await?.into_iter().collect();
                    if now.contains(&api) || mcp.is_some_and(|p| now.contains(&p)) {
                        taken = now;
                    } else {
                        taken.insert(api);
                        taken.extend(mcp);
                    }
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
        Err(self.exhausted())
    }

    /// Runs `write` with the lowest port no instance holds and nothing on the host listens on (and, with
    /// `second`, the next one), for an instance that must move or gains an MCP server; the allocator
    /// stays locked until `write` has stored them, so no create of this manager picks them meanwhile (the
    /// database's primary key on `port_leases` still decides between managers).
    pub async fn assign<T>(
        &self,
        store: &Store,
        second: bool,
        write: impl AsyncFnOnce((u16, Option<u16>)) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.lock.lock().await;
        let taken: HashSet<u16> = store.used_ports().await?.into_iter().collect();
        let first = self.lowest_free(&taken, None)?;
        let second = match second {
            true => Some(self.lowest_free(&taken, Some(first))?),
            false => None,
        };
        write((first, second)).await
    }

    /// The lowest port of the range not in `taken`, not `also`, and free on the host.
    fn lowest_free(&self, taken: &HashSet<u16>, also: Option<u16>) -> Result<u16, ApiError> {
        self.range
            .clone()
            .find(|port| !taken.contains(port) && Some(*port) != also && self.free_on_host(*port))
            .ok_or_else(|| self.exhausted())
    }

    fn exhausted(&self) -> ApiError {
        ApiError::PortsExhausted(format!(
            "no free port left in {}-{}",
            self.range.start(),
            self.range.end()
        ))
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
