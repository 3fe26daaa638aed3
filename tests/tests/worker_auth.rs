//! The worker's control routes belong to the manager (issue #9, item 2): `GET /api/v1/events`,
//! `POST /api/v1/events/ack` and `PUT /api/v1/control/webhook` take only the manager's control key. With
//! the instance's own key they answer 403 (`forbidden`), so a user can neither read the outbox nor
//! acknowledge events the manager has not stored yet (which would lose them), while every user route
//! still answers, and the manager keeps collecting.

use std::time::Duration;

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, send};
use serde_json::{Value, json};

/// Asserts a refusal as the control routes answer the user's key.
fn assert_forbidden(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["code"], "forbidden", "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_users_key_cannot_use_the_managers_control_routes() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_900_001, "guarded_bot");
    let options = ManagerOptions::new(&tg_url).await;
    let m = Manager::spawn(options.clone());
    let created = Created::from_body(&m.create_settled("auth", &token).await);
    let (base, key) = (created.worker_url.clone(), created.api_key.clone());
    let client = reqwest::Client::new();

    assert_forbidden(
        "GET /events",
        send(client.get(format!("{base}/events")).bearer_auth(&key)).await,
    );
    assert_forbidden(
        "GET /events with a long poll",
        send(
            client
                .get(format!("{base}/events?after=0&limit=10&wait_ms=100"))
                .bearer_auth(&key),
        )
        .await,
    );
    assert_forbidden(
        "POST /events/ack",
        send(
            client
                .post(format!("{base}/events/ack"))
                .bearer_auth(&key)
                .json(&json!({"up_to": u64::MAX})),
        )
        .await,
    );
    assert_forbidden(
        "PUT /control/webhook",
        send(
            client
                .put(format!("{base}/control/webhook"))
                .bearer_auth(&key)
                .json(&json!({"configured": false, "events": [], "enabled": false, "has_secret": false})),
        )
        .await,
    );
    // No key at all is still 401, and the user's own routes still answer.
    let (status, _) = send(client.get(format!("{base}/events"))).await;
    assert_eq!(status, 401);
    let (status, body) = send(client.get(format!("{base}/status")).bearer_auth(&key)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "READY", "{body}");

    // The manager's own key still reads the outbox (reading does not acknowledge).
    let control_key = harness::control_key(&options, &created.id).await;
    let (status, batch) = send(
        client
            .get(format!("{base}/events?limit=1000"))
            .bearer_auth(&control_key),
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    assert!(batch["events"].is_array(), "{batch}");

    // And the manager collects what the bot hears, none of it lost to the refused acknowledgement.
    tg.push_text(&token, 4_242, "still collected");
    let path = format!("/api/v1/instances/{}/messages?chatId=4242", created.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = m.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let texts: Vec<&str> = body["messages"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["text"].as_str()).collect())
            .unwrap_or_default();
        if texts.contains(&"still collected") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the manager never stored the message: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
