//! Names of the environment variables through which the manager configures a worker container.

pub const INSTANCE_ID: &str = "BOTFLEET_INSTANCE_ID";
pub const PROVIDER: &str = "BOTFLEET_PROVIDER";
/// Telegram's bot token alone (what workers before the provider seam took); [`CREDENTIALS`] says more.
pub const BOT_TOKEN: &str = "BOTFLEET_BOT_TOKEN";
/// The bot's credentials as JSON, tagged with the provider (`shared::api::credentials::Credentials`).
pub const CREDENTIALS: &str = "BOTFLEET_CREDENTIALS";
/// Hex SHA-256 of the instance API key given to the user; the key itself never reaches the worker.
pub const API_KEY_SHA256: &str = "BOTFLEET_API_KEY_SHA256";
/// Hex SHA-256 of the manager's per-instance control key, used by the health poller for `/status`.
pub const CONTROL_KEY_SHA256: &str = "BOTFLEET_CONTROL_KEY_SHA256";
pub const PORT: &str = "BOTFLEET_PORT";
/// The port the worker serves its MCP server on (`type_instance` holds `mcp`); no MCP server when unset.
pub const MCP_PORT: &str = "BOTFLEET_MCP_PORT";
pub const TELEGRAM_API_URL: &str = "BOTFLEET_TELEGRAM_API_URL";
/// Where Telegram calls in webhook mode (the manager's `/api/v1/webhooks/telegram/{id}`); polling when
/// unset.
pub const TELEGRAM_WEBHOOK_URL: &str = "BOTFLEET_TELEGRAM_WEBHOOK_URL";
pub const DISCORD_API_URL: &str = "BOTFLEET_DISCORD_API_URL";
pub const DISCORD_GATEWAY_URL: &str = "BOTFLEET_DISCORD_GATEWAY_URL";
pub const SLACK_API_URL: &str = "BOTFLEET_SLACK_API_URL";
pub const WHATSAPP_API_URL: &str = "BOTFLEET_WHATSAPP_API_URL";
/// The bot's configuration at start (`shared::worker_api::WorkerBotConfig` JSON: revision, paused, the
/// bot configuration with its agent); later changes come over the control channel.
pub const BOT_CONFIG: &str = "BOTFLEET_BOT_CONFIG";
/// Networks the worker's outbound requests (its agent) may reach although they are not public
/// (`127.0.0.0/8,10.0.0.0/8`); the manager passes its own `--outbound-allow`. Empty: none.
pub const OUTBOUND_ALLOW: &str = "BOTFLEET_OUTBOUND_ALLOW";
/// Networks the worker's outbound requests never reach, public or allowed (`--outbound-deny`). Empty:
/// none.
pub const OUTBOUND_DENY: &str = "BOTFLEET_OUTBOUND_DENY";
/// A directory that outlives the container (the manager mounts a per-instance volume there): bulk jobs
/// and what the bot has seen are kept in it.
pub const DATA_DIR: &str = "BOTFLEET_DATA_DIR";

/// Suffix of the variable that names a file holding a value instead of the value itself
/// (`BOTFLEET_BOT_TOKEN_FILE=/run/secrets/bot_token`): the Swarm runtime hands secrets over as files.
pub const FILE_SUFFIX: &str = "_FILE";

/// The variables a worker also reads from a file (`<NAME>_FILE`): the secrets and what is kept with them.
pub const FROM_FILE: [&str; 5] = [
    BOT_TOKEN,
    CREDENTIALS,
    API_KEY_SHA256,
    CONTROL_KEY_SHA256,
    BOT_CONFIG,
];
