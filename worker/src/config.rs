//! The worker's configuration, given by the manager through environment variables. A secret may come
//! from a file instead: `BOTFLEET_BOT_TOKEN_FILE=/run/secrets/bot_token` (the Swarm runtime mounts Docker
//! secrets there) stands for `BOTFLEET_BOT_TOKEN`, and likewise for every name in
//! [`shared::env::FROM_FILE`]. The file wins when both are set.

use std::{ffi::OsString, path::PathBuf};

use clap::{CommandFactory, Parser};
use shared::env;

use crate::telemetry::LogFormat;

/// One botfleet worker: a single bot and its REST API.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Id of the instance this worker runs.
    #[arg(long, env = env::INSTANCE_ID)]
    pub instance_id: String,
    /// Messaging provider: telegram, discord, slack or whatsapp (the credentials name it too).
    #[arg(long, env = env::PROVIDER, default_value = "telegram")]
    pub provider: String,
    /// Telegram's bot token alone (the same as `--credentials '{"provider":"telegram","token":…}'`);
    /// never logged.
    #[arg(long, env = env::BOT_TOKEN, hide_env_values = true)]
    pub bot_token: Option<String>,
    /// The bot's credentials as JSON tagged with its provider; never logged.
    #[arg(long, env = env::CREDENTIALS, hide_env_values = true)]
    pub credentials: Option<String>,
    /// Hex SHA-256 of the instance API key that callers present as a bearer token.
    #[arg(long, env = env::API_KEY_SHA256)]
    pub api_key_sha256: String,
    /// Hex SHA-256 of the manager's control key (also accepted as a bearer token).
    #[arg(long, env = env::CONTROL_KEY_SHA256)]
    pub control_key_sha256: Option<String>,
    /// Port of the REST API.
    #[arg(long, env = env::PORT, default_value_t = 8080)]
    pub port: u16,
    /// Port of the MCP server (`/mcp`, the same keys as the REST API); none when unset.
    #[arg(long, env = env::MCP_PORT)]
    pub mcp_port: Option<u16>,
    /// Address the REST API (and the MCP server) binds.
    #[arg(long, env = "BOTFLEET_LISTEN_HOST", default_value = "0.0.0.0")]
    pub listen_host: String,
    /// Base URL of the Telegram Bot API.
    #[arg(long, env = env::TELEGRAM_API_URL, default_value = "https://api.telegram.org")]
    pub telegram_api_url: String,
    /// Telegram webhook mode: the URL Telegram calls (the manager's); polling when unset. The secret
    /// token comes from the control-key digest (`shared::secret::telegram_webhook_secret`).
    #[arg(long, env = env::TELEGRAM_WEBHOOK_URL, requires = "control_key_sha256")]
    pub telegram_webhook_url: Option<String>,
    /// Base URL of Discord's REST API.
    #[arg(long, env = env::DISCORD_API_URL, default_value = "https://discord.com/api")]
    pub discord_api_url: String,
    /// Discord's gateway (websocket) URL.
    #[arg(long, env = env::DISCORD_GATEWAY_URL, default_value = "wss://gateway.discord.gg")]
    pub discord_gateway_url: String,
    /// Base URL of Slack's Web API.
    #[arg(long, env = env::SLACK_API_URL, default_value = "https://slack.com/api/")]
    pub slack_api_url: String,
    /// Base URL of the WhatsApp Cloud (Graph) API.
    #[arg(long, env = env::WHATSAPP_API_URL, default_value = "https://graph.facebook.com/v21.0")]
    pub whatsapp_api_url: String,
    /// Where jobs and the seen chats are kept across restarts; without it they live in memory only.
    #[arg(long, env = env::DATA_DIR)]
    pub data_dir: Option<std::path::PathBuf>,
    /// The bot's configuration at start (JSON `shared::worker_api::WorkerBotConfig`: revision, paused,
    /// the bot configuration with its agent); no agent when unset.
    #[arg(long, env = env::BOT_CONFIG, hide_env_values = true)]
    pub bot_config: Option<String>,
    /// Log line format.
    #[arg(long, env = "BOTFLEET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Networks (CIDR, comma-separated) the agent may be reached at although they are loopback,
    /// link-local or private; the manager passes its own `--outbound-allow`. Default: none.
    #[arg(long, env = env::OUTBOUND_ALLOW, default_value = "")]
    pub outbound_allow: netguard::Networks,
    /// Networks the agent is never reached at (the manager's `--outbound-deny`). Default: none.
    #[arg(long, env = env::OUTBOUND_DENY, default_value = "")]
    pub outbound_deny: netguard::Networks,
}

/// A `<NAME>_FILE` variable whose file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: cannot read {}: {source}", path.display())]
pub struct FileError {
    variable: String,
    path: PathBuf,
    source: std::io::Error,
}

/// The credentials given neither way, or badly.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials: give --credentials (BOTFLEET_CREDENTIALS) or, for Telegram, --bot-token"
    )]
    Missing,
    /// serde's message is not shown: it may quote the secret.
    #[error(
        "the credentials are not valid JSON of a known provider (at line {line}, column {column})"
    )]
    Malformed { line: usize, column: usize },
}

impl Config {
    /// Where the agent may be reached.
    pub fn outbound_policy(&self) -> netguard::Policy {
        netguard::Policy::new(self.outbound_allow.clone(), self.outbound_deny.clone())
    }

    /// The bot's credentials: `--credentials`, or the Telegram token alone.
    pub fn credentials(&self) -> Result<shared::api::credentials::Credentials, CredentialsError> {
        use shared::api::credentials::{Credentials, TelegramCredentials};
        match (&self.credentials, &self.bot_token) {
            (Some(json), _) => {
                serde_json::from_str(json).map_err(|e| CredentialsError::Malformed {
                    line: e.line(),
                    column: e.column(),
                })
            }
            (None, Some(token)) => Ok(Credentials::Telegram(TelegramCredentials {
                token: token.clone(),
            })),
            (None, None) => Err(CredentialsError::Missing),
        }
    }

    /// The configuration from the command line and the environment, secrets given as files included;
    /// exits with clap's message on a bad argument (and prints `--help`).
    pub fn load() -> Result<Self, FileError> {
        let from_files = file_args(|name| std::env::var_os(name))?;
        Ok(Self::parse_from(std::env::args_os().chain(from_files)))
    }
}

/// Command-line arguments (`--bot-token=<file content>`) for every `<NAME>_FILE` variable that `lookup`
/// finds. Arguments outrank environment variables, so a file wins over a plain variable; the values never
/// leave this process (nothing is executed with them).
pub fn file_args(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Vec<OsString>, FileError> {
    let command = Config::command();
    let mut args = Vec::new();
    for name in env::FROM_FILE {
        let variable = format!("{name}{}", env::FILE_SUFFIX);
        let Some(path) = lookup(&variable).map(PathBuf::from) else {
            continue;
        };
        let value = std::fs::read_to_string(&path).map_err(|source| FileError {
            variable: variable.clone(),
            path: path.clone(),
            source,
        })?;
        let long = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .and_then(|a| a.get_long())
            .expect("every FROM_FILE variable is a flag of the worker");
        // `echo value > file` adds a newline; no value here ends in one.
        let value = value.trim_end_matches(['\n', '\r']);
        args.push(OsString::from(format!("--{long}={value}")));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(env_files: &HashMap<String, OsString>) -> Result<Config, String> {
        let extra = file_args(|name| env_files.get(name).cloned()).map_err(|e| e.to_string())?;
        let base = ["worker", "--instance-id", "i"].map(OsString::from);
        Config::try_parse_from(base.into_iter().chain(extra)).map_err(|e| e.to_string())
    }

    #[test]
    fn secrets_are_read_from_files() {
        let dir = std::env::temp_dir().join(format!("worker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, value: &str| {
            let path = dir.join(name);
            std::fs::write(&path, value).unwrap();
            path.into_os_string()
        };
        let digest = "a".repeat(64);
        let files = HashMap::from([
            (
                "BOTFLEET_BOT_TOKEN_FILE".to_string(),
                write("token", "123:abc\n"),
            ),
            (
                "BOTFLEET_API_KEY_SHA256_FILE".to_string(),
                write("key", &digest),
            ),
            (
                "BOTFLEET_CONTROL_KEY_SHA256_FILE".to_string(),
                write("ctl", &digest),
            ),
            (
                "BOTFLEET_BOT_CONFIG_FILE".to_string(),
                write(
                    "agent",
                    r#"{"revision": 1, "bot": {"model": "m", "api_key": "k=v"}}"#,
                ),
            ),
        ]);
        let config = parse(&files).unwrap();
        assert_eq!(
            config.bot_token.as_deref(),
            Some("123:abc"),
            "the trailing newline is dropped"
        );
        assert_eq!(config.api_key_sha256, digest);
        assert_eq!(config.control_key_sha256.as_deref(), Some(digest.as_str()));
        assert_eq!(
            config.bot_config.as_deref(),
            Some(r#"{"revision": 1, "bot": {"model": "m", "api_key": "k=v"}}"#)
        );
        assert!(matches!(
            config.credentials(),
            Ok(shared::api::credentials::Credentials::Telegram(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_named_and_nothing_else_is_needed_without_files() {
        let files = HashMap::from([(
            "BOTFLEET_BOT_TOKEN_FILE".to_string(),
            OsString::from("/nonexistent/bot_token"),
        )]);
        let error = parse(&files).err().unwrap();
        assert!(
            error.contains("BOTFLEET_BOT_TOKEN_FILE") && error.contains("/nonexistent/bot_token"),
            "{error}"
        );
        // Without any file variable, the arguments are left as they are (here: the key digest is missing).
        let error = parse(&HashMap::new()).err().unwrap();
        assert!(error.contains("--api-key-sha256"), "{error}");
    }
}
