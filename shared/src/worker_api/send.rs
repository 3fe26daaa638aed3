//! `POST /api/v1/send`, `/api/v1/groups/{id}/send` and `/api/v1/send/media`: one message to one chat.

use garde::Validate;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Telegram's limit on the length of one text message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Telegram's limit on a caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Longest media URL taken.
pub const MAX_URL_CHARS: usize = 2048;

/// Header of a send that must happen at most once: a repeat with the same key within
/// [`IDEMPOTENCY_KEEP_SECS`] is answered with the first answer and sends nothing.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header on an answer that repeats the first answer to its `Idempotency-Key` (value `true`).
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a worker remembers an `Idempotency-Key` it has sent with: a day.
pub const IDEMPOTENCY_KEEP_SECS: u64 = 24 * 3600;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// What an `Idempotency-Key` looks like (the documented `pattern`): 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Whether `key` has the shape of [`IDEMPOTENCY_KEY_PATTERN`].
pub fn is_idempotency_key(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

/// A chat, as its provider names it: a Telegram chat id (negative for groups) or `@username`, a Discord
/// channel id, a Slack channel id, a WhatsApp phone number. Taken as a JSON string or integer, always
/// written back as a string; which chats exist is the provider's to say (the worker asks its provider,
/// and an id that cannot be one of its chats is a 422).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatRef(String);

impl ChatRef {
    /// Longest chat reference taken.
    pub const MAX_CHARS: usize = 128;

    /// What a chat reference looks like (the schema's `pattern`).
    pub const PATTERN: &'static str = "^[A-Za-z0-9_@.:+-]{1,128}$";

    /// A chat reference: 1 to 128 letters, digits or `_ @ . : + -`.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let valid = (1..=Self::MAX_CHARS).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_@.:+-".contains(&b));
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err("must be a chat id or name: 1 to 128 letters, digits or _ @ . : + -")
        }
    }

    /// The chat as the provider names it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for ChatRef {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl std::str::FromStr for ChatRef {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for ChatRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ChatRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChatRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ChatRef;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a chat id (a string or an integer) or an @username")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ChatRef, E> {
                Ok(ChatRef::from(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChatRef, E> {
                Ok(ChatRef(v.to_string()))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ChatRef, E> {
                ChatRef::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ChatRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(Self::PATTERN)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
            )
            .description(Some(
                "A chat as its provider names it: a Telegram chat id (negative for groups) or @username, a \
                 Discord or Slack channel id, a WhatsApp phone number. Integers are taken too; answers \
                 always carry a string.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ChatRef {}

/// An id the platform gave (a message, a person, a bot), written as a string whatever the platform's
/// type; read from an integer too (what workers before the provider seam wrote), `0` meaning none.
pub mod id_string {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Uint(u64),
        Str(String),
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<Raw>::deserialize(d)? {
            None | Some(Raw::Int(0)) | Some(Raw::Uint(0)) => None,
            Some(Raw::Int(i)) => Some(i.to_string()),
            Some(Raw::Uint(u)) => Some(u.to_string()),
            Some(Raw::Str(s)) => Some(s).filter(|s| !s.is_empty()),
        })
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            Raw::Uint(u) => u.to_string(),
            Raw::Str(s) => s,
        })
    }
}

/// How Telegram reads the text's markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ParseMode {
    #[serde(rename = "HTML")]
    Html,
    MarkdownV2,
    /// Telegram's legacy Markdown.
    Markdown,
}

/// Telegram's `reply_markup` object (`inline_keyboard`, `keyboard`, `remove_keyboard` or `force_reply`),
/// passed on as it is; the worker refuses (422) one Telegram would not read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReplyMarkup(pub serde_json::Map<String, serde_json::Value>);

impl std::str::FromStr for ReplyMarkup {
    type Err = serde_json::Error;

    /// Reads a markup written as JSON text (a multipart field).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(s)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ReplyMarkup {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some(
                "Telegram's reply_markup object (inline_keyboard, keyboard, remove_keyboard or force_reply)",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ReplyMarkup {}

/// `POST /api/v1/send` (and `/api/v1/telegram/send`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendRequest {
    #[garde(skip)]
    pub chat_id: ChatRef,
    /// The text: 1 to 4096 characters, not only spaces.
    #[garde(length(chars, min = 1, max = 4096), custom(super::not_blank))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, pattern = r"\S")
    )]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub parse_mode: Option<ParseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub reply_markup: Option<ReplyMarkup>,
}

/// `POST /api/v1/groups/{id}/send`: the group is in the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupSendRequest {
    /// The text: 1 to 4096 characters, not only spaces.
    #[garde(length(chars, min = 1, max = 4096), custom(super::not_blank))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, pattern = r"\S")
    )]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub parse_mode: Option<ParseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub reply_markup: Option<ReplyMarkup>,
}

/// The answer of every send: Telegram's id of the message sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub message_id: String,
    pub provider: String,
}

/// What kind of file a media message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Photo,
    Document,
    Audio,
    Video,
}

impl MediaKind {
    pub const ALL: &'static [MediaKind] = &[Self::Photo, Self::Document, Self::Audio, Self::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Document => "document",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// `POST /api/v1/send/media` as JSON: a file Telegram fetches from a URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendMediaRequest {
    #[garde(skip)]
    pub chat_id: ChatRef,
    #[serde(rename = "type")]
    #[garde(skip)]
    pub kind: MediaKind,
    /// An `http://` or `https://` URL Telegram can fetch (at most 2048 characters).
    #[garde(length(chars, max = 2048), custom(http_url))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = "^https?://[^/?#]")
    )]
    pub url: String,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, max = 1024)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub caption: Option<String>,
    /// How Telegram reads the caption's markup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub parse_mode: Option<ParseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub reply_markup: Option<ReplyMarkup>,
}

/// `POST /api/v1/send/media` as `multipart/form-data`: the fields of the JSON body as text parts, and
/// the file as a `file` part instead of `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendMediaForm {
    #[garde(skip)]
    pub chat_id: ChatRef,
    #[serde(rename = "type")]
    #[garde(skip)]
    pub kind: MediaKind,
    /// The file, at most 20 MB; its part's file name goes to Telegram. Give it or `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub file: Option<Vec<u8>>,
    /// Instead of `file`: an `http://` or `https://` URL Telegram can fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, max = 2048), custom(http_url)))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = "^https?://[^/?#]")
    )]
    pub url: Option<String>,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, max = 1024)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub parse_mode: Option<ParseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub reply_markup: Option<ReplyMarkupText>,
}

/// Telegram's reply_markup object written as JSON text (a multipart field). Checked while it is read, so
/// a refusal names `replyMarkup` (garde 0.23 names fields by their Rust names: its `rename` rule is
/// accepted but not applied).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyMarkupText(pub ReplyMarkup);

impl Serialize for ReplyMarkupText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for ReplyMarkupText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ReplyMarkupText;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Telegram's reply_markup object as JSON text")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ReplyMarkupText, E> {
                v.parse::<ReplyMarkup>()
                    .map(ReplyMarkupText)
                    .map_err(|e| E::custom(format!("must be a JSON object: {e}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ReplyMarkupText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/json")
            .description(Some(
                "Telegram's reply_markup object (inline_keyboard, keyboard, remove_keyboard or force_reply), \
                 written as JSON text",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ReplyMarkupText {}

/// garde rule: an `http://` or `https://` URL with a host, that parses.
fn http_url(url: &str, _: &()) -> garde::Result {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            garde::Error::new("must be an http:// or https:// URL Telegram can fetch")
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(garde::Error::new("must name a host"));
    }
    garde::rules::url::apply(&url, ())
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_json;

    fn field<T: std::fmt::Debug>(r: Result<T, crate::http::Rejection>) -> String {
        r.unwrap_err().body.field.unwrap_or_default()
    }

    #[test]
    fn chats_are_strings_or_integers_written_back_as_strings() {
        let chat = |json: &str| serde_json::from_str::<ChatRef>(json);
        assert_eq!(chat("42").unwrap().as_str(), "42");
        assert_eq!(chat("-100123").unwrap().as_str(), "-100123");
        assert_eq!(chat("\"@chan_1\"").unwrap().as_str(), "@chan_1");
        assert_eq!(chat("\"C0123ABC\"").unwrap().as_str(), "C0123ABC");
        assert_eq!(chat("\"+15551234567\"").unwrap().as_str(), "+15551234567");
        for bad in ["\"\"", "1.5", "[1]", "\" 42\"", "\"@a b\"", "null", "{}"] {
            assert!(chat(bad).is_err(), "{bad} should fail");
        }
        assert!(chat(&format!("\"{}\"", "1".repeat(129))).is_err());
        assert_eq!(serde_json::to_string(&ChatRef::from(-5)).unwrap(), "\"-5\"");
    }

    #[test]
    fn a_send_names_the_wire_field_at_fault() {
        let ok: SendRequest =
            parse_json(br#"{"chatId":"55","message":"hi","parseMode":"HTML"}"#).unwrap();
        assert_eq!(ok.chat_id.as_str(), "55");
        assert_eq!(
            field(parse_json::<SendRequest>(br#"{"message":"x"}"#)),
            "chatId"
        );
        assert_eq!(
            field(parse_json::<SendRequest>(
                br#"{"chatId":"a b","message":"x"}"#
            )),
            "chatId"
        );
        assert_eq!(
            field(parse_json::<SendRequest>(br#"{"chatId":1,"message":"  "}"#)),
            "message"
        );
        let long = format!(r#"{{"chatId":1,"message":"{}"}}"#, "é".repeat(4097));
        assert_eq!(field(parse_json::<SendRequest>(long.as_bytes())), "message");
        assert!(
            parse_json::<SendRequest>(
                format!(r#"{{"chatId":1,"message":"{}"}}"#, "é".repeat(4096)).as_bytes()
            )
            .is_ok()
        );
        assert_eq!(
            field(parse_json::<SendRequest>(
                br#"{"chatId":1,"message":"x","parseMode":"RTF"}"#
            )),
            "parseMode"
        );
        assert_eq!(
            field(parse_json::<SendRequest>(
                br#"{"chatId":1,"message":"x","replyMarkup":[1]}"#
            )),
            "replyMarkup"
        );
    }

    #[test]
    fn media_urls_must_be_http_with_a_host() {
        let media = |url: &str| {
            parse_json::<SendMediaRequest>(
                format!(r#"{{"chatId":1,"type":"photo","url":"{url}"}}"#).as_bytes(),
            )
        };
        assert!(media("https://files.example/a.png").is_ok());
        for bad in [
            "file:///etc/passwd",
            "https://",
            "http:///x",
            "ftp://x",
            "http://a b",
        ] {
            assert_eq!(field(media(bad)), "url", "{bad}");
        }
        assert_eq!(
            field(parse_json::<SendMediaRequest>(
                br#"{"chatId":1,"type":"sticker","url":"https://x.example"}"#
            )),
            "type"
        );
        assert_eq!(
            field(parse_json::<SendMediaRequest>(
                br#"{"chatId":1,"type":"photo"}"#
            )),
            "url"
        );
    }

    #[test]
    fn a_forms_reply_markup_must_be_a_json_object() {
        let form = |markup: &str| {
            crate::http::parse_fields::<SendMediaForm>([
                ("chatId", "7"),
                ("type", "document"),
                ("replyMarkup", markup),
            ])
        };
        let ok = form(r#"{"inline_keyboard":[]}"#).unwrap();
        assert_eq!(ok.chat_id.as_str(), "7");
        assert_eq!(field(form("[1]")), "replyMarkup");
        assert_eq!(field(form("{")), "replyMarkup");
    }
}
