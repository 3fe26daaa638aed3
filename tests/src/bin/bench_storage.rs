//! `scripts/bench-storage`: storage that stays bounded (issue #16), measured at 1,000,000 stored
//! messages, on SQLite and on PostgreSQL, with the release manager:
//! 1. the manager starts on a fresh database and a few real bots are created through the API (against the
//!    fake Telegram), so instances, workers and their rows exist the normal way; bot 0 gets a webhook;
//! 2. the manager is stopped (SIGTERM) and the database is filled as the manager would have filled it
//!    over the last 120 days: messages in and out of 2,000 private chats spread over the bots (questions
//!    and the agent's replies with their outcome, latency and tokens, in sessions; conversations cut by
//!    the default 24 h of silence, as `store::conversations::join` cuts them), the chats', conversations' and
//!    daily counts' rows that count them, the analytics rollup (`manager::store::analytics`), the
//!    event log (`bot.status`, `bot.error`) and bot 0's webhook deliveries (one per message). SQLite
//!    gets multi-row `INSERT`s in large transactions, PostgreSQL `COPY` then `VACUUM ANALYZE` (as
//!    autovacuum would have left a long-lived database);
//! 3. the manager starts again on it (retention off) and the database size and the read latency of the
//!    API over the admin key are measured: `wrk`, 16 connections, `--wrk-secs` each, requests
//!    allowed a minute (p50, p99, requests/s), and the first (cold) request alone;
//! 4. the manager restarts with the default retention (messages 90 days, events 30, deliveries 14) and
//!    `--retention-interval-secs`, so its first sweep starts that many seconds after the start: the rows
//!    it removed (`botfleet_retention_deleted_rows_total{table}` and its log lines), how long it took
//!    (from its start to the line of the last table with rows to forget), the database size after, and
//!    the same reads again.

use std::{
    collections::HashMap,
    str::FromStr,
    time::{Duration, Instant},
};

use botfleet_tests::{
    fake_telegram::FakeTelegram,
    harness::{self, Manager, ManagerOptions},
};
use clap::{Parser, ValueEnum};
use shared::{
    Provider,
    api::{
        conversations::ConversationList,
        instances::{CreateInstanceQuery, CreateInstanceRequest, Interface},
    },
    events::EventType,
    webhook::{WebhookConfigRequest, WebhookEnvelope},
    worker_api::Outcome,
};
use sqlx::{
    ConnectOptions, Connection,
    postgres::PgConnection,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous},
};

#[derive(Parser)]
#[command(
    about = "Storage benchmark for botfleet: database size, read latency and a retention sweep at 1,000,000 stored messages"
)]
struct Args {
    /// Messages to store (in and out).
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Bots created through the API; the messages are spread over them.
    #[arg(long, default_value_t = 5)]
    bots: usize,
    /// Private chats (one user each), spread over the bots.
    #[arg(long, default_value_t = 2_000)]
    chats: usize,
    /// Days the messages span, up to now.
    #[arg(long, default_value_t = 120)]
    days: i64,
    /// Event-log rows (`bot.status`, `bot.error`) per 100 messages.
    #[arg(long, default_value_t = 5)]
    events_per_100: usize,
    /// Which databases.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    database: Which,
    /// The PostgreSQL server (a database is created on it for the run and dropped after):
    /// `postgres://postgres@127.0.0.1:19432/postgres` (scripts/start-test-postgres prints it).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 10)]
    wrk_secs: u32,
    /// Connections of each wrk run.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// `--retention-interval-secs` of the manager that sweeps (its first sweep starts this long after
    /// the start).
    #[arg(long, default_value_t = 5)]
    retention_interval_secs: u64,
    /// Keep the databases (SQLite file, PostgreSQL database) after the run.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Sqlite,
    Postgres,
    Both,
}

const DAY_MS: i64 = 86_400_000;
/// `shared::agent::DEFAULT_CONVERSATION_TTL_HOURS`: a silence this long starts a new conversation.
const TTL_MS: i64 = shared::agent::DEFAULT_CONVERSATION_TTL_HOURS as i64 * 3_600_000;
/// The default retention of each kind (`manager::retention::RetentionArgs`).
const RETAIN_MESSAGES_DAYS: i64 = 90;
const RETAIN_EVENTS_DAYS: i64 = 30;
const RETAIN_DELIVERIES_DAYS: i64 = 14;
const RETAIN_VARS: [&str; 4] = [
    "BOTFLEET_RETAIN_EVENTS_DAYS",
    "BOTFLEET_RETAIN_MESSAGES_DAYS",
    "BOTFLEET_RETAIN_DELIVERIES_DAYS",
    "BOTFLEET_RETAIN_HISTORY_DAYS",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        std::env::var("BOTFLEET_TEST_DATABASE_URL").is_err(),
        "unset BOTFLEET_TEST_DATABASE_URL: this bench takes the PostgreSQL server as --postgres-url"
    );
    anyhow::ensure!(
        args.bots >= 1 && args.chats >= args.bots && args.messages >= 2 * args.chats,
        "need at least one bot, a chat per bot and two messages per chat"
    );
    let started = Instant::now();
    let (telegram, telegram_url) = harness::start_fake_telegram().await;
    let mut reports = Vec::new();
    let mut which = Vec::new();
    if args.database != Which::Postgres {
        which.push(None);
    }
    if args.database != Which::Sqlite {
        let url = args
            .postgres_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--postgres-url is needed for PostgreSQL"))?;
        which.push(Some(url));
    }
    for (n, server) in which.into_iter().enumerate() {
        let report = run(&args, &telegram, &telegram_url, server, n as u64).await?;
        // Each table as soon as it is known; all of them again at the end.
        report.print();
        reports.push(report);
    }
    println!();
    println!(
        "== botfleet bench-storage: every figure (run took {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    for report in &reports {
        report.print();
    }
    Ok(())
}

/// Figures of one database.
struct Report {
    database: &'static str,
    fill: Fill,
    fill_secs: f64,
    vacuum_secs: Option<f64>,
    size_before: Size,
    reads_before: Vec<Read>,
    expected: Vec<(&'static str, i64)>,
    removed: Vec<(&'static str, f64)>,
    /// Each table's log line, seconds after the sweep started.
    logged: Vec<(&'static str, f64)>,
    sweep_secs: f64,
    messages_left: i64,
    size_after: Size,
    reads_after: Vec<Read>,
    wrk: (u32, u32),
}

/// The database's size, in bytes.
#[derive(Default)]
struct Size {
    total: u64,
    /// SQLite: the main file, the WAL, and the free pages inside the file.
    file: u64,
    wal: u64,
    free: u64,
    /// PostgreSQL: `messages` with its indexes and TOAST.
    messages: u64,
}

/// One endpoint's latency: the first request alone, then wrk.
struct Read {
    name: String,
    first_ms: f64,
    p50: f64,
    p99: f64,
    rps: f64,
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl Report {
    fn print(&self) {
        let f = &self.fill;
        println!();
        println!(
            "botfleet bench-storage: {}, {} messages of {} bots in {} chats over {} days, release build",
            self.database,
            thousands(f.messages as i64),
            f.bots,
            thousands(f.chats as i64),
            f.days
        );
        let line = |name: &str, value: String| println!("{name:<62} {value:>24}");
        line(
            "rows: conversations / events / webhook deliveries",
            format!(
                "{} / {} / {}",
                thousands(f.conversations as i64),
                thousands(f.events as i64),
                thousands(f.deliveries as i64)
            ),
        );
        line(
            "fill took (s)",
            match self.vacuum_secs {
                Some(v) => format!("{:.1} (+ {v:.1} VACUUM ANALYZE)", self.fill_secs),
                None => format!("{:.1}", self.fill_secs),
            },
        );
        self.size_lines("database size (MB)", &self.size_before, &line);
        line(
            "  bytes per stored message (whole database)",
            format!(
                "{:.0}",
                self.size_before.total as f64 / f.messages.max(1) as f64
            ),
        );
        println!(
            "-- reads over the admin key at {} messages: first request alone, then wrk ({} connections, {} s): p50 / p99 ms, requests/s",
            thousands(f.messages as i64),
            self.wrk.0,
            self.wrk.1
        );
        self.read_lines(&self.reads_before, &line);
        println!(
            "-- one retention sweep with the defaults (messages {RETAIN_MESSAGES_DAYS} days, events {RETAIN_EVENTS_DAYS}, deliveries {RETAIN_DELIVERIES_DAYS})"
        );
        for (table, expected) in &self.expected {
            let removed = self
                .removed
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, n)| *n)
                .unwrap_or(0.0);
            let at = self
                .logged
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, s)| format!(", logged at {s:.1} s"))
                .unwrap_or_default();
            line(
                &format!("rows removed from {table} (metric; older rows before){at}"),
                format!("{} ({})", thousands(removed as i64), thousands(*expected)),
            );
        }
        line(
            "sweep took (s): its start to the last table's log line",
            format!("{:.1}", self.sweep_secs),
        );
        line("messages left", thousands(self.messages_left));
        self.size_lines("database size after (MB)", &self.size_after, &line);
        println!(
            "-- the same reads after the sweep, at {} messages",
            thousands(self.messages_left)
        );
        self.read_lines(&self.reads_after, &line);
    }

    fn size_lines(&self, name: &str, size: &Size, line: &impl Fn(&str, String)) {
        if self.database == "SQLite" {
            line(
                &format!("{name}: file + WAL"),
                format!("{} + {} = {}", mb(size.file), mb(size.wal), mb(size.total)),
            );
            line("  free pages inside the file (MB)", mb(size.free));
        } else {
            line(&format!("{name}: pg_database_size"), mb(size.total));
            line("  messages with its indexes (MB)", mb(size.messages));
        }
    }

    fn read_lines(&self, reads: &[Read], line: &impl Fn(&str, String)) {
        for r in reads {
            line(
                &r.name,
                format!(
                    "{:.1} | {:.2} / {:.2} | {}",
                    r.first_ms,
                    r.p50,
                    r.p99,
                    if r.rps < 10.0 {
                        format!("{:.1}", r.rps)
                    } else {
                        format!("{:.0}", r.rps)
                    }
                ),
            );
        }
    }
}

/// One database from scratch to after its sweep.
async fn run(
    args: &Args,
    telegram: &FakeTelegram,
    telegram_url: &str,
    server: Option<String>,
    round: u64,
) -> anyhow::Result<Report> {
    let database = if server.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut options = ManagerOptions::new(telegram_url)
        .await
        .without_rate_limits();
    options.health_interval_secs = 5.0;
    if let Some(server) = &server {
        options.database_url = create_pg_database(server, &options.fleet).await?;
    }
    let url = options.database_url.clone();
    // Retention off while the bots are made and the reads are measured.
    let mut quiet = options.clone();
    quiet
        .env
        .extend(RETAIN_VARS.map(|k| (k.to_string(), "0".to_string())));
    // Every manager of the run, kept until the end: dropping one removes the fleet's containers.
    let mut managers = Vec::new();

    eprintln!(
        "== {database}: manager on a fresh database, {} bots",
        args.bots
    );
    let mut m = Manager::spawn(quiet.clone());
    let api = m.api();
    let first_bot = 7_400_000 + round * 1_000;
    let mut bots = Vec::new();
    for i in 0..args.bots {
        let telegram_id = first_bot + i as u64;
        let token = telegram.add_bot(telegram_id, &format!("storage{round}n{i}_bot"));
        let request = CreateInstanceRequest {
            user_id: Some("bench".into()),
            provider: Provider::Telegram,
            type_instance: vec![Interface::Api],
            token: Some(token),
            credentials: None,
            receive: None,
            agno_config: None,
            placement: Vec::new(),
            labels: Default::default(),
        };
        let query = CreateInstanceQuery {
            wait: true,
            timeout: Some(60),
        };
        let created = api.create_instance(&request, &query).await?;
        bots.push(Bot {
            id: created.instance_id,
            telegram_id: telegram_id.to_string(),
            name: format!("Storage bench {i}"),
        });
    }
    // Bot 0 delivers its messages to a webhook (nothing listens: no event reaches it in this run).
    let hook = WebhookConfigRequest {
        url: "http://127.0.0.1:9/storage-bench".into(),
        events: vec![EventType::MessageIn, EventType::MessageOut],
        secret: None,
        enabled: true,
    };
    api.put_webhook(&bots[0].id, &hook).await?;
    m.stop();
    managers.push(m);

    eprintln!(
        "== {database}: filling {} messages (manager stopped)",
        args.messages
    );
    let fill_started = Instant::now();
    let plan = Plan::new(args, &bots, now_ms());
    let fill = plan.write(&url).await?;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let vacuum_secs = if server.is_some() {
        let t = Instant::now();
        let mut conn = PgConnection::connect(&url).await?;
        // One statement each: VACUUM runs outside any transaction.
        for table in [
            "messages",
            "analytics_days",
            "analytics_users",
            "conversations",
            "chats",
            "events",
            "webhook_deliveries",
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Some(t.elapsed().as_secs_f64())
    } else {
        None
    };
    eprintln!(
        "== {database}: filled in {fill_secs:.1} s: {} messages, {} conversations",
        fill.messages, fill.conversations
    );

    eprintln!("== {database}: reads");
    let mut m = Manager::spawn(quiet.clone());
    let size_before = size(&url).await?;
    let targets = plan.targets(&m, &bots).await?;
    let reads_before = reads(&m, &targets, args).await?;
    m.stop();
    managers.push(m);

    eprintln!(
        "== {database}: retention sweep (first one {} s after the start)",
        args.retention_interval_secs
    );
    let now = now_ms();
    let expected = vec![
        (
            "events",
            count(
                &url,
                &format!("SELECT COUNT(*) FROM events WHERE at < {}", now - RETAIN_EVENTS_DAYS * DAY_MS),
            )
            .await?,
        ),
        (
            "messages",
            count(
                &url,
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE at < {}",
                    now - RETAIN_MESSAGES_DAYS * DAY_MS
                ),
            )
            .await?,
        ),
        (
            "webhook_deliveries",
            count(
                &url,
                &format!(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE finished_at < {} AND status <> 'pending'",
                    now - RETAIN_DELIVERIES_DAYS * DAY_MS
                ),
            )
            .await?,
        ),
    ];
    let mut sweeping = options.clone();
    sweeping.env.push((
        "BOTFLEET_RETENTION_INTERVAL_SECS".into(),
        args.retention_interval_secs.to_string(),
    ));
    let mut m = Manager::spawn(sweeping);
    // The retention task is spawned just after the line the harness waits for.
    let sweep_start = Instant::now() + Duration::from_secs(args.retention_interval_secs);
    let waiting: Vec<&str> = expected
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| *t)
        .collect();
    let mut logged: Vec<(&'static str, f64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3600);
    while logged.len() < waiting.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the sweep did not log every table within an hour"
        );
        let log = m.log();
        for line in log
            .lines()
            .filter(|l| l.contains("forgot rows past their retention"))
        {
            for table in &waiting {
                if line.contains(&format!("\"{table}\"")) && !logged.iter().any(|(t, _)| t == table)
                {
                    let at = Instant::now().saturating_duration_since(sweep_start);
                    logged.push((*table, at.as_secs_f64()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sweep_secs = logged.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    let metrics = m.metrics().await;
    let removed = expected
        .iter()
        .map(|(table, _)| {
            let key = format!("botfleet_retention_deleted_rows_total{{table=\"{table}\"}}");
            (*table, metrics.get(&key).copied().unwrap_or(0.0))
        })
        .collect();
    let messages_left = count(&url, "SELECT COUNT(*) FROM messages").await?;
    let size_after = size(&url).await?;
    let reads_after = reads(&m, &targets, args).await?;
    m.stop();
    managers.push(m);
    // Containers and networks of the fleet go with the managers.
    drop(managers);
    if !args.keep {
        drop_database(&url, server.as_deref(), &options.fleet).await?;
    }
    Ok(Report {
        database,
        fill,
        fill_secs,
        vacuum_secs,
        size_before,
        reads_before,
        expected,
        removed,
        logged,
        sweep_secs,
        messages_left,
        size_after,
        reads_after,
        wrk: (args.connections, args.wrk_secs),
    })
}

/// `YYYY-MM-DD` of the UTC day of `ms` (as `manager::store::history::utc_day` writes it).
fn utc_day(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new database on the PostgreSQL server; its URL.
async fn create_pg_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(server).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
    Ok(format!("{base}/{name}"))
}

/// Removes the run's database: the SQLite files, or the PostgreSQL database.
async fn drop_database(url: &str, server: Option<&str>, name: &str) -> anyhow::Result<()> {
    match server {
        Some(server) => {
            let mut conn = PgConnection::connect(server).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await?;
        }
        None => {
            let path = sqlite_path(url);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
    Ok(())
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// `SELECT COUNT(*) …` on either database.
async fn count(url: &str, sql: &str) -> anyhow::Result<i64> {
    let sql = sqlx::AssertSqlSafe(sql.replace("COUNT(*)", "CAST(COUNT(*) AS BIGINT)"));
    Ok(match open(url).await? {
        Db::Sqlite(mut c) => sqlx::query_scalar(sql).fetch_one(&mut c).await?,
        Db::Pg(mut c) => sqlx::query_scalar(sql).fetch_one(&mut c).await?,
    })
}

/// The database's size now (the manager may be running).
async fn size(url: &str) -> anyhow::Result<Size> {
    match open(url).await? {
        Db::Sqlite(mut c) => {
            let path = sqlite_path(url);
            let len = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let (file, wal) = (len(path.clone()), len(format!("{path}-wal")));
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&mut c)
                .await?;
            let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            Ok(Size {
                total: file + wal,
                file,
                wal,
                free: (free * page) as u64,
                messages: 0,
            })
        }
        Db::Pg(mut c) => {
            let total: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut c)
                .await?;
            let messages: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('messages')")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            Ok(Size {
                total: total as u64,
                messages: messages as u64,
                ..Default::default()
            })
        }
    }
}

/// The endpoints measured, by name and path.
struct Targets(Vec<(String, String)>);

/// Each endpoint: one request alone, then wrk.
async fn reads(m: &Manager, targets: &Targets, args: &Args) -> anyhow::Result<Vec<Read>> {
    let key = &m.options.admin_key;
    let mut out = Vec::new();
    for (name, path) in &targets.0 {
        let url = m.url(path);
        let first = Instant::now();
        let response = m.request(reqwest::Method::GET, path).send().await?;
        let status = response.status();
        response.bytes().await?;
        let first_ms = first.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(status == 200, "{path} answered {status}");
        eprintln!("   {name}");
        let (mut p50, mut p99, mut rps) =
            botfleet_tests::wrk::wrk_patient(&url, key, args.connections, args.wrk_secs)?;
        let mut name = name.clone();
        // wrk drops the requests still unanswered when its time is up: an endpoint so slow that (almost)
        // none of its requests ended within the run gets a fixed number instead, at the same concurrency.
        if rps * f64::from(args.wrk_secs) < f64::from(2 * args.connections) {
            (p50, p99, rps) = fixed_requests(
                m,
                path,
                2 * args.connections as usize,
                args.connections as usize,
            )
            .await?;
            name.push_str(&format!(
                " [{} requests, {} at once]",
                2 * args.connections,
                args.connections
            ));
        }
        out.push(Read {
            name,
            first_ms,
            p50,
            p99,
            rps,
        });
    }
    Ok(out)
}

/// (p50 ms, p99 ms, requests/s) of `total` GETs of `path`, `concurrency` at a time.
async fn fixed_requests(
    m: &Manager,
    path: &str,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    use futures::StreamExt;
    let started = Instant::now();
    let results: Vec<anyhow::Result<f64>> = futures::stream::iter(0..total)
        .map(|_| async {
            let t = Instant::now();
            let response = m.request(reqwest::Method::GET, path).send().await?;
            anyhow::ensure!(
                response.status() == 200,
                "{path} answered {}",
                response.status()
            );
            response.bytes().await?;
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let took = started.elapsed().as_secs_f64();
    let mut ms = results.into_iter().collect::<anyhow::Result<Vec<f64>>>()?;
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Ok((pct(0.5), pct(0.99), total as f64 / took))
}

/// A bot made through the API.
struct Bot {
    id: String,
    telegram_id: String,
    name: String,
}

/// A tiny deterministic generator (SplitMix64): the same fill for the same flags, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uuid(&mut self) -> String {
        let bytes = (((self.next() as u128) << 64) | self.next() as u128).to_le_bytes();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

const WORDS: &[&str] = &[
    "the",
    "order",
    "delivery",
    "when",
    "can",
    "I",
    "my",
    "account",
    "please",
    "thanks",
    "refund",
    "price",
    "how",
    "does",
    "it",
    "work",
    "is",
    "there",
    "a",
    "way",
    "to",
    "change",
    "address",
    "payment",
    "card",
    "failed",
    "again",
    "yesterday",
    "today",
    "tomorrow",
    "support",
    "help",
    "need",
    "invoice",
    "subscription",
    "cancel",
    "plan",
    "upgrade",
    "shipping",
    "tracking",
    "number",
    "store",
    "open",
    "hours",
    "weekend",
    "product",
    "size",
    "colour",
    "available",
    "stock",
    "return",
    "policy",
    "days",
    "you",
    "will",
    "receive",
    "an",
    "email",
    "with",
    "link",
    "we",
    "are",
    "sorry",
    "for",
    "the",
    "trouble",
    "here",
    "is",
    "what",
    "do",
    "next",
];

const FIRST: &[&str] = &[
    "Ann", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemal",
    "Lena", "Marta", "Nils", "Olga", "Pablo",
];
const LAST: &[&str] = &[
    "Silva", "Novak", "Berg", "Okafor", "Rossi", "Dubois", "Kowalski", "Tanaka", "Moreau",
    "Ivanova",
];

/// Text of `len` characters from `seed`: words, the first capitalised.
fn text(seed: u64, len: usize) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(WORDS[rng.range(0, WORDS.len() as i64 - 1) as usize]);
    }
    out.truncate(len);
    if let Some(first) = out.get(..1) {
        let upper = first.to_uppercase();
        out.replace_range(..1, &upper);
    }
    out
}

/// An agent call was made for a reply with this outcome.
fn called(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Answered | Outcome::Fallback | Outcome::Failed
    )
}

/// One stored message, its text made from `seed` when written.
struct Msg {
    at: i64,
    chat: u32,
    message_id: u32,
    conversation: u32,
    /// The question a reply answers (its `message_id`); none for a question.
    reply_to: Option<u32>,
    outcome: Option<Outcome>,
    latency_ms: Option<f64>,
    tokens: Option<(i64, i64)>,
    seed: u64,
    len: u16,
}

impl Msg {
    fn out(&self) -> bool {
        self.reply_to.is_some() || self.outcome.is_some()
    }
    fn text(&self) -> String {
        text(self.seed, self.len as usize)
    }
}

struct Conversation {
    id: String,
    chat: u32,
    started_at: i64,
    last_at: i64,
    count: i64,
    tokens_in: i64,
    tokens_out: i64,
}

/// Everything written, made before anything is.
struct Plan {
    instances: Vec<String>,
    /// Per bot: its Telegram id and name (who sends the replies).
    senders: Vec<(String, String)>,
    /// Per chat: its user's name.
    users: Vec<String>,
    messages: Vec<Msg>,
    conversations: Vec<Conversation>,
    events: usize,
    now: i64,
    days: i64,
}

/// What was written.
struct Fill {
    bots: usize,
    chats: usize,
    days: i64,
    messages: usize,
    conversations: usize,
    events: usize,
    deliveries: usize,
}

impl Plan {
    /// Messages in sessions per chat: a session is 1 to 8 questions, each answered 0.3-6 s later, the
    /// next question 20 s to 5 min after the answer; sessions start anywhere in the span.
    fn new(args: &Args, bots: &[Bot], now: i64) -> Self {
        let mut rng = Rng(0x5EED_0016);
        let start = now - args.days * DAY_MS;
        let end = now - 3_600_000;
        let per_chat = args.messages / args.chats;
        let mut messages: Vec<Msg> = Vec::with_capacity(args.messages);
        let mut conversations: Vec<Conversation> = Vec::new();
        let mut users = Vec::with_capacity(args.chats);
        for chat in 0..args.chats {
            users.push(format!(
                "{} {}",
                FIRST[chat % FIRST.len()],
                LAST[(chat / FIRST.len()) % LAST.len()]
            ));
            let budget = per_chat + usize::from(chat < args.messages % args.chats);
            // (question at, answer at) of every exchange, then sorted.
            let mut exchanges: Vec<(i64, i64)> = Vec::with_capacity(budget / 2 + 1);
            let mut left = budget;
            while left > 0 {
                let mut t = rng.range(start, end);
                for _ in 0..rng.range(1, 8) {
                    if left == 0 {
                        break;
                    }
                    let answered = t + rng.range(300, 6_000);
                    exchanges.push((t, answered));
                    left = left.saturating_sub(2);
                    t = answered + rng.range(20_000, 300_000);
                }
            }
            exchanges.sort_unstable();
            // An odd budget: the last question gets no answer.
            let unanswered_last = budget % 2 == 1;
            let mut next_id = 1u32;
            let mut current: Option<usize> = None;
            let n = exchanges.len();
            for (k, (asked, answered)) in exchanges.into_iter().enumerate() {
                let with_reply = !(unanswered_last && k == n - 1);
                for (at, is_reply) in [(asked, false), (answered, true)] {
                    if is_reply && !with_reply {
                        continue;
                    }
                    let joins = current.is_some_and(|c| at - conversations[c].last_at < TTL_MS);
                    let c = if joins {
                        current.unwrap_or_default()
                    } else {
                        conversations.push(Conversation {
                            id: format!("conv_{}", rng.uuid().replace('-', "")),
                            chat: chat as u32,
                            started_at: at,
                            last_at: at,
                            count: 0,
                            tokens_in: 0,
                            tokens_out: 0,
                        });
                        conversations.len() - 1
                    };
                    current = Some(c);
                    let mut m = Msg {
                        at,
                        chat: chat as u32,
                        message_id: next_id,
                        conversation: c as u32,
                        reply_to: None,
                        outcome: None,
                        latency_ms: None,
                        tokens: None,
                        seed: rng.next(),
                        // Questions are short, mostly.
                        len: 8 + (rng.unit().powi(2) * 230.0) as u16,
                    };
                    next_id += 1;
                    if is_reply {
                        let roll = rng.unit();
                        let outcome = if k == 0 {
                            Outcome::Welcome
                        } else if roll < 0.90 {
                            Outcome::Answered
                        } else if roll < 0.95 {
                            Outcome::Fallback
                        } else if roll < 0.97 {
                            Outcome::Failed
                        } else if roll < 0.99 {
                            Outcome::DroppedRate
                        } else {
                            Outcome::DroppedCap
                        };
                        m.reply_to = Some(next_id - 2);
                        m.outcome = Some(outcome);
                        m.len = if outcome == Outcome::Answered {
                            40 + (rng.unit() * 1_100.0) as u16
                        } else {
                            60
                        };
                        if called(outcome) {
                            m.latency_ms = Some((rng.range(250_000, 5_500_000) as f64) / 1000.0);
                            m.tokens = Some((rng.range(150, 3_000), rng.range(15, 600)));
                        }
                    }
                    let conv = &mut conversations[c];
                    conv.last_at = conv.last_at.max(at);
                    conv.count += 1;
                    if let Some((i, o)) = m.tokens {
                        conv.tokens_in += i;
                        conv.tokens_out += o;
                    }
                    messages.push(m);
                }
            }
        }
        // Stored in the order they happened.
        messages.sort_by_key(|m| m.at);
        Self {
            instances: bots.iter().map(|b| b.id.clone()).collect(),
            senders: bots
                .iter()
                .map(|b| (b.telegram_id.clone(), b.name.clone()))
                .collect(),
            users,
            messages,
            conversations,
            events: args.messages * args.events_per_100 / 100,
            now,
            days: args.days,
        }
    }

    fn bot_of(&self, chat: u32) -> usize {
        chat as usize % self.instances.len()
    }

    fn chat_id(chat: u32) -> String {
        (100_000_000 + u64::from(chat)).to_string()
    }

    /// The `messages` row of `m`.
    fn message_row(&self, m: &Msg, id: String) -> Vec<Val> {
        let bot = self.bot_of(m.chat);
        let out = m.out();
        let (from_id, from_name) = if out {
            self.senders[bot].clone()
        } else {
            (Self::chat_id(m.chat), self.users[m.chat as usize].clone())
        };
        vec![
            Val::Text(id),
            Val::Text(self.instances[bot].clone()),
            Val::Text(Self::chat_id(m.chat)),
            Val::Text(if out { "out" } else { "in" }.into()),
            Val::Text(m.message_id.to_string()),
            Val::Text(from_id),
            Val::Text(from_name),
            Val::Text(m.text()),
            Val::Int(m.at),
            Val::Text(self.conversations[m.conversation as usize].id.clone()),
            Val::Text(if out { "assistant" } else { "user" }.into()),
            m.tokens.map_or(Val::Null, |t| Val::Int(t.0)),
            m.tokens.map_or(Val::Null, |t| Val::Int(t.1)),
            m.latency_ms.map_or(Val::Null, Val::Float),
            m.outcome
                .map_or(Val::Null, |o| Val::Text(o.as_str().into())),
            match m.outcome {
                Some(Outcome::Failed) => {
                    Val::Text("the agent did not answer within 30000 ms".into())
                }
                Some(Outcome::Fallback) => Val::Text("agent answered 500".into()),
                _ => Val::Null,
            },
            m.reply_to.map_or(Val::Null, |q| Val::Text(q.to_string())),
        ]
    }

    /// Writes every row; what was written.
    async fn write(&self, url: &str) -> anyhow::Result<Fill> {
        let mut db = open(url).await?;
        let mut ids = Rng(0x1D5);
        // Message ids are the worker's event ids (UUID v4), also the deliveries' ids.
        let message_ids: Vec<String> = self.messages.iter().map(|_| ids.uuid()).collect();
        db.write(
            "messages",
            &[
                "id",
                "instance_id",
                "chat_id",
                "direction",
                "message_id",
                "from_id",
                "from_name",
                "text",
                "at",
                "conversation_id",
                "role",
                "tokens_in",
                "tokens_out",
                "latency_ms",
                "outcome",
                "error",
                "reply_to",
            ],
            self.messages
                .iter()
                .zip(&message_ids)
                .map(|(m, id)| self.message_row(m, id.clone())),
        )
        .await?;
        // The analytics rollup of those messages, as their transactions would have added it up.
        let started = Instant::now();
        db.execute_all(&manager::store::analytics::recount_statements())
            .await?;
        eprintln!(
            "   analytics rollup: counted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        db.write(
            "conversations",
            &[
                "id",
                "instance_id",
                "chat_id",
                "platform_user_id",
                "started_at",
                "last_message_at",
                "message_count",
                "tokens_in",
                "tokens_out",
            ],
            self.conversations.iter().map(|c| {
                vec![
                    Val::Text(c.id.clone()),
                    Val::Text(self.instances[self.bot_of(c.chat)].clone()),
                    Val::Text(Self::chat_id(c.chat)),
                    Val::Text(Self::chat_id(c.chat)),
                    Val::Int(c.started_at),
                    Val::Int(c.last_at),
                    Val::Int(c.count),
                    Val::Int(c.tokens_in),
                    Val::Int(c.tokens_out),
                ]
            }),
        )
        .await?;
        // Each chat's count and latest message (the messages are in time order).
        let mut chats: HashMap<u32, (i64, &Msg)> = HashMap::new();
        for m in &self.messages {
            let entry = chats.entry(m.chat).or_insert((0, m));
            entry.0 += 1;
            entry.1 = m;
        }
        let mut chats: Vec<(u32, (i64, &Msg))> = chats.into_iter().collect();
        chats.sort_by_key(|(c, _)| *c);
        db.write(
            "chats",
            &[
                "instance_id",
                "chat_id",
                "name",
                "chat_type",
                "message_count",
                "last_message",
                "last_message_at",
            ],
            chats.iter().map(|(chat, (count, last))| {
                vec![
                    Val::Text(self.instances[self.bot_of(*chat)].clone()),
                    Val::Text(Self::chat_id(*chat)),
                    Val::Text(self.users[*chat as usize].clone()),
                    Val::Text("private".into()),
                    Val::Int(*count),
                    Val::Text(last.text()),
                    Val::Int(last.at),
                ]
            }),
        )
        .await?;
        // Messages per bot and UTC day, as the manager's counter flushes add them up.
        let mut daily: std::collections::BTreeMap<(usize, String), (i64, i64)> = Default::default();
        for m in &self.messages {
            let entry = daily
                .entry((self.bot_of(m.chat), utc_day(m.at)))
                .or_default();
            if m.out() {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        db.write(
            "message_counts_daily",
            &["instance_id", "day", "sent", "received"],
            daily.iter().map(|((bot, day), (sent, received))| {
                vec![
                    Val::Text(self.instances[*bot].clone()),
                    Val::Text(day.clone()),
                    Val::Int(*sent),
                    Val::Int(*received),
                ]
            }),
        )
        .await?;
        // The event log: the bots' status changes and errors, spread over the span.
        let mut rng = Rng(0xE7);
        let mut events: Vec<(i64, usize, bool)> = (0..self.events)
            .map(|_| {
                (
                    rng.range(self.now - self.days * DAY_MS, self.now - 3_600_000),
                    rng.range(0, self.instances.len() as i64 - 1) as usize,
                    rng.unit() < 0.4,
                )
            })
            .collect();
        events.sort_unstable();
        db.write(
            "events",
            &["id", "at", "event_type", "instance_id", "message"],
            events.iter().map(|(at, bot, error)| {
                let (kind, message) = if *error {
                    (
                        "bot.error",
                        "could not send the reply: Forbidden: bot was blocked by the user",
                    )
                } else {
                    ("bot.status", "polling again after a network error")
                };
                vec![
                    Val::Text(rng.uuid()),
                    Val::Int(*at),
                    Val::Text(kind.into()),
                    Val::Text(self.instances[*bot].clone()),
                    Val::Text(message.into()),
                ]
            }),
        )
        .await?;
        // Bot 0's webhook got every message of its chats, each delivered at once (3 % dead after 8
        // attempts).
        let mut rng = Rng(0xDE11);
        let mut deliveries = 0;
        db.write(
            "webhook_deliveries",
            &[
                "id",
                "instance_id",
                "event_type",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "last_status",
                "created_at",
                "finished_at",
            ],
            self.messages
                .iter()
                .zip(&message_ids)
                .filter(|(m, _)| self.bot_of(m.chat) == 0)
                .map(|(m, id)| {
                    deliveries += 1;
                    self.delivery_row(m, id, &mut rng)
                }),
        )
        .await?;
        db.close().await?;
        Ok(Fill {
            bots: self.instances.len(),
            chats: self.users.len(),
            days: self.days,
            messages: self.messages.len(),
            conversations: self.conversations.len(),
            events: events.len(),
            deliveries,
        })
    }

    /// The `webhook_deliveries` row of message `m`, as `store::webhooks::enqueue` writes it and the
    /// dispatcher finishes it.
    fn delivery_row(&self, m: &Msg, id: &str, rng: &mut Rng) -> Vec<Val> {
        let out = m.out();
        let (from_id, from_name) = if out {
            self.senders[0].clone()
        } else {
            (Self::chat_id(m.chat), self.users[m.chat as usize].clone())
        };
        let data = serde_json::Map::from_iter([
            ("chat_id".to_string(), Self::chat_id(m.chat).into()),
            (
                "chat_name".to_string(),
                self.users[m.chat as usize].clone().into(),
            ),
            ("chat_type".to_string(), "private".into()),
            ("from_id".to_string(), from_id.into()),
            ("from_name".to_string(), from_name.into()),
            ("message_id".to_string(), m.message_id.to_string().into()),
            ("text".to_string(), m.text().into()),
        ]);
        let event_type = if out {
            EventType::MessageOut
        } else {
            EventType::MessageIn
        };
        let envelope = WebhookEnvelope {
            id: id.to_string(),
            event_type,
            instance_id: self.instances[0].clone(),
            occurred_at: m.at,
            data,
        };
        let created = m.at + rng.range(5, 200);
        let dead = rng.unit() < 0.03;
        let finished = if dead {
            created + 3_600_000
        } else {
            created + rng.range(30, 500)
        };
        vec![
            Val::Text(id.to_string()),
            Val::Text(self.instances[0].clone()),
            Val::Text(event_type.to_string()),
            Val::Text(serde_json::to_string(&envelope).unwrap_or_default()),
            Val::Text(if dead { "dead" } else { "delivered" }.into()),
            Val::Int(if dead { 8 } else { 1 }),
            Val::Int(finished),
            if dead {
                Val::Text("connection refused".into())
            } else {
                Val::Null
            },
            if dead { Val::Null } else { Val::Int(200) },
            Val::Int(created),
            Val::Int(finished),
        ]
    }

    /// The endpoints measured, on bot 0: its busiest chat, its largest conversation of the last 30 days
    /// (kept by the sweep), and its newest conversations.
    async fn targets(&self, m: &Manager, bots: &[Bot]) -> anyhow::Result<Targets> {
        let id = &bots[0].id;
        let chat = Self::chat_id(0);
        let recent = self.now - 30 * DAY_MS;
        let conversation = self
            .conversations
            .iter()
            .filter(|c| self.bot_of(c.chat) == 0 && c.started_at > recent)
            .max_by_key(|c| c.count)
            .ok_or_else(|| anyhow::anyhow!("bot 0 has no conversation in the last 30 days"))?;
        // The list is read once through the API, as a client would find a conversation.
        let listed: ConversationList = m
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/instances/{id}/conversations?limit=1"),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::ensure!(
            listed.total
                == self
                    .conversations
                    .iter()
                    .filter(|c| self.bot_of(c.chat) == 0)
                    .count() as i64,
            "the manager counts {} conversations of bot 0",
            listed.total
        );
        let today = time::OffsetDateTime::now_utc().date();
        let from = today - time::Duration::days(self.days - 1);
        let per_bot = self.messages.len() / self.instances.len();
        let in_chat = self.messages.iter().filter(|m| m.chat == 0).count();
        Ok(Targets(vec![
            (
                "GET /instances/{id}".into(),
                format!("/api/v1/instances/{id}"),
            ),
            (
                format!(
                    "GET …/chats ({} chats)",
                    self.users.len() / self.instances.len()
                ),
                format!("/api/v1/instances/{id}/chats"),
            ),
            (
                format!("GET …/messages?chatId= (newest 50 of {in_chat})"),
                format!("/api/v1/instances/{id}/messages?chatId={chat}"),
            ),
            (
                format!(
                    "GET …/contacts (over ~{} messages)",
                    thousands(per_bot as i64)
                ),
                format!("/api/v1/instances/{id}/contacts"),
            ),
            (
                "GET …/conversations (newest 50)".into(),
                format!("/api/v1/instances/{id}/conversations"),
            ),
            (
                format!(
                    "GET …/conversations/{{id}} ({} messages)",
                    conversation.count
                ),
                format!("/api/v1/instances/{id}/conversations/{}", conversation.id),
            ),
            (
                "GET …/analytics (default: 30 days)".into(),
                format!("/api/v1/instances/{id}/analytics"),
            ),
            (
                format!("GET …/analytics?from= ({} days)", self.days),
                format!("/api/v1/instances/{id}/analytics?from={from}&to={today}"),
            ),
            (
                "GET …/insights".into(),
                format!("/api/v1/instances/{id}/insights"),
            ),
        ]))
    }
}

/// A value of a row.
enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// A connection to the manager's database, for writing rows in bulk.
enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

async fn open(url: &str) -> anyhow::Result<Db> {
    Ok(if url.starts_with("sqlite:") {
        // The manager's file is in WAL mode already. The fill is one writer that may lose its work
        // on a crash: no fsync per commit, a large cache.
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-1000000");
        Db::Sqlite(options.connect().await?)
    } else {
        Db::Pg(PgConnection::connect(url).await?)
    })
}

/// Rows per SQLite transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;

impl Db {
    /// Writes `rows` into `table`: multi-row `INSERT`s in large transactions (SQLite), `COPY`
    /// (PostgreSQL).
    async fn write(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: impl Iterator<Item = Vec<Val>>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut written = 0usize;
        match self {
            Db::Sqlite(conn) => {
                // Well under SQLite's 32,766 variables per statement.
                let per_statement = (16_000 / columns.len()).min(1_000);
                let statement = |n: usize| {
                    let row = format!("({})", vec!["?"; columns.len()].join(", "));
                    format!(
                        "INSERT INTO {table} ({}) VALUES {}",
                        columns.join(", "),
                        vec![row; n].join(", ")
                    )
                };
                let full = statement(per_statement);
                let mut batch: Vec<Vec<Val>> = Vec::with_capacity(per_statement);
                let mut tx = conn.begin().await?;
                let mut in_tx = 0;
                let mut rows = rows.peekable();
                while rows.peek().is_some() {
                    batch.extend(rows.by_ref().take(per_statement));
                    let sql = if batch.len() == per_statement {
                        full.clone()
                    } else {
                        statement(batch.len())
                    };
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for value in batch.drain(..).flatten() {
                        query = match value {
                            Val::Null => query.bind(None::<String>),
                            Val::Int(i) => query.bind(i),
                            Val::Float(f) => query.bind(f),
                            Val::Text(s) => query.bind(s),
                        };
                    }
                    written += query.execute(&mut *tx).await?.rows_affected() as usize;
                    in_tx += per_statement;
                    if in_tx >= ROWS_PER_TRANSACTION {
                        tx.commit().await?;
                        tx = conn.begin().await?;
                        in_tx = 0;
                    }
                }
                tx.commit().await?;
            }
            Db::Pg(conn) => {
                let mut copy = conn
                    .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
                    .await?;
                let mut buffer: Vec<u8> = Vec::with_capacity(2 << 20);
                for row in rows {
                    for (i, value) in row.iter().enumerate() {
                        if i > 0 {
                            buffer.push(b'\t');
                        }
                        match value {
                            Val::Null => buffer.extend_from_slice(b"\\N"),
                            Val::Int(n) => buffer.extend_from_slice(n.to_string().as_bytes()),
                            Val::Float(f) => buffer.extend_from_slice(f.to_string().as_bytes()),
                            Val::Text(s) => copy_escape(s, &mut buffer),
                        }
                    }
                    buffer.push(b'\n');
                    written += 1;
                    if buffer.len() >= 1 << 20 {
                        copy.send(std::mem::take(&mut buffer)).await?;
                    }
                }
                copy.send(buffer).await?;
                copy.finish().await?;
            }
        }
        eprintln!(
            "   {table}: {written} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Runs `statements` in one transaction.
    async fn execute_all(&mut self, statements: &[String]) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut tx = conn.begin().await?;
                for sql in statements {
                    sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Db::Pg(conn) => {
                let mut tx = conn.begin().await?;
                for sql in statements {
                    sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(mut conn) => {
                // Everything into the main file, so the sizes measured are the file's.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Db::Pg(conn) => conn.close().await?,
        }
        Ok(())
    }
}

/// `COPY … FROM STDIN` text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}
