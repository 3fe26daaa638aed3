//! The agent bridge end to end: a message to the bot goes to its agent (Agno, OpenAI-compatible or
//! webhook) and the answer comes back to the same chat, with per-chat context, a welcome message and a
//! fallback; and the manager's `/test` endpoint runs the same pipeline without Telegram.

use std::{net::SocketAddr, time::Duration};

use botfleet_tests::{
    fake_agent::FakeAgent,
    harness::{self, Manager, ManagerOptions},
};
use serde_json::{Value, json};

async fn fake_agent() -> (FakeAgent, String) {
    let (agent, addr) = FakeAgent::start(SocketAddr::new(harness::test_network_gateway(), 0))
        .await
        .unwrap();
    (agent, format!("http://{addr}"))
}

async fn create_with_agent(m: &Manager, token: &str, agent: Value) -> String {
    let body = json!({"user_id": "agent", "provider": "telegram", "type_instance": ["api"], "token": token, "agno_config": agent});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["process_result"]["details"]["status"], "running",
        "{created}"
    );
    created["instance_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_agent_answers_in_the_same_chat() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let agno = fake.add_bot(1_600_001, "agno_bot");
    let openai = fake.add_bot(1_600_002, "openai_bot");
    let hook = fake.add_bot(1_600_003, "hook_bot");
    create_with_agent(&m, &agno, json!({"agnoUrl": format!("{agent_url}/agno/v1/agents/a1/runs"), "agent_id": "a1", "model": "gpt-4.1", "stream": false, "enabled": true})).await;
    create_with_agent(&m, &openai, json!({"kind": "openai", "url": format!("{agent_url}/openai/v1/chat/completions"), "model": "m", "api_key": "sk-test"})).await;
    create_with_agent(
        &m,
        &hook,
        json!({"kind": "webhook", "url": format!("{agent_url}/webhook")}),
    )
    .await;

    fake.push_text(&agno, 501, "hello agno");
    fake.push_text(&openai, 502, "hello openai");
    fake.push_text(&hook, 503, "hello hook");
    fake.wait_sent(&agno, 501, "agno a1: hello agno").await;
    fake.wait_sent(&openai, 502, "openai (0 before): hello openai")
        .await;
    fake.wait_sent(&hook, 503, "webhook: hello hook").await;
    let sessions: Vec<Option<String>> = agent
        .calls()
        .iter()
        .filter(|c| c.kind == "agno")
        .map(|c| c.session.clone())
        .collect();
    assert!(
        sessions[0].as_deref().is_some_and(|s| s.ends_with(":501")),
        "{sessions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropics_messages_api_gets_the_system_prompt_and_the_chats_turns() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_600_010, "claude_bot");
    create_with_agent(
        &m,
        &token,
        json!({"kind": "anthropic", "url": format!("{agent_url}/anthropic/v1/messages"),
               "model": "claude-sonnet-4-5", "api_key": "sk-ant-test", "system_prompt": "Be brief."}),
    )
    .await;
    fake.push_text(&token, 701, "first");
    fake.wait_sent(&token, 701, "anthropic (0 before) [Be brief.]: first")
        .await;
    // The second turn carries the first question and its answer, user first (the API's rule; the fake
    // refuses anything else with 400).
    fake.push_text(&token, 701, "second");
    fake.wait_sent(&token, 701, "anthropic (2 before) [Be brief.]: second")
        .await;
    let calls: Vec<_> = agent
        .calls()
        .into_iter()
        .filter(|c| c.kind == "anthropic")
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn context_is_kept_per_chat() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (_agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_600_004, "ctx_bot");
    create_with_agent(&m, &token, json!({"kind": "openai", "url": format!("{agent_url}/openai/v1/chat/completions"), "context_messages": 4})).await;
    fake.push_text(&token, 601, "first");
    fake.wait_sent(&token, 601, "openai (0 before): first")
        .await;
    fake.push_text(&token, 601, "second");
    fake.wait_sent(&token, 601, "openai (2 before): second")
        .await;
    // Another chat starts from nothing.
    fake.push_text(&token, 602, "elsewhere");
    fake.wait_sent(&token, 602, "openai (0 before): elsewhere")
        .await;
    fake.push_text(&token, 601, "third");
    fake.wait_sent(&token, 601, "openai (4 before): third")
        .await;
    fake.push_text(&token, 601, "fourth");
    fake.wait_sent(&token, 601, "openai (4 before): fourth")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn welcome_and_fallback_messages() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (_agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let token = fake.add_bot(1_600_005, "fallback_bot");
    let id = create_with_agent(
        &m,
        &token,
        json!({"kind": "webhook", "url": format!("{agent_url}/fail/webhook"),
        "welcome_message": "Welcome!", "fallback_message": "Agent is resting."}),
    )
    .await;
    fake.push_text(&token, 701, "/start");
    fake.wait_sent(&token, 701, "Welcome!").await;
    fake.push_text(&token, 701, "are you there?");
    fake.wait_sent(&token, 701, "Agent is resting.").await;

    // The worker reported its connection and the agent's failure; the manager logged both.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, events) = m
            .get(&format!(
                "/api/v1/events?instance_id={id}&types=bot.status,bot.error"
            ))
            .await;
        assert_eq!(status, 200, "{events}");
        let text = events.to_string();
        if text.contains("connected to Telegram as @fallback_bot")
            && text.contains("the agent failed")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bot events never logged: {events}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manager_tests_the_agent_without_telegram() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_url) = fake_agent().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let with_agent = create_with_agent(
        &m,
        &fake.add_bot(1_600_006, "t_bot"),
        json!({"agnoUrl": format!("{agent_url}/agno/v1/agents/a9/runs")}),
    )
    .await;
    let without = create_with_agent(&m, &fake.add_bot(1_600_007, "n_bot"), Value::Null).await;
    let failing = create_with_agent(
        &m,
        &fake.add_bot(1_600_008, "f_bot"),
        json!({"agnoUrl": format!("{agent_url}/fail/x")}),
    )
    .await;

    let sent_before = fake.sent().len();
    let (status, body) = m
        .post(
            &format!("/api/v1/instances/{with_agent}/test"),
            &json!({"message": "ping"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reply"], "agno a9: ping");
    assert_eq!(body["agent"], "agno");
    assert!(body["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        fake.sent().len(),
        sent_before,
        "the test went through Telegram"
    );
    assert!(agent.calls().iter().any(|c| c.message == "ping"));

    let (status, err) = m
        .post(&format!("/api/v1/instances/{with_agent}/test"), &json!({}))
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("message")));
    let (status, _) = m
        .post(
            &format!("/api/v1/instances/{without}/test"),
            &json!({"message": "x"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, err) = m
        .post(
            &format!("/api/v1/instances/{failing}/test"),
            &json!({"message": "x"}),
        )
        .await;
    assert_eq!(status, 502, "{err}");

    // A configuration the worker could not use is refused up front, naming the field as a path.
    let bad = json!({"user_id": "u", "provider": "telegram", "token": fake.add_bot(1_600_009, "bad_bot"),
        "agno_config": {"kind": "llama", "url": "http://x"}});
    let (status, err) = m.post("/api/v1/instances", &bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("agno_config.kind")),
        "{err}"
    );
}
