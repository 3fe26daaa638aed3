//! `scripts/bench-recovery`: how fast a killed worker is noticed and brought back, and how long a manager
//! restart with N live bots takes (to listening, and until every instance is confirmed running).

use std::time::{Duration, Instant};

use botfleet_tests::harness::{self, Manager, ManagerOptions, create_body, started_at};
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
    options.ports = harness::port_range(args.bots as u16 + 10);
    // Production defaults: 5 s health interval, 1 s first restart backoff.
    options.health_interval_secs = 5.0;
    options.env.clear();
    let mut m = Manager::spawn(options.clone());
    let mut ids = Vec::new();
    for i in 0..args.bots {
        let token = fake.add_bot(3_000_000 + i, &format!("rec{i}_bot"));
        let (code, body) = m
            .post(
                "/api/v1/instances?wait=true&timeout=30",
                &create_body("bench", &token),
            )
            .await;
        anyhow::ensure!(code == 201, "create failed: {body}");
        ids.push(body["instance_id"].as_str().unwrap_or_default().to_string());
    }
    for id in &ids {
        wait_status(&m, id, |s| s == "running").await?;
    }

    let mut detect = Vec::new();
    let mut recover = Vec::new();
    for id in ids.iter().take(args.kills) {
        let name = format!("{}-{id}", m.options.fleet);
        let killed = Instant::now();
        harness::docker(&["kill", &name]);
        wait_status(&m, id, |s| s != "running").await?;
        detect.push(killed.elapsed());
        wait_status(&m, id, |s| s == "running").await?;
        recover.push(killed.elapsed());
    }

    let containers = m.containers();
    let starts: Vec<String> = containers.iter().map(|c| started_at(c)).collect();
    m.stop();
    let restarted = Instant::now();
    let m2 = Manager::spawn(options);
    let listening = restarted.elapsed();
    for id in &ids {
        wait_status(&m2, id, |s| s == "running").await?;
    }
    let all_running = restarted.elapsed();
    let after: Vec<String> = containers.iter().map(|c| started_at(c)).collect();
    let unchanged = starts.iter().zip(&after).filter(|(a, b)| a == b).count();

    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        ms(&v[((v.len() - 1) as f64 * q).round() as usize])
    };
    println!(
        "botfleet bench-recovery: {} bots, {} kills",
        args.bots, args.kills
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
        containers.len()
    );
    drop(m);
    Ok(())
}
