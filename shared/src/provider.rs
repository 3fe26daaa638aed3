//! The messaging providers a bot can run on.

use serde::{Deserialize, Serialize};

/// The messaging provider a bot runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Telegram,
}

impl Provider {
    /// Every provider this build supports, for error messages.
    pub const ALL: &'static [Provider] = &[Provider::Telegram];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Telegram => "telegram",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
