//! The resource sampler: every few seconds it measures the host (sysinfo: CPU, memory, every mounted
//! file system and network interface), counts the engine's containers, and takes each worker's CPU and
//! memory from Docker stats. Requests read the latest sample and the kept history; none waits on Docker.

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::StreamExt;
use serde::Serialize;
use sysinfo::{CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};
use tokio::sync::watch;

use crate::{
    fleet::{Fleet, now_ms},
    runtime::{ContainerUsage, RuntimeKind},
};

/// One file system and one network interface at one moment (`/api/v1/hosts/{id}/metrics*`).
pub use shared::api::hosts::{DiskUsage, NetworkUsage};
/// The host at one moment (the contract's type: `/api/v1/resources*` answer it as sampled).
pub use shared::api::resources::HostSample;

/// At most this many file systems and interfaces are kept per sample (a sample is kept for the whole
/// history window).
const MAX_DEVICES: usize = 32;

/// Per-bot figures are kept from every sample for this long; older samples keep them once a minute (the
/// first sample of each minute), so the history of a big fleet stays small: at 2,000 bots an hour of
/// per-bot figures every 5 s would be 1.4 million entries, thinned it is about 230,000.
const FULL_DETAIL_MS: i64 = 5 * 60_000;
const THINNED_EVERY_MS: i64 = 60_000;

/// One worker container at one moment. Its id and name are shared with the same bot's entries of other
/// samples (one allocation per bot, not per sample).
#[derive(Debug, Clone, Serialize)]
pub struct InstanceSample {
    pub instance_id: Arc<str>,
    pub display_name: Arc<str>,
    pub status: crate::domain::InstanceStatus,
    #[serde(flatten)]
    pub usage: ContainerUsage,
}

/// Everything one sampling round measured.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Unix ms.
    pub at: i64,
    pub host: HostSample,
    /// Every mounted file system of the host, containers' own mounts left out.
    pub disks: Vec<DiskUsage>,
    /// Every network interface of the host, containers' `veth` ends left out.
    pub networks: Vec<NetworkUsage>,
    /// Containers on the whole engine (total, running); `None` when Docker did not answer.
    pub containers: Option<(usize, usize)>,
    /// Empty in a sample older than `FULL_DETAIL_MS` that is not its minute's first (`bot_detail`
    /// false).
    pub instances: Vec<InstanceSample>,
    /// Whether the per-bot figures were kept (see `FULL_DETAIL_MS`).
    pub bot_detail: bool,
    /// The manager's own resident memory.
    pub manager_rss_bytes: u64,
    /// Whether the database answered.
    pub database_ok: bool,
    pub instances_total: usize,
    pub instances_running: usize,
}

/// The latest sample and the history kept for `window_ms`.
pub struct Resources {
    history: RwLock<History>,
    window_ms: i64,
}

#[derive(Default)]
struct History {
    samples: VecDeque<Arc<Sample>>,
    /// Samples before this index have been thinned (or kept whole as their minute's first).
    thinned: usize,
    /// The minute (unix ms / 60,000) of the last sample that kept its per-bot figures when thinned.
    kept_minute: i64,
}

impl History {
    /// Drops the per-bot figures of samples older than `FULL_DETAIL_MS` before `now` but one a minute.
    fn thin(&mut self, now: i64) {
        while let Some(sample) = self.samples.get(self.thinned)
            && sample.at < now - FULL_DETAIL_MS
        {
            let minute = sample.at.div_euclid(THINNED_EVERY_MS);
            if minute == self.kept_minute {
                if sample.bot_detail {
                    self.samples[self.thinned] = Arc::new(sample.without_bots());
                }
            } else {
                self.kept_minute = minute;
            }
            self.thinned += 1;
        }
    }
}

impl Sample {
    /// This sample without its per-bot figures.
    fn without_bots(&self) -> Self {
        Self {
            at: self.at,
            host: self.host.clone(),
            disks: self.disks.clone(),
            networks: self.networks.clone(),
            containers: self.containers,
            instances: Vec::new(),
            bot_detail: false,
            manager_rss_bytes: self.manager_rss_bytes,
            database_ok: self.database_ok,
            instances_total: self.instances_total,
            instances_running: self.instances_running,
        }
    }
}

impl Resources {
    pub fn new(window: Duration) -> Self {
        Self {
            history: RwLock::default(),
            window_ms: window.as_millis() as i64,
        }
    }

    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.read().samples.back().cloned()
    }

    /// Samples taken in `[from, to]` (unix ms), oldest first.
    pub fn between(&self, from: i64, to: i64) -> Vec<Arc<Sample>> {
        self.read()
            .samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, sample: Arc<Sample>) {
        let mut history = self.history.write().unwrap_or_else(|e| e.into_inner());
        let now = sample.at;
        history.samples.push_back(sample);
        self.trim_locked(&mut history);
        history.thin(now);
    }

    /// Drops samples older than the window; returns how many went.
    pub fn trim(&self) -> usize {
        let mut history = self.history.write().unwrap_or_else(|e| e.into_inner());
        self.trim_locked(&mut history)
    }

    fn trim_locked(&self, history: &mut History) -> usize {
        let oldest = now_ms() - self.window_ms;
        let before = history.samples.len();
        while history.samples.front().is_some_and(|s| s.at < oldest) && history.samples.len() > 1 {
            history.samples.pop_front();
            history.thinned = history.thinned.saturating_sub(1);
        }
        before - history.samples.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Measures the host; keeps its `System` between rounds, since CPU use is the change between two.
///
/// A host with 2,000 containers has 2,000 more mounts and 2,000 more interfaces: their space is not
/// asked for (a `statvfs` each, through the FUSE daemon on `fuse-overlayfs`), and interfaces are read
/// from one `/proc/net/dev` rather than a handful of files each. A reading blocks (it reads files),
/// so `sample_once` takes it on the blocking pool.
pub struct HostProbe {
    system: System,
    disks: Disks,
    data_path: PathBuf,
}

/// One reading of the host.
pub struct HostReading {
    pub host: HostSample,
    pub disks: Vec<DiskUsage>,
    pub networks: Vec<NetworkUsage>,
}

impl HostProbe {
    pub fn new(data_path: PathBuf) -> anyhow::Result<Self> {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .map_err(|e| anyhow::anyhow!("cannot read host statistics: {e}"))?;
        let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing())
            .map_err(|e| anyhow::anyhow!("cannot list disks: {e}"))?;
        Ok(Self {
            system,
            disks,
            data_path,
        })
    }

    pub fn sample(&mut self) -> HostReading {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        // Mounts come and go (a container's, a new disk): list them again each time, without their
        // figures; then the space of the host's own file systems alone.
        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing());
        for disk in self.disks.iter_mut() {
            if is_host_disk(disk) {
                disk.refresh_specifics(DiskRefreshKind::nothing().with_storage());
            }
        }
        let total = self.system.total_memory();
        let used = self.system.used_memory();
        // The disk holding the manager's data: the mount point that is the longest prefix of its path.
        let disk = self
            .disks
            .iter()
            .filter(|d| is_host_disk(d) && self.data_path.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len());
        let (disk_total, disk_used) = disk
            .map(|d| {
                (
                    d.total_space(),
                    d.total_space().saturating_sub(d.available_space()),
                )
            })
            .unwrap_or((0, 0));
        let load = System::load_average().unwrap_or_default();
        let host = HostSample {
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            cpu_count: self.system.cpus().len(),
            memory_used_bytes: used,
            memory_total_bytes: total,
            memory_percent: percent(used, total),
            disk_used_bytes: disk_used,
            disk_total_bytes: disk_total,
            disk_percent: percent(disk_used, disk_total),
            uptime_seconds: System::uptime().unwrap_or(0),
            load_average: [load.one, load.five, load.fifteen],
        };
        HostReading {
            host,
            disks: self.disk_usage(),
            networks: std::fs::read_to_string("/proc/net/dev")
                .map(|dev| network_usage(&dev))
                .unwrap_or_default(),
        }
    }

    /// Each host file system once, by mount point.
    fn disk_usage(&self) -> Vec<DiskUsage> {
        let mut seen = std::collections::BTreeSet::new();
        self.disks
            .iter()
            .filter(|d| is_host_disk(d))
            .filter(|d| seen.insert(d.mount_point().to_path_buf()))
            .take(MAX_DEVICES)
            .map(|d| {
                let total = d.total_space();
                let free = d.available_space().min(total);
                let used = total - free;
                DiskUsage {
                    path: d.mount_point().display().to_string(),
                    total,
                    used,
                    free,
                    percent: percent(used, total),
                }
            })
            .collect()
    }
}

/// Whether a mount is one of the host's file systems: the engine's per-container mounts (overlay roots,
/// namespaces, anything under its data folder) are the containers'.
fn is_host_disk(disk: &sysinfo::Disk) -> bool {
    let fs = disk.file_system().to_string_lossy();
    !matches!(
        fs.as_ref(),
        "overlay" | "fuse-overlayfs" | "fuse.fuse-overlayfs" | "aufs" | "nsfs" | "shm"
    ) && !is_engine_mount(disk.mount_point())
}

/// Each interface of a `/proc/net/dev` listing by name; a container's `veth` end lives as long as the
/// container and would crowd out the host's own interfaces.
fn network_usage(dev: &str) -> Vec<NetworkUsage> {
    let mut out: Vec<NetworkUsage> = dev
        .lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            let counters: Vec<u64> = counters
                .split_whitespace()
                .map(|c| c.parse().ok())
                .collect::<Option<_>>()?;
            // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
            (counters.len() >= 9 && !name.starts_with("veth")).then(|| NetworkUsage {
                interface: name.to_string(),
                bytes_sent: counters[8],
                bytes_recv: counters[0],
            })
        })
        .collect();
    out.sort_by(|a, b| a.interface.cmp(&b.interface));
    out.truncate(MAX_DEVICES);
    out
}

/// A mount inside a container engine's data folder (`/var/lib/docker/...`), but not the folder itself.
fn is_engine_mount(mount_point: &std::path::Path) -> bool {
    mount_point.components().count() > 4
        && mount_point.to_string_lossy().starts_with("/var/lib/docker")
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

/// Resident memory of this process.
pub fn manager_rss_bytes() -> u64 {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate};
    let Ok(pid) = sysinfo::get_current_pid() else {
        return 0;
    };
    let Ok(mut system) = System::new() else {
        return 0;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    system.process(pid).map(|p| p.memory()).unwrap_or(0)
}

/// One sampling round; each bot's id and name are shared with `previous`'s entry for it. The probe
/// comes back with the sample (it is read on the blocking pool); `None` if that thread panicked.
pub async fn sample_once(
    fleet: &Fleet,
    mut host: HostProbe,
    concurrency: usize,
    previous: Option<&Sample>,
) -> (Option<HostProbe>, Sample) {
    let known: HashMap<&str, &InstanceSample> = previous
        .map(|p| p.instances.iter().map(|i| (&*i.instance_id, i)).collect())
        .unwrap_or_default();
    let known = &known;
    let (host, reading) = match tokio::task::spawn_blocking(move || {
        let reading = host.sample();
        (host, reading)
    })
    .await
    {
        Ok((host, reading)) => (Some(host), Some(reading)),
        Err(_) => (None, None),
    };
    let reading = reading.unwrap_or_else(|| HostReading {
        host: HostSample::default(),
        disks: Vec::new(),
        networks: Vec::new(),
    });
    let containers = fleet.runtime.engine_container_counts().await.ok();
    let records = fleet.cache.list();
    let instances_total = records.len();
    let instances_running = records
        .iter()
        .filter(|r| r.status == crate::domain::InstanceStatus::Running)
        .count();
    let database_ok = fleet.store.ping().await;
    // Only containers meant to run use CPU and memory worth sampling.
    let live = records.into_iter().filter(|r| {
        use crate::domain::InstanceStatus::*;
        matches!(r.status, Starting | Running | Degraded | Failed)
    });
    let instances: Vec<InstanceSample> = futures::stream::iter(live)
        .map(|r| async move {
            let usage = fleet.runtime.worker_usage(&r.id).await.ok().flatten()?;
            let (instance_id, display_name) = match known.get(r.id.as_str()) {
                Some(k) if *k.display_name == *r.display_name => {
                    (k.instance_id.clone(), k.display_name.clone())
                }
                Some(k) => (k.instance_id.clone(), r.display_name.as_str().into()),
                None => (r.id.as_str().into(), r.display_name.as_str().into()),
            };
            Some(InstanceSample {
                instance_id,
                display_name,
                status: r.status,
                usage,
            })
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|s| async move { s })
        .collect()
        .await;
    let sample = Sample {
        at: now_ms(),
        host: reading.host,
        disks: reading.disks,
        networks: reading.networks,
        containers,
        instances,
        bot_detail: true,
        manager_rss_bytes: manager_rss_bytes(),
        database_ok,
        instances_total,
        instances_running,
    };
    (host, sample)
}

/// Samples every `interval` until `stop`; `after_sample` runs on each new sample (metrics, alerts).
pub async fn run(
    fleet: Arc<Fleet>,
    resources: Arc<Resources>,
    mut host: HostProbe,
    interval: Duration,
    after_sample: impl Fn(Arc<Sample>) + Send + 'static,
    stop: watch::Receiver<bool>,
) {
    let mut every = super::Every::new(interval, stop);
    let limits = super::host_limits::HostLimits::default();
    while every.tick().await {
        let previous = resources.latest();
        let (probe, sample) = sample_once(&fleet, host, 16, previous.as_deref()).await;
        // The engine's containers run on this host only with plain Docker (Swarm spreads them).
        if let (RuntimeKind::Docker, Some((_, running))) = (fleet.runtime.kind(), sample.containers)
        {
            limits.check(running as u64);
        }
        let Some(probe) = probe else {
            tracing::error!("the host probe panicked; resource sampling stops");
            return;
        };
        host = probe;
        let sample = Arc::new(sample);
        resources.push(sample.clone());
        after_sample(sample);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn sample(at: i64, bots: usize) -> Arc<Sample> {
        let id: Arc<str> = "bot".into();
        Arc::new(Sample {
            at,
            host: HostSample::default(),
            disks: Vec::new(),
            networks: Vec::new(),
            containers: None,
            instances: (0..bots)
                .map(|_| InstanceSample {
                    instance_id: id.clone(),
                    display_name: id.clone(),
                    status: crate::domain::InstanceStatus::Running,
                    usage: ContainerUsage::default(),
                })
                .collect(),
            bot_detail: true,
            manager_rss_bytes: 0,
            database_ok: true,
            instances_total: bots,
            instances_running: bots,
        })
    }

    /// Per-bot figures stay in every sample of the last five minutes, and in one a minute before.
    #[test]
    fn old_samples_keep_bot_figures_once_a_minute() {
        let resources = Resources::new(Duration::from_secs(3600));
        // A second past a minute's start, half an hour ago.
        let start = (now_ms() - 30 * 60_000).div_euclid(60_000) * 60_000 + 1_000;
        let now = start + 360 * 5_000;
        // One sample every 5 s for 30 minutes, pushed as they would be taken.
        for k in 0..=360 {
            let at = start + k * 5_000;
            let mut history = resources.history.write().unwrap();
            history.samples.push_back(sample(at, 3));
            history.thin(at);
        }
        let kept = resources.between(start, i64::MAX);
        assert_eq!(kept.len(), 361, "every sample stays, with its host figures");
        for s in &kept {
            let recent = s.at >= now - FULL_DETAIL_MS;
            let minute_start = s.at.rem_euclid(THINNED_EVERY_MS) < 5_000;
            assert_eq!(s.bot_detail, recent || minute_start, "{}", now - s.at);
            assert_eq!(s.instances.len(), if s.bot_detail { 3 } else { 0 });
            assert_eq!(s.host, HostSample::default());
        }
        let detailed = kept.iter().filter(|s| s.bot_detail).count();
        assert!(
            (60..=90).contains(&detailed),
            "{detailed} samples kept bot figures"
        );
    }

    #[test]
    fn interfaces_come_from_proc_net_dev_without_veth_ends() {
        let dev = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3194      29    0    0    0     0       0          0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
vethab12: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0
";
        let found = network_usage(dev);
        assert_eq!(
            found
                .iter()
                .map(|n| (n.interface.as_str(), n.bytes_recv, n.bytes_sent))
                .collect::<Vec<_>>(),
            [("eth0", 1000, 2000), ("lo", 3193, 3194)]
        );
    }

    #[test]
    fn container_mounts_are_not_host_disks() {
        assert!(!is_engine_mount(Path::new("/")));
        assert!(!is_engine_mount(Path::new("/var/lib/docker")));
        assert!(is_engine_mount(Path::new(
            "/var/lib/docker/fuse-overlayfs/1c29/merged"
        )));
        assert!(!is_engine_mount(Path::new("/var/lib/postgresql/data")));
    }

    #[test]
    fn a_reading_lists_the_host_disks_and_interfaces() {
        let mut probe = HostProbe::new(std::env::temp_dir()).expect("sysinfo");
        let reading = probe.sample();
        assert!(
            reading
                .disks
                .iter()
                .any(|d| d.total > 0 && d.used <= d.total),
            "{:?}",
            reading.disks.iter().map(|d| &d.path).collect::<Vec<_>>()
        );
        assert!(
            reading.networks.iter().any(|n| n.interface == "lo"),
            "{:?}",
            reading
                .networks
                .iter()
                .map(|n| &n.interface)
                .collect::<Vec<_>>()
        );
        assert!(
            reading
                .networks
                .iter()
                .all(|n| !n.interface.starts_with("veth"))
        );
        assert!(reading.disks.len() <= MAX_DEVICES && reading.networks.len() <= MAX_DEVICES);
    }
}
