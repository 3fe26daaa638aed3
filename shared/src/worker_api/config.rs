//! `PUT /api/v1/control/config`: the bot's configuration as the manager hands it to the worker — at start
//! (in the `BOTFLEET_BOT_CONFIG` file) and whenever it changes (over the control channel, no new
//! container).

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::agent::BotConfig;

/// What the worker runs by: the configuration's revision, whether the bot is paused, and the bot
/// configuration (with its LLM key: only the manager's control key reaches this).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkerBotConfig {
    /// Grows with every change the manager stores; the worker reports the one it holds in `/status`.
    #[garde(skip)]
    pub revision: i64,
    /// A paused bot receives nothing (what arrives is acknowledged and dropped) and answers nothing.
    #[serde(default)]
    #[garde(skip)]
    pub paused: bool,
    #[serde(default)]
    #[garde(dive)]
    pub bot: Option<BotConfig>,
}

/// The answer of `PUT /api/v1/control/config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigApplied {
    /// The revision the worker now runs by.
    pub revision: i64,
    pub paused: bool,
    /// Whether an agent answers the bot's chats.
    pub agent: bool,
}
