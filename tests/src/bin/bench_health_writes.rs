//! `scripts/bench-health-writes`: database write transactions per minute that the health loop causes
//! with N idle bots (real workers against the fake Telegram, production health interval of 5 s), for
//! the build before the spec/status split and for this one, one after the other in one run.
//!
//! The count comes from the database itself: SQLite's file change counter (the 4 bytes at offset 24 of
//! the file header), which every committed write transaction increments in rollback-journal mode, the
//! mode the manager opens SQLite in. Beside it: the rows added to `status_history`, the spec and status
//! rows written (growth of their stored versions; before the split, of the one row per instance), and,
//! for a build that has it, the manager's own `botfleet_db_write_transactions_total`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use botfleet_tests::harness::{self, Manager, ManagerOptions, create_body};
use clap::Parser;
use futures::StreamExt;
use sqlx::Row;

#[derive(Parser)]
#[command(
    about = "Health-loop database writes with idle bots, before and after the spec/status split"
)]
struct Args {
    /// Idle bots.
    #[arg(long, default_value_t = 100)]
    bots: u16,
    /// Seconds of measurement, once every bot is running and the fleet has settled.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Folder holding the `manager` and `worker` binaries of the build before the split; without it,
    /// only this build is measured.
    #[arg(long)]
    before_bin: Option<PathBuf>,
}

/// What one build did during the window.
struct Figures {
    label: String,
    transactions: u32,
    history_rows: i64,
    row_versions: i64,
    metric: Option<f64>,
    elapsed: Duration,
}

impl Figures {
    fn per_minute(&self, n: f64) -> f64 {
        n * 60.0 / self.elapsed.as_secs_f64()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (1..=140).contains(&args.bots),
        "--bots must be 1 to 140 (one port block)"
    );
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut results = Vec::new();
    let mut builds = Vec::new();
    if let Some(dir) = &args.before_bin {
        builds.push(("before (fc68ccf)", dir.clone(), 0_u64));
    }
    builds.push(("after (split)", harness::bin_dir(), 1));
    for (label, dir, round) in builds {
        let tokens: Vec<String> = (0..args.bots)
            .map(|i| {
                fake.add_bot(
                    6_000_000 + round * 10_000 + u64::from(i),
                    &format!("hw{round}_{i}_bot"),
                )
            })
            .collect();
        results.push(measure(label, &dir, &tg_url, &tokens, &args).await?);
    }

    println!(
        "botfleet bench-health-writes: {} idle bots, health check every 5 s, {} s window, SQLite",
        args.bots, args.seconds
    );
    println!(
        "{:<18} {:>16} {:>14} {:>16} {:>18}",
        "build", "write tx/min", "history/min", "row writes/min", "metric tx/min"
    );
    for f in &results {
        println!(
            "{:<18} {:>16.1} {:>14.1} {:>16.1} {:>18}",
            f.label,
            f.per_minute(f64::from(f.transactions)),
            f.per_minute(f.history_rows as f64),
            f.per_minute(f.row_versions as f64),
            f.metric
                .map(|m| format!("{:.1}", f.per_minute(m)))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    Ok(())
}

/// Runs the manager in `dir` with one idle bot per token and counts its writes over the window.
async fn measure(
    label: &str,
    dir: &Path,
    tg_url: &str,
    tokens: &[String],
    args: &Args,
) -> anyhow::Result<Figures> {
    let mut options = ManagerOptions::new(tg_url).await;
    // Always a SQLite file: its header is the counter.
    let data = harness::bin_dir().join("test-data");
    std::fs::create_dir_all(&data)?;
    let db = data.join(format!("{}.db", options.fleet));
    options.database_url = format!("sqlite://{}", db.display());
    options.ports = harness::port_range(tokens.len() as u16 + 10);
    options.health_interval_secs = 5.0;
    options.env = vec![
        // Each build's worker in an image of its own.
        (
            "BOTFLEET_WORKER_IMAGE".into(),
            format!(
                "botfleet-worker:bench-{}",
                label.split(' ').next().unwrap_or("x")
            ),
        ),
        (
            "BOTFLEET_WORKER_BINARY".into(),
            dir.join("worker").display().to_string(),
        ),
        ("RUST_LOG".into(), "warn".into()),
    ];
    eprintln!("== {label}: starting {} bots", tokens.len());
    let mut m = Manager::spawn_binary(dir.join("manager"), options);
    let created = futures::stream::iter(tokens)
        .map(|token| {
            let m = &m;
            async move {
                m.post("/api/v1/instances", &create_body("bench", token))
                    .await
            }
        })
        .buffer_unordered(10)
        .collect::<Vec<_>>()
        .await;
    for (status, body) in &created {
        anyhow::ensure!(*status == 201, "create failed: {body}");
    }
    wait_all_ready(&m, tokens.len()).await?;
    // Starts, first checks and the follower's close watch are over before the window opens.
    tokio::time::sleep(Duration::from_secs(15)).await;
    anyhow::ensure!(
        !Path::new(&format!("{}-wal", db.display())).exists(),
        "the database is in WAL mode; its header does not count transactions there"
    );

    let (c0, h0, v0, m0) = (
        change_counter(&db)?,
        history_rows(&db).await?,
        row_versions(&db).await?,
        metric(&m).await,
    );
    let started = Instant::now();
    eprintln!("== {label}: measuring for {} s", args.seconds);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (c1, h1, v1, m1) = (
        change_counter(&db)?,
        history_rows(&db).await?,
        row_versions(&db).await?,
        metric(&m).await,
    );
    let elapsed = started.elapsed();
    wait_all_ready(&m, tokens.len()).await?;
    m.stop();
    drop(m);
    let _ = std::fs::remove_file(&db);
    Ok(Figures {
        label: label.to_string(),
        transactions: c1.wrapping_sub(c0),
        history_rows: h1 - h0,
        row_versions: v1 - v0,
        metric: m0.zip(m1).map(|(a, b)| b - a),
        elapsed,
    })
}

/// Waits until `n` instances are running and ready for messages.
async fn wait_all_ready(m: &Manager, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, list) = m.get("/api/v1/instances").await;
        let ready = list["instances"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|i| i["status"] == "running" && i["auth_status"] == "client_ready")
                    .count()
            })
            .unwrap_or(0);
        if ready == n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {ready} of {n} bots running after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// SQLite's file change counter: incremented by every committed write transaction.
fn change_counter(db: &Path) -> anyhow::Result<u32> {
    use std::io::Read;
    let mut header = [0_u8; 28];
    std::fs::File::open(db)?.read_exact(&mut header)?;
    Ok(u32::from_be_bytes([
        header[24], header[25], header[26], header[27],
    ]))
}

async fn read_only(db: &Path) -> anyhow::Result<sqlx::AnyConnection> {
    sqlx::any::install_default_drivers();
    Ok(<sqlx::AnyConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=ro",
        db.display()
    ))
    .await?)
}

async fn history_rows(db: &Path) -> anyhow::Result<i64> {
    let mut conn = read_only(db).await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM status_history")
        .fetch_one(&mut conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// The stored spec and status row versions added up: every write of such a row grows it by one (before
/// the split, the one row per instance that held everything). Counter rows are left out: their version
/// counts changes in memory, not writes.
async fn row_versions(db: &Path) -> anyhow::Result<i64> {
    let mut conn = read_only(db).await?;
    let mut total = 0;
    for table in ["instances", "instance_status"] {
        let sql = format!("SELECT COALESCE(SUM(version), 0) AS n FROM {table}");
        // Before the split only `instances` exists.
        if let Ok(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
        {
            total += row.try_get::<i64, _>("n")?;
        }
    }
    Ok(total)
}

/// `botfleet_db_write_transactions_total`, all kinds, when the build exposes it.
async fn metric(m: &Manager) -> Option<f64> {
    let text = reqwest::get(m.url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("botfleet_db_write_transactions_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
