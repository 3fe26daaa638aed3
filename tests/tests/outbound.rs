//! Outbound requests to user-given destinations (webhooks, agents, alert hooks) refuse loopback,
//! link-local and private addresses unless `--outbound-allow` names them, checked on the address
//! actually connected to (an IP literal before sending, a host name's resolved addresses at connect
//! time), and follow no redirect. The other tests' managers allow the fakes' networks; these take that
//! away.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    http::{StatusCode, header},
    response::IntoResponse,
};
use botfleet_tests::{
    fake_agent::FakeAgent,
    fake_webhook::FakeWebhook,
    harness::{self, Created, Manager, ManagerOptions, send},
};
use reqwest::Method;
use serde_json::{Value, json};

/// Outbound requests may reach `allow` only (the default of the tests' managers is replaced).
fn allowing(mut options: ManagerOptions, allow: &str) -> ManagerOptions {
    options
        .env
        .push(("BOTFLEET_OUTBOUND_ALLOW".into(), allow.into()));
    options
}

/// A server on `ip` that counts every request it gets, whatever its method or path; returns its URL.
async fn recorder(ip: std::net::IpAddr) -> (Arc<AtomicUsize>, String) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Json(json!({"reply": "followed", "content": "followed"}))
        }
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .unwrap();
    let url = format!("http://{}/landed", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hits, url)
}

/// A server on 127.0.0.1 that answers every request with `302 Found` to `to`; returns its URL.
async fn redirector(to: String) -> String {
    let app = Router::new().fallback(move || {
        let to = to.clone();
        async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn put_json(m: &Manager, path: &str, body: &Value) -> (u16, Value) {
    send(m.request(Method::PUT, path).json(body)).await
}

/// Waits for a dead delivery of instance `id` other than those in `seen`; returns it.
async fn next_dead(m: &Manager, id: &str, seen: &[String]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = m
            .get(&format!(
                "/api/v1/instances/{id}/webhook/deliveries?status=dead"
            ))
            .await;
        assert_eq!(code, 200, "{body}");
        if let Some(d) = body["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| !seen.iter().any(|s| d["id"] == s.as_str()))
        {
            return d.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new dead delivery: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the manager's log holds a line with every one of `parts`.
async fn wait_log(m: &Manager, parts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = m
            .log()
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return line.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the manager never logged {parts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_to_loopback_are_refused_by_address_and_by_name() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_700_001, "refused_hook_bot");
    let (hook, hook_url) = FakeWebhook::start().await;
    let mut options = allowing(
        ManagerOptions::new(&tg_url).await,
        &harness::test_network_subnet(),
    );
    options.env.extend([
        ("BOTFLEET_WEBHOOK_BACKOFF_MS".to_string(), "200".to_string()),
        ("BOTFLEET_WEBHOOK_MAX_ATTEMPTS".to_string(), "3".to_string()),
    ]);
    let m = Manager::spawn(options);
    let created = Created::from_body(&m.create_settled("outbound", &token).await);
    let config_path = format!("/api/v1/instances/{}/webhook/config", created.id);
    let port = hook_url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/hook"))
        .expect("the receiver listens on 127.0.0.1")
        .to_string();

    // Written through the manager, an IP literal in a refused range is refused at once, in every
    // spelling of it.
    for url in [
        hook_url.clone(),
        format!("http://2130706433:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let (status, err) = put_json(&m, &config_path, &json!({"url": url})).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("url")),
            "{url}: {err}"
        );
        assert!(
            err["error"]
                .as_str()
                .unwrap_or_default()
                .contains("destination refused"),
            "{err}"
        );
    }

    // Set on the worker, it reaches the manager unchecked: the check before sending refuses it.
    let (status, view) = send(
        reqwest::Client::new()
            .put(format!("{}/webhook/config", created.worker_url))
            .bearer_auth(&created.api_key)
            .json(&json!({"url": hook_url, "events": ["message.in"]})),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    m.wait_get(&config_path, |b| b["url"] == hook_url.as_str())
        .await;
    tg.push_text(&token, 31, "to a literal");
    let dead = next_dead(&m, &created.id, &[]).await;
    assert_eq!(
        dead["last_error"], "destination refused: 127.0.0.1 is a loopback address",
        "{dead}"
    );
    assert_eq!(
        dead["attempts"], 1,
        "a refused destination is not retried: {dead}"
    );
    assert!(dead["last_status"].is_null(), "{dead}");

    // A host name passes when written; the addresses it resolves to are refused when connecting.
    let by_name = hook_url.replace("127.0.0.1", "localhost");
    let (status, view) = put_json(
        &m,
        &config_path,
        &json!({"url": by_name, "events": ["message.in"]}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    tg.push_text(&token, 31, "to a name");
    let dead = next_dead(&m, &created.id, &[dead["id"].as_str().unwrap().to_string()]).await;
    let reason = dead["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("destination refused: localhost resolves only to refused addresses")
            && reason.contains("loopback"),
        "{dead}"
    );
    assert_eq!(dead["attempts"], 1, "{dead}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        hook.deliveries().is_empty(),
        "the receiver got {:#?}",
        hook.deliveries()
    );
    let metrics = m.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"botfleet_webhook_attempts_total{outcome="refused"} 2"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_700_002, "redirect_bot");
    // Everything here is on allowed addresses: the redirect itself is what is not followed.
    let (landed, target) = recorder("127.0.0.1".parse().unwrap()).await;
    let redirect = redirector(target).await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options
        .env
        .push(("BOTFLEET_WEBHOOK_MAX_ATTEMPTS".to_string(), "1".to_string()));
    let m = Manager::spawn(options);
    let body = json!({"user_id": "outbound", "provider": "telegram", "type_instance": ["api"],
        "token": token, "agno_config": {"kind": "webhook", "url": redirect}});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["instance_id"].as_str().unwrap().to_string();

    // The manager's agent test: the agent's 302 is its answer.
    let (status, err) = m
        .post(
            &format!("/api/v1/instances/{id}/test"),
            &json!({"message": "where to?"}),
        )
        .await;
    assert_eq!(status, 502, "{err}");
    assert!(
        err["error"].as_str().unwrap_or_default().contains("302"),
        "{err}"
    );

    // A webhook delivery: the 302 is a failed attempt.
    let (status, view) = put_json(
        &m,
        &format!("/api/v1/instances/{id}/webhook/config"),
        &json!({"url": redirect, "events": ["message.in"]}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    tg.push_text(&token, 32, "follow me");
    let dead = next_dead(&m, &id, &[]).await;
    assert_eq!(dead["last_status"], 302, "{dead}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        landed.load(Ordering::SeqCst),
        0,
        "a redirect was followed to its target"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workers_agent_is_reached_when_allowed_and_refused_when_not() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_700_003, "agent_guard_bot");
    let (agent, agent_addr) = FakeAgent::start(SocketAddr::new(harness::test_network_gateway(), 0))
        .await
        .unwrap();
    let agent_url = format!("http://{agent_addr}/webhook");
    // The fake agent is on the test network: a private address.
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let body = json!({"user_id": "outbound", "provider": "telegram", "type_instance": ["api"],
        "token": token, "agno_config": {"kind": "webhook", "url": agent_url,
        "fallback_message": "Agent is out of reach."}});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["instance_id"].as_str().unwrap().to_string();
    tg.push_text(&token, 41, "allowed?");
    tg.wait_sent(&token, 41, "webhook: allowed?").await;
    assert_eq!(agent.calls().len(), 1);

    // The same database under a manager that allows loopback only: the changed list is a pending
    // change of the worker's configuration, and processing it recreates the worker with it.
    m.stop();
    let m = Manager::spawn(allowing(options, "127.0.0.0/8,::1/128"));
    m.wait_for(&id, Duration::from_secs(30), |i| i["status"] == "running")
        .await;
    let (status, processed) = m
        .post(&format!("/api/v1/instances/{id}/process"), &json!({}))
        .await;
    assert_eq!(status, 200, "{processed}");
    assert_eq!(processed["action"], "recreated", "{processed}");
    m.wait_for(&id, Duration::from_secs(30), |i| i["status"] == "running")
        .await;
    tg.push_text(&token, 41, "refused?");
    tg.wait_sent(&token, 41, "Agent is out of reach.").await;
    assert_eq!(agent.calls().len(), 1, "the refused agent was called");
    let container = m.worker_container(&id).expect("the worker's container");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("docker")
            .args(["logs", &container])
            .output()
            .unwrap();
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if logs.contains(&format!(
            "agent not called: destination refused: {} is a private address",
            agent_addr.ip()
        )) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never logged the refusal: {logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The manager's own agent test is refused likewise, and so is the address when written.
    let (status, err) = m
        .post(
            &format!("/api/v1/instances/{id}/test"),
            &json!({"message": "x"}),
        )
        .await;
    assert_eq!(status, 502, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap_or_default()
            .contains("destination refused"),
        "{err}"
    );
    let (status, err) = send(
        m.request(Method::PATCH, &format!("/api/v1/instances/{id}"))
            .json(&json!({"agno_config": {"kind": "webhook", "url": agent_url}})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("agno_config.url")),
        "{err}"
    );
    assert_eq!(agent.calls().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_hooks_to_loopback_are_refused() {
    let (hits, hook) = recorder("127.0.0.1".parse().unwrap()).await;
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let mut options = allowing(
        ManagerOptions::new(&tg_url).await,
        &harness::test_network_subnet(),
    );
    options
        .env
        .push(("BOTFLEET_SAMPLE_INTERVAL_SECS".into(), "1".into()));
    let m = Manager::spawn(options);
    let created = Created::from_body(
        &m.create_settled("outbound", &tg.add_bot(1_700_004, "alert_guard_bot"))
            .await,
    );
    let threshold = |url: &str| {
        json!({"scope": "instance", "instance_id": created.id, "metric_type": "health",
            "comparison": "lt", "threshold_value": 1, "webhook_url": url})
    };
    let (status, err) = m.post("/api/v1/alerts/thresholds", &threshold(&hook)).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("webhook_url")),
        "{err}"
    );
    let by_name = hook.replace("127.0.0.1", "localhost");
    let (status, t) = m
        .post("/api/v1/alerts/thresholds", &threshold(&by_name))
        .await;
    assert_eq!(status, 201, "{t}");

    m.verb(&created.id, "stop").await;
    m.wait_get("/api/v1/alerts?status=active", |b| b["count"] == 1)
        .await;
    let line = wait_log(&m, &["alert webhook not called", "destination refused"]).await;
    assert!(line.contains("localhost"), "{line}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the alert hook was called");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_network_wins_over_the_allowlist() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_700_005, "denied_hook_bot");
    let (hook, hook_url) = FakeWebhook::start().await;
    // Loopback is allowed (the tests' default) and denied: denied it is.
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.push((
        "BOTFLEET_OUTBOUND_DENY".into(),
        "127.0.0.0/8,::1/128".into(),
    ));
    let m = Manager::spawn(options);
    let created = Created::from_body(&m.create_settled("outbound", &token).await);
    let config_path = format!("/api/v1/instances/{}/webhook/config", created.id);
    let (status, err) = put_json(&m, &config_path, &json!({"url": hook_url})).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");
    assert_eq!(
        err["error"], "url: destination refused: 127.0.0.1 is in a denied network",
        "{err}"
    );
    let by_name = hook_url.replace("127.0.0.1", "localhost");
    let (status, view) = put_json(
        &m,
        &config_path,
        &json!({"url": by_name, "events": ["message.in"]}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    tg.push_text(&token, 51, "denied");
    let dead = next_dead(&m, &created.id, &[]).await;
    let reason = dead["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("destination refused: localhost resolves only to refused addresses")
            && reason.contains("in a denied network"),
        "{dead}"
    );
    assert!(hook.deliveries().is_empty());

    // The worker has the same policy.
    let container = m.worker_container(&created.id).expect("the worker");
    let env = harness::docker_lines(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &container,
    ]);
    assert!(
        env.iter()
            .any(|v| v == "BOTFLEET_OUTBOUND_DENY=127.0.0.0/8,::1/128"),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|v| v.starts_with("BOTFLEET_OUTBOUND_ALLOW=127.0.0.0/8,::1/128,")),
        "{env:?}"
    );
}
