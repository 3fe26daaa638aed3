//! `botfleet resources [--instances]`.

use clap::Args;

use crate::{
    Ctx, Outcome, Output,
    render::{self, bytes, fields, out, table, time},
};

#[derive(Debug, Args)]
pub struct ResourcesArgs {
    /// CPU and memory of every instance container instead of the host overview.
    #[arg(long)]
    instances: bool,
}

pub async fn run(ctx: &Ctx, args: ResourcesArgs) -> Outcome {
    let json = ctx.output == Output::Json;
    if args.instances {
        let list = ctx.client.instance_resources().await?;
        if json {
            render::json(&list);
            return Ok(());
        }
        let rows: Vec<Vec<String>> = list
            .instances
            .iter()
            .map(|i| {
                vec![
                    i.instance_id.clone(),
                    render::name(&i.status),
                    format!("{:.1}%", i.cpu_percent),
                    bytes(i.memory_bytes),
                    bytes(i.memory_limit_bytes),
                    format!("{:.1}%", i.memory_percent),
                ]
            })
            .collect();
        out(&table(
            &["INSTANCE", "STATUS", "CPU", "MEMORY", "LIMIT", "MEM%"],
            &rows,
        ));
        eprintln!("(sampled {})", time(&list.sampled_at));
        return Ok(());
    }
    let r = ctx.client.resources().await?;
    if json {
        render::json(&r);
        return Ok(());
    }
    let h = &r.server.host;
    let docker = if r.docker.available {
        format!(
            "{} containers, {} running",
            r.docker.total_containers.unwrap_or(0),
            r.docker.running_containers.unwrap_or(0)
        )
    } else {
        "not answering".into()
    };
    let by_status = r
        .instances
        .by_status
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    out(&fields(&[
        (
            "cpu",
            format!(
                "{} of {} CPUs (load {:.2} {:.2} {:.2})",
                r.server.cpu_usage,
                h.cpu_count,
                h.load_average[0],
                h.load_average[1],
                h.load_average[2]
            ),
        ),
        (
            "memory",
            format!(
                "{} ({} of {})",
                r.server.memory_usage,
                bytes(h.memory_used_bytes),
                bytes(h.memory_total_bytes)
            ),
        ),
        (
            "disk",
            format!(
                "{} ({} of {})",
                r.server.disk_usage,
                bytes(h.disk_used_bytes),
                bytes(h.disk_total_bytes)
            ),
        ),
        ("uptime", r.server.uptime.clone()),
        ("docker", docker),
        (
            "instances",
            if by_status.is_empty() {
                r.instances.total.to_string()
            } else {
                format!("{} ({by_status})", r.instances.total)
            },
        ),
        ("sampled", time(&r.sampled_at)),
    ]));
    Ok(())
}
