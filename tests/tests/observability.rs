//! Observability against the real engine: resource figures agree with Docker and the OS, metrics parse
//! and name every series, an alert fires once and resolves, the event log and its stream, the API
//! documentation covers every route.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, send};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

fn options_with_fast_samples(mut o: ManagerOptions) -> ManagerOptions {
    o.env
        .push(("BOTFLEET_SAMPLE_INTERVAL_SECS".into(), "1".into()));
    o
}

async fn create_running(m: &Manager, token: &str) -> (String, String, u16) {
    let c = Created::from_body(&m.create_settled("obs", token).await);
    (c.id, c.api_key, c.port)
}

/// `docker stats` memory of a container in bytes ("2.043MiB / 128MiB").
fn docker_stats_memory(name: &str) -> f64 {
    let out = std::process::Command::new("docker")
        .args(["stats", "--no-stream", "--format", "{{.MemUsage}}", name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let used = text.split('/').next().unwrap().trim().to_string();
    let (num, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let factor = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1_048_576.0,
        "GiB" => 1_073_741_824.0,
        other => panic!("unit {other}"),
    };
    num.parse::<f64>().unwrap() * factor
}

fn meminfo(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        * 1024.0
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_figures_agree_with_docker_and_the_os() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(options_with_fast_samples(
        ManagerOptions::new(&tg_url).await,
    ));
    let token = fake.add_bot(2_000_001, "res_bot");
    let (id, _, _) = create_running(&m, &token).await;

    let listed = m
        .wait_get("/api/v1/resources/instances", |b| b["total"] == 1)
        .await;
    let mine = &listed["instances"][0];
    assert_eq!(mine["instance_id"], id.as_str());
    assert_eq!(
        mine["memory_limit_bytes"],
        128 * 1_048_576,
        "the default limit as Docker enforces it"
    );
    // Same moment, within a tolerance: the larger of 1 MiB and 25 %.
    let ours = mine["memory_bytes"].as_f64().unwrap();
    let docker = docker_stats_memory(&m.containers()[0]);
    assert!(
        (ours - docker).abs() <= (docker * 0.25).max(1_048_576.0),
        "ours {ours} vs docker {docker}"
    );
    assert!(mine["cpu_percent"].as_f64().unwrap() >= 0.0);

    // A worker made to hold memory (20 chats x 100 messages of 4,000 characters, kept for /messages)
    // shows it in the figures.
    let before = ours;
    let text = "x".repeat(4000);
    for chat in 0..20 {
        for _ in 0..100 {
            fake.push_text(&token, 10_000 + chat, &text);
        }
    }
    let grown = m
        .wait_get("/api/v1/resources/instances", |b| {
            b["instances"][0]["memory_bytes"].as_f64().unwrap_or(0.0) > before + 6.0 * 1_048_576.0
        })
        .await;
    let mut grown = grown["instances"][0]["memory_bytes"].as_f64().unwrap();
    // The worker may still be taking messages in, so its memory moves between our sample and Docker's:
    // compare again with the next samples (for up to 20 s) before calling it a disagreement.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let docker = docker_stats_memory(&m.containers()[0]);
        if (grown - docker).abs() <= (docker * 0.25).max(1_048_576.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ours {grown} vs docker {docker}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, now) = m.get("/api/v1/resources/instances").await;
        grown = now["instances"][0]["memory_bytes"].as_f64().unwrap_or(0.0);
    }

    // A new limit, applied by process, shows in the figures Docker reports.
    let (status, _) = send(
        m.request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
            .json(&json!({"memory_limit_mb": 64})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = m
        .post(&format!("/api/v1/instances/{id}/process"), &json!({}))
        .await;
    assert_eq!((status, body["action"].as_str()), (200, Some("recreated")));
    m.wait_get("/api/v1/resources/instances", |b| {
        b["instances"][0]["memory_limit_bytes"] == 64 * 1_048_576
    })
    .await;

    let (status, res) = m.get("/api/v1/resources").await;
    assert_eq!(status, 200);
    let server = &res["server"];
    assert_eq!(
        server["memory_total_bytes"].as_f64().unwrap(),
        meminfo("MemTotal:")
    );
    let os_used = meminfo("MemTotal:") - meminfo("MemAvailable:");
    let used = server["memory_used_bytes"].as_f64().unwrap();
    // The sample is up to a second old and other tests start containers meanwhile: within 5 % of the
    // host's memory.
    assert!(
        (used - os_used).abs() / meminfo("MemTotal:") < 0.05,
        "used {used} vs /proc/meminfo {os_used}"
    );
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(server["cpu_count"], cpus);
    assert!(res["docker"]["total_containers"].as_u64().unwrap() >= 1);
    assert_eq!(res["instances"]["total"], 1);
    assert!(server["cpu_usage"].as_str().unwrap().ends_with('%'));

    let (_, ports) = m.get("/api/v1/resources/ports").await;
    assert_eq!(ports["usedPorts"], 1);
    assert_eq!(
        ports["totalPorts"],
        u64::from(m.options.ports.1 - m.options.ports.0) + 1
    );
    let (_, perf) = m.get("/api/v1/resources/performance").await;
    assert_eq!(perf["portAssignment"]["successfulRequests"], 1);
    let (_, health) = m.get("/api/v1/resources/health").await;
    assert!(["healthy", "warning", "critical"].contains(&health["status"].as_str().unwrap()));
    let (_, history) = m.get("/api/v1/resources/history").await;
    assert!(history["count"].as_u64().unwrap() >= 2, "{history}");
    let (status, _) = m.get("/api/v1/resources/history?from=yesterday").await;
    assert_eq!(status, 422);
    // One bot's history: only its figures, only the samples holding them; at most max_points samples.
    let (status, one) = m
        .get(&format!("/api/v1/resources/history?instance_id={id}"))
        .await;
    assert_eq!(status, 200, "{one}");
    let samples = one["data"].as_array().unwrap();
    assert!(!samples.is_empty(), "{one}");
    for s in samples {
        assert_eq!(s["bot_detail"], true, "{s}");
        assert_eq!(s["instances"].as_array().unwrap().len(), 1, "{s}");
        assert_eq!(s["instances"][0]["instance_id"], id.as_str(), "{s}");
    }
    let (_, two) = m.get("/api/v1/resources/history?max_points=2").await;
    assert_eq!(two["count"], 2, "{two}");
    for (query, want) in [("instance_id=nope", 404), ("max_points=0", 422)] {
        let (status, body) = m.get(&format!("/api/v1/resources/history?{query}")).await;
        assert_eq!(status, want, "{query}: {body}");
    }
    let (_, hh) = m.get("/api/v1/health/history?hours=1&limit=2").await;
    assert_eq!(hh["history"].as_array().unwrap().len(), 2);
    assert_eq!(hh["history"][0]["db_status"], "ok");

    let (status, stress) = m
        .post("/api/v1/resources/stress-test", &json!({"instances": 2}))
        .await;
    assert_eq!(status, 200, "{stress}");
    assert_eq!(
        (stress["created"].as_u64(), stress["deleted"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(m.containers().len(), 1, "the stress test left containers");
    let (status, _) = m
        .post("/api/v1/resources/stress-test", &json!({"instances": 50}))
        .await;
    assert_eq!(status, 422);
    let (status, cleanup) = m.post("/api/v1/resources/memory/cleanup", &json!({})).await;
    assert_eq!((status, cleanup["success"].as_bool()), (200, Some(true)));
    let (status, _) = m
        .post("/api/v1/resources/ports/clear-cache", &json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, health) = send(reqwest::Client::new().get(m.url("/health"))).await;
    assert_eq!(status, 200);
    for field in [
        "status",
        "uptime",
        "memory_mb",
        "active_tasks",
        "timestamp",
        "version",
        "database",
    ] {
        assert!(!health[field].is_null(), "/health lacks {field}: {health}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_name_every_series() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(options_with_fast_samples(
        ManagerOptions::new(&tg_url).await,
    ));
    let (id, key, port) = create_running(&m, &fake.add_bot(2_000_002, "metric_bot")).await;
    for _ in 0..2 {
        let (status, _) = send(
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/api/v1/send"))
                .bearer_auth(&key)
                .json(&json!({"chatId": 7, "message": "hi"})),
        )
        .await;
        assert_eq!(status, 200);
    }
    m.wait_get(&format!("/api/v1/instances/{id}/memory"), |b| {
        b["data"]["message_stats"]["sent_count"] == 2
    })
    .await;
    m.wait_get("/api/v1/resources/instances", |b| b["total"] == 1)
        .await;

    // Scrape until the bot shows healthy (a health check can miss under load; the next one counts).
    let deadline = tokio::time::Instant::now() + SETTLE;
    let (text, scrape) = loop {
        let text = m
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
        let healthy = scrape.samples.iter().any(|s| {
            s.metric == "telegram_bot_health"
                && s.labels.get("bot_id") == Some(id.as_str())
                && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0)
        });
        if healthy {
            break (text, scrape);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never showed healthy in /metrics"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let names: HashSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for series in [
        "telegram_bot_health",
        "orchestrator_uptime_seconds",
        "bot_restarts_total",
        "bot_messages_sent_total",
        "bot_messages_received_total",
        "bot_errors_total",
        "bot_send_latency_milliseconds_sum",
        "bot_send_latency_milliseconds_count",
        "bot_cpu_percent",
        "bot_memory_bytes",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "port_utilization_ratio",
        "http_request_duration_seconds_count",
        "botfleet_db_write_transactions_total",
        "botfleet_leader",
    ] {
        assert!(names.contains(series), "/metrics lacks {series}");
    }
    // The only manager of its database leads.
    assert!(scrape.samples.iter().any(|s| s.metric == "botfleet_leader"
        && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0)));
    let sent = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "bot_messages_sent_total"
                && s.labels.get("bot_id") == Some(id.as_str())
                && s.labels.get("bot_name") == Some("@metric_bot")
        })
        .expect("a sent counter for the bot, named after its @username");
    // One series per bot and family: the figures recorded before the bot said who it is (labelled with
    // its display name) must not linger beside the named ones.
    let of_bot: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.labels.get("bot_id") == Some(id.as_str()))
        .collect();
    assert!(
        of_bot
            .iter()
            .all(|s| s.labels.get("bot_name") == Some("@metric_bot")),
        "a series of the bot under another name: {of_bot:?}"
    );
    for family in [
        "telegram_bot_health",
        "bot_messages_sent_total",
        "bot_cpu_percent",
    ] {
        assert_eq!(
            of_bot.iter().filter(|s| s.metric == family).count(),
            1,
            "{family} has more than one series for the bot"
        );
    }
    assert!(
        matches!(sent.value, prometheus_parse::Value::Counter(v) if v == 2.0),
        "{:?}",
        sent.value
    );
    // Request durations are labelled by route template, not by the concrete path.
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_request_duration_seconds_count")
                && l.contains(r#"route="/api/v1/instances/{id}/memory""#)),
        "no duration series for the memory route"
    );
    assert!(
        !text.contains(&format!("route=\"/api/v1/instances/{id}")),
        "a concrete path used as a label"
    );
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

async fn receive(State(r): State<Received>, Json(body): Json<Value>) {
    r.0.lock().unwrap().push(body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_fires_once_and_resolves_when_the_value_recovers() {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(options_with_fast_samples(
        ManagerOptions::new(&tg_url).await,
    ));
    let (id, _, _) = create_running(&m, &fake.add_bot(2_000_003, "alert_bot")).await;

    for bad in [
        json!({"metric_type": "cpu", "threshold_value": "high"}),
        json!({"metric_type": "latency", "threshold_value": 1}),
        json!({"metric_type": "cpu", "threshold_value": 1, "comparison": "eq"}),
        json!({"metric_type": "cpu", "threshold_value": 1, "webhook_url": "ftp://x"}),
        json!({"scope": "instance", "instance_id": "nope", "metric_type": "cpu", "threshold_value": 1}),
    ] {
        let (status, _) = m.post("/api/v1/alerts/thresholds", &bad).await;
        assert!(status == 422 || status == 404, "{bad} -> {status}");
    }
    let (status, t) = m
        .post(
            "/api/v1/alerts/thresholds",
            &json!({"scope": "instance", "instance_id": id, "metric_type": "health",
                    "comparison": "lt", "threshold_value": 1, "webhook_url": hook}),
        )
        .await;
    assert_eq!(status, 201, "{t}");

    let (status, _) = m
        .post(&format!("/api/v1/instances/{id}/stop"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let active = m
        .wait_get("/api/v1/alerts?status=active", |b| b["count"] == 1)
        .await;
    assert_eq!(active["alerts"][0]["target"], id.as_str());
    // Several more samples: still one alert, it fires once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, all) = m.get("/api/v1/alerts").await;
    assert_eq!(all["count"], 1, "{all}");

    let (status, _) = m
        .post(&format!("/api/v1/instances/{id}/start"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let resolved = m
        .wait_get("/api/v1/alerts?status=resolved", |b| b["count"] == 1)
        .await;
    let alert_id = resolved["alerts"][0]["id"].as_str().unwrap().to_string();
    assert!(resolved["alerts"][0]["resolved_at"].is_string());
    let (status, _) = m
        .post(&format!("/api/v1/alerts/{alert_id}/resolve"), &json!({}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = m.post("/api/v1/alerts/unknown/resolve", &json!({})).await;
    assert_eq!(status, 404);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.0.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<String> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["alert.fired", "alert.resolved"]);

    // Deleting the threshold resolves what it raised, and nothing fires again.
    let threshold_id = t["threshold"]["id"].as_str().unwrap().to_string();
    let (status, _) = m
        .post(&format!("/api/v1/instances/{id}/stop"), &json!({}))
        .await;
    assert_eq!(status, 200);
    m.wait_get("/api/v1/alerts?status=active", |b| b["count"] == 1)
        .await;
    let (status, deleted) = m
        .delete(&format!("/api/v1/alerts/thresholds/{threshold_id}"))
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["resolved_alerts"], 1, "{deleted}");
    let (_, thresholds) = m.get("/api/v1/alerts/thresholds").await;
    assert_eq!(thresholds["count"], 0, "{thresholds}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, active) = m.get("/api/v1/alerts?status=active").await;
    assert_eq!(active["count"], 0, "{active}");
    let (status, again) = m
        .delete(&format!("/api/v1/alerts/thresholds/{threshold_id}"))
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (404, Some("not_found")),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_log_records_and_streams_what_happens() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let mut stream = m
        .request(
            reqwest::Method::GET,
            "/api/v1/events/stream?types=created,deleted",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers().contains_key("x-request-id"),
        "no request id"
    );
    let (id, _, _) = create_running(&m, &fake.add_bot(2_000_004, "event_bot")).await;
    let (status, _) = m.delete(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(status, 200);

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(seen.contains("instance.created") && seen.contains("instance.deleted")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("stream silent");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.unwrap().expect("stream ended"),
        ));
    }
    assert!(
        !seen.contains("instance.started"),
        "the type filter let another type through"
    );
    assert!(seen.contains(&id));

    let (_, log) = m
        .get(&format!("/api/v1/events?instance_id={id}&limit=100"))
        .await;
    let types: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"instance.deleted"), "{types:?}");
    assert_eq!(types.last(), Some(&"instance.created"), "{types:?}");
    assert!(types.contains(&"instance.started"), "{types:?}");
    let (_, only) = m
        .get(&format!("/api/v1/events?instance_id={id}&types=started"))
        .await;
    assert!(
        only["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event_type"] == "instance.started")
    );
    let (status, _) = m.get("/api/v1/events?types=exploded").await;
    assert_eq!(status, 422);
}

/// Replaces `{param}` segments with a value no instance or alert has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks that every `$ref` in the document points at a component it defines.
fn refs_resolve(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r.trim_start_matches('#');
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|v| refs_resolve(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_resolve(doc, v)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_covers_every_route() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let client = reqwest::Client::new();
    let (status, doc) = send(client.get(m.url("/openapi.json"))).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    refs_resolve(&doc, &doc);
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            operations += 1;
            if path.ends_with("/stream") {
                continue; // a live stream; checked in the events test
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let is_write = method != reqwest::Method::GET;
            let mut request = m.request(method.clone(), &concrete(path));
            if is_write {
                // Bodies the handlers refuse: the route must still be there to refuse them.
                request = request.json(&json!({"instances": 0}));
            }
            let response = request.send().await.unwrap();
            let code = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(code, 405, "{method} {path} is documented but not routed");
            assert!(
                !(code == 404 && body["error"] == "no such route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(operations >= 39, "only {operations} operations documented");
    // The router answers its own fallback for what is not documented.
    let (status, body) = m.get("/api/v1/nothing-here").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no such route"))
    );

    let (status, worker_doc) = send(client.get(m.url("/openapi/worker.json"))).await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/health",
        "/api/v1/status",
        "/api/v1/send",
        "/api/v1/telegram/send",
    ] {
        assert!(
            worker_doc["paths"].get(path).is_some(),
            "worker doc lacks {path}"
        );
    }
    let page = client.get(m.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "no docs UI");
    let asset = client
        .get(m.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200, "the docs UI assets are not embedded");
}

/// A running worker is checked through its event collector: every answer to the collector's long poll
/// carries the bot's health and status, so the health round asks the worker nothing (one connection and
/// one request per interval a bot), and what changes on the worker still reaches the instance.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_worker_reports_through_its_event_collector() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_950_001, "reporting_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (id, _, _) = create_running(&m, &token).await;
    let figure = |f: &std::collections::HashMap<String, f64>, name: &str| {
        f.get(name).copied().unwrap_or(f64::NAN)
    };
    // Rounds run every 0.5 s; once the collector has reported, they leave the worker alone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let f = m.metrics().await;
        if figure(&f, "botfleet_health_round_workers") == 1.0
            && figure(&f, "botfleet_health_round_probed") == 0.0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the health round still asks the worker itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Rounds later, still nothing asked, and the worker's last check is recent.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let f = m.metrics().await;
        assert_eq!(figure(&f, "botfleet_health_round_probed"), 0.0);
        let oldest = figure(&f, "botfleet_health_oldest_check_seconds");
        assert!(oldest < 3.0, "the last check is {oldest} s old");
    }
    // What the bot counts reaches the instance through the reports alone.
    tg.push_text(&token, 4242, "hello");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, shown) = m.get(&format!("/api/v1/instances/{id}")).await;
        if shown["instance"]["received_count"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the received message was not counted: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        figure(&m.metrics().await, "botfleet_health_round_probed"),
        0.0
    );
}
