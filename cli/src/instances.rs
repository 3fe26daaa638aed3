//! `botfleet instances …`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, Subcommand};
use client::WaitOutcome;
use indicatif::{ProgressBar, ProgressStyle};
use shared::{
    Provider,
    agent::BotConfig,
    api::{
        access::AuthStatusResponse,
        instances::{
            CreateInstanceQuery, CreateInstanceRequest, InstanceListQuery, InstanceSort,
            InstanceStatus, InstanceView, Interface, SortOrder,
        },
        lifecycle::{UpdateInstanceRequest, VerbResponse},
    },
};

use crate::{
    Ctx, Failure, Outcome, Output,
    render::{self, fields, name, opt, out, table, time},
};

/// `instances list`: a page of the instances, filtered and ordered.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// At most this many.
    #[arg(long)]
    limit: Option<u32>,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    offset: u32,
    /// Only instances in this state (`running`, `stopped`, `failed`, …).
    #[arg(long, value_parser = parse_status)]
    status: Option<InstanceStatus>,
    /// Only instances of this provider.
    #[arg(long, value_parser = parse_provider)]
    provider: Option<Provider>,
    /// Only instances of this owner (user id).
    #[arg(long, value_name = "USER_ID")]
    owner: Option<String>,
    /// Only instances carrying this label: `key=value`, or `key` for any value.
    #[arg(long, value_name = "KEY[=VALUE]")]
    label: Option<String>,
    /// Only instances whose name, id, owner, account or @handle contains this text.
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Order by: created, name, status, provider, owner, port, restarts, messages, cpu, memory.
    #[arg(long, default_value = "created", value_parser = parse_sort)]
    sort: InstanceSort,
    /// Descending.
    #[arg(long)]
    desc: bool,
}

impl ListArgs {
    fn query(&self) -> InstanceListQuery {
        InstanceListQuery {
            limit: self.limit,
            offset: self.offset,
            status: self.status,
            provider: self.provider,
            owner: self.owner.clone(),
            label: self.label.clone(),
            q: self.search.clone(),
            sort: self.sort,
            order: if self.desc {
                SortOrder::Desc
            } else {
                SortOrder::Asc
            },
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum InstancesCommand {
    /// Provision a bot in its own container; prints its API key (shown only this once).
    Create(CreateArgs),
    /// The instances, oldest first unless --sort says otherwise; filtered, or a page of them.
    #[command(alias = "ls")]
    List(ListArgs),
    /// One instance: state, health, limits, agent, container, counters.
    #[command(alias = "show")]
    Get { id: String },
    /// Start a stopped or failed instance.
    Start { id: String },
    /// Stop the worker (the container, its data and its port stay).
    Stop { id: String },
    /// Restart the worker (also the way out of `failed`).
    Restart { id: String },
    /// Pause the bot: it receives and answers nothing, its worker stays warm.
    Pause { id: String },
    /// Activate a paused bot.
    Activate { id: String },
    /// Apply the stored configuration (after `update`): no_change, or the worker recreated.
    Process { id: String },
    /// Store configuration changes; `process` (or `--apply`) applies them.
    Update(UpdateArgs),
    /// Remove the instance: container, data volume, webhook; the port is freed.
    #[command(alias = "rm")]
    Delete { id: String },
    /// Whether the bot is connected and can send.
    AuthStatus { id: String },
    /// The worker's API URL and the API key's hint.
    Credentials { id: String },
    /// The worker's log (ANSI stripped).
    Logs {
        id: String,
        /// Keep printing new lines as the worker writes them (Ctrl-C ends).
        #[arg(short, long)]
        follow: bool,
        /// Start with the last N lines.
        #[arg(long, short = 'n', default_value_t = 100, value_name = "N")]
        tail: u32,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The messaging provider.
    #[arg(long, default_value = "telegram", value_parser = parse_provider)]
    provider: Provider,
    /// File holding the Telegram bot token (`-` reads it from stdin). Never on the command line, so it
    /// stays out of shell history and `ps`.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "credentials_file"
    )]
    token_file: Option<PathBuf>,
    /// File holding the bot's credentials as JSON in its provider's shape (`GET /api/v1/providers`);
    /// `-` reads it from stdin.
    #[arg(long, value_name = "FILE.json", conflicts_with = "token_file")]
    credentials_file: Option<PathBuf>,
    /// The user the bot belongs to (a user id; admins only) [default: the caller; `admin` with the
    /// bootstrap admin key].
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// The agent configuration (`agno_config`) as a JSON file.
    #[arg(long, value_name = "FILE.json")]
    agent_config: Option<PathBuf>,
    /// How the bot receives: polling or webhook (Telegram), socket (Discord, Slack), webhook
    /// (WhatsApp) [default: the provider's first way].
    #[arg(long, value_name = "WAY", value_parser = parse_receive)]
    receive: Option<shared::provider::Receive>,
    /// A placement constraint for the swarm runtime (`node.labels.region==eu`); repeatable.
    #[arg(long = "placement", value_name = "CONSTRAINT")]
    placement: Vec<String>,
    /// A label, `key=value` (`team=support`); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Make the bot an MCP server too (`type_instance: ["api", "mcp"]`), on a second port.
    #[arg(long)]
    mcp: bool,
    /// Follow the bot until it is ready (or failed), with a spinner; exit 1 unless it is ready.
    #[arg(long)]
    wait: bool,
    /// The longest wait, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "wait")]
    timeout: u64,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    id: String,
    /// A new Telegram bot token, read from this file (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// New credentials (JSON in the provider's shape), read from this file (`-`: stdin).
    #[arg(long, value_name = "FILE.json", conflicts_with = "token_file")]
    credentials_file: Option<PathBuf>,
    /// A new agent configuration (JSON file).
    #[arg(long, value_name = "FILE.json", conflicts_with = "no_agent")]
    agent_config: Option<PathBuf>,
    /// Remove the agent configuration.
    #[arg(long)]
    no_agent: bool,
    /// Memory limit of the worker container, in MB.
    #[arg(long, value_name = "MB")]
    memory_mb: Option<i64>,
    /// CPUs of the worker container.
    #[arg(long, value_name = "CPUS")]
    cpus: Option<f64>,
    /// Apply the change at once (`process`).
    #[arg(long)]
    apply: bool,
}

fn parse_status(s: &str) -> Result<InstanceStatus, String> {
    InstanceStatus::parse(s).ok_or_else(|| {
        let known: Vec<&str> = InstanceStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state '{s}'; known: {}", known.join(", "))
    })
}

fn parse_sort(s: &str) -> Result<InstanceSort, String> {
    InstanceSort::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            let known: Vec<&str> = InstanceSort::ALL.iter().map(|k| k.as_str()).collect();
            format!("cannot order by '{s}'; by: {}", known.join(", "))
        })
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    Provider::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        format!("unknown provider '{s}'; known: {}", known.join(", "))
    })
}

fn parse_receive(s: &str) -> Result<shared::provider::Receive, String> {
    shared::provider::Receive::parse(s)
        .ok_or_else(|| format!("unknown way to receive '{s}'; known: polling, socket, webhook"))
}

/// A secret from a file (or stdin), trimmed; never shown in any message.
pub fn read_secret(path: &Path, what: &str) -> Result<String, Failure> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| {
        Failure::Usage(format!(
            "cannot read the {what} from {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(Failure::Usage(format!(
            "{} holds no {what}",
            path.display()
        )));
    }
    Ok(secret)
}

/// Credentials JSON from a file (`-`: stdin); the error never quotes the file's content.
fn read_credentials(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = read_secret(path, "credentials")?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "{}: not JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

fn read_agent_config(path: &Path) -> Result<BotConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

pub async fn run(ctx: &Ctx, command: InstancesCommand) -> Outcome {
    let c = &ctx.client;
    match command {
        InstancesCommand::Create(args) => create(ctx, args).await,
        InstancesCommand::List(args) => {
            let list = c.list_instances(&args.query()).await?;
            if ctx.output == Output::Json {
                render::json(&list);
                return Ok(());
            }
            if list.instances.is_empty() {
                out("No instances.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list.instances.iter().map(row).collect();
            out(&table(
                &["ID", "STATUS", "AUTH", "BOT", "PORT", "USER", "CREATED"],
                &rows,
            ));
            if list.count < list.total {
                eprintln!(
                    "({} of {} instances, from {})",
                    list.count, list.total, list.offset
                );
            }
            Ok(())
        }
        InstancesCommand::Get { id } => {
            let got = c.get_instance(&id).await?;
            if ctx.output == Output::Json {
                render::json(&got);
                return Ok(());
            }
            let d = &got.instance;
            let i = &d.instance;
            let m = &d.memory_data;
            let mut pairs = vec![
                ("id", i.id.clone()),
                ("user", i.user_id.clone()),
                ("provider", i.provider.to_string()),
                (
                    "status",
                    with_reason(&name(&i.status), i.status_reason.as_deref()),
                ),
                ("desired", name(&i.desired_state)),
                ("auth", name(&i.auth_status)),
                ("ready", i.is_ready_for_messages.to_string()),
                ("bot", bot(i)),
                ("port", i.port_api.to_string()),
                ("key hint", i.api_key_hint.clone()),
                (
                    "healthy",
                    format!(
                        "{} (last check {}, {} failures in a row)",
                        i.health.healthy,
                        opt(i.health.last_check_at.as_deref().map(time)),
                        i.health.consecutive_failures
                    ),
                ),
                (
                    "limits",
                    format!(
                        "memory {}, cpus {}",
                        i.limits
                            .memory_limit_mb
                            .map_or("default".into(), |mb| format!("{mb} MB")),
                        i.limits
                            .cpu_limit
                            .map_or("default".into(), |c| c.to_string())
                    ),
                ),
                (
                    "agent",
                    i.agno_config.as_ref().map_or("-".into(), |a| {
                        format!(
                            "{} {}{}",
                            name(&a.kind),
                            opt(a.url.as_deref()),
                            if a.enabled { "" } else { " (disabled)" }
                        )
                    }),
                ),
                (
                    "messages",
                    format!(
                        "{} sent, {} received",
                        m.message_stats.sent_count, m.message_stats.received_count
                    ),
                ),
                ("restarts", m.system_info.restart_count.to_string()),
                ("errors", m.error_info.error_count.to_string()),
            ];
            for container in &d.containers {
                pairs.push((
                    "container",
                    format!(
                        "{} {} (started {})",
                        container.name,
                        container.state,
                        opt(container.started_at.as_deref().map(time))
                    ),
                ));
            }
            pairs.push(("created", time(&i.created_at)));
            pairs.push(("updated", time(&i.updated_at)));
            out(&fields(&pairs));
            Ok(())
        }
        InstancesCommand::Start { id } => verb(ctx, c.start(&id).await?),
        InstancesCommand::Stop { id } => verb(ctx, c.stop(&id).await?),
        InstancesCommand::Restart { id } => verb(ctx, c.restart(&id).await?),
        InstancesCommand::Pause { id } => verb(ctx, c.pause(&id).await?),
        InstancesCommand::Activate { id } => verb(ctx, c.activate(&id).await?),
        InstancesCommand::Process { id } => {
            let done = c.process(&id).await?;
            answered(
                ctx,
                &done,
                &done.instance_id,
                &name(&done.action),
                &done.message,
            )
        }
        InstancesCommand::Update(args) => update(ctx, args).await,
        InstancesCommand::Delete { id } => {
            let done = c.delete(&id).await?;
            if ctx.output == Output::Json {
                render::json(&done);
            } else {
                out(&format!("{}: {}", done.instance_id, done.message));
            }
            Ok(())
        }
        InstancesCommand::AuthStatus { id } => {
            let status = c.auth_status(&id).await?;
            if ctx.output == Output::Json {
                render::json(&status);
            } else {
                out(&auth_fields(&status));
            }
            Ok(())
        }
        InstancesCommand::Credentials { id } => {
            let creds = c.credentials(&id).await?;
            if ctx.output == Output::Json {
                render::json(&creds);
            } else {
                out(&fields(&[
                    ("api url", creds.api_url),
                    ("mcp url", creds.mcp_url.unwrap_or_else(|| "-".into())),
                    ("key hint", creds.api_key_hint),
                ]));
            }
            Ok(())
        }
        InstancesCommand::Logs { id, follow, tail } => logs(ctx, &id, follow, tail).await,
    }
}

fn row(i: &InstanceView) -> Vec<String> {
    vec![
        i.id.clone(),
        name(&i.status),
        name(&i.auth_status),
        bot(i),
        i.port_api.to_string(),
        i.user_id.clone(),
        time(&i.created_at),
    ]
}

/// `@username`, else the account name, else `-`.
fn bot(i: &InstanceView) -> String {
    i.phone_number
        .clone()
        .or_else(|| i.account.clone())
        .unwrap_or_else(|| "-".into())
}

fn with_reason(status: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.is_empty() => format!("{status} ({r})"),
        _ => status.to_string(),
    }
}

fn auth_fields(s: &AuthStatusResponse) -> String {
    fields(&[
        ("auth", name(&s.auth_status)),
        ("status", with_reason(&name(&s.status), s.reason.as_deref())),
        ("ready", s.is_ready_for_messages.to_string()),
        ("account", opt(s.account.as_deref())),
        ("username", opt(s.phone_number.as_deref())),
        ("last seen", opt(s.last_seen.as_deref().map(time))),
    ])
}

fn verb(ctx: &Ctx, done: VerbResponse) -> Outcome {
    answered(
        ctx,
        &done,
        &done.instance_id,
        &name(&done.status),
        &done.message,
    )
}

/// An action's answer: the body as JSON, or `<id>: <what> (<message>)` for people.
pub(crate) fn answered(
    ctx: &Ctx,
    body: &impl serde::Serialize,
    id: &str,
    what: &str,
    message: &str,
) -> Outcome {
    if ctx.output == Output::Json {
        render::json(body);
    } else {
        out(&format!("{id}: {what} ({message})"));
    }
    Ok(())
}

async fn create(ctx: &Ctx, args: CreateArgs) -> Outcome {
    let token = args
        .token_file
        .as_deref()
        .map(|p| read_secret(p, "bot token"))
        .transpose()?;
    let credentials = args
        .credentials_file
        .as_deref()
        .map(read_credentials)
        .transpose()?;
    let agno_config = args
        .agent_config
        .as_deref()
        .map(read_agent_config)
        .transpose()?;
    let request = CreateInstanceRequest {
        user_id: args.user,
        provider: args.provider,
        type_instance: if args.mcp {
            vec![Interface::Api, Interface::Mcp]
        } else {
            vec![Interface::Api]
        },
        token,
        credentials,
        agno_config,
        placement: args.placement,
        receive: args.receive,
        labels: args.labels.into_iter().collect(),
    };
    // The manager answers at once, so the key is printed before any wait (an interrupted wait cannot
    // lose it); the wait follows auth-status.
    let created = ctx
        .client
        .create_instance(&request, &CreateInstanceQuery::default())
        .await?;
    let id = created.instance_id.clone();
    let details = &created.process_result.details;
    if ctx.output == Output::Json {
        render::json(&created);
    } else {
        out(&format!(
            "Created instance {id} ({}, port {}).",
            request.provider, details.ports.api
        ));
        if let Some(url) = &details.mcp_url {
            out(&format!("MCP server: {url}"));
        }
        if let Some(key) = &details.api_key {
            out(&format!("API key: {key}"));
        }
    }
    if details.api_key.is_some() {
        eprintln!(
            "botfleet: the API key is shown only now: store it (`botfleet keys rotate {id}` issues a new one)."
        );
    }
    if !args.wait {
        if ctx.output == Output::Table {
            out(&format!(
                "Status: {} (auth {}); follow it with `botfleet instances auth-status {id}`.",
                name(&details.status),
                name(&details.auth_status)
            ));
        }
        return Ok(());
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message("waiting for the bot to connect");
    let outcome = ctx
        .client
        .wait_settled(&id, Duration::from_secs(args.timeout), |s| {
            spinner.set_message(format!(
                "waiting for the bot to connect: {}, auth {}",
                name(&s.status),
                name(&s.auth_status)
            ));
        })
        .await;
    spinner.finish_and_clear();
    match outcome? {
        WaitOutcome::Ready(s) => {
            if ctx.output == Output::Table {
                out(&format!(
                    "Ready: {} ({}).",
                    opt(s.account.as_deref()),
                    opt(s.phone_number.as_deref())
                ));
            }
            Ok(())
        }
        WaitOutcome::Failed(s) => Err(Failure::NotSettled(format!(
            "the bot failed: {}",
            s.reason.as_deref().unwrap_or("no reason given")
        ))),
        WaitOutcome::TimedOut(s) => Err(Failure::NotSettled(format!(
            "the bot was not ready after {} s (status {}, auth {}); follow it with `botfleet instances auth-status {id}`",
            args.timeout,
            name(&s.status),
            name(&s.auth_status)
        ))),
    }
}

async fn update(ctx: &Ctx, args: UpdateArgs) -> Outcome {
    let request = UpdateInstanceRequest {
        token: args
            .token_file
            .as_deref()
            .map(|p| read_secret(p, "bot token"))
            .transpose()?,
        credentials: args
            .credentials_file
            .as_deref()
            .map(read_credentials)
            .transpose()?,
        agno_config: match (&args.agent_config, args.no_agent) {
            (Some(path), _) => Some(Some(read_agent_config(path)?)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        memory_limit_mb: args.memory_mb,
        cpu_limit: args.cpus,
        ..Default::default()
    };
    if request.token.is_none()
        && request.credentials.is_none()
        && request.agno_config.is_none()
        && request.memory_limit_mb.is_none()
        && request.cpu_limit.is_none()
    {
        return Err(Failure::Usage(
            "nothing to change: give --token-file, --agent-config, --no-agent, --memory-mb or --cpus"
                .into(),
        ));
    }
    let updated = ctx.client.update(&args.id, &request).await?;
    if ctx.output == Output::Json && !args.apply {
        render::json(&updated);
        return Ok(());
    }
    if ctx.output == Output::Table {
        out(&format!("{}: {}", updated.instance_id, updated.message));
    }
    if args.apply {
        let done = ctx.client.process(&args.id).await?;
        if ctx.output == Output::Json {
            render::json(&done);
        } else {
            out(&format!("{}: {}", name(&done.action), done.message));
        }
    } else if updated.pending_changes && ctx.output == Output::Table {
        out(&format!(
            "Apply it with `botfleet instances process {}`.",
            updated.instance_id
        ));
    }
    Ok(())
}

async fn logs(ctx: &Ctx, id: &str, follow: bool, tail: u32) -> Outcome {
    let json = ctx.output == Output::Json;
    if !follow {
        let text = ctx.client.logs(id, tail).await?;
        if json {
            render::json(&text);
        } else if !text.is_empty() {
            out(&text);
        }
        return Ok(());
    }
    let mut lines = ctx.client.follow_logs(id, tail).await?;
    while let Some(line) = lines.next_line().await? {
        if json {
            render::json_line(&line);
        } else {
            out(&line);
        }
    }
    Ok(())
}

/// `key=value` of `--label`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}
