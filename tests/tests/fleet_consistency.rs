//! The fleet stays consistent: ports unique under concurrent creates and across restarts, the cache equal
//! to the database, and workers stopped by SIGTERM exit cleanly.

use std::{collections::HashSet, process::Command, time::Duration};

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, create_body};
use serde_json::Value;
use sqlx::Row;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_get_unique_ports_that_survive_a_restart() {
    const N: u64 = 100;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.ports = harness::port_range(110);
    options.health_interval_secs = 5.0;
    let m = Manager::spawn(options.clone());
    let tokens: Vec<String> = (0..N)
        .map(|i| fake.add_bot(8_000_000 + i, &format!("c{i}_bot")))
        .collect();
    let bodies: Vec<Value> = tokens.iter().map(|t| create_body("load", t)).collect();
    let results =
        futures::future::join_all(bodies.iter().map(|b| m.post("/api/v1/instances", b))).await;
    let mut ports = HashSet::new();
    for (status, body) in &results {
        assert_eq!(*status, 201, "{body}");
        assert!(
            ports.insert(
                body["process_result"]["details"]["ports"]["api"]
                    .as_u64()
                    .unwrap()
            ),
            "duplicate port"
        );
    }
    assert_eq!(
        m.wait_for_containers(N as usize, Duration::from_secs(120))
            .await,
        N as usize
    );
    drop(results);

    // A new manager process on the same database never hands out a taken port.
    let mut m = m;
    m.stop();
    let m2 = Manager::spawn(options);
    let token = fake.add_bot(8_000_999, "after_restart_bot");
    let (status, body) = m2
        .post("/api/v1/instances", &create_body("load", &token))
        .await;
    assert_eq!(status, 201, "{body}");
    let port = body["process_result"]["details"]["ports"]["api"]
        .as_u64()
        .unwrap();
    assert!(
        !ports.contains(&port),
        "port {port} given twice across a restart"
    );
    let (_, list) = m2.get("/api/v1/instances").await;
    assert_eq!(list["total"], N + 1);
    drop(m);
}

fn ms_to_rfc3339(ms: Option<i64>) -> Value {
    ms.map(|ms| {
        Value::String(
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap()
                .format(&Rfc3339)
                .unwrap(),
        )
    })
    .unwrap_or(Value::Null)
}

/// An instance as stored: its spec, status and counters rows joined, with the version the API shows (the
/// sum of the three) and the time of the last change of any of them.
const STORED_INSTANCE: &str = "SELECT i.id, i.user_id, i.provider, i.type_instance, i.display_name, i.port, \
     i.api_key_hint, i.api_key_created_at, i.created_at, s.status, s.status_reason, s.auth_status, \
     s.account, s.bot_username, s.bot_user_id, s.container_id, s.health_ok, s.restart_count, \
     s.consecutive_failures, s.error_count, s.last_error, c.last_health_at, c.sent_count, \
     c.received_count, c.health_check_count, i.version + s.version + c.version AS version, \
     CASE WHEN i.updated_at >= s.updated_at AND i.updated_at >= c.updated_at THEN i.updated_at \
          WHEN s.updated_at >= c.updated_at THEN s.updated_at ELSE c.updated_at END AS updated_at \
     FROM instances i JOIN instance_status s ON s.instance_id = i.id \
     JOIN instance_counters c ON c.instance_id = i.id WHERE i.id = $1";

/// Every field of `/memory` against the database row, for one consistent version.
fn assert_agrees(memory: &Value, row: &sqlx::any::AnyRow) {
    let text = |c: &str| {
        row.try_get::<Option<String>, _>(c)
            .unwrap()
            .map(Value::String)
            .unwrap_or(Value::Null)
    };
    let int = |c: &str| {
        row.try_get::<Option<i64>, _>(c)
            .unwrap()
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let type_instance: Value =
        serde_json::from_str(&row.try_get::<String, _>("type_instance").unwrap()).unwrap();
    let username = row.try_get::<Option<String>, _>("bot_username").unwrap();
    let checks = [
        ("instance_id", memory["instance_id"].clone(), text("id")),
        ("user_id", memory["user_id"].clone(), text("user_id")),
        ("provider", memory["provider"].clone(), text("provider")),
        (
            "type_instance",
            memory["type_instance"].clone(),
            type_instance,
        ),
        (
            "display_name",
            memory["display_name"].clone(),
            text("display_name"),
        ),
        ("port_api", memory["port_api"].clone(), int("port")),
        ("status", memory["status"].clone(), text("status")),
        (
            "status_reason",
            memory["status_reason"].clone(),
            text("status_reason"),
        ),
        (
            "auth_status",
            memory["auth_status"].clone(),
            text("auth_status"),
        ),
        ("account", memory["account"].clone(), text("account")),
        (
            "phone_number",
            memory["phone_number"].clone(),
            username
                .map(|u| Value::String(format!("@{u}")))
                .unwrap_or(Value::Null),
        ),
        ("bot_id", memory["bot_id"].clone(), text("bot_user_id")),
        (
            "container_id",
            memory["container_id"].clone(),
            text("container_id"),
        ),
        (
            "api_key_hint",
            memory["api_key_hint"].clone(),
            text("api_key_hint"),
        ),
        (
            "api_key_created_at",
            memory["api_key_created_at"].clone(),
            ms_to_rfc3339(row.try_get("api_key_created_at").unwrap()),
        ),
        (
            "last_seen",
            memory["last_seen"].clone(),
            ms_to_rfc3339(row.try_get("last_health_at").unwrap()),
        ),
        (
            "sent_count",
            memory["message_stats"]["sent_count"].clone(),
            int("sent_count"),
        ),
        (
            "received_count",
            memory["message_stats"]["received_count"].clone(),
            int("received_count"),
        ),
        (
            "health_ok",
            memory["system_info"]["health_ok"].clone(),
            Value::Bool(row.try_get::<i64, _>("health_ok").unwrap() != 0),
        ),
        (
            "restart_count",
            memory["system_info"]["restart_count"].clone(),
            int("restart_count"),
        ),
        (
            "health_check_count",
            memory["system_info"]["health_check_count"].clone(),
            int("health_check_count"),
        ),
        (
            "consecutive_failures",
            memory["system_info"]["consecutive_failures"].clone(),
            int("consecutive_failures"),
        ),
        (
            "error_count",
            memory["error_info"]["error_count"].clone(),
            int("error_count"),
        ),
        (
            "last_error",
            memory["error_info"]["last_error"].clone(),
            text("last_error"),
        ),
        (
            "created_at",
            memory["created_at"].clone(),
            ms_to_rfc3339(row.try_get("created_at").unwrap()),
        ),
        (
            "updated_at",
            memory["updated_at"].clone(),
            ms_to_rfc3339(row.try_get("updated_at").unwrap()),
        ),
    ];
    for (field, cached, stored) in checks {
        assert_eq!(
            cached, stored,
            "field {field} differs between /memory and the database"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_agrees_with_the_database_on_every_field() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // Counters reach the database at the next flush: flush often, so both sides meet between checks.
    options.env.extend([
        ("BOTFLEET_COUNTER_FLUSH_SECS".into(), "0.2".into()),
        ("BOTFLEET_LIVENESS_FLUSH_SECS".into(), "0.2".into()),
    ]);
    let m = Manager::spawn(options.clone());
    let good = fake.add_bot(9_000_001, "agree_bot");
    let mut ids = Vec::new();
    for (user, token) in [
        ("user-a", good.as_str()),
        ("user-b", "999:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"),
    ] {
        ids.push(Created::from_body(&m.create_settled(user, token).await).id);
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&options.database_url).await.unwrap();
    for id in &ids {
        let mut compared = 0;
        for _ in 0..50 {
            let (status, memory) = m.get(&format!("/api/v1/instances/{id}/memory")).await;
            assert_eq!(status, 200);
            let row = sqlx::query(STORED_INSTANCE)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            // The poller keeps writing; compare only a snapshot both sides hold.
            if memory["data"]["version"].as_i64() == Some(row.try_get::<i64, _>("version").unwrap())
            {
                assert_agrees(&memory["data"], &row);
                compared += 1;
                if compared == 3 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            compared > 0,
            "never caught /memory and the database at one version"
        );
    }
    let (_, first) = m.get(&format!("/api/v1/instances/{}/memory", ids[0])).await;
    assert_eq!(first["data"]["user_id"], "user-a");
    assert_eq!(first["data"]["provider"], "telegram");
    m.wait_for(&ids[0], Duration::from_secs(60), |i| {
        i["status"] == "running"
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, stats) = m.get("/api/v1/instances/memory/stats").await;
        let s = &stats["stats"];
        if s["total_instances"] == 2
            && s["active_instances"] == 1
            && s["authenticated_instances"] == 1
            && s["error_instances"] == 1
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never settled: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stops_cleanly_on_sigterm() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(9_100_001, "term_bot");
    let (status, body) = m
        .post(
            "/api/v1/instances?wait=true&timeout=30",
            &create_body("u", &token),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let name = m.containers()[0].clone();
    let started = harness::started_at(&name);
    // With the manager gone nobody starts the worker again, so what Docker reports below is the stopped
    // worker's own exit, not a replacement's.
    m.kill();
    // `docker stop` sends SIGTERM and kills after 10 s; a worker that ignores SIGTERM takes the 10 s and
    // exits 137.
    let t0 = std::time::Instant::now();
    let status = Command::new("docker")
        .args(["stop", "-t", "10", &name])
        .status()
        .unwrap();
    let took = t0.elapsed();
    assert!(status.success());
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.StartedAt}} {{.RestartCount}}",
            &name,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("exited 0 {started} 0"),
        "the worker did not exit by itself with code 0 (or it was started again)"
    );
    assert!(
        took < Duration::from_secs(5),
        "the worker took {took:?} to stop: it waited for the SIGKILL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_kept_in_memory_are_stored_at_a_clean_stop() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // No periodic flush in this test: only the one at shutdown can store the counters.
    options
        .env
        .push(("BOTFLEET_COUNTER_FLUSH_SECS".into(), "3600".into()));
    let mut m = Manager::spawn(options.clone());
    let c = Created::from_body(
        &m.create_settled("flush", &fake.add_bot(9_000_101, "flush_bot"))
            .await,
    );
    m.wait_for(&c.id, Duration::from_secs(60), |i| i["status"] == "running")
        .await;
    for _ in 0..3 {
        let (status, body) = harness::send(
            reqwest::Client::new()
                .post(format!("{}/send", c.worker_url))
                .bearer_auth(&c.api_key)
                .json(&serde_json::json!({"chatId": 7, "message": "hi"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let stats = format!("/api/v1/instances/{}/activity-stats", c.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let (_, s) = m.get(&stats).await;
        if s["data"]["messages_sent_total"] == 3 && s["data"]["health_checks"].as_i64() >= Some(3) {
            break s["data"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sends never showed: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Today's count includes what waits for the flush.
    assert_eq!(before["messages_sent_today"], 3, "{before}");

    m.stop();
    // Stored by the stop, before any other manager ran.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&options.database_url).await.unwrap();
    let row = sqlx::query(
        "SELECT sent_count, health_check_count FROM instance_counters WHERE instance_id = $1",
    )
    .bind(&c.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(row.try_get::<i64, _>("sent_count").unwrap(), 3);
    assert!(
        Some(row.try_get::<i64, _>("health_check_count").unwrap())
            >= before["health_checks"].as_i64(),
        "the health checks were not stored at the stop"
    );
    let m2 = Manager::spawn(options);
    let (_, after) = m2.get(&stats).await;
    let after = &after["data"];
    assert_eq!(after["messages_sent_total"], 3, "{after}");
    assert_eq!(after["messages_sent_today"], 3, "{after}");
    assert!(
        after["health_checks"].as_i64() >= before["health_checks"].as_i64(),
        "health checks went back from {} to {}",
        before["health_checks"],
        after["health_checks"]
    );
    drop(m2);
    drop(m);
}

/// `--network auto`: workers fill Docker's default bridge, then networks the manager makes (each up to
/// `--bots-per-network`); the bots on them work; the manager removes its networks once they are empty.
#[tokio::test(flavor = "multi_thread")]
async fn auto_networks_take_the_workers_a_bridge_cannot_and_go_when_empty() {
    const N: u64 = 5;
    const PER_NETWORK: usize = 2;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.extend([
        ("BOTFLEET_NETWORK".into(), "auto".into()),
        ("BOTFLEET_BOTS_PER_NETWORK".into(), PER_NETWORK.to_string()),
        ("BOTFLEET_RECONCILE_INTERVAL_SECS".into(), "1".into()),
    ]);
    let fleet = options.fleet.clone();
    let m = Manager::spawn(options);
    let tokens: Vec<String> = (0..N)
        .map(|i| fake.add_bot(8_100_000 + i, &format!("net{i}_bot")))
        .collect();
    let bodies: Vec<Value> = tokens.iter().map(|t| create_body("net", t)).collect();
    let created = futures::future::join_all(
        bodies
            .iter()
            .map(|b| m.post("/api/v1/instances?wait=true&timeout=60", b)),
    )
    .await;
    let mut ids = Vec::new();
    for (status, body) in &created {
        assert_eq!(*status, 201, "{body}");
        ids.push(body["instance_id"].as_str().unwrap().to_string());
    }
    // Every bot works wherever it landed: it reached the fake Telegram and answers its health checks.
    for id in &ids {
        m.wait_for(id, Duration::from_secs(60), |i| {
            i["status"] == "running" && i["auth_status"] == "client_ready"
        })
        .await;
    }

    let mut per_network = std::collections::BTreeMap::<String, usize>::new();
    for name in harness::fleet_containers(&fleet) {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.HostConfig.NetworkMode}}", &name])
            .output()
            .unwrap();
        let network = String::from_utf8_lossy(&out.stdout).trim().to_string();
        *per_network.entry(network).or_default() += 1;
    }
    assert_eq!(per_network.values().sum::<usize>(), N as usize);
    let own = harness::fleet_networks(&fleet);
    for (network, n) in &per_network {
        assert!(
            network == "bridge" || own.contains(network),
            "a worker joined {network}, neither the default bridge nor one of {own:?}"
        );
        assert!(
            *n <= PER_NETWORK,
            "{n} workers on {network}: {per_network:?}"
        );
    }
    // The bridge takes at most two of them (fewer if other containers fill it), so two networks at least.
    assert!(own.len() >= 2, "networks made: {own:?} ({per_network:?})");
    assert!(
        own.iter().all(|n| n.starts_with(&format!("{fleet}-net-"))),
        "{own:?}"
    );

    for id in &ids {
        let (status, body) = m.delete(&format!("/api/v1/instances/{id}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !harness::fleet_networks(&fleet).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the empty networks were kept: {:?}",
            harness::fleet_networks(&fleet)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
