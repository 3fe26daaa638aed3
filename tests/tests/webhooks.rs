//! Webhooks out: signed deliveries from the manager's durable outbox, retried with backoff, dead-lettered
//! and replayed; configuration set through the manager or on the worker.

use std::time::Duration;

use botfleet_tests::{
    fake_webhook::FakeWebhook,
    harness::{self, Created, Manager, ManagerOptions, send},
};
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "s3cret-s3cret-s3cret";

fn options_with_fast_retries(mut options: ManagerOptions) -> ManagerOptions {
    options.env.extend([
        ("BOTFLEET_WEBHOOK_BACKOFF_MS".to_string(), "200".to_string()),
        ("BOTFLEET_WEBHOOK_MAX_ATTEMPTS".to_string(), "3".to_string()),
    ]);
    options
}

async fn put_json(m: &Manager, path: &str, body: &Value) -> (u16, Value) {
    send(m.request(Method::PUT, path).json(body)).await
}

/// Waits until `pred` holds for the receiver's deliveries.
async fn wait_deliveries(
    hook: &FakeWebhook,
    what: &str,
    pred: impl Fn(&[botfleet_tests::fake_webhook::Delivery]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pred(&hook.deliveries()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}; receiver saw: {:#?}",
            hook.deliveries()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliveries(m: &Manager, id: &str, status: &str) -> Vec<Value> {
    let (code, body) = m
        .get(&format!(
            "/api/v1/instances/{id}/webhook/deliveries?status={status}"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    body["deliveries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_signed_retried_dead_lettered_and_replayed() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_600_001, "hook_bot");
    let (hook, hook_url) = FakeWebhook::start().await;
    let m = Manager::spawn(options_with_fast_retries(
        ManagerOptions::new(&tg_url).await,
    ));
    let created = Created::from_body(&m.create_settled("hooks", &token).await);
    let config_path = format!("/api/v1/instances/{}/webhook/config", created.id);

    // Bad input is refused with the field at fault.
    for (body, field) in [
        (json!({"url": "ftp://example.com"}), "url"),
        (
            json!({"url": hook_url, "events": ["message.in", "message.typo"]}),
            "events[1]",
        ),
        (json!({"url": hook_url, "secret": "short"}), "secret"),
        (json!({"url": hook_url, "nope": 1}), "nope"),
    ] {
        let (status, err) = put_json(&m, &config_path, &body).await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (status, _) = send(
        m.request(Method::PUT, &config_path)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = put_json(
        &m,
        "/api/v1/instances/missing/webhook/config",
        &json!({"url": hook_url}),
    )
    .await;
    assert_eq!(status, 404);

    let (status, view) = put_json(
        &m,
        &config_path,
        &json!({"url": hook_url, "events": ["message.in", "instance.stopped"], "secret": SECRET}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["has_secret"], true);
    assert!(
        view.get("secret").is_none(),
        "a chosen secret is never echoed"
    );
    let (_, shown) = m.get(&config_path).await;
    assert_eq!(shown["url"], hook_url.as_str());
    assert!(!shown.to_string().contains(SECRET));
    // The worker shows it at once (the manager hands it over), without the secret either.
    let (status, on_worker) = send(
        reqwest::Client::new()
            .get(format!("{}/webhook/config", created.worker_url))
            .bearer_auth(&created.api_key),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(on_worker["url"], hook_url.as_str(), "{on_worker}");
    assert_eq!(on_worker["updated_at"], shown["updated_at"]);
    assert!(!on_worker.to_string().contains(SECRET));

    // Two failures, then success: three attempts of one event, all signed, the same event id.
    hook.fail_next(2);
    tg.push_text(&token, 4242, "hello hook");
    wait_deliveries(&hook, "message.in never delivered", |d| {
        d.iter().any(|d| d.accepted && d.event_type == "message.in")
    })
    .await;
    let attempts = hook.deliveries();
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    assert!(attempts.iter().all(|d| d.event_id == attempts[0].event_id));
    assert!(attempts.iter().all(|d| d.signed_with(SECRET)));
    assert!(!attempts[0].signed_with("another-secret-value"));
    let payload = attempts[2].json();
    assert_eq!(payload["id"], attempts[2].event_id.as_str());
    assert_eq!(payload["type"], "message.in");
    assert_eq!(payload["instance_id"], created.id.as_str());
    assert_eq!(payload["data"]["text"], "hello hook");
    assert_eq!(payload["data"]["chat_id"], "4242");
    let envelope = attempts[2].envelope();
    assert_eq!(envelope.event_type, shared::events::EventType::MessageIn);
    assert_eq!(envelope.id, attempts[2].event_id);
    for secret in [token.as_str(), created.api_key.as_str(), SECRET] {
        assert!(
            !attempts[2].body.contains(secret),
            "a secret leaked into a delivery"
        );
    }
    let delivered = deliveries(&m, &created.id, "delivered").await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["attempts"], 3);
    // The filter holds: the bot's own reply-less traffic has no message.out deliveries.
    assert!(
        hook.deliveries()
            .iter()
            .all(|d| d.event_type == "message.in")
    );

    // A receiver that keeps failing: the event is dead after three attempts.
    hook.set_failing(true);
    tg.push_text(&token, 4242, "into the void");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = deliveries(&m, &created.id, "dead").await;
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead[0]["attempts"], 3, "{dead:?}");
    assert_eq!(dead[0]["last_status"], 500);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("500"));
    let dead_id = dead[0]["id"].as_str().unwrap().to_string();
    let tries = hook
        .deliveries()
        .iter()
        .filter(|d| d.event_id == dead_id)
        .count();
    assert_eq!(tries, 3);

    // Replay once the receiver is back: delivered, with the same event id.
    hook.set_failing(false);
    let replay = format!(
        "/api/v1/instances/{}/webhook/deliveries/{dead_id}/replay",
        created.id
    );
    let (status, body) = m.post(&replay, &json!({})).await;
    assert_eq!(status, 202, "{body}");
    wait_deliveries(&hook, "replay never delivered", |d| {
        d.iter().any(|d| d.accepted && d.event_id == dead_id)
    })
    .await;
    let (status, _) = m
        .post(
            &format!(
                "/api/v1/instances/{}/webhook/deliveries/nope/replay",
                created.id
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = m
        .get(&format!(
            "/api/v1/instances/{}/webhook/deliveries?status=weird",
            created.id
        ))
        .await;
    assert_eq!(status, 422);

    // Instance events go out too.
    m.verb(&created.id, "stop").await;
    wait_deliveries(&hook, "instance.stopped never delivered", |d| {
        d.iter()
            .any(|d| d.accepted && d.event_type == "instance.stopped")
    })
    .await;
    // Each accepted event arrived once, apart from the replay asked for.
    let accepted: Vec<String> = hook
        .deliveries()
        .iter()
        .filter(|d| d.accepted)
        .map(|d| d.event_id.clone())
        .collect();
    let unique: std::collections::HashSet<&String> = accepted.iter().collect();
    assert_eq!(
        accepted.len(),
        unique.len(),
        "an event was delivered twice: {accepted:?}"
    );

    let (status, _) = send(m.request(Method::DELETE, &config_path)).await;
    assert_eq!(status, 204);
    let (_, shown) = m.get(&config_path).await;
    assert_eq!(shown["configured"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_set_on_the_worker_reaches_the_manager_and_outlives_restarts() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_600_002, "hook_worker_bot");
    let (hook, hook_url) = FakeWebhook::start().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // Slow enough retries that the manager is surely killed between the first and second attempt.
    options.env.push((
        "BOTFLEET_WEBHOOK_BACKOFF_MS".to_string(),
        "1500".to_string(),
    ));
    let mut m = Manager::spawn(options.clone());
    let created = Created::from_body(&m.create_settled("hooks", &token).await);
    let client = reqwest::Client::new();
    let worker_config = format!("{}/webhook/config", created.worker_url);

    let (status, view) = send(
        client
            .put(&worker_config)
            .bearer_auth(&created.api_key)
            .json(&json!({"url": hook_url, "events": ["message.in"]})),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    let secret = view["secret"]
        .as_str()
        .expect("generated secret shown once")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, shown) = send(client.get(&worker_config).bearer_auth(&created.api_key)).await;
    assert_eq!(shown["url"], hook_url.as_str());
    assert!(shown.get("secret").is_none());
    let (status, _) = send(
        client
            .put(format!("{}/control/webhook", created.worker_url))
            .bearer_auth(&created.api_key)
            .json(&shown),
    )
    .await;
    assert_eq!(status, 403, "the user's key cannot pose as the manager");

    // The manager learns it with its next collection.
    let config_path = format!("/api/v1/instances/{}/webhook/config", created.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, shown) = m.get(&config_path).await;
        if shown["url"] == hook_url.as_str() {
            assert_eq!(shown["events"], json!(["message.in"]));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the manager never learnt the webhook: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The receiver is down and the manager dies with an event queued: nothing is lost.
    hook.set_failing(true);
    tg.push_text(&token, 77, "while down");
    wait_deliveries(&hook, "first attempt never made", |d| !d.is_empty()).await;
    m.kill();
    hook.set_failing(false);
    let m = Manager::spawn(options);
    wait_deliveries(&hook, "queued event lost across the manager restart", |d| {
        d.iter().any(|d| d.accepted)
    })
    .await;
    let got = hook.accepted("message.in");
    assert_eq!(got.len(), 1);
    assert!(
        got[0].signed_with(&secret),
        "signed with the secret the worker generated"
    );
    assert_eq!(got[0].json()["data"]["text"], "while down");

    // A restarted worker shows the configuration again (handed back by the manager).
    m.verb(&created.id, "restart").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The worker is going down and coming up: a refused connection is part of that.
        let shown: Value = match client
            .get(&worker_config)
            .bearer_auth(&created.api_key)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => r.json().await.unwrap_or_default(),
            _ => Value::Null,
        };
        if shown["url"] == hook_url.as_str() {
            assert_eq!(shown["has_secret"], true);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "restarted worker lost the webhook: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
