//! Timings the manager keeps about itself: port assignments and HTTP requests, with concurrency peaks.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use shared::api::resources::{PortAssignmentStats, RequestStats};

/// Durations kept for percentiles.
const KEPT: usize = 1000;

#[derive(Default)]
pub struct Performance {
    port_assignments: Mutex<VecDeque<f64>>,
    port_failures: AtomicU64,
    requests: AtomicU64,
    request_ms_total: Mutex<f64>,
    in_flight: AtomicI64,
    peak_in_flight: AtomicI64,
}

/// Summary of a set of durations, in ms.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub count: usize,
    pub average_ms: f64,
    pub min_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Timings {
    fn of(values: &VecDeque<f64>) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            sorted
                .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Self {
            count: sorted.len(),
            average_ms: if sorted.is_empty() {
                0.0
            } else {
                sorted.iter().sum::<f64>() / sorted.len() as f64
            },
            min_ms: pick(0.0),
            p99_ms: pick(0.99),
            max_ms: pick(1.0),
        }
    }
}

impl Performance {
    pub fn record_port_assignment(&self, took: Duration, ok: bool) {
        if !ok {
            self.port_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut kept = self
            .port_assignments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(took.as_secs_f64() * 1e3);
    }

    /// Marks a request as started; the returned guard marks it finished.
    pub fn request_started(&self) -> RequestGuard<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        RequestGuard {
            perf: self,
            started: std::time::Instant::now(),
        }
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Port assignment timings and request figures.
    pub fn report(&self) -> (PortAssignmentStats, RequestStats) {
        let ports = Timings::of(
            &self
                .port_assignments
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let requests = self.requests.load(Ordering::Relaxed);
        let total_ms = *self
            .request_ms_total
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (
            PortAssignmentStats {
                successful_requests: ports.count as u64,
                failed_requests: self.port_failures.load(Ordering::Relaxed),
                average_time: ports.average_ms,
                min_time: ports.min_ms,
                p99_time: ports.p99_ms,
                max_time: ports.max_ms,
            },
            RequestStats {
                total: requests,
                average_response_time: if requests == 0 {
                    0.0
                } else {
                    total_ms / requests as f64
                },
                concurrent_requests: self.in_flight(),
                peak_concurrency: self.peak_in_flight.load(Ordering::Relaxed),
            },
        )
    }
}

pub struct RequestGuard<'a> {
    perf: &'a Performance,
    started: std::time::Instant,
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        self.perf.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.perf.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .perf
            .request_ms_total
            .lock()
            .unwrap_or_else(|e| e.into_inner()) += self.started.elapsed().as_secs_f64() * 1e3;
    }
}
