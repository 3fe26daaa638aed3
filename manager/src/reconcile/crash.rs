//! The crash-loop guard: a worker that exits on its own is restarted after an exponentially growing
//! wait, and after too many crashes in a row it is left `failed` until a user restarts it.

use crate::domain::{InstanceRecord, InstanceStatus};

#[derive(Debug, Clone, Copy)]
pub struct CrashPolicy {
    /// Wait before the first restart; doubled for each further crash in a row.
    pub base_backoff_ms: i64,
    pub max_backoff_ms: i64,
    /// Crashes in a row after which the instance is `failed`.
    pub max_crashes: i64,
    /// A worker running this long is stable: its crash count starts again from zero.
    pub stable_after_ms: i64,
}

impl Default for CrashPolicy {
    fn default() -> Self {
        Self {
            base_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            max_crashes: 5,
            stable_after_ms: 30_000,
        }
    }
}

impl CrashPolicy {
    /// Wait before restart number `crashes` (1-based).
    pub fn backoff_ms(&self, crashes: i64) -> i64 {
        let doublings = (crashes - 1).clamp(0, 20) as u32;
        self.base_backoff_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_backoff_ms)
    }

    /// Records a crash: `restarting` with a backoff, or `failed` past the limit.
    pub fn record_crash(&self, r: &mut InstanceRecord, exit_code: Option<i64>, now: i64) {
        let what = match exit_code {
            Some(code) => format!("worker exited with code {code}"),
            None => "worker container stopped".to_string(),
        };
        self.record_failure(r, what, now);
    }

    /// Records a start Docker refused (e.g. the port is still held): it backs off and counts like a crash,
    /// so it is retried soon and a lasting cause ends in `failed` with the reason.
    pub fn record_failed_start(&self, r: &mut InstanceRecord, error: &str, now: i64) {
        self.record_failure(r, format!("worker did not start: {error}"), now);
    }

    fn record_failure(&self, r: &mut InstanceRecord, what: String, now: i64) {
        r.crash_count += 1;
        r.health_ok = false;
        r.running_since = None;
        r.error_count += 1;
        r.last_error = Some(what.clone());
        if r.crash_count >= self.max_crashes {
            r.status = InstanceStatus::Failed;
            r.status_reason = Some(format!(
                "{what}; it crashed {} times in a row, so it is left stopped until restarted",
                r.crash_count
            ));
            r.next_restart_at = None;
        } else {
            let wait = self.backoff_ms(r.crash_count);
            r.status = InstanceStatus::Restarting;
            r.status_reason = Some(format!(
                "{what}; restart {} of {} in {wait} ms",
                r.crash_count,
                self.max_crashes - 1
            ));
            r.next_restart_at = Some(now + wait);
        }
    }

    /// Forgets past crashes once the worker has been running long enough.
    pub fn note_running(&self, r: &mut InstanceRecord, now: i64) {
        if r.crash_count > 0
            && r.running_since
                .is_some_and(|since| now - since >= self.stable_after_ms)
        {
            r.crash_count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::health::tests::record;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = CrashPolicy::default();
        assert_eq!(p.backoff_ms(1), 1_000);
        assert_eq!(p.backoff_ms(2), 2_000);
        assert_eq!(p.backoff_ms(4), 8_000);
        assert_eq!(p.backoff_ms(30), 60_000);
    }

    #[test]
    fn too_many_crashes_in_a_row_fail_the_instance() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Running);
        for n in 1..p.max_crashes {
            p.record_crash(&mut r, Some(1), 0);
            assert_eq!(r.status, InstanceStatus::Restarting, "crash {n}");
            assert_eq!(r.next_restart_at, Some(p.backoff_ms(n)));
        }
        p.record_crash(&mut r, Some(1), 0);
        assert_eq!(r.status, InstanceStatus::Failed);
        assert!(r.status_reason.unwrap().contains("crashed 5 times"));
        assert_eq!(r.error_count, 5);
    }

    #[test]
    fn a_refused_start_backs_off_like_a_crash() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Restarting);
        p.record_failed_start(&mut r, "port is already allocated", 5);
        assert_eq!(r.status, InstanceStatus::Restarting);
        assert_eq!(r.next_restart_at, Some(5 + p.backoff_ms(1)));
        assert!(
            r.status_reason
                .unwrap()
                .starts_with("worker did not start: port is already allocated")
        );
    }

    #[test]
    fn a_stable_worker_forgets_its_crashes() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Running);
        r.crash_count = 3;
        r.running_since = Some(0);
        p.note_running(&mut r, 10_000);
        assert_eq!(r.crash_count, 3);
        p.note_running(&mut r, 30_000);
        assert_eq!(r.crash_count, 0);
    }
}
