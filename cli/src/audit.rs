//! `botfleet audit [--user U] [--instance ID] [--limit N] [--offset N]` (admins).

use clap::Args;
use shared::api::audit::{AuditQuery, MAX_AUDIT};

use crate::{
    Ctx, Outcome, Output,
    render::{self, opt, out, table, time},
    users::user_id,
};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this user's entries (id or username).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only entries about this instance.
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
    /// At most this many, newest first (1 to 1000).
    #[arg(
        long,
        short = 'n',
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_AUDIT))
    )]
    limit: u32,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

pub async fn run(ctx: &Ctx, args: AuditArgs) -> Outcome {
    let user_id = match &args.user {
        Some(user) => Some(user_id(ctx, user).await),
        None => None,
    };
    let list = ctx
        .client
        .audit(&AuditQuery {
            user_id,
            instance_id: args.instance,
            limit: Some(args.limit),
            offset: args.offset,
        })
        .await?;
    if ctx.output == Output::Json {
        render::json(&list);
        return Ok(());
    }
    if list.entries.is_empty() {
        out("No audit entries.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .entries
        .iter()
        .map(|e| {
            vec![
                time(&e.at),
                e.status.to_string(),
                e.method.clone(),
                e.route.clone(),
                opt(e.instance_id.as_deref()),
                opt(e.remote_addr.as_deref()),
                e.actor.clone(),
            ]
        })
        .collect();
    out(&table(
        &[
            "AT", "STATUS", "METHOD", "ROUTE", "INSTANCE", "FROM", "ACTOR",
        ],
        &rows,
    ));
    let shown = u64::from(args.offset) + list.entries.len() as u64;
    if i64::try_from(shown).is_ok_and(|n| n < list.total) {
        eprintln!(
            "({} of {} entries; --offset {shown} for more)",
            list.entries.len(),
            list.total
        );
    }
    Ok(())
}
