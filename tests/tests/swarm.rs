//! What only the Swarm runtime has: the bot's secrets as Docker secrets (never in `docker service
//! inspect` or the container's inspect), versioned by the configuration and removed with the instance,
//! and the pin of a service to the node that holds its data volume. Run with `BOTFLEET_TEST_RUNTIME=swarm`
//! (the second run of scripts/test); on plain Docker each test says so and returns.

use std::{collections::HashSet, time::Duration};

use botfleet_tests::harness::{
    self, Created, Manager, ManagerOptions, Runtime, docker_lines, send,
};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

fn on_swarm() -> bool {
    let swarm = Runtime::from_env() == Runtime::Swarm;
    if !swarm {
        eprintln!("not run: BOTFLEET_TEST_RUNTIME is not swarm");
    }
    swarm
}

fn inspect(args: &[&str]) -> Value {
    let text = docker_lines(args).join("\n");
    let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    parsed[0].clone()
}

fn secret_names(fleet: &str) -> HashSet<String> {
    docker_lines(&[
        "secret",
        "ls",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.Name}}",
    ])
    .into_iter()
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_show_in_inspect_and_live_and_die_with_the_instance() {
    if !on_swarm() {
        return;
    }
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_400_001, "swarm_secret_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let agent_key = "sk-agent-swarm-s3cr3t-0001";
    let mut body = harness::create_body("u", &token);
    body["agno_config"] = json!({"kind": "openai", "url": "http://127.0.0.1:9/v1/chat/completions",
        "api_key": agent_key, "model": "m", "timeout_secs": 2});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["process_result"]["details"]["status"], "running",
        "{created}"
    );
    let c = Created::from_body(&created);
    let service = m.worker_name(&c.id);

    // Neither the service nor its container shows a secret: only references and file paths.
    let service_json = inspect(&["service", "inspect", &service]);
    let container = m.worker_container(&c.id).expect("a running task container");
    let container_json = inspect(&["inspect", &container]);
    for (place, json) in [("service", &service_json), ("container", &container_json)] {
        let text = json.to_string();
        assert!(
            !text.contains(&token),
            "the {place} inspect shows the bot token"
        );
        assert!(
            !text.contains(agent_key),
            "the {place} inspect shows the agent key"
        );
        assert!(
            !text.contains(&c.api_key),
            "the {place} inspect shows the API key"
        );
    }
    let container_spec = &service_json["Spec"]["TaskTemplate"]["ContainerSpec"];
    let env: Vec<&str> = container_spec["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"BOTFLEET_CREDENTIALS_FILE=/run/secrets/credentials"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("BOTFLEET_BOT_TOKEN")
            || e.starts_with("BOTFLEET_CREDENTIALS=")
            || e.starts_with("BOTFLEET_BOT_CONFIG=")
            || e.starts_with("BOTFLEET_API_KEY_SHA256=")),
        "{env:?}"
    );
    assert_eq!(container_spec["Secrets"].as_array().unwrap().len(), 4);
    // The worker read them from the files: it polls with the token and takes the instance key.
    let (status, sent) = send(
        reqwest::Client::new()
            .post(format!("{}/send", c.worker_url))
            .bearer_auth(&c.api_key)
            .json(&json!({"chatId": 1, "message": "hi"})),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert!(fake.calls(&token, "getupdates") > 0);

    // Pinned to the node it ran on, where its volume is.
    let node = docker_lines(&["info", "--format", "{{.Swarm.NodeID}}"]).join("");
    assert!(!node.is_empty());
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let spec = inspect(&["service", "inspect", &service]);
        let constraints = spec["Spec"]["TaskTemplate"]["Placement"]["Constraints"].to_string();
        if constraints.contains(&format!("node.id=={node}")) {
            assert_eq!(spec["Spec"]["Labels"]["botfleet.node"], node.as_str());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never pinned: {constraints}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // New credentials get new secrets (with the bot configuration in them); the old ones go. (A change
    // of the bot configuration alone reaches the running worker over its control channel instead.)
    let before = secret_names(&m.options.fleet);
    assert_eq!(before.len(), 4, "{before:?}");
    let new_agent_key = "sk-agent-swarm-s3cr3t-0002";
    let new_token = fake.add_bot(7_400_003, "swarm_secret_bot_2");
    let base = format!("/api/v1/instances/{}", c.id);
    let (status, patched) = send(m.request(reqwest::Method::PATCH, &base).json(&json!({
        "token": new_token,
        "agno_config": {"kind": "openai", "url": "http://127.0.0.1:9/v1/chat/completions",
            "api_key": new_agent_key, "model": "m2", "timeout_secs": 2}
    })))
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["pending_changes"], true, "{patched}");
    let (status, processed) = m.post(&format!("{base}/process"), &json!({})).await;
    assert_eq!(
        (status, processed["action"].as_str()),
        (200, Some("recreated"))
    );
    m.wait_for(&c.id, SETTLE, |i| i["status"] == "running")
        .await;
    let after = secret_names(&m.options.fleet);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(before.is_disjoint(&after), "{before:?} / {after:?}");
    let recreated = inspect(&["service", "inspect", &service]);
    assert!(!recreated.to_string().contains(new_agent_key));
    // The recreated service was pinned from the start (never updated since): its data is on that node.
    assert!(
        recreated["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
            .to_string()
            .contains(&format!("node.id=={node}")),
        "{recreated}"
    );
    assert!(recreated["PreviousSpec"].is_null(), "{recreated}");

    // Deleted: no service, secret or volume left.
    let (status, _) = m.delete(&base).await;
    assert_eq!(status, 200);
    assert!(m.containers().is_empty(), "{:?}", m.containers());
    assert!(secret_names(&m.options.fleet).is_empty());
    assert!(harness::fleet_volumes(&m.options.fleet).is_empty());
}

/// Sets the node active again whatever happens: a drained node would hold every later test's bots.
struct Reactivate(String);

impl Drop for Reactivate {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["node", "update", "--availability", "active", &self.0])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// Drains the node every test runs on: scripts/test runs it alone, after the others.
#[tokio::test(flavor = "multi_thread")]
async fn a_drained_node_holds_its_pinned_bot_until_it_is_active_again() {
    if !on_swarm() {
        return;
    }
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_400_002, "swarm_drain_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let c = Created::from_body(&m.create_settled("u", &token).await);
    let node = docker_lines(&["info", "--format", "{{.Swarm.NodeID}}"]).join("");

    // The swarm's nodes are the hosts; this one runs the bot.
    let (status, list) = m.get("/api/v1/hosts").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["runtime"], "swarm");
    let host = list["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == node.as_str())
        .unwrap_or_else(|| panic!("node {node} not among the hosts: {list}"))
        .clone();
    assert_eq!(host["role"], "manager", "{host}");
    assert_eq!(host["local"], true);
    assert_eq!(host["state"], "ready");
    assert_eq!(host["availability"], "active");
    assert_eq!(host["bots"], 1, "{host}");
    assert!(host["host"].is_string(), "the node's address: {host}");
    let base = format!("/api/v1/hosts/{node}");
    let (status, on_host) = m.get(&format!("{base}/containers")).await;
    assert_eq!(status, 200, "{on_host}");
    assert_eq!(on_host["count"], 1, "{on_host}");
    assert_eq!(on_host["containers"][0]["instance_id"], c.id.as_str());
    assert_eq!(on_host["containers"][0]["name"], m.worker_name(&c.id));
    assert_eq!(on_host["containers"][0]["running"], true);

    // Drained: Swarm stops the task; the new one the manager asks for waits for the pinned node.
    let _reactivate = Reactivate(node.clone());
    let (status, drained) = send(
        m.request(reqwest::Method::PATCH, &base)
            .json(&json!({"availability": "drain"})),
    )
    .await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["host"]["availability"], "drain");
    let pending = m
        .wait_for(&c.id, SETTLE, |i| {
            i["containers"][0]["state"]
                .as_str()
                .is_some_and(|s| s.starts_with("pending"))
        })
        .await;
    assert_ne!(pending["status"], "running", "{pending}");
    assert!(m.worker_container(&c.id).is_none(), "a task still runs");

    // Active again: the bot runs on its node, one consumer of its token.
    let (status, active) = send(
        m.request(reqwest::Method::PATCH, &base)
            .json(&json!({"availability": "active"})),
    )
    .await;
    assert_eq!(status, 200, "{active}");
    m.wait_for(&c.id, SETTLE, |i| {
        i["status"] == "running" && i["containers"][0]["running"] == true
    })
    .await;
    fake.assert_one_consumer(&token, Duration::from_secs(3))
        .await;
}
