//! The bot's configuration as it is now: the revision the manager last sent, whether the bot is paused,
//! and its agent. Read at start from `BOTFLEET_BOT_CONFIG`, replaced whole by `PUT /api/v1/control/config`
//! (no restart: the agent is swapped in place and the chats keep their context).

use std::sync::{
    Arc, RwLock,
    atomic::{AtomicBool, Ordering},
};

use agent::AgentBridge;
use shared::worker_api::{ConfigApplied, WorkerBotConfig};

pub struct LiveConfig {
    revision: RwLock<i64>,
    paused: AtomicBool,
    bridge: Arc<AgentBridge>,
}

impl LiveConfig {
    pub fn new(initial: WorkerBotConfig, instance_id: String, http: netguard::Outbound) -> Self {
        let agent = initial.bot.as_ref().and_then(|b| b.active());
        Self {
            revision: RwLock::new(initial.revision),
            paused: AtomicBool::new(initial.paused),
            bridge: Arc::new(AgentBridge::new(agent, instance_id, http)),
        }
    }

    /// Runs by `config` from now on, unless it is older than the one it runs by (two pushes crossed).
    pub fn apply(&self, config: WorkerBotConfig) -> ConfigApplied {
        let mut revision = self.revision.write().unwrap_or_else(|e| e.into_inner());
        if config.revision < *revision {
            return ConfigApplied {
                revision: *revision,
                paused: self.paused(),
                agent: self.has_agent(),
            };
        }
        self.bridge
            .reconfigure(config.bot.as_ref().and_then(|b| b.active()));
        self.paused.store(config.paused, Ordering::SeqCst);
        *revision = config.revision;
        tracing::info!(
            revision = config.revision,
            paused = config.paused,
            agent = self.has_agent(),
            "configuration applied"
        );
        ConfigApplied {
            revision: config.revision,
            paused: config.paused,
            agent: self.has_agent(),
        }
    }

    pub fn revision(&self) -> i64 {
        *self.revision.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn has_agent(&self) -> bool {
        self.bridge.client().is_some()
    }

    /// The agent bridge (it answers nothing while no agent is configured).
    pub fn bridge(&self) -> &Arc<AgentBridge> {
        &self.bridge
    }
}
