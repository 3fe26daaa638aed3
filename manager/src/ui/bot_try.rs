//! Trying a bot from its page: a test message sent through it to a chat (`POST …/send`), and a question
//! put to its agent (`POST …/test`) with the agent's answer, latency and tokens.

use axum::{Form, extract::Path, response::Response};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use serde::Deserialize;
use shared::api::{access::AgentTestResponse, instances::InstanceView};

use super::{
    ApiFailure, Caller, UiState,
    bot_page::{self, Said},
    form::{Kind, Posted, field},
};

/// The "try it" section: the test message form and the agent test, each with its last outcome.
pub fn section(b: &InstanceView, sent: Option<&Posted>, tested: Option<&Posted>) -> Markup {
    let id = segment(&b.id);
    // What was typed, shown again after a post.
    let typed = |posted: Option<&Posted>, name: &str| -> String {
        posted
            .and_then(|p| p.value(name))
            .unwrap_or_default()
            .to_string()
    };
    let error_in = |posted: Option<&Posted>, name: &str| -> Option<String> {
        posted.and_then(|p| p.error_at(name)).map(str::to_string)
    };
    let agent = b
        .config
        .as_ref()
        .filter(|c| c.enabled && c.llm_url.is_some())
        .map(|c| c.llm_provider);
    html! {
        h2 id="try" { "Try it" }
        h3 { "Send a test message" }
        (Posted::outcome_line(sent, "send-result"))
        form method="post" action=(format!("/ui/bots/{id}/send#try")) id="send-form" {
            (field("send", "chatId", "Chat", Kind::Text, &typed(sent, "chatId"),
                &format!("The chat as {} names it (a chat id, @username, channel).", b.provider.display_name()),
                error_in(sent, "chatId").as_deref()))
            (field("send", "message", "Message", Kind::Area, &typed(sent, "message"),
                "", error_in(sent, "message").as_deref()))
            div class="actions" { button type="submit" { "Send" } }
        }
        h3 { "Ask the agent" }
        @if let Some(kind) = agent {
            p class="hint" { "Asks the bot's agent (" (format!("{kind:?}").to_lowercase()) ") directly, as a chat would; nothing is sent to a chat." }
        } @else {
            p class="hint" id="agent-none" { "The bot has no agent configured yet (set its URL under Configuration)." }
        }
        (Posted::outcome_line(tested, "agent-result"))
        form method="post" action=(format!("/ui/bots/{id}/test#try")) id="agent-form" {
            (field("agent", "message", "Question", Kind::Area, &typed(tested, "message"),
                "", error_in(tested, "message").as_deref()))
            div class="actions" { button type="submit" { "Ask" } }
        }
    }
}

/// The test message form's fields.
#[derive(Debug, Deserialize)]
pub struct TestMessage {
    #[serde(rename = "chatId", default)]
    chat_id: String,
    #[serde(default)]
    message: String,
}

/// `POST /ui/bots/{id}/send`: the message through the bot, then its page with the outcome.
pub async fn send(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<TestMessage>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    // As typed: the API reads it as `shared::worker_api::SendRequest` (a chat id or a name) and names
    // a wrong field.
    let mut body = serde_json::Map::new();
    body.insert("chatId".into(), form.chat_id.trim().into());
    body.insert("message".into(), form.message.clone().into());
    let body = serde_json::Value::Object(body);
    let path = format!("/api/v1/instances/{}/send", segment(&id));
    let (status, answer) = ui
        .call(Some(&caller), RestCall::post(path, Some(body)))
        .await?;
    let outcome = Posted::outcome_of(status, &answer, || {
        serde_json::from_slice::<shared::worker_api::SendResponse>(&answer).map_or_else(
            |_| "Sent.".into(),
            |s| format!("Sent (message {}).", s.message_id),
        )
    })?;
    let said = Said {
        sent: Some(Posted {
            fields: vec![
                ("chatId".into(), form.chat_id),
                ("message".into(), form.message),
            ],
            outcome: Some(outcome),
        }),
        ..Default::default()
    };
    bot_page::render(ui, &caller, &id, said).await
}

/// The agent test form's field.
#[derive(Debug, Deserialize)]
pub struct AgentQuestion {
    #[serde(default)]
    message: String,
}

/// `POST /ui/bots/{id}/test`: the question to the bot's agent, then its page with the answer.
pub async fn test_agent(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<AgentQuestion>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let request = shared::api::access::AgentTestRequest {
        message: form.message.clone(),
    };
    let body = serde_json::to_value(&request).map_err(|e| super::internal(e.to_string()))?;
    let path = format!("/api/v1/instances/{}/test", segment(&id));
    let (status, answer) = ui
        .call(Some(&caller), RestCall::post(path, Some(body)))
        .await?;
    let outcome = Posted::outcome_of(status, &answer, || {
        match serde_json::from_slice::<AgentTestResponse>(&answer) {
            Ok(t) => {
                let tokens = t.tokens.map_or(String::new(), |t| {
                    format!(", {} tokens in, {} out", t.input, t.output)
                });
                format!(
                    "The agent answered in {:.0} ms{tokens}: {}",
                    t.latency_ms, t.reply
                )
            }
            Err(e) => format!("The agent answered something unreadable: {e}"),
        }
    })?;
    let said = Said {
        tested: Some(Posted {
            fields: vec![("message".into(), form.message)],
            outcome: Some(outcome),
        }),
        ..Default::default()
    };
    bot_page::render(ui, &caller, &id, said).await
}
