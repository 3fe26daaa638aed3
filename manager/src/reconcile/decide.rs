//! What a converge should do, decided from the instance (spec and status) and what the runtime reports.
//! Pure, so every rule is unit-tested without an engine.

use crate::{
    domain::{DesiredState, InstanceRecord, InstanceStatus},
    runtime::WorkerView,
};

/// One step towards the wanted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remove the worker and its data, then the row.
    Delete,
    /// Make sure the worker does not run; `remove` also drops a worker built from an outdated
    /// configuration (a rotated key must not come back with the next start).
    Stop { remove: bool },
    /// Replace whatever worker there is with a fresh one from the current spec.
    Create {
        reason: &'static str,
        /// A user asked for it (start, restart, process, key rotation): crashes are forgiven.
        requested: bool,
    },
    /// The worker exited although it should run: count a crash (and back off).
    RecordCrash { exit_code: Option<i64> },
    /// Start the stopped worker again (its backoff is over).
    Start,
    /// Come back at this time (unix ms): a crashed worker waits out its backoff.
    WaitUntil(i64),
    /// It runs: make sure the status says so and knows where to reach it.
    Adopt,
    /// Leave it: `failed` waits for a user.
    Hold,
}

impl Action {
    /// Whether doing it changes the worker (what was last seen of it no longer holds).
    pub fn changes_worker(&self) -> bool {
        matches!(
            self,
            Self::Delete | Self::Stop { .. } | Self::Create { .. } | Self::Start
        )
    }
}

/// Whether `r` needs no converge at all given its worker as a listing shows it: it should run, runs as
/// recorded (same container, endpoint and host), by the current configuration, with nothing requested
/// since the last look. A full pass skips such instances instead of inspecting each worker again, so
/// an idle fleet costs the engine one listing per pass.
pub fn settled(r: &InstanceRecord, listed: &WorkerView, config_current: bool) -> bool {
    !r.deleting
        && r.desired_state == DesiredState::Running
        && matches!(
            r.status,
            InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
        )
        && listed.running
        && r.restart_revision <= r.observed_revision
        && r.observed_revision >= r.revision
        && r.container_id.as_deref() == Some(listed.id.as_str())
        && listed.endpoint.is_some()
        && r.endpoint == listed.endpoint.as_ref().map(ToString::to_string)
        && r.host_id == listed.host_id
        && r.applied_config_revision == Some(r.config_revision)
        && config_current
}

/// The next step for `r`, given its worker as the runtime reports it (`None`: no worker).
pub fn decide(
    r: &InstanceRecord,
    worker: Option<&WorkerView>,
    config_current: bool,
    now: i64,
) -> Action {
    if r.deleting {
        return Action::Delete;
    }
    if r.desired_state == DesiredState::Stopped {
        return Action::Stop {
            remove: worker.is_some() && !config_current,
        };
    }
    if r.restart_revision > r.observed_revision {
        return Action::Create {
            reason: "worker (re)created on request",
            requested: true,
        };
    }
    if r.status == InstanceStatus::Failed {
        return Action::Hold;
    }
    match worker {
        None if r.status == InstanceStatus::Creating => Action::Create {
            reason: "worker started; waiting for the bot to connect",
            requested: false,
        },
        None => Action::Create {
            reason: "worker was missing; recreated",
            requested: false,
        },
        Some(w) if !w.running => {
            if matches!(
                r.status,
                InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
            ) {
                // It was meant to be up and is not: a crash.
                Action::RecordCrash {
                    exit_code: w.exit_code,
                }
            } else if let Some(at) = r.next_restart_at.filter(|at| *at > now) {
                Action::WaitUntil(at)
            } else if r.status == InstanceStatus::Creating {
                // Created but never started (the manager stopped in between).
                Action::Create {
                    reason: "worker started; waiting for the bot to connect",
                    requested: false,
                }
            } else {
                Action::Start
            }
        }
        Some(_) => Action::Adopt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::health::tests::record;

    #[test]
    fn only_a_worker_running_as_recorded_and_current_is_settled() {
        let mut w = worker(true, None);
        w.endpoint = Some(crate::runtime::Endpoint {
            host: "127.0.0.1".into(),
            port: 3001,
        });
        w.host_id = Some("h".into());
        let mut r = record(InstanceStatus::Running);
        r.container_id = Some(w.id.clone());
        r.endpoint = Some("127.0.0.1:3001".into());
        r.host_id = Some("h".into());
        r.applied_config_revision = Some(r.config_revision);
        r.observed_revision = r.revision;
        assert_eq!(w.endpoint.as_ref().unwrap().to_string(), "127.0.0.1:3001");
        assert!(settled(&r, &w, true));
        assert!(!settled(&r, &w, false), "an outdated configuration");
        type Change = dyn Fn(&mut InstanceRecord, &mut WorkerView);
        let changed: [&Change; 8] = [
            &|r, _| r.deleting = true,
            &|r, _| r.desired_state = DesiredState::Stopped,
            &|r, _| r.restart_revision = r.observed_revision + 1,
            &|r, _| r.revision = r.observed_revision + 1,
            &|r, _| r.status = InstanceStatus::Failed,
            &|_, w| w.running = false,
            &|_, w| w.id = "another".into(),
            &|r, _| r.applied_config_revision = None,
        ];
        for (n, change) in changed.iter().enumerate() {
            let (mut r, mut w) = (r.clone(), w.clone());
            change(&mut r, &mut w);
            assert!(!settled(&r, &w, true), "change {n} left it settled");
        }
    }

    fn worker(running: bool, exit_code: Option<i64>) -> WorkerView {
        WorkerView {
            id: "c1".into(),
            instance_id: Some("i".into()),
            name: "fleet-i".into(),
            state: if running { "running" } else { "exited" }.into(),
            running,
            started_at: None,
            exit_code,
            restart_count: 0,
            endpoint: None,
            host_id: None,
        }
    }

    #[test]
    fn deletion_wins_over_everything() {
        let mut r = record(InstanceStatus::Running);
        r.deleting = true;
        r.restart_revision = 9;
        assert_eq!(
            decide(&r, Some(&worker(true, None)), true, 0),
            Action::Delete
        );
    }

    #[test]
    fn a_stopped_instance_is_stopped_and_an_outdated_worker_removed() {
        let mut r = record(InstanceStatus::Running);
        r.desired_state = DesiredState::Stopped;
        assert_eq!(
            decide(&r, Some(&worker(true, None)), true, 0),
            Action::Stop { remove: false }
        );
        assert_eq!(
            decide(&r, Some(&worker(false, Some(0))), false, 0),
            Action::Stop { remove: true }
        );
        assert_eq!(decide(&r, None, false, 0), Action::Stop { remove: false });
    }

    #[test]
    fn a_requested_restart_creates_a_fresh_worker_even_from_failed() {
        let mut r = record(InstanceStatus::Failed);
        r.revision = 3;
        r.observed_revision = 2;
        r.restart_revision = 3;
        assert!(matches!(
            decide(&r, Some(&worker(true, None)), true, 0),
            Action::Create {
                requested: true,
                ..
            }
        ));
        r.observed_revision = 3;
        assert_eq!(
            decide(&r, Some(&worker(false, Some(1))), true, 0),
            Action::Hold
        );
    }

    #[test]
    fn a_worker_that_exited_while_up_is_a_crash_then_waits_then_starts() {
        let mut r = record(InstanceStatus::Running);
        let dead = worker(false, Some(3));
        assert_eq!(
            decide(&r, Some(&dead), true, 0),
            Action::RecordCrash { exit_code: Some(3) }
        );
        r.status = InstanceStatus::Restarting;
        r.next_restart_at = Some(1_000);
        assert_eq!(decide(&r, Some(&dead), true, 500), Action::WaitUntil(1_000));
        assert_eq!(decide(&r, Some(&dead), true, 1_000), Action::Start);
    }

    #[test]
    fn missing_workers_are_created_and_running_ones_adopted() {
        let r = record(InstanceStatus::Creating);
        assert!(matches!(
            decide(&r, None, true, 0),
            Action::Create {
                requested: false,
                ..
            }
        ));
        let r = record(InstanceStatus::Running);
        assert_eq!(
            decide(&r, None, true, 0),
            Action::Create {
                reason: "worker was missing; recreated",
                requested: false
            }
        );
        assert_eq!(
            decide(&r, Some(&worker(true, None)), true, 0),
            Action::Adopt
        );
    }
}
