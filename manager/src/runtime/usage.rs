//! A worker container's CPU and memory, read from its cgroup files when the engine runs on this host,
//! from Docker's stats otherwise.
//!
//! Docker's stats endpoint (`stream=false`) waits about a second for a second CPU reading and costs the
//! engine a JSON document per container: sampling 2,000 bots every 5 s that way keeps the engine busy
//! and each round ~2 minutes long. The kernel's files for the same figures cost microseconds. The
//! container's cgroup is found once, through its main process (`/proc/<pid>/cgroup`), and is trusted
//! only when its path names the container's full id: that rules out an engine on another host (whose
//! pid means nothing here), a reused pid, and a manager in a cgroup namespace that cannot see it. CPU
//! use is the change of the cgroup's CPU time between two readings, so a container's first reading
//! shows none.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bollard::{Docker, query_parameters::InspectContainerOptions};

use super::{ContainerUsage, RuntimeError, docker::container_stats, is_not_found};

/// Where cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// v1 reports "no limit" as a huge number: a limit above the host's memory is the host's memory, as
/// Docker reports it.
fn effective_limit(limit: u64, host_memory: u64) -> u64 {
    if host_memory > 0 && (limit == 0 || limit > host_memory) {
        host_memory
    } else {
        limit
    }
}

/// The files a container's figures are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cgroup {
    /// cgroup v1: the memory and cpuacct hierarchies.
    V1 { memory: PathBuf, cpuacct: PathBuf },
    /// cgroup v2: one directory.
    V2(PathBuf),
}

/// One reading of a cgroup's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    cpu_ns: u64,
    memory: u64,
    inactive_file: u64,
    limit: Option<u64>,
}

impl Cgroup {
    /// The cgroup of the container whose main process is `pid`, if its path names `container_id` and its
    /// files can be read here.
    fn of_process(root: &Path, pid: i64, container_id: &str) -> Option<Self> {
        if pid <= 0 || container_id.len() < 12 {
            return None;
        }
        let listing = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let found = Self::from_listing(root, &listing, container_id)?;
        found.read().ok().map(|_| found)
    }

    /// Picks the directories out of a `/proc/<pid>/cgroup` listing (v1 controllers first: on a hybrid
    /// host the memory figures are in v1).
    fn from_listing(root: &Path, listing: &str, container_id: &str) -> Option<Self> {
        let mut memory = None;
        let mut cpuacct = None;
        let mut unified = None;
        for line in listing.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !path.contains(container_id) {
                continue;
            }
            let relative = path.trim_start_matches('/');
            for controller in controllers.split(',') {
                match controller {
                    "memory" => memory = Some(root.join("memory").join(relative)),
                    "cpuacct" => cpuacct = Some(root.join("cpuacct").join(relative)),
                    _ => {}
                }
            }
            if controllers.is_empty() {
                unified = Some(root.join(relative));
            }
        }
        match (memory, cpuacct, unified) {
            (Some(memory), Some(cpuacct), _) => Some(Self::V1 { memory, cpuacct }),
            (_, _, Some(dir)) => Some(Self::V2(dir)),
            _ => None,
        }
    }

    fn read(&self) -> std::io::Result<Reading> {
        match self {
            Self::V1 { memory, cpuacct } => {
                let stat = std::fs::read_to_string(memory.join("memory.stat"))?;
                Ok(Reading {
                    cpu_ns: read_number(&cpuacct.join("cpuacct.usage"))?,
                    memory: read_number(&memory.join("memory.usage_in_bytes"))?,
                    inactive_file: stat_field(&stat, "total_inactive_file").unwrap_or(0),
                    limit: read_number(&memory.join("memory.limit_in_bytes")).ok(),
                })
            }
            Self::V2(dir) => {
                let stat = std::fs::read_to_string(dir.join("memory.stat"))?;
                let cpu = std::fs::read_to_string(dir.join("cpu.stat"))?;
                // "max" when unlimited.
                let limit = std::fs::read_to_string(dir.join("memory.max"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                Ok(Reading {
                    cpu_ns: stat_field(&cpu, "usage_usec")
                        .ok_or_else(|| invalid("cpu.stat without usage_usec"))?
                        .saturating_mul(1_000),
                    memory: read_number(&dir.join("memory.current"))?,
                    inactive_file: stat_field(&stat, "inactive_file").unwrap_or(0),
                    limit,
                })
            }
        }
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn read_number(path: &Path) -> std::io::Result<u64> {
    std::fs::read_to_string(path)?
        .trim()
        .parse()
        .map_err(|_| invalid("not a number"))
}

/// `name value` lines (`memory.stat`, `cpu.stat`).
fn stat_field(stat: &str, name: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// What is known of one container.
enum Source {
    Cgroup {
        cgroup: Arc<Cgroup>,
        /// The previous reading's CPU time and when it was taken.
        last: Option<(u64, Instant)>,
    },
    /// Its cgroup was not readable here (since then): Docker's stats, until the cgroup is looked for
    /// again.
    Stats(Instant),
}

/// How long a container whose cgroup could not be read is measured through Docker's stats before its
/// cgroup is looked for again (it may have been restarting).
const LOOK_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// Reads containers' usage, remembering each one's cgroup under a key that outlives the container (its
/// name; a Swarm service's name, whose task containers come and go).
pub(crate) struct UsageReader {
    docker: Docker,
    root: PathBuf,
    host_memory: u64,
    known: Mutex<HashMap<String, Source>>,
}

impl UsageReader {
    pub(crate) fn new(docker: Docker) -> Self {
        Self {
            docker,
            root: PathBuf::from(CGROUP_ROOT),
            host_memory: host_memory_bytes(),
            known: Mutex::default(),
        }
    }

    /// The usage of `container` (a name or id), remembered under `key`; `None` when there is no such
    /// container.
    pub(crate) async fn usage(
        &self,
        key: &str,
        container: &str,
    ) -> Result<Option<ContainerUsage>, RuntimeError> {
        if let Some(usage) = self.read_cgroup(key).await {
            return Ok(Some(usage));
        }
        let use_stats = matches!(
            self.lock().get(key),
            Some(Source::Stats(since)) if since.elapsed() < LOOK_AGAIN_AFTER
        );
        if !use_stats {
            let inspected = match self
                .docker
                .inspect_container(container, None::<InspectContainerOptions>)
                .await
            {
                Ok(inspected) => inspected,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let pid = inspected.state.and_then(|s| s.pid).unwrap_or(0);
            let id = inspected.id.unwrap_or_default();
            match Cgroup::of_process(&self.root, pid, &id) {
                Some(cgroup) => {
                    self.lock().insert(
                        key.to_string(),
                        Source::Cgroup {
                            cgroup: Arc::new(cgroup),
                            last: None,
                        },
                    );
                    if let Some(usage) = self.read_cgroup(key).await {
                        return Ok(Some(usage));
                    }
                }
                // Not running (no process to follow): ask again next time.
                None if pid <= 0 => {}
                None => {
                    tracing::debug!(container, "cgroup not readable here; using Docker's stats");
                    self.lock()
                        .insert(key.to_string(), Source::Stats(Instant::now()));
                }
            }
        }
        container_stats(&self.docker, container).await
    }

    /// Forgets what is known under `key` (its container removed, or its cgroup gone).
    pub(crate) fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// From the remembered cgroup; forgets it when its files are gone (the container stopped or was
    /// replaced).
    ///
    /// The files (four small ones) are read here, and the task then yields: without it a sampling
    /// round read them for every bot in one go (4,000 reads at 1,000 bots), holding an async worker and
    /// every request queued behind it. The blocking pool is no place for them: a thousand tiny tasks
    /// every few seconds grew it to 384 threads, which never idled the 10 s it takes them to end.
    async fn read_cgroup(&self, key: &str) -> Option<ContainerUsage> {
        let (cgroup, last) = match self.lock().get(key) {
            Some(Source::Cgroup { cgroup, last }) => (cgroup.clone(), *last),
            _ => return None,
        };
        let read = cgroup.read();
        tokio::task::yield_now().await;
        let Ok(reading) = read else {
            self.forget(key);
            return None;
        };
        let now = Instant::now();
        let cpu_percent = match last {
            Some((cpu_ns, at)) if now > at => {
                let wall = now.duration_since(at).as_nanos() as f64;
                reading.cpu_ns.saturating_sub(cpu_ns) as f64 / wall * 100.0
            }
            _ => 0.0,
        };
        if let Some(Source::Cgroup { last, .. }) = self.lock().get_mut(key) {
            *last = Some((reading.cpu_ns, now));
        }
        Some(ContainerUsage {
            cpu_percent,
            memory_bytes: reading.memory.saturating_sub(reading.inactive_file),
            memory_limit_bytes: effective_limit(reading.limit.unwrap_or(0), self.host_memory),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Source>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The host's memory (`MemTotal` of `/proc/meminfo`), 0 when unknown.
fn host_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b";

    #[test]
    fn v1_listing_names_the_memory_and_cpuacct_directories() {
        let listing = format!(
            "9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n2:cpu,cpuacct:/docker/{ID}\n0::/\n"
        );
        let found = Cgroup::from_listing(Path::new("/cg"), &listing, ID).unwrap();
        assert_eq!(
            found,
            Cgroup::V1 {
                memory: PathBuf::from(format!("/cg/memory/docker/{ID}")),
                cpuacct: PathBuf::from(format!("/cg/cpuacct/docker/{ID}")),
            }
        );
    }

    #[test]
    fn v2_listing_names_the_unified_directory() {
        let listing = format!("0::/system.slice/docker-{ID}.scope\n");
        let found = Cgroup::from_listing(Path::new("/cg"), &listing, ID).unwrap();
        assert_eq!(
            found,
            Cgroup::V2(PathBuf::from(format!("/cg/system.slice/docker-{ID}.scope")))
        );
    }

    /// A pid of another host's engine, or reused by another process, has a cgroup that does not name
    /// the container: it is not read.
    #[test]
    fn a_cgroup_not_naming_the_container_is_not_used() {
        let listing = "4:memory:/process_api/abc\n2:cpuacct:/\n0::/\n";
        assert_eq!(Cgroup::from_listing(Path::new("/cg"), listing, ID), None);
    }

    #[test]
    fn v2_files_give_cpu_time_memory_without_inactive_files_and_the_limit() {
        let dir = std::env::temp_dir().join(format!("botfleet-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.current"), "10485760\n").unwrap();
        std::fs::write(
            dir.join("memory.stat"),
            "anon 4096\nactive_file 0\ninactive_file 1048576\n",
        )
        .unwrap();
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        )
        .unwrap();
        let reading = Cgroup::V2(dir.clone()).read().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            reading,
            Reading {
                cpu_ns: 2_500_000,
                memory: 10_485_760,
                inactive_file: 1_048_576,
                limit: None,
            }
        );
        assert_eq!(effective_limit(u64::MAX / 2, 1 << 30), 1 << 30);
        assert_eq!(effective_limit(256 << 20, 1 << 30), 256 << 20);
    }
}
