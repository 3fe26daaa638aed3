//! `scripts/bench-conversation`: the conversation round trip — a message pushed to the fake Telegram →
//! the worker → its agent (the fake, OpenAI-compatible, answering at once with `usage`) → the reply
//! seen at the fake — p50/p95/p99 over N messages, through a real worker container, in Telegram's two
//! receive modes; then what the manager recorded of the same exchanges (conversations, agent calls,
//! the agent's latency from its analytics).
//!
//! Replies go out at Telegram's pace (the worker's pacer): one message per second per chat, 30 a second
//! overall. So the round trip is measured four ways: all messages in one chat back to back
//! (bench-providers' figure: the per-chat second dominates; at most 20, Telegram's per-chat minute), a
//! new chat per message back to back (the 31st within a second waits for the overall limit; before the
//! pacer, teloxide's throttle's 250 ms tick showed here), and a new chat per message with a pause between
//! rounds (the pipeline itself), in long polling and in webhook mode (updates POSTed to the manager,
//! which keeps them and hands them to the worker).

use std::time::Duration;

use botfleet_tests::{
    bench::{create, gateway, pct, round_trips_paced},
    fake_agent::FakeAgent,
    fake_telegram::FakeTelegram,
    harness::{self, Manager, ManagerOptions},
};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    about = "Conversation round trip (Telegram → agent → reply) and what the manager recorded"
)]
struct Args {
    /// Messages per mode, one after the other.
    #[arg(long, default_value_t = 50)]
    messages: usize,
    /// Pause between rounds of the paced modes, in ms (50 messages 300 ms apart stay under 30 a second).
    #[arg(long, default_value_t = 300)]
    pause_ms: u64,
}

/// Messages one chat may get per minute (teloxide's `Limits::messages_per_min_chat`).
const ONE_CHAT_PER_MINUTE: usize = 20;

/// How one bot is driven.
struct Mode {
    name: &'static str,
    webhook: bool,
    /// A new chat per message (else all in one chat).
    chat_per_message: bool,
    paced: bool,
}

const MODES: [Mode; 4] = [
    Mode {
        name: "long polling, one chat, back to back",
        webhook: false,
        chat_per_message: false,
        paced: false,
    },
    Mode {
        name: "long polling, a chat per message, back to back",
        webhook: false,
        chat_per_message: true,
        paced: false,
    },
    Mode {
        name: "long polling, a chat per message, paced",
        webhook: false,
        chat_per_message: true,
        paced: true,
    },
    Mode {
        name: "webhook, a chat per message, paced",
        webhook: true,
        chat_per_message: true,
        paced: true,
    },
];

/// Waits until the fake Telegram holds the webhook the bot with `token` registered; its secret token.
async fn webhook_secret(fake: &FakeTelegram, token: &str) -> anyhow::Result<String> {
    for _ in 0..300 {
        if let Some((_, Some(secret))) = fake.webhook(token) {
            return Ok(secret);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the bot never registered its webhook")
}

/// What the manager recorded of the bot, once it has `calls` agent calls: (conversations, agent calls,
/// the agent's mean and p95 latency in ms).
async fn recorded(m: &Manager, id: &str, calls: usize) -> anyhow::Result<(Value, Value)> {
    for _ in 0..300 {
        let (_, analytics) = m.get(&format!("/api/v1/instances/{id}/analytics")).await;
        let summary = &analytics["summary"];
        if summary["agent_calls"].as_u64() == Some(calls as u64) {
            let (_, list) = m
                .get(&format!("/api/v1/instances/{id}/conversations?limit=1"))
                .await;
            return Ok((summary.clone(), list["total"].clone()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the manager never recorded the {calls} agent calls of {id}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (telegram, telegram_url) = harness::start_fake_telegram().await;
    let (_agent, agent_addr) = FakeAgent::start(gateway()).await?;
    let agent = json!({"llm_provider": "openai",
        "llm_url": format!("http://{agent_addr}/openai/v1/chat/completions")});
    let mut options = ManagerOptions::new(&telegram_url).await;
    options.health_interval_secs = 5.0;
    let m = Manager::spawn(options);
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for (n, mode) in MODES.iter().enumerate() {
        let token = telegram.add_bot(7_200_001 + n as u64, &format!("bench_conv{n}_bot"));
        let mut body = json!({"user_id": "bench", "provider": "telegram", "type_instance": ["api"],
            "token": token, "config": agent});
        if mode.webhook {
            body["receive"] = json!("webhook");
        }
        let bot = create(&m, body).await?;
        let hook = m.url(&format!("/api/v1/webhooks/telegram/{}", bot.id));
        let secret = if mode.webhook {
            Some(webhook_secret(&telegram, &token).await?)
        } else {
            None
        };
        let chat = |i: usize| {
            if mode.chat_per_message {
                800_000 + i as i64
            } else {
                800_000
            }
        };
        let replies = || telegram.sent().iter().filter(|s| s.token == token).count();
        let pause = Duration::from_millis(if mode.paced { args.pause_ms } else { 0 });
        // One chat takes at most 20 messages a minute (Telegram's limit, which the worker keeps):
        // more would time the minute.
        let rounds = if mode.chat_per_message {
            args.messages
        } else {
            args.messages.min(ONE_CHAT_PER_MINUTE)
        };
        let push = async |chat: i64, text: String| match &secret {
            Some(secret) => {
                let _ = client
                    .post(&hook)
                    .header("x-telegram-bot-api-secret-token", secret)
                    .json(&telegram.text_update(chat, &text))
                    .send()
                    .await;
            }
            None => telegram.push_text(&token, chat, &text),
        };
        // Once untimed, in a chat of its own, so no round pays for connections being set up.
        round_trips_paced(
            1,
            pause,
            async |_| push(1_000_000, "warm up".into()).await,
            &replies,
        )
        .await?;
        let took = round_trips_paced(
            rounds,
            pause,
            async |i| push(chat(i), format!("question {i}")).await,
            &replies,
        )
        .await?;
        let (summary, conversations) = recorded(&m, &bot.id, rounds + 1).await?;
        results.push((mode.name, took, summary, conversations));
        let _ = m.delete(&format!("/api/v1/instances/{}", bot.id)).await;
    }
    println!(
        "telegram mode (n) | round trip p50 | p95 | p99 | max | manager: conversations, agent calls, agent latency mean / p95"
    );
    for (name, took, summary, conversations) in &results {
        println!(
            "{name} ({}) | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {conversations}, {}, {:.2} / {:.2} ms",
            took.len(),
            pct(took, 0.5),
            pct(took, 0.95),
            pct(took, 0.99),
            took[took.len() - 1],
            summary["agent_calls"],
            summary["avg_latency_ms"].as_f64().unwrap_or(0.0),
            summary["p95_latency_ms"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}
