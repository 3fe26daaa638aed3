//! The kinds of chat a bot takes part in, as both APIs name them.

use serde::{Deserialize, Serialize};

/// What kind of chat Telegram says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A conversation with one person.
    Private,
    Group,
    Supergroup,
    Channel,
}

impl ChatKind {
    pub const ALL: &'static [ChatKind] =
        &[Self::Private, Self::Group, Self::Supergroup, Self::Channel];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Group => "group",
            Self::Supergroup => "supergroup",
            Self::Channel => "channel",
        }
    }

    /// The kind by its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Groups and supergroups (what `/groups` lists).
    pub fn is_group(self) -> bool {
        matches!(self, Self::Group | Self::Supergroup)
    }
}

#[cfg(test)]
mod tests {
    use super::ChatKind;

    #[test]
    fn names_round_trip() {
        for t in ChatKind::ALL {
            assert_eq!(ChatKind::parse(t.as_str()), Some(*t));
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(ChatKind::parse("secret"), None);
    }
}
