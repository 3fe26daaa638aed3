//! More than Telegram, end to end: the providers listed with what each can do, each provider's
//! credentials checked in its shape, the seed's QR routes; a Slack bot (Socket Mode) and a WhatsApp bot
//! (Cloud API, callbacks through the manager) in real worker containers against their fakes: receive,
//! the agent's reply, sends, media, events stored, restart survival; platform callbacks verified the
//! platform's way (valid, wrong, stale and missing signatures), kept while the worker is down; and
//! Telegram in webhook mode.

use std::{net::SocketAddr, time::Duration};

use botfleet_tests::{
    fake_agent::FakeAgent,
    fake_discord::FakeDiscord,
    fake_slack::FakeSlack,
    fake_webhook::FakeWebhook,
    fake_whatsapp::FakeWhatsapp,
    harness::{self, Manager, ManagerOptions},
    platform_signing::{discord_keys, sign_discord, sign_slack, unix_now},
};
use serde_json::{Value, json};

fn gateway(port: u16) -> SocketAddr {
    SocketAddr::new(harness::test_network_gateway(), port)
}

async fn fake_agent() -> (FakeAgent, String) {
    let (agent, addr) = FakeAgent::start(gateway(0)).await.unwrap();
    (agent, format!("http://{addr}"))
}

/// Creates a bot and waits until it is ready; returns (id, api_url, api_key).
async fn create_ready(m: &Manager, body: Value) -> (String, String, String) {
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=60", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["process_result"]["details"]["auth_status"], "client_ready",
        "{created}"
    );
    let c = harness::Created::from_body(&created);
    (c.id, c.worker_url, c.api_key)
}

async fn worker_post(api_url: &str, key: &str, path: &str, body: Value) -> (u16, Value) {
    harness::send(
        reqwest::Client::new()
            .post(format!("{api_url}{path}"))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

/// A webhook receiver for the instance's `message.in` events (webhooks out).
async fn hook_for(m: &Manager, id: &str) -> FakeWebhook {
    let (hook, url) = FakeWebhook::start().await;
    let (status, body) = harness::send(
        m.request(
            reqwest::Method::PUT,
            &format!("/api/v1/instances/{id}/webhook/config"),
        )
        .json(&json!({"url": url, "events": ["message.in"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    hook
}

/// Waits until `hook` got a `message.in` from `chat` saying `text`.
async fn delivered(hook: &FakeWebhook, chat: &str, text: &str) {
    eventually(
        &format!("message.in from {chat} delivered to the webhook"),
        || {
            hook.accepted("message.in").iter().any(|d| {
                let data = &d.json()["data"];
                data["chat_id"] == chat && data["text"] == text
            })
        },
    )
    .await;
}

/// Polls `check` until it holds (30 s at most).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn providers_are_listed_and_each_ones_credentials_are_checked_in_its_shape() {
    let (_fake, url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&url).await);
    let (status, list) = m.get("/api/v1/providers").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["telegram", "discord", "slack", "whatsapp"]);
    let whatsapp = &list["providers"][3];
    assert_eq!(whatsapp["capabilities"]["receive"], json!(["webhook"]));
    assert_eq!(whatsapp["capabilities"]["parse_modes"], false);
    assert_eq!(
        whatsapp["webhook_path"],
        "/api/v1/webhooks/whatsapp/{instance_id}"
    );
    assert_eq!(
        list["providers"][0]["capabilities"]["receive"],
        json!(["polling", "webhook"])
    );

    let create = |provider: &str, extra: Value| {
        let mut body = json!({"user_id": "p", "provider": provider, "type_instance": ["api"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (body, field) in [
        (
            create(
                "discord",
                json!({"credentials": {"bot_token": "secret-but-short"}}),
            ),
            "credentials.bot_token",
        ),
        (
            create(
                "slack",
                json!({"credentials": {"bot_token": "xoxb-1234-5678-abcdef"}}),
            ),
            "credentials.app_token",
        ),
        (
            create(
                "slack",
                json!({"token": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            ),
            "token",
        ),
        (create("whatsapp", json!({})), "credentials"),
        (
            create(
                "slack",
                json!({"receive": "polling", "credentials": {"bot_token": "xoxb-1234-5678-abcdef",
                        "app_token": "xapp-1-A1-2-abcdefabcdef"}}),
            ),
            "receive",
        ),
    ] {
        let (status, err) = m.post("/api/v1/instances", &body).await;
        assert_eq!((status, err["field"].as_str()), (422, Some(field)), "{err}");
        assert!(!err.to_string().contains("secret-but-short"), "{err}");
    }

    // The seed's QR routes exist for every instance; no provider of this build pairs by QR.
    let (status, created) = m
        .post(
            "/api/v1/instances",
            &create("telegram", json!({"token": _fake.add_bot(9101, "qr_bot")})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["instance_id"].as_str().unwrap();
    for route in ["qr", "current-qr"] {
        let (status, body) = m.get(&format!("/api/v1/instances/{id}/{route}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "QR code not available");
        assert!(
            body["message"].as_str().unwrap().contains("Telegram"),
            "{body}"
        );
    }
    let (status, history) = m
        .get(&format!("/api/v1/instances/{id}/qr-history?limit=5"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        history,
        json!({"success": true, "data": [], "count": 0, "limit": 5})
    );
    assert_eq!(m.get("/api/v1/instances/nope/qr").await.0, 404);
    assert_eq!(
        m.get(&format!("/api/v1/instances/{id}/qr-history?limit=0"))
            .await
            .0,
        422
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_bot_converses_over_socket_mode() {
    let (slack, addr) = FakeSlack::start(gateway(0)).await.unwrap();
    let (_telegram, telegram_url) = harness::start_fake_telegram().await;
    let (_agent, agent) = fake_agent().await;
    let mut options = ManagerOptions::new(&telegram_url).await;
    options.env.push((
        "BOTFLEET_SLACK_API_URL".into(),
        format!("http://{addr}/api/"),
    ));
    let m = Manager::spawn(options);
    let app = slack.add_app("fleetbot");
    let channel = slack.add_channel("general", false);
    let user = slack.add_user("Ann");
    let (id, api_url, key) = create_ready(
        &m,
        json!({"user_id": "s", "provider": "slack", "type_instance": ["api"],
               "credentials": {"bot_token": app.bot_token, "app_token": app.app_token,
                               "signing_secret": "0123456789abcdef0123"},
               "agno_config": {"kind": "webhook", "url": format!("{agent}/webhook")}}),
    )
    .await;
    let hook = hook_for(&m, &id).await;

    // In: a message in the channel reaches the bot, the agent answers in the same channel.
    slack.push_message(&app, &channel, &user, "hello slack");
    eventually("the agent's reply posted to the channel", || {
        slack
            .posted()
            .iter()
            .any(|p| p.channel == channel && p.app_id == app.app_id)
    })
    .await;
    delivered(&hook, &channel, "hello slack").await;
    // Out: a send through the worker's API, and a photo by URL.
    let (status, sent) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": channel, "message": "from the API"}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["provider"], "slack");
    let (status, refused) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": channel, "message": "x", "parseMode": "HTML"}),
    )
    .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("parseMode")),
        "{refused}"
    );
    let (status, media) = worker_post(
        &api_url,
        &key,
        "/send/media",
        json!({"chatId": channel, "type": "photo", "url": "https://example.org/cat.png", "caption": "a cat"}),
    )
    .await;
    assert_eq!(status, 200, "{media}");
    let other = slack.add_channel("random", false);
    let (status, bulk) = worker_post(
        &api_url,
        &key,
        "/send-bulk",
        json!({"recipients": [channel, other], "message": "to all"}),
    )
    .await;
    assert_eq!(
        (status, bulk["successCount"].as_u64()),
        (200, Some(2)),
        "{bulk}"
    );
    assert!(
        slack
            .posted()
            .iter()
            .any(|p| p.text.as_deref() == Some("from the API") && p.channel == channel)
    );
    // The manager stored the conversation with Slack's own chat id.
    let messages = m
        .wait_get(
            &format!("/api/v1/instances/{id}/messages?chatId={channel}&limit=10"),
            |b| b["count"].as_u64().unwrap_or(0) >= 3,
        )
        .await;
    assert!(
        messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "hello slack"
                && m["direction"] == "in"
                && m["chat_id"] == channel.as_str()),
        "{messages}"
    );

    // Slack's own verification at the manager's callback route: url_verification answered, a stale,
    // wrong or missing signature refused.
    let hook = m.url(&format!("/api/v1/webhooks/slack/{id}"));
    let body = br#"{"type":"url_verification","challenge":"c-123","token":"t"}"#;
    let post = |ts: i64, signature: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(&hook)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts.to_string())
            .body(&body[..]);
        if let Some(signature) = signature {
            request = request.header("x-slack-signature", signature);
        }
        harness::send(request)
    };
    let now = unix_now();
    let (status, answer) = post(now, Some(sign_slack("0123456789abcdef0123", now, body))).await;
    assert_eq!(
        (status, answer["challenge"].as_str()),
        (200, Some("c-123")),
        "{answer}"
    );
    let stale = now - 6 * 60;
    let (status, err) = post(stale, Some(sign_slack("0123456789abcdef0123", stale, body))).await;
    assert_eq!(status, 401, "{err}");
    assert!(err["error"].as_str().unwrap().contains("stale"), "{err}");
    assert_eq!(
        post(now, Some(sign_slack("ffffffffffffffffffff", now, body)))
            .await
            .0,
        401
    );
    assert_eq!(post(now, None).await.0, 401);
    let metrics = m.get_text("/metrics").await;
    assert!(
        metrics.contains("botfleet_platform_callbacks_rejected_total{platform=\"slack\""),
        "rejections are counted"
    );

    // Restart survival: a fresh worker reconnects and answers again.
    let restarted = m.verb(&id, "restart").await;
    assert_eq!(restarted["success"], true, "{restarted}");
    m.wait_get(&format!("/api/v1/instances/{id}"), |b| {
        b["instance"]["auth_status"] == "client_ready"
    })
    .await;
    let before = slack.posted().len();
    slack.push_message(&app, &channel, &user, "still there?");
    eventually("a reply after the restart", || {
        slack.posted().len() > before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whatsapp_bot_takes_verified_callbacks_and_keeps_them_while_its_worker_is_down() {
    let (whatsapp, addr) = FakeWhatsapp::start(gateway(0)).await.unwrap();
    let (_telegram, telegram_url) = harness::start_fake_telegram().await;
    let (_agent, agent) = fake_agent().await;
    let mut options = ManagerOptions::new(&telegram_url).await;
    options.env.push((
        "BOTFLEET_WHATSAPP_API_URL".into(),
        format!("http://{addr}/v21.0"),
    ));
    let m = Manager::spawn(options);
    let number = whatsapp.add_number("Fleet Support");
    let (id, api_url, key) = create_ready(
        &m,
        json!({"user_id": "w", "provider": "whatsapp", "type_instance": ["api"],
               "credentials": number.credentials_json(),
               "agno_config": {"kind": "webhook", "url": format!("{agent}/webhook")}}),
    )
    .await;
    let out = hook_for(&m, &id).await;
    let hook = m.url(&format!("/api/v1/webhooks/whatsapp/{id}"));

    // Meta's subscription handshake: the challenge echoed for the bot's verify token only.
    whatsapp.subscribe(&number, &hook).await.unwrap();
    let (status, _) = harness::send(reqwest::Client::new().get(&hook).query(&[
        ("hub.mode", "subscribe"),
        ("hub.challenge", "42"),
        ("hub.verify_token", "not-the-token"),
    ]))
    .await;
    assert_eq!(status, 403);

    // A signed message in: the agent's answer goes back to the sender through the Graph API.
    let status = whatsapp
        .push_text(&number, "15550001111", "Ann", "hello whatsapp")
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200);
    eventually("the agent's reply sent to the sender", || {
        whatsapp
            .sent_by(&number.phone_number_id)
            .iter()
            .any(|s| s.wa_id == "15550001111" && s.kind == "text")
    })
    .await;
    delivered(&out, "15550001111", "hello whatsapp").await;

    // Wrong, tampered and missing signatures are refused before anything reaches the worker.
    let callback = whatsapp.text_callback(&number, "15550002222", "Bob", "forged");
    let tampered = reqwest::Client::new()
        .post(&hook)
        .header("x-hub-signature-256", &callback.signature)
        .body(
            String::from_utf8(callback.body.clone())
                .unwrap()
                .replace("forged", "FORGED"),
        );
    assert_eq!(harness::send(tampered).await.0, 401);
    let unsigned = reqwest::Client::new()
        .post(&hook)
        .body(callback.body.clone());
    assert_eq!(harness::send(unsigned).await.0, 401);
    let wrong = reqwest::Client::new()
        .post(&hook)
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(callback.body.clone());
    assert_eq!(harness::send(wrong).await.0, 401);
    assert!(
        !whatsapp.sent().iter().any(|s| s.wa_id == "15550002222"),
        "nothing unverified reached the worker"
    );

    // Out through the worker's API: text and a document by link; what WhatsApp cannot do is refused.
    let (status, sent) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": "+15550003333", "message": "from the API"}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent["messageId"].as_str().unwrap().starts_with("wamid."));
    let (status, _) = worker_post(
        &api_url,
        &key,
        "/send/media",
        json!({"chatId": "15550003333", "type": "document", "url": "https://example.org/a.pdf"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, bulk) = worker_post(
        &api_url,
        &key,
        "/send-bulk",
        json!({"recipients": ["15550005555", {"chatId": "15550006666", "vars": {"name": "Di"}}],
               "message": "Hello {name}"}),
    )
    .await;
    assert_eq!(
        (status, bulk["successCount"].as_u64()),
        (200, Some(2)),
        "{bulk}"
    );
    let (status, err) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": "@channel", "message": "x"}),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("chatId")),
        "{err}"
    );

    // A callback while the worker is stopped is kept, visible, and handed on once it runs again.
    let stopped = m.verb(&id, "stop").await;
    assert_eq!(stopped["success"], true, "{stopped}");
    let status = whatsapp
        .push_text(&number, "15550004444", "Cy", "are you there?")
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200, "accepted while the worker is down");
    let pending = m
        .wait_get(&format!("/api/v1/instances/{id}/platform-callbacks"), |b| {
            b["pending"] == 1 && b["callbacks"][0]["attempts"].as_i64().unwrap_or(0) >= 1
        })
        .await;
    assert!(
        pending["callbacks"][0]["last_error"].is_string(),
        "{pending}"
    );
    let started = m.verb(&id, "start").await;
    assert_eq!(started["success"], true, "{started}");
    eventually("the kept callback answered after the start", || {
        whatsapp.sent().iter().any(|s| s.wa_id == "15550004444")
    })
    .await;
    let done = m
        .wait_get(&format!("/api/v1/instances/{id}/platform-callbacks"), |b| {
            b["pending"] == 0
        })
        .await;
    assert!(done["count"].as_u64().unwrap() >= 2, "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_in_webhook_mode_takes_updates_through_the_manager() {
    let (fake, url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&url).await);
    let token = fake.add_bot(9201, "hook_bot");
    let (id, _, _) = create_ready(
        &m,
        json!({"user_id": "t", "provider": "telegram", "type_instance": ["api"], "token": token,
               "receive": "webhook"}),
    )
    .await;
    let hook = m.url(&format!("/api/v1/webhooks/telegram/{id}"));
    let mut registered = None;
    eventually("setWebhook called with the manager's URL", || {
        registered = fake.webhook(&token);
        registered.is_some()
    })
    .await;
    let (url, secret) = registered.unwrap();
    assert_eq!(url, hook);
    let secret = secret.expect("a secret token");
    assert_eq!(
        fake.calls(&token, "getUpdates"),
        0,
        "no polling in webhook mode"
    );

    let update = fake.text_update(4242, "via webhook");
    let post = |secret: Option<&str>| {
        let mut request = reqwest::Client::new().post(&hook).json(&update);
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        harness::send(request)
    };
    assert_eq!(post(Some("wrong")).await.0, 401);
    assert_eq!(post(None).await.0, 401);
    let (status, accepted) = post(Some(&secret)).await;
    assert_eq!(status, 200, "{accepted}");
    let messages = m
        .wait_get(
            &format!("/api/v1/instances/{id}/messages?chatId=4242"),
            |b| b["count"] == 1,
        )
        .await;
    assert_eq!(messages["messages"][0]["text"], "via webhook", "{messages}");
    assert_eq!(messages["messages"][0]["chat_id"], "4242");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discord_bot_converses_over_the_gateway_and_resumes() {
    let (discord, addr) = FakeDiscord::start(gateway(0)).await.unwrap();
    let (_telegram, telegram_url) = harness::start_fake_telegram().await;
    let (_agent, agent) = fake_agent().await;
    let mut options = ManagerOptions::new(&telegram_url).await;
    options.env.extend([
        (
            "BOTFLEET_DISCORD_API_URL".into(),
            format!("http://{addr}/api"),
        ),
        (
            "BOTFLEET_DISCORD_GATEWAY_URL".into(),
            format!("ws://{addr}"),
        ),
    ]);
    let m = Manager::spawn(options);
    let token = discord.add_bot("fleetbot");
    let guild = discord.add_guild(&token, "Ops");
    let (signing, public_key) = discord_keys([7; 32]);
    let (id, api_url, key) = create_ready(
        &m,
        json!({"user_id": "d", "provider": "discord", "type_instance": ["api"],
               "credentials": {"bot_token": token, "public_key": public_key},
               "agno_config": {"kind": "webhook", "url": format!("{agent}/webhook")}}),
    )
    .await;

    let hook = hook_for(&m, &id).await;
    // In through the gateway, the agent's reply out through REST to the same channel.
    discord.push_message(guild.general, "hello discord");
    let sent = discord.wait_sent(1, Duration::from_secs(30)).await;
    assert_eq!(sent[0].channel_id, guild.general, "{sent:?}");
    delivered(&hook, &guild.general.to_string(), "hello discord").await;
    // Out through the worker's API; a keyboard is something Discord bots do not take here.
    let channel = guild.general.to_string();
    let (status, answer) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": channel, "message": "from the API"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, refused) = worker_post(
        &api_url,
        &key,
        "/send",
        json!({"chatId": channel, "message": "x", "replyMarkup": {"inline_keyboard": []}}),
    )
    .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("replyMarkup"))
    );
    discord.host_file(
        "cat.png",
        "image/png",
        vec![0x89, b'P', b'N', b'G', 1, 2, 3],
    );
    let (status, media) = worker_post(
        &api_url,
        &key,
        "/send/media",
        json!({"chatId": channel, "type": "photo", "url": format!("http://{addr}/test-files/cat.png")}),
    )
    .await;
    assert_eq!(status, 200, "{media}");
    assert!(
        discord.sent().iter().any(|s| !s.files.is_empty()),
        "the photo was uploaded"
    );

    // A dropped connection resumes (no new IDENTIFY) and the bot still hears its channel.
    let identifies = discord.identifies(&token);
    discord.drop_socket(&token);
    assert!(
        discord
            .wait_until(Duration::from_secs(30), |d| d.resumes(&token) >= 1)
            .await,
        "the gateway session was resumed"
    );
    assert_eq!(discord.identifies(&token), identifies);
    let before = discord.sent().len();
    discord.push_message(guild.general, "after the resume");
    discord.wait_sent(before + 1, Duration::from_secs(30)).await;
    let stored = m
        .wait_get(
            &format!("/api/v1/instances/{id}/messages?chatId={channel}&limit=20"),
            |b| b["count"].as_u64().unwrap_or(0) >= 5,
        )
        .await;
    assert!(stored.to_string().contains("after the resume"), "{stored}");

    // Restart survival: a fresh worker identifies again and answers.
    let restarted = m.verb(&id, "restart").await;
    assert_eq!(restarted["success"], true, "{restarted}");
    m.wait_get(&format!("/api/v1/instances/{id}"), |b| {
        b["instance"]["auth_status"] == "client_ready"
    })
    .await;
    let before = discord.sent().len();
    discord.push_message(guild.general, "after the restart");
    discord.wait_sent(before + 1, Duration::from_secs(30)).await;

    // Discord's interaction signature at the manager's callback route: a signed PING is answered with
    // PONG; a wrong or missing signature is refused.
    let hook = m.url(&format!("/api/v1/webhooks/discord/{id}"));
    let body = br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
    let ts = unix_now().to_string();
    let post = |signature: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(&hook)
            .header("x-signature-timestamp", &ts)
            .body(&body[..]);
        if let Some(signature) = signature {
            request = request.header("x-signature-ed25519", signature);
        }
        harness::send(request)
    };
    let (status, pong) = post(Some(sign_discord(&signing, &ts, body))).await;
    assert_eq!((status, pong["type"].as_u64()), (200, Some(1)), "{pong}");
    let (other, _) = discord_keys([9; 32]);
    assert_eq!(post(Some(sign_discord(&other, &ts, body))).await.0, 401);
    assert_eq!(post(None).await.0, 401);
}
