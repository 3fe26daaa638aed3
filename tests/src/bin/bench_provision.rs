//! `scripts/bench-provision`: time from `POST /api/v1/instances` to a healthy worker and to `client_ready`
//! as the manager's API shows it, sequentially and concurrently, beside a bare `docker run` of the same
//! image; then idle worker memory and image size. `--runtime swarm` (or `BOTFLEET_TEST_RUNTIME=swarm`)
//! measures the manager on Docker Swarm (the engine must be a swarm manager: scripts/ensure-swarm).

use std::{
    process::Command,
    time::{Duration, Instant},
};

use botfleet_tests::harness::{self, Manager, ManagerOptions, Runtime, TEST_NETWORK, create_body};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Provisioning benchmark for botfleet")]
struct Args {
    /// Bots provisioned in each phase.
    #[arg(long, default_value_t = 20)]
    bots: usize,
    /// The manager's runtime: `docker` or `swarm`; default: BOTFLEET_TEST_RUNTIME, else docker.
    #[arg(long)]
    runtime: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.bots;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.runtime = match args.runtime.as_deref() {
        None => options.runtime,
        Some("docker") => Runtime::Docker,
        Some("swarm") => Runtime::Swarm,
        Some(other) => anyhow::bail!("--runtime {other}: expected docker or swarm"),
    };
    options.ports = harness::port_range((2 * n + 20) as u16);
    options.health_interval_secs = 5.0;
    let m = Manager::spawn(options);
    let client = reqwest::Client::new();

    // Sequential.
    let mut sequential = Vec::new();
    let mut post_only = Vec::new();
    let mut api_ready = Vec::new();
    let mut ready_lag = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let token = fake.add_bot(5_000_000 + i as u64, &format!("seq{i}_bot"));
        let started = Instant::now();
        let (id, port) = create(&m, &token).await?;
        post_only.push(started.elapsed());
        // The worker's own health and the manager's view of it, watched side by side.
        let (healthy, ready) = tokio::join!(
            async {
                wait_healthy(&client, port).await?;
                anyhow::Ok(started.elapsed())
            },
            async {
                wait_client_ready(&m, &id).await?;
                anyhow::Ok(Instant::now())
            }
        );
        sequential.push(healthy?);
        let ready = ready?;
        api_ready.push(ready - started);
        if let Some(get_me) = fake.first_get_me(&token) {
            ready_lag.push(ready.saturating_duration_since(get_me));
        }
        ids.push(id);
    }
    let delete_started = Instant::now();
    for id in &ids {
        let (status, body) = m.delete(&format!("/api/v1/instances/{id}")).await;
        anyhow::ensure!(status == 200, "delete failed: {body}");
    }
    let delete_each = delete_started.elapsed() / n.max(1) as u32;

    // Concurrent: all N at once.
    let tokens: Vec<String> = (0..n)
        .map(|i| fake.add_bot(5_100_000 + i as u64, &format!("con{i}_bot")))
        .collect();
    let wall = Instant::now();
    let tasks = tokens.iter().map(|token| {
        let (m, client) = (&m, &client);
        async move {
            let started = Instant::now();
            let (id, port) = create(m, token).await?;
            wait_healthy(client, port).await?;
            anyhow::Ok((started.elapsed(), id))
        }
    });
    let (concurrent, concurrent_ids): (Vec<Duration>, Vec<String>) =
        futures::future::try_join_all(tasks)
            .await?
            .into_iter()
            .unzip();
    let concurrent_wall = wall.elapsed();

    // Idle memory of the workers just started, once they settled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let containers: Vec<String> = concurrent_ids
        .iter()
        .filter_map(|id| m.worker_container(id))
        .collect();
    let mut rss = harness::containers_memory_mib(&containers);
    rss.sort_by(f64::total_cmp);

    // A bare `docker run` of the same image: the floor botfleet adds its work on top of.
    let image = harness::worker_image();
    let mut bare = Vec::new();
    let (base_port, _) = harness::port_range(n.min(10) as u16 + 1);
    for i in 0..n.min(10) {
        let token = fake.add_bot(5_200_000 + i as u64, &format!("bare{i}_bot"));
        let port = base_port + i as u16;
        let name = harness::unique_name("bfbench");
        let started = Instant::now();
        let status = Command::new("docker")
            .args([
                "run",
                "-d",
                "--rm",
                "--name",
                &name,
                "--network",
                TEST_NETWORK,
            ])
            .args(["-p", &format!("127.0.0.1:{port}:{port}")])
            .args([
                "-e",
                &format!("BOTFLEET_PORT={port}"),
                "-e",
                "BOTFLEET_INSTANCE_ID=bench",
            ])
            .args(["-e", &format!("BOTFLEET_BOT_TOKEN={token}")])
            .args(["-e", &format!("BOTFLEET_API_KEY_SHA256={}", "0".repeat(64))])
            .args(["-e", &format!("BOTFLEET_TELEGRAM_API_URL={tg_url}"), &image])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "docker run failed");
        wait_healthy(&client, port).await?;
        bare.push(started.elapsed());
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    }

    let size = Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Size}}", &image])
        .output()?;
    let size_mb = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1e6;

    println!(
        "botfleet bench-provision: {n} bots per phase, {} runtime",
        m.options.runtime.as_str()
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9}",
        "phase", "p50 ms", "p99 ms", "max ms"
    );
    row("POST returned (sequential)", &mut post_only);
    row("POST -> healthy (sequential)", &mut sequential);
    row("POST -> client_ready in the API", &mut api_ready);
    row("getMe answered -> client_ready in API", &mut ready_lag);
    row(
        &format!("POST -> healthy ({n} concurrent)"),
        &mut concurrent.clone(),
    );
    row("bare docker run -> healthy", &mut bare);
    println!(
        "concurrent wall time: {} ms for {n} bots",
        concurrent_wall.as_millis()
    );
    println!(
        "DELETE (container removed): {} ms each",
        delete_each.as_millis()
    );
    if !rss.is_empty() {
        println!(
            "idle worker memory: median {:.1} MiB, max {:.1} MiB ({} workers)",
            rss[rss.len() / 2],
            rss[rss.len() - 1],
            rss.len()
        );
    }
    println!("worker image size: {size_mb:.1} MB ({image})");
    Ok(())
}

async fn create(m: &Manager, token: &str) -> anyhow::Result<(String, u16)> {
    let (status, body) = m
        .post("/api/v1/instances", &create_body("bench", token))
        .await;
    anyhow::ensure!(status == 201, "create failed: {body}");
    let id = body["instance_id"].as_str().unwrap_or_default().to_string();
    let port = body["process_result"]["details"]["ports"]["api"]
        .as_u64()
        .unwrap_or(0) as u16;
    Ok((id, port))
}

/// Polls `auth-status` every 5 ms until the manager shows the bot `client_ready`.
async fn wait_client_ready(m: &Manager, id: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/instances/{id}/auth-status");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let (_, body) = m.get(&path).await;
        if body["auth_status"] == "client_ready" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("instance {id} not client_ready within 60 s")
}

async fn wait_healthy(client: &reqwest::Client, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/api/v1/health");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(&url).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["status"] == "healthy"
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("worker on port {port} not healthy within 60 s")
}

fn row(name: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let pick =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{name:<38} {:>9.1} {:>9.1} {:>9.1}",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}
