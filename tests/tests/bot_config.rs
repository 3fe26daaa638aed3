//! The bot configuration (seed 003's fields) end to end: a `PATCH` of the prompt, model or sampling reaches
//! the running worker over its control channel without a new container; pause and activate; a worker
//! restarted from its start file is handed the current configuration again.

use std::{net::SocketAddr, time::Duration};

use botfleet_tests::{
    fake_agent::{AgentCall, FakeAgent},
    fake_telegram::FakeTelegram,
    harness::{self, Created, Manager, ManagerOptions, send},
};
use serde_json::{Value, json};

async fn fake_agent() -> (FakeAgent, String) {
    let (agent, addr) = FakeAgent::start(SocketAddr::new(harness::test_network_gateway(), 0))
        .await
        .unwrap();
    (agent, format!("http://{addr}"))
}

/// Pushes `text` from `chat` and waits for the agent's call about it.
async fn ask(
    fake: &FakeTelegram,
    agent: &FakeAgent,
    token: &str,
    chat: i64,
    text: &str,
) -> AgentCall {
    fake.push_text(token, chat, text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(call) = agent.calls().into_iter().find(|c| c.message == text) {
            return call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent was never asked '{text}'"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a bot whose configuration is `config` under `key` (`config` or the seed's `agno_config`),
/// waiting until it runs.
async fn create(m: &Manager, token: &str, key: &str, config: Value) -> Created {
    let mut body = harness::create_body("cfg", token);
    body.as_object_mut().unwrap().remove("agno_config");
    body[key] = config;
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    Created::from_body(&created)
}

async fn patch(m: &Manager, id: &str, body: Value) -> (u16, Value) {
    send(
        m.request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
            .json(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_changes_reach_the_running_worker_without_a_new_container() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_700_001, "config_bot");
    // Created with seed 003's names under `config`.
    let c = create(
        &m,
        &token,
        "config",
        json!({
            "name": "Support", "llm_provider": "openai",
            "llm_url": format!("{agent_url}/openai/v1/chat/completions"),
            "llm_model": "m1", "llm_api_key": "sk-first", "system_prompt": "You are A.",
        }),
    )
    .await;
    let started = m.worker_started_at(&c.id);

    let first = ask(&fake, &agent, &token, 71, "first").await;
    assert_eq!(first.body["model"], "m1");
    assert_eq!(first.body["messages"][0]["content"], "You are A.");

    // A configuration-only PATCH, in seed 003's shape: applied live.
    let (status, patched) = patch(
        &m,
        &c.id,
        json!({"system_prompt": "You are B.", "llm_model": "m2",
               "llm_config": {"temperature": 0.2}, "max_tokens_per_turn": 64,
               "conversation_max_messages": 0}),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["pending_changes"], false, "{patched}");
    assert_eq!(patched["instance"]["config_applied"], true, "{patched}");
    let config = &patched["instance"]["config"];
    assert_eq!(config["system_prompt"], "You are B.");
    assert_eq!(config["name"], "Support");
    assert_eq!(config["has_llm_api_key"], true);
    assert!(!patched.to_string().contains("sk-first"), "{patched}");
    // The seed's view of the same configuration.
    assert_eq!(patched["instance"]["agno_config"]["model"], "m2");

    let second = ask(&fake, &agent, &token, 71, "second").await;
    assert_eq!(second.body["model"], "m2");
    assert_eq!(second.body["messages"][0]["content"], "You are B.");
    assert_eq!(second.body["temperature"], 0.2);
    assert_eq!(second.body["max_tokens"], 64);
    assert_eq!(
        second.context_len, 1,
        "no earlier turns: only the system prompt"
    );
    assert_eq!(
        m.worker_started_at(&c.id),
        started,
        "the worker was not replaced"
    );

    // `null` resets a field; bad values are refused naming the field.
    let (status, patched) = patch(&m, &c.id, json!({"llm_config": null})).await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched["instance"]["config"]["llm_config"].is_null());
    for (field, value) in [
        ("timeout_ms", json!(60_001)),
        ("llm_config", json!({"temperature": 3})),
        ("conversation_ttl_hours", json!(0)),
        ("name", json!("")),
    ] {
        let (status, refused) = patch(&m, &c.id, json!({ field: value })).await;
        assert_eq!(status, 422, "{field}: {refused}");
        assert!(
            refused["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{refused}"
        );
    }

    // A worker killed and started again reads its start file (the configuration it was created with):
    // the manager hands it the current one.
    let client = reqwest::Client::new();
    let worker_status = || async {
        send(
            client
                .get(format!("{}/status", c.worker_url))
                .bearer_auth(&c.api_key),
        )
        .await
    };
    let (_, before) = worker_status().await;
    let revision = before["config_revision"].as_i64().unwrap();
    assert!(revision > 1, "{before}");
    m.kill_worker(&c.id);
    m.wait_get(&format!("/api/v1/instances/{}", c.id), |v| {
        v["instance"]["memory_data"]["system_info"]["restart_count"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, now) = worker_status().await;
        if status == 200 && now["config_revision"] == revision {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never pushed again: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let third = ask(&fake, &agent, &token, 71, "third").await;
    assert_eq!(
        third.body["model"], "m2",
        "the current model after a restart"
    );
    assert_eq!(third.body["messages"][0]["content"], "You are B.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_bot_receives_and_answers_nothing_until_activated() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_700_002, "pause_bot");
    let c = create(
        &m,
        &token,
        "agno_config",
        json!({"kind": "webhook", "url": format!("{agent_url}/webhook")}),
    )
    .await;
    let started = m.worker_started_at(&c.id);
    ask(&fake, &agent, &token, 81, "before").await;

    let paused = m.verb(&c.id, "pause").await;
    assert_eq!(paused["instance"]["paused"], true, "{paused}");
    assert_eq!(paused["instance"]["config_applied"], true, "{paused}");
    assert_eq!(paused["instance"]["status"], "running", "{paused}");
    let client = reqwest::Client::new();
    let (status, worker_status) = send(
        client
            .get(format!("{}/status", c.worker_url))
            .bearer_auth(&c.api_key),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(worker_status["paused"], true, "{worker_status}");

    // Nothing reaches the agent, nothing is answered, nothing can be sent.
    let sent_before = fake.sent().len();
    fake.push_text(&token, 81, "while paused");
    let (status, refused) = send(
        client
            .post(format!("{}/send", c.worker_url))
            .bearer_auth(&c.api_key)
            .json(&json!({"chatId": 81, "message": "hello"})),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "paused", "{refused}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        agent.calls().iter().all(|c| c.message != "while paused"),
        "a paused bot asked its agent"
    );
    assert_eq!(fake.sent().len(), sent_before, "a paused bot answered");

    let active = m.verb(&c.id, "activate").await;
    assert_eq!(active["instance"]["paused"], false, "{active}");
    ask(&fake, &agent, &token, 81, "after").await;
    assert_eq!(
        m.worker_started_at(&c.id),
        started,
        "the worker stayed warm"
    );

    // Both verbs are in the status history and the event log.
    let (_, history) = m
        .get(&format!("/api/v1/instances/{}/status-history", c.id))
        .await;
    let reasons = history.to_string();
    assert!(
        reasons.contains("paused: the bot receives") && reasons.contains("activated"),
        "{history}"
    );
    let (_, events) = m.get(&format!("/api/v1/events?instance_id={}", c.id)).await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(
        types.contains(&"instance.paused") && types.contains(&"instance.activated"),
        "{types:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_configuration_change_is_in_the_settings_history_and_can_be_rolled_back() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_700_003, "history_bot");
    let c = create(
        &m,
        &token,
        "agno_config",
        json!({"kind": "openai", "url": format!("{agent_url}/openai/v1/chat/completions"),
        "system_prompt": "one"}),
    )
    .await;
    let id = c.id;

    for change in [
        json!({"system_prompt": "two", "llm_api_key": "sk-history-secret"}),
        json!({"memory_limit_mb": 128}),
        json!({"system_prompt": null}),
    ] {
        let (status, patched) = patch(&m, &id, change).await;
        assert_eq!(status, 200, "{patched}");
    }
    m.verb(&id, "pause").await;

    let history_path = format!("/api/v1/instances/{id}/settings/history");
    let (status, history) = m.get(&history_path).await;
    assert_eq!(status, 200, "{history}");
    assert!(
        !history.to_string().contains("sk-history-secret"),
        "{history}"
    );
    let entries = history["history"].as_array().unwrap();
    let summary: Vec<(String, String, String, Value, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["scope"].as_str().unwrap().to_string(),
                e["key"].as_str().unwrap().to_string(),
                e["change_type"].as_str().unwrap().to_string(),
                e["old_value"].clone(),
                e["new_value"].clone(),
            )
        })
        .collect();
    let row = |scope: &str, key: &str, kind: &str, old: Value, new: Value| {
        (
            scope.to_string(),
            key.to_string(),
            kind.to_string(),
            old,
            new,
        )
    };
    // Newest first.
    assert_eq!(
        summary,
        vec![
            row("bot", "paused", "updated", json!(false), json!(true)),
            row("bot", "system_prompt", "cleared", json!("two"), Value::Null),
            row(
                "limits",
                "memory_limit_mb",
                "created",
                Value::Null,
                json!(128)
            ),
            row(
                "bot",
                "system_prompt",
                "updated",
                json!("one"),
                json!("two")
            ),
            row("bot", "llm_api_key", "updated", Value::Null, Value::Null),
        ],
        "{history}"
    );
    assert!(
        entries.iter().all(|e| e["changed_by"] == "bootstrap"),
        "{history}"
    );
    let secret = entries.iter().find(|e| e["key"] == "llm_api_key").unwrap();
    assert_eq!(secret["secret"], true);

    // Filters.
    let (_, limits) = m.get(&format!("{history_path}?scope=limits")).await;
    assert_eq!(limits["count"], 1, "{limits}");
    let (_, prompt) = m
        .get(&format!("{history_path}?key=system_prompt&limit=1"))
        .await;
    assert_eq!(prompt["history"][0]["change_type"], "cleared", "{prompt}");
    for bad in ["?scope=webhooks", "?limit=501", "?limit=0"] {
        let (status, refused) = m.get(&format!("{history_path}{bad}")).await;
        assert_eq!(status, 422, "{bad}: {refused}");
    }

    // Rolling back the clearing brings "two" back, live, and is itself recorded.
    m.verb(&id, "activate").await;
    let cleared = entries[1]["id"].as_str().unwrap();
    let (status, rolled) = m
        .post(
            &format!("/api/v1/instances/{id}/settings/rollback/{cleared}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(
        rolled["instance"]["config"]["system_prompt"], "two",
        "{rolled}"
    );
    let call = ask(&fake, &agent, &token, 91, "after the rollback").await;
    assert_eq!(call.body["messages"][0]["content"], "two");
    let (_, latest) = m.get(&format!("{history_path}?limit=1")).await;
    assert_eq!(latest["history"][0]["change_type"], "rollback", "{latest}");
    assert_eq!(latest["history"][0]["new_value"], "two", "{latest}");

    // A secret's value was never kept; an unknown entry is 404.
    let secret_id = secret["id"].as_str().unwrap();
    let (status, refused) = m
        .post(
            &format!("/api/v1/instances/{id}/settings/rollback/{secret_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = m
        .post(
            &format!("/api/v1/instances/{id}/settings/rollback/sh_unknown"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbound_guard_limits_a_chatty_chat_and_the_days_spending() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_700_004, "guard_bot");
    let c = create(
        &m,
        &token,
        "agno_config",
        json!({"kind": "openai", "url": format!("{agent_url}/openai/v1/chat/completions"),
        "fallback_message": "Not now.", "chat_rate_limit": {"per_minute": 2, "strategy": "drop"}}),
    )
    .await;
    let id = c.id;

    // Chat 11 asks three times at once: two reach the agent, the third gets the fallback.
    for text in ["q1", "q2", "q3"] {
        fake.push_text(&token, 11, text);
    }
    let replies = fake.wait_texts_to(&token, 11, 3).await;
    assert_eq!(
        replies.iter().filter(|t| *t == "Not now.").count(),
        1,
        "{replies:?}"
    );
    assert_eq!(
        agent
            .calls()
            .iter()
            .filter(|c| c.message.starts_with('q'))
            .count(),
        2
    );
    // Another chat is not held up by it.
    ask(&fake, &agent, &token, 12, "other chat").await;

    // The spending cap: once the day's tokens reach it, questions get the fallback, uncalled.
    let spent: u64 = agent
        .calls()
        .iter()
        .filter_map(|c| c.usage)
        .map(|(i, o)| i + o)
        .sum();
    let (status, patched) = patch(&m, &id, json!({"spending_cap": spent})).await;
    assert_eq!(status, 200, "{patched}");
    let calls_before = agent.calls().len();
    fake.push_text(&token, 13, "over the cap");
    assert_eq!(fake.wait_texts_to(&token, 13, 1).await, ["Not now."]);
    assert_eq!(
        agent.calls().len(),
        calls_before,
        "the agent was called over the cap"
    );

    // Both are counted in analytics.
    let summary = m
        .wait_get(&format!("/api/v1/instances/{id}/analytics"), |v| {
            // q1, q2, the other chat's answer and two fallbacks.
            v["summary"]["dropped_cap"] == 1 && v["summary"]["messages_out"] == 5
        })
        .await;
    assert_eq!(summary["summary"]["dropped_rate"], 1, "{summary}");
    assert_eq!(summary["summary"]["agent_calls"], 3, "{summary}");
    assert_eq!(
        summary["summary"]["tokens_in"].as_u64().unwrap()
            + summary["summary"]["tokens_out"].as_u64().unwrap(),
        spent,
        "{summary}"
    );
}
