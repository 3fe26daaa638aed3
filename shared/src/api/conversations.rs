//! `GET /api/v1/instances/{id}/conversations` and `…/conversations/{conversation_id}` (seed 003): a
//! chat's messages grouped into conversations. A message joins its chat's latest conversation unless the
//! chat was silent for the bot's `conversation_ttl_hours` (default 24); then a new one starts. Times are
//! RFC 3339.

use garde::Validate;
use serde::{Deserialize, Serialize};

pub use crate::worker_api::Outcome;

/// Most conversations a page may ask for.
pub const MAX_CONVERSATIONS: u32 = 100;
/// Conversations in a page unless `limit` says otherwise.
pub const DEFAULT_CONVERSATIONS: u32 = 50;
/// Most messages of a conversation a page may ask for.
pub const MAX_CONVERSATION_MESSAGES: u32 = 500;
/// Messages of a conversation in a page unless `limit` says otherwise.
pub const DEFAULT_CONVERSATION_MESSAGES: u32 = 100;

/// `?limit=&offset=` of `GET /api/v1/instances/{id}/conversations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ConversationsQuery {
    /// At most this many, 1 to 100 (default 50).
    #[garde(inner(range(min = 1, max = MAX_CONVERSATIONS)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// Skip this many (most recent first).
    #[serde(default)]
    #[garde(range(max = super::MAX_OFFSET))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 1000000000))]
    pub offset: u32,
}

impl ConversationsQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_CONVERSATIONS)
    }
}

/// `?limit=&offset=` of `GET /api/v1/instances/{id}/conversations/{conversation_id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// At most this many messages, 1 to 500 (default 100).
    #[garde(inner(range(min = 1, max = MAX_CONVERSATION_MESSAGES)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
    /// Skip this many (oldest first).
    #[serde(default)]
    #[garde(range(max = super::MAX_OFFSET))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 1000000000))]
    pub offset: u32,
}

impl ConversationQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_CONVERSATION_MESSAGES)
    }
}

/// A conversation: a chat's messages without a silence of `conversation_ttl_hours` between two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationView {
    pub id: String,
    /// Who wrote first, as the provider names them (in a group, the first member who wrote); none
    /// while only the bot spoke.
    pub platform_user_id: Option<String>,
    /// The chat, as its provider names it.
    pub chat_id: String,
    /// Messages in and out, replies that could not be sent included.
    pub message_count: i64,
    /// Tokens of the agent calls of this conversation, as the agent's `usage` reported them.
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub started_at: String,
    pub last_message_at: String,
}

/// `GET /api/v1/instances/{id}/conversations`: most recently active first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationList {
    pub success: bool,
    /// Conversations in this page.
    pub count: usize,
    /// Conversations of the bot in all.
    pub total: i64,
    pub offset: u32,
    pub conversations: Vec<ConversationView>,
}

/// Who said a message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConversationRole {
    /// Someone in the chat.
    User,
    /// The bot.
    Assistant,
}

impl ConversationRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// The role by its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::User, Self::Assistant]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A message of a conversation. The bot's replies to questions carry what the question cost and became;
/// a reply that could not be sent is listed with `outcome: failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationMessage {
    /// The event id the worker gave it.
    pub id: String,
    pub role: ConversationRole,
    /// The text (or caption); none for a message without one.
    pub content: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<i64>,
    /// How long the agent took to answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why the agent gave no answer, or why the reply was not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/instances/{id}/conversations/{conversation_id}`: the conversation and its messages,
/// oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationDetail {
    pub success: bool,
    pub conversation: ConversationView,
    pub messages: Vec<ConversationMessage>,
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_query;

    fn field<T: serde::de::DeserializeOwned + Validate<Context = ()>>(
        query: &str,
    ) -> Option<String> {
        parse_query::<T>(query).err().and_then(|r| r.body.field)
    }

    #[test]
    fn pages_are_bounded() {
        let q = parse_query::<ConversationsQuery>("").unwrap();
        assert_eq!((q.limit(), q.offset), (50, 0));
        assert_eq!(
            parse_query::<ConversationsQuery>("limit=100&offset=7")
                .unwrap()
                .limit(),
            100
        );
        assert_eq!(
            field::<ConversationsQuery>("limit=101"),
            Some("limit".into())
        );
        assert_eq!(field::<ConversationsQuery>("limit=0"), Some("limit".into()));
        assert_eq!(
            field::<ConversationsQuery>("offset=-1"),
            Some("offset".into())
        );
        assert_eq!(parse_query::<ConversationQuery>("").unwrap().limit(), 100);
        assert_eq!(
            parse_query::<ConversationQuery>("limit=500")
                .unwrap()
                .limit(),
            500
        );
        assert_eq!(
            field::<ConversationQuery>("limit=501"),
            Some("limit".into())
        );
        assert_eq!(field::<ConversationQuery>("other=1"), Some("other".into()));
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn roles_and_outcomes_keep_their_wire_names() {
        for role in [ConversationRole::User, ConversationRole::Assistant] {
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
            assert_eq!(ConversationRole::parse(role.as_str()), Some(role));
        }
        for outcome in Outcome::ALL {
            assert_eq!(
                serde_json::to_string(&outcome).unwrap(),
                format!("\"{}\"", outcome.as_str())
            );
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("dropped"), None);
        // A message without an exchange shows none of its fields.
        let m = ConversationMessage {
            id: "e1".into(),
            role: ConversationRole::User,
            content: Some("hi".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
            tokens_in: None,
            tokens_out: None,
            latency_ms: None,
            outcome: None,
            error: None,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"id": "e1", "role": "user", "content": "hi", "created_at": "2026-01-01T00:00:00Z"})
        );
    }
}
