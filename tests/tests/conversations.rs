//! The worker's view of its conversations: chats, groups, contacts and recent messages, fed by real
//! long polling against the fake Telegram.

use std::time::Duration;

use botfleet_tests::harness::{self, Manager, ManagerOptions, create_body, send};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_lists_what_the_bot_has_seen() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_500_001, "chat_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (status, body) = m
        .post(
            "/api/v1/instances?wait=true&timeout=30",
            &create_body("conv", &token),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let d = &body["process_result"]["details"];
    let key = d["api_key"].as_str().unwrap().to_string();
    let base = format!("http://127.0.0.1:{}/api/v1", d["ports"]["api"]);
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
    let names: Vec<&str> = contacts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Tester") && names.contains(&"Member"),
        "{names:?}"
    );
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
}
