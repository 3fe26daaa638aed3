//! The bot as an MCP server (`type_instance` holds `mcp`), on its own port at `/mcp`, behind the same
//! bearer key as the REST API. Every tool is a call of a REST route of this worker, made in process with
//! the caller's key (`botfleet-mcp`), so a message sent by a tool is validated, throttled, sent and
//! reported (an event, stored by the manager and delivered to webhooks) exactly as one sent by REST.
//! Tools the provider cannot serve are not listed.

use std::sync::Arc;

use axum::{Router, middleware};
use mcp::{Catalog, Effect, ResourceSpec, RestCall, ToolSpec, arguments, query, schema, segment};
use rmcp::model::{Implementation, JsonObject, ServerCapabilities, ServerConfig};
use serde_json::Value;
use shared::{
    ErrorBody,
    chat::ChatKind,
    provider::Capabilities,
    worker_api::{BulkSendRequest, JobRef, MessagesQuery, SendMediaRequest, SendRequest},
};

use crate::{api::AppState, auth};

/// What this worker's MCP server offers.
pub struct WorkerCatalog {
    provider: String,
    instance_id: String,
    capabilities: Capabilities,
}

impl WorkerCatalog {
    pub fn new(provider: String, instance_id: String, capabilities: Capabilities) -> Self {
        Self {
            provider,
            instance_id,
            capabilities,
        }
    }

    fn has_groups(&self) -> bool {
        self.capabilities
            .chat_kinds
            .iter()
            .any(|k| *k != ChatKind::Private)
    }

    fn has_people(&self) -> bool {
        self.capabilities.chat_kinds.contains(&ChatKind::Private)
    }
}

/// The router serving `/mcp` (bearer key required) over `api`, the worker's REST router.
pub fn router(state: AppState, instance_id: String, api: Router) -> Router {
    let catalog = Arc::new(WorkerCatalog::new(
        state.provider.clone(),
        instance_id,
        state.bot.provider().capabilities().clone(),
    ));
    Router::new()
        .route_service("/mcp", mcp::service(catalog, api))
        .route_layer(middleware::from_fn_with_state(state, auth::require_bearer))
}

impl Catalog for WorkerCatalog {
    fn info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::default())
            .with_server_info(
                Implementation::new("botfleet-bot", env!("CARGO_PKG_VERSION"))
                    .with_title(format!("botfleet {} bot {}", self.provider, self.instance_id)),
            )
            .with_instructions(format!(
                "A {} bot. Send messages with send_message (chatId as the platform names the chat); \
                 list_chats shows the chats the bot has seen, get_messages a chat's recent messages.",
                self.provider
            ))
    }

    fn tools(&self) -> Vec<ToolSpec> {
        let mut tools = vec![ToolSpec::new(
            "send_message",
            "Send a message",
            "Sends one text message to a chat (`chatId`). Answers with the platform's message id.",
            schema::input_schema::<SendRequest>(),
            Effect::Writes,
        )];
        if !self.capabilities.media.is_empty() {
            tools.push(ToolSpec::new(
                "send_media",
                "Send media by URL",
                "Sends a photo, document, audio or video the platform fetches from `url`, with an \
                 optional caption.",
                schema::input_schema::<SendMediaRequest>(),
                Effect::Writes,
            ));
        }
        tools.extend([
            ToolSpec::new(
                "send_bulk",
                "Send to many chats",
                "Sends one template to many chats (`{name}`-style variables per recipient). Answers \
                 with the job's id (`jobId`): up to 50 recipients once every send is done, more at once \
                 while the job runs; get_job follows it.",
                schema::input_schema::<BulkSendRequest>(),
                Effect::Writes,
            ),
            ToolSpec::new(
                "get_job",
                "Bulk job progress",
                "The progress and per-recipient results of a bulk job (`jobId`).",
                schema::input_schema::<JobRef>(),
                Effect::Reads,
            ),
            ToolSpec::new(
                "list_chats",
                "Chats",
                "The chats the bot has seen, most recent first.",
                schema::no_arguments(),
                Effect::Reads,
            ),
            ToolSpec::new(
                "get_messages",
                "Messages of a chat",
                "Recent messages of one chat (`chatId`), newest first, at most `limit` (1-200, \
                 default 50).",
                schema::input_schema::<MessagesQuery>(),
                Effect::Reads,
            ),
        ]);
        if self.has_people() {
            tools.push(ToolSpec::new(
                "list_contacts",
                "Contacts",
                "The people who wrote to the bot, most recent first.",
                schema::no_arguments(),
                Effect::Reads,
            ));
        }
        if self.has_groups() {
            tools.push(ToolSpec::new(
                "list_groups",
                "Groups",
                "The groups and channels the bot has seen, most recent first.",
                schema::no_arguments(),
                Effect::Reads,
            ));
        }
        tools.push(ToolSpec::new(
            "get_status",
            "Bot status",
            "Who the bot is, whether it is connected to its platform, and its message counters.",
            schema::no_arguments(),
            Effect::Reads,
        ));
        tools
    }

    fn call(&self, tool: &str, args: &JsonObject) -> Result<RestCall, ErrorBody> {
        let body = || Some(Value::Object(args.clone()));
        Ok(match tool {
            // Bodies go as they came: the route parses and checks them, as it does any body.
            "send_message" => RestCall::post("/api/v1/send", body()),
            "send_media" => RestCall::post("/api/v1/send/media", body()),
            "send_bulk" => RestCall::post("/api/v1/send-bulk", body()),
            "get_job" => {
                let job: JobRef = arguments(args)?;
                RestCall::get(format!("/api/v1/jobs/{}", segment(&job.job_id)))
            }
            "get_messages" => {
                let q: MessagesQuery = arguments(args)?;
                RestCall::get(format!("/api/v1/messages{}", query(&q)))
            }
            "list_chats" => RestCall::get("/api/v1/chats"),
            "list_contacts" => RestCall::get("/api/v1/contacts"),
            "list_groups" => RestCall::get("/api/v1/groups"),
            "get_status" => RestCall::get("/api/v1/status"),
            other => return Err(mcp::unknown_tool(other)),
        })
    }

    fn resources(&self) -> Vec<ResourceSpec> {
        vec![
            ResourceSpec {
                uri: "botfleet://bot/profile",
                name: "profile",
                description: "Who the bot is on its platform, its connection and counters.",
                path: "/api/v1/status",
            },
            ResourceSpec {
                uri: "botfleet://bot/chats",
                name: "chats",
                description: "The chats the bot has seen recently, most recent first.",
                path: "/api/v1/chats",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Provider;

    fn catalog(provider: Provider) -> WorkerCatalog {
        WorkerCatalog::new(
            provider.as_str().into(),
            "i1".into(),
            provider.capabilities().clone(),
        )
    }

    fn names(c: &WorkerCatalog) -> Vec<&'static str> {
        c.tools().iter().map(|t| t.name).collect()
    }

    #[test]
    fn a_telegram_bot_offers_every_tool() {
        assert_eq!(
            names(&catalog(Provider::Telegram)),
            [
                "send_message",
                "send_media",
                "send_bulk",
                "get_job",
                "list_chats",
                "get_messages",
                "list_contacts",
                "list_groups",
                "get_status"
            ]
        );
    }

    #[test]
    fn a_tool_the_provider_cannot_serve_is_not_listed() {
        let mut capabilities = Provider::Telegram.capabilities().clone();
        capabilities.media.clear();
        capabilities.chat_kinds = vec![ChatKind::Private];
        let c = WorkerCatalog::new("telegram".into(), "i1".into(), capabilities);
        let names = names(&c);
        assert!(!names.contains(&"send_media"));
        assert!(!names.contains(&"list_groups"));
        assert!(names.contains(&"list_contacts"));
    }

    #[test]
    fn arguments_become_the_route_they_call() {
        let c = catalog(Provider::Telegram);
        let args = |v: Value| v.as_object().cloned().unwrap();
        let call = c
            .call(
                "get_messages",
                &args(serde_json::json!({"chatId": "42", "limit": 5})),
            )
            .unwrap();
        assert_eq!(call.path, "/api/v1/messages?chatId=42&limit=5");
        let call = c
            .call("get_job", &args(serde_json::json!({"jobId": "job_1_a"})))
            .unwrap();
        assert_eq!(call.path, "/api/v1/jobs/job_1_a");
        let refused = c
            .call("get_messages", &args(serde_json::json!({"limit": 5})))
            .unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("chatId"));
        let refused = c
            .call("get_job", &args(serde_json::json!({"jobId": "../x"})))
            .unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("jobId"));
    }
}
