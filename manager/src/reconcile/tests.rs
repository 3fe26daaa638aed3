//! The reconciler's decisions carried out against the in-memory runtime and a real SQLite file: what it
//! asks the runtime to do, and what it writes.

use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    cache::InstanceCache,
    domain::{DesiredState, Interface, NewInstance},
    op_locks::Operations,
    ports::PortAllocator,
    runtime::{RuntimeReader, memory::MemoryRuntime},
    store::Store,
    verbs::Verbs,
};

struct World {
    reconciler: Arc<Reconciler>,
    runtime: Arc<MemoryRuntime>,
    verbs: Verbs,
    _db: tempfile_path::TempDb,
}

mod tempfile_path {
    /// A SQLite file removed when the test ends.
    pub struct TempDb(pub std::path::PathBuf);
    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

async fn world() -> World {
    world_with(Default::default()).await
}

/// A world with this outbound policy (`--outbound-allow`, `--outbound-deny`).
async fn world_with(outbound: netguard::Policy) -> World {
    let path = std::env::temp_dir().join(format!("bf-unit-{}.db", uuid::Uuid::new_v4()));
    let store = Store::new(
        crate::db::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
        Arc::new(crate::seal::Sealer::ephemeral()),
    );
    let runtime = MemoryRuntime::new();
    let fleet = Arc::new(Fleet {
        store,
        cache: InstanceCache::default(),
        runtime: RuntimeReader::new(runtime.clone()),
        ports: PortAllocator::new(
            41_000..=41_100,
            std::net::Ipv4Addr::LOCALHOST.into(),
            Arc::default(),
        ),
        ops: Operations::default(),
        events: tokio::sync::broadcast::channel(64).0,
        platform_urls: crate::runtime::PlatformUrls {
            telegram_api: "http://127.0.0.1:1".into(),
            discord_api: "http://127.0.0.1:1".into(),
            discord_gateway: "ws://127.0.0.1:1".into(),
            slack_api: "http://127.0.0.1:1".into(),
            whatsapp_api: "http://127.0.0.1:1".into(),
            callbacks: "http://127.0.0.1:1/api/v1/webhooks".into(),
        },
        writes: crate::writes::InstanceWrites::default(),
        observed: Default::default(),
        outbound: netguard::Outbound::new(outbound).unwrap(),
    });
    let policy = CrashPolicy {
        base_backoff_ms: 10,
        ..CrashPolicy::default()
    };
    let (reconciler, triggers) = Reconciler::new(
        fleet,
        runtime.clone(),
        policy,
        crate::leadership::Leader::sole(),
    );
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(
        reconciler
            .clone()
            .run(triggers, Duration::from_secs(3600), stop_rx),
    );
    std::mem::forget(_stop);
    World {
        verbs: Verbs {
            reconciler: reconciler.clone(),
            timeout: Duration::from_secs(5),
        },
        reconciler,
        runtime,
        _db: tempfile_path::TempDb(path),
    }
}

fn new_bot(token: &str) -> NewInstance {
    NewInstance {
        user_id: "u".into(),
        provider: shared::Provider::Telegram,
        type_instance: vec![Interface::Api],
        credentials: shared::api::credentials::Credentials::telegram(token),
        agno_config: None,
        placement: vec![],
        labels: Default::default(),
        receive: None,
    }
}

impl World {
    fn record(&self, id: &str) -> InstanceRecord {
        (*self.reconciler.fleet.cache.get(id).unwrap()).clone()
    }
    fn calls(&self) -> (usize, usize, usize) {
        let c = self.runtime.calls.lock().unwrap();
        (c.runs, c.stops, c.removes)
    }
}

#[tokio::test]
async fn a_create_is_made_by_the_reconciler_with_the_runtimes_endpoint() {
    let w = world().await;
    let p = w
        .verbs
        .create(new_bot("1:aaaaaaaaaaaaaaaaaaaa"))
        .await
        .unwrap();
    let r = p.record;
    assert_eq!(r.status, InstanceStatus::Starting);
    assert_eq!(r.observed_revision, r.revision);
    assert_eq!(
        r.endpoint.as_deref(),
        Some(format!("127.0.0.1:{}", r.port).as_str())
    );
    assert!(w.runtime.worker(&r.id).unwrap().running);
    assert_eq!(w.calls().0, 1);
}

#[tokio::test]
async fn a_converge_of_a_running_worker_changes_nothing() {
    let w = world().await;
    let id = w
        .verbs
        .create(new_bot("1:bbbbbbbbbbbbbbbbbbbb"))
        .await
        .unwrap()
        .record
        .id;
    let before = w.record(&id);
    let calls = w.calls();
    w.reconciler
        .converge(&id, Source::Reconciler)
        .await
        .unwrap();
    w.reconciler
        .converge(&id, Source::Reconciler)
        .await
        .unwrap();
    assert_eq!(
        w.calls(),
        calls,
        "no runtime verb for a worker that is as wanted"
    );
    assert_eq!(w.record(&id).version, before.version, "and no write");
}

#[tokio::test]
async fn a_crash_backs_off_then_restarts_and_a_crash_loop_ends_failed() {
    let w = world().await;
    let id = w
        .verbs
        .create(new_bot("1:cccccccccccccccccccc"))
        .await
        .unwrap()
        .record
        .id;
    w.runtime.crash(&id, 3);
    let outcome = w
        .reconciler
        .converge(&id, Source::DockerEvent)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::RetryAt(_)), "{outcome:?}");
    let r = w.record(&id);
    assert_eq!((r.status, r.crash_count), (InstanceStatus::Restarting, 1));
    // The retry the converge scheduled starts it again after the backoff.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w.runtime.worker(&id).unwrap().running);
    assert_eq!(w.record(&id).status, InstanceStatus::Starting);
    for _ in 0..10 {
        if w.record(&id).status == InstanceStatus::Failed {
            break;
        }
        w.runtime.crash(&id, 1);
        w.reconciler
            .converge(&id, Source::DockerEvent)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let r = w.record(&id);
    assert_eq!(r.status, InstanceStatus::Failed, "{:?}", r.status_reason);
    // A user restart forgives it and gives it a fresh worker.
    let r = w.verbs.restart(&id).await.unwrap();
    assert_eq!((r.status, r.crash_count), (InstanceStatus::Starting, 0));
}

#[tokio::test]
async fn a_worker_removed_behind_our_back_is_recreated_and_an_orphan_removed() {
    let w = world().await;
    let id = w
        .verbs
        .create(new_bot("1:dddddddddddddddddddd"))
        .await
        .unwrap()
        .record
        .id;
    w.runtime.vanish(&id);
    w.reconciler.full_pass().await;
    assert!(w.runtime.worker(&id).is_some());
    assert!(w.record(&id).status_reason.unwrap().contains("missing"));
    // A worker no instance owns.
    let other = w
        .verbs
        .create(new_bot("1:eeeeeeeeeeeeeeeeeeee"))
        .await
        .unwrap()
        .record
        .id;
    w.reconciler.fleet.forget(&other).await.unwrap();
    w.reconciler.full_pass().await;
    assert!(w.runtime.worker(&other).is_none());
}

#[tokio::test]
async fn verbs_write_the_spec_and_the_reconciler_acts_once() {
    let w = world().await;
    let id = w
        .verbs
        .create(new_bot("1:ffffffffffffffffffff"))
        .await
        .unwrap()
        .record
        .id;
    let r = w.verbs.stop(&id).await.unwrap();
    assert_eq!(
        (r.status, r.desired_state),
        (InstanceStatus::Stopped, DesiredState::Stopped)
    );
    assert!(!w.runtime.worker(&id).unwrap().running);
    let runs = w.calls().0;
    let r = w.verbs.start(&id).await.unwrap();
    assert_eq!(r.status, InstanceStatus::Starting);
    assert_eq!(w.calls().0, runs + 1, "one start, one worker");
    // A verb in flight refuses a second one by name.
    let _held = w.reconciler.fleet.ops.try_begin(&id, "restart").unwrap();
    let err = w.verbs.stop(&id).await.err().unwrap();
    assert!(err.to_string().contains("restart is in progress"), "{err}");
    drop(_held);
    w.verbs.delete(&id).await.unwrap();
    assert!(w.reconciler.fleet.cache.get(&id).is_none());
    assert!(w.runtime.worker(&id).is_none());
}

#[tokio::test]
async fn the_outbound_allowlist_reaches_the_worker_and_its_configuration_digest() {
    let plain = world().await;
    let allowing = world_with(netguard::Policy::allowing(
        "10.0.0.0/8, fd00::/8".parse().unwrap(),
    ))
    .await;
    let r = plain
        .verbs
        .create(new_bot("1:dddddddddddddddddddd"))
        .await
        .unwrap()
        .record;
    let (plain, allowing) = (&plain.reconciler.fleet, &allowing.reconciler.fleet);
    assert_eq!(
        plain.worker_spec(&r, "").outbound_env(),
        ["BOTFLEET_OUTBOUND_ALLOW=", "BOTFLEET_OUTBOUND_DENY="]
    );
    assert_eq!(
        allowing.worker_spec(&r, "").outbound_env(),
        [
            "BOTFLEET_OUTBOUND_ALLOW=10.0.0.0/8,fd00::/8",
            "BOTFLEET_OUTBOUND_DENY="
        ]
    );
    // A changed list is a configuration change: `process` recreates the worker with it.
    assert_ne!(plain.config_digest(&r), allowing.config_digest(&r));
    assert_eq!(
        r.applied_config_sha256.as_deref(),
        Some(plain.config_digest(&r).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_creates_reaches_the_engine_a_few_at_a_time() {
    let w = world().await;
    *w.runtime.run_delay.lock().unwrap() = Duration::from_millis(40);
    let creates = (0..40).map(|i| w.verbs.create(new_bot(&format!("1:burst{i:015}"))));
    for created in futures::future::join_all(creates).await {
        assert_eq!(created.unwrap().record.status, InstanceStatus::Starting);
    }
    let most = w
        .runtime
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=super::MAX_CONVERGING).contains(&most),
        "{most} workers were being made at once"
    );
}
