//! A bot's configuration on its page: the agent it calls and what it says on its own (seed 003's
//! fields), edited in one form that `PATCH`es the instance; the API's refusal is shown next to the field
//! it names, with the values as typed. The LLM key is write-only: its box starts empty (empty keeps it).

use axum::{
    Form,
    extract::Path,
    http::Method,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use serde_json::{Map, Value};
use shared::{
    agent::{AgentKind, BotConfigView},
    api::{instances::InstanceView, lifecycle::UpdateInstanceResponse},
};

use super::{
    ApiFailure, Caller, UiState,
    bot_page::{self, Said},
    form::{self, Kind, Posted, checkbox, field},
};

/// The form's text fields: (field, label, kind, hint).
const TEXT_FIELDS: &[(&str, &str, Kind, &str)] = &[
    (
        "name",
        "Name",
        Kind::Text,
        "How you call the bot (1 to 100 characters; empty: the default).",
    ),
    ("description", "Description", Kind::Area, ""),
    (
        "llm_url",
        "Agent URL",
        Kind::Url,
        "http(s) URL of the agent; the bot answers chats through it.",
    ),
    (
        "llm_agent_id",
        "Agent id",
        Kind::Text,
        "Agno's agent id (Agno agents only).",
    ),
    (
        "llm_model",
        "Model",
        Kind::Text,
        "The model the agent uses.",
    ),
    (
        "system_prompt",
        "System prompt",
        Kind::Area,
        "Up to 20,000 characters.",
    ),
    (
        "welcome_message",
        "Welcome message",
        Kind::Area,
        "Sent in answer to /start.",
    ),
    (
        "fallback_message",
        "Fallback message",
        Kind::Area,
        "Sent when the agent fails or a limit stops a call.",
    ),
];

/// The form's number fields: (field, label, hint).
const NUMBER_FIELDS: &[(&str, &str, &str)] = &[
    (
        "timeout_ms",
        "Agent timeout (ms)",
        "1,000 to 60,000 (default 30,000).",
    ),
    (
        "max_tokens_per_turn",
        "Longest answer (tokens)",
        "1 to 200,000.",
    ),
    (
        "conversation_max_messages",
        "Context messages",
        "Earlier messages sent along, 0 to 100 (default 10).",
    ),
    (
        "conversation_ttl_hours",
        "Conversation lifetime (hours)",
        "Silence after which a chat starts afresh, 1 to 8,760 (default 24).",
    ),
    (
        "spending_cap",
        "Daily token cap",
        "Tokens the bot may spend per UTC day; empty: no cap.",
    ),
];

const AGENT_KINDS: &[(AgentKind, &str, &str)] = &[
    (AgentKind::Agno, "agno", "Agno"),
    (AgentKind::OpenAi, "openai", "OpenAI-compatible"),
    (AgentKind::Webhook, "webhook", "Webhook"),
    (AgentKind::Anthropic, "anthropic", "Anthropic"),
];

/// The stored value of field `name`, as the form shows it.
fn stored(config: Option<&BotConfigView>, name: &str) -> String {
    let Some(c) = config else {
        return String::new();
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    match name {
        "name" => text(&c.name),
        "description" => text(&c.description),
        "llm_url" => text(&c.llm_url),
        "llm_agent_id" => text(&c.llm_agent_id),
        "llm_model" => text(&c.llm_model),
        "system_prompt" => text(&c.system_prompt),
        "welcome_message" => text(&c.welcome_message),
        "fallback_message" => text(&c.fallback_message),
        "timeout_ms" => number(c.timeout_ms.map(u64::from)),
        "max_tokens_per_turn" => number(c.max_tokens_per_turn.map(u64::from)),
        "conversation_max_messages" => number(c.conversation_max_messages.map(u64::from)),
        "conversation_ttl_hours" => number(c.conversation_ttl_hours.map(u64::from)),
        "spending_cap" => number(c.spending_cap),
        "llm_provider" => AGENT_KINDS
            .iter()
            .find(|(k, _, _)| *k == c.llm_provider)
            .map_or("agno", |(_, wire, _)| wire)
            .to_string(),
        _ => String::new(),
    }
}

/// The configuration section: the form with the stored values, or with the values just refused.
pub fn section(b: &InstanceView, posted: Option<&Posted>) -> Markup {
    let config = b.config.as_ref();
    let refused = posted.is_some_and(|p| matches!(p.outcome, Some(Err(_))));
    // After a refusal the form shows what was typed; otherwise what is stored.
    let value = |name: &str| -> String {
        match posted {
            Some(p) if refused => p.value(name).unwrap_or_default().to_string(),
            _ => stored(config, name),
        }
    };
    let error_at = |name: &str| posted.and_then(|p| p.error_at(name));
    let provider = value("llm_provider");
    let enabled = if refused {
        posted.is_some_and(|p| p.value("enabled").is_some())
    } else {
        config.is_none_or(|c| c.enabled)
    };
    html! {
        h2 id="config" { "Configuration" }
        p class="hint" { "Applied to the running bot at once; every change is kept in the settings history." }
        (Posted::outcome_line(posted, "config-result"))
        form method="post" action=(format!("/ui/bots/{}/config#config", segment(&b.id))) id="config-form" novalidate {
            @for (name, label, kind, hint) in TEXT_FIELDS.iter().take(2) {
                (field("config", name, label, *kind, &value(name), hint, error_at(name)))
            }
            fieldset {
                legend { "Agent" }
                (checkbox("config", "enabled", "Answer chats through the agent", enabled))
                div class="field" {
                    label for="config-llm_provider" { "Protocol" }
                    select id="config-llm_provider" name="llm_provider"
                        aria-invalid=[error_at("llm_provider").map(|_| "true")] {
                        @for (_, wire, label) in AGENT_KINDS {
                            option value=(wire) selected[provider == *wire] { (label) }
                        }
                    }
                    @if let Some(e) = error_at("llm_provider") { div class="error" role="alert" { (e) } }
                }
                @for (name, label, kind, hint) in TEXT_FIELDS.iter().skip(2).take(3) {
                    (field("config", name, label, *kind, &value(name), hint, error_at(name)))
                }
                (field("config", "llm_api_key", "Agent API key", Kind::Secret, "",
                    if config.is_some_and(|c| c.has_llm_api_key) {
                        "A key is set; it is never shown. Type a new one to replace it, or leave it empty to keep it."
                    } else {
                        "None set. Bearer token (OpenAI-compatible, webhook) or x-api-key (Anthropic)."
                    },
                    error_at("llm_api_key")))
                @if config.is_some_and(|c| c.has_llm_api_key) {
                    (checkbox("config", "remove_llm_api_key", "Remove the key", false))
                }
            }
            fieldset {
                legend { "Conversation" }
                @for (name, label, kind, hint) in TEXT_FIELDS.iter().skip(5) {
                    (field("config", name, label, *kind, &value(name), hint, error_at(name)))
                }
                @for (name, label, hint) in NUMBER_FIELDS {
                    (field("config", name, label, Kind::Number, &value(name), hint, error_at(name)))
                }
            }
            div class="actions" { button type="submit" id="config-save" { "Save configuration" } }
        }
    }
}

/// `POST /ui/bots/{id}/config`: the form as a `PATCH` of the bot's configuration, then its page.
pub async fn save(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let get = |name: &str| form::posted(&fields, name);
    // Every field as typed: empty is `null` (the default); the API validates and names what is wrong.
    let mut patch = Map::new();
    for (name, ..) in TEXT_FIELDS {
        let v = get(name).unwrap_or_default();
        patch.insert(
            (*name).into(),
            if v.is_empty() { Value::Null } else { v.into() },
        );
    }
    for (name, ..) in NUMBER_FIELDS {
        let v = get(name).unwrap_or_default();
        let value = match v.parse::<u64>() {
            _ if v.is_empty() => Value::Null,
            Ok(n) => n.into(),
            // Not a whole number: sent as typed, so the API's refusal names the field.
            Err(_) => v.into(),
        };
        patch.insert((*name).into(), value);
    }
    patch.insert(
        "llm_provider".into(),
        get("llm_provider").unwrap_or_default().into(),
    );
    patch.insert("enabled".into(), get("enabled").is_some().into());
    match get("llm_api_key").filter(|k| !k.is_empty()) {
        Some(key) => {
            patch.insert("llm_api_key".into(), key.into());
        }
        None if get("remove_llm_api_key").is_some() => {
            patch.insert("llm_api_key".into(), Value::Null);
        }
        None => {}
    }
    let path = format!("/api/v1/instances/{}", segment(&id));
    let (status, answer) = ui
        .call(
            Some(&caller),
            RestCall::new(Method::PATCH, path, Some(patch.into())),
        )
        .await?;
    let outcome = Posted::outcome_of(status, &answer, || {
        serde_json::from_slice::<UpdateInstanceResponse>(&answer)
            .map_or_else(|_| "Saved.".into(), |r| format!("Saved. {}", r.message))
    })?;
    // The key is never shown again, not even as typed.
    let kept: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(k, _)| k != "llm_api_key")
        .collect();
    let said = Said {
        config: Some(Posted {
            fields: kept,
            outcome: Some(outcome),
        }),
        ..Default::default()
    };
    Ok(bot_page::render(ui, &caller, &id, said)
        .await?
        .into_response())
}
