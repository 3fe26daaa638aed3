//! Port allocation for workers. The database's UNIQUE constraint on `instances.port` is the guarantee
//! (it holds across processes and restarts); the in-process lock only keeps concurrent creates of one
//! manager from racing each other into constraint retries. Ports busy on the host are skipped.

use std::{collections::HashSet, net::IpAddr, ops::RangeInclusive};

use tokio::sync::Mutex;

use crate::{
    domain::InstanceRecord,
    error::ApiError,
    store::{Store, instances::WriteError},
};

pub struct PortAllocator {
    range: RangeInclusive<u16>,
    host_ip: IpAddr,
    lock: Mutex<()>,
}

impl PortAllocator {
    pub fn new(range: RangeInclusive<u16>, host_ip: IpAddr) -> Self {
        Self {
            range,
            host_ip,
            lock: Mutex::new(()),
        }
    }

    pub fn range(&self) -> &RangeInclusive<u16> {
        &self.range
    }

    /// Inserts the record built by `make` for the lowest free port; the row holds the port from then on.
    pub async fn insert_with_port(
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
                        "this bot token is already used by another instance".into(),
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

    /// Whether something on the host already listens on `port` (then Docker could not publish it).
    fn free_on_host(&self, port: u16) -> bool {
        std::net::TcpListener::bind((self.host_ip, port)).is_ok()
    }
}
