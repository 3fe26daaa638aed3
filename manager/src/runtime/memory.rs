//! An in-memory runtime for unit tests of the reconciler's decisions: workers are entries in a map,
//! every verb is counted, and a test can make a worker exit or vanish. Never used by integration tests,
//! which run a real engine.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use super::{
    Availability, ContainerUsage, Endpoint, HostView, Runtime, RuntimeError, RuntimeKind,
    RuntimeSettings, WorkerEvent, WorkerSpec, WorkerView,
};

#[derive(Default)]
pub struct Calls {
    pub runs: usize,
    pub stops: usize,
    pub removes: usize,
}

pub struct MemoryRuntime {
    settings: RuntimeSettings,
    /// How long each `run_worker` takes (none by default).
    pub run_delay: Mutex<std::time::Duration>,
    /// `run_worker` calls under way now, and the most there were at once.
    in_flight: std::sync::atomic::AtomicUsize,
    pub most_in_flight: std::sync::atomic::AtomicUsize,
    workers: Mutex<HashMap<String, WorkerView>>,
    pub calls: Mutex<Calls>,
    next_id: Mutex<u64>,
}

impl MemoryRuntime {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            settings: RuntimeSettings {
                image: "botfleet-worker:test".into(),
                fleet: "unit".into(),
                host_ip: std::net::Ipv4Addr::LOCALHOST.into(),
                network: "bridge".into(),
                bots_per_network: 1000,
                memory_bytes: 1 << 27,
                nano_cpus: 500_000_000,
            },
            run_delay: Mutex::default(),
            in_flight: Default::default(),
            most_in_flight: Default::default(),
            workers: Mutex::default(),
            calls: Mutex::default(),
            next_id: Mutex::new(0),
        })
    }

    /// The worker exits by itself with `code`.
    pub fn crash(&self, instance_id: &str, code: i64) {
        if let Some(w) = self.workers.lock().unwrap().get_mut(instance_id) {
            w.running = false;
            w.state = "exited".into();
            w.exit_code = Some(code);
        }
    }

    /// The worker is removed behind the manager's back.
    pub fn vanish(&self, instance_id: &str) {
        self.workers.lock().unwrap().remove(instance_id);
    }

    pub fn worker(&self, instance_id: &str) -> Option<WorkerView> {
        self.workers.lock().unwrap().get(instance_id).cloned()
    }
}

#[async_trait::async_trait]
impl Runtime for MemoryRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }
    fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }
    async fn ping(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn run_worker(&self, spec: &WorkerSpec<'_>) -> Result<WorkerView, RuntimeError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_in_flight.fetch_max(now, SeqCst);
        let delay = *self.run_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        self.in_flight.fetch_sub(1, SeqCst);
        self.calls.lock().unwrap().runs += 1;
        let mut workers = self.workers.lock().unwrap();
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("c{n}")
        };
        let w = workers
            .entry(spec.instance_id.to_string())
            .or_insert_with(|| WorkerView {
                id,
                instance_id: Some(spec.instance_id.to_string()),
                name: format!("unit-{}", spec.instance_id),
                state: "created".into(),
                running: false,
                started_at: None,
                exit_code: None,
                restart_count: 0,
                endpoint: Some(Endpoint {
                    host: "127.0.0.1".into(),
                    port: spec.port,
                }),
                host_id: Some("memory".into()),
            });
        w.running = true;
        w.state = "running".into();
        w.exit_code = None;
        Ok(w.clone())
    }
    async fn stop_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.calls.lock().unwrap().stops += 1;
        if let Some(w) = self.workers.lock().unwrap().get_mut(instance_id) {
            w.running = false;
            w.state = "exited".into();
            w.exit_code = Some(0);
        }
        Ok(())
    }
    async fn remove_worker(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.calls.lock().unwrap().removes += 1;
        self.workers.lock().unwrap().remove(instance_id);
        Ok(())
    }
    async fn remove_worker_data(&self, _instance_id: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn remove_orphan(&self, worker: &WorkerView) -> Result<(), RuntimeError> {
        if let Some(id) = &worker.instance_id {
            self.workers.lock().unwrap().remove(id);
        }
        Ok(())
    }
    async fn inspect_worker(&self, instance_id: &str) -> Result<Option<WorkerView>, RuntimeError> {
        Ok(self.worker(instance_id))
    }
    async fn tidy(&self) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn list_workers(&self) -> Result<Vec<WorkerView>, RuntimeError> {
        Ok(self.workers.lock().unwrap().values().cloned().collect())
    }
    fn events(&self, _since: Option<i64>) -> BoxStream<'static, Result<WorkerEvent, RuntimeError>> {
        stream::empty().boxed()
    }
    fn logs(
        &self,
        _instance_id: &str,
        _tail: u64,
        _follow: bool,
    ) -> BoxStream<'static, Result<Bytes, RuntimeError>> {
        stream::empty().boxed()
    }
    async fn worker_usage(
        &self,
        _instance_id: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        Ok(None)
    }
    async fn engine_container_counts(&self) -> Result<(usize, usize), RuntimeError> {
        let workers = self.workers.lock().unwrap();
        Ok((
            workers.len(),
            workers.values().filter(|w| w.running).count(),
        ))
    }
    async fn hosts(&self) -> Result<Vec<HostView>, RuntimeError> {
        Ok(vec![])
    }
    async fn set_host_availability(
        &self,
        host_id: &str,
        _availability: Availability,
    ) -> Result<HostView, RuntimeError> {
        Err(RuntimeError::NoSuchHost(host_id.to_string()))
    }
}
