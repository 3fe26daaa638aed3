//! `GET /api/v1/chats`, `/groups`, `/contacts` and `/messages?chatId=&limit=`: what the bot has seen
//! (kept by the worker on its volume, so it outlives restarts of the worker).

use garde::Validate;
use serde::{Deserialize, Serialize};

/// Messages the worker keeps per chat, and the most `/messages` returns.
pub const MAX_MESSAGES_PER_CHAT: u32 = 200;

pub use crate::chat::ChatKind;

/// A chat the bot took part in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    /// The chat id, as a string.
    pub id: String,
    /// The title of a group, the name of a person, or the `@username`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ChatKind,
    pub username: Option<String>,
    pub message_count: u64,
    /// RFC 3339 time of the last message.
    pub timestamp: String,
    /// Text (or caption) of the last message.
    pub last_message: Option<String>,
}

/// Someone who wrote to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The person's id, as the provider names them.
    #[serde(deserialize_with = "super::id_string::required")]
    pub id: String,
    pub name: String,
    pub username: Option<String>,
    pub is_bot: bool,
    /// Unix seconds of their last message.
    pub last_seen_date: i64,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// To the bot.
    In,
    /// Sent by the bot.
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// One kept message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    #[serde(deserialize_with = "super::id_string::required")]
    pub message_id: String,
    #[serde(deserialize_with = "super::id_string::required")]
    pub chat_id: String,
    #[serde(default, deserialize_with = "super::id_string::option")]
    pub from_id: Option<String>,
    pub from_name: Option<String>,
    /// Text or caption; `null` for media without a caption.
    pub text: Option<String>,
    pub direction: Direction,
    /// Unix seconds.
    pub date: i64,
}

/// `GET /api/v1/messages?chatId=&limit=` (and the arguments of the MCP tool `get_messages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessagesQuery {
    /// The chat, as its provider names it.
    #[garde(skip)]
    pub chat_id: super::ChatRef,
    /// At most this many, newest first (1 to 200, default 50).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = MAX_MESSAGES_PER_CHAT)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_query;

    fn field(query: &str) -> String {
        parse_query::<MessagesQuery>(query)
            .unwrap_err()
            .body
            .field
            .unwrap_or_default()
    }

    #[test]
    fn a_chat_is_required_and_the_limit_bounded() {
        let q: MessagesQuery = parse_query("chatId=-5&limit=3").unwrap();
        assert_eq!((q.chat_id.as_str(), q.limit), ("-5", Some(3)));
        assert_eq!(field(""), "chatId");
        assert_eq!(field("chatId=a%20b"), "chatId");
        assert_eq!(field("chatId=1&limit=0"), "limit");
        assert_eq!(field("chatId=1&limit=201"), "limit");
    }
}
