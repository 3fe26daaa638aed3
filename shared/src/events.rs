//! Every event type botfleet records, logs, streams and delivers to webhooks, as one enum.

use serde::{Deserialize, Serialize};

/// The type of an event, written as `<subject>.<what>` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A message the bot received.
    #[serde(rename = "message.in")]
    MessageIn,
    /// A message the bot sent.
    #[serde(rename = "message.out")]
    MessageOut,
    /// The bot's connection changed: connected, token refused, polling again.
    #[serde(rename = "bot.status")]
    BotStatus,
    /// Something failed in the bot: a poll, the agent, a reply.
    #[serde(rename = "bot.error")]
    BotError,
    #[serde(rename = "instance.created")]
    InstanceCreated,
    #[serde(rename = "instance.started")]
    InstanceStarted,
    #[serde(rename = "instance.stopped")]
    InstanceStopped,
    #[serde(rename = "instance.crashed")]
    InstanceCrashed,
    #[serde(rename = "instance.restarted")]
    InstanceRestarted,
    #[serde(rename = "instance.failed")]
    InstanceFailed,
    #[serde(rename = "instance.adopted")]
    InstanceAdopted,
    #[serde(rename = "instance.recreated")]
    InstanceRecreated,
    #[serde(rename = "instance.degraded")]
    InstanceDegraded,
    #[serde(rename = "instance.config_changed")]
    InstanceConfigChanged,
    #[serde(rename = "instance.key_rotated")]
    InstanceKeyRotated,
    #[serde(rename = "instance.paused")]
    InstancePaused,
    #[serde(rename = "instance.activated")]
    InstanceActivated,
    #[serde(rename = "instance.deleted")]
    InstanceDeleted,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        Self::MessageIn,
        Self::MessageOut,
        Self::BotStatus,
        Self::BotError,
        Self::InstanceCreated,
        Self::InstanceStarted,
        Self::InstanceStopped,
        Self::InstanceCrashed,
        Self::InstanceRestarted,
        Self::InstanceFailed,
        Self::InstanceAdopted,
        Self::InstanceRecreated,
        Self::InstanceDegraded,
        Self::InstanceConfigChanged,
        Self::InstanceKeyRotated,
        Self::InstancePaused,
        Self::InstanceActivated,
        Self::InstanceDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageIn => "message.in",
            Self::MessageOut => "message.out",
            Self::BotStatus => "bot.status",
            Self::BotError => "bot.error",
            Self::InstanceCreated => "instance.created",
            Self::InstanceStarted => "instance.started",
            Self::InstanceStopped => "instance.stopped",
            Self::InstanceCrashed => "instance.crashed",
            Self::InstanceRestarted => "instance.restarted",
            Self::InstanceFailed => "instance.failed",
            Self::InstanceAdopted => "instance.adopted",
            Self::InstanceRecreated => "instance.recreated",
            Self::InstanceDegraded => "instance.degraded",
            Self::InstanceConfigChanged => "instance.config_changed",
            Self::InstanceKeyRotated => "instance.key_rotated",
            Self::InstancePaused => "instance.paused",
            Self::InstanceActivated => "instance.activated",
            Self::InstanceDeleted => "instance.deleted",
        }
    }

    /// Parses a type; `started` is short for `instance.started`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s || t.as_str().strip_prefix("instance.") == Some(s))
    }

    /// Every type, for error messages.
    pub fn list() -> String {
        Self::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn is_instance_event(self) -> bool {
        self.as_str().starts_with("instance.")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("unknown event type '{s}'; known: {}", Self::list()))
    }
}

#[cfg(test)]
mod tests {
    use super::EventType;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for t in EventType::ALL {
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(
            EventType::parse("started"),
            Some(EventType::InstanceStarted)
        );
        assert_eq!(EventType::parse("message.typo"), None);
    }
}
