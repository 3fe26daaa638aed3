//! The worker's view of its conversations: chats, groups, contacts and recent messages, fed by real
//! long polling against the fake Telegram.

use std::time::Duration;

use botfleet_tests::harness::{self, Manager, ManagerOptions, send};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_lists_what_the_bot_has_seen() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_500_001, "chat_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let created = harness::Created::from_body(&m.create_settled("conv", &token).await);
    let (id, key, base) = (created.id, created.api_key, created.worker_url);
    let client = reqwest::Client::new();
    let get = |path: &str| send(client.get(format!("{base}{path}")).bearer_auth(&key));

    for text in ["one", "two", "three"] {
        fake.push_text(&token, 111, text);
    }
    fake.push_text(&token, -222, "hello group");
    let (status, _) = send(
        client
            .post(format!("{base}/send"))
            .bearer_auth(&key)
            .json(&json!({"chatId": 111, "message": "reply"})),
    )
    .await;
    assert_eq!(status, 200);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let chats = loop {
        let (status, chats) = get("/chats").await;
        assert_eq!(status, 200);
        if chats.as_array().is_some_and(|c| c.len() == 2) && chats.to_string().contains("reply") {
            break chats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chats never showed up: {chats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let private = chats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "111")
        .unwrap();
    assert_eq!(private["type"], "private");
    assert_eq!(private["messageCount"], 4);
    assert_eq!(private["lastMessage"], "reply");
    assert_eq!(get("/telegram/chats").await.1, get("/chats").await.1);

    let (_, groups) = get("/groups").await;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["name"], "Group 222");

    let (_, contacts) = get("/contacts").await;
    assert_names(&contacts, &["Tester", "Member"]);
    assert_eq!(get("/telegram/contacts").await.0, 200);

    let (status, messages) = get("/messages?chatId=111&limit=3").await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["reply", "three", "two"], "newest first");
    assert_eq!(messages[0]["direction"], "out");
    assert_eq!(messages[1]["direction"], "in");

    let (status, err) = get("/messages").await;
    assert_eq!((status, err["field"].as_str()), (422, Some("chatId")));
    let (status, _) = get("/messages?chatId=abc").await;
    assert_eq!(status, 422);
    let (status, _) = get("/messages?chatId=999").await;
    assert_eq!(status, 404);
    let (status, _) = get("/messages?chatId=111&limit=0").await;
    assert_eq!(status, 422);
    let (status, _) = send(client.get(format!("{base}/chats"))).await;
    assert_eq!(status, 401);

    // The manager keeps the same picture in its database.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, chats) = m.get(&format!("/api/v1/instances/{id}/chats")).await;
        if chats["count"] == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the manager never stored the chats: {chats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, groups) = m.get(&format!("/api/v1/instances/{id}/groups")).await;
    assert_eq!(status, 200);
    assert_eq!(groups["count"], 1, "{groups}");
    assert_eq!(groups["groups"][0]["chat_id"], "-222");
    let (_, contacts) = m.get(&format!("/api/v1/instances/{id}/contacts")).await;
    assert_names(&contacts["contacts"], &["Tester", "Member"]);
    let tester = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Tester")
        .unwrap();
    assert_eq!(
        tester["message_count"], 3,
        "only the messages Tester wrote: {contacts}"
    );
    let (status, _) = m.get("/api/v1/instances/nope/contacts").await;
    assert_eq!(status, 404);
}

/// Asserts that the array `list` holds an entry named each of `names`.
fn assert_names(list: &serde_json::Value, names: &[&str]) {
    let present: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in names {
        assert!(present.contains(name), "{name} missing from {present:?}");
    }
}

async fn manager_messages(m: &Manager, id: &str, chat: i64) -> Vec<serde_json::Value> {
    let (status, body) = m
        .get(&format!(
            "/api/v1/instances/{id}/messages?chatId={chat}&limit=1000"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// Waits until the manager has stored `n` messages of `chat`, then checks that more rounds of collection
/// add none (nothing stored twice); returns them.
async fn stored_once(m: &Manager, id: &str, chat: i64, n: usize) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored = manager_messages(m, id, chat).await;
        if stored.len() >= n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} messages reached the manager",
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = manager_messages(m, id, chat).await;
    assert_eq!(stored.len(), n, "a message was stored twice");
    stored
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_reach_the_manager_even_across_its_downtime_and_only_once() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_500_002, "durable_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    options.health_interval_secs = 0.5;
    let mut m = Manager::spawn(options.clone());
    let created = harness::Created::from_body(&m.create_settled("conv", &token).await);
    let (id, key, base) = (created.id, created.api_key, created.worker_url);

    // Traffic while the manager runs: collected.
    for i in 0..5 {
        fake.push_text(&token, 333, &format!("before {i}"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while manager_messages(&m, &id, 333).await.len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages never reached the manager"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The manager is down; the bot keeps talking.
    m.stop();
    for i in 0..20 {
        fake.push_text(&token, 333, &format!("during {i}"));
    }
    let client = reqwest::Client::new();
    for i in 0..3 {
        let (status, _) = send(
            client
                .post(format!("{base}/send"))
                .bearer_auth(&key)
                .json(&json!({"chatId": 333, "message": format!("out {i}")})),
        )
        .await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let m2 = Manager::spawn(options);
    let stored = stored_once(&m2, &id, 333, 28).await;
    let texts: std::collections::HashSet<&str> =
        stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 28);
    assert!(texts.contains("during 19") && texts.contains("out 2") && texts.contains("before 0"));
    let outs = stored.iter().filter(|m| m["direction"] == "out").count();
    assert_eq!(outs, 3);
    let (_, chats) = m2.get(&format!("/api/v1/instances/{id}/chats")).await;
    assert_eq!(chats["chats"][0]["message_count"], 28, "{chats}");
    let (status, _) = m2.get(&format!("/api/v1/instances/{id}/messages")).await;
    assert_eq!(status, 422);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_bot_has_seen_outlives_a_worker_restart() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_500_003, "remembering_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let created = harness::Created::from_body(&m.create_settled("conv", &token).await);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", created.worker_url))
            .bearer_auth(&created.api_key)
            .send()
    };
    for text in ["a", "b", "c"] {
        fake.push_text(&token, 4_321, text);
    }
    fake.push_text(&token, -555, "group hello");
    let seen_both = |chats: &serde_json::Value| {
        chats.as_array().is_some_and(|c| c.len() == 2)
            && chats.to_string().contains("\"messageCount\":3")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let chats: serde_json::Value = get("/chats").await.unwrap().json().await.unwrap();
        if seen_both(&chats) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chats never showed up: {chats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    m.verb(&created.id, "restart").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let chats = loop {
        // While the worker restarts its port refuses or resets connections.
        if let Ok(r) = get("/chats").await
            && r.status() == 200
        {
            let chats: serde_json::Value = r.json().await.unwrap();
            // A new worker process counts from zero.
            let status: serde_json::Value = get("/status").await.unwrap().json().await.unwrap();
            if status["messages"]["received"] == 0 {
                break chats;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        seen_both(&chats),
        "the restarted worker forgot its chats: {chats}"
    );
    let messages: serde_json::Value = get("/messages?chatId=4321&limit=10")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = messages
        .as_array()
        .or_else(|| messages["messages"].as_array())
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["c", "b", "a"]);
    let contacts: serde_json::Value = get("/contacts").await.unwrap().json().await.unwrap();
    assert!(contacts.to_string().contains("Tester"), "{contacts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_a_worker_killed_while_the_manager_was_down_still_arrive() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_500_004, "outbox_bot");
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let created = harness::Created::from_body(&m.create_settled("conv", &token).await);
    let container = m.containers()[0].clone();
    // Stopped, so that nothing else collects (and acknowledges) the worker's events meanwhile.
    m.stop();

    // A long poll of the worker's outbox returns as soon as an event arrives. The outbox is the
    // manager's: only its control key reads it.
    let client = reqwest::Client::new();
    let control_key = harness::control_key(&options, &created.id).await;
    let events_url = format!("{}/events", created.worker_url);
    let (_, pending) = send(client.get(&events_url).bearer_auth(&control_key)).await;
    assert!(pending.get("report").is_none(), "{pending}");
    // Asked with `status=true`, the answer also carries the bot's health and status.
    let (status, reported) = send(
        client
            .get(format!("{events_url}?status=true"))
            .bearer_auth(&control_key),
    )
    .await;
    assert_eq!(status, 200, "{reported}");
    assert_eq!(reported["report"]["health"], "healthy", "{reported}");
    assert_eq!(
        reported["report"]["status"]["info"]["username"], "outbox_bot",
        "{reported}"
    );
    let last_seq = pending["events"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0);
    let long_poll = tokio::spawn({
        let (client, url, key) = (client.clone(), events_url.clone(), control_key.clone());
        async move {
            let asked = std::time::Instant::now();
            let answer = send(
                client
                    .get(format!("{url}?after={last_seq}&wait_ms=15000"))
                    .bearer_auth(&key),
            )
            .await;
            (answer, asked.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Nobody collects these; then the worker dies without a goodbye.
    for i in 0..10 {
        fake.push_text(&token, 616, &format!("unseen {i}"));
    }
    let ((status, batch), waited) = long_poll.await.unwrap();
    assert_eq!(status, 200, "{batch}");
    assert!(
        waited < Duration::from_secs(14),
        "the long poll did not return on the event"
    );
    assert_eq!(batch["events"][0]["kind"], "message.in", "{batch}");
    let (status, _) = send(
        client
            .get(format!("{events_url}?wait_ms=30001"))
            .bearer_auth(&control_key),
    )
    .await;
    assert_eq!(status, 422);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = send(
            client
                .get(format!("{}/status", created.worker_url))
                .bearer_auth(&created.api_key),
        )
        .await;
        if status["messages"]["received"] == 10 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never got the messages: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    harness::docker(&["kill", &container]);

    // The manager comes back, restarts the worker, and collects what the worker kept on its volume.
    let m2 = Manager::spawn(options);
    stored_once(&m2, &created.id, 616, 10).await;
    drop(m);
}
