//! Runs the real `manager` binary for a test: its own fleet name (container prefix and label), its own
//! port range, its own database (SQLite file, or a fresh PostgreSQL database when
//! `BOTFLEET_TEST_DATABASE_URL` names a server), and a fake Telegram that worker containers can reach.
//! Managers run the plain Docker runtime, or Docker Swarm with `BOTFLEET_TEST_RUNTIME=swarm` (the engine
//! must then be a swarm manager: `scripts/ensure-swarm`), so one test binary covers both. Dropping a
//! `Manager` kills it and removes everything of its fleet (containers, services, secrets, volumes).

use std::{
    io::{BufRead, BufReader},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::Duration,
};

use serde_json::Value;

use crate::fake_telegram::FakeTelegram;

/// Directory holding the workspace's binaries (`manager`, `worker`), next to the test executable's.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("binary directory");
    // Tests live in target/<triple>/<profile>/deps; binaries (benchmarks) one level up.
    if dir.ends_with("deps") {
        dir.parent().expect("binary directory").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// Name of the Docker network the tests' workers join (created on first use, shared by all tests).
pub const TEST_NETWORK: &str = "botfleet-test";

/// Makes sure the test network exists and returns its gateway IP, where containers reach the host.
pub fn test_network_gateway() -> IpAddr {
    let inspect = || {
        let out = Command::new("docker")
            .args([
                "network",
                "inspect",
                TEST_NETWORK,
                "-f",
                "{{(index .IPAM.Config 0).Gateway}}",
            ])
            .output()
            .expect("docker CLI");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<IpAddr>()
            .ok()
    };
    if let Some(ip) = inspect() {
        return ip;
    }
    // Docker accepts two networks of one name, so test processes take turns creating it.
    let dir = bin_dir().join("test-data");
    std::fs::create_dir_all(&dir).expect("test data dir");
    let lock = std::fs::File::create(dir.join("network.lock")).expect("network lock file");
    lock.lock().expect("lock the network lock file");
    if let Some(ip) = inspect() {
        return ip;
    }
    let _ = Command::new("docker")
        .args([
            "network",
            "create",
            "--label",
            "botfleet.test=true",
            TEST_NETWORK,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    inspect().unwrap_or_else(|| panic!("no gateway for network {TEST_NETWORK}"))
}

/// The networks the tests' fakes listen on, which the managers' outbound requests may reach: loopback
/// and the test network (whose gateway is the host).
pub fn test_outbound_allow() -> String {
    format!("127.0.0.0/8,::1/128,{}", test_network_subnet())
}

/// The test network's subnet (CIDR), created on first use.
pub fn test_network_subnet() -> String {
    test_network_gateway();
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            TEST_NETWORK,
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
        ])
        .output()
        .expect("docker CLI");
    let subnet = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!subnet.is_empty(), "no subnet for network {TEST_NETWORK}");
    subnet
}

/// A fake Telegram that worker containers on the test network can reach.
pub async fn start_fake_telegram() -> (FakeTelegram, String) {
    let (fake, addr) = FakeTelegram::start(SocketAddr::new(test_network_gateway(), 0))
        .await
        .expect("fake telegram");
    (fake, format!("http://{addr}"))
}

/// A random lowercase name, unique per test run.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A port range of `len` ports that no other test process of this run uses.
pub fn port_range(len: u16) -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each test process gets its own block of 150 ports; a process asks for few enough to stay inside.
    let block = port_block() * 150;
    let offset = NEXT.fetch_add(len, Ordering::SeqCst) % 150;
    let start = 20_000 + block + offset.min(150 - len.min(150));
    (start, start + len - 1)
}

/// Blocks of 150 ports from 20,000, below Linux's ephemeral ports (32,768 and up).
const PORT_BLOCKS: u32 = 84;

/// This process's block of ports, held with a file lock for the life of the process, so two test
/// processes running at once never share one (the OS drops the lock when a process ends, even killed).
fn port_block() -> u16 {
    static BLOCK: std::sync::OnceLock<(u16, std::fs::File)> = std::sync::OnceLock::new();
    BLOCK
        .get_or_init(|| {
            let dir = bin_dir().join("test-data");
            std::fs::create_dir_all(&dir).expect("test data dir");
            let first = std::process::id() % PORT_BLOCKS;
            for i in 0..PORT_BLOCKS {
                let block = (first + i) % PORT_BLOCKS;
                let file = std::fs::File::create(dir.join(format!("ports-{block}.lock")))
                    .expect("port block lock file");
                if file.try_lock().is_ok() {
                    return (block as u16, file);
                }
            }
            panic!("all {PORT_BLOCKS} port blocks are held by other test processes");
        })
        .0
}

/// The container runtime the tests' managers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Docker,
    Swarm,
}

impl Runtime {
    /// `BOTFLEET_TEST_RUNTIME` (`docker`, the default, or `swarm`).
    pub fn from_env() -> Self {
        match std::env::var("BOTFLEET_TEST_RUNTIME").as_deref() {
            Ok("swarm") => Self::Swarm,
            Ok("docker") | Ok("") | Err(_) => Self::Docker,
            Ok(other) => panic!("BOTFLEET_TEST_RUNTIME={other}: expected docker or swarm"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Swarm => "swarm",
        }
    }
}

/// The worker image the tests' managers use (`BOTFLEET_WORKER_IMAGE`, as the manager reads it).
pub fn worker_image() -> String {
    std::env::var("BOTFLEET_WORKER_IMAGE")
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| format!("botfleet-worker:{}", env!("CARGO_PKG_VERSION")))
}

/// Options of one manager process.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub fleet: String,
    pub database_url: String,
    pub ports: (u16, u16),
    pub telegram_api_url: String,
    pub health_interval_secs: f64,
    pub admin_key: String,
    /// Always passed explicitly (`--runtime`), so an engine in a swarm never changes a Docker test.
    pub runtime: Runtime,
    /// Extra `BOTFLEET_*` variables.
    pub env: Vec<(String, String)>,
}

impl ManagerOptions {
    /// The request rate limits (per key and per user) out of the way: for the benches, whose load
    /// from one key would otherwise be 429s.
    pub fn without_rate_limits(mut self) -> Self {
        self.env.extend([
            ("BOTFLEET_RATE_LIMIT_PER_KEY".into(), "10000000".into()),
            ("BOTFLEET_RATE_LIMIT_KEY_BURST".into(), "10000000".into()),
            ("BOTFLEET_RATE_LIMIT_PER_USER".into(), "10000000".into()),
            ("BOTFLEET_RATE_LIMIT_USER_BURST".into(), "10000000".into()),
        ]);
        self
    }

    /// Fresh fleet name, database and ports.
    pub async fn new(telegram_api_url: &str) -> Self {
        let fleet = unique_name("bft");
        // Its own master key, created by the manager at first start.
        let master_key_file = test_data_dir().join(format!("{fleet}.master.key"));
        Self {
            database_url: fresh_database(&fleet).await,
            fleet,
            ports: port_range(20),
            telegram_api_url: telegram_api_url.to_string(),
            health_interval_secs: 0.5,
            admin_key: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            runtime: Runtime::from_env(),
            env: vec![
                ("BOTFLEET_RESTART_BACKOFF_MS".into(), "200".into()),
                (
                    "BOTFLEET_MASTER_KEY_FILE".into(),
                    master_key_file.display().to_string(),
                ),
                // The fakes listen on loopback and on the test network: outbound requests may reach
                // them (`tests/outbound.rs` takes this away).
                ("BOTFLEET_OUTBOUND_ALLOW".into(), test_outbound_allow()),
            ],
        }
    }

    /// The manager's master key file (`BOTFLEET_MASTER_KEY_FILE` in `env`).
    pub fn master_key_file(&self) -> PathBuf {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "BOTFLEET_MASTER_KEY_FILE")
            .map(|(_, v)| PathBuf::from(v))
            .expect("ManagerOptions::new names a master key file")
    }

    /// Opens a value read from the manager's database (sealed with its master key) at `place`.
    pub fn open_sealed(&self, place: manager::seal::Place<'_>, stored: &str) -> String {
        let keyring = manager::seal::keyring::read_file(&self.master_key_file())
            .expect("the master key file reads")
            .expect("the manager created its master key file");
        manager::seal::Sealer::new(&keyring)
            .open(place, stored)
            .expect("the stored value opens with the manager's master key")
    }
}

/// Where tests keep SQLite databases and key files.
fn test_data_dir() -> PathBuf {
    let dir = bin_dir().join("test-data");
    std::fs::create_dir_all(&dir).expect("test data dir");
    dir
}

/// A new empty database: a SQLite file under the target dir, or a new PostgreSQL database on the
/// server named by `BOTFLEET_TEST_DATABASE_URL`.
pub async fn fresh_database(name: &str) -> String {
    match std::env::var("BOTFLEET_TEST_DATABASE_URL") {
        Ok(server) if server.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&server)
                .await
                .expect("connect to the PostgreSQL test server");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/{name}.db", test_data_dir().display()),
    }
}

/// A running manager process.
pub struct Manager {
    child: Child,
    pub base_url: String,
    pub options: ManagerOptions,
    pub client: reqwest::Client,
    /// Everything the process wrote to stdout and stderr (also echoed to the test's stderr).
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Copies a child's output line by line into `log` and to our stderr; `on_line` sees each line.
fn capture(
    stream: impl std::io::Read + Send + 'static,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("{line}");
            on_line(&line);
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
}

impl Manager {
    pub fn spawn(options: ManagerOptions) -> Self {
        Self::spawn_binary(binary("manager"), options)
    }

    /// Runs the manager binary at `manager` (another build's, for a before/after benchmark).
    pub fn spawn_binary(manager: PathBuf, options: ManagerOptions) -> Self {
        let mut child = Command::new(manager)
            .arg("serve")
            .env("BOTFLEET_LISTEN", "127.0.0.1:0")
            .env("BOTFLEET_DATABASE_URL", &options.database_url)
            .env("BOTFLEET_ADMIN_KEY", &options.admin_key)
            .env("BOTFLEET_PORT_MIN", options.ports.0.to_string())
            .env("BOTFLEET_PORT_MAX", options.ports.1.to_string())
            .env("BOTFLEET_FLEET", &options.fleet)
            .env("BOTFLEET_RUNTIME", options.runtime.as_str())
            // Services cannot join a node-local network: Swarm workers use their node's default bridge
            // and reach the fake Telegram on the test network's gateway, a host address.
            .env(
                "BOTFLEET_NETWORK",
                match options.runtime {
                    Runtime::Docker => TEST_NETWORK,
                    Runtime::Swarm => "bridge",
                },
            )
            .env("BOTFLEET_TELEGRAM_API_URL", &options.telegram_api_url)
            .env(
                "BOTFLEET_HEALTH_INTERVAL_SECS",
                options.health_interval_secs.to_string(),
            )
            .env("BOTFLEET_WORKER_BINARY", binary("worker"))
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn manager");
        let log = std::sync::Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        capture(
            child.stdout.take().expect("manager stdout"),
            std::sync::Arc::clone(&log),
            move |line| {
                if let Some(url) = line.strip_prefix("botfleet manager listening on ") {
                    let _ = tx.send(url.to_string());
                }
            },
        );
        capture(
            child.stderr.take().expect("manager stderr"),
            std::sync::Arc::clone(&log),
            |_| {},
        );
        let base_url = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the manager did not start within 180 s (see its log above)");
            }
        };
        Self {
            child,
            base_url,
            options,
            client: reqwest::Client::new(),
            log,
        }
    }

    /// What the manager has logged so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The typed client of this manager (`botfleet-client`), with the admin key.
    pub fn api(&self) -> client::Client {
        client::Client::new(&self.base_url, self.options.admin_key.clone())
            .expect("the manager's URL is a base URL")
    }

    /// An admin-authenticated request.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.options.admin_key)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// `POST /api/v1/instances/{id}/<verb>` (start, stop, restart, process); asserts 200.
    pub async fn verb(&self, id: &str, verb: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/instances/{id}/{verb}"),
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{verb}: {body}");
        body
    }

    /// Creates an instance with `?wait=true` (answer once the worker is healthy or failed), asserts 201
    /// and returns the body.
    /// Creates `n` bots (ids from `first_bot_id`) one after the other, each with `?wait=true`; returns
    /// their instance ids. For the benches, which report a failed create instead of panicking.
    pub async fn create_bots(
        &self,
        fake: &FakeTelegram,
        n: u64,
        first_bot_id: u64,
        name: &str,
    ) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let token = fake.add_bot(first_bot_id + i, &format!("{name}{i}_bot"));
            let (code, body) = self
                .post(
                    "/api/v1/instances?wait=true&timeout=30",
                    &create_body("bench", &token),
                )
                .await;
            if code != 201 {
                return Err(format!("create failed: {code} {body}"));
            }
            ids.push(body["instance_id"].as_str().unwrap_or_default().to_string());
        }
        Ok(ids)
    }

    /// The manager's `/metrics` by series (name with its labels) and value.
    pub async fn metrics(&self) -> std::collections::HashMap<String, f64> {
        self.get_text("/metrics")
            .await
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect()
    }

    /// `GET path` as text: asserts 200 and a `text/plain` body.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
        response.text().await.expect("body")
    }

    pub async fn create_settled(&self, user: &str, token: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/instances?wait=true&timeout=30",
                &create_body(user, token),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Polls `GET /api/v1/instances/{id}` until `pred` holds or `timeout` passes; returns the instance.
    pub async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (_, body) = self.get(&format!("/api/v1/instances/{id}")).await;
            if pred(&body["instance"]) {
                return body["instance"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on instance {id}; last seen: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Names of this fleet's workers, running or not: containers (Docker) or services (Swarm), each
    /// named `<fleet>-<instance id>`.
    pub fn containers(&self) -> Vec<String> {
        match self.options.runtime {
            Runtime::Docker => fleet_containers(&self.options.fleet),
            Runtime::Swarm => fleet_services(&self.options.fleet),
        }
    }

    /// The name of instance `id`'s worker: its container (Docker) or service (Swarm).
    pub fn worker_name(&self, id: &str) -> String {
        format!("{}-{id}", self.options.fleet)
    }

    /// The container that runs instance `id`'s worker now: the worker container (Docker) or the
    /// running container of the service's task (Swarm, on this node).
    pub fn worker_container(&self, id: &str) -> Option<String> {
        let name = self.worker_name(id);
        match self.options.runtime {
            Runtime::Docker => Some(name),
            Runtime::Swarm => docker_lines(&[
                "ps",
                "--filter",
                &format!("label=com.docker.swarm.service.name={name}"),
                "--filter",
                "status=running",
                "--format",
                "{{.Names}}",
            ])
            .into_iter()
            .next(),
        }
    }

    /// Kills instance `id`'s running worker with SIGKILL, as a crash would.
    pub fn kill_worker(&self, id: &str) {
        let container = self
            .worker_container(id)
            .unwrap_or_else(|| panic!("no running worker for instance {id}"));
        docker(&["kill", &container]);
    }

    /// When instance `id`'s current worker container started (`State.StartedAt`).
    pub fn worker_started_at(&self, id: &str) -> String {
        self.worker_container(id)
            .map(|c| started_at(&c))
            .unwrap_or_default()
    }

    /// Removes instance `id`'s worker behind the manager's back: `docker rm -f` of the container, or
    /// `docker service rm` of the service.
    pub fn remove_worker_behind_its_back(&self, id: &str) {
        let name = self.worker_name(id);
        match self.options.runtime {
            Runtime::Docker => docker(&["rm", "-f", &name]),
            Runtime::Swarm => docker(&["service", "rm", &name]),
        }
    }

    /// Creates a worker of this fleet that no instance owns (as a crash between removal and row
    /// deletion would leave behind), labelled like the manager's own; returns its name. On Swarm it is
    /// a service with no replica.
    pub fn create_orphan_worker(&self) -> String {
        let fleet = &self.options.fleet;
        let orphan = format!("{fleet}-ghost");
        let labels = [
            format!("botfleet.fleet={fleet}"),
            "botfleet.managed=true".to_string(),
            "botfleet.instance_id=00000000-0000-0000-0000-000000000000".to_string(),
        ];
        let mut args: Vec<String> = match self.options.runtime {
            Runtime::Docker => vec!["create".into()],
            Runtime::Swarm => ["service", "create", "-d", "--replicas", "0"]
                .map(String::from)
                .to_vec(),
        };
        args.extend(["--name".to_string(), orphan.clone()]);
        for label in labels {
            args.extend(["--label".to_string(), label]);
        }
        args.push(worker_image());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&args);
        orphan
    }

    /// Polls `path` (every 200 ms, for up to 60 s) until it answers 200 and `pred` holds; returns the
    /// body.
    pub async fn wait_get(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && pred(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out on {path}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the fleet has `n` containers (a create answers before the reconciler made its
    /// worker); returns how many there are then.
    pub async fn wait_for_containers(&self, n: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let count = self.containers().len();
            if count >= n || std::time::Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The manager's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_fleet_on(&self.options.fleet, self.options.runtime);
        // A create the manager sent just before it died may still be finishing inside Docker.
        std::thread::sleep(Duration::from_millis(300));
        remove_fleet_on(&self.options.fleet, self.options.runtime);
    }
}

/// Runs a docker CLI command and returns its non-empty output lines (none when it fails).
pub fn docker_lines(args: &[&str]) -> Vec<String> {
    let Ok(out) = Command::new("docker")
        .args(args)
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Memory in MiB of each named container as `docker stats` shows it (cgroup usage, page cache
/// excluded), in their order; none when the CLI fails.
pub fn containers_memory_mib(names: &[String]) -> Vec<f64> {
    if names.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["stats", "--no-stream", "--format", "{{.MemUsage}}"];
    args.extend(names.iter().map(String::as_str));
    docker_lines(&args)
        .iter()
        .filter_map(|l| l.split('/').next())
        .filter_map(|used| {
            let used = used.trim();
            let (num, factor) = if let Some(v) = used.strip_suffix("MiB") {
                (v, 1.0)
            } else if let Some(v) = used.strip_suffix("KiB") {
                (v, 1.0 / 1024.0)
            } else {
                (used.strip_suffix("GiB")?, 1024.0)
            };
            num.trim().parse::<f64>().ok().map(|n| n * factor)
        })
        .collect()
}

/// Names of the fleet's Swarm services (none when the engine is not in a swarm).
pub fn fleet_services(fleet: &str) -> Vec<String> {
    docker_lines(&[
        "service",
        "ls",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.Name}}",
    ])
}

/// Ids of the fleet's Swarm secrets.
pub fn fleet_secrets(fleet: &str) -> Vec<String> {
    docker_lines(&[
        "secret",
        "ls",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.ID}}",
    ])
}

/// `State.StartedAt` of a container, as Docker reports it.
pub fn started_at(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.StartedAt}}", container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs a docker CLI command and asserts it succeeded.
pub fn docker(args: &[&str]) {
    let status = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("docker CLI");
    assert!(status.success(), "docker {args:?} failed");
}

/// Sends a request and returns the status and the JSON body (`Null` when the body is not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub fn fleet_containers(fleet: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=botfleet.fleet={fleet}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Removes everything of the fleet, for managers of the runtime `BOTFLEET_TEST_RUNTIME` names.
pub fn remove_fleet(fleet: &str) {
    remove_fleet_on(fleet, Runtime::from_env());
}

/// Removes everything of the fleet: on Swarm its services and secrets first, then (once Swarm has
/// removed their containers) containers and volumes.
pub fn remove_fleet_on(fleet: &str, runtime: Runtime) {
    if runtime == Runtime::Swarm {
        let services = fleet_services(fleet);
        if !services.is_empty() {
            let _ = Command::new("docker")
                .args(["service", "rm"])
                .args(&services)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let secrets = fleet_secrets(fleet);
        if !secrets.is_empty() {
            let _ = Command::new("docker")
                .args(["secret", "rm"])
                .args(&secrets)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Swarm removes the services' containers on its own time; the volumes go once they are gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !fleet_containers(fleet).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let names = fleet_containers(fleet);
    if !names.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&names)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let volumes = fleet_volumes(fleet);
    if !volumes.is_empty() {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f"])
            .args(&volumes)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    // The networks a manager on `--network auto` made (its containers are gone by now).
    let networks = fleet_networks(fleet);
    if !networks.is_empty() {
        let _ = Command::new("docker")
            .args(["network", "rm"])
            .args(&networks)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Names of the networks the fleet's manager made for its workers.
pub fn fleet_networks(fleet: &str) -> Vec<String> {
    docker_lines(&[
        "network",
        "ls",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.Name}}",
    ])
}

/// Volumes of the fleet (instance data), by name.
pub fn fleet_volumes(fleet: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter"])
        .arg(format!("label=botfleet.fleet={fleet}"))
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// What a create answer says about the new instance.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub api_key: String,
    pub port: u16,
    /// The worker's API base, `http://127.0.0.1:<port>/api/v1`.
    pub worker_url: String,
}

impl Created {
    pub fn from_body(body: &Value) -> Self {
        let details = &body["process_result"]["details"];
        let port = details["ports"]["api"].as_u64().expect("ports.api") as u16;
        Self {
            id: body["instance_id"]
                .as_str()
                .expect("instance_id")
                .to_string(),
            api_key: details["api_key"].as_str().expect("api_key").to_string(),
            port,
            worker_url: format!("http://127.0.0.1:{port}/api/v1"),
        }
    }
}

/// A create body for the bot with `token`.
pub fn create_body(user_id: &str, token: &str) -> Value {
    serde_json::json!({
        "user_id": user_id,
        "provider": "telegram",
        "type_instance": ["api"],
        "token": token,
        "agno_config": {"model": "gpt-4.1", "stream": false, "enabled": true, "agent_id": "a1"},
    })
}

/// The manager's control key for instance `id`, read from its database and opened with its master key:
/// the only key the worker's control routes (`/api/v1/events`, `/api/v1/events/ack`,
/// `/api/v1/control/*`) take, for tests that stand in for the manager.
pub async fn control_key(options: &ManagerOptions, id: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&options.database_url)
        .await
        .expect("connect to the manager's database");
    let row = sqlx::query("SELECT control_key FROM instances WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&mut conn)
        .await
        .expect("the instance's row");
    let stored: String = sqlx::Row::try_get(&row, "control_key").expect("control_key column");
    options.open_sealed(
        manager::store::sealing::INSTANCE_CONTROL_KEY.place(id),
        &stored,
    )
}

/// The container's memory use as `docker stats` reports it (cgroup memory without the page cache), in
/// MiB; 0 when it cannot be read.
pub fn container_memory_mib(container: &str) -> f64 {
    let out = Command::new("docker")
        .args([
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}}",
            container,
        ])
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let used = text.split('/').next().unwrap_or("").trim().to_string();
    let split = used
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(used.len());
    let (num, unit) = used.split_at(split);
    let n: f64 = num.trim().parse().unwrap_or(0.0);
    match unit {
        "KiB" => n / 1024.0,
        "GiB" => n * 1024.0,
        "B" => n / 1_048_576.0,
        _ => n,
    }
}
