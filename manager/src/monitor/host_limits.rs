//! Kernel limits a dense host runs into before its memory or CPU does, checked at every resource sample
//! against the workers and threads the host holds, with a warning when one is near (once per crossing).
//!
//! - **The neighbour (ARP) table**: the host reaches each worker at its own address, one entry each.
//!   Linux keeps at most `gc_thresh3` entries (1,024 by default) and starts refusing new ones past
//!   `gc_thresh2` (512): workers beyond it cannot be reached and stay "starting" (seen at 1,000 bots on a
//!   default kernel: 488 stuck, "neighbor table overflow" in the kernel's log).
//! - **Threads**: every worker costs the host ≈ 14–21 threads (its containerd shim, Docker's proxy of its
//!   port, its own two); past `kernel.pid_max` (32,768 by default) no process of the host can start one,
//!   the engine and the manager included (seen at 1,473 bots).

use std::sync::atomic::{AtomicBool, Ordering};

/// The kernel's figures, as read from `/proc` (`None` where unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readings {
    /// `net.ipv4.neigh.default.gc_thresh2`.
    pub neighbour_soft_limit: Option<u64>,
    /// Threads on the host now (`/proc/loadavg`).
    pub threads: Option<u64>,
    /// The lower of `kernel.pid_max` and `kernel.threads-max`.
    pub thread_limit: Option<u64>,
}

impl Readings {
    pub fn of_this_host() -> Self {
        let number = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let threads = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
            // "0.10 0.20 0.30 2/1234 5678": runnable/total scheduling entities.
            s.split_whitespace().nth(3)?.split_once('/')?.1.parse().ok()
        });
        let thread_limit = match (
            number("/proc/sys/kernel/pid_max"),
            number("/proc/sys/kernel/threads-max"),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            neighbour_soft_limit: number("/proc/sys/net/ipv4/neigh/default/gc_thresh2"),
            threads,
            thread_limit,
        }
    }
}

/// A limit that is near.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Near {
    /// Live workers at or past the neighbour table's soft limit.
    Neighbours { workers: u64, limit: u64 },
    /// Threads past 80 % of the limit.
    Threads { threads: u64, limit: u64 },
}

/// Which limits are near with `workers` live workers on this host.
pub fn near(readings: Readings, workers: u64) -> (Option<Near>, Option<Near>) {
    let neighbours = readings
        .neighbour_soft_limit
        .filter(|&limit| workers >= limit)
        .map(|limit| Near::Neighbours { workers, limit });
    let threads = match (readings.threads, readings.thread_limit) {
        (Some(threads), Some(limit)) if threads * 5 >= limit * 4 => {
            Some(Near::Threads { threads, limit })
        }
        _ => None,
    };
    (neighbours, threads)
}

/// Warns once each time a limit becomes near, and again only after it was clear.
#[derive(Default)]
pub struct HostLimits {
    neighbours_warned: AtomicBool,
    threads_warned: AtomicBool,
}

impl HostLimits {
    /// Checks this host with `workers` live workers on it.
    pub fn check(&self, workers: u64) {
        let (neighbours, threads) = near(Readings::of_this_host(), workers);
        if once(&self.neighbours_warned, neighbours.is_some())
            && let Some(Near::Neighbours { workers, limit }) = neighbours
        {
            tracing::warn!(
                workers,
                limit,
                "{workers} workers run here and the kernel's neighbour table keeps about {limit} \
                 addresses (net.ipv4.neigh.default.gc_thresh2): workers past it cannot be reached; raise \
                 net.ipv4.neigh.default.gc_thresh1/2/3 (e.g. to 2 × workers + 1,024 for gc_thresh3)"
            );
        }
        if once(&self.threads_warned, threads.is_some())
            && let Some(Near::Threads { threads, limit }) = threads
        {
            tracing::warn!(
                threads,
                limit,
                "{threads} threads run on this host, near the kernel's limit of {limit} \
                 (kernel.pid_max, kernel.threads-max): past it no process here, the engine included, can \
                 start a thread; raise kernel.pid_max (and set Docker's \"userland-proxy\": false)"
            );
        }
    }
}

/// `true` when `near` turned true since the last call.
fn once(warned: &AtomicBool, near: bool) -> bool {
    let was = warned.swap(near, Ordering::Relaxed);
    near && !was
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(neighbours: u64, threads: u64, limit: u64) -> Readings {
        Readings {
            neighbour_soft_limit: Some(neighbours),
            threads: Some(threads),
            thread_limit: Some(limit),
        }
    }

    #[test]
    fn the_neighbour_table_is_near_once_the_workers_reach_its_soft_limit() {
        assert_eq!(near(readings(512, 100, 32_768), 511).0, None);
        assert_eq!(
            near(readings(512, 100, 32_768), 512).0,
            Some(Near::Neighbours {
                workers: 512,
                limit: 512
            })
        );
    }

    #[test]
    fn threads_are_near_past_four_fifths_of_the_limit() {
        assert_eq!(near(readings(512, 26_000, 32_768), 0).1, None);
        assert_eq!(
            near(readings(512, 26_215, 32_768), 0).1,
            Some(Near::Threads {
                threads: 26_215,
                limit: 32_768
            })
        );
    }

    #[test]
    fn unreadable_figures_are_never_near() {
        assert_eq!(near(Readings::default(), 10_000), (None, None));
    }

    #[test]
    fn a_warning_is_given_once_per_crossing() {
        let warned = AtomicBool::new(false);
        assert!(once(&warned, true));
        assert!(!once(&warned, true));
        assert!(!once(&warned, false));
        assert!(once(&warned, true));
    }

    #[test]
    fn this_host_reads_its_limits() {
        let r = Readings::of_this_host();
        assert!(r.neighbour_soft_limit.is_some_and(|l| l > 0), "{r:?}");
        assert!(r.threads.is_some_and(|t| t > 0), "{r:?}");
        assert!(r.thread_limit.is_some_and(|l| l > 0), "{r:?}");
    }
}
