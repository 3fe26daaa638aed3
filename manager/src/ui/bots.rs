//! `/ui/bots…`: the bots table (search, filters, sort, paging, bulk verbs), the create form (one per
//! provider, inline errors), a bot's page (facts, verbs, status timeline) and the fragment its page
//! polls while the bot gets ready.

use axum::{
    Form,
    extract::{Path, Query, RawForm},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use serde::Deserialize;
use shared::api::{
    history::StatusHistory,
    instances::{
        CreateInstanceResponse, InstanceList, InstanceResponse, InstanceStatus, InstanceView,
    },
    providers::{ProviderInfo, ProviderList},
};

use super::{ApiFailure, Caller, Ui, UiState, layout, refusal};

/// Rows per page of the table.
const PAGE_SIZE: usize = 50;

/// `?q=&status=&provider=&sort=&dir=&page=` of the table.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TableQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: usize,
}

impl TableQuery {
    fn link(&self, change: impl FnOnce(&mut TableQuery)) -> String {
        let mut q = self.clone();
        change(&mut q);
        let pairs = [
            ("q", q.q),
            ("status", q.status),
            ("provider", q.provider),
            ("sort", q.sort),
            ("dir", q.dir),
            (
                "page",
                if q.page > 0 {
                    q.page.to_string()
                } else {
                    String::new()
                },
            ),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        format!("/ui/bots?{query}")
    }

    fn matches(&self, b: &InstanceView) -> bool {
        let q = self.q.trim().to_lowercase();
        let text = q.is_empty()
            || [
                b.display_name.as_str(),
                b.id.as_str(),
                b.user_id.as_str(),
                b.account.as_deref().unwrap_or_default(),
                b.phone_number.as_deref().unwrap_or_default(),
            ]
            .iter()
            .any(|f| f.to_lowercase().contains(&q));
        text && (self.status.is_empty() || b.status.as_str() == self.status)
            && (self.provider.is_empty() || b.provider.as_str() == self.provider)
    }

    fn sort(&self, bots: &mut [&InstanceView]) {
        match self.sort.as_str() {
            "status" => bots.sort_by_key(|b| b.status.as_str()),
            "provider" => bots.sort_by_key(|b| b.provider.as_str()),
            "port" => bots.sort_by_key(|b| b.port_api),
            "restarts" => bots.sort_by_key(|b| b.restart_count),
            "messages" => bots.sort_by_key(|b| b.sent_count + b.received_count),
            "created" => bots.sort_by(|a, b| a.created_at.cmp(&b.created_at)),
            _ => bots.sort_by_key(|b| b.display_name.to_lowercase()),
        }
        if self.dir == "desc" {
            bots.reverse();
        }
    }
}

fn status_badge(status: InstanceStatus) -> Markup {
    let class = match status {
        InstanceStatus::Running => "badge ok",
        InstanceStatus::Failed | InstanceStatus::Degraded => "badge bad",
        _ => "badge warn",
    };
    html! { span class=(class) data-status=(status.as_str()) { (status.as_str()) } }
}

/// `GET /ui/bots`.
pub async fn list(
    ui: UiState,
    caller: Caller,
    Query(query): Query<TableQuery>,
) -> Result<Response, ApiFailure> {
    table_page(&ui.0, &caller, query, None).await
}

async fn table_page(
    ui: &Ui,
    caller: &Caller,
    query: TableQuery,
    notice: Option<String>,
) -> Result<Response, ApiFailure> {
    let all: InstanceList = ui.read(caller, RestCall::get("/api/v1/instances")).await?;
    let mut shown: Vec<&InstanceView> = all.instances.iter().filter(|b| query.matches(b)).collect();
    query.sort(&mut shown);
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages - 1);
    let rows = shown.iter().skip(page * PAGE_SIZE).take(PAGE_SIZE);
    let sort_link = |key: &str, label: &str| {
        let desc = query.sort == key && query.dir != "desc";
        let href = query.link(|q| {
            q.sort = key.into();
            q.dir = if desc { "desc".into() } else { String::new() };
            q.page = 0;
        });
        html! { a href=(href) { (label) } }
    };
    let body = html! {
        h1 { "Bots" }
        @if let Some(notice) = &notice { p role="status" id="notice" { (notice) } }
        form class="filters" method="get" action="/ui/bots" role="search" {
            div { label for="q" { "Search" }
                input id="q" name="q" type="search" value=(query.q) placeholder="name, id, owner, @handle"; }
            div { label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "any" }
                    @for s in InstanceStatus::ALL {
                        option value=(s.as_str()) selected[query.status == s.as_str()] { (s.as_str()) }
                    }
                } }
            div { label for="provider" { "Provider" }
                select id="provider" name="provider" {
                    option value="" { "any" }
                    @for p in shared::Provider::ALL {
                        option value=(p.as_str()) selected[query.provider == p.as_str()] { (p.display_name()) }
                    }
                } }
            div { button type="submit" { "Apply" } }
            div { a class="button secondary" href="/ui/bots/new" { "New bot" } }
        }
        form method="post" action="/ui/bots/bulk" {
            div class="actions" {
                label for="bulk-action" { "With the selected bots:" }
                select id="bulk-action" name="action" {
                    option value="start" { "start" }
                    option value="stop" { "stop" }
                    option value="restart" { "restart" }
                }
                button type="submit" { "Apply to selected" }
            }
            div class="table-wrap" {
                table id="bots" {
                    caption class="visually-hidden" { "Bots" }
                    thead { tr {
                        th scope="col" { span class="visually-hidden" { "Select" } }
                        th scope="col" { (sort_link("name", "Name")) }
                        th scope="col" { (sort_link("status", "Status")) }
                        th scope="col" { "Health" }
                        th scope="col" { (sort_link("provider", "Provider")) }
                        th scope="col" { (sort_link("restarts", "Restarts")) }
                        th scope="col" { (sort_link("messages", "Messages")) }
                        th scope="col" { (sort_link("port", "Port")) }
                        th scope="col" { (sort_link("created", "Created")) }
                    } }
                    tbody {
                        @for b in rows {
                            tr data-id=(b.id) {
                                td { input type="checkbox" name="id" value=(b.id)
                                    aria-label=(format!("select {}", b.display_name)); }
                                td { a href=(format!("/ui/bots/{}", b.id)) { (b.display_name) } }
                                td { (status_badge(b.status)) }
                                td { @if b.health.healthy { span class="ok" { "healthy" } }
                                     @else { span class="bad" { "unhealthy" } } }
                                td { (b.provider.display_name()) }
                                td { (b.restart_count) }
                                td { (b.sent_count) " out · " (b.received_count) " in" }
                                td { (b.port_api) @if let Some(p) = b.port_mcp { " · mcp " (p) } }
                                td { (b.created_at.get(..10).unwrap_or(&b.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 0 { a href=(query.link(|q| q.page = page - 1)) rel="prev" { "← Previous" } }
            span id="page-info" { "Page " (page + 1) " of " (pages) " · " (shown.len()) " bots" }
            @if page + 1 < pages { a href=(query.link(|q| q.page = page + 1)) rel="next" { "Next →" } }
        }
    };
    Ok(layout::page("Bots", Some(layout::Section::Bots), body).into_response())
}

/// `POST /ui/bots/bulk`: `action` (start, stop, restart) on every selected `id`.
pub async fn bulk(
    ui: UiState,
    caller: Caller,
    RawForm(form): RawForm,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let mut action = String::new();
    let mut ids = Vec::new();
    for (key, value) in form_urlencoded::parse(&form) {
        match key.as_ref() {
            "action" => action = value.into_owned(),
            "id" => ids.push(value.into_owned()),
            _ => {}
        }
    }
    if !matches!(action.as_str(), "start" | "stop" | "restart") {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, "unknown action").into_response());
    }
    let (mut done, mut refused) = (0, Vec::new());
    for id in &ids {
        let path = format!("/api/v1/instances/{}/{action}", segment(id));
        let (status, body) = ui.call(Some(&caller), RestCall::post(path, None)).await?;
        if status.is_success() {
            done += 1;
        } else if let ApiFailure::Refused(_, e) = refusal(status, &body) {
            refused.push(format!("{id}: {}", e.error));
        }
    }
    let notice = if refused.is_empty() {
        format!("{action}: {done} of {} done", ids.len())
    } else {
        format!(
            "{action}: {done} of {} done; refused: {}",
            ids.len(),
            refused.join("; ")
        )
    };
    table_page(ui, &caller, TableQuery::default(), Some(notice)).await
}

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
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
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
    bot_page(ui, &caller, &created.instance_id, said).await
}

/// `GET /ui/bots/{id}`.
pub async fn show(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    bot_page(&ui.0, &caller, &id, Said::default()).await
}

/// The "send a test message" form, with the outcome of the last one.
fn send_form(b: &InstanceView, sent: Option<&Sent>) -> Markup {
    let (chat, text) = sent.map_or(("", ""), |s| (s.chat.as_str(), s.text.as_str()));
    let outcome = sent.map(|s| &s.outcome);
    let error_at = |field: &str| match outcome {
        Some(Err((Some(f), e))) if f == field => Some(e.as_str()),
        _ => None,
    };
    html! {
        h2 { "Send a test message" }
        @if let Some(Ok(what)) = outcome {
            p role="status" id="send-result" class="ok" { (what) }
        }
        @if let Some(Err((_, error))) = outcome {
            p role="alert" id="send-result" class="error" { (error) }
        }
        form method="post" action=(format!("/ui/bots/{}/send", segment(&b.id))) id="send-form" {
            div class="field" {
                label for="send-chat" { "Chat" }
                input id="send-chat" name="chatId" type="text" required value=(chat)
                    aria-invalid=[error_at("chatId").map(|_| "true")] aria-describedby="send-chat-hint";
                div class="hint" id="send-chat-hint" { "The chat as " (b.provider.display_name()) " names it (a chat id, @username, channel)." }
            }
            div class="field" {
                label for="send-text" { "Message" }
                textarea id="send-text" name="message" required
                    aria-invalid=[error_at("message").map(|_| "true")] { (text) }
            }
            div class="actions" { button type="submit" { "Send" } }
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
    // As typed: the API checks it (`shared::worker_api::SendRequest`) and names a wrong field.
    let mut body = serde_json::Map::new();
    body.insert("chatId".into(), form.chat_id.trim().into());
    body.insert("message".into(), form.message.clone().into());
    let body = serde_json::Value::Object(body);
    let path = format!("/api/v1/instances/{}/send", segment(&id));
    let (status, answer) = ui
        .call(Some(&caller), RestCall::post(path, Some(body)))
        .await?;
    let outcome = if status.is_success() {
        let sent: shared::worker_api::SendResponse =
            serde_json::from_slice(&answer).map_err(|e| super::internal(e.to_string()))?;
        Ok(format!("Sent (message {}).", sent.message_id))
    } else {
        match refusal(status, &answer) {
            ApiFailure::Refused(_, e) => Err((e.field, e.error)),
            signed_out => return Err(signed_out),
        }
    };
    let said = Said {
        sent: Some(Sent {
            outcome,
            chat: form.chat_id,
            text: form.message,
        }),
        ..Default::default()
    };
    bot_page(ui, &caller, &id, said).await
}

/// What a bot's page shows of its state (status, facts, timeline), and fetches again every second
/// while the bot is not settled.
fn live_section(b: &InstanceView, history: &StatusHistory) -> Markup {
    let settled = matches!(
        b.status,
        InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Failed
    );
    html! {
        div id="live" data-settled=(settled) {
            div id="status-line" {
                (status_badge(b.status)) " "
                span id="auth-status" { "auth: " (b.auth_status.as_str()) }
                @if let Some(reason) = &b.status_reason { " — " span id="status-reason" { (reason) } }
            }
            h2 { "Facts" }
            dl class="facts" {
                dt { "Id" } dd { code { (b.id) } }
                dt { "Provider" } dd { (b.provider.display_name()) }
                dt { "Account" } dd { (b.account.as_deref().unwrap_or("—")) " " (b.phone_number.as_deref().unwrap_or("")) }
                dt { "Owner" } dd { (b.user_id) }
                dt { "Health" } dd { @if b.health.healthy { span class="ok" { "healthy" } } @else { span class="bad" { "unhealthy" } } }
                dt { "Ports" } dd { "api " (b.port_api) @if let Some(p) = b.port_mcp { " · mcp " (p) } }
                dt { "Restarts" } dd { (b.restart_count) }
                dt { "Messages" } dd { (b.sent_count) " sent · " (b.received_count) " received" }
                dt { "Key" } dd { (b.api_key_hint) }
                dt { "Created" } dd { (b.created_at) }
            }
            h2 { "Status history" }
            ol class="activity" id="timeline" {
                @for change in &history.data {
                    li {
                        time datetime=(change.timestamp) { (change.timestamp.replace('T', " ")) }
                        strong { (change.status.as_str()) }
                        @if let Some(reason) = &change.reason { " — " (reason) }
                    }
                }
            }
        }
    }
}

/// The bot and its status history, as the caller may see them.
async fn bot_state(
    ui: &Ui,
    caller: &Caller,
    id: &str,
) -> Result<(InstanceResponse, StatusHistory), ApiFailure> {
    let path = format!("/api/v1/instances/{}", segment(id));
    let shown: InstanceResponse = ui.read(caller, RestCall::get(path.clone())).await?;
    let history: StatusHistory = ui
        .read(
            caller,
            RestCall::get(format!("{path}/status-history?limit=20")),
        )
        .await?;
    Ok((shown, history))
}

/// What a bot's page says beside its state: the key of a bot just created (shown once), the outcome
/// of a test message.
#[derive(Default)]
struct Said {
    new_key: Option<(String, Option<String>)>,
    sent: Option<Sent>,
}

/// The outcome of a test message, with the chat and text to show again.
struct Sent {
    /// `Ok(what was sent)` or `Err((field, error))`.
    outcome: Result<String, (Option<String>, String)>,
    chat: String,
    text: String,
}

async fn bot_page(ui: &Ui, caller: &Caller, id: &str, said: Said) -> Result<Response, ApiFailure> {
    let new_key = said.new_key;
    let (shown, history) = bot_state(ui, caller, id).await?;
    let b = &shown.instance.instance;
    let verb = |name: &str, label: &str| {
        html! {
            form method="post" action=(format!("/ui/bots/{}/verb/{name}", segment(&b.id))) {
                button type="submit" class="secondary" id=(format!("verb-{name}")) { (label) }
            }
        }
    };
    let body = html! {
        h1 { (b.display_name) }
        @if let Some((key, mcp_url)) = &new_key {
            section aria-labelledby="key-title" {
                h2 id="key-title" { "The bot's API key — shown only now" }
                p { "Store it: it is never shown again (rotating it issues a new one)." }
                p class="key" id="new-api-key" { (key) }
                @if let Some(url) = mcp_url { p { "MCP server: " code id="mcp-url" { (url) } } }
            }
        }
        div class="actions" {
            (verb("start", "Start")) (verb("stop", "Stop")) (verb("restart", "Restart"))
            form method="post" action=(format!("/ui/bots/{}/rotate-key", segment(&b.id))) {
                button type="submit" class="secondary" id="rotate-key" { "Rotate API key" }
            }
        }
        (live_section(b, &history))
        (send_form(b, said.sent.as_ref()))
        h2 { "Log" }
        pre id="logs" class="log" tabindex="0" aria-label="The worker's log, followed live" {}
        h2 { "Events" }
        ul class="activity" id="bot-events" aria-live="polite" {}
        script { (maud::PreEscaped(format!(r#"
(function () {{
  // The log is followed while the page is open; when there is none yet (a bot being created) or the
  // stream ends (a new container), it is asked for again, and starts afresh from its last 200 lines.
  var logs = document.getElementById('logs');
  // Streams end with the page, so they never hold the browser's few connections to this host.
  var leaving = new AbortController();
  window.addEventListener('pagehide', function () {{ leaving.abort(); }});
  function follow() {{
    if (leaving.signal.aborted) return;
    fetch('/ui/bots/{id}/logs/stream', {{credentials: 'same-origin', signal: leaving.signal}}).then(function (r) {{
      if (!r.ok || !r.body) {{ setTimeout(follow, 1000); return; }}
      var reader = r.body.getReader(), decoder = new TextDecoder(), fresh = true;
      function read() {{
        reader.read().then(function (chunk) {{
          if (chunk.done) {{ setTimeout(follow, 1000); return; }}
          if (fresh) {{ logs.textContent = ''; fresh = false; }}
          var stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
          logs.textContent = (logs.textContent + decoder.decode(chunk.value, {{stream: true}})).slice(-200000);
          if (stick) logs.scrollTop = logs.scrollHeight;
          read();
        }}, function () {{ setTimeout(follow, 1000); }});
      }}
      read();
    }}, function () {{ setTimeout(follow, 1000); }});
  }}
  follow();
}})();"#, id = segment(&b.id)))) }
        script { (maud::PreEscaped(super::overview::follow_events(
            &format!("?instance_id={}", segment(&b.id)),
            r#"function (event) {
    var events = document.getElementById('bot-events');
    var item = document.createElement('li');
    var time = document.createElement('time');
    time.dateTime = event.timestamp;
    time.textContent = (event.timestamp || '').substring(11, 19);
    item.appendChild(time);
    item.appendChild(document.createTextNode(event.event_type + ' — ' + event.message));
    events.insertBefore(item, events.firstChild);
    while (events.children.length > 50) events.removeChild(events.lastChild);
  }"#,
        ))) }
        // Until the bot settles, its live part is fetched again every second. The page of a bot just
        // created takes the bot's address, so a reload neither posts the form again nor shows the key.
        script {
            (maud::PreEscaped(format!(r#"
(function () {{
  if (location.pathname !== '/ui/bots/{id}') history.replaceState(null, '', '/ui/bots/{id}');
  var live = document.getElementById('live');
  function poll() {{
    if (live.dataset.settled === 'true') return;
    fetch('/ui/bots/{id}/status', {{credentials: 'same-origin'}})
      .then(function (r) {{ return r.ok ? r.text() : null; }})
      .then(function (html) {{
        if (html) {{ live.outerHTML = html; live = document.getElementById('live'); }}
        setTimeout(poll, 1000);
      }}, function () {{ setTimeout(poll, 1000); }});
  }}
  setTimeout(poll, 1000);
}})();"#, id = segment(&b.id))))
        }
    };
    Ok(layout::page(&b.display_name, Some(layout::Section::Bots), body).into_response())
}

/// `GET /ui/bots/{id}/status`: the page's live part alone, for its polling.
pub async fn status(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let (shown, history) = bot_state(&ui.0, &caller, &id).await?;
    let live = live_section(&shown.instance.instance, &history);
    Ok(axum::response::Html(live.into_string()).into_response())
}

/// `GET /ui/bots/{id}/logs/stream`: the worker's log, its last 200 lines and then followed.
pub async fn logs_stream(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let path = format!(
        "/api/v1/instances/{}/logs?tail=200&follow=true",
        segment(&id)
    );
    ui.0.pass_through(&caller, RestCall::get(path)).await
}

/// `POST /ui/bots/{id}/rotate-key`: a new API key (the old one stops working), shown on the bot's page
/// this once.
pub async fn rotate_key(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let path = format!("/api/v1/instances/{}/api-key/rotate", segment(&id));
    let (status, body) = ui.call(Some(&caller), RestCall::post(path, None)).await?;
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    let rotated: shared::api::access::RotatedApiKey =
        serde_json::from_slice(&body).map_err(|e| super::internal(e.to_string()))?;
    let said = Said {
        new_key: Some((rotated.api_key, None)),
        ..Default::default()
    };
    bot_page(ui, &caller, &id, said).await
}

/// `POST /ui/bots/{id}/verb/{verb}`: start, stop or restart, then back to the bot's page.
pub async fn verb(
    ui: UiState,
    caller: Caller,
    Path((id, verb)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    if !matches!(verb.as_str(), "start" | "stop" | "restart") {
        return Ok((StatusCode::NOT_FOUND, "no such action").into_response());
    }
    let path = format!("/api/v1/instances/{}/{verb}", segment(&id));
    let (status, body) = ui.0.call(Some(&caller), RestCall::post(path, None)).await?;
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    Ok(Redirect::to(&format!("/ui/bots/{}", segment(&id))).into_response())
}
