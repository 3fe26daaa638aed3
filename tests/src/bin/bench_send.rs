//! `scripts/bench-send`: messages per second that send-bulk achieves against the fake Telegram with the
//! real limits in force, the worker's memory while it runs, and how fast the resulting `message.out` events
//! reach a webhook (collection by the manager, then signed delivery).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use botfleet_tests::{
    fake_webhook::FakeWebhook,
    harness::{self, Manager, ManagerOptions, create_body, send},
};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Send benchmark for botfleet")]
struct Args {
    /// Distinct chats messaged by one bulk job.
    #[arg(long, default_value_t = 300)]
    recipients: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_900_001, "bench_send_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    // The production default: events reach the manager at its health checks.
    options.health_interval_secs = 5.0;
    let m = Manager::spawn(options);
    let (hook, hook_url) = FakeWebhook::start().await;
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
    let instance_id = body["instance_id"].as_str().unwrap_or_default().to_string();
    let (status, webhook) = send(
        m.request(
            reqwest::Method::PUT,
            &format!("/api/v1/instances/{instance_id}/webhook/config"),
        )
        .json(&json!({"url": hook_url, "events": ["message.out"]})),
    )
    .await;
    anyhow::ensure!(status == 200, "webhook refused: {webhook}");
    let idle = harness::container_memory_mib(&container);

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
    // Memory is sampled beside the polling: one `docker stats` takes a second or two, and polling after
    // each would see the job's end that much late.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, container) = (sampling.clone(), container.clone());
        tokio::task::spawn_blocking(move || {
            let mut peak = idle;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(harness::container_memory_mib(&container));
            }
            peak
        })
    };
    let done = loop {
        let (_, job) = send(client.get(format!("{base}/jobs/{id}")).bearer_auth(&key)).await;
        if job["status"] == "completed" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let peak_memory = sampler.await?;
    let sent = fake.sent();
    let delivered = sent.len();
    // The job's own time, from its creation to its last result, as the worker recorded them.
    let job_secs = done["totalDuration"].as_f64().unwrap_or(0.0) / 1000.0;
    println!(
        "botfleet bench-send: one bulk job to {} distinct chats",
        args.recipients
    );
    println!(
        "delivered {delivered} ({} ok, {} failed) in {job_secs:.2} s = {:.1} msg/s (Telegram allows 30/s overall); \
         {:.2} s from the request to seeing the job completed",
        done["successCount"],
        done["failureCount"],
        delivered as f64 / job_secs.max(f64::EPSILON),
        took.as_secs_f64(),
    );
    // The fake's own view: when it accepted each message, and what it refused for Telegram's limits.
    let mut times: Vec<Instant> = sent.iter().map(|s| s.at).collect();
    times.sort_unstable();
    let peak = times
        .iter()
        .enumerate()
        .map(|(i, start)| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let span = match (times.first(), times.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    // A pace of R a second sends R at once and then R more each second: N messages span (N - R) / R
    // seconds, so N over the span overstates it while N is a few R. The sustained pace leaves out the
    // first second's messages.
    let first_second = times
        .first()
        .map(|first| {
            times
                .iter()
                .take_while(|t| t.duration_since(*first) < Duration::from_secs(1))
                .count()
        })
        .unwrap_or(0);
    let refused = fake.refusals(&token);
    println!(
        "at the fake: first to last message {span:.2} s, sustained {:.1} msg/s ({first_second} in the first second, \
         at most {peak} in any 1 s); 429s: {} (overall {}, per chat {}, per group {})",
        delivered.saturating_sub(first_second) as f64 / span.max(f64::EPSILON),
        fake.rate_limited(&token),
        refused.overall,
        refused.per_chat,
        refused.per_group
    );
    println!("worker memory: idle {idle:.1} MiB, peak while sending {peak_memory:.1} MiB");

    // Every message.out event goes to the webhook: manager collection (every 5 s) + signed delivery.
    let deadline = Instant::now() + Duration::from_secs(120);
    while hook.accepted("message.out").len() < delivered && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = hook.accepted("message.out");
    let mut lags: Vec<i64> = got
        .iter()
        .map(|d| d.received_at_ms - d.json()["occurred_at"].as_i64().unwrap_or(0))
        .collect();
    lags.sort_unstable();
    let pick = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let ids: std::collections::HashSet<&str> = got.iter().map(|d| d.event_id.as_str()).collect();
    let first = got.iter().map(|d| d.received_at_ms).min().unwrap_or(0);
    let last = got.iter().map(|d| d.received_at_ms).max().unwrap_or(0);
    println!(
        "webhook: {} of {delivered} message.out events delivered ({} distinct), sent → delivered p50 {} ms, p99 {} ms, max {} ms; \
         {:.0} deliveries/s while they flowed",
        got.len(),
        ids.len(),
        pick(0.5),
        pick(0.99),
        lags.last().copied().unwrap_or(0),
        got.len() as f64 / ((last - first).max(1) as f64 / 1000.0)
    );
    Ok(())
}
