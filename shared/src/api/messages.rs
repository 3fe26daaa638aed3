//! `/api/v1/instances/{id}/chats`, `/groups`, `/contacts`, `/messages`: what the bot said and heard, as
//! the manager collected it from the worker (it outlives the worker's container). Times are RFC 3339.

use garde::Validate;
use serde::{Deserialize, Serialize};

pub use crate::chat::ChatKind;

/// A chat the bot took part in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatView {
    /// The chat, as its provider names it.
    pub chat_id: String,
    /// The chat's title, or the person's name.
    pub name: Option<String>,
    /// `null` when the worker did not say.
    #[serde(rename = "type")]
    pub chat_type: Option<ChatKind>,
    /// Messages in and out.
    pub message_count: i64,
    /// Text of the latest message.
    pub last_message: Option<String>,
    pub last_message_at: String,
}

/// `GET /api/v1/instances/{id}/chats`: every chat, most recent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatList {
    pub success: bool,
    pub count: usize,
    pub chats: Vec<ChatView>,
}

/// `GET /api/v1/instances/{id}/groups`: the group and supergroup chats, most recent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupList {
    pub success: bool,
    pub count: usize,
    pub groups: Vec<ChatView>,
}

/// Someone who wrote to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactView {
    /// The person's provider id.
    /// The person, as their provider names them.
    pub user_id: String,
    pub name: Option<String>,
    /// Messages this person sent to the bot.
    pub message_count: i64,
    pub last_seen_at: String,
}

/// `GET /api/v1/instances/{id}/contacts`: most recently heard first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactList {
    pub success: bool,
    pub count: usize,
    pub contacts: Vec<ContactView>,
}

/// Whether the bot received or sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MessageDirection {
    /// Received by the bot.
    In,
    /// Sent by the bot.
    Out,
}

impl MessageDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    /// The direction by its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::In, Self::Out].into_iter().find(|d| d.as_str() == s)
    }
}

/// A message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    /// The event id the worker gave it.
    pub id: String,
    pub chat_id: String,
    pub direction: MessageDirection,
    /// The provider's message id.
    pub message_id: Option<String>,
    /// The sender's provider id (for messages in).
    pub from_id: Option<String>,
    pub from_name: Option<String>,
    pub text: Option<String>,
    pub timestamp: String,
}

/// `GET /api/v1/instances/{id}/messages`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageList {
    pub success: bool,
    pub count: usize,
    pub messages: Vec<MessageView>,
}

/// Most messages a page may ask for.
pub const MAX_MESSAGES: u32 = 1000;
/// Messages in a page unless `limit` says otherwise.
pub const DEFAULT_MESSAGES: u32 = 50;

/// `?chatId=&limit=` of `GET /api/v1/instances/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessagesQuery {
    /// The chat, as its provider names it (Telegram: negative for groups).
    #[garde(skip)]
    pub chat_id: crate::worker_api::ChatRef,
    /// At most this many, 1 to 1000 (default 50).
    #[garde(inner(range(min = 1, max = MAX_MESSAGES)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

impl MessagesQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_MESSAGES)
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_query;

    fn field(query: &str) -> Option<String> {
        parse_query::<MessagesQuery>(query)
            .err()
            .and_then(|r| r.body.field)
    }

    #[test]
    fn the_query_needs_a_chat_and_bounds_the_limit() {
        let q = parse_query::<MessagesQuery>("chatId=-222").unwrap();
        assert_eq!((q.chat_id.as_str(), q.limit()), ("-222", 50));
        assert_eq!(
            parse_query::<MessagesQuery>("chatId=1&limit=1000")
                .unwrap()
                .limit(),
            1000
        );
        assert_eq!(field(""), Some("chatId".into()));
        assert_eq!(field("chatId=a%20b"), Some("chatId".into()));
        assert_eq!(field("chatId=1&limit=0"), Some("limit".into()));
        assert_eq!(field("chatId=1&limit=1001"), Some("limit".into()));
        assert_eq!(field("chatId=1&limit=-1"), Some("limit".into()));
        assert_eq!(field("chatId=1&other=1"), Some("other".into()));
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn kinds_keep_their_wire_names() {
        assert_eq!(
            serde_json::to_string(&MessageDirection::Out).unwrap(),
            "\"out\""
        );
        assert_eq!(MessageDirection::parse("in"), Some(MessageDirection::In));
        assert_eq!(MessageDirection::parse("sideways"), None);
    }
}
