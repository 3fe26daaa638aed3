//! `scripts/bench-mcp`: the MCP tool-call round trip, p50/p99 over N calls, against a real worker
//! container and the real manager, beside the REST call each tool makes (the baseline), in one run:
//!
//! - through the official Python SDK (`tests/mcp/client.py`): what an assistant's client sees, its own
//!   overhead included;
//! - as raw JSON-RPC over HTTP (`tools/call` POSTed with reqwest, each call on its own, as the
//!   stateless server allows): the server's cost without a client library's;
//! - the REST route itself with reqwest.
//!
//! Tools: the bot's `get_status` (no platform call), its `send_message` (reaches the fake Telegram; a
//! new chat per call, as one chat takes one message a second), and the manager's `get_instance`.

use std::time::Instant;

use botfleet_tests::{
    bench::{create, gateway, pct},
    fake_telegram::FakeTelegram,
    harness::{self, Manager, ManagerOptions},
    mcp_client,
};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "MCP tool-call round trip (bot and fleet), beside the REST call it makes")]
struct Args {
    /// Calls per measurement.
    #[arg(long, default_value_t = 200)]
    calls: usize,
}

fn summary(name: &str, mut millis: Vec<f64>) {
    millis.sort_by(f64::total_cmp);
    println!(
        "{name:<58} p50 {:>7.2} ms   p99 {:>7.2} ms   (n={})",
        pct(&millis, 0.5),
        pct(&millis, 0.99),
        millis.len()
    );
}

/// One `tools/call` as raw JSON-RPC; the answer's `result`.
async fn raw_call(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    id: usize,
    tool: &str,
    args: Value,
) -> anyhow::Result<Value> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(
        status.is_success() && answer["result"]["isError"] != true && answer.get("error").is_none(),
        "{tool}: {status} {answer}"
    );
    Ok(answer["result"].clone())
}

async fn time_raw(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    n: usize,
    tool: &str,
    args: impl Fn(usize) -> Value,
) -> anyhow::Result<Vec<f64>> {
    let mut millis = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        raw_call(http, url, key, i, tool, args(i)).await?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(millis)
}

async fn time_rest(
    n: usize,
    call: impl AsyncFn(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut millis = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        call(i).await?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(millis)
}

fn sdk_millis(out: &Value, step: usize) -> anyhow::Result<Vec<f64>> {
    let millis = out["results"][step]["millis"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("the SDK run failed: {out}"))?;
    Ok(millis.iter().filter_map(Value::as_f64).collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.calls;
    let (tg, tg_addr) = FakeTelegram::start(gateway()).await?;
    let tg_url = format!("http://{tg_addr}");
    let options = ManagerOptions::new(&tg_url).await;
    let admin_key = options.admin_key.clone();
    let m = Manager::spawn(options);
    let token = tg.add_bot(1_950_001, "bench_mcp_bot");
    let mut body = harness::create_body("bench", &token);
    body["type_instance"] = json!(["api", "mcp"]);
    let bot = create(&m, body).await?;
    let (_, credentials) = m
        .get(&format!("/api/v1/instances/{}/credentials", bot.id))
        .await;
    let mcp_port = credentials["ports"]["mcp"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no MCP port: {credentials}"))?;
    let bot_mcp = format!("http://127.0.0.1:{mcp_port}/mcp");
    let fleet_mcp = m.url("/mcp");
    let http = reqwest::Client::new();
    println!("MCP tool-call round trip, {n} calls each, one after the other\n");

    // Warm up every path once.
    raw_call(&http, &bot_mcp, &bot.api_key, 0, "get_status", json!({})).await?;
    raw_call(
        &http,
        &fleet_mcp,
        &admin_key,
        0,
        "get_instance",
        json!({"instance_id": bot.id}),
    )
    .await?;

    let sdk = mcp_client::run(
        &bot_mcp,
        &bot.api_key,
        json!([
            {"op": "time_calls", "tool": "get_status", "n": n},
            {"op": "time_calls", "tool": "send_message", "args": {"message": "bench"}, "n": n, "chat_from": 100_000},
        ]),
    )
    .await;
    let fleet_sdk = mcp_client::run(
        &fleet_mcp,
        &admin_key,
        json!([{"op": "time_calls", "tool": "get_instance", "args": {"instance_id": bot.id}, "n": n}]),
    )
    .await;

    let status_url = format!("{}/status", bot.worker_url);
    let rest_status = time_rest(n, async |_| {
        let r = http
            .get(&status_url)
            .bearer_auth(&bot.api_key)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{}", r.status());
        Ok(())
    })
    .await?;
    let raw_status = time_raw(
        &http,
        &bot_mcp,
        &bot.api_key,
        n,
        "get_status",
        |_| json!({}),
    )
    .await?;

    let send_url = format!("{}/send", bot.worker_url);
    let rest_send = time_rest(n, async |i| {
        let r = http
            .post(&send_url)
            .bearer_auth(&bot.api_key)
            .json(&json!({"chatId": (200_000 + i).to_string(), "message": "bench"}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{}", r.status());
        Ok(())
    })
    .await?;
    let raw_send = time_raw(
        &http,
        &bot_mcp,
        &bot.api_key,
        n,
        "send_message",
        |i| json!({"chatId": (300_000 + i).to_string(), "message": "bench"}),
    )
    .await?;

    let instance_url = m.url(&format!("/api/v1/instances/{}", bot.id));
    let rest_instance = time_rest(n, async |_| {
        let r = http
            .get(&instance_url)
            .bearer_auth(&admin_key)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{}", r.status());
        Ok(())
    })
    .await?;
    let raw_instance = time_raw(
        &http,
        &fleet_mcp,
        &admin_key,
        n,
        "get_instance",
        |_| json!({"instance_id": bot.id}),
    )
    .await?;

    println!("bot get_status");
    summary("  REST GET /api/v1/status (baseline)", rest_status);
    summary("  MCP tools/call, raw JSON-RPC", raw_status);
    summary(
        "  MCP tools/call, official Python SDK",
        sdk_millis(&sdk, 0)?,
    );
    println!("bot send_message (to the fake Telegram, a new chat per call)");
    summary("  REST POST /api/v1/send (baseline)", rest_send);
    summary("  MCP tools/call, raw JSON-RPC", raw_send);
    summary(
        "  MCP tools/call, official Python SDK",
        sdk_millis(&sdk, 1)?,
    );
    println!("fleet get_instance (manager /mcp)");
    summary(
        "  REST GET /api/v1/instances/{id} (baseline)",
        rest_instance,
    );
    summary("  MCP tools/call, raw JSON-RPC", raw_instance);
    summary(
        "  MCP tools/call, official Python SDK",
        sdk_millis(&fleet_sdk, 0)?,
    );
    let sent = tg.sent().iter().filter(|s| s.text == "bench").count();
    println!(
        "\nmessages the fake Telegram received: {sent} (expected {})",
        3 * n
    );
    Ok(())
}
