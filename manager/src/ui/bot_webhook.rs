//! A bot's webhook on its page: where its events go (URL, event filter, secret, on/off), set with a
//! `PUT` and removed with a `DELETE`, and the delivery outbox — each delivery's state, attempts and last
//! error — with replay of one delivery or of every dead one. The signing secret is write-only; one the
//! manager generates is shown once, in the answer to the form that made it.

use axum::{
    Form,
    extract::Path,
    http::Method,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use shared::{
    api::{
        instances::InstanceView,
        webhooks::{DeliveryList, DeliveryStatus, ReplayResponse},
    },
    events::EventType,
    webhook::WebhookConfigView,
};

use super::{
    ApiFailure, Caller, Ui, UiState,
    bot_page::{self, Said},
    form::{self, Kind, Posted, checkbox, field},
};

/// Deliveries the page lists.
const SHOWN_DELIVERIES: u32 = 20;

/// What a webhook form came to: the form and its outcome, and a secret the manager generated (shown
/// this once).
#[derive(Debug, Default)]
pub struct Outcome {
    pub posted: Posted,
    pub secret: Option<String>,
}

/// The webhook section: its configuration form and the latest deliveries.
pub async fn section(
    ui: &Ui,
    caller: &Caller,
    b: &InstanceView,
    outcome: Option<&Outcome>,
) -> Result<Markup, ApiFailure> {
    let base = format!("/api/v1/instances/{}/webhook", segment(&b.id));
    let config: WebhookConfigView = ui
        .read(caller, RestCall::get(format!("{base}/config")))
        .await?;
    let deliveries: DeliveryList = ui
        .read(
            caller,
            RestCall::get(format!("{base}/deliveries?limit={SHOWN_DELIVERIES}")),
        )
        .await?;
    let posted = outcome.map(|o| &o.posted);
    let refused = posted.is_some_and(|p| matches!(p.outcome, Some(Err(_))));
    let error_at = |name: &str| posted.and_then(|p| p.error_at(name));
    let url = match posted {
        Some(p) if refused => p.value("url").unwrap_or_default().to_string(),
        _ => config.url.clone().unwrap_or_default(),
    };
    let chosen = |t: EventType| match posted {
        Some(p) if refused => p
            .fields
            .iter()
            .any(|(k, v)| k == "events" && v == t.as_str()),
        _ => config.events.contains(&t),
    };
    let enabled = match posted {
        Some(p) if refused => p.value("enabled").is_some(),
        _ => !config.configured || config.enabled,
    };
    let id = segment(&b.id);
    let dead = deliveries
        .deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .count();
    Ok(html! {
        h2 id="webhook" { "Webhook" }
        p class="hint" {
            "The bot's events are POSTed to this URL, signed with HMAC-SHA256 of the timestamp and body "
            "(header " code { (shared::webhook::HEADER_SIGNATURE) } "), retried with backoff; what fails every attempt is dead and can be replayed."
        }
        (Posted::outcome_line(posted, "webhook-result"))
        @if let Some(secret) = outcome.and_then(|o| o.secret.as_ref()) {
            section aria-labelledby="secret-title" {
                h3 id="secret-title" { "The signing secret — shown only now" }
                p class="key" id="webhook-secret" { (secret) }
            }
        }
        @if config.configured {
            p id="webhook-state" {
                @if config.enabled { span class="ok" { "Delivering" } } @else { span class="warn" { "Paused" } }
                " · " @if config.has_secret { "signed" } @else { "unsigned" }
            }
        }
        form method="post" action=(format!("/ui/bots/{id}/webhook#webhook")) id="webhook-form" novalidate {
            (field("webhook", "url", "URL", Kind::Url, &url, "http:// or https://, at most 2,048 characters.", error_at("url")))
            fieldset {
                legend { "Events (none ticked: every event)" }
                div class="checks" {
                    @for t in EventType::ALL {
                        label class="check" {
                            input type="checkbox" name="events" value=(t.as_str()) checked[chosen(*t)];
                            " " (t.as_str())
                        }
                    }
                }
                @if let Some(e) = error_at("events") { div class="error" role="alert" { (e) } }
            }
            (field("webhook", "secret", "Signing secret", Kind::Secret, "",
                if config.has_secret { "Set; never shown. Type a new one (16 to 256 characters) to replace it, or leave it empty to keep it." }
                else { "16 to 256 characters; leave it empty and one is generated and shown once." },
                error_at("secret")))
            (checkbox("webhook", "enabled", "Deliver events", enabled))
            div class="actions" { button type="submit" id="webhook-save" { "Save webhook" } }
        }
        @if config.configured {
            form method="post" action=(format!("/ui/bots/{id}/webhook/remove#webhook")) {
                button type="submit" class="secondary" id="webhook-remove" { "Remove the webhook" }
            }
        }
        h3 id="deliveries-title" { "Deliveries" }
        div class="actions" {
            a href=(format!("/ui/bots/{id}#webhook")) { "Refresh" }
            @if dead > 0 {
                form method="post" action=(format!("/ui/bots/{id}/webhook/replay#webhook")) {
                    button type="submit" class="secondary" id="replay-dead" { "Replay every dead delivery" }
                }
            }
        }
        @if deliveries.deliveries.is_empty() {
            p id="no-deliveries" { "No deliveries yet." }
        } @else {
            div class="table-wrap" {
                table id="deliveries" aria-labelledby="deliveries-title" {
                    thead { tr {
                        th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "State" }
                        th scope="col" { "Attempts" } th scope="col" { "Last answer" } th scope="col" { "Queued" }
                        th scope="col" { span class="visually-hidden" { "Replay" } }
                    } }
                    tbody {
                        @for d in &deliveries.deliveries {
                            tr data-delivery=(d.id) {
                                td { code { (d.id.get(..8).unwrap_or(&d.id)) } }
                                td { (d.event_type.as_str()) }
                                td { span class=(match d.status { DeliveryStatus::Delivered => "badge ok", DeliveryStatus::Dead => "badge bad", DeliveryStatus::Pending => "badge warn" })
                                    data-status=(d.status.as_str()) { (d.status.as_str()) } }
                                td { (d.attempts) }
                                td {
                                    @if let Some(s) = d.last_status { "HTTP " (s) " " }
                                    @if let Some(e) = &d.last_error { span class="hint" { (e) } }
                                }
                                td { (d.created_at.replace('T', " ").get(..19).unwrap_or(&d.created_at)) }
                                td {
                                    @if d.status != DeliveryStatus::Pending {
                                        form method="post" action=(format!("/ui/bots/{id}/webhook/replay/{}#webhook", segment(&d.id))) {
                                            button type="submit" class="secondary" aria-label=(format!("Replay delivery {}", d.id)) { "Replay" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `POST /ui/bots/{id}/webhook`: the form as the webhook's `PUT`, then the bot's page.
pub async fn save(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let get = |name: &str| form::posted(&fields, name);
    // As typed: the API reads it as `shared::webhook::WebhookConfigRequest` and names a wrong field.
    let mut body = serde_json::Map::new();
    body.insert("url".into(), get("url").unwrap_or_default().into());
    let events: Vec<serde_json::Value> = fields
        .iter()
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v.clone().into())
        .collect();
    body.insert("events".into(), events.into());
    if let Some(secret) = get("secret").filter(|s| !s.is_empty()) {
        body.insert("secret".into(), secret.into());
    }
    body.insert("enabled".into(), get("enabled").is_some().into());
    let path = format!("/api/v1/instances/{}/webhook/config", segment(&id));
    let (status, answer) = ui
        .call(
            Some(&caller),
            RestCall::new(Method::PUT, path, Some(body.into())),
        )
        .await?;
    let outcome = Posted::outcome_of(status, &answer, || "Webhook saved.".into())?;
    let secret = outcome
        .is_ok()
        .then(|| serde_json::from_slice::<WebhookConfigView>(&answer).ok())
        .flatten()
        .and_then(|v| v.secret);
    let kept = fields.into_iter().filter(|(k, _)| k != "secret").collect();
    answer_with(ui, &caller, &id, kept, outcome, secret).await
}

/// `POST /ui/bots/{id}/webhook/remove`: the webhook and its undelivered events removed.
pub async fn remove(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let path = format!("/api/v1/instances/{}/webhook/config", segment(&id));
    let (status, answer) =
        ui.0.call(Some(&caller), RestCall::new(Method::DELETE, path, None))
            .await?;
    let outcome = Posted::outcome_of(status, &answer, || "Webhook removed.".into())?;
    answer_with(&ui.0, &caller, &id, Vec::new(), outcome, None).await
}

/// `POST /ui/bots/{id}/webhook/replay`: every dead delivery queued again.
pub async fn replay_dead(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let path = format!(
        "/api/v1/instances/{}/webhook/deliveries/replay",
        segment(&id)
    );
    replay(&ui.0, &caller, &id, path).await
}

/// `POST /ui/bots/{id}/webhook/replay/{delivery_id}`: one delivery queued again.
pub async fn replay_one(
    ui: UiState,
    caller: Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let path = format!(
        "/api/v1/instances/{}/webhook/deliveries/{}/replay",
        segment(&id),
        segment(&delivery)
    );
    replay(&ui.0, &caller, &id, path).await
}

async fn replay(ui: &Ui, caller: &Caller, id: &str, path: String) -> Result<Response, ApiFailure> {
    let (status, answer) = ui.call(Some(caller), RestCall::post(path, None)).await?;
    let outcome = Posted::outcome_of(status, &answer, || {
        serde_json::from_slice::<ReplayResponse>(&answer).map_or_else(
            |_| "Queued again.".into(),
            |r| {
                format!(
                    "{} queued again.",
                    plural(r.queued, "delivery", "deliveries")
                )
            },
        )
    })?;
    answer_with(ui, caller, id, Vec::new(), outcome, None).await
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

async fn answer_with(
    ui: &Ui,
    caller: &Caller,
    id: &str,
    fields: Vec<(String, String)>,
    outcome: Result<String, super::form::Refused>,
    secret: Option<String>,
) -> Result<Response, ApiFailure> {
    let said = Said {
        webhook: Some(Outcome {
            posted: Posted {
                fields,
                outcome: Some(outcome),
            },
            secret,
        }),
        ..Default::default()
    };
    Ok(bot_page::render(ui, caller, id, said)
        .await?
        .into_response())
}
