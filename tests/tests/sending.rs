//! Sending at the pace Telegram allows: bulk jobs to many chats stay within the limits (the fake
//! enforces them) and get every message through, and a storm of 429s is waited out with every message delivered once.

use std::{collections::HashSet, time::Duration};

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, send};
use serde_json::{Value, json};

/// Starts a bulk job (more recipients than are answered inline) and returns its id.
async fn start_job(base: &str, key: &str, recipients: Vec<Value>, template: &str) -> String {
    let (status, job) = send(
        reqwest::Client::new()
            .post(format!("{base}/send-bulk"))
            .bearer_auth(key)
            .json(&json!({"recipients": recipients, "message": template})),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    job["jobId"].as_str().unwrap().to_string()
}

async fn worker(m: &Manager, token: &str) -> (String, String) {
    let c = Created::from_body(&m.create_settled("send", token).await);
    (c.worker_url, c.api_key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_job_to_100_chats_keeps_telegrams_pace_and_delivers_all() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_700_001, "bulk_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (base, key) = worker(&m, &token).await;
    let client = reqwest::Client::new();
    let recipients: Vec<Value> = (0..100)
        .map(|i| json!({"chatId": 9_000 + i, "vars": {"name": format!("user{i}")}}))
        .collect();
    let job_id = start_job(&base, &key, recipients, "Hello {name}").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (status, job) = send(
            client
                .get(format!("{base}/jobs/{job_id}"))
                .bearer_auth(&key),
        )
        .await;
        assert_eq!(status, 200);
        if job["status"] == "completed" {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["successCount"], 100, "{done}");
    assert_eq!(done["failureCount"], 0);
    let sent = fake.sent();
    assert_eq!(sent.len(), 100);
    let chats: HashSet<String> = sent.iter().map(|s| s.chat_id.to_string()).collect();
    assert_eq!(chats.len(), 100, "a chat got two messages");
    assert!(
        sent.iter()
            .any(|s| s.chat_id == json!(9_042) && s.text == "Hello user42")
    );
    // The fake enforces Telegram's limits: it never had to refuse one.
    assert_eq!(fake.refusals(&token).total(), 0);
    // Never more than 30 messages within any second.
    let mut times: Vec<_> = sent.iter().map(|s| s.at).collect();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(in_window <= 30, "{in_window} messages within one second");
    }
    let (status, _) = send(client.get(format!("{base}/jobs/nope")).bearer_auth(&key)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_is_waited_out_and_every_message_arrives_once() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_700_002, "storm_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (base, key) = worker(&m, &token).await;
    fake.start_storm(&token);
    let client = reqwest::Client::new();
    let recipients: Vec<i64> = (0..10).map(|i| 8_000 + i).collect();
    let (status, body) = send(
        client
            .post(format!("{base}/send-bulk"))
            .bearer_auth(&key)
            .json(&json!({"recipients": recipients, "message": "storm"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalRecipients"], 10);
    assert_eq!(body["successCount"], 10, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 10);
    assert!(
        body["totalDuration"].as_i64().unwrap() >= 1000,
        "the retry_after was not honoured"
    );
    assert!(fake.rate_limited(&token) >= 10, "no storm happened");
    let per_chat: Vec<usize> = recipients
        .iter()
        .map(|c| fake.sent().iter().filter(|s| s.chat_id == json!(c)).count())
        .collect();
    assert!(per_chat.iter().all(|n| *n == 1), "{per_chat:?}");

    for (bad, field) in [
        (json!({"recipients": [], "message": "x"}), "recipients"),
        (
            json!({"recipients": [1, "abc"], "message": "x"}),
            "recipients[1]",
        ),
        (
            json!({"recipients": [{"chatId": 1, "vars": {"n": [1]}}], "message": "x"}),
            "recipients[0].vars.n",
        ),
        (json!({"recipients": [1]}), "message"),
        (
            json!({"recipients": (0..1001).collect::<Vec<_>>(), "message": "x"}),
            "recipients",
        ),
    ] {
        let (status, err) = send(
            client
                .post(format!("{base}/send-bulk"))
                .bearer_auth(&key)
                .json(&bad),
        )
        .await;
        assert_eq!((status, err["field"].as_str()), (422, Some(field)), "{err}");
    }
    let (status, _) = send(
        client
            .post(format!("{base}/telegram/send-bulk"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn formatted_messages_keyboards_and_group_sends() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_700_003, "format_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (base, key) = worker(&m, &token).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        send(
            client
                .post(format!("{base}{path}"))
                .bearer_auth(&key)
                .json(&body),
        )
    };
    let keyboard = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]});
    let (status, body) = post(
        "/send",
        json!({"chatId": 55, "message": "<b>Hi</b>", "parseMode": "HTML", "replyMarkup": keyboard}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = fake.sent();
    assert_eq!(sent[0].parse_mode, "HTML");
    assert_eq!(
        sent[0].reply_markup["inline_keyboard"][0][0]["callback_data"],
        "yes"
    );

    let (status, err) = post(
        "/send",
        json!({"chatId": 55, "message": "x", "parseMode": "RTF"}),
    )
    .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("parseMode")));
    let (status, err) = post(
        "/send",
        json!({"chatId": 55, "message": "x", "replyMarkup": {"keyboard": "no"}}),
    )
    .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("replyMarkup")));

    let (status, body) = post("/groups/-100222/send", json!({"message": "hello group"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        fake.sent()
            .iter()
            .any(|s| s.chat_id == json!(-100222) && s.text == "hello group")
    );
    let (status, err) = post("/groups/55/send", json!({"message": "x"})).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("id")));
    let (status, _) = post("/groups/-1/send", json!({})).await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_job_survives_a_killed_worker_and_its_volume_goes_with_the_instance() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_700_004, "durable_job_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let created = Created::from_body(&m.create_settled("send", &token).await);
    let (base, key) = (created.worker_url.clone(), created.api_key.clone());
    let client = reqwest::Client::new();
    const N: i64 = 150;
    let recipients: Vec<Value> = (0..N)
        .map(|i| json!({"chatId": 11_000 + i, "vars": {"n": i}}))
        .collect();
    let job_id = start_job(&base, &key, recipients, "Number {n}").await;

    // Kill the worker a third of the way through (no goodbye: SIGKILL).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.sent().len() < 50 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never got going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.kill_worker(&created.id);
    let sent_at_kill = fake.sent().len();
    assert!(
        (sent_at_kill as i64) < N,
        "the job finished before the kill"
    );

    // The manager restarts it; the worker finds the job on its volume and finishes it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let response = client
            .get(format!("{base}/jobs/{job_id}"))
            .bearer_auth(&key)
            .send()
            .await;
        if let Ok(r) = response
            && r.status() == 200
        {
            let job: Value = r.json().await.unwrap();
            if job["status"] == "completed" {
                break job;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job was not finished after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["totalRecipients"], N);
    assert_eq!(done["successCount"], N, "{done}");
    let results = done["results"].as_array().unwrap();
    let recipients: HashSet<&str> = results
        .iter()
        .map(|r| r["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(
        recipients.len() as i64,
        N,
        "every recipient has exactly one result"
    );
    let sent = fake.sent();
    let chats: HashSet<String> = sent.iter().map(|s| s.chat_id.to_string()).collect();
    assert_eq!(chats.len() as i64, N, "a recipient was never sent to");
    // Sends that were in flight when the worker died may go out again (at least once), no more.
    assert!(
        sent.len() as i64 <= N + 8,
        "{} messages for {N} recipients",
        sent.len()
    );
    assert!(
        sent.iter()
            .any(|s| s.chat_id == json!(11_149) && s.text == "Number 149")
    );

    assert_eq!(
        harness::fleet_volumes(&m.options.fleet).len(),
        1,
        "one data volume per instance"
    );
    let (status, _) = m.delete(&format!("/api/v1/instances/{}", created.id)).await;
    assert_eq!(status, 200);
    assert!(
        harness::fleet_volumes(&m.options.fleet).is_empty(),
        "the volume outlived its instance"
    );
}

/// Telegram takes one message a second per chat; a send that would wait behind a full line for its
/// chat is refused at once with 429 and `Retry-After`, instead of hanging, and other chats are not
/// held up.
#[tokio::test(flavor = "multi_thread")]
async fn a_chat_whose_line_is_full_answers_429_with_retry_after() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_700_009, "busy_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (base, key) = worker(&m, &token).await;
    let client = reqwest::Client::new();
    let sends = (0..8).map(|i| {
        let request = client
            .post(format!("{base}/send"))
            .bearer_auth(&key)
            .json(&json!({"chatId": 4_200, "message": format!("burst {i}")}));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }
    });
    let answers = futures::future::join_all(sends).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    let sent = answers.iter().filter(|(s, _, _)| *s == 200).count();
    assert!(!refused.is_empty(), "no send was refused: {answers:?}");
    assert_eq!(sent + refused.len(), 8, "{answers:?}");
    for (_, retry_after, body) in &refused {
        assert_eq!(body["code"], "rate_limited", "{body}");
        assert!(retry_after.is_some_and(|s| s >= 1), "{body}");
    }
    // What was accepted was delivered; what was refused was not.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.sent().len() < sent {
        assert!(
            tokio::time::Instant::now() < deadline,
            "accepted sends missing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fake.sent().len(), sent);
    // Another chat is not held up by the busy one.
    let (status, body) = send(
        client
            .post(format!("{base}/send"))
            .bearer_auth(&key)
            .json(&json!({"chatId": 4_201, "message": "other chat"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
