//! A bot's page (`/ui/bots/{id}`): its state and status timeline (polled until it settles), the verbs,
//! key rotation (the new key shown once), then the sections of its own modules — trying the bot
//! (`bot_try`), its configuration (`bot_config`), its webhook (`bot_webhook`) — and its log and
//! events, followed live.

use axum::{
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use shared::api::{
    history::StatusHistory,
    instances::{InstanceResponse, InstanceStatus},
    resources::{InstanceResourcesResponse, InstanceUsage},
};

use super::{
    ApiFailure, Caller, Ui, UiState, bot_config, bot_try, bot_webhook, bots::status_badge, form,
    layout, refusal,
};

/// `GET /ui/bots/{id}`.
pub async fn show(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    render(&ui.0, &caller, &id, Said::default()).await
}

/// What a bot's page says beside its state, after a form of it was posted: the key of a bot just
/// created or rotated (shown this once), and each section's posted form with its outcome.
#[derive(Default)]
pub struct Said {
    pub new_key: Option<(String, Option<String>)>,
    pub sent: Option<form::Posted>,
    pub tested: Option<form::Posted>,
    pub config: Option<form::Posted>,
    pub webhook: Option<bot_webhook::Outcome>,
}

/// A bot as its page shows it.
pub struct BotState {
    pub shown: InstanceResponse,
    pub history: StatusHistory,
    /// Its worker's latest CPU and memory (none before the first sample, or while it does not run).
    pub usage: Option<InstanceUsage>,
}

/// The bot, its status history and its latest resource sample, as the caller may see them.
async fn bot_state(ui: &Ui, caller: &Caller, id: &str) -> Result<BotState, ApiFailure> {
    let path = format!("/api/v1/instances/{}", segment(id));
    let shown: InstanceResponse = ui.read(caller, RestCall::get(path.clone())).await?;
    let history: StatusHistory = ui
        .read(
            caller,
            RestCall::get(format!("{path}/status-history?limit=20")),
        )
        .await?;
    // Before the first sample the API answers 503: the page shows no figures then.
    let usage = ui
        .read::<InstanceResourcesResponse>(caller, RestCall::get(format!("{path}/resources")))
        .await
        .ok()
        .and_then(|r| r.usage);
    Ok(BotState {
        shown,
        history,
        usage,
    })
}

/// What a bot's page shows of its state (status, facts, timeline), and fetches again every second
/// while the bot is not settled.
fn live_section(state: &BotState) -> Markup {
    let b = &state.shown.instance.instance;
    let settled = matches!(
        b.status,
        InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Failed
    );
    html! {
        div id="live" data-settled=(settled) {
            div id="status-line" {
                (status_badge(b.status)) " "
                span id="auth-status" { "auth: " (b.auth_status.as_str()) }
                @if b.paused { " · " span class="warn" { "paused" } }
                @if let Some(reason) = &b.status_reason { " — " span id="status-reason" { (reason) } }
            }
            h2 id="facts" { "Facts" }
            dl class="facts" {
                dt { "Id" } dd { code { (b.id) } }
                dt { "Provider" } dd { (b.provider.display_name()) }
                dt { "Account" } dd { (b.account.as_deref().unwrap_or("—")) " " (b.phone_number.as_deref().unwrap_or("")) }
                dt { "Owner" } dd { (b.user_id) }
                dt { "Health" } dd { @if b.health.healthy { span class="ok" { "healthy" } } @else { span class="bad" { "unhealthy" } } }
                dt { "CPU" } dd id="bot-cpu" { @if let Some(u) = &state.usage { (format!("{:.1} %", u.cpu_percent)) } @else { "—" } }
                dt { "Memory" } dd id="bot-memory" { @if let Some(u) = &state.usage { (super::bots::megabytes(u.memory_bytes)) " of " (super::bots::megabytes(u.memory_limit_bytes)) } @else { "—" } }
                dt { "Ports" } dd { "api " (b.port_api) @if let Some(p) = b.port_mcp { " · mcp " (p) } }
                dt { "Restarts" } dd { (b.restart_count) }
                dt { "Messages" } dd { (b.sent_count) " sent · " (b.received_count) " received" }
                dt { "Key" } dd { (b.api_key_hint) }
                dt { "Created" } dd { (b.created_at) }
            }
            h2 { "Status history" }
            ol class="activity" id="timeline" {
                @for change in &state.history.data {
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

/// The sign-in section: how the bot's provider logs in, and the QR code to scan where it pairs by one.
async fn auth_section(ui: &Ui, caller: &Caller, state: &BotState) -> Result<Markup, ApiFailure> {
    let b = &state.shown.instance.instance;
    let path = format!("/api/v1/instances/{}/current-qr", segment(&b.id));
    let (status, body) = ui.call(Some(caller), RestCall::get(path)).await?;
    // No provider of this build pairs by QR: the API's 404 says how this one logs in instead.
    let qr = if status.is_success() {
        serde_json::from_slice::<shared::api::qr::QrCode>(&body).ok()
    } else {
        None
    };
    let why_none = serde_json::from_slice::<shared::api::qr::QrUnavailable>(&body)
        .ok()
        .and_then(|u| u.message);
    Ok(html! {
        h2 id="auth" { "Sign-in" }
        p id="auth-line" {
            "Status: " strong { (b.auth_status.as_str()) }
            @if b.is_ready_for_messages { " — ready for messages" }
        }
        @if let Some(qr) = qr {
            figure id="qr" {
                pre class="qr" aria-label="QR code to scan with the phone" { (qr.qr_code) }
                figcaption { "Scan it within " (qr.expires_in) " s." }
            }
        } @else if let Some(why) = why_none {
            p class="hint" id="qr-none" { (why) }
        }
    })
}

/// Renders the bot's page with what `said` carries.
pub async fn render(
    ui: &Ui,
    caller: &Caller,
    id: &str,
    said: Said,
) -> Result<Response, ApiFailure> {
    let state = bot_state(ui, caller, id).await?;
    let b = &state.shown.instance.instance;
    let auth = auth_section(ui, caller, &state).await?;
    let webhook = bot_webhook::section(ui, caller, b, said.webhook.as_ref()).await?;
    let verb = |name: &str, label: &str| {
        html! {
            form method="post" action=(format!("/ui/bots/{}/verb/{name}", segment(&b.id))) {
                button type="submit" class="secondary" id=(format!("verb-{name}")) { (label) }
            }
        }
    };
    let body = html! {
        h1 { (b.display_name) }
        nav class="sections" aria-label="On this page" {
            a href="#facts" { "Facts" } a href="#auth" { "Sign-in" } a href="#try" { "Try it" }
            a href="#config" { "Configuration" } a href="#webhook" { "Webhook" } a href="#log" { "Log" }
            a href="#events" { "Events" }
        }
        @if let Some((key, mcp_url)) = &said.new_key {
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
        (live_section(&state))
        (auth)
        (bot_try::section(b, said.sent.as_ref(), said.tested.as_ref()))
        (bot_config::section(b, said.config.as_ref()))
        (webhook)
        h2 id="log" { "Log" }
        pre id="logs" class="log" tabindex="0" aria-label="The worker's log, followed live" {}
        h2 id="events" { "Events" }
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
  if (location.pathname !== '/ui/bots/{id}') history.replaceState(null, '', '/ui/bots/{id}' + location.hash);
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
    let state = bot_state(&ui.0, &caller, &id).await?;
    let live = live_section(&state);
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
    render(ui, &caller, &id, said).await
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
