//! `botfleet hosts list|show|drain|activate|pause`.

use clap::Subcommand;
use shared::api::hosts::{HostAvailability, HostView};

use crate::{
    Ctx, Outcome, Output,
    instances::answered,
    render::{self, bytes, fields, name, opt, out, table, time},
};

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// The machines bots run on: the engine (plain Docker) or every Swarm node.
    #[command(alias = "ls")]
    List,
    /// One host; the manager's own host also shows its latest metrics.
    #[command(alias = "get")]
    Show { id: String },
    /// Move the host's bots to other hosts and give it none (Swarm only).
    Drain { id: String },
    /// Let the host take bots again.
    Activate { id: String },
    /// Keep the host's bots but give it no new ones (Swarm only).
    Pause { id: String },
}

pub async fn run(ctx: &Ctx, command: HostsCommand) -> Outcome {
    let c = &ctx.client;
    let json = ctx.output == Output::Json;
    let (id, availability) = match command {
        HostsCommand::List => {
            let list = c.hosts().await?;
            if json {
                render::json(&list);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list.hosts.iter().map(row).collect();
            out(&table(
                &[
                    "ID", "NAME", "ROLE", "STATUS", "AVAIL", "CPUS", "MEMORY", "BOTS", "ADDRESS",
                ],
                &rows,
            ));
            if !list.engine_reachable {
                eprintln!(
                    "(the {} engine does not answer: hosts as of {})",
                    name(&list.runtime),
                    time(&list.observed_at)
                );
            }
            return Ok(());
        }
        HostsCommand::Show { id } => return show(ctx, &id).await,
        HostsCommand::Drain { id } => (id, HostAvailability::Drain),
        HostsCommand::Activate { id } => (id, HostAvailability::Active),
        HostsCommand::Pause { id } => (id, HostAvailability::Pause),
    };
    let done = c.set_host_availability(&id, availability).await?;
    answered(
        ctx,
        &done,
        &done.host.id,
        &name(&done.host.availability),
        &done.message,
    )
}

fn row(h: &HostView) -> Vec<String> {
    vec![
        h.id.clone(),
        format!("{}{}", h.name, if h.local { " *" } else { "" }),
        name(&h.role),
        name(&h.status),
        name(&h.availability),
        h.cpus.to_string(),
        bytes(h.memory_bytes),
        h.bots.to_string(),
        opt(h.host.as_deref()),
    ]
}

async fn show(ctx: &Ctx, id: &str) -> Outcome {
    let got = ctx.client.host(id).await?;
    if ctx.output == Output::Json {
        render::json(&got);
        return Ok(());
    }
    let h = &got.host;
    let mut pairs = vec![
        ("id", h.id.clone()),
        ("name", h.name.clone()),
        ("address", opt(h.host.as_deref())),
        (
            "status",
            format!("{} ({})", name(&h.status), name(&h.state)),
        ),
        ("role", name(&h.role)),
        ("availability", name(&h.availability)),
        ("cpus", h.cpus.to_string()),
        ("memory", bytes(h.memory_bytes)),
        ("engine", opt(h.engine_version.as_deref())),
        ("bots", h.bots.to_string()),
        ("manager here", h.local.to_string()),
    ];
    for (key, value) in &h.labels {
        pairs.push(("label", format!("{key}={value}")));
    }
    // Only the manager's own host is sampled; before the first sample there is nothing to add.
    if h.local
        && let Ok(m) = ctx.client.host_metrics(id).await
    {
        let m = m.metrics;
        pairs.push(("cpu", format!("{:.1}%", m.cpu_percent)));
        pairs.push(("memory used", format!("{:.1}%", m.memory_percent)));
        for d in &m.disk_usage {
            pairs.push((
                "disk",
                format!(
                    "{} {:.1}% ({} of {})",
                    d.path,
                    d.percent,
                    bytes(d.used),
                    bytes(d.total)
                ),
            ));
        }
        pairs.push(("sampled", time(&m.timestamp)));
    }
    out(&fields(&pairs));
    Ok(())
}
