//! `scripts/bench-engine-restart`: the Docker daemon itself is restarted while N bots run. The manager
//! must keep answering reads, refuse writes with 503 while the engine is away, and bring every bot back
//! once it answers again (the daemon stops the containers when it goes down). It prints how long the
//! engine was away, how long writes were refused, and how long after the engine's return every bot was
//! running again. It restarts the machine's engine: run it alone, never beside the test suite.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use botfleet_tests::harness::{self, Manager, ManagerOptions};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Docker daemon restart with live bots")]
struct Args {
    #[arg(long, default_value_t = 10)]
    bots: u64,
}

fn engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn dockerd_pid() -> Option<String> {
    let out = Command::new("pgrep")
        .args(["-x", "dockerd"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

/// Running containers of the fleet.
fn running_containers(fleet: &str) -> usize {
    Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=botfleet.fleet={fleet}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.ports = harness::port_range(args.bots as u16 + 10);
    options.health_interval_secs = 5.0;
    options.env.clear();
    let fleet = options.fleet.clone();
    let m = Manager::spawn(options);
    let ids = m
        .create_bots(&fake, args.bots, 9_300_000, "eng")
        .await
        .map_err(anyhow::Error::msg)?;
    let pid = dockerd_pid().ok_or_else(|| anyhow::anyhow!("no dockerd process found"))?;
    println!("{} bots running; stopping dockerd (pid {pid})", ids.len());
    let down_at = Instant::now();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    while engine_answers() || dockerd_pid().is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stopped_in = down_at.elapsed();
    // Reads from the cache, writes refused.
    let (code, list) = m.get("/api/v1/instances").await;
    anyhow::ensure!(
        code == 200 && list["total"] == args.bots,
        "read failed: {code} {list}"
    );
    let (code, body) = m
        .post(&format!("/api/v1/instances/{}/restart", ids[0]), &json!({}))
        .await;
    anyhow::ensure!(code == 503, "a write was not refused: {code} {body}");
    println!("dockerd stopped in {stopped_in:?}; reads answered, writes refused (503)");
    Command::new("sh")
        .args(["-c", "nohup dockerd >/var/log/dockerd.log 2>&1 &"])
        .status()?;
    while !engine_answers() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back_at = Instant::now();
    println!("engine away for {:?}", down_at.elapsed());
    // Writes accepted again.
    loop {
        let (code, _) = m.get("/api/v1/instances").await;
        let (probe, _) = m
            .post(&format!("/api/v1/instances/{}/process", ids[0]), &json!({}))
            .await;
        if code == 200 && probe != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes_back = back_at.elapsed();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, list) = m.get("/api/v1/instances").await;
        let all = list["instances"].as_array().cloned().unwrap_or_default();
        let running = all.iter().filter(|i| i["status"] == "running").count();
        let containers_up = running_containers(&fleet);
        if running == ids.len() && containers_up == ids.len() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {running} of {} bots running again ({containers_up} containers up)",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_back = back_at.elapsed();
    let (_, list) = m.get("/api/v1/instances").await;
    anyhow::ensure!(list["total"] == args.bots, "instances lost: {list}");
    println!(
        "writes accepted {:.1} s after the engine returned; all {} bots running again after {:.1} s; \
         instances before/after: {}/{}",
        writes_back.as_secs_f64(),
        ids.len(),
        all_back.as_secs_f64(),
        args.bots,
        list["total"]
    );
    Ok(())
}
