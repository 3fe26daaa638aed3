//! `scripts/bench-auth`: what tenancy costs and does, against a release manager.
//! - The cost of authentication: p50/p99 and requests per second of `GET /api/v1/users/me` and
//!   `GET /api/v1/instances` with the bootstrap key (the baseline: a digest compare, as before users
//!   existed), an API key and a login session (rate limits raised out of the way).
//! - A login (argon2id): p50/p95 with the right password, a wrong one and an unknown user.
//! - The default limits: a burst of 1,500 requests from one key, how many get through.

use std::time::{Duration, Instant};

use botfleet_tests::{
    harness::{self, Manager, ManagerOptions, send},
    wrk::wrk,
};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Authentication benchmark for botfleet")]
struct Args {
    /// Seconds of load per credential and endpoint.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Open connections.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// Logins timed per kind.
    #[arg(long, default_value_t = 20)]
    logins: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn post(m: &Manager, bearer: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut r = m.client.post(m.url(path)).json(body);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    send(r).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_fake, tg_url) = harness::start_fake_telegram().await;

    // 1. Authentication cost, limits out of the way.
    let mut options = ManagerOptions::new(&tg_url).await.without_rate_limits();
    options.env.extend([
        ("BOTFLEET_LOGIN_ATTEMPTS_PER_MINUTE".into(), "100000".into()),
        ("RUST_LOG".into(), "warn".into()),
    ]);
    let m = Manager::spawn(options);
    let admin = m.options.admin_key.clone();
    let (status, user) = post(
        &m,
        Some(&admin),
        "/api/v1/users",
        &json!({"username": "bench", "password": "bench-password", "role": "user"}),
    )
    .await;
    anyhow::ensure!(status == 201, "create user: {status} {user}");
    let (status, session) = post(
        &m,
        None,
        "/api/v1/auth/login",
        &json!({"username": "bench", "password": "bench-password"}),
    )
    .await;
    anyhow::ensure!(status == 200, "login: {status} {session}");
    let token = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, key) = post(
        &m,
        Some(&token),
        "/api/v1/api-keys",
        &json!({"name": "bench", "scopes": ["read"]}),
    )
    .await;
    anyhow::ensure!(status == 201, "mint: {status} {key}");
    let key = key["key"].as_str().unwrap_or_default().to_string();

    println!(
        "botfleet bench-auth: wrk, {} connections, {} s each",
        args.connections, args.seconds
    );
    println!(
        "{:<22} {:<20} {:>9} {:>9} {:>10}",
        "endpoint", "credential", "p50 ms", "p99 ms", "req/s"
    );
    for path in ["/api/v1/users/me", "/api/v1/instances"] {
        for (name, bearer) in [
            ("bootstrap (baseline)", &admin),
            ("API key", &key),
            ("session (JWT)", &token),
        ] {
            let (p50, p99, rps) = wrk(&m.url(path), bearer, args.connections, args.seconds)?;
            println!("{path:<22} {name:<20} {p50:>9.2} {p99:>9.2} {rps:>10.0}");
        }
    }

    // 2. Logins.
    println!("\nlogin (argon2id), {} each, one at a time", args.logins);
    println!("{:<22} {:>9} {:>9}", "attempt", "p50 ms", "p95 ms");
    for (name, username, password, expect) in [
        ("right password", "bench", "bench-password", 200),
        ("wrong password", "bench", "wrong-password", 401),
        ("unknown user", "nobody", "wrong-password", 401),
    ] {
        let mut times = Vec::new();
        for _ in 0..args.logins {
            let started = Instant::now();
            let (status, _) = post(
                &m,
                None,
                "/api/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status == expect, "{name}: {status}");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<22} {:>9.1} {:>9.1}",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
    drop(m);

    // 3. The default limits against a burst.
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let admin = m.options.admin_key.clone();
    let (_, key) = post(
        &m,
        Some(&admin),
        "/api/v1/api-keys",
        &json!({"name": "burst", "scopes": ["read"]}),
    )
    .await;
    let key = key["key"].as_str().unwrap_or_default().to_string();
    let started = Instant::now();
    let answers = futures::future::join_all((0..1500).map(|_| {
        let r = m.client.get(m.url("/api/v1/users/me")).bearer_auth(&key);
        async move { r.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    }))
    .await;
    let elapsed = started.elapsed();
    let ok = answers.iter().filter(|s| **s == 200).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    println!(
        "\nburst of 1500 from one key (defaults 50/s, burst 500): {ok} answered, {limited} got 429, in {:.2} s",
        elapsed.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
