//! `/ui`: seed 000's System Dashboard — Active Bots, Uptime, Memory Usage, Active Tasks, System Health,
//! API Server / Database / Bot Orchestrator, Recent Activity — and the Bot Statistics table, for the
//! bots the caller may see.

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use mcp::RestCall;
use shared::api::{
    events::EventList,
    health::{HealthResponse, ManagerStatus, Reachability},
    instances::{InstanceList, InstanceStatus},
};

use super::{ApiFailure, Caller, UiState, layout};

fn uptime(secs: f64) -> String {
    let secs = secs as u64;
    match (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn reach(r: Reachability) -> Markup {
    match r {
        Reachability::Ok => html! { span class="ok" { "● OK" } },
        Reachability::Unreachable => html! { span class="bad" { "● Unreachable" } },
    }
}

/// Follows `/ui/events/stream` (`?query`), calling `show(event)` for each event. The stream names each
/// event by its type (`event: instance.started`), so a listener is added per type.
pub fn follow_events(query: &str, show: &str) -> String {
    let types: Vec<String> = shared::events::EventType::ALL
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect();
    format!(
        r#"
(function () {{
  var show = {show};
  var source = new EventSource('/ui/events/stream{query}');
  window.addEventListener('pagehide', function () {{ source.close(); }});
  [{types}].forEach(function (type) {{
    source.addEventListener(type, function (message) {{
      try {{ show(JSON.parse(message.data)); }} catch (e) {{}}
    }});
  }});
}})();"#,
        types = types.join(",")
    )
}

/// Prepends an event to Recent Activity (at most 20 shown).
const SHOW_ACTIVITY: &str = r#"function (event) {
    var list = document.getElementById('activity');
    var empty = document.getElementById('activity-empty');
    if (empty) empty.remove();
    var item = document.createElement('li');
    var time = document.createElement('time');
    time.dateTime = event.timestamp;
    time.textContent = (event.timestamp || '').substring(11, 19);
    item.appendChild(time);
    item.appendChild(document.createTextNode(event.message));
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 20) list.removeChild(list.lastChild);
  }"#;

/// `GET /ui/events/stream`: the caller's event stream (`GET /api/v1/events/stream`), for the live parts.
pub async fn events_stream(
    ui: UiState,
    caller: Caller,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiFailure> {
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    ui.0.pass_through(
        &caller,
        RestCall::get(format!("/api/v1/events/stream{query}")),
    )
    .await
}

/// `GET /ui`.
pub async fn page(ui: UiState, caller: Caller) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let health: HealthResponse = {
        // `/health` answers 503 with the same body when the database is down: shown, not an error.
        let (_, body) = ui.call(Some(&caller), RestCall::get("/health")).await?;
        serde_json::from_slice(&body).map_err(|e| super::internal(e.to_string()))?
    };
    let bots: InstanceList = ui.read(&caller, RestCall::get("/api/v1/instances")).await?;
    let events: EventList = ui
        .read(&caller, RestCall::get("/api/v1/events?limit=10"))
        .await?;
    let running = bots
        .instances
        .iter()
        .filter(|b| b.status == InstanceStatus::Running)
        .count();
    let busy = bots
        .instances
        .iter()
        .filter(|b| {
            matches!(
                b.status,
                InstanceStatus::Creating
                    | InstanceStatus::Starting
                    | InstanceStatus::Restarting
                    | InstanceStatus::Stopping
            )
        })
        .count();
    let healthy = health.status == ManagerStatus::Healthy;
    let body = html! {
        h1 { "System Dashboard" }
        section class="cards" aria-label="Fleet summary" {
            div class="card" id="card-active-bots" {
                div class="label" { "Active Bots" }
                div class="value" { (running) " / " (bots.total) }
            }
            div class="card" id="card-uptime" {
                div class="label" { "Uptime" }
                div class="value" { (uptime(health.uptime)) }
            }
            div class="card" id="card-memory" {
                div class="label" { "Memory Usage" }
                div class="value" { (format!("{:.1} MB", health.memory_mb)) }
            }
            div class="card" id="card-tasks" {
                div class="label" { "Active Tasks" }
                div class="value" { (health.active_tasks + busy as i64) }
            }
            div class="card" id="card-health" {
                div class="label" { "System Health" }
                div class=(if healthy { "value ok" } else { "value bad" }) {
                    (if healthy { "Healthy" } else { "Unhealthy" })
                }
            }
            div class="card" {
                div class="label" { "API Server" } div { (reach(Reachability::Ok)) }
                div class="label" { "Database" } div { (reach(health.database)) }
                div class="label" { "Bot Orchestrator" } div { (reach(health.engine)) }
            }
        }
        h2 { "Recent Activity" }
        ul class="activity" id="activity" aria-live="polite" {
            @for e in &events.events {
                li {
                    time datetime=(e.timestamp) { (e.timestamp.get(11..19).unwrap_or(&e.timestamp)) }
                    (e.message)
                }
            }
            @if events.events.is_empty() { li id="activity-empty" { "Nothing yet." } }
        }
        // New events arrive as they happen (server-sent events).
        script { (maud::PreEscaped(follow_events("", SHOW_ACTIVITY))) }
        h2 { "Bot Statistics" }
        div class="table-wrap" {
            table {
                thead { tr { th scope="col" { "Bot Name" } th scope="col" { "Health" }
                    th scope="col" { "Restarts" } th scope="col" { "Messages" } } }
                tbody {
                    @for b in &bots.instances {
                        tr {
                            td { a href=(format!("/ui/bots/{}", b.id)) { (b.display_name) } }
                            td { @if b.health.healthy { span class="ok" { "healthy" } }
                                 @else { span class="bad" { "unhealthy" } } }
                            td { (b.restart_count) }
                            td { (b.sent_count + b.received_count) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Overview", Some(layout::Section::Overview), body).into_response())
}
