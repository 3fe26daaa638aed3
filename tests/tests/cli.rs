//! The `botfleet` command line end to end: the real binary against the real manager, worker, Docker and
//! the fake Telegram. Assertions read `--output json` (parsed back into the contract's types) where
//! they can, and every exit code is checked.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use botfleet_tests::{
    cli_run::Run,
    harness::{self, Manager, ManagerOptions},
};
use serde::de::DeserializeOwned;
use shared::{
    api::{
        access::RotatedApiKey,
        events::EventList,
        instances::{AuthStatus, InstanceList, InstanceResponse, InstanceStatus},
        lifecycle::VerbResponse,
        resources::{InstanceResources, ResourcesOverview},
        webhooks::{DeliveryList, ReplayResponse},
    },
    events::EventType,
    webhook::{WebhookConfigRequest, WebhookConfigView},
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// What one run of the binary did.
/// Runs `botfleet` against one manager, with a home of its own (no config file of the machine's) and
/// every output kept, to search it for the token at the end.
struct Cli {
    url: String,
    key: String,
    home: PathBuf,
    transcript: Arc<Mutex<String>>,
}

impl Cli {
    fn new(m: &Manager, home: &Path) -> Self {
        Self {
            url: m.base_url.clone(),
            key: m.options.admin_key.clone(),
            home: home.to_path_buf(),
            transcript: Arc::default(),
        }
    }

    /// The command with the manager's URL and key in the environment.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(harness::binary("botfleet"));
        c.args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env_remove("BOTFLEET_CONFIG")
            .env("BOTFLEET_URL", &self.url)
            .env("BOTFLEET_KEY", &self.key)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn output(&self, mut command: tokio::process::Command, args: &[&str]) -> Run {
        let out = command.output().await.expect("run botfleet");
        Run::finished(out, args, &self.transcript)
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.output(self.command(args), args).await
    }

    /// Runs and asserts exit 0.
    async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "botfleet {args:?}: {run:?}");
        run
    }

    /// Runs with `--output json`, asserts exit 0 and parses stdout as `T`.
    async fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.ok(&all).await;
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "botfleet {args:?}: stdout is not a {}: {e}\n{}",
                std::any::type_name::<T>(),
                run.stdout
            )
        })
    }

    /// Runs and asserts the exit code; returns the run.
    async fn fails(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, code, "botfleet {args:?}: {run:?}");
        run
    }
}

/// `GET /api/v1/status` on the worker with `key`; 0 while nothing answers (a worker being recreated).
async fn worker_status(port: u16, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/status"))
        .bearer_auth(key)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_a_bot_from_create_to_delete() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(7_300_001, "cli_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let home = harness::bin_dir()
        .join("test-data")
        .join(harness::unique_name("cli-home-"));
    std::fs::create_dir_all(&home).unwrap();
    let token_file = home.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let token_path = token_file.to_str().unwrap();
    let cli = Cli::new(&m, &home);

    // Create and wait: the key is printed once (with its warning), then the bot is ready.
    let created = cli
        .ok(&[
            "instances",
            "create",
            "--provider",
            "telegram",
            "--token-file",
            token_path,
            "--user",
            "cli-user",
            "--label",
            "team=support",
            "--wait",
            "--timeout",
            "30",
        ])
        .await;
    let key = created
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("bfk_"))
        .unwrap_or_else(|| panic!("no key in {:?}", created.stdout))
        .to_string();
    assert!(created.stderr.contains("shown only now"), "{created:?}");
    assert!(created.stdout.contains("Ready"), "{created:?}");

    // List, as JSON (the contract's type) and as a table.
    let list: InstanceList = cli.json(&["instances", "list"]).await;
    assert_eq!(list.total, 1);
    let bot = &list.instances[0];
    let id = bot.id.clone();
    let port = bot.port_api;
    assert_eq!(bot.auth_status, AuthStatus::ClientReady);
    assert_eq!(bot.status, InstanceStatus::Running);
    assert_eq!(bot.user_id, "cli-user");
    assert_eq!(bot.phone_number.as_deref(), Some("@cli_bot"));
    assert_eq!(bot.labels.get("team").map(String::as_str), Some("support"));
    // Filtered and ordered by the manager.
    let found: InstanceList = cli
        .json(&[
            "instances",
            "list",
            "--status",
            "running",
            "--label",
            "team=support",
            "--owner",
            "cli-user",
            "--search",
            "cli_bot",
            "--sort",
            "name",
            "--desc",
        ])
        .await;
    assert_eq!(found.total, 1);
    let none: InstanceList = cli
        .json(&["instances", "list", "--label", "team=sales"])
        .await;
    assert_eq!(none.total, 0);
    let refused = cli
        .fails(2, &["instances", "list", "--status", "sleeping"])
        .await;
    assert!(refused.stderr.contains("unknown state"), "{refused:?}");
    let table = cli.ok(&["instances", "list"]).await.stdout;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "STATUS", "AUTH", "BOT", "PORT", "USER", "CREATED"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..6],
        [
            id.as_str(),
            "running",
            "client_ready",
            "@cli_bot",
            &port.to_string(),
            "cli-user"
        ]
    );
    assert_eq!(worker_status(port, &key).await, 200);

    let got: InstanceResponse = cli.json(&["instances", "get", &id]).await;
    assert_eq!(got.instance.instance.id, id);
    assert!(got.instance.instance.has_token);
    let shown = cli.ok(&["instances", "get", &id]).await.stdout;
    assert!(
        shown.contains("client_ready") && shown.contains("@cli_bot"),
        "{shown}"
    );

    // Stop while following the event stream: the stop arrives as one line.
    let mut follow = cli.command(&["events", "-f", "--instance", &id, "--type", "stopped"]);
    follow.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut follower = follow.spawn().expect("spawn botfleet events -f");
    let mut followed = BufReader::new(follower.stdout.take().unwrap()).lines();
    // The CLI says so on stderr once the manager answered, which it does after subscribing.
    let mut notes = BufReader::new(follower.stderr.take().unwrap()).lines();
    let note = tokio::time::timeout(Duration::from_secs(10), notes.next_line())
        .await
        .expect("the stream opens within 10 s")
        .unwrap()
        .expect("a note on stderr");
    assert!(note.contains("following"), "{note}");
    let stopped: VerbResponse = cli.json(&["instances", "stop", &id]).await;
    assert_eq!(stopped.status, InstanceStatus::Stopped);
    let line = tokio::time::timeout(Duration::from_secs(10), followed.next_line())
        .await
        .expect("an event line within 10 s")
        .unwrap()
        .expect("a line");
    assert!(
        line.contains("instance.stopped") && line.contains(&id),
        "{line}"
    );
    follower.kill().await.unwrap();
    cli.transcript.lock().unwrap().push_str(&line);

    let events: EventList = cli
        .json(&["events", "--instance", &id, "--type", "created,stopped"])
        .await;
    let types: Vec<EventType> = events.events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [EventType::InstanceStopped, EventType::InstanceCreated]
    );

    let started: VerbResponse = cli.json(&["instances", "start", &id]).await;
    assert_eq!(started.instance_id, id);
    m.wait_for(&id, Duration::from_secs(30), |i| i["status"] == "running")
        .await;

    let logs = cli.ok(&["instances", "logs", &id, "--tail", "50"]).await;
    assert!(!logs.stdout.trim().is_empty(), "the worker logged nothing");
    // Followed: the last lines come at once, and the command runs until stopped.
    let mut follow = cli.command(&["instances", "logs", &id, "-f", "--tail", "5"]);
    follow.stdout(Stdio::piped());
    let mut follower = follow.spawn().expect("spawn botfleet instances logs -f");
    let mut followed = BufReader::new(follower.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), followed.next_line())
        .await
        .expect("a log line within 10 s")
        .unwrap()
        .expect("a line");
    assert!(!line.trim().is_empty(), "an empty log line");
    assert!(follower.try_wait().unwrap().is_none(), "-f ended by itself");
    follower.kill().await.unwrap();

    // A new key: the old one is refused by the worker, the new one accepted.
    let rotated: RotatedApiKey = cli.json(&["keys", "rotate", &id]).await;
    assert_ne!(rotated.api_key, key);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while worker_status(port, &rotated.api_key).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(worker_status(port, &key).await, 401);

    // Webhook: set (a secret is generated and shown once), then show (never the secret).
    let set: WebhookConfigView = cli
        .json(&[
            "webhook",
            "set",
            &id,
            "--url",
            "http://127.0.0.1:9/hook",
            "--event",
            "message.in",
        ])
        .await;
    assert!(set.configured && set.has_secret);
    assert!(
        set.secret
            .as_deref()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let shown: WebhookConfigView = cli.json(&["webhook", "show", &id]).await;
    assert_eq!(shown.url.as_deref(), Some("http://127.0.0.1:9/hook"));
    assert_eq!(shown.events, [EventType::MessageIn]);
    assert_eq!(shown.secret, None);

    // The manager says no: its message as it is, the field, exit 1.
    let refusal = m
        .api()
        .put_webhook(
            &id,
            &WebhookConfigRequest {
                url: "ftp://example.com/hook".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let Some(refusal) = refusal.body().filter(|_| refusal.status() == Some(422)) else {
        panic!("expected a 422: {refusal:?}");
    };
    let bad = cli
        .fails(
            1,
            &["webhook", "set", &id, "--url", "ftp://example.com/hook"],
        )
        .await;
    assert!(
        bad.stderr.contains(&refusal.error),
        "{bad:?} lacks {refusal:?}"
    );
    assert!(bad.stderr.contains("field: url"), "{bad:?}");
    // The same token again: 409 from the manager, which never echoes it.
    let dup = cli
        .fails(1, &["instances", "create", "--token-file", token_path])
        .await;
    assert!(dup.stderr.contains("HTTP 409"), "{dup:?}");

    // Usage (no key) exits 2, an unreachable manager 3.
    let mut no_key = cli.command(&["instances", "list"]);
    no_key.env_remove("BOTFLEET_KEY");
    let run = cli.output(no_key, &["instances", "list (no key)"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no admin key"), "{run:?}");
    let run = cli
        .fails(3, &["--url", "http://127.0.0.1:1", "instances", "list"])
        .await;
    assert!(run.stderr.contains("Connection refused"), "{run:?}");

    // The config file, where neither flags nor environment say otherwise.
    let config = home.join("config").join("botfleet");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("url = \"{}\"\nkey = \"{}\"\n", cli.url, cli.key),
    )
    .unwrap();
    let mut from_file = cli.command(&["--output", "json", "instances", "list"]);
    from_file
        .env_remove("BOTFLEET_KEY")
        .env_remove("BOTFLEET_URL");
    let run = cli
        .output(from_file, &["instances", "list (config file)"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        serde_json::from_str::<InstanceList>(&run.stdout)
            .unwrap()
            .total,
        1
    );

    // Deliveries and a replay of the (no) dead letters.
    let deliveries: DeliveryList = cli
        .json(&["webhook", "deliveries", &id, "--status", "dead"])
        .await;
    assert!(deliveries.deliveries.is_empty());
    let replayed: ReplayResponse = cli.json(&["webhook", "replay", &id, "--all-dead"]).await;
    assert_eq!(replayed.queued, 0);

    // Resources, once the manager has its first sample (503 until then: exit 1).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let run = cli.run(&["--output", "json", "resources"]).await;
        if run.code == 0 {
            let overview: ResourcesOverview = serde_json::from_str(&run.stdout).unwrap();
            assert!(overview.server.host.memory_total_bytes > 0);
            break;
        }
        assert_eq!(run.code, 1, "{run:?}");
        assert!(tokio::time::Instant::now() < deadline, "no sample: {run:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let usage: InstanceResources = cli.json(&["resources", "--instances"]).await;
    assert!(usage.success);
    assert!(cli.ok(&["resources"]).await.stdout.contains("memory:"));

    // Delete: gone afterwards (404 from the manager: exit 1).
    cli.ok(&["instances", "delete", &id]).await;
    let gone = cli.fails(1, &["instances", "get", &id]).await;
    assert!(gone.stderr.contains("HTTP 404"), "{gone:?}");

    let transcript = cli.transcript.lock().unwrap().clone();
    assert!(
        !transcript.contains(&token),
        "the bot token appeared in the CLI's output"
    );
    let _ = std::fs::remove_dir_all(&home);
}
