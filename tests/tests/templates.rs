//! Templates end to end against the real manager binary: a user's own templates (create, read, change,
//! delete), built-ins that nobody may change (403), another user's template that is a 404 like an
//! unknown id, the 422s naming their field, and `POST /api/v1/instances/setup` making a running bot
//! whose agent gets the filled system prompt and whose `/start` gets the filled welcome message.

use std::{net::SocketAddr, time::Duration};

use botfleet_tests::{
    fake_agent::FakeAgent,
    harness::{self, Manager, ManagerOptions, send},
};
use reqwest::Method;
use serde_json::{Value, json};

/// One caller: a user's session.
struct User {
    id: String,
    token: String,
}

impl User {
    /// Creates the user with the admin key, then logs in.
    async fn new(m: &Manager, username: &str) -> Self {
        let password = format!("{username}-password");
        let (status, user) = m
            .post(
                "/api/v1/users",
                &json!({"username": username, "password": password, "role": "user"}),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let (status, session) = send(
            m.client
                .post(m.url("/api/v1/auth/login"))
                .json(&json!({"username": username, "password": password})),
        )
        .await;
        assert_eq!(status, 200, "{session}");
        Self {
            id: user["id"].as_str().unwrap().to_string(),
            token: session["access_token"].as_str().unwrap().to_string(),
        }
    }

    async fn call(
        &self,
        m: &Manager,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = m
            .client
            .request(method, m.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        send(request).await
    }

    async fn get(&self, m: &Manager, path: &str) -> (u16, Value) {
        self.call(m, Method::GET, path, None).await
    }

    async fn post(&self, m: &Manager, path: &str, body: &Value) -> (u16, Value) {
        self.call(m, Method::POST, path, Some(body)).await
    }

    async fn patch(&self, m: &Manager, path: &str, body: &Value) -> (u16, Value) {
        self.call(m, Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, m: &Manager, path: &str) -> (u16, Value) {
        self.call(m, Method::DELETE, path, None).await
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts a 422 naming `field`, whose message says `says`.
#[track_caller]
fn assert_invalid((status, body): (u16, Value), field: &str, says: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert_eq!(body["field"], field, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(says), "{field}: '{says}' not in '{error}'");
}

fn sales_template() -> Value {
    json!({
        "name": "Sales",
        "description": "Sells one product",
        "category": "sales",
        "system_prompt": "You sell {product} for {company}. Answer in {{braces}}.",
        "welcome_message": "Welcome to {company}!",
        "fallback_message": "{company} is busy.",
        "llm_provider": "openai",
        "llm_model": "gpt-4o-mini",
        "llm_config": {"temperature": 0.5}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_are_owned_built_ins_are_read_only_and_bad_input_is_named() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let ann = User::new(&m, "ann").await;
    let bob = User::new(&m, "bob").await;

    // Everyone sees the built-ins, with the placeholders a setup must fill.
    let (status, list) = ann.get(&m, "/api/v1/templates").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), ["tpl_support", "tpl_faq", "tpl_assistant"]);
    let support = &list["templates"][0];
    assert_eq!(support["built_in"], true);
    assert_eq!(support["owner"], Value::Null);
    assert_eq!(
        support["placeholders"],
        json!(["company_name", "support_contact"])
    );

    // Create, read, list, filter.
    let (status, created) = ann.post(&m, "/api/v1/templates", &sales_template()).await;
    assert_eq!(status, 201, "{created}");
    let t = &created["template"];
    let id = t["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tpl_"), "{id}");
    assert_eq!(t["placeholders"], json!(["product", "company"]));
    assert_eq!(t["built_in"], false);
    assert_eq!(t["owner"], ann.id.as_str());
    assert_eq!(t["llm_provider"], "openai");
    assert_eq!(t["llm_config"], json!({"temperature": 0.5}));
    assert_eq!(
        t["system_prompt"],
        "You sell {product} for {company}. Answer in {{braces}}."
    );
    let (status, got) = ann.get(&m, &format!("/api/v1/templates/{id}")).await;
    assert_eq!((status, &got["template"]), (200, t), "{got}");
    let (_, mine) = ann.get(&m, "/api/v1/templates?type=sales").await;
    assert_eq!(ids(&mine), std::slice::from_ref(&id));
    assert_eq!(mine["total"], 1);
    let (_, page) = ann.get(&m, "/api/v1/templates?limit=2&offset=2").await;
    assert_eq!(ids(&page), ["tpl_assistant".to_string(), id.clone()]);
    assert_eq!(page["total"], 4);
    // A template without category, llm_provider, model or config takes the defaults.
    let (status, minimal) = ann
        .post(
            &m,
            "/api/v1/templates",
            &json!({"name": "Plain", "description": "", "system_prompt": "No placeholders."}),
        )
        .await;
    assert_eq!(status, 201, "{minimal}");
    assert_eq!(minimal["template"]["llm_provider"], "anthropic");
    assert_eq!(minimal["template"]["llm_config"], json!({}));
    assert_eq!(minimal["template"]["placeholders"], json!([]));

    // Another user's template is a 404 worded as an unknown id, in every route, and not listed.
    let path = format!("/api/v1/templates/{id}");
    let (status, unknown) = bob.get(&m, "/api/v1/templates/tpl_nothing").await;
    assert_eq!(status, 404);
    let hidden_as_unknown = |body: &Value| {
        body["code"] == "not_found"
            && body["error"].as_str().unwrap().replace(&id, "tpl_nothing") == unknown["error"]
    };
    for (status, body) in [
        bob.get(&m, &path).await,
        bob.patch(&m, &path, &json!({"name": "mine now"})).await,
        bob.delete(&m, &path).await,
    ] {
        assert_eq!(status, 404, "{body}");
        assert!(hidden_as_unknown(&body), "{body} vs {unknown}");
    }
    let (_, bobs) = bob.get(&m, "/api/v1/templates").await;
    assert!(!ids(&bobs).contains(&id), "{bobs}");
    let (status, body) = bob
        .post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": id, "platform": "telegram", "platform_config": {"token": "1:x"},
                    "config_values": {"product": "p", "company": "c"}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(hidden_as_unknown(&body), "{body}");
    // The admin sees every template.
    let (_, all) = m.get("/api/v1/templates").await;
    assert!(ids(&all).contains(&id), "{all}");

    // Change: the fields given; `null` clears; the placeholders follow the texts.
    let (status, changed) = ann
        .patch(
            &m,
            &path,
            &json!({"name": "Renamed", "welcome_message": null, "fallback_message": null,
                    "system_prompt": "Only {product} now.", "llm_config": {}}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let c = &changed["template"];
    assert_eq!(c["name"], "Renamed");
    assert_eq!(c["welcome_message"], Value::Null);
    assert_eq!(c["placeholders"], json!(["product"]));
    assert_eq!(c["llm_config"], json!({}));
    assert_eq!(c["category"], "sales");
    assert_eq!(c["created_at"], t["created_at"]);

    // Built-ins are read-only, for admins too.
    for (status, body) in [
        ann.patch(&m, "/api/v1/templates/tpl_support", &json!({"name": "x"}))
            .await,
        ann.delete(&m, "/api/v1/templates/tpl_support").await,
        send(
            m.request(Method::PATCH, "/api/v1/templates/tpl_faq")
                .json(&json!({"name": "x"})),
        )
        .await,
        m.delete("/api/v1/templates/tpl_assistant").await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "forbidden", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("read-only"),
            "{body}"
        );
    }
    let (_, support) = ann.get(&m, "/api/v1/templates/tpl_support").await;
    assert_eq!(support["template"]["name"], "Customer support");

    // Bad fields: 422 naming the field.
    let with = |field: &str, value: Value| {
        let mut t = sales_template();
        t[field] = value;
        t
    };
    for (body, field, says) in [
        (
            with("system_prompt", json!("Hi {name")),
            "system_prompt",
            "never closed",
        ),
        (
            with("system_prompt", json!("Hi {na me}")),
            "system_prompt",
            "character 4",
        ),
        (
            with("welcome_message", json!("Hi }")),
            "welcome_message",
            "closes no placeholder",
        ),
        (
            with("fallback_message", json!("{}")),
            "fallback_message",
            "names no placeholder",
        ),
        (
            with("system_prompt", json!("x".repeat(20_001))),
            "system_prompt",
            "20000",
        ),
        (
            with("system_prompt", json!("   ")),
            "system_prompt",
            "blank",
        ),
        (with("name", json!("")), "name", "blank"),
        (with("name", json!("n".repeat(101))), "name", "length"),
        (
            with("llm_provider", json!("gemini")),
            "llm_provider",
            "unknown variant",
        ),
        (
            with("llm_config", json!("hot")),
            "llm_config",
            "invalid type",
        ),
        (with("typo", json!(1)), "typo", "unknown field"),
    ] {
        assert_invalid(ann.post(&m, "/api/v1/templates", &body).await, field, says);
    }
    assert_invalid(
        ann.patch(&m, &path, &json!({"fallback_message": "{ oops }"}))
            .await,
        "fallback_message",
        "character 1",
    );
    assert_invalid(
        ann.get(&m, "/api/v1/templates?limit=101").await,
        "limit",
        "",
    );

    // Setup: every placeholder filled, nothing else.
    let setup = |values: Value| {
        json!({"template_id": id, "bot_name": "Shop", "platform": "telegram",
               "platform_config": {"token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
               "config_values": values})
    };
    assert_invalid(
        ann.post(
            &m,
            "/api/v1/instances/setup",
            &setup(json!({"product": "tea", "colour": "red"})),
        )
        .await,
        "config_values.colour",
        "no placeholder `{colour}`",
    );
    assert_invalid(
        ann.post(&m, "/api/v1/instances/setup", &setup(json!({})))
            .await,
        "config_values.product",
        "placeholder `{product}`",
    );
    let (_, support) = ann.get(&m, "/api/v1/templates/tpl_support").await;
    assert_eq!(support["success"], true);
    assert_invalid(
        ann.post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": "tpl_support", "platform": "telegram",
                    "platform_config": {"token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                    "config_values": {"company_name": "Acme"}}),
        )
        .await,
        "config_values.support_contact",
        "{support_contact}",
    );
    assert_invalid(
        ann.post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": id, "platform": "telegram", "config_values": {"product": "tea"}}),
        )
        .await,
        "platform_config",
        "platform_config",
    );
    assert_invalid(
        ann.post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": id, "platform": "telegram", "platform_config": {"token": "bad"},
                    "config_values": {"product": "tea"}}),
        )
        .await,
        "platform_config.token",
        "",
    );
    let (status, body) = ann
        .post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": "tpl_nothing", "platform": "telegram",
                    "platform_config": {"token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}),
        )
        .await;
    assert_eq!((status, &body["error"]), (404, &unknown["error"]), "{body}");
    let (_, bots) = ann.get(&m, "/api/v1/instances").await;
    assert_eq!(bots["total"], 0, "a refused setup made a bot: {bots}");

    // Delete.
    let (status, deleted) = ann.delete(&m, &path).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["template_id"], id.as_str());
    let (status, _) = ann.get(&m, &path).await;
    assert_eq!(status, 404);
    let (status, _) = ann.delete(&m, &path).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_set_up_from_a_template_speaks_with_the_filled_texts() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_addr) = FakeAgent::start(SocketAddr::new(harness::test_network_gateway(), 0))
        .await
        .unwrap();
    let agent_url = format!("http://{agent_addr}");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let ann = User::new(&m, "ann").await;

    let (status, created) = ann
        .post(
            &m,
            "/api/v1/templates",
            &json!({
                "name": "Concierge", "description": "", "category": "hotel",
                "system_prompt": "You are {bot}, concierge of {hotel}. Quote prices as {{amount}}.",
                "welcome_message": "Welcome to {hotel}! I am {bot}.",
                "fallback_message": "{bot} will be right back.",
                "llm_provider": "anthropic", "llm_model": "claude-sonnet-4-5",
                "llm_config": {"temperature": 0.2}
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let template_id = created["template"]["id"].as_str().unwrap().to_string();

    // Seed 003's setup body, with the agent the bot calls.
    let token = fake.add_bot(3_300_001, "concierge_bot");
    let (status, bot) = ann
        .post(
            &m,
            "/api/v1/instances/setup?wait=true&timeout=30",
            &json!({
                "template_id": template_id, "bot_name": "Ritz concierge",
                "platform": "telegram", "platform_config": {"token": token},
                "config_values": {"bot": "Ada", "hotel": "the Ritz"},
                "llm_api_key": "sk-ant-test",
                "agent": {"url": format!("{agent_url}/anthropic/v1/messages")}
            }),
        )
        .await;
    assert_eq!(status, 201, "{bot}");
    // The answer of a create.
    assert_eq!(bot["success"], true);
    assert_eq!(bot["process_result"]["action"], "create");
    assert_eq!(
        bot["process_result"]["details"]["status"], "running",
        "{bot}"
    );
    assert!(bot["process_result"]["details"]["api_key"].is_string());
    let id = bot["instance_id"].as_str().unwrap().to_string();

    // The bot is ann's, configured with the filled texts and the template's provider and model.
    let (status, shown) = ann.get(&m, &format!("/api/v1/instances/{id}")).await;
    assert_eq!(status, 200, "{shown}");
    let instance = &shown["instance"];
    assert_eq!(instance["user_id"], ann.id.as_str());
    let config = &instance["agno_config"];
    assert_eq!(config["kind"], "anthropic");
    assert_eq!(config["model"], "claude-sonnet-4-5");
    assert_eq!(config["has_api_key"], true);
    let prompt = "You are Ada, concierge of the Ritz. Quote prices as {amount}.";
    assert_eq!(config["system_prompt"], prompt);
    assert_eq!(config["welcome_message"], "Welcome to the Ritz! I am Ada.");
    assert_eq!(config["fallback_message"], "Ada will be right back.");

    // `/start` gets the filled welcome; a question goes to the agent with the filled system prompt
    // (the fake Anthropic API answers with the `system` it was sent, in brackets).
    fake.push_text(&token, 801, "/start");
    fake.wait_sent(&token, 801, "Welcome to the Ritz! I am Ada.")
        .await;
    fake.push_text(&token, 801, "Is breakfast included?");
    fake.wait_sent(
        &token,
        801,
        &format!("anthropic (0 before) [{prompt}]: Is breakfast included?"),
    )
    .await;
    let calls: Vec<_> = agent
        .calls()
        .into_iter()
        .filter(|c| c.kind == "anthropic")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].message, "Is breakfast included?");

    // A built-in, with the agent's protocol chosen at setup (the template says openai; this agent
    // speaks Anthropic's API), by the admin for ann.
    let token2 = fake.add_bot(3_300_002, "support_bot");
    let (status, bot2) = m
        .post(
            "/api/v1/instances/setup?wait=true&timeout=30",
            &json!({
                "template_id": "tpl_support", "platform": "telegram", "user_id": ann.id,
                "platform_config": {"token": token2},
                "config_values": {"company_name": "Acme", "support_contact": "help@acme.test"},
                "agent": {"url": format!("{agent_url}/anthropic/v1/messages"), "kind": "anthropic",
                          "api_key": "sk-ant-2"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{bot2}");
    fake.push_text(&token2, 802, "/start");
    fake.wait_sent(
        &token2,
        802,
        "Hi! I'm Acme's support assistant. How can I help you today?",
    )
    .await;
    fake.push_text(&token2, 802, "Where is my order?");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = fake
            .sent()
            .into_iter()
            .find(|s| s.token == token2 && s.text.ends_with(": Where is my order?"));
        if let Some(answer) = answer {
            assert!(
                answer.text.contains("customer support assistant of Acme.")
                    && answer.text.contains("point them to help@acme.test."),
                "{}",
                answer.text
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, bots) = ann.get(&m, "/api/v1/instances").await;
    assert_eq!(bots["total"], 2, "{bots}");

    // The same bot token again: the create path's 409, as `POST /api/v1/instances` answers it.
    let (status, again) = ann
        .post(
            &m,
            "/api/v1/instances/setup",
            &json!({"template_id": template_id, "platform": "telegram",
                    "platform_config": {"token": token},
                    "config_values": {"bot": "Ada", "hotel": "the Ritz"}}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
}
