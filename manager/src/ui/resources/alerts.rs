//! The alerts (the active ones resolved from the page, fetched again every few seconds) and the
//! thresholds (a table, each deleted with its button, and a create form with inline errors).

use axum::{
    Form,
    extract::{Path, Query},
    http::{Method, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use serde::Deserialize;
use shared::api::{
    alerts::{AlertList, AlertListQuery, AlertStatus, AlertView, ThresholdList, ThresholdScope},
    instances::InstanceList,
};

use super::chart::number;
use super::{Notice, PageQuery, Window, notice_line, operators_only, resources_page, when, window};
use crate::ui::{ApiFailure, Caller, Ui, UiState, form, refusal};

fn comparison_sign(comparison: &str) -> &'static str {
    match comparison {
        "gt" => ">",
        "gte" => "≥",
        "lt" => "<",
        "lte" => "≤",
        _ => "?",
    }
}

/// What a metric measures, for a threshold of `scope`.
fn metric_label(scope: ThresholdScope, metric: &str) -> &'static str {
    match (scope, metric) {
        (ThresholdScope::Host, "cpu") => "CPU (% of all CPUs)",
        (ThresholdScope::Host, "memory") => "Memory (% of the host's)",
        (ThresholdScope::Host, "disk") => "Disk (% used)",
        (_, "cpu") => "CPU (% of one CPU)",
        (_, "memory") => "Memory (% of its limit)",
        (_, "restarts") => "Restarts (count)",
        (_, "health") => "Health (1 answering, 0 not)",
        _ => "?",
    }
}

/// The threshold form as typed (shown again after a refusal).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ThresholdForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    metric_type: String,
    #[serde(default)]
    comparison: String,
    #[serde(default)]
    threshold_value: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    window: String,
}

/// The form's controls, by the API's field names (each control's id is `th-<name>`).
const FORM_FIELDS: [&str; 6] = [
    "scope",
    "instance_id",
    "metric_type",
    "comparison",
    "threshold_value",
    "webhook_url",
];

/// The alerts section, as the page shows it and as its polling fetches it again.
pub(super) fn alerts_section(
    win: Window,
    active: &AlertList,
    resolved: &AlertList,
    thresholds: &ThresholdList,
) -> Markup {
    let limit = |a: &AlertView| {
        thresholds
            .thresholds
            .iter()
            .find(|t| t.id == a.threshold_id)
            .map(|t| {
                format!(
                    "{} {}",
                    comparison_sign(t.comparison.as_str()),
                    number(t.threshold_value)
                )
            })
            .unwrap_or_else(|| number(a.threshold_value))
    };
    let target = |a: &AlertView| {
        html! {
            @if a.target == "host" { "host" }
            @else { a href=(format!("/ui/bots/{}", segment(&a.target))) title=(a.target) {
                code { (a.target.chars().take(8).collect::<String>()) } } }
        }
    };
    html! {
        section id="alerts" aria-labelledby="alerts-title" data-active=(active.alerts.len()) {
            h2 id="alerts-title" { "Alerts" }
            h3 { "Active (" (active.alerts.len()) ")" }
            @if active.alerts.is_empty() {
                p id="alerts-none" class="ok" { "No active alerts." }
            } @else {
                div class="table-wrap" {
                    table id="alerts-active" {
                        caption class="visually-hidden" { "Active alerts, newest first" }
                        thead { tr {
                            th scope="col" { "Fired (UTC)" } th scope="col" { "Target" } th scope="col" { "Metric" }
                            th scope="col" { "Value" } th scope="col" { "Threshold" } th scope="col" { "Alert" }
                            th scope="col" { span class="visually-hidden" { "Action" } }
                        } }
                        tbody {
                            @for a in &active.alerts {
                                tr data-id=(a.id) {
                                    td { time datetime=(a.fired_at) { (when(&a.fired_at)) } }
                                    td { (target(a)) }
                                    td { (a.metric_type.as_str()) }
                                    td { (number(a.value)) }
                                    td { (limit(a)) }
                                    td class="wrap" { (a.message) }
                                    td {
                                        form method="post" action=(format!("/ui/resources/alerts/{}/resolve", segment(&a.id))) {
                                            input type="hidden" name="window" value=(win.key);
                                            button type="submit" class="secondary" id=(format!("resolve-{}", a.id))
                                                aria-label=(format!("Resolve: {}", a.message)) { "Resolve" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p class="hint" { "An alert also resolves by itself when its value recovers. One resolved here while its threshold still holds fires again at the next sample." }
            }
            h3 { "Recently resolved" }
            @if resolved.alerts.is_empty() {
                p id="resolved-none" { "None yet." }
            } @else {
                div class="table-wrap" {
                    table id="alerts-resolved" {
                        caption class="visually-hidden" { "Recently resolved alerts, newest first" }
                        thead { tr {
                            th scope="col" { "Fired (UTC)" } th scope="col" { "Resolved (UTC)" } th scope="col" { "Target" }
                            th scope="col" { "Metric" } th scope="col" { "Value" } th scope="col" { "Threshold" }
                        } }
                        tbody {
                            @for a in &resolved.alerts {
                                tr data-id=(a.id) {
                                    td { time datetime=(a.fired_at) { (when(&a.fired_at)) } }
                                    td { @if let Some(r) = &a.resolved_at { time datetime=(r) { (when(r)) } } }
                                    td { (target(a)) }
                                    td { (a.metric_type.as_str()) }
                                    td { (number(a.value)) }
                                    td { (limit(a)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Active and recently resolved alerts, and the thresholds (for their comparisons).
pub(super) async fn read(
    ui: &Ui,
    caller: &Caller,
) -> Result<(AlertList, AlertList, ThresholdList), ApiFailure> {
    let list = |status: AlertStatus, limit: u32| {
        let query = AlertListQuery {
            status: Some(status),
            limit: Some(limit),
        };
        ui.read::<AlertList>(
            caller,
            RestCall::get(format!("/api/v1/alerts{}", mcp::query(&query))),
        )
    };
    futures::try_join!(
        list(AlertStatus::Active, 100),
        list(AlertStatus::Resolved, 10),
        ui.read::<ThresholdList>(caller, RestCall::get("/api/v1/alerts/thresholds")),
    )
}

pub(super) fn thresholds_section(
    win: Window,
    thresholds: &ThresholdList,
    bots: &InstanceList,
    entered: &ThresholdForm,
    error: Option<&(Option<String>, String)>,
    notice: Option<&Notice>,
) -> Markup {
    let bot_name = |id: &str| {
        bots.instances
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.display_name.clone())
    };
    // The control a refusal names; one the form has no control for is said above the form only.
    let error_at = |field: &str| match error {
        Some((Some(f), message)) if f == field => Some(message.as_str()),
        _ => None,
    };
    let at_a_control = error
        .and_then(|(f, _)| f.as_deref())
        .is_some_and(|f| FORM_FIELDS.contains(&f));
    let scope = if entered.scope == "instance" {
        ThresholdScope::Instance
    } else {
        ThresholdScope::Host
    };
    let comparison = if entered.comparison.is_empty() {
        "gt"
    } else {
        entered.comparison.as_str()
    };
    // A choice among `options`, labelled, with its hint and error as `form::field` gives an input.
    let choice = |name: &str, label: &str, hint: &str, options: Markup| {
        let id = format!("th-{name}");
        let error = error_at(name);
        let described = [
            (!hint.is_empty()).then(|| format!("{id}-hint")),
            error.map(|_| format!("{id}-error")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        html! {
            div class="field" {
                label for=(id) { (label) }
                select id=(id) name=(name) aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[(!described.is_empty()).then_some(&described)] { (options) }
                @if !hint.is_empty() { div class="hint" id=(format!("{id}-hint")) { (hint) } }
                @if let Some(e) = error { div class="error" role="alert" id=(format!("{id}-error")) { (e) } }
            }
        }
    };
    html! {
        section id="thresholds" aria-labelledby="thresholds-title" {
            h2 id="thresholds-title" { "Thresholds" }
            (notice_line(notice))
            @if thresholds.thresholds.is_empty() {
                p id="thresholds-none" { "No thresholds: nothing raises alerts." }
            } @else {
                div class="table-wrap" {
                    table id="thresholds-table" {
                        caption class="visually-hidden" { "Thresholds, oldest first" }
                        thead { tr {
                            th scope="col" { "Watches" } th scope="col" { "Metric" } th scope="col" { "Fires when" }
                            th scope="col" { "Enabled" } th scope="col" { "Webhook" }
                            th scope="col" { span class="visually-hidden" { "Action" } }
                        } }
                        tbody {
                            @for t in &thresholds.thresholds {
                                tr data-id=(t.id) {
                                    td {
                                        @match (&t.scope, &t.instance_id) {
                                            (ThresholdScope::Host, _) => "the host",
                                            (_, None) => "every bot",
                                            (_, Some(id)) => a href=(format!("/ui/bots/{}", segment(id))) {
                                                (bot_name(id).unwrap_or_else(|| id.clone())) },
                                        }
                                    }
                                    td { (metric_label(t.scope, t.metric_type.as_str())) }
                                    td { "value " (comparison_sign(t.comparison.as_str())) " " (number(t.threshold_value)) }
                                    td { @if t.enabled { "yes" } @else { "no" } }
                                    td class="wrap" { (t.webhook_url.as_deref().unwrap_or("—")) }
                                    td {
                                        form method="post" action=(format!("/ui/resources/thresholds/{}/delete", segment(&t.id))) {
                                            input type="hidden" name="window" value=(win.key);
                                            button type="submit" class="secondary" aria-label=(format!("Delete threshold {}", t.id)) { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 id="new-threshold" { "New threshold" }
            @if let Some((_, message)) = error {
                p role="alert" class="error" id="threshold-error" {
                    "The threshold was not created: "
                    @if at_a_control { "see the field marked below." } @else { (message) }
                }
            }
            form method="post" action="/ui/resources/thresholds" id="threshold-form" aria-labelledby="new-threshold" novalidate {
                input type="hidden" name="window" value=(win.key);
                div class="form-grid" {
                    (choice("scope", "Watches", "", html! {
                        option value="host" selected[scope == ThresholdScope::Host] { "the host" }
                        option value="instance" selected[scope == ThresholdScope::Instance] { "bots" }
                    }))
                    (choice("instance_id", "Bot", "When it watches bots: one, or every bot.", html! {
                        option value="" { "every bot" }
                        @for b in &bots.instances {
                            option value=(b.id) selected[entered.instance_id == b.id] {
                                (b.display_name) " (" (b.id.chars().take(8).collect::<String>()) ")"
                            }
                        }
                    }))
                    (choice("metric_type", "Metric", "", html! {
                        @for s in [ThresholdScope::Host, ThresholdScope::Instance] {
                            optgroup label=(if s == ThresholdScope::Host { "The host" } else { "Bots" }) data-scope=(s.as_str()) {
                                @for m in s.metrics() {
                                    option value=(m.as_str())
                                        selected[s == scope && entered.metric_type == m.as_str()] { (metric_label(s, m.as_str())) }
                                }
                            }
                        }
                    }))
                    (choice("comparison", "Fires when the value is", "", html! {
                        @for (value, label) in [("gt", "greater than (>)"), ("gte", "at least (≥)"), ("lt", "less than (<)"), ("lte", "at most (≤)")] {
                            option value=(value) selected[comparison == value] { (label) }
                        }
                    }))
                    (form::field("th", "threshold_value", "Value", form::Kind::Text, &entered.threshold_value,
                        "A number in the metric's unit, e.g. 90 for 90 %.", error_at("threshold_value")))
                    (form::field("th", "webhook_url", "Webhook URL (optional)", form::Kind::Url, &entered.webhook_url,
                        "alert.fired and alert.resolved are posted there.", error_at("webhook_url")))
                }
                div class="actions" { button type="submit" { "Create threshold" } }
            }
        }
    }
}

/// `GET /ui/resources/alerts`: the alerts section alone, for the page's polling.
pub async fn alerts_fragment(
    ui: UiState,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiFailure> {
    let (active, resolved, thresholds) = read(&ui.0, &caller).await?;
    let section = alerts_section(window(&query.window), &active, &resolved, &thresholds);
    Ok(Html(section.into_string()).into_response())
}

/// The `window` field of a form.
#[derive(Debug, Default, Deserialize)]
pub struct WindowField {
    #[serde(default)]
    window: String,
}

/// `POST /ui/resources/alerts/{id}/resolve`: resolves the alert, then back to the page.
pub async fn resolve(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<WindowField>,
) -> Result<Response, ApiFailure> {
    let path = format!("/api/v1/alerts/{}/resolve", segment(&id));
    let call = RestCall::post(path, None);
    act(
        &ui.0,
        &caller,
        &form,
        call,
        ("resolved", &id),
        "Not resolved",
        false,
    )
    .await
}

/// `POST /ui/resources/thresholds/{id}/delete`: deletes the threshold (the API resolves its active
/// alerts), then back to the page.
pub async fn delete_threshold(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<WindowField>,
) -> Result<Response, ApiFailure> {
    let path = format!("/api/v1/alerts/thresholds/{}", segment(&id));
    let call = RestCall::new(Method::DELETE, path, None);
    act(
        &ui.0,
        &caller,
        &form,
        call,
        ("deleted", &id),
        "Not deleted",
        true,
    )
    .await
}

/// Back to the page (its window kept) at `#anchor`, saying `said` (the page's query pair).
fn back_to_page(win: Window, said: (&str, &str), anchor: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("window", win.key)
        .append_pair(said.0, said.1)
        .finish();
    Redirect::to(&format!("/ui/resources?{query}#{anchor}")).into_response()
}

/// Makes `call`; done, back to the page saying so (`said`: the page's query pair), else the page with
/// the refusal (`failed`: what it says first) in the alerts or (`in_thresholds`) the thresholds part.
async fn act(
    ui: &Ui,
    caller: &Caller,
    form: &WindowField,
    call: RestCall,
    said: (&str, &str),
    failed: &str,
    in_thresholds: bool,
) -> Result<Response, ApiFailure> {
    let win = window(&form.window);
    let (status, body) = ui.call(Some(caller), call).await?;
    if status.is_success() {
        return Ok(back_to_page(win, said, "notice"));
    }
    match refusal(status, &body) {
        ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
            Ok(operators_only(StatusCode::FORBIDDEN, &e.error))
        }
        ApiFailure::Refused(status, e) => {
            resources_page(
                ui,
                caller,
                win,
                Some(Notice::Failed(format!("{failed}: {}", e.error))),
                in_thresholds,
                ThresholdForm::default(),
                None,
                status,
            )
            .await
        }
        signed_out => Err(signed_out),
    }
}

/// The request body of the form, as typed: the API reads and checks it and names a wrong field (a
/// value that is not a number goes as the text typed, for the API to refuse at its field).
fn threshold_request(form: &ThresholdForm) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.trim().is_empty() {
            body.insert(key.into(), value.trim().into());
        }
    };
    put("scope", &form.scope);
    if form.scope == "instance" {
        put("instance_id", &form.instance_id);
    }
    put("metric_type", &form.metric_type);
    put("comparison", &form.comparison);
    put("webhook_url", &form.webhook_url);
    let value = form.threshold_value.trim();
    if !value.is_empty() {
        let number = value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .and_then(serde_json::Number::from_f64);
        body.insert(
            "threshold_value".into(),
            match number {
                Some(n) => serde_json::Value::Number(n),
                None => value.into(),
            },
        );
    }
    serde_json::Value::Object(body)
}

/// `POST /ui/resources/thresholds`: creates the threshold, then back to the page; a refusal shows the
/// form again with the error at its field.
pub async fn create_threshold(
    ui: UiState,
    caller: Caller,
    Form(form): Form<ThresholdForm>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let win = window(&form.window);
    let (status, body) = ui
        .call(
            Some(&caller),
            RestCall::post("/api/v1/alerts/thresholds", Some(threshold_request(&form))),
        )
        .await?;
    if status.is_success() {
        let created: shared::api::alerts::CreatedThreshold =
            serde_json::from_slice(&body).map_err(|e| crate::ui::internal(e.to_string()))?;
        let t = &created.threshold;
        let what = format!(
            "{} {} {} {}",
            if t.scope == ThresholdScope::Host {
                "host"
            } else {
                "bot"
            },
            t.metric_type.as_str(),
            comparison_sign(t.comparison.as_str()),
            number(t.threshold_value)
        );
        return Ok(back_to_page(win, ("created", &what), "thresholds"));
    }
    match refusal(status, &body) {
        ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
            Ok(operators_only(StatusCode::FORBIDDEN, &e.error))
        }
        ApiFailure::Refused(status, e) => {
            resources_page(
                ui,
                &caller,
                win,
                None,
                true,
                form,
                Some((e.field, e.error)),
                status,
            )
            .await
        }
        signed_out => Err(signed_out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_goes_as_typed_with_numbers_as_numbers() {
        let form = ThresholdForm {
            scope: "host".into(),
            instance_id: "ignored-for-the-host".into(),
            metric_type: "memory".into(),
            comparison: "gt".into(),
            threshold_value: " 0.5 ".into(),
            ..Default::default()
        };
        let body = threshold_request(&form);
        assert_eq!(body["threshold_value"], 0.5);
        assert!(body.get("instance_id").is_none() && body.get("webhook_url").is_none());
        let typed: shared::api::alerts::CreateThresholdRequest =
            serde_json::from_value(body).unwrap();
        assert_eq!(typed.scope(), ThresholdScope::Host);
        let bad = threshold_request(&ThresholdForm {
            threshold_value: "lots".into(),
            ..form
        });
        assert_eq!(bad["threshold_value"], "lots");
    }
}
