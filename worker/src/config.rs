//! The worker's configuration, given by the manager through environment variables.

use clap::Parser;
use shared::env;

use crate::telemetry::LogFormat;

/// One botfleet worker: a single bot and its REST API.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Id of the instance this worker runs.
    #[arg(long, env = env::INSTANCE_ID)]
    pub instance_id: String,
    /// Messaging provider (only `telegram` today).
    #[arg(long, env = env::PROVIDER, default_value = "telegram")]
    pub provider: String,
    /// The bot token; never logged.
    #[arg(long, env = env::BOT_TOKEN, hide_env_values = true)]
    pub bot_token: String,
    /// Hex SHA-256 of the instance API key that callers present as a bearer token.
    #[arg(long, env = env::API_KEY_SHA256)]
    pub api_key_sha256: String,
    /// Hex SHA-256 of the manager's control key (also accepted as a bearer token).
    #[arg(long, env = env::CONTROL_KEY_SHA256)]
    pub control_key_sha256: Option<String>,
    /// Port of the REST API.
    #[arg(long, env = env::PORT, default_value_t = 8080)]
    pub port: u16,
    /// Address the REST API binds.
    #[arg(long, env = "BOTFLEET_LISTEN_HOST", default_value = "0.0.0.0")]
    pub listen_host: String,
    /// Base URL of the Telegram Bot API.
    #[arg(long, env = env::TELEGRAM_API_URL, default_value = "https://api.telegram.org")]
    pub telegram_api_url: String,
    /// The agent configuration (JSON, the instance's `agno_config`); no agent when unset.
    /// Where jobs and the seen chats are kept across restarts; without it they live in memory only.
    #[arg(long, env = env::DATA_DIR)]
    pub data_dir: Option<std::path::PathBuf>,

    #[arg(long, env = env::AGENT_CONFIG, hide_env_values = true)]
    pub agent_config: Option<String>,
    /// Log line format.
    #[arg(long, env = "BOTFLEET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}
