//! `/ui/bots/new`: the create form, one per provider (its credential fields from `/api/v1/providers`),
//! with the API's refusal shown next to the field it names; a created bot's page follows it until it is
//! ready and shows its key once.

use axum::{
    Form,
    extract::Query,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use mcp::RestCall;
use serde::Deserialize;
use shared::api::{
    instances::CreateInstanceResponse,
    providers::{ProviderInfo, ProviderList},
};

use super::{
    ApiFailure, Caller, Ui, UiState,
    bot_page::{self, Said},
    form, layout, refusal,
};

/// `?provider=` of the create form.
#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    provider: String,
}

/// What the create form shows again after a refusal.
#[derive(Default)]
struct Entered {
    provider: String,
    fields: Vec<(String, String)>,
    mcp: bool,
    system_prompt: String,
    error: Option<(Option<String>, String)>,
}

async fn providers(ui: &Ui, caller: &Caller) -> Result<Vec<ProviderInfo>, ApiFailure> {
    let list: ProviderList = ui.read(caller, RestCall::get("/api/v1/providers")).await?;
    Ok(list.providers)
}

fn create_form(providers: &[ProviderInfo], entered: &Entered) -> Markup {
    let chosen = providers
        .iter()
        .find(|p| p.name.as_str() == entered.provider)
        .or(providers.first());
    let error_at = |field: &str| -> Option<&str> {
        match &entered.error {
            Some((Some(f), message)) if f == field || f.ends_with(&format!(".{field}")) => {
                Some(message.as_str())
            }
            _ => None,
        }
    };
    let value = |name: &str| {
        entered
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    html! {
        h1 { "New bot" }
        @if let Some((_, message)) = &entered.error {
            p role="alert" class="error" id="form-error" { (message) }
        }
        form method="get" action="/ui/bots/new" class="filters" {
            div { label for="provider-choice" { "Provider" }
                select id="provider-choice" name="provider" {
                    @for p in providers {
                        option value=(p.name.as_str()) selected[Some(p) == chosen] { (p.display_name) }
                    }
                } }
            div { button type="submit" class="secondary" { "Choose" } }
        }
        @if let Some(p) = chosen {
            form method="post" action="/ui/bots" id="create-form" {
                input type="hidden" name="provider" value=(p.name.as_str());
                @for f in &p.credentials {
                    @let id = format!("cred-{}", f.name);
                    @let error = error_at(&f.name);
                    div class="field" {
                        label for=(id) { (f.name) @if f.required { " (required)" } }
                        input id=(id) name=(format!("credentials.{}", f.name))
                            type=(if f.secret { "password" } else { "text" })
                            autocomplete="off" required[f.required]
                            value=(if f.secret { String::new() } else { value(&format!("credentials.{}", f.name)) })
                            aria-invalid=[error.map(|_| "true")]
                            aria-describedby=(format!("{id}-hint"));
                        div class="hint" id=(format!("{id}-hint")) { (f.description) }
                        @if let Some(e) = error { div class="error" role="alert" { (e) } }
                    }
                }
                div class="field" {
                    label for="system_prompt" { "System prompt (optional)" }
                    textarea id="system_prompt" name="system_prompt" { (entered.system_prompt) }
                    @if let Some(e) = error_at("system_prompt") { div class="error" role="alert" { (e) } }
                }
                div class="field" {
                    label { input type="checkbox" name="mcp" value="1" checked[entered.mcp];
                        " Also serve the bot as an MCP server (a second port)" }
                }
                div class="actions" { button type="submit" { "Create bot" } }
            }
        }
    }
}

/// `GET /ui/bots/new`.
pub async fn new_form(
    ui: UiState,
    caller: Caller,
    Query(query): Query<NewQuery>,
) -> Result<Response, ApiFailure> {
    let providers = providers(&ui.0, &caller).await?;
    let entered = Entered {
        provider: query.provider,
        ..Default::default()
    };
    Ok(layout::page(
        "New bot",
        Some(layout::Section::NewBot),
        create_form(&providers, &entered),
    )
    .into_response())
}

/// `POST /ui/bots`: the create, then the new bot's page with its key, shown this once.
pub async fn create(
    ui: UiState,
    caller: Caller,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let get = |name: &str| form::posted(&fields, name).unwrap_or_default();
    let entered = Entered {
        provider: get("provider"),
        fields: fields
            .iter()
            .filter(|(k, _)| k.starts_with("credentials."))
            .cloned()
            .collect(),
        mcp: !get("mcp").is_empty(),
        system_prompt: get("system_prompt"),
        error: None,
    };
    let credentials: serde_json::Map<String, serde_json::Value> = entered
        .fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("credentials.")?;
            Some((
                name.to_string(),
                serde_json::Value::String(v.trim().to_string()),
            ))
        })
        .collect();
    let mut request = serde_json::Map::new();
    request.insert("provider".into(), entered.provider.clone().into());
    request.insert("credentials".into(), credentials.into());
    let interfaces: &[&str] = if entered.mcp {
        &["api", "mcp"]
    } else {
        &["api"]
    };
    request.insert("type_instance".into(), interfaces.into());
    if !entered.system_prompt.is_empty() {
        let mut config = serde_json::Map::new();
        config.insert("system_prompt".into(), entered.system_prompt.clone().into());
        request.insert("config".into(), config.into());
    }
    let (status, body) = ui
        .call(
            Some(&caller),
            RestCall::post("/api/v1/instances", Some(request.into())),
        )
        .await?;
    if !status.is_success() {
        let ApiFailure::Refused(status, error) = refusal(status, &body) else {
            return Err(ApiFailure::SignedOut);
        };
        let providers = providers(ui, &caller).await?;
        let entered = Entered {
            error: Some((error.field.clone(), error.error)),
            ..entered
        };
        return Ok((
            status,
            layout::page(
                "New bot",
                Some(layout::Section::NewBot),
                create_form(&providers, &entered),
            ),
        )
            .into_response());
    }
    let created: CreateInstanceResponse =
        serde_json::from_slice(&body).map_err(|e| super::internal(e.to_string()))?;
    let details = &created.process_result.details;
    let key = details.api_key.clone().unwrap_or_default();
    let said = Said {
        new_key: Some((key, details.mcp_url.clone())),
        ..Default::default()
    };
    bot_page::render(ui, &caller, &created.instance_id, said).await
}
