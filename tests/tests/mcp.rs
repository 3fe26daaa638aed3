//! Every bot an MCP server, and the fleet too (issue #14), driven by a real external client: the
//! official MCP Python SDK (`tests/mcp/client.py`, installed by `scripts/install-test-tools`) over
//! streamable HTTP, against the real manager and real workers on Docker.

use std::{collections::HashSet, time::Duration};

use botfleet_tests::{
    harness::{self, Manager, ManagerOptions, send},
    mcp_client,
};
use serde_json::{Value, json};

async fn mcp_client(url: &str, key: &str, steps: Value) -> Value {
    mcp_client::run(url, key, steps).await
}

/// A wrong key, or none, opens no session; plain HTTP says why, as the REST API does.
async fn assert_refused(url: &str) {
    for wrong in ["bfk_wrong", ""] {
        let refused = mcp_client(url, wrong, json!([{"op": "list_tools"}])).await;
        assert!(refused["error"].is_string(), "{wrong:?}: {refused}");
        assert!(refused.get("initialize").is_none(), "{wrong:?}: {refused}");
    }
    let (status, body) = send(
        reqwest::Client::new()
            .post(url)
            .bearer_auth("bfk_wrong")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

fn tool_names(listed: &Value) -> Vec<String> {
    listed["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The error body a tool error carries (its text is the API's JSON error).
fn tool_error(result: &Value) -> Value {
    assert_eq!(result["is_error"], true, "expected a tool error: {result}");
    serde_json::from_str(result["text"].as_str().unwrap()).expect("the error is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_is_an_mcp_server_to_a_real_client() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_940_001, "mcp_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let mut body = harness::create_body("mcp", &token);
    body["type_instance"] = json!(["api", "mcp"]);
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let details = &created["process_result"]["details"];
    let id = created["instance_id"].as_str().unwrap().to_string();
    let key = details["api_key"].as_str().unwrap().to_string();
    let api_port = details["ports"]["api"].as_u64().unwrap();
    let mcp_port = details["ports"]["mcp"].as_u64().expect("ports.mcp");
    assert_ne!(api_port, mcp_port);
    let mcp_url = details["mcp_url"].as_str().expect("mcp_url").to_string();
    assert!(mcp_url.ends_with(&format!(":{mcp_port}/mcp")), "{mcp_url}");
    let (_, credentials) = m.get(&format!("/api/v1/instances/{id}/credentials")).await;
    assert_eq!(credentials["ports"]["mcp"], mcp_port, "{credentials}");
    assert_eq!(credentials["mcp_url"], mcp_url.as_str());
    let (_, shown) = m.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(shown["instance"]["type_instance"], json!(["api", "mcp"]));
    assert_eq!(shown["instance"]["port_mcp"], mcp_port);

    // Someone writes to the bot, so it has a chat to read.
    tg.push_text(&token, 5101, "hello from telegram");
    let url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let chats = m
        .wait_get(
            &format!("/api/v1/instances/{id}/messages?chatId=5101"),
            |b| b["count"].as_u64() >= Some(1),
        )
        .await;
    assert_eq!(chats["messages"][0]["text"], "hello from telegram");

    let out = mcp_client(
        &url,
        &key,
        json!([
            {"op": "list_tools"},
            {"op": "list_resources"},
            {"op": "call", "tool": "send_message", "args": {"chatId": "5101", "message": "sent by MCP"}},
            {"op": "call", "tool": "get_messages", "args": {"chatId": "5101", "limit": 5}},
            {"op": "call", "tool": "send_message", "args": {"chatId": "not a chat", "message": "x"}},
            {"op": "call", "tool": "get_messages", "args": {"chatId": "5101", "limit": 0}},
            {"op": "call", "tool": "get_job", "args": {"jobId": "../../status"}},
            {"op": "call", "tool": "send_bulk", "args": {"message": "hi {name}", "recipients": [{"chatId": "5101", "vars": {"name": "Ann"}}]}},
            {"op": "call", "tool": "list_chats"},
            {"op": "call", "tool": "get_status"},
            {"op": "read", "uri": "botfleet://bot/profile"},
            {"op": "call", "tool": "no_such_tool"},
        ]),
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["initialize"]["server"], "botfleet-bot", "{out}");
    let r = &out["results"];
    assert_eq!(
        tool_names(&r[0]),
        [
            "send_message",
            "send_media",
            "send_bulk",
            "get_job",
            "list_chats",
            "get_messages",
            "list_contacts",
            "list_groups",
            "get_status"
        ]
    );
    let send_schema = &r[0]["tools"][0]["input_schema"];
    assert_eq!(send_schema["type"], "object", "{send_schema}");
    assert!(
        send_schema["properties"]["chatId"].is_object(),
        "{send_schema}"
    );
    assert_eq!(
        r[1]["resources"],
        json!(["botfleet://bot/profile", "botfleet://bot/chats"])
    );

    // send_message reaches Telegram, through the same sending path as REST.
    assert_eq!(r[2]["is_error"], false, "{}", r[2]);
    assert!(r[2]["structured"]["messageId"].is_string(), "{}", r[2]);
    tg.wait_sent(&token, 5101, "sent by MCP").await;
    // get_messages: what the bot saw and sent in that chat, newest first.
    let messages: Value = serde_json::from_str(r[3]["text"].as_str().unwrap()).unwrap();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["sent by MCP", "hello from telegram"], "{}", r[3]);
    // Bad arguments are tool errors naming the argument, as the REST API's 422 does.
    let refused = tool_error(&r[4]);
    assert_eq!(refused["field"], "chatId", "{refused}");
    assert_eq!(refused["status"], 422);
    let refused = tool_error(&r[5]);
    assert_eq!(refused["field"], "limit", "{refused}");
    let refused = tool_error(&r[6]);
    assert_eq!(refused["field"], "jobId", "{refused}");
    // send_bulk answers with its job's id, and the job is there to follow.
    let job_id = r[7]["structured"]["jobId"]
        .as_str()
        .unwrap_or_else(|| panic!("no jobId: {}", r[7]));
    tg.wait_sent(&token, 5101, "hi Ann").await;
    assert!(r[8]["text"].as_str().unwrap().contains("5101"), "{}", r[8]);
    assert_eq!(r[9]["structured"]["state"], "READY", "{}", r[9]);
    let profile: Value = serde_json::from_str(r[10]["contents"][0].as_str().unwrap()).unwrap();
    assert_eq!(profile["info"]["username"], "mcp_bot", "{profile}");
    assert!(
        r[11]["protocol_error"]
            .as_str()
            .is_some_and(|e| e.contains("no_such_tool")),
        "{}",
        r[11]
    );
    let job = mcp_client(
        &url,
        &key,
        json!([{"op": "call", "tool": "get_job", "args": {"jobId": job_id}}]),
    )
    .await;
    assert_eq!(
        job["results"][0]["structured"]["status"], "completed",
        "{job}"
    );

    // A message sent by MCP is an event like any other: the manager stores it.
    let stored = m
        .wait_get(
            &format!("/api/v1/instances/{id}/messages?chatId=5101"),
            |b| {
                b["messages"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["text"] == "sent by MCP"))
            },
        )
        .await;
    let out_msg = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == "sent by MCP")
        .unwrap();
    assert_eq!(out_msg["direction"], "out");

    assert_refused(&url).await;

    // A tool call is one use of the bot's key (its MCP request), not two.
    let status_url = format!("http://127.0.0.1:{api_port}/api/v1/status");
    let uses = || async {
        let (_, status) = send(reqwest::Client::new().get(&status_url).bearer_auth(&key)).await;
        status["api_key_usage"]["uses"]
            .as_u64()
            .unwrap_or_else(|| panic!("{status}"))
    };
    let before = uses().await;
    for id in 0..3 {
        let (status, body) = send(
            reqwest::Client::new()
                .post(&url)
                .bearer_auth(&key)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "get_status", "arguments": {}}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // Three MCP requests and the second status read.
    assert_eq!(uses().await - before, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_is_added_and_removed_by_patch_and_process() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    // Several at once: every port, API or MCP, is held by one bot only.
    let mut creates = Vec::new();
    for i in 0..4u64 {
        let token = tg.add_bot(1_940_100 + i, &format!("mcp{i}_bot"));
        let mut body = harness::create_body("mcp", &token);
        body["type_instance"] = json!(["api", "mcp"]);
        let m = &m;
        creates.push(async move { m.post("/api/v1/instances", &body).await });
    }
    let mut ports = HashSet::new();
    for (status, body) in futures::future::join_all(creates).await {
        assert_eq!(status, 201, "{body}");
        let p = &body["process_result"]["details"]["ports"];
        assert!(ports.insert(p["api"].as_u64().unwrap()), "{ports:?} {p}");
        assert!(ports.insert(p["mcp"].as_u64().unwrap()), "{ports:?} {p}");
    }
    let (_, stats) = m.get("/api/v1/resources/ports").await;
    assert_eq!(stats["usedPorts"], 8, "{stats}");

    let token = tg.add_bot(1_940_199, "plain_bot");
    let created = harness::Created::from_body(&m.create_settled("mcp", &token).await);
    let id = created.id.clone();
    let (_, shown) = m.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(shown["instance"]["port_mcp"], Value::Null, "{shown}");

    // Adding `mcp` reserves a port at once; process serves it.
    let (status, patched) = m
        .request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
        .json(&json!({"type_instance": ["api", "mcp", "mcp"]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["pending_changes"], true, "{patched}");
    assert_eq!(patched["instance"]["type_instance"], json!(["api", "mcp"]));
    let mcp_port = patched["instance"]["port_mcp"].as_u64().expect("port_mcp");
    assert!(!ports.contains(&mcp_port), "{mcp_port} is another bot's");
    let processed = m
        .post(&format!("/api/v1/instances/{id}/process"), &json!({}))
        .await;
    assert_eq!(processed.0, 200, "{}", processed.1);
    assert_eq!(processed.1["action"], "recreated", "{}", processed.1);
    assert_eq!(processed.1["details"]["ports"]["mcp"], mcp_port);
    m.wait_for(&id, Duration::from_secs(30), |b| b["status"] == "running")
        .await;
    let url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let out = mcp_client(&url, &created.api_key, json!([{"op": "list_tools"}])).await;
    assert!(
        tool_names(&out["results"][0]).contains(&"send_message".to_string()),
        "{out}"
    );

    // Removing it frees the port; process stops serving it.
    let response = m
        .request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
        .json(&json!({"type_instance": ["api"]}))
        .send()
        .await
        .unwrap();
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["instance"]["port_mcp"], Value::Null, "{patched}");
    let processed = m
        .post(&format!("/api/v1/instances/{id}/process"), &json!({}))
        .await;
    assert_eq!(processed.1["action"], "recreated", "{}", processed.1);
    m.wait_for(&id, Duration::from_secs(30), |b| b["status"] == "running")
        .await;
    let gone = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&created.api_key)
        .send()
        .await;
    assert!(gone.is_err(), "the MCP port still answers: {gone:?}");
    // The freed port goes to the next bot that wants one.
    let token = tg.add_bot(1_940_198, "next_bot");
    let mut body = harness::create_body("mcp", &token);
    body["type_instance"] = json!(["mcp"]);
    let (status, next) = m.post("/api/v1/instances", &body).await;
    assert_eq!(status, 201, "{next}");
    let next_ports = &next["process_result"]["details"]["ports"];
    assert!(
        next_ports["api"] == mcp_port || next_ports["mcp"] == mcp_port,
        "the freed port {mcp_port} was not reused: {next}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_is_an_mcp_server_too() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let options = ManagerOptions::new(&tg_url).await;
    let admin_key = options.admin_key.clone();
    let m = Manager::spawn(options);
    let url = m.url("/mcp");
    let token = tg.add_bot(1_940_201, "fleet_mcp_bot");

    let out = mcp_client(
        &url,
        &admin_key,
        json!([
            {"op": "list_tools"},
            {"op": "call", "tool": "create_instance", "args": {"provider": "telegram", "token": token, "user_id": "ops", "type_instance": ["api", "mcp"]}},
            {"op": "call", "tool": "create_instance", "args": {"provider": "telegram", "token": "not-a-token"}},
            {"op": "call", "tool": "get_logs", "args": {"instance_id": "x", "tail": 0}},
            {"op": "call", "tool": "get_instance", "args": {"instance_id": "no-such-bot"}},
            {"op": "read", "uri": "botfleet://fleet/instances"},
        ]),
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["initialize"]["server"], "botfleet-manager");
    let r = &out["results"];
    assert_eq!(
        tool_names(&r[0]),
        [
            "list_instances",
            "get_instance",
            "create_instance",
            "start_instance",
            "stop_instance",
            "restart_instance",
            "get_logs",
            "get_resources"
        ]
    );
    // create_instance is the REST create: it waited for the bot, and shows its key and MCP URL once.
    assert_eq!(r[1]["is_error"], false, "{}", r[1]);
    let created = &r[1]["structured"];
    let id = created["instance_id"].as_str().unwrap().to_string();
    assert_eq!(
        created["process_result"]["details"]["status"], "running",
        "{created}"
    );
    assert!(created["process_result"]["details"]["api_key"].is_string());
    assert!(created["process_result"]["details"]["mcp_url"].is_string());
    assert_eq!(tool_error(&r[2])["field"], "token", "{}", r[2]);
    assert_eq!(tool_error(&r[3])["field"], "tail", "{}", r[3]);
    assert_eq!(tool_error(&r[4])["status"], 404, "{}", r[4]);
    let listed: Value = serde_json::from_str(r[5]["contents"][0].as_str().unwrap()).unwrap();
    assert_eq!(listed["total"], 1, "{listed}");

    let out = mcp_client(
        &url,
        &admin_key,
        json!([
            {"op": "call", "tool": "list_instances", "args": {}},
            {"op": "call", "tool": "get_instance", "args": {"instance_id": id}},
            {"op": "call", "tool": "get_logs", "args": {"instance_id": id, "tail": 20}},
            {"op": "call", "tool": "stop_instance", "args": {"instance_id": id}},
            {"op": "call", "tool": "start_instance", "args": {"instance_id": id}},
            {"op": "call", "tool": "restart_instance", "args": {"instance_id": id}},
            {"op": "call", "tool": "get_resources", "args": {}},
        ]),
    )
    .await;
    let r = &out["results"];
    assert_eq!(
        r[0]["structured"]["instances"][0]["id"],
        id.as_str(),
        "{}",
        r[0]
    );
    assert!(
        r[1]["structured"]["instance"]["port_mcp"].is_u64(),
        "{}",
        r[1]
    );
    assert!(
        r[2]["text"].as_str().unwrap().contains("worker"),
        "{}",
        r[2]
    );
    assert_eq!(r[3]["structured"]["status"], "stopped", "{}", r[3]);
    assert_eq!(r[4]["is_error"], false, "{}", r[4]);
    assert_eq!(r[5]["is_error"], false, "{}", r[5]);
    assert_eq!(r[6]["is_error"], false, "{}", r[6]);

    // The verbs went through the REST routes: audited under the admin, as REST calls are.
    let (_, audit) = m.get("/api/v1/audit?limit=50").await;
    let routes: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["route"].as_str().unwrap_or_default())
        .collect();
    assert!(routes.contains(&"/api/v1/instances/{id}/stop"), "{audit}");
    assert!(!routes.contains(&"/mcp"), "{audit}");

    // A read-only key lists but may not stop; a wrong key, or none, opens no session.
    let (status, key) = m
        .post(
            "/api/v1/api-keys",
            &json!({"name": "reader", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let reader = key["key"].as_str().unwrap();
    let out = mcp_client(
        &url,
        reader,
        json!([
            {"op": "call", "tool": "list_instances", "args": {}},
            {"op": "call", "tool": "stop_instance", "args": {"instance_id": id}},
        ]),
    )
    .await;
    let r = &out["results"];
    assert_eq!(r[0]["is_error"], false, "{}", r[0]);
    assert_eq!(tool_error(&r[1])["status"], 403, "{}", r[1]);
    assert_refused(&url).await;
}

/// Every MCP request counts once against the key's request rate, as it arrives (a `tools/list` flood
/// too); the REST request a tool call makes in process is not counted again.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_requests_count_once_against_the_rate() {
    let (_tg, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.extend([
        ("BOTFLEET_RATE_LIMIT_PER_KEY".into(), "1".into()),
        ("BOTFLEET_RATE_LIMIT_KEY_BURST".into(), "6".into()),
    ]);
    let admin_key = options.admin_key.clone();
    let m = Manager::spawn(options);
    let http = reqwest::Client::new();
    let rpc = |id: u64, method: &str, params: Value| {
        http.post(m.url("/mcp"))
            .bearer_auth(&admin_key)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
    };
    // Six tool calls fit the burst of six: their REST calls do not count again (else the fourth would
    // be refused, as a tool error).
    for id in 0..6 {
        let (status, body) = send(rpc(
            id,
            "tools/call",
            json!({"name": "list_instances", "arguments": {}}),
        ))
        .await;
        assert_eq!(status, 200, "call {id}: {body}");
        assert_eq!(body["result"]["isError"], false, "call {id}: {body}");
    }
    // The burst is spent: the next MCP request, whatever it asks, is refused before it runs.
    let (status, body) = send(rpc(7, "tools/list", json!({}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
}
