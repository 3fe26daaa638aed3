//! `POST /api/v1/send-bulk` (and `/api/v1/telegram/send-bulk`): one template to many chats. Up to 50
//! recipients are answered when done (200, the seed's shape); more run as a job, answered at once (202),
//! and `GET /api/v1/jobs/{id}` reports its progress.

use std::collections::BTreeMap;

use garde::Validate;
use serde::{Deserialize, Deserializer, Serialize, de};

use super::ChatRef;

/// Recipients answered in the same request; more become a job.
pub const BULK_INLINE_LIMIT: usize = 50;
/// Recipients one request may name.
pub const MAX_BULK_RECIPIENTS: usize = 1000;

/// The value of a template placeholder: a string, a number or a boolean, written into the text as it
/// is (`3`, `1.5`, `true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateValue {
    Text(String),
    Number(serde_json::Number),
    Flag(bool),
}

impl std::fmt::Display for TemplateValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(s) => f.write_str(s),
            Self::Number(n) => write!(f, "{n}"),
            Self::Flag(b) => write!(f, "{b}"),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TemplateValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Number,
                Type::Boolean,
            ]))
            .description(Some(
                "The value of a template placeholder, written into the text as it is",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TemplateValue {}

/// A recipient with the values of the template's placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecipientWithVars {
    pub chat_id: ChatRef,
    /// `{name}` in the template becomes `vars.name`; placeholders without a value stay as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, TemplateValue>,
}

/// One recipient of a bulk send: a chat alone, or `{chatId, vars}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum BulkRecipient {
    Chat(ChatRef),
    WithVars(RecipientWithVars),
}

impl BulkRecipient {
    /// The chat and the placeholder values (none for a chat alone).
    pub fn into_parts(self) -> (ChatRef, BTreeMap<String, TemplateValue>) {
        match self {
            Self::Chat(chat) => (chat, BTreeMap::new()),
            Self::WithVars(r) => (r.chat_id, r.vars),
        }
    }
}

/// By the JSON type (serde's untagged enums would only say that nothing matched): a number or a string
/// is a chat, an object is `{chatId, vars}`, and a refusal names the field at fault.
impl<'de> Deserialize<'de> for BulkRecipient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = BulkRecipient;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a chat id, an @username, or {chatId, vars}")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BulkRecipient, E> {
                Ok(BulkRecipient::Chat(ChatRef::from(v)))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BulkRecipient, E> {
                ChatRef::parse(&v.to_string())
                    .map(BulkRecipient::Chat)
                    .map_err(E::custom)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<BulkRecipient, E> {
                ChatRef::parse(v)
                    .map(BulkRecipient::Chat)
                    .map_err(E::custom)
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<BulkRecipient, A::Error> {
                RecipientWithVars::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(BulkRecipient::WithVars)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `POST /api/v1/send-bulk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkSendRequest {
    /// 1 to 1000 chats; up to 50 are answered when done, more run as a job.
    #[garde(length(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub recipients: Vec<BulkRecipient>,
    /// The template: `{name}` becomes each recipient's `vars.name`. Not only spaces.
    #[garde(length(min = 1), custom(super::not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"\S"))]
    pub message: String,
}

/// The outcome for one recipient (the seed's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecipientResult {
    /// The chat as the request named it.
    pub recipient: String,
    pub success: bool,
    /// Telegram's id of the message, when it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Why it was not sent (Telegram's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub attempts: u32,
    /// Unix ms.
    pub timestamp: i64,
}

/// Where a bulk job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Completed,
}

/// `GET /api/v1/jobs/{id}`: a bulk job and the results so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkJob {
    pub job_id: String,
    pub status: JobStatus,
    /// True once completed with every message sent.
    pub success: bool,
    pub total_recipients: usize,
    pub processed: usize,
    pub success_count: usize,
    pub failure_count: usize,
    /// In the order the sends finished.
    pub results: Vec<RecipientResult>,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms; `null` while running.
    pub end_time: Option<i64>,
    /// Milliseconds; `null` while running.
    pub total_duration: Option<i64>,
}

/// `POST /api/v1/send-bulk` with up to 50 recipients (200): every send done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    /// True when every message was sent.
    pub success: bool,
    /// The job the sends ran as (`GET /api/v1/jobs/{jobId}` shows it again, for a day).
    pub job_id: String,
    pub total_recipients: usize,
    pub success_count: usize,
    pub failure_count: usize,
    pub results: Vec<RecipientResult>,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms.
    pub end_time: i64,
    /// Milliseconds.
    pub total_duration: i64,
}

impl From<BulkJob> for BulkResult {
    /// The answer for a completed job.
    fn from(job: BulkJob) -> Self {
        let end_time = job.end_time.unwrap_or(job.start_time);
        Self {
            success: job.success,
            job_id: job.job_id,
            total_recipients: job.total_recipients,
            success_count: job.success_count,
            failure_count: job.failure_count,
            results: job.results,
            start_time: job.start_time,
            end_time,
            total_duration: job.total_duration.unwrap_or(end_time - job.start_time),
        }
    }
}

/// `POST /api/v1/send-bulk` with more than 50 recipients (202): the job runs; follow `statusUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkJobAccepted {
    pub success: bool,
    pub job_id: String,
    pub status: JobStatus,
    pub total_recipients: usize,
    /// `/api/v1/jobs/{jobId}`.
    pub status_url: String,
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::parse_json;

    fn field(body: &str) -> String {
        parse_json::<BulkSendRequest>(body.as_bytes())
            .unwrap_err()
            .body
            .field
            .unwrap_or_default()
    }

    #[test]
    fn recipients_are_chats_or_chats_with_values() {
        let r: BulkSendRequest = parse_json(
            br#"{"recipients":[1,"@chan",{"chatId":"-5","vars":{"name":"Ann","n":3,"ok":true}}],"message":"Hi {name}"}"#,
        )
        .unwrap();
        assert_eq!(r.recipients[0], BulkRecipient::Chat(ChatRef::from(1)));
        assert_eq!(
            r.recipients[1],
            BulkRecipient::Chat(ChatRef::parse("@chan").unwrap())
        );
        let (chat, vars) = r.recipients[2].clone().into_parts();
        assert_eq!(chat, ChatRef::from(-5));
        let shown: Vec<String> = vars.values().map(ToString::to_string).collect();
        assert_eq!(shown, ["3", "Ann", "true"], "in the order of the names");
    }

    #[test]
    fn a_refusal_names_the_recipient_at_fault() {
        assert_eq!(field(r#"{"recipients":[],"message":"x"}"#), "recipients");
        assert_eq!(
            field(r#"{"recipients":[1,"a b"],"message":"x"}"#),
            "recipients[1]"
        );
        assert_eq!(
            field(r#"{"recipients":[{"chatId":"a b"}],"message":"x"}"#),
            "recipients[0].chatId"
        );
        assert_eq!(
            field(r#"{"recipients":[{"chatId":1,"vars":{"a":null}}],"message":"x"}"#),
            "recipients[0].vars.a"
        );
        assert_eq!(
            field(r#"{"recipients":[{"chat":1}],"message":"x"}"#),
            "recipients[0].chat"
        );
        assert_eq!(field(r#"{"recipients":[1]}"#), "message");
        assert_eq!(field(r#"{"recipients":[1],"message":" "}"#), "message");
        let many: Vec<u32> = (0..1001).collect();
        assert_eq!(
            field(&format!(r#"{{"recipients":{many:?},"message":"x"}}"#)),
            "recipients"
        );
    }
}

/// The arguments of the MCP tool `get_job`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobRef {
    /// The job's id (`jobId` of `send_bulk`'s answer).
    // Checked as it is read, so a refusal names `jobId` as the caller spelled it.
    #[serde(deserialize_with = "job_id")]
    #[garde(skip)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]+$")
    )]
    pub job_id: String,
}

/// A job id: 1 to 64 letters, digits, `_` and `-`.
fn job_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let id = String::deserialize(deserializer)?;
    let fits = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fits {
        Ok(id)
    } else {
        Err(de::Error::custom(
            "must be 1 to 64 letters, digits, `_` and `-`",
        ))
    }
}
