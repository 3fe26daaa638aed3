//! Two managers on one PostgreSQL database, one leader: both serve the API, the follower's writes are
//! acted on by the leader, and a leader killed with SIGKILL under traffic is replaced within seconds
//! without losing an event or a webhook, doubling a container, restarting a bot or letting two workers
//! poll one token. PostgreSQL only (a SQLite file has one manager): on SQLite the test says so and ends.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use botfleet_tests::{
    fake_telegram::FakeTelegram,
    fake_webhook::FakeWebhook,
    harness::{self, Created, Manager, ManagerOptions, create_body, send},
};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "leader-s3cret-s3cret";

async fn role(m: &Manager) -> Option<String> {
    let response = m.client.get(m.url("/health")).send().await.ok()?;
    let body: Value = response.json().await.ok()?;
    body["role"].as_str().map(str::to_string)
}

/// Waits until `m` reports `want` as its role; returns how long that took.
async fn wait_role(m: &Manager, want: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if role(m).await.as_deref() == Some(want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the manager did not become {want} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `message.in` texts the webhook receiver got, per instance, each event once (by its id).
fn delivered_texts(hook: &FakeWebhook) -> HashMap<String, HashSet<String>> {
    let mut seen = HashSet::new();
    let mut texts: HashMap<String, HashSet<String>> = HashMap::new();
    for d in hook.accepted("message.in") {
        let envelope = d.envelope();
        if seen.insert(envelope.id.clone()) {
            let text = envelope.data["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            texts.entry(envelope.instance_id).or_default().insert(text);
        }
    }
    texts
}

/// Sends one message to every bot (`round` in its text).
fn push_round(tg: &FakeTelegram, tokens: &[String], round: usize) {
    for (i, token) in tokens.iter().enumerate() {
        tg.push_text(token, 7_000 + i as i64, &format!("round {round} bot {i}"));
    }
}

/// Waits until the receiver holds every round up to `rounds` for every bot.
async fn wait_all_delivered(hook: &FakeWebhook, ids: &[String], rounds: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let texts = delivered_texts(hook);
        let missing: Vec<String> = ids
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                let got = texts.get(id).cloned().unwrap_or_default();
                (0..rounds)
                    .map(move |r| format!("round {r} bot {i}"))
                    .filter(move |t| !got.contains(t))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} messages never reached the webhook receiver, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each worker container of the fleet, by instance, with when it started.
fn containers(fleet: &str) -> HashMap<String, (String, String)> {
    harness::docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.ID}} {{.Label \"botfleet.instance_id\"}}",
    ])
    .into_iter()
    .filter_map(|line| {
        let (container, id) = line.split_once(' ')?;
        Some((
            id.to_string(),
            (container.to_string(), harness::started_at(container)),
        ))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_without_losing_or_doubling_anything() {
    if !std::env::var("BOTFLEET_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("two managers share a PostgreSQL database only: runs in the PostgreSQL phase");
        return;
    }
    let bots: usize = std::env::var("BOTFLEET_TEST_HA_BOTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let (hook, hook_url) = FakeWebhook::start().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.ports = harness::port_range(bots as u16 + 10);
    options.health_interval_secs = 2.0;
    options
        .env
        .push(("BOTFLEET_COUNTER_FLUSH_SECS".into(), "0.5".into()));

    let mut a = Manager::spawn(options.clone());
    wait_role(&a, "leader", Duration::from_secs(10)).await;
    let b = Manager::spawn(options.clone());
    // B stays a follower while A leads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(role(&b).await.as_deref(), Some("follower"));

    // Every bot is created through the follower, waiting for it to be ready: the leader makes the
    // workers, and the follower sees them become ready through the database.
    let tokens: Vec<String> = (0..bots)
        .map(|i| tg.add_bot(9_100_000 + i as u64, &format!("ha{i}_bot")))
        .collect();
    let created_at = Instant::now();
    let bodies: Vec<Value> = tokens.iter().map(|t| create_body("ha", t)).collect();
    let created: Vec<(u16, Value)> = futures::stream::iter(bodies.iter())
        .map(|body| b.post("/api/v1/instances?wait=true&timeout=90", body))
        .buffered(8)
        .collect()
        .await;
    let creating = created_at.elapsed();
    let mut ids = Vec::new();
    for (status, body) in &created {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(
            body["process_result"]["details"]["auth_status"], "client_ready",
            "{body}"
        );
        ids.push(Created::from_body(body).id);
    }
    for id in &ids {
        let (status, body) = send(
            b.request(
                Method::PUT,
                &format!("/api/v1/instances/{id}/webhook/config"),
            )
            .json(&json!({"url": hook_url, "events": ["message.in"], "secret": SECRET})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let before = containers(&options.fleet);
    assert_eq!(before.len(), bots, "one container per bot");

    // Traffic under the first leader.
    push_round(&tg, &tokens, 0);
    wait_all_delivered(&hook, &ids, 1, Duration::from_secs(60)).await;

    // More traffic, and the leader dies in the middle of it.
    push_round(&tg, &tokens, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    let takeover = wait_role(&b, "leader", Duration::from_secs(10)).await;
    push_round(&tg, &tokens, 2);
    wait_all_delivered(&hook, &ids, 3, Duration::from_secs(90)).await;

    // Every message is stored once, as the new leader's API shows.
    for (i, id) in ids.iter().enumerate() {
        let (status, body) = b
            .get(&format!(
                "/api/v1/instances/{id}/messages?chatId={}&limit=100",
                7_000 + i
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let texts: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str())
            .collect();
        assert_eq!(texts.len(), 3, "bot {i}'s messages: {texts:?}");
    }

    // The same containers, none restarted, and no token ever polled twice at once.
    assert_eq!(
        containers(&options.fleet),
        before,
        "containers were made, removed or restarted"
    );
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(tg.conflicts(token), 0, "bot {i}'s token had two consumers");
    }
    let (_, list) = b.get("/api/v1/instances").await;
    for instance in list["instances"].as_array().unwrap() {
        assert_eq!(instance["restart_count"], 0, "{instance}");
    }

    // A manager started again on the database follows, and its verbs are acted on by the leader.
    let c = Manager::spawn(options.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(role(&c).await.as_deref(), Some("follower"));
    let extra = tg.add_bot(9_199_999, "ha_extra_bot");
    let (status, body) = c
        .post(
            "/api/v1/instances?wait=true&timeout=60",
            &create_body("ha", &extra),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let extra_id = Created::from_body(&body).id;
    let stopped = c.verb(&extra_id, "stop").await;
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert!(
        !containers(&options.fleet).contains_key(&extra_id)
            || harness::docker_lines(&[
                "ps",
                "--filter",
                &format!("name={}", c.worker_name(&extra_id)),
                "-q"
            ])
            .is_empty(),
        "the stopped bot's worker still runs"
    );
    let (_, via_b) = b.get(&format!("/api/v1/instances/{extra_id}")).await;
    assert_eq!(via_b["instance"]["status"], "stopped", "{via_b}");

    eprintln!(
        "leadership: {bots} bots created through the follower in {:.1} s ({:.1}/s); the follower led \
         {:.2} s after the leader was killed; {} webhook deliveries for {} messages",
        creating.as_secs_f64(),
        bots as f64 / creating.as_secs_f64(),
        takeover.as_secs_f64(),
        hook.accepted("message.in").len(),
        bots * 3
    );
    // No manager may act on the fleet while it is removed.
    let (mut b, mut c) = (b, c);
    b.kill();
    c.kill();
    drop((a, b, c));
}
