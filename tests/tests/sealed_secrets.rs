//! Secrets sealed at rest, and none in a worker's container configuration: after every kind of secret
//! has been stored (bot token, agent key, credentials in the agent's, the webhook's and an alert hook's
//! URLs, webhook secret, control key), every text value of every table of the manager's database, read
//! directly, and `docker inspect` of the worker are searched for each one, while the bot keeps working
//! (its worker reads them from files). Then the master key: rotation re-seals everything, a wrong or
//! missing key stops the manager with a clear error, and a database from before sealing is sealed at
//! start.

use std::{
    net::SocketAddr,
    process::{Command, Output, Stdio},
    time::Duration,
};

use botfleet_tests::{
    fake_agent::FakeAgent,
    fake_telegram::FakeTelegram,
    fake_webhook::FakeWebhook,
    harness::{self, Created, Manager, ManagerOptions, send},
};
use manager::store::sealing::SECRET_COLUMNS;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Column, Row};

/// Every non-null text value of every table, as `(table.column, value)`.
async fn dump_text(database_url: &str) -> Vec<(String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database_url)
        .await
        .expect("open the manager's database");
    let tables_sql = if database_url.starts_with("postgres") {
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get("name"))
        .collect();
    assert!(
        tables.iter().any(|t| t == "instances") && tables.iter().any(|t| t == "webhooks"),
        "{tables:?}"
    );
    let mut values = Vec::new();
    // sqlx's own table holds the migrations' SQL (and a type `Any` does not read).
    for table in tables.into_iter().filter(|t| t != "_sqlx_migrations") {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut conn)
            .await
            .expect("read table");
        for row in rows {
            for column in row.columns() {
                // Columns of other types do not decode as text: skipped.
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                    values.push((format!("{table}.{}", column.name()), text));
                }
            }
        }
    }
    values
}

/// The raw value of one secret column of one row.
async fn raw(database_url: &str, table: &str, column: &str, key: &str, row: &str) -> String {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database_url)
        .await
        .expect("open the manager's database");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {column} AS v FROM {table} WHERE {key} = $1"
    )))
    .bind(row.to_string())
    .fetch_one(&mut conn)
    .await
    .expect("the row");
    row.get("v")
}

/// Every sealed value's key id, with where it is.
fn sealed_ids(dump: &[(String, String)]) -> Vec<(String, String)> {
    dump.iter()
        .filter_map(|(place, v)| {
            v.strip_prefix("sealed:v1:")
                .and_then(|rest| rest.split_once(':'))
                .map(|(id, _)| (place.clone(), id.to_string()))
        })
        .collect()
}

fn assert_no_secret(place: &str, text: &str, secrets: &[(&str, String)]) {
    for (what, secret) in secrets {
        assert!(!text.contains(secret.as_str()), "{place} shows the {what}");
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `docker inspect` of a container, whole.
fn inspect(container: &str) -> Value {
    let out = Command::new("docker")
        .args(["inspect", container])
        .output()
        .expect("docker CLI");
    assert!(out.status.success(), "docker inspect {container}");
    serde_json::from_slice::<Value>(&out.stdout).expect("inspect JSON")[0].clone()
}

/// Sends `text` through the worker's API until it answers 200 (it may be restarting), and waits for the
/// fake Telegram to have it.
async fn send_through_worker(fake: &FakeTelegram, created: &Created, chat: i64, text: &str) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        // A worker being restarted may drop the connection: tried again.
        let answer = client
            .post(format!("{}/send", created.worker_url))
            .bearer_auth(&created.api_key)
            .json(&json!({"chatId": chat, "message": text}))
            .send()
            .await;
        let status = answer.as_ref().map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 200) && fake.sent().iter().any(|m| m.text == text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not send {text:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_running(m: &Manager, id: &str) {
    m.wait_for(id, Duration::from_secs(60), |i| i["status"] == "running")
        .await;
}

/// Runs `manager serve` on `options`' database with the variables `env` added (the later ones win), and
/// returns how it ended; a manager still running after `timeout` is killed (and the test fails).
fn serve_to_exit(options: &ManagerOptions, env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut child = Command::new(harness::binary("manager"))
        .arg("serve")
        .env("BOTFLEET_LISTEN", "127.0.0.1:0")
        .env("BOTFLEET_DATABASE_URL", &options.database_url)
        .env("BOTFLEET_ADMIN_KEY", &options.admin_key)
        .env("BOTFLEET_FLEET", &options.fleet)
        .env("BOTFLEET_RUNTIME", options.runtime.as_str())
        .env("BOTFLEET_WORKER_BINARY", harness::binary("worker"))
        .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the manager");
    let deadline = std::time::Instant::now() + timeout;
    while child.try_wait().expect("manager status").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("manager output");
            panic!(
                "the manager started (it should have refused):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("manager output")
}

/// A bot with an agent (key and URL credentials) and a webhook (secret and URL credentials).
struct Setup {
    fake: FakeTelegram,
    token: String,
    created: Created,
    secrets: Vec<(&'static str, String)>,
}

async fn setup(m: &Manager, fake: FakeTelegram, agent_url: &str, hook_url: &str, n: u64) -> Setup {
    let token = fake.add_bot(7_400_000 + n, &format!("sealed{n}_bot"));
    let agent_key = format!("sk-agent-s3cr3t-{n:04}");
    let mut body = harness::create_body("u", &token);
    body["agno_config"] = json!({"kind": "openai", "url": agent_url, "api_key": agent_key,
        "model": "m", "timeout_secs": 5});
    let (status, created) = m
        .post("/api/v1/instances?wait=true&timeout=30", &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let created = Created::from_body(&created);
    let hook_secret = format!("whsec-user-chosen-s3cr3t-{n:04}");
    let (status, hook) = send(
        m.request(
            reqwest::Method::PUT,
            &format!("/api/v1/instances/{}/webhook/config", created.id),
        )
        .json(&json!({"url": hook_url, "secret": hook_secret})),
    )
    .await;
    assert_eq!(status, 200, "{hook}");
    let control_key = harness::control_key(&m.options, &created.id).await;
    let secrets = vec![
        ("bot token", token.clone()),
        (
            "bot token's secret part",
            token.split_once(':').unwrap().1.to_string(),
        ),
        ("agent key", agent_key),
        ("agent URL password", "agentpass-s3cr3t".into()),
        ("agent URL query secret", "agent-url-s3cr3t".into()),
        ("webhook secret", hook_secret),
        ("webhook URL password", "hookpass-s3cr3t".into()),
        ("webhook URL query secret", "hook-url-s3cr3t".into()),
        ("instance key", created.api_key.clone()),
        ("control key", control_key.clone()),
    ];
    Setup {
        fake,
        token,
        created,
        secrets,
    }
}

fn gateway(port: u16) -> SocketAddr {
    SocketAddr::new(harness::test_network_gateway(), port)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_stored_value_and_no_container_setting_shows_a_secret_and_the_bot_works() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let (agent, agent_addr) = FakeAgent::start(gateway(0)).await.unwrap();
    let (hook, hook_url) = FakeWebhook::start().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let agent_url = format!(
        "http://agentuser:agentpass-s3cr3t@{agent_addr}/openai/v1/chat/completions?key=agent-url-s3cr3t"
    );
    let hook_url = hook_url.replacen("http://", "http://hookuser:hookpass-s3cr3t@", 1)
        + "?token=hook-url-s3cr3t";
    let s = setup(&m, fake, &agent_url, &hook_url, 1).await;
    let id = s.created.id.clone();
    let mut secrets = s.secrets.clone();
    let (status, threshold) = m
        .post(
            "/api/v1/alerts/thresholds",
            &json!({"metric_type": "restarts", "threshold_value": 1e9, "instance_id": id,
                "webhook_url": "http://alertuser:alertpass-s3cr3t@127.0.0.1:9/alert"}),
        )
        .await;
    assert_eq!(status, 201, "{threshold}");
    secrets.push(("alert hook URL password", "alertpass-s3cr3t".into()));

    // The worker got its agent configuration (and key) from its file: a message reaches the agent and
    // its answer the chat; the manager opened the webhook's URL and secret to deliver the message.
    s.fake.push_text(&s.token, 4242, "hello sealed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !s
        .fake
        .sent()
        .iter()
        .any(|m| m.text == "openai (0 before): hello sealed")
        || !hook
            .deliveries()
            .iter()
            .any(|d| d.signed_with(&s.secrets[5].1))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agent answer or signed delivery; agent calls: {:?}, deliveries: {}",
            agent.calls(),
            hook.deliveries().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The database, read directly.
    let dump = dump_text(&m.options.database_url).await;
    assert!(dump.len() > 20, "{} text values", dump.len());
    for (place, value) in &dump {
        assert_no_secret(&format!("the database ({place})"), value, &secrets);
    }
    let sealed: Vec<String> = sealed_ids(&dump).into_iter().map(|(p, _)| p).collect();
    for place in [
        "instances.token",
        "instances.control_key",
        "instances.agno_config",
        "webhooks.url",
        "webhooks.secret",
        "alert_thresholds.webhook_url",
    ] {
        assert!(sealed.iter().any(|p| p == place), "{place} is not sealed");
    }

    // The worker's container configuration.
    let container = m.worker_container(&id).expect("the worker's container");
    let digests = [
        ("instance key digest", sha256_hex(&s.created.api_key)),
        ("control key digest", sha256_hex(&s.secrets[9].1)),
    ];
    let check_container = |when: &str| {
        let shown = inspect(&container);
        let text = shown.to_string();
        assert_no_secret(&format!("docker inspect {when}"), &text, &secrets);
        for (what, digest) in &digests {
            assert!(
                !text.contains(digest),
                "docker inspect {when} shows the {what}"
            );
        }
        let env: Vec<String> = serde_json::from_value(shown["Config"]["Env"].clone()).unwrap();
        for file in [
            "CREDENTIALS",
            "BOT_CONFIG",
            "API_KEY_SHA256",
            "CONTROL_KEY_SHA256",
        ] {
            let name = file.to_lowercase();
            assert!(
                env.contains(&format!("BOTFLEET_{file}_FILE=/run/secrets/{name}")),
                "{env:?}"
            );
        }
        assert!(
            !env.iter()
                .any(|v| v.starts_with("BOTFLEET_CREDENTIALS=")
                    || v.starts_with("BOTFLEET_BOT_CONFIG=")),
            "{env:?}"
        );
    };
    check_container("after the create");
    send_through_worker(&s.fake, &s.created, 55, "sealed one").await;

    // The files are in the container's own layer: a restart behind the manager's back keeps them.
    harness::docker(&["restart", "-t", "2", &container]);
    send_through_worker(&s.fake, &s.created, 55, "sealed after docker restart").await;
    // A restart through the API makes a new container, which gets them again.
    m.verb(&id, "restart").await;
    wait_running(&m, &id).await;
    check_container("after a recreate");
    send_through_worker(&s.fake, &s.created, 55, "sealed after a recreate").await;
    // A stopped worker started again keeps them too.
    m.verb(&id, "stop").await;
    m.wait_for(&id, Duration::from_secs(30), |i| i["status"] == "stopped")
        .await;
    m.verb(&id, "start").await;
    wait_running(&m, &id).await;
    send_through_worker(&s.fake, &s.created, 55, "sealed after stop and start").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_master_key_reseals_everything_and_a_wrong_one_is_refused() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let s = setup(
        &m,
        fake,
        "http://agentuser:agentpass-s3cr3t@127.0.0.1:9/v1/chat/completions?key=agent-url-s3cr3t",
        "http://hookuser:hookpass-s3cr3t@127.0.0.1:9/hook?token=hook-url-s3cr3t",
        2,
    )
    .await;
    let id = s.created.id.clone();
    let key_file = options.master_key_file();
    let before = sealed_ids(&dump_text(&options.database_url).await);
    let old_id = before[0].1.clone();
    assert!(before.len() >= 5, "{before:?}");
    assert!(before.iter().all(|(_, k)| *k == old_id), "{before:?}");
    let old_token = raw(&options.database_url, "instances", "token", "id", &id).await;
    let old_key_file = key_file.with_extension("old");
    std::fs::copy(&key_file, &old_key_file).unwrap();
    m.stop();

    let out = Command::new(harness::binary("manager"))
        .args(["master-key", "rotate"])
        .env("BOTFLEET_DATABASE_URL", &options.database_url)
        .env("BOTFLEET_MASTER_KEY_FILE", &key_file)
        .output()
        .expect("run the rotation");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    assert!(stdout.contains("master key rotated"), "{stdout}");

    let after = sealed_ids(&dump_text(&options.database_url).await);
    let new_id = after[0].1.clone();
    assert_ne!(new_id, old_id);
    assert_eq!(after.len(), before.len(), "{after:?}");
    assert!(after.iter().all(|(_, k)| *k == new_id), "{after:?}");
    let new_token = raw(&options.database_url, "instances", "token", "id", &id).await;
    assert_ne!(new_token, old_token);
    let file = std::fs::read_to_string(&key_file).unwrap();
    let keys: Vec<&str> = file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(keys.len(), 1, "the old key is dropped");
    assert!(keys[0].starts_with(&format!("{new_id}:")));
    for (_, value) in dump_text(&options.database_url).await {
        assert_no_secret("the database after the rotation", &value, &s.secrets);
    }

    // A wrong key, none, or an unreadable one: the manager says so and stops (no panic).
    let old = old_key_file.display().to_string();
    let missing = key_file.with_extension("missing").display().to_string();
    let garbage = key_file.with_extension("garbage");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let garbage = garbage.display().to_string();
    for (file, expected) in [
        (old.as_str(), format!("sealed with master key {new_id}")),
        (missing.as_str(), "there is no master key file".to_string()),
        (garbage.as_str(), "is unusable".to_string()),
    ] {
        let out = serve_to_exit(
            &options,
            &[("BOTFLEET_MASTER_KEY_FILE", file)],
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&expected), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !std::path::Path::new(&missing).exists(),
        "no key is made up for a sealed database"
    );

    // The right key: the bot works on.
    let m2 = Manager::spawn(options);
    wait_running(&m2, &id).await;
    let (status, credentials) = m2.get(&format!("/api/v1/instances/{id}/credentials")).await;
    assert_eq!(status, 200, "{credentials}");
    send_through_worker(&s.fake, &s.created, 56, "sent after the rotation").await;
    // A restart makes a new worker from the re-sealed credentials.
    m2.verb(&id, "restart").await;
    wait_running(&m2, &id).await;
    send_through_worker(
        &s.fake,
        &s.created,
        56,
        "sent after the rotation and a restart",
    )
    .await;
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_before_sealing_is_sealed_at_start() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let s = setup(
        &m,
        fake,
        "http://agentuser:agentpass-s3cr3t@127.0.0.1:9/v1/chat/completions?key=agent-url-s3cr3t",
        "http://hookuser:hookpass-s3cr3t@127.0.0.1:9/hook?token=hook-url-s3cr3t",
        3,
    )
    .await;
    let id = s.created.id.clone();
    m.stop();

    // Every sealed value written back in plaintext, as a manager before sealing kept it.
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&options.database_url)
        .await
        .unwrap();
    let mut unsealed = 0;
    for c in SECRET_COLUMNS {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} AS k, {} AS v FROM {} WHERE {} LIKE 'sealed:%'",
            c.key, c.column, c.table, c.column
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for row in rows {
            let (key, value): (String, String) = (row.get("k"), row.get("v"));
            let plain = options.open_sealed(c.place(&key), &value);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {} SET {} = $1 WHERE {} = $2",
                c.table, c.column, c.key
            )))
            .bind(plain)
            .bind(key)
            .execute(&mut conn)
            .await
            .unwrap();
            unsealed += 1;
        }
    }
    assert_eq!(
        unsealed, 6,
        "token, control key, agent, webhook URL and secret, session signing key"
    );
    // A signing key of that time, in plaintext.
    sqlx::query("UPDATE settings SET value = 'jwt-s3cr3t-legacy' WHERE key = 'jwt_signing_key'")
        .execute(&mut conn)
        .await
        .unwrap();
    let dump = dump_text(&options.database_url).await;
    assert!(
        dump.iter().any(|(_, v)| v.contains(&s.secrets[2].1)),
        "the agent key is in plaintext now"
    );

    let m2 = Manager::spawn(options.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !m2.log().contains("stored secrets sealed") {
        assert!(tokio::time::Instant::now() < deadline, "{}", m2.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut secrets = s.secrets.clone();
    secrets.push(("signing key", "jwt-s3cr3t-legacy".into()));
    let dump = dump_text(&options.database_url).await;
    for (place, value) in &dump {
        assert_no_secret(&format!("the database ({place})"), value, &secrets);
    }
    assert_eq!(sealed_ids(&dump).len(), 6, "{:?}", sealed_ids(&dump));
    wait_running(&m2, &id).await;
    send_through_worker(&s.fake, &s.created, 57, "sent after sealing at start").await;
    drop(m);
}
