//! Hosts (seed 004's servers, metrics and docker routes, for a fleet) on plain Docker, against the real
//! binaries and engine: the engine is the one host, with its bots; availability other than `active` is
//! refused; the manager's host's metrics and their history; the fleet's own containers on the host, whose
//! start, stop and restart are the bot's verbs, and nobody else's containers.

use std::{
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, send};
use serde_json::{Value, json};
use shared::api::hosts::{HostAvailability, HostList, HostMetricsQuery, HostStatus, RuntimeName};

const SETTLE: Duration = Duration::from_secs(60);

/// The engine's own id, as `docker info` gives it.
fn engine_id() -> String {
    let out = Command::new("docker")
        .args(["info", "-f", "{{.ID}}"])
        .output()
        .expect("docker info");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A manager that samples its host every half second.
async fn manager(tg_url: &str) -> Manager {
    let mut options = ManagerOptions::new(tg_url).await;
    options
        .env
        .push(("BOTFLEET_SAMPLE_INTERVAL_SECS".into(), "0.5".into()));
    Manager::spawn(options)
}

async fn patch(m: &Manager, path: &str, body: &Value) -> (u16, Value) {
    send(m.request(reqwest::Method::PATCH, path).json(body)).await
}

fn url_encoded(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

/// An RFC 3339 time as unix ms.
fn ms(rfc3339: &Value) -> i128 {
    time::OffsetDateTime::parse(
        rfc3339.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
    .unix_timestamp_nanos()
        / 1_000_000
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_is_the_one_host_with_its_bots_metrics_and_availability() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_100_001, "host_bot");
    let m = manager(&tg_url).await;
    let engine = engine_id();

    // One host: the engine, with its capacity, and no bots yet.
    let (status, list) = m.get("/api/v1/hosts").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["runtime"], "docker");
    assert_eq!(list["engine_reachable"], true);
    assert_eq!(list["count"], 1, "{list}");
    let host = &list["hosts"][0];
    assert_eq!(host["id"], engine.as_str(), "{host}");
    assert_eq!(host["role"], "engine");
    assert_eq!(host["status"], "online");
    assert_eq!(host["state"], "ready");
    assert_eq!(host["availability"], "active");
    assert_eq!(host["local"], true);
    assert_eq!(host["bots"], 0);
    assert!(host["cpus"].as_f64().unwrap() > 0.0, "{host}");
    assert!(host["memory_bytes"].as_u64().unwrap() > 0, "{host}");
    assert!(
        host["engine_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    let base = format!("/api/v1/hosts/{engine}");

    // The typed client reads the same.
    let typed: HostList = m.api().hosts().await.expect("hosts through the client");
    assert_eq!(typed.runtime, RuntimeName::Docker);
    assert_eq!(typed.hosts[0].id, engine);
    assert_eq!(typed.hosts[0].status, HostStatus::Online);

    // A bot placed on the host counts there.
    let body = m.create_settled("hosts", &token).await;
    let bot = Created::from_body(&body);
    let (_, list) = m.get("/api/v1/hosts").await;
    assert_eq!(list["hosts"][0]["bots"], 1, "{list}");
    let (status, shown) = m.get(&base).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["host"]["id"], engine.as_str());
    assert_eq!(shown["host"]["bots"], 1);
    let (_, instance) = m.get(&format!("/api/v1/instances/{}", bot.id)).await;
    assert_eq!(instance["success"], true);

    // Unknown hosts are 404 with a JSON body.
    for path in [
        "/api/v1/hosts/no-such-host",
        "/api/v1/hosts/no-such-host/metrics",
        "/api/v1/hosts/no-such-host/metrics/history",
        "/api/v1/hosts/no-such-host/containers",
    ] {
        let (status, body) = m.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["code"], "not_found", "{path}: {body}");
    }

    // Plain Docker has one host: it cannot be drained or paused, only be active.
    for refused in ["drain", "pause"] {
        let (status, body) = patch(&m, &base, &json!({"availability": refused})).await;
        assert_eq!(status, 422, "{refused}: {body}");
        assert_eq!(body["field"], "availability", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("swarm"),
            "the refusal says what would allow it: {body}"
        );
    }
    let (status, body) = patch(&m, &base, &json!({"availability": "active"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["host"]["availability"], "active");
    assert_eq!(body["host"]["bots"], 1);
    let (status, body) = patch(&m, &base, &json!({"availability": "active", "name": "x"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "name");
    let (status, body) = patch(&m, &base, &json!({"availability": "asleep"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = patch(&m, &base, &json!({})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = patch(
        &m,
        "/api/v1/hosts/no-such-host",
        &json!({"availability": "active"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let err = m
        .api()
        .set_host_availability(&engine, HostAvailability::Drain)
        .await
        .expect_err("drain on plain Docker");
    assert!(err.to_string().contains("swarm"), "{err}");

    // The latest metrics, in seed 004's shape.
    let metrics = m.wait_get(&format!("{base}/metrics"), |_| true).await;
    assert_eq!(metrics["server_id"], engine.as_str(), "{metrics}");
    let cpu = metrics["cpu_percent"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{metrics}");
    assert!(
        metrics["memory_percent"].as_f64().unwrap() > 0.0,
        "{metrics}"
    );
    let disks = metrics["disk_usage"].as_array().unwrap();
    assert!(!disks.is_empty(), "{metrics}");
    for d in disks {
        let (total, used, free) = (
            d["total"].as_u64().unwrap(),
            d["used"].as_u64().unwrap(),
            d["free"].as_u64().unwrap(),
        );
        assert_eq!(used + free, total, "{d}");
        assert!(d["path"].as_str().unwrap().starts_with('/'), "{d}");
    }
    assert!(
        disks.iter().any(|d| d["total"].as_u64().unwrap() > 0),
        "{metrics}"
    );
    let network = metrics["network"].as_array().unwrap();
    assert!(network.iter().any(|n| n["interface"] == "lo"), "{metrics}");
    assert!(
        network
            .iter()
            .all(|n| !n["interface"].as_str().unwrap().starts_with("veth")),
        "containers' veth ends are not the host's: {metrics}"
    );
    ms(&metrics["timestamp"]);

    // The history, oldest first, filtered by start and end.
    let history = m
        .wait_get(&format!("{base}/metrics/history"), |h| {
            h["count"].as_u64().unwrap() >= 4
        })
        .await;
    let data = history["data"].as_array().unwrap();
    assert!(data.iter().all(|s| s["server_id"] == engine.as_str()));
    let stamps: Vec<i128> = data.iter().map(|s| ms(&s["timestamp"])).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    let middle_index = stamps.len() / 2;
    let middle = data[middle_index]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let query = |q: &str| format!("{base}/metrics/history?{q}");
    let (_, later) = m
        .get(&query(&format!("start={}", url_encoded(&middle))))
        .await;
    let later: Vec<i128> = later["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ms(&s["timestamp"]))
        .collect();
    assert_eq!(later.first(), Some(&stamps[middle_index]), "{later:?}");
    let (_, earlier) = m
        .get(&query(&format!("end={}", url_encoded(&middle))))
        .await;
    let earlier: Vec<i128> = earlier["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ms(&s["timestamp"]))
        .collect();
    assert_eq!(earlier, stamps[..=middle_index].to_vec());
    let (status, one) = m
        .get(&query(&format!("start={0}&end={0}", url_encoded(&middle))))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["count"], 1, "{one}");
    let (_, none) = m
        .get(&query(
            "start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z",
        ))
        .await;
    assert_eq!(none["count"], 0, "{none}");
    for bad in [
        "start=yesterday",
        "end=2026-13-45T99:00:00Z",
        "start=2030-01-02T00:00:00Z&end=2030-01-01T00:00:00Z",
        "since=2030-01-01T00:00:00Z",
    ] {
        let (status, body) = m.get(&query(bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["code"], "validation_failed", "{bad}: {body}");
    }
    let typed = m
        .api()
        .host_metrics_history(
            &engine,
            &HostMetricsQuery {
                start: Some(middle.clone()),
                end: Some(middle.clone()),
            },
        )
        .await
        .expect("history through the client");
    assert_eq!(typed.count, 1);

    // The CLI: list as JSON, and drain refused with the manager's words (exit 1).
    let cli = |args: &[&str]| {
        Command::new(harness::binary("botfleet"))
            .args(args)
            .env("BOTFLEET_URL", &m.base_url)
            .env("BOTFLEET_KEY", &m.options.admin_key)
            .env("HOME", std::env::temp_dir())
            .env_remove("BOTFLEET_CONFIG")
            .output()
            .expect("run botfleet")
    };
    let out = cli(&["-o", "json", "hosts", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let listed: HostList = serde_json::from_slice(&out.stdout).expect("hosts list as JSON");
    assert_eq!(listed.hosts[0].id, engine);
    assert_eq!(listed.hosts[0].bots, 1);
    let out = cli(&["hosts", "drain", &engine]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("swarm"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["hosts", "activate", &engine]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cli(&["hosts", "show", &engine]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("engine") && shown.contains("disk:"),
        "{shown}"
    );
}

/// A container of another fleet, made from the worker image and labelled as if it ran one of our bots;
/// removed when dropped.
struct Foreign(String);

impl Foreign {
    fn start(instance_id: &str) -> Self {
        let image = std::env::var("BOTFLEET_WORKER_IMAGE")
            .unwrap_or_else(|_| format!("botfleet-worker:{}", env!("CARGO_PKG_VERSION")));
        let name = harness::unique_name("bft-foreign-");
        let out = Command::new("docker")
            .args(["run", "-d", "--name", &name])
            .args(["--label", "botfleet.managed=true"])
            .args([
                "--label",
                &format!("botfleet.fleet={}", harness::unique_name("bft")),
            ])
            .args(["--label", &format!("botfleet.instance_id={instance_id}")])
            .arg(&image)
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "docker run {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn container_id(name: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", name])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn container_running(id: &str) -> bool {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosts_containers_are_the_fleets_own_and_their_verbs_are_the_bots() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_100_002, "host_container_bot");
    let m = manager(&tg_url).await;
    let engine = engine_id();
    let body = m.create_settled("hosts", &token).await;
    let bot = Created::from_body(&body);
    let name = format!("{}-{}", m.options.fleet, bot.id);
    let worker = container_id(&name);
    let base = format!("/api/v1/hosts/{engine}/containers");

    // Someone else's container on the same engine, even one claiming to run our bot.
    let foreign = Foreign::start(&bot.id);

    let (status, list) = m.get(&base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["host_id"], engine.as_str());
    assert_eq!(list["count"], 1, "only the fleet's own worker: {list}");
    let c = &list["containers"][0];
    assert_eq!(c["id"], worker.as_str(), "{c}");
    assert_eq!(c["name"], name.as_str());
    assert_eq!(c["instance_id"], bot.id.as_str());
    assert_eq!(c["instance_status"], "running");
    assert_eq!(c["running"], true);

    // Nothing but the fleet's own containers can be started, stopped, restarted or read.
    for target in [foreign.0.as_str(), &foreign.0[..12], "no-such-container"] {
        for verb in ["start", "stop", "restart"] {
            let (status, body) = m.post(&format!("{base}/{target}/{verb}"), &json!({})).await;
            assert_eq!(status, 404, "{verb} {target}: {body}");
            assert_eq!(body["code"], "not_found");
        }
        let (status, body) = m.get(&format!("{base}/{target}/logs?tail=10")).await;
        assert_eq!(status, 404, "logs {target}: {body}");
    }
    let foreign_name = {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.Name}}", &foreign.0])
            .output()
            .expect("docker inspect");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches('/')
            .to_string()
    };
    let (status, _) = m
        .post(&format!("{base}/{foreign_name}/stop"), &json!({}))
        .await;
    assert_eq!(status, 404);
    // A container short id shorter than Docker's 12 characters names nothing.
    let (status, _) = m.get(&format!("{base}/{}/logs", &worker[..8])).await;
    assert_eq!(status, 404);
    // The fleet's container on another host does not exist.
    let (status, _) = m
        .get(&format!(
            "/api/v1/hosts/no-such-host/containers/{worker}/logs"
        ))
        .await;
    assert_eq!(status, 404);

    // Logs by short id, as text.
    let text = m
        .get_text(&format!("{base}/{}/logs?tail=50", &worker[..12]))
        .await;
    assert!(text.contains("bot connected"), "{text}");
    assert!(!text.contains(&token), "the log shows the bot token");
    let typed = m
        .api()
        .host_container_logs(&engine, &name, 5)
        .await
        .expect("logs through the client");
    assert!(!typed.is_empty());
    let (status, _) = m.get(&format!("{base}/{worker}/logs?tail=0")).await;
    assert_eq!(status, 422);

    // Stop through the container is the bot's stop: the instance is stopped, the container stays.
    let (status, body) = m
        .post(&format!("{base}/{worker}/stop?timeout=700"), &json!({}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = m
        .post(&format!("{base}/{worker}/stop?timeout=5"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "stop");
    assert_eq!(body["instance_id"], bot.id.as_str());
    assert_eq!(body["container_id"], worker.as_str());
    assert_eq!(body["status"], "stopped", "{body}");
    let (_, shown) = m.get(&format!("/api/v1/instances/{}", bot.id)).await;
    assert_eq!(shown["instance"]["status"], "stopped", "{shown}");
    assert_eq!(shown["instance"]["desired_state"], "stopped", "{shown}");
    assert!(!container_running(&worker));
    let (_, list) = m.get(&base).await;
    assert_eq!(list["containers"][0]["running"], false, "{list}");
    assert_eq!(list["containers"][0]["instance_status"], "stopped");
    // A second stop is refused by the bot's own rules.
    let (status, body) = m.post(&format!("{base}/{worker}/stop"), &json!({})).await;
    assert_eq!(status, 409, "{body}");

    // Start through the stopped container brings the bot back (in a fresh container).
    let (status, body) = m.post(&format!("{base}/{worker}/start"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "start");
    let current = body["current_container_id"]
        .as_str()
        .expect("current container")
        .to_string();
    m.wait_for(&bot.id, SETTLE, |i| i["status"] == "running")
        .await;
    assert!(container_running(&container_id(&name)));
    let (_, list) = m.get(&base).await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["containers"][0]["id"], current.as_str(), "{list}");
    assert_eq!(list["containers"][0]["running"], true);

    // Restart through the container is the bot's restart.
    let typed = m
        .api()
        .host_container_action(
            &engine,
            &current,
            shared::api::hosts::ContainerAction::Restart,
            Some(3),
        )
        .await
        .expect("restart through the client");
    assert_eq!(typed.instance_id, bot.id);
    let after = m
        .wait_for(&bot.id, SETTLE, |i| i["status"] == "running")
        .await;
    assert_eq!(
        after["memory_data"]["system_info"]["restart_count"], 2,
        "{after}"
    );
    // One consumer of the token once it settled.
    fake.assert_one_consumer(&token, Duration::from_secs(3))
        .await;
    // The foreign container was never touched.
    assert_eq!(m.containers().len(), 1);
    drop(foreign);
}

/// A Unix socket that forwards to the real Docker engine, so a test can take the engine away from one
/// manager (and give it back) without touching the daemon everyone else uses.
struct EngineLine {
    path: PathBuf,
    accept: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl EngineLine {
    fn engine_socket() -> String {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if host.starts_with("unix://") => host["unix://".len()..].to_string(),
            _ => "/var/run/docker.sock".to_string(),
        }
    }

    fn open(path: PathBuf) -> Self {
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).expect("bind the engine line");
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let kept = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut engine) =
                        tokio::net::UnixStream::connect(Self::engine_socket()).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                kept.lock().unwrap().push(task);
            }
        });
        Self {
            path,
            accept,
            connections,
        }
    }

    /// Closes the line: the socket goes, and every open connection is cut.
    fn cut(self) -> PathBuf {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
        self.path.clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn host_reads_answer_from_the_last_list_while_the_engine_is_away() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let dir = harness::bin_dir().join("test-data");
    std::fs::create_dir_all(&dir).expect("test data dir");
    let line = EngineLine::open(dir.join(format!("{}.sock", harness::unique_name("engine-"))));
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.push((
        "BOTFLEET_DOCKER_HOST".into(),
        format!("unix://{}", line.path.display()),
    ));
    let m = Manager::spawn(options);
    let engine = engine_id();
    let base = format!("/api/v1/hosts/{engine}");
    let (status, list) = m.get("/api/v1/hosts").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["engine_reachable"], true);
    let seen_at = list["observed_at"].clone();

    // The engine goes away: reads answer the last list, marked; what needs the engine answers 503.
    let path = line.cut();
    let (status, list) = m.get("/api/v1/hosts").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["engine_reachable"], false, "{list}");
    assert_eq!(list["observed_at"], seen_at);
    assert_eq!(list["hosts"][0]["id"], engine.as_str());
    assert_eq!(list["hosts"][0]["status"], "unknown", "{list}");
    let (status, shown) = m.get(&base).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["host"]["status"], "unknown");
    let (status, _) = m.get("/api/v1/hosts/no-such-host").await;
    assert_eq!(status, 404);
    let (status, body) = patch(&m, &base, &json!({"availability": "active"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "runtime_unavailable", "{body}");
    let (status, body) = m.get(&format!("{base}/containers")).await;
    assert_eq!(status, 503, "{body}");

    // It comes back: the list is the engine's again.
    let _line = EngineLine::open(path);
    let list = m
        .wait_get("/api/v1/hosts", |l| l["engine_reachable"] == true)
        .await;
    assert_eq!(list["hosts"][0]["status"], "online", "{list}");
    let body = m.wait_get(&format!("{base}/containers"), |_| true).await;
    assert_eq!(body["count"], 0);
}
