//! Fault tests on the real engine: killed and crash-looping workers, removed containers, and manager
//! crashes and restarts. The manager's picture of the fleet must stay true through all of them.

use std::{collections::HashSet, sync::Arc, time::Duration};

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, create_body};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(60);

fn running(i: &Value) -> bool {
    i["status"] == "running"
}

async fn create(m: &Manager, token: &str) -> String {
    Created::from_body(&m.create_settled("fault", token).await).id
}

async fn history(m: &Manager, id: &str) -> Vec<Value> {
    let (_, h) = m
        .get(&format!("/api/v1/instances/{id}/status-history?limit=100"))
        .await;
    h["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_is_brought_back() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(4_000_001, "kill_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let id = create(&m, &token).await;
    let first_start = m.worker_started_at(&id);
    assert!(!first_start.is_empty(), "no running worker container");
    let polls_before_kill = fake.calls(&token, "getupdates");
    m.kill_worker(&id);
    let back = m
        .wait_for(&id, SETTLE, |i| {
            running(i) && i["memory_data"]["system_info"]["restart_count"] == 1
        })
        .await;
    assert_eq!(back["containers"][0]["running"], true);
    assert_ne!(
        m.worker_started_at(&id),
        first_start,
        "the worker was not restarted"
    );
    let entries = history(&m, &id).await;
    let crash = entries
        .iter()
        .find(|e| e["status"] == "restarting")
        .expect("no history entry for the crash");
    assert!(
        crash["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 137"),
        "{crash}"
    );
    assert_eq!(crash["source"], "reconciler");
    // Steady state: one consumer of the token. The killed worker's last long poll is left hanging (its
    // network went with it) until the new worker's first poll supersedes it: wait for that first.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while fake.calls(&token, "getupdates") <= polls_before_kill {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new worker never polled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.assert_one_consumer(&token, Duration::from_secs(3))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_exits_at_once_backs_off_then_fails() {
    let (_fake, _tg_url) = harness::start_fake_telegram().await;
    // Workers given an unusable Telegram URL exit at start with code 1.
    let mut options = ManagerOptions::new("not a url").await;
    options
        .env
        .push(("BOTFLEET_MAX_CRASHES".into(), "3".into()));
    let m = Manager::spawn(options);
    let (status, body) = m
        .post(
            "/api/v1/instances",
            &create_body("fault", "123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["instance_id"].as_str().unwrap().to_string();
    let failed = m.wait_for(&id, SETTLE, |i| i["status"] == "failed").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("crashed 3 times"),
        "{failed}"
    );
    assert_eq!(failed["memory_data"]["system_info"]["restart_count"], 2);
    let restarting: Vec<Value> = history(&m, &id)
        .await
        .into_iter()
        .filter(|e| e["status"] == "restarting")
        .collect();
    assert_eq!(restarting.len(), 2, "one backoff per crash before the last");
    // It stays failed: no more restarts happen on their own.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, again) = m.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(again["instance"]["status"], "failed");
    assert_eq!(
        again["instance"]["memory_data"]["system_info"]["restart_count"],
        2
    );
    // A user restart tries again (and the crash loop starts over).
    let (status, body) = m
        .post(
            &format!("/api/v1/instances/{id}/restart"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_removed_behind_the_managers_back_is_recreated() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(4_000_002, "gone_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let id = create(&m, &token).await;
    let (_, before) = m.get(&format!("/api/v1/instances/{id}")).await;
    let old_id = before["instance"]["containers"][0]["id"].clone();
    m.remove_worker_behind_its_back(&id);
    let back = m
        .wait_for(&id, SETTLE, |i| {
            running(i)
                && i["containers"][0]["id"] != old_id
                && i["containers"][0]["running"] == true
        })
        .await;
    assert_eq!(m.containers().len(), 1);
    assert!(
        back["port_api"] == before["instance"]["port_api"],
        "the port changed"
    );
    let entries = history(&m, &id).await;
    assert!(
        entries.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing; recreated"))),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restarting_the_manager_restarts_no_worker() {
    const N: u64 = 10;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.health_interval_secs = 1.0;
    let mut m = Manager::spawn(options.clone());
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(create(&m, &fake.add_bot(4_100_000 + i, &format!("keep{i}_bot"))).await);
    }
    assert_eq!(m.containers().len(), N as usize);
    let starts: Vec<String> = ids.iter().map(|id| m.worker_started_at(id)).collect();
    assert!(starts.iter().all(|s| !s.is_empty()), "{starts:?}");
    m.stop();
    let m2 = Manager::spawn(options);
    for id in &ids {
        m2.wait_for(id, SETTLE, running).await;
    }
    // Let the recovery pass and a few polls run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<String> = ids.iter().map(|id| m2.worker_started_at(id)).collect();
    assert_eq!(
        starts, after,
        "a worker was restarted by the manager restart"
    );
    for id in &ids {
        m2.wait_for(id, SETTLE, running).await;
    }
    // The second manager goes first: alive, it would recreate the workers the first one's cleanup removes.
    drop(m2);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_killed_during_creates_recovers_every_acknowledged_instance() {
    const N: u64 = 20;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.ports = harness::port_range(30);
    let mut m = Manager::spawn(options.clone());
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(String, u64)>::new()));
    let mut tasks = Vec::new();
    for i in 0..N {
        let token = fake.add_bot(4_200_000 + i, &format!("crash{i}_bot"));
        let request = m
            .request(reqwest::Method::POST, "/api/v1/instances")
            .json(&create_body("crash", &token));
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            if let Ok(response) = request.send().await
                && response.status() == 201
                && let Ok(body) = response.json::<Value>().await
            {
                let id = body["instance_id"].as_str().unwrap().to_string();
                let port = body["process_result"]["details"]["ports"]["api"]
                    .as_u64()
                    .unwrap();
                acknowledged.lock().unwrap().push((id, port));
            }
        }));
    }
    // Crash the manager while creates are in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    m.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());

    let m2 = Manager::spawn(options);
    for (id, _) in &acknowledged {
        m2.wait_for(id, SETTLE, running).await;
    }
    let (_, list) = m2.get("/api/v1/instances").await;
    let instances = list["instances"].as_array().unwrap().clone();
    // Every instance that exists (acknowledged or not) ends up running, on a port of its own, with
    // exactly one container; no container without an instance.
    let mut ports = HashSet::new();
    for i in &instances {
        let id = i["id"].as_str().unwrap();
        m2.wait_for(id, SETTLE, running).await;
        assert!(
            ports.insert(i["port_api"].as_u64().unwrap()),
            "duplicate port"
        );
    }
    for (id, port) in &acknowledged {
        let i = instances
            .iter()
            .find(|i| i["id"] == id.as_str())
            .expect("acknowledged instance lost");
        assert_eq!(i["port_api"].as_u64(), Some(*port));
    }
    let ids: HashSet<String> = instances
        .iter()
        .map(|i| format!("{}-{}", m2.options.fleet, i["id"].as_str().unwrap()))
        .collect();
    let containers: HashSet<String> = m2.containers().into_iter().collect();
    assert_eq!(
        containers, ids,
        "containers and instances differ (orphans or missing)"
    );
    // The second manager goes first: alive, it would recreate the workers the first one's cleanup removes.
    drop(m2);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_labelled_container_no_instance_owns_is_removed() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options
        .env
        .push(("BOTFLEET_RECONCILE_INTERVAL_SECS".into(), "1".into()));
    let m = Manager::spawn(options);
    // A worker of this fleet that no instance owns (as a crash between removal and row deletion
    // would leave behind): a container, or a service on Swarm.
    let orphan = m.create_orphan_worker();
    let deadline = tokio::time::Instant::now() + SETTLE;
    while m.containers().contains(&orphan) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphan container was never removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_docker_refuses_is_retried_after_a_backoff() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(4_000_009, "port_held_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    // Backoffs of 1 s, 2 s, 4 s …: a slow machine still releases the port long before five refusals.
    options
        .env
        .push(("BOTFLEET_RESTART_BACKOFF_MS".into(), "1000".into()));
    let mut m = Manager::spawn(options.clone());
    let created = Created::from_body(&m.create_settled("fault", &token).await);
    m.stop();
    m.kill_worker(&created.id);
    // Another program takes the worker's port while the manager is away.
    let deadline = tokio::time::Instant::now() + SETTLE;
    let holder = loop {
        match std::net::TcpListener::bind(("127.0.0.1", created.port)) {
            Ok(l) => break l,
            Err(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "Docker never freed the port"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let m2 = Manager::spawn(options);
    // The port stays taken until the manager has tried, been refused, and recorded it.
    let errors_path = format!("/api/v1/instances/{}/errors", created.id);
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (_, errors) = m2.get(&errors_path).await;
        let refused = errors["data"].as_array().is_some_and(|list| {
            list.iter().any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("worker did not start"))
            })
        });
        if refused {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the start was never refused: {errors}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(holder);
    // The refused start is retried after its backoff, not at the next full pass 30 s later.
    m2.wait_for(&created.id, Duration::from_secs(20), running)
        .await;
    // The second manager goes first: alive, it would recreate the workers the first one's cleanup removes.
    drop(m2);
    drop(m);
}
