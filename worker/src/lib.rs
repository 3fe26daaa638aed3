//! The botfleet worker: runs one bot, serves its per-instance REST API, and stops cleanly on SIGTERM.

pub mod api;
pub mod auth;
pub mod backlog;
pub mod bot;
pub mod config;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod live_config;
pub mod mcp_server;
pub mod provider;
pub mod seen;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod webhook;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::{bot::Bot, config::Config, shutdown::ShutdownSignal, state::BotStatus};

/// Starts the API server and the bot, and returns when a termination signal has stopped both.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.listen_host.as_str(), config.port)).await?;
    tracing::info!(
        instance_id = %config.instance_id,
        addr = %listener.local_addr()?,
        "worker API listening"
    );
    let mcp_listener = match config.mcp_port {
        Some(port) => {
            let listener = TcpListener::bind((config.listen_host.as_str(), port)).await?;
            tracing::info!(addr = %listener.local_addr()?, "worker MCP server listening");
            Some(listener)
        }
        None => None,
    };
    let status = Arc::new(BotStatus::default());
    let seen_path = config.data_dir.as_ref().map(|d| d.join("seen.json"));
    let seen = Arc::new(match &seen_path {
        Some(path) => seen::Seen::load(path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the saved chats; starting afresh");
            seen::Seen::default()
        }),
        None => seen::Seen::default(),
    });
    let events = Arc::new(match &config.data_dir {
        Some(dir) => events::EventLog::open(dir.join("events.jsonl"))
            .map_err(|e| anyhow::anyhow!("cannot keep events in {}: {e}", dir.display()))?,
        None => events::EventLog::default(),
    });
    let initial = match config.bot_config.as_deref() {
        None => shared::worker_api::WorkerBotConfig::default(),
        Some(json) => {
            shared::http::parse_json::<shared::worker_api::WorkerBotConfig>(json.as_bytes())
                .map_err(|e| {
                    anyhow::anyhow!("the bot configuration is refused: {}", e.body.error)
                })?
        }
    };
    let live_config = Arc::new(live_config::LiveConfig::new(
        initial,
        config.instance_id.clone(),
        netguard::Outbound::new(config.outbound_policy())?,
    ));
    let provider = provider::build(&config)?;
    let bot = Bot::new(
        provider,
        status.clone(),
        seen.clone(),
        events.clone(),
        live_config,
    );
    let job_store = match &config.data_dir {
        Some(dir) => Some(
            jobs::JobStore::open(dir.join("jobs"))
                .map_err(|e| anyhow::anyhow!("cannot use {} for jobs: {e}", dir.display()))?,
        ),
        None => None,
    };
    let jobs = Arc::new(jobs::Jobs::new(job_store));
    let sent_keys = Arc::new(match &config.data_dir {
        Some(dir) => idempotency::SentKeys::open(dir.join("idempotency.jsonl")).map_err(|e| {
            anyhow::anyhow!("cannot keep idempotency keys in {}: {e}", dir.display())
        })?,
        None => idempotency::SentKeys::default(),
    });
    resume_jobs(&jobs, &bot, &status);
    let shutdown = ShutdownSignal::install()?;
    let state = api::AppState {
        status: status.clone(),
        seen: seen.clone(),
        jobs,
        events,
        webhook: Arc::default(),
        bot: bot.clone(),
        keys: auth::AcceptedKeys::from_config(&config)?,
        provider: config.provider.clone(),
        shutdown: shutdown.clone(),
        backlog: Arc::default(),
        sent_keys,
    };
    let app = api::router(state.clone());
    let mcp_server = mcp_listener.map(|listener| {
        let router = mcp_server::router(state, config.instance_id.clone(), app.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.wait().await })
                .await
        })
    });

    let keeper = seen_path.map(|path| {
        let shutdown = shutdown.clone();
        tokio::spawn(
            seen.clone()
                .keep(path, SEEN_SAVE_EVERY, async move { shutdown.wait().await }),
        )
    });
    let bot_task = tokio::spawn(bot.clone().run(shutdown.clone()));
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    server.await?;
    if let Some(mcp_server) = mcp_server {
        mcp_server.await??;
    }
    status.set_stopping();
    // The bot task sees the same signal; give it a moment to stop its polling loop.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), bot_task).await;
    if let Some(keeper) = keeper {
        let _ = keeper.await;
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// How often what the bot has seen is saved to the data directory (when it changed; at shutdown too): a
/// worker that is killed loses at most this much of it; the manager's store has everything anyway.
const SEEN_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Finishes the bulk jobs an earlier run of this worker left unfinished, once the bot is connected.
fn resume_jobs(jobs: &Arc<jobs::Jobs>, bot: &Bot, status: &Arc<BotStatus>) {
    for (id, template, pending) in jobs.load() {
        tracing::info!(job_id = %id, remaining = pending.len(), "resuming a bulk job");
        let (jobs, bot, status) = (jobs.clone(), bot.clone(), status.clone());
        tokio::spawn(async move {
            while !status.is_healthy() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            jobs.run(id, bot, template, pending).await;
        });
    }
}
