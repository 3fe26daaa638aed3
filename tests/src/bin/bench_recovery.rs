//! `scripts/bench-recovery`: how fast a killed worker is noticed and brought back, and how long a manager
//! restart with N live bots takes (to listening, and until every instance is confirmed running).
//! `--runtime swarm` (or `BOTFLEET_TEST_RUNTIME=swarm`) measures the manager on Docker Swarm.

use std::time::{Duration, Instant};

use botfleet_tests::harness::{self, Manager, ManagerOptions, Runtime};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Recovery benchmark for botfleet")]
struct Args {
    /// Live bots during the manager restart.
    #[arg(long, default_value_t = 10)]
    bots: u64,
    /// Workers killed, one after the other.
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// The manager's runtime: `docker` or `swarm`; default: BOTFLEET_TEST_RUNTIME, else docker.
    #[arg(long)]
    runtime: Option<String>,
}

async fn status(m: &Manager, id: &str) -> String {
    let (_, body) = m.get(&format!("/api/v1/instances/{id}/memory")).await;
    body["data"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_status(m: &Manager, id: &str, pred: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if pred(&status(m, id).await) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("instance {id} did not reach the awaited state")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.runtime = match args.runtime.as_deref() {
        None => options.runtime,
        Some("docker") => Runtime::Docker,
        Some("swarm") => Runtime::Swarm,
        Some(other) => anyhow::bail!("--runtime {other}: expected docker or swarm"),
    };
    options.ports = harness::port_range(args.bots as u16 + 10);
    // Production defaults: 5 s health interval, 1 s first restart backoff.
    options.health_interval_secs = 5.0;
    options.env.clear();
    let mut m = Manager::spawn(options.clone());
    let ids = m
        .create_bots(&fake, args.bots, 3_000_000, "rec")
        .await
        .map_err(anyhow::Error::msg)?;
    for id in &ids {
        wait_status(&m, id, |s| s == "running").await?;
    }

    let mut detect = Vec::new();
    let mut recover = Vec::new();
    for id in ids.iter().take(args.kills) {
        let killed = Instant::now();
        m.kill_worker(id);
        wait_status(&m, id, |s| s != "running").await?;
        detect.push(killed.elapsed());
        wait_status(&m, id, |s| s == "running").await?;
        recover.push(killed.elapsed());
    }

    let starts: Vec<String> = ids.iter().map(|id| m.worker_started_at(id)).collect();
    m.stop();
    let restarted = Instant::now();
    let m2 = Manager::spawn(options);
    let listening = restarted.elapsed();
    for id in &ids {
        wait_status(&m2, id, |s| s == "running").await?;
    }
    let all_running = restarted.elapsed();
    let after: Vec<String> = ids.iter().map(|id| m2.worker_started_at(id)).collect();
    let unchanged = starts
        .iter()
        .zip(&after)
        .filter(|(a, b)| !a.is_empty() && a == b)
        .count();

    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        ms(&v[((v.len() - 1) as f64 * q).round() as usize])
    };
    println!(
        "botfleet bench-recovery: {} bots, {} kills, {} runtime",
        args.bots,
        args.kills,
        m.options.runtime.as_str()
    );
    println!(
        "kill -> manager shows it (status leaves running): p50 {:.0} ms, max {:.0} ms",
        p(&mut detect, 0.5),
        p(&mut detect, 1.0)
    );
    println!(
        "kill -> running again:                           p50 {:.0} ms, max {:.0} ms",
        p(&mut recover, 0.5),
        p(&mut recover, 1.0)
    );
    println!(
        "manager restart -> listening:                    {:.0} ms",
        ms(&listening)
    );
    println!(
        "manager restart -> all {} instances running:     {:.0} ms",
        args.bots,
        ms(&all_running)
    );
    println!(
        "workers untouched by the manager restart:        {unchanged}/{}",
        ids.len()
    );
    drop(m);
    Ok(())
}
