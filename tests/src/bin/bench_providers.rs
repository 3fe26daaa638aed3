//! `scripts/bench-providers`: per provider, message in → the agent's reply out (p50, p95) through a real
//! worker container against the provider's fake and the fake agent, and the worker's idle memory.
//! Telegram polls, Slack holds a Socket Mode websocket, Discord its gateway, WhatsApp receives signed
//! callbacks through the manager.

use std::time::Duration;

use botfleet_tests::{
    bench::{create, gateway, pct, round_trips},
    fake_agent::FakeAgent,
    fake_discord::FakeDiscord,
    fake_slack::FakeSlack,
    fake_whatsapp::FakeWhatsapp,
    harness::{self, Manager, ManagerOptions},
};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Per-provider round trip and idle memory")]
struct Args {
    /// Messages per provider, one after the other.
    #[arg(long, default_value_t = 20)]
    messages: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (telegram, telegram_url) = harness::start_fake_telegram().await;
    let (slack, slack_addr) = FakeSlack::start(gateway()).await?;
    let (whatsapp, whatsapp_addr) = FakeWhatsapp::start(gateway()).await?;
    let (discord, discord_addr) = FakeDiscord::start(gateway()).await?;
    let (_agent, agent_addr) = FakeAgent::start(gateway()).await?;
    let agent = json!({"kind": "webhook", "url": format!("http://{agent_addr}/webhook")});
    let mut options = ManagerOptions::new(&telegram_url).await;
    options.health_interval_secs = 5.0;
    options.env.extend([
        (
            "BOTFLEET_SLACK_API_URL".into(),
            format!("http://{slack_addr}/api/"),
        ),
        (
            "BOTFLEET_WHATSAPP_API_URL".into(),
            format!("http://{whatsapp_addr}/v21.0"),
        ),
        (
            "BOTFLEET_DISCORD_API_URL".into(),
            format!("http://{discord_addr}/api"),
        ),
        (
            "BOTFLEET_DISCORD_GATEWAY_URL".into(),
            format!("ws://{discord_addr}"),
        ),
    ]);
    let m = Manager::spawn(options);
    let base = |provider: &str| json!({"user_id": "bench", "provider": provider, "type_instance": ["api"], "agno_config": agent});
    let mut results = Vec::new();

    let token = telegram.add_bot(7_100_001, "bench_rt_bot");
    let mut body = base("telegram");
    body["token"] = json!(token);
    let tg = create(&m, body).await?;
    let chat = 555_001;
    let tg_replies = || {
        telegram
            .sent()
            .iter()
            .filter(|s| s.token == token && s.chat_id == json!(chat))
            .count()
    };
    let took = round_trips(
        args.messages,
        async |i| telegram.push_text(&token, chat, &format!("m{i}")),
        tg_replies,
    )
    .await?;
    results.push(("telegram (long polling)", tg.id.clone(), took));

    let app = slack.add_app("benchbot");
    let channel = slack.add_channel("bench", false);
    let user = slack.add_user("Bench");
    let mut body = base("slack");
    body["credentials"] = json!({"bot_token": app.bot_token, "app_token": app.app_token});
    let sl = create(&m, body).await?;
    let sl_replies = || {
        slack
            .posted()
            .iter()
            .filter(|p| p.app_id == app.app_id && p.channel == channel)
            .count()
    };
    let took = round_trips(
        args.messages,
        async |i| {
            slack.push_message(&app, &channel, &user, &format!("m{i}"));
        },
        sl_replies,
    )
    .await?;
    results.push(("slack (Socket Mode)", sl.id.clone(), took));

    let number = whatsapp.add_number("Bench");
    let mut body = base("whatsapp");
    body["credentials"] = number.credentials_json();
    let wa = create(&m, body).await?;
    whatsapp
        .subscribe(
            &number,
            &m.url(&format!("/api/v1/webhooks/whatsapp/{}", wa.id)),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    let wa_replies = || whatsapp.sent_by(&number.phone_number_id).len();
    // One sender per message: WhatsApp paces replies to one user (1 per 6 s after a burst).
    let took = round_trips(
        args.messages,
        async |i| {
            let _ = whatsapp
                .push_text(&number, &format!("1555{i:07}"), "Bench", "hi")
                .await;
        },
        wa_replies,
    )
    .await?;
    results.push(("whatsapp (callbacks via the manager)", wa.id.clone(), took));

    let token = discord.add_bot("benchbot");
    let guild = discord.add_guild(&token, "Bench");
    // Discord allows a channel 5 messages per 5 s; the fake allows more here, so the figure is the round
    // trip and not Discord's pacing.
    discord.set_message_limit(1000, Duration::from_secs(1));
    let mut body = base("discord");
    body["credentials"] = json!({"bot_token": token});
    let dc = create(&m, body).await?;
    let dc_replies = || discord.sent().len();
    let took = round_trips(
        args.messages,
        async |i| {
            discord.push_message(guild.general, &format!("m{i}"));
        },
        dc_replies,
    )
    .await?;
    results.push(("discord (gateway)", dc.id.clone(), took));

    // Idle: nothing arrives for a while; the worker only keeps its link alive.
    tokio::time::sleep(Duration::from_secs(20)).await;
    println!("provider | in → reply out p50 | p95 | max | worker idle memory");
    for (name, id, took) in &results {
        let memory = m
            .worker_container(id)
            .map(|c| harness::container_memory_mib(&c))
            .unwrap_or(0.0);
        println!(
            "{name} | {:.1} ms | {:.1} ms | {:.1} ms | {memory:.2} MiB",
            pct(took, 0.5),
            pct(took, 0.95),
            took[took.len() - 1]
        );
    }
    for (_, id, _) in &results {
        let _ = m.delete(&format!("/api/v1/instances/{id}")).await;
    }
    Ok(())
}
