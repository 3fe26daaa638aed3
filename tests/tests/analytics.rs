//! Conversations, analytics, insights and the LLM block end to end: three people talk to a bot through
//! the fake Telegram, its OpenAI-compatible agent answers (with `usage`), then fails (the fallback goes
//! out), and one chat has blocked the bot (its answer cannot be sent). Every figure the manager shows is
//! compared with what the fakes recorded: the texts pushed and sent, the agent's calls and their tokens.

use std::{net::SocketAddr, time::Duration};

use botfleet_tests::{
    fake_agent::{AgentCall, FakeAgent},
    fake_telegram::FakeTelegram,
    harness::{self, Manager, ManagerOptions, send},
};
use serde_json::{Value, json};

/// Creates a user as the bootstrap admin and logs them in; returns (user id, session token).
async fn user(m: &Manager, name: &str) -> (String, String) {
    let password = format!("{name}-password");
    let (status, user) = m
        .post(
            "/api/v1/users",
            &json!({"username": name, "password": password, "role": "user"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, session) = send(
        m.client
            .post(m.url("/api/v1/auth/login"))
            .json(&json!({"username": name, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    (
        user["id"].as_str().unwrap().to_string(),
        session["access_token"].as_str().unwrap().to_string(),
    )
}

async fn get_as(m: &Manager, bearer: &str, path: &str) -> (u16, Value) {
    send(m.client.get(m.url(path)).bearer_auth(bearer)).await
}

async fn patch(m: &Manager, id: &str, body: Value) -> Value {
    let (status, patched) = send(
        m.request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
            .json(&body),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["instance"]["config_applied"], true, "{patched}");
    patched
}

/// What the fake Telegram accepted from the bot with `token` for `chat`, oldest first.
fn sent_to(fake: &FakeTelegram, token: &str, chat: i64) -> Vec<String> {
    fake.sent()
        .into_iter()
        .filter(|s| s.token == token && s.chat_id == json!(chat))
        .map(|s| s.text)
        .collect()
}

/// Pushes `text` from `chat` and waits until the bot sent its `n`th message there.
async fn say(fake: &FakeTelegram, token: &str, chat: i64, text: &str, n: usize) {
    fake.push_text(token, chat, text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sent_to(fake, token, chat).len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reply to '{text}' in {chat}; sent: {:?}",
            sent_to(fake, token, chat)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn approx(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-6)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_figure_matches_what_the_fakes_saw() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_addr) = FakeAgent::start(SocketAddr::new(harness::test_network_gateway(), 0))
        .await
        .unwrap();
    let openai = format!("http://{agent_addr}/openai/v1/chat/completions");
    let failing = format!("http://{agent_addr}/fail/openai/v1/chat/completions");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (ann_id, ann) = user(&m, "ann").await;
    let (_, bob) = user(&m, "bob").await;
    let token = fake.add_bot(1_800_001, "insight_bot");
    let (status, created) = m
        .post(
            "/api/v1/instances?wait=true&timeout=30",
            &json!({"user_id": ann_id, "provider": "telegram", "type_instance": ["api"], "token": token,
                "config": {"llm_provider": "openai", "llm_url": openai,
                    "welcome_message": "Welcome!", "fallback_message": "Agent is resting.",
                    "conversation_ttl_hours": 2}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["instance_id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/instances/{id}");
    let today = time::OffsetDateTime::now_utc().date();

    // Alice and Bruno talk; a third chat blocked the bot (the fake refuses sends to chat 403).
    let (alice, bruno, blocked) = (901_i64, 902_i64, 403_i64);
    let mut pushed: Vec<(i64, &str)> = Vec::new();
    for (chat, text, n) in [
        (alice, "/start", 1),
        (alice, "hello there", 2),
        (alice, "how are you today", 3),
        (bruno, "question one", 1),
    ] {
        say(&fake, &token, chat, text, n).await;
        pushed.push((chat, text));
    }
    fake.push_text(&token, blocked, "are you there");
    pushed.push((blocked, "are you there"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !agent.calls().iter().any(|c| c.message == "are you there") {
        assert!(tokio::time::Instant::now() < deadline, "never asked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The agent goes down (applied live): the fallback goes out instead.
    patch(&m, &id, json!({"llm_url": failing})).await;
    for (chat, text, n) in [(alice, "refund please", 4), (bruno, "anyone?", 2)] {
        say(&fake, &token, chat, text, n).await;
        pushed.push((chat, text));
    }

    // What the fakes saw.
    let calls: Vec<AgentCall> = agent.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    let usage = |text: &str| {
        calls
            .iter()
            .find(|c| c.message == text)
            .and_then(|c| c.usage)
            .unwrap_or_else(|| panic!("no call about '{text}'"))
    };
    let chat_of = |text: &str| pushed.iter().find(|(_, t)| *t == text).unwrap().0;
    let tokens_in: u64 = calls.iter().map(|c| c.usage.unwrap().0).sum();
    let tokens_out: u64 = calls.iter().map(|c| c.usage.unwrap().1).sum();
    let sent: Vec<String> = fake
        .sent()
        .into_iter()
        .filter(|s| s.token == token)
        .map(|s| s.text)
        .collect();
    assert_eq!(sent.len(), 6, "{sent:?}");
    let fallbacks = 2;

    // The manager has collected everything: 7 questions in, 6 replies out, 1 reply unsent.
    let list = m
        .wait_get(&format!("{base}/conversations"), |l| {
            l["conversations"].as_array().is_some_and(|cs| {
                cs.iter()
                    .map(|c| c["message_count"].as_i64().unwrap_or(0))
                    .sum::<i64>()
                    == 14
            })
        })
        .await;

    // Conversations: one per chat (all within the 2 h window), most recently active first.
    assert_eq!(
        (list["count"].as_u64(), list["total"].as_i64()),
        (Some(3), Some(3)),
        "{list}"
    );
    let conversations = list["conversations"].as_array().unwrap();
    let chats: Vec<&str> = conversations
        .iter()
        .map(|c| c["chat_id"].as_str().unwrap())
        .collect();
    assert_eq!(chats, ["902", "901", "403"], "{list}");
    let mut latencies = Vec::new();
    let mut last_answered_at = None;
    for conversation in conversations {
        let chat: i64 = conversation["chat_id"].as_str().unwrap().parse().unwrap();
        let questions: Vec<&str> = pushed
            .iter()
            .filter(|(c, _)| *c == chat)
            .map(|(_, t)| *t)
            .collect();
        let replies = sent_to(&fake, &token, chat);
        let unsent = usize::from(chat == blocked);
        let (chat_in, chat_out) = calls
            .iter()
            .filter(|c| chat_of(&c.message) == chat)
            .fold((0, 0), |(i, o), c| {
                (i + c.usage.unwrap().0, o + c.usage.unwrap().1)
            });
        assert_eq!(
            conversation["platform_user_id"],
            chat.to_string(),
            "{conversation}"
        );
        assert_eq!(
            conversation["message_count"],
            json!(questions.len() + replies.len() + unsent)
        );
        assert_eq!(
            (&conversation["tokens_in"], &conversation["tokens_out"]),
            (&json!(chat_in), &json!(chat_out)),
            "{conversation}"
        );
        assert!(conversation["started_at"].as_str() <= conversation["last_message_at"].as_str());

        let (status, detail) = m
            .get(&format!(
                "{base}/conversations/{}",
                conversation["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(&detail["conversation"], conversation);
        let messages = detail["messages"].as_array().unwrap();
        let said: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let mut expected: Vec<(&str, &str)> = Vec::new();
        for (i, question) in questions.iter().enumerate() {
            expected.push(("user", question));
            if let Some(reply) = replies.get(i) {
                expected.push(("assistant", reply));
            }
        }
        if chat == blocked {
            // The agent's answer, which could not be sent.
            assert!(said[1].1.ends_with(": are you there"), "{detail}");
            expected.push(("assistant", said[1].1));
        }
        assert_eq!(said, expected, "{detail}");
        for (question, reply) in messages
            .iter()
            .step_by(2)
            .zip(messages.iter().skip(1).step_by(2))
        {
            let text = question["content"].as_str().unwrap();
            assert!(question.get("outcome").is_none(), "{question}");
            let outcome = reply["outcome"].as_str().unwrap();
            let expected_outcome = match text {
                "/start" => "welcome",
                "are you there" => "failed",
                "refund please" | "anyone?" => "fallback",
                _ => "answered",
            };
            assert_eq!(outcome, expected_outcome, "{reply}");
            match outcome {
                "welcome" => {
                    assert!(reply.get("latency_ms").is_none(), "{reply}");
                    assert!(reply.get("tokens_in").is_none(), "{reply}");
                }
                "fallback" => {
                    assert!(reply["latency_ms"].as_f64().unwrap() > 0.0, "{reply}");
                    assert!(reply.get("tokens_in").is_none(), "{reply}");
                    assert!(reply["error"].as_str().unwrap().contains("500"), "{reply}");
                    latencies.push(reply["latency_ms"].as_f64().unwrap());
                }
                _ => {
                    let (i, o) = usage(text);
                    assert_eq!(
                        (&reply["tokens_in"], &reply["tokens_out"]),
                        (&json!(i), &json!(o)),
                        "{reply}"
                    );
                    assert!(reply["latency_ms"].as_f64().unwrap() > 0.0, "{reply}");
                    latencies.push(reply["latency_ms"].as_f64().unwrap());
                    if outcome == "answered" {
                        let at = reply["created_at"].as_str().unwrap().to_string();
                        if last_answered_at.as_ref().is_none_or(|l: &String| *l < at) {
                            last_answered_at = Some(at);
                        }
                    } else {
                        assert!(
                            reply["error"].as_str().unwrap().contains("blocked"),
                            "{reply}"
                        );
                    }
                }
            }
        }
        if chat == alice {
            let cid = conversation["id"].as_str().unwrap();
            for (q, range) in [("limit=2", 0..2), ("limit=3&offset=2", 2..5)] {
                let (_, page) = m.get(&format!("{base}/conversations/{cid}?{q}")).await;
                assert_eq!(page["messages"], json!(messages[range]), "{q}");
            }
        }
    }
    assert_eq!(latencies.len(), calls.len() + fallbacks);
    let avg = latencies.iter().sum::<f64>() / latencies.len() as f64;
    // With fewer than 20 calls the 95th percentile (nearest rank) is the slowest call.
    let p95 = latencies.iter().copied().fold(0.0, f64::max);
    assert!(p95 >= avg && avg > 0.0);

    // Analytics: the last 30 days by default, today's row holding everything.
    let (status, analytics) = m.get(&format!("{base}/analytics")).await;
    assert_eq!(status, 200, "{analytics}");
    let daily = analytics["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(analytics["to"], today.to_string());
    let now = time::OffsetDateTime::now_utc().date();
    let expected = json!({
        "messages_in": pushed.len(),
        "messages_out": sent.len(),
        "conversations": 3,
        "unique_users": 3,
        "agent_calls": calls.len() + fallbacks,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "errors": fallbacks + 1,
        "dropped_rate": 0,
        "dropped_cap": 0,
    });
    let check = |figures: &Value| {
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&figures[key], value, "{key} in {figures}");
        }
        assert!(approx(&figures["avg_latency_ms"], avg), "{figures}");
        assert!(approx(&figures["p95_latency_ms"], p95), "{figures}");
    };
    check(&analytics["summary"]);
    if now == today {
        // (A run across midnight UTC splits the day; the summary still holds it all.)
        let row = daily.last().unwrap();
        assert_eq!(row["date"], today.to_string());
        check(row);
        for quiet in &daily[..29] {
            assert_eq!(quiet["messages_in"], 0, "{quiet}");
            assert!(quiet["avg_latency_ms"].is_null() && quiet["p95_latency_ms"].is_null());
        }
        let (_, one) = m
            .get(&format!("{base}/analytics?from={today}&to={today}"))
            .await;
        assert_eq!(one["daily"].as_array().unwrap().len(), 1);
        assert_eq!(one["daily"][0], *row);
    }

    // Insights: the questions left unanswered, newest first, and the resolution rate.
    let (status, insights) = m.get(&format!("{base}/insights")).await;
    assert_eq!(status, 200, "{insights}");
    let answered = calls.len() - 1;
    assert_eq!(insights["total_answered"], answered, "{insights}");
    assert_eq!(insights["total_responses"], answered + fallbacks + 1);
    assert!(approx(
        &insights["resolution_rate"],
        (answered as f64 * 1000.0 / (answered + fallbacks + 1) as f64).round() / 10.0
    ));
    let unanswered: Vec<(&str, &str)> = insights["unanswered_questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["question"].as_str().unwrap(),
                u["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        unanswered,
        [
            ("anyone?", "fallback"),
            ("refund please", "fallback"),
            ("are you there", "failed")
        ]
    );
    assert_eq!(
        insights["unanswered_questions"][0]["bot_response"],
        "Agent is resting."
    );
    assert!(
        insights["unanswered_questions"][2]["bot_response"]
            .as_str()
            .unwrap()
            .ends_with(": are you there")
    );

    // The LLM block of the instance (seed 001's figures).
    let (status, detail) = m.get(&base).await;
    assert_eq!(status, 200, "{detail}");
    let llm = &detail["instance"]["llm"];
    assert_eq!(llm["success_count"], answered, "{llm}");
    assert_eq!(llm["error_count"], fallbacks, "{llm}");
    assert_eq!(llm["total_tokens_today"], tokens_in + tokens_out, "{llm}");
    assert!(approx(&llm["average_latency_ms"], avg), "{llm}");
    assert_eq!(llm["last_success_time"], json!(last_answered_at), "{llm}");

    // Refusals.
    for (path, field) in [
        ("conversations?limit=101", "limit"),
        ("conversations?limit=0", "limit"),
        ("analytics?from=2026-13-01", "from"),
        ("analytics?to=tomorrow", "to"),
        ("analytics?from=2026-03-02&to=2026-03-01", "from"),
        ("analytics?from=2024-01-01&to=2025-01-01", "to"),
    ] {
        let (status, err) = m.get(&format!("{base}/{path}")).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some(field)),
            "{path}: {err}"
        );
    }
    let some = conversations[0]["id"].as_str().unwrap();
    let (status, err) = m
        .get(&format!("{base}/conversations/{some}?limit=501"))
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("limit")),
        "{err}"
    );
    let (status, err) = m.get(&format!("{base}/conversations/conv_nope")).await;
    assert_eq!(status, 404, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("conversation conv_nope"),
        "{err}"
    );

    // Another user sees none of it; the owner does.
    for path in [
        format!("{base}/conversations"),
        format!("{base}/conversations/{some}"),
        format!("{base}/analytics"),
        format!("{base}/insights"),
    ] {
        assert_eq!(get_as(&m, &bob, &path).await.0, 404, "{path}");
        assert_eq!(get_as(&m, &ann, &path).await.0, 200, "{path}");
    }

    // The test endpoint reports the tokens of its call too (seed 003's `tokens`).
    patch(&m, &id, json!({"llm_url": openai})).await;
    let (status, tested) = m
        .post(&format!("{base}/test"), &json!({"message": "ping"}))
        .await;
    assert_eq!(status, 200, "{tested}");
    let ping = agent
        .calls()
        .into_iter()
        .find(|c| c.message == "ping")
        .unwrap();
    let (i, o) = ping.usage.unwrap();
    assert_eq!(
        tested["tokens"],
        json!({"input": i, "output": o}),
        "{tested}"
    );

    // Deleting the bot deletes its conversations and messages.
    let (status, _) = m.delete(&base).await;
    assert_eq!(status, 200);
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&m.options.database_url)
        .await
        .unwrap();
    for table in ["conversations", "messages"] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE instance_id = $1"
        )))
        .bind(id.clone())
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table} left behind");
    }
}
