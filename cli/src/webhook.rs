//! `botfleet webhook set|show|delete|deliveries|replay`.

use std::path::PathBuf;

use clap::Subcommand;
use shared::{
    api::webhooks::{DeliveriesQuery, DeliveryStatus},
    events::EventType,
    webhook::{WebhookConfigRequest, WebhookConfigView},
};

use crate::{
    Ctx, Outcome, Output,
    instances::read_secret,
    render::{self, fields, opt, out, table, time, unix_ms},
};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Set the instance's webhook: where events are POSTed, which ones, the signing secret.
    Set {
        id: String,
        /// The http:// or https:// URL that receives a POST per event.
        #[arg(long)]
        url: String,
        /// Deliver only these event types (repeat it, or separate with commas); none: every type.
        #[arg(
            long = "event",
            short = 'e',
            value_name = "TYPE",
            value_delimiter = ','
        )]
        events: Vec<EventType>,
        /// File holding the signing secret (16 to 256 characters; `-`: stdin). Without it the current
        /// secret is kept, or one is generated and printed this once.
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Keep the configuration but deliver nothing.
        #[arg(long)]
        disabled: bool,
    },
    /// The webhook's configuration (never the secret).
    Show { id: String },
    /// Remove the webhook and its undelivered events.
    Delete { id: String },
    /// The delivery outbox, newest first (`--status dead`: the dead letters).
    Deliveries {
        id: String,
        /// pending, delivered or dead.
        #[arg(long, value_parser = parse_status)]
        status: Option<DeliveryStatus>,
        /// At most this many (1 to 1000; default 50).
        #[arg(long, short = 'n')]
        limit: Option<u32>,
    },
    /// Queue a finished delivery again, or every dead one.
    Replay {
        id: String,
        /// The delivery's event id (see `deliveries`).
        #[arg(required_unless_present = "all_dead")]
        event_id: Option<String>,
        /// Every dead delivery.
        #[arg(long, conflicts_with = "event_id")]
        all_dead: bool,
    },
}

fn parse_status(s: &str) -> Result<DeliveryStatus, String> {
    DeliveryStatus::parse(s).ok_or_else(|| {
        let known: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown status '{s}'; known: {}", known.join(", "))
    })
}

fn show(view: &WebhookConfigView) -> String {
    if !view.configured {
        return "No webhook.".into();
    }
    let events = if view.events.is_empty() {
        "every type".to_string()
    } else {
        view.events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    fields(&[
        ("url", opt(view.url.as_deref())),
        ("events", events),
        ("enabled", view.enabled.to_string()),
        (
            "secret",
            if view.has_secret { "set" } else { "none" }.to_string(),
        ),
        ("updated", opt(view.updated_at.map(unix_ms))),
    ])
}

pub async fn run(ctx: &Ctx, command: WebhookCommand) -> Outcome {
    let c = &ctx.client;
    let json = ctx.output == Output::Json;
    match command {
        WebhookCommand::Set {
            id,
            url,
            events,
            secret_file,
            disabled,
        } => {
            let request = WebhookConfigRequest {
                url,
                events,
                secret: secret_file
                    .as_deref()
                    .map(|p| read_secret(p, "webhook secret"))
                    .transpose()?,
                enabled: !disabled,
            };
            let saved = c.put_webhook(&id, &request).await?;
            if json {
                render::json(&saved);
            } else {
                out(&show(&saved));
                if let Some(secret) = &saved.secret {
                    out(&format!("Secret: {secret}"));
                }
            }
            if saved.secret.is_some() {
                eprintln!(
                    "botfleet: the generated secret is shown only now: store it to verify signatures."
                );
            }
        }
        WebhookCommand::Show { id } => {
            let view = c.webhook(&id).await?;
            if json {
                render::json(&view);
            } else {
                out(&show(&view));
            }
        }
        WebhookCommand::Delete { id } => {
            c.delete_webhook(&id).await?;
            // 204: the manager answers no body.
            if !json {
                out(&format!("{id}: webhook removed"));
            }
        }
        WebhookCommand::Deliveries { id, status, limit } => {
            let list = c
                .deliveries(&id, &DeliveriesQuery { status, limit })
                .await?;
            if json {
                render::json(&list);
                return Ok(());
            }
            if list.deliveries.is_empty() {
                out("No deliveries.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .deliveries
                .iter()
                .map(|d| {
                    let last = match (d.last_status, &d.last_error) {
                        (Some(s), Some(e)) => format!("{s}: {e}"),
                        (Some(s), None) => s.to_string(),
                        (None, Some(e)) => e.clone(),
                        (None, None) => "-".into(),
                    };
                    vec![
                        d.id.clone(),
                        d.event_type.as_str().to_string(),
                        d.status.as_str().to_string(),
                        d.attempts.to_string(),
                        time(&d.created_at),
                        last,
                    ]
                })
                .collect();
            out(&table(
                &[
                    "EVENT ID",
                    "TYPE",
                    "STATUS",
                    "ATTEMPTS",
                    "CREATED",
                    "LAST ANSWER",
                ],
                &rows,
            ));
        }
        WebhookCommand::Replay {
            id,
            event_id,
            all_dead,
        } => {
            let done = match event_id {
                Some(event_id) if !all_dead => c.replay(&id, &event_id).await?,
                _ => c.replay_dead(&id).await?,
            };
            if json {
                render::json(&done);
            } else {
                out(&format!("{id}: {} queued again", done.queued));
            }
        }
    }
    Ok(())
}
