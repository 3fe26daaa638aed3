//! `/ui/resources…`: the host and its bots over the kept history (charts drawn here as inline SVG, no
//! script), the port range, the engine's hosts, alerts (the active ones resolved from here, fetched
//! again every few seconds so one that fires shows up) and their thresholds (a create form with inline
//! errors). Operators and admins only, as the API's routes are: a user gets a page saying so.
//!
//! The history API can answer every kept sample with every running bot in it; with a thousand bots
//! that is far more than a page needs. So the host's lines come from the host's own history route
//! (thinned by the API), and each drawn bot's line from the resource history asked for that bot alone,
//! at most `MAX_POINTS` samples (`history.rs`).

use axum::{
    extract::Query,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, PreEscaped, html};
use mcp::RestCall;
use serde::{Deserialize, Serialize};
use shared::api::{
    hosts::HostList,
    instances::InstanceList,
    resources::{PortsResponse, ResourcesOverview},
};

mod alerts;
mod chart;
mod history;

use alerts::{ThresholdForm, alerts_section, thresholds_section};
pub use alerts::{alerts_fragment, create_threshold, delete_threshold, resolve};
use chart::charts_section;

use super::{ApiFailure, Caller, Ui, UiState, layout, refusal};

/// How often the page fetches its alerts again, in ms.
const ALERTS_POLL_MS: u32 = 3000;

/// A time window of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    key: &'static str,
    label: &'static str,
    ms: i64,
}

const WINDOWS: [Window; 4] = [
    Window {
        key: "15m",
        label: "15 min",
        ms: 15 * 60_000,
    },
    Window {
        key: "1h",
        label: "1 hour",
        ms: 3_600_000,
    },
    Window {
        key: "6h",
        label: "6 hours",
        ms: 6 * 3_600_000,
    },
    Window {
        key: "24h",
        label: "24 hours",
        ms: 24 * 3_600_000,
    },
];

fn window(key: &str) -> Window {
    WINDOWS
        .iter()
        .find(|w| w.key == key)
        .copied()
        .unwrap_or(WINDOWS[1])
}

/// `?window=&resolved=&created=` of the page.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    window: String,
    /// An alert just resolved from this page.
    #[serde(default)]
    resolved: String,
    /// A threshold just deleted from this page.
    #[serde(default)]
    deleted: String,
    /// A threshold just created from this page.
    #[serde(default)]
    created: String,
}

/// What the page says at its top after a form.
enum Notice {
    Done(String),
    Failed(String),
}

fn notice_line(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => p role="status" id="notice" class="ok" { (text) },
            Some(Notice::Failed(text)) => p role="alert" id="notice" class="error" { (text) },
            None => {}
        }
    }
}

/// The wire name of an enum value (`"online"`), as the API writes it.
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", n / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.0} MB", n / (1024.0 * 1024.0))
    }
}

/// `HH:MM:SS` of unix ms, UTC.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `2026-03-01 14:02:03` of an RFC 3339 time.
fn when(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").chars().take(19).collect()
}

/// The page for a caller the API refuses host resources (a user): what they are and who sees them.
fn operators_only(status: StatusCode, error: &str) -> Response {
    let body = html! {
        h1 { "Resources" }
        p id="operators-only" {
            "Host resources, ports, hosts and alerts are for operators and admins. "
            "Ask an admin if you need to see them."
        }
        p role="alert" class="error" { "The API said: " (error) }
        p { a href="/ui/bots" { "Your bots" } }
    };
    (
        status,
        layout::page("Resources", Some(layout::Section::Resources), body),
    )
        .into_response()
}

/// The overview, or `Err` with the response to give instead (a user's page; no sample yet is `None`).
async fn overview(ui: &Ui, caller: &Caller) -> Result<Option<ResourcesOverview>, Response> {
    let (status, body) = ui
        .call(Some(caller), RestCall::get("/api/v1/resources"))
        .await
        .map_err(IntoResponse::into_response)?;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(match refusal(status, &body) {
            ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
                operators_only(StatusCode::FORBIDDEN, &e.error)
            }
            other => other.into_response(),
        });
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| super::internal(e.to_string()).into_response())
}

fn summary(o: Option<&ResourcesOverview>) -> Markup {
    html! {
        @if let Some(o) = o {
            p class="hint" id="sampled" {
                "The host now: sampled " (when(&o.sampled_at)) " UTC · up " (o.server.uptime)
                " · load " (format!("{:.2} / {:.2} / {:.2}", o.server.host.load_average[0], o.server.host.load_average[1], o.server.host.load_average[2]))
                " (1, 5, 15 min)"
            }
        }
        section class="cards" aria-label="The host now" id="host-now" {
            @match o {
                None => p role="status" { "No resource sample is taken yet; reload in a few seconds." },
                Some(o) => {
                    @let h = &o.server.host;
                    div class="card" id="card-cpu" { div class="label" { "Host CPU" }
                        div class="value" { (format!("{:.1} %", h.cpu_percent)) }
                        div class="label" { (h.cpu_count) " CPUs" } }
                    div class="card" id="card-host-memory" { div class="label" { "Host memory" }
                        div class="value" { (format!("{:.1} %", h.memory_percent)) }
                        div class="label" { (bytes(h.memory_used_bytes)) " of " (bytes(h.memory_total_bytes)) } }
                    div class="card" id="card-disk" { div class="label" { "Disk" }
                        div class="value" { (format!("{:.1} %", h.disk_percent)) }
                        div class="label" { (bytes(h.disk_used_bytes)) " of " (bytes(h.disk_total_bytes)) } }
                    div class="card" id="card-containers" { div class="label" { "Containers" }
                        @match (o.docker.available, o.docker.running_containers, o.docker.total_containers) {
                            (true, Some(running), Some(total)) => {
                                div class="value" { (running) " / " (total) }
                                div class="label" { "running / all on the engine" }
                            }
                            _ => { div class="value bad" { "Docker?" } div class="label" { "the engine did not answer" } }
                        } }
                    div class="card" id="card-bots" { div class="label" { "Bots" }
                        div class="value" { (o.instances.running) " / " (o.instances.total) }
                        div class="label" { "running / all" } }
                }
            }
        }
    }
}

fn ports_section(ports: &PortsResponse) -> Markup {
    let s = &ports.stats;
    html! {
        section id="ports" aria-labelledby="ports-title" {
            h2 id="ports-title" { "Ports" }
            dl class="facts" {
                dt { "Range" } dd { (s.port_range.start) "–" (s.port_range.end) " (" (s.total_ports) " ports)" }
                dt { "Used by bots" } dd id="ports-used" { (s.used_ports) " (" (format!("{:.1}", s.utilization_percent)) " %)"
                    " " meter min="0" max=(s.total_ports) value=(s.used_ports) aria-label="Ports used" {} }
                dt { "Free" } dd id="ports-free" { (s.available_ports) }
                dt { "Held by bots being created" } dd { (s.reserved_ports) }
                dt { "Taken by other programs" } dd { (s.busy_on_host) }
            }
        }
    }
}

fn hosts_section(hosts: &Result<HostList, String>) -> Markup {
    html! {
        section id="hosts" aria-labelledby="hosts-title" {
            h2 id="hosts-title" { "Hosts" }
            @match hosts {
                Err(e) => p role="status" class="warn" { "The engine's hosts are not known yet: " (e) },
                Ok(list) => {
                    @if !list.engine_reachable {
                        p role="status" class="warn" { "The engine does not answer: this is the list it gave at " (when(&list.observed_at)) " UTC." }
                    }
                    div class="table-wrap" {
                        table id="hosts-table" {
                            caption class="visually-hidden" { "The engine's hosts" }
                            thead { tr {
                                th scope="col" { "Host" } th scope="col" { "Role" } th scope="col" { "State" }
                                th scope="col" { "Availability" } th scope="col" { "CPUs" } th scope="col" { "Memory" }
                                th scope="col" { "Bots" } th scope="col" { "Engine" }
                            } }
                            tbody {
                                @for h in &list.hosts {
                                    tr data-id=(h.id) {
                                        td { (h.name) @if h.local { " " span class="badge" title="The manager runs here: its metrics are the ones drawn" { "this manager" } }
                                            br; code class="small" { (h.id.chars().take(12).collect::<String>()) } }
                                        td { (name(&h.role)) }
                                        td { @let state = name(&h.state);
                                            span class=(if state == "ready" { "ok" } else { "bad" }) { (state) } }
                                        td { (h.availability.as_str()) }
                                        td { (h.cpus) }
                                        td { (bytes(h.memory_bytes)) }
                                        td { (h.bots) }
                                        td { (h.engine_version.as_deref().unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Keeps the metric choices to the chosen scope's and the bot choice to bot thresholds; fetches the
/// alerts again every few seconds (until the page is left), so one that fires shows up.
fn script(win: Window) -> String {
    format!(
        r#"
(function () {{
  var scope = document.getElementById('th-scope');
  var metric = document.getElementById('th-metric_type');
  var bot = document.getElementById('th-instance_id');
  // A refused form: the control the API named has the focus (and is scrolled to).
  var refused = document.querySelector('#threshold-form [aria-invalid=true]');
  if (refused) refused.focus();
  function sync() {{
    var groups = metric.querySelectorAll('optgroup');
    for (var i = 0; i < groups.length; i++) groups[i].disabled = groups[i].dataset.scope !== scope.value;
    var chosen = metric.options[metric.selectedIndex];
    if (!chosen || chosen.parentNode.disabled) {{
      var first = metric.querySelector('optgroup[data-scope="' + scope.value + '"] option');
      if (first) first.selected = true;
    }}
    bot.disabled = scope.value !== 'instance';
  }}
  if (scope && metric && bot) {{ scope.addEventListener('change', sync); sync(); }}

  var announce = document.getElementById('alerts-announce');
  var timer = null, stopped = false, last = null;
  function active() {{ return document.querySelectorAll('#alerts-active tbody tr').length; }}
  function schedule() {{ if (!stopped) timer = setTimeout(poll, {poll}); }}
  function poll() {{
    if (stopped) return;
    fetch('/ui/resources/alerts?window={window}', {{credentials: 'same-origin', cache: 'no-store'}})
      .then(function (r) {{ return r.ok && !r.redirected ? r.text() : null; }})
      .then(function (html) {{
        var section = document.getElementById('alerts');
        if (!stopped && html && html !== last && html.indexOf('id="alerts"') !== -1 && section) {{
          var before = active();
          var focused = section.contains(document.activeElement) ? document.activeElement.id : '';
          section.outerHTML = html;
          last = html;
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
          var now = active();
          if (now !== before) announce.textContent = now === 1 ? '1 active alert' : now + ' active alerts';
        }}
        schedule();
      }}, schedule);
  }}
  window.addEventListener('pagehide', function () {{ stopped = true; clearTimeout(timer); }});
  window.addEventListener('pageshow', function (e) {{ if (e.persisted) {{ stopped = false; schedule(); }} }});
  schedule();
}})();"#,
        poll = ALERTS_POLL_MS,
        window = win.key
    )
}

/// Renders the whole page.
#[allow(clippy::too_many_arguments)]
async fn resources_page(
    ui: &Ui,
    caller: &Caller,
    win: Window,
    notice: Option<Notice>,
    // Whether the notice is about the thresholds (else the alerts).
    in_thresholds: bool,
    entered: ThresholdForm,
    error: Option<(Option<String>, String)>,
    status: StatusCode,
) -> Result<Response, ApiFailure> {
    let overview = match overview(ui, caller).await {
        Ok(o) => o,
        Err(response) => return Ok(response),
    };
    let hosts = async {
        match ui
            .read::<HostList>(caller, RestCall::get("/api/v1/hosts"))
            .await
        {
            Ok(list) => Ok(Ok(list)),
            Err(ApiFailure::Refused(_, e)) => Ok(Err(e.error)),
            Err(signed_out) => Err(signed_out),
        }
    };
    let (hosts, ports, (active, resolved, thresholds), bots) = futures::try_join!(
        hosts,
        ui.read::<PortsResponse>(caller, RestCall::get("/api/v1/resources/ports")),
        alerts::read(ui, caller),
        ui.read::<InstanceList>(caller, RestCall::get("/api/v1/instances")),
    )?;
    let local = hosts
        .as_ref()
        .ok()
        .and_then(|l| l.hosts.iter().find(|h| h.local))
        .map(|h| h.id.clone());
    let history = match history::read(ui, caller, win, local.as_deref()).await {
        Ok(h) => Ok(h),
        Err(ApiFailure::Refused(_, e)) => Err(e.error),
        Err(signed_out) => return Err(signed_out),
    };
    let body = html! {
        h1 { "Resources" }
        (summary(overview.as_ref()))
        // What a resolve did, just above the alerts (the polling replaces the section itself).
        @let (alerts_notice, thresholds_notice) = match notice {
            Some(n) if !in_thresholds => (Some(n), None),
            other => (None, other),
        };
        (notice_line(alerts_notice.as_ref()))
        p id="alerts-announce" class="visually-hidden" aria-live="polite" {}
        (alerts_section(win, &active, &resolved, &thresholds))
        (charts_section(win, &history))
        (ports_section(&ports))
        (hosts_section(&hosts))
        (thresholds_section(win, &thresholds, &bots, &entered, error.as_ref(), thresholds_notice.as_ref()))
        script { (PreEscaped(script(win))) }
    };
    Ok((
        status,
        layout::page("Resources", Some(layout::Section::Resources), body),
    )
        .into_response())
}

/// `GET /ui/resources`.
pub async fn page(
    ui: UiState,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let win = window(&query.window);
    let mut notice = None;
    let in_thresholds = !query.created.is_empty() || !query.deleted.is_empty();
    if !query.resolved.is_empty() {
        notice = Some(Notice::Done(format!(
            "Alert {} resolved.",
            query.resolved.chars().take(8).collect::<String>()
        )));
    }
    if !query.deleted.is_empty() {
        notice = Some(Notice::Done(format!(
            "Threshold {} deleted; the alerts it raised are resolved.",
            query.deleted.chars().take(8).collect::<String>()
        )));
    }
    if !query.created.is_empty() {
        notice = Some(Notice::Done(format!(
            "Threshold created: {}. It is checked from the next sample on.",
            query.created
        )));
    }
    resources_page(
        ui,
        &caller,
        win,
        notice,
        in_thresholds,
        ThresholdForm::default(),
        None,
        StatusCode::OK,
    )
    .await
}
