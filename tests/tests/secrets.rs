//! No secret is ever shown or logged: after every kind of secret has been configured (bot token, agent
//! key, credentials inside the agent's and the webhook's URLs, webhook secret, instance key before and
//! after a rotation, the per-instance control key, the admin key), every GET route of the manager's and
//! the worker's documents is called and each body, the worker's log and the manager's log (at debug
//! level) are searched for each secret.

use std::time::Duration;

use botfleet_tests::harness::{self, Created, Manager, ManagerOptions, send};
use serde_json::{Value, json};

/// Every GET path of an OpenAPI document, with each `{param}` filled with `id`; live streams left out
/// (they never end).
fn get_paths(doc: &Value, id: &str) -> Vec<String> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(path, _)| {
            let mut out = String::new();
            let mut rest = path.as_str();
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let close = rest[open..].find('}').expect("closing brace") + open;
                out.push_str(id);
                rest = &rest[close + 1..];
            }
            out.push_str(rest);
            out
        })
        .filter(|p| !p.ends_with("/stream"))
        .collect()
}

fn assert_no_secret(place: &str, text: &str, secrets: &[(&str, String)]) {
    for (what, secret) in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{place} shows the {what}:\n{}",
            text.chars().take(2000).collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_and_no_log_shows_a_secret() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_300_001, "secret_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.push((
        "RUST_LOG".into(),
        "debug,sqlx=warn,hyper=info,h2=info".into(),
    ));
    let m = Manager::spawn(options);

    let agent_key = "sk-agent-s3cr3t-0001";
    let agent_url =
        "http://agentuser:agentpass-s3cr3t@127.0.0.1:9/v1/chat/completions?key=agent-url-s3cr3t";
    let mut body = harness::create_body("u", &token);
    body["agno_config"] = json!({"kind": "openai", "url": agent_url, "api_key": agent_key,
        "model": "m", "timeout_secs": 2});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let first = Created::from_body(&created);
    let id = first.id.clone();

    let hook_secret = "whsec-user-chosen-s3cr3t-0001";
    let hook_url = "http://127.0.0.1:9/hook?sig=hook-url-s3cr3t";
    let (status, hook) = send(
        m.request(
            reqwest::Method::PUT,
            &format!("/api/v1/instances/{id}/webhook/config"),
        )
        .json(&json!({"url": hook_url, "secret": hook_secret})),
    )
    .await;
    assert_eq!(status, 200, "{hook}");
    let (status, rotated) = m
        .post(
            &format!("/api/v1/instances/{id}/api-key/rotate"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["api_key"]
        .as_str()
        .expect("the new key")
        .to_string();
    // A message makes the worker call the (unreachable) agent and the manager queue a delivery to the
    // (unreachable) webhook: the failure paths, where URLs and keys tend to reach logs.
    fake.push_text(&token, 4242, "hello");
    let events = m.wait_for(&id, Duration::from_secs(30), |_| true).await;
    drop(events);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let secrets: Vec<(&str, String)> = vec![
        ("bot token", token.clone()),
        (
            "bot token's secret part",
            token.split_once(':').unwrap().1.to_string(),
        ),
        ("agent key", agent_key.into()),
        ("agent URL password", "agentpass-s3cr3t".into()),
        ("agent URL query secret", "agent-url-s3cr3t".into()),
        ("webhook secret", hook_secret.into()),
        ("webhook URL query secret", "hook-url-s3cr3t".into()),
        ("first instance key", first.api_key.clone()),
        ("rotated instance key", new_key.clone()),
        ("control key", harness::control_key(&m.options, &id).await),
        ("admin key", m.options.admin_key.clone()),
    ];

    let client = reqwest::Client::new();
    let (_, doc) = send(client.get(m.url("/openapi.json"))).await;
    let paths = get_paths(&doc, &id);
    assert!(
        paths.len() >= 25,
        "only {} GET routes: {paths:?}",
        paths.len()
    );
    for path in &paths {
        let response = m.request(reqwest::Method::GET, path).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_ne!(status, 500, "GET {path}: {text}");
        assert_no_secret(&format!("GET {path}"), &text, &secrets);
    }
    let (_, worker_doc) = send(client.get(m.url("/openapi/worker.json"))).await;
    for path in get_paths(&worker_doc, "4242") {
        let url = format!("http://127.0.0.1:{}{path}", first.port);
        let response = client.get(&url).bearer_auth(&new_key).send().await.unwrap();
        let text = response.text().await.unwrap();
        assert_no_secret(&format!("worker GET {path}"), &text, &secrets);
    }
    let (_, logs) = send(m.request(
        reqwest::Method::GET,
        &format!("/api/v1/instances/{id}/logs?tail=1000"),
    ))
    .await;
    drop(logs);
    assert_no_secret("the manager's log", &m.log(), &secrets);
    // The views still say what is configured, without the values.
    let (_, shown) = m.get(&format!("/api/v1/instances/{id}")).await;
    let agent = &shown["instance"]["agno_config"];
    assert_eq!(agent["has_api_key"], true, "{agent}");
    assert!(
        agent["url"]
            .as_str()
            .unwrap()
            .starts_with("http://***@127.0.0.1:9/v1/chat/completions?key=***"),
        "{agent}"
    );
    let (_, hook) = m
        .get(&format!("/api/v1/instances/{id}/webhook/config"))
        .await;
    assert_eq!(hook["has_secret"], true, "{hook}");
}
