//! `botfleet events [--instance ID] [--type T …] [-f]`.

use clap::Args;
use shared::{
    api::events::{EventListQuery, EventStreamQuery, EventView},
    events::EventType,
};

use crate::{
    Ctx, Failure, Outcome, Output,
    render::{self, opt, out, table, time},
};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this instance's events.
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
    /// Only these types (repeat it, or separate with commas): `message.in`, `bot.error`,
    /// `instance.started` (instance events also as `started`) …
    #[arg(long = "type", short = 't', value_name = "TYPE", value_delimiter = ',')]
    types: Vec<EventType>,
    /// At most this many, newest first (1 to 1000; default 50).
    #[arg(long, short = 'n', conflicts_with = "follow")]
    limit: Option<u32>,
    /// Follow the log live (Server-Sent Events), one line per event, until Ctrl-C.
    #[arg(short, long)]
    follow: bool,
}

fn line(e: &EventView) -> String {
    format!(
        "{}  {:<24}  {}  {}",
        time(&e.timestamp),
        e.event_type.as_str(),
        opt(e.instance_id.as_deref()),
        e.message
    )
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> Outcome {
    if args.follow {
        let query = EventStreamQuery {
            instance_id: args.instance,
            types: args.types,
        };
        let mut events = ctx.client.event_stream(&query).await?;
        // The manager subscribed before it answered: from here on no event is missed.
        eprintln!("botfleet: following the event log (Ctrl-C ends)");
        while let Some(event) = events.next().await? {
            if ctx.output == Output::Json {
                render::json_line(&event);
            } else {
                out(&line(&event));
            }
        }
        // The manager never ends the stream on its own: it went away.
        return Err(Failure::Gone("the manager ended the event stream".into()));
    }
    let query = EventListQuery {
        instance_id: args.instance,
        types: args.types,
        limit: args.limit,
    };
    let list = ctx.client.events(&query).await?;
    if ctx.output == Output::Json {
        render::json(&list);
        return Ok(());
    }
    if list.events.is_empty() {
        out("No events.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .events
        .iter()
        .map(|e| {
            vec![
                time(&e.timestamp),
                e.event_type.as_str().to_string(),
                opt(e.instance_id.as_deref()),
                e.message.clone(),
            ]
        })
        .collect();
    out(&table(&["TIME", "TYPE", "INSTANCE", "MESSAGE"], &rows));
    Ok(())
}
