//! `scripts/bench-send`: messages per second that send-bulk achieves against the fake Telegram with the
//! real limits in force, and the worker's memory while it runs.

use std::time::{Duration, Instant};

use botfleet_tests::harness::{self, Manager, ManagerOptions, create_body, send};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Send benchmark for botfleet")]
struct Args {
    /// Distinct chats messaged by one bulk job.
    #[arg(long, default_value_t = 300)]
    recipients: usize,
}

fn memory_mib(container: &str) -> f64 {
    let out = std::process::Command::new("docker")
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_900_001, "bench_send_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let (status, body) = m
        .post(
            "/api/v1/instances?wait=true&timeout=30",
            &create_body("bench", &token),
        )
        .await;
    anyhow::ensure!(status == 201, "create failed: {body}");
    let d = &body["process_result"]["details"];
    let base = format!("http://127.0.0.1:{}/api/v1", d["ports"]["api"]);
    let key = d["api_key"].as_str().unwrap_or_default().to_string();
    let container = m.containers().first().cloned().unwrap_or_default();
    let idle = memory_mib(&container);

    let recipients: Vec<Value> = (0..args.recipients)
        .map(|i| json!({"chatId": 100_000 + i, "vars": {"n": i}}))
        .collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (status, job) = send(
        client
            .post(format!("{base}/send-bulk"))
            .bearer_auth(&key)
            .json(&json!({"recipients": recipients, "message": "Message number {n}"})),
    )
    .await;
    anyhow::ensure!(status == 202, "bulk refused: {job}");
    let id = job["jobId"].as_str().unwrap_or_default().to_string();
    let mut peak: f64 = idle;
    let done = loop {
        let (_, job) = send(client.get(format!("{base}/jobs/{id}")).bearer_auth(&key)).await;
        if job["status"] == "completed" {
            break job;
        }
        peak = peak.max(memory_mib(&container));
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let took = started.elapsed();
    let delivered = fake.sent().len();
    println!(
        "botfleet bench-send: one bulk job to {} distinct chats",
        args.recipients
    );
    println!(
        "delivered {delivered} ({} ok, {} failed) in {:.2} s = {:.1} msg/s (Telegram: 30/s overall; botfleet paces at 20/s)",
        done["successCount"],
        done["failureCount"],
        took.as_secs_f64(),
        delivered as f64 / took.as_secs_f64()
    );
    println!("worker memory: idle {idle:.1} MiB, peak while sending {peak:.1} MiB");
    Ok(())
}
