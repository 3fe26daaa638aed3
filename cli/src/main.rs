//! `botfleet`: the command line of the botfleet manager, on the typed client (`botfleet-client`).

mod account;
mod audit;
mod config;
mod events;
mod hosts;
mod instances;
mod keys;
mod prompt;
mod render;
mod resources;
mod sessions;
mod users;
mod webhook;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use client::{Client, ClientError};
use shared::api::Done;

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the manager said no (its message is printed as it is, with the field at fault, and `HTTP <status>`),
     or a bot created with --wait failed or was not ready in time
  2  usage: a wrong flag or argument, no key, an unreadable token, secret, password or config file
  3  the manager could not be reached (or its answer could not be read); the cause is printed

The URL comes from --url, else BOTFLEET_URL, else the config file (TOML with `url` and `key`): --config,
else $XDG_CONFIG_HOME/botfleet/config.toml, else ~/.config/botfleet/config.toml. The key (the bootstrap
admin key, an API key `bfu_…`, or a session token) comes from --key, else BOTFLEET_KEY, else the session
`botfleet login` stored for that URL (sessions.toml beside the config file, mode 0600), else the config
file's `key`.";

/// Runs a fleet of messaging bots through the botfleet manager's API.
#[derive(Debug, Parser)]
#[command(name = "botfleet", version, after_help = EXIT_CODES)]
struct Cli {
    /// The manager's base URL [default: http://127.0.0.1:3000]. Given before the command
    /// (`botfleet --url … instances list`): `webhook set` has a `--url` of its own.
    #[arg(long, env = "BOTFLEET_URL")]
    url: Option<String>,
    /// The key to call the manager with [env: BOTFLEET_KEY]: the bootstrap admin key, an API key or a
    /// session token. Without it, the session of `botfleet login` is used. Better in the environment
    /// or the config file: the command line shows in `ps` and in shell history.
    #[arg(long, global = true)]
    key: Option<String>,
    /// The config file (TOML: `url`, `key`).
    #[arg(long, env = "BOTFLEET_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// `table` for people; `json` prints the manager's answer as it returned it (streams: one JSON
    /// object per line).
    #[arg(long, short, value_enum, global = true, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, show, start, stop, restart, update and delete bot instances; read their logs.
    #[command(subcommand, alias = "instance")]
    Instances(instances::InstancesCommand),
    /// The operational event log (`-f` follows it live).
    Events(events::EventsArgs),
    /// API keys: your own (create, list, revoke) and the instances' worker keys (rotate, show).
    #[command(subcommand, alias = "key")]
    Keys(keys::KeysCommand),
    /// An instance's webhook: its configuration, deliveries and replays.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// The host, Docker and the instances' CPU and memory.
    Resources(resources::ResourcesArgs),
    /// The machines bots run on: list, show, drain, pause, activate.
    #[command(subcommand, alias = "host")]
    Hosts(hosts::HostsCommand),
    /// Log in with a username and password; the session is stored and used by the next commands.
    #[command(long_about = account::LOGIN_ABOUT)]
    Login(account::LoginArgs),
    /// End the stored session (at the manager too) and forget it.
    Logout,
    /// Who the key in use is: user, role, scopes, rate limits and quotas.
    Whoami,
    /// Users, their roles and quotas (admins).
    #[command(subcommand, alias = "user")]
    Users(users::UsersCommand),
    /// Who did what: every change, login and refusal (admins).
    Audit(audit::AuditArgs),
}

/// Why a command did not succeed; each maps to an exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 2: the command cannot be sent as given.
    Usage(String),
    /// Exit 1: a bot did not become ready (the manager's answers said so).
    NotSettled(String),
    /// Exit 3: a stream the manager should have kept open ended.
    Gone(String),
    /// Exit 1 (the manager said no) or 3 (no answer, or none this client can read).
    Client(ClientError),
    /// A failure, then a line on what to do about it.
    Hinted(Box<Failure>, String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

pub type Outcome = Result<(), Failure>;

/// What every command has at hand.
pub struct Ctx {
    pub client: Client,
    pub output: Output,
    pub url: String,
    /// Where the key came from.
    pub source: config::Source,
}

/// The answer of an action with nothing else to report: its message, or the body as JSON.
pub fn done(ctx: &Ctx, done: &Done) -> Outcome {
    if ctx.output == Output::Json {
        render::json(done);
    } else {
        render::out(&done.message);
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("botfleet: cannot start: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(failure),
    }
}

async fn run(cli: Cli) -> Outcome {
    // `BOTFLEET_KEY` is read here, not through clap, so no help or usage text can show its value.
    let settings = config::resolve(
        cli.url,
        cli.key,
        std::env::var("BOTFLEET_KEY").ok(),
        cli.config.as_deref(),
        config::sessions_path(),
    )?;
    let command = match cli.command {
        Command::Login(a) => return account::login(&settings, cli.output, a).await,
        Command::Logout => return account::logout(&settings, cli.output).await,
        other => other,
    };
    let credential = settings.require_credential()?;
    let client = Client::new(&settings.url, credential.key.clone())
        .map_err(|e| Failure::Usage(format!("--url: {e}")))?;
    let ctx = Ctx {
        client,
        output: cli.output,
        url: settings.url.clone(),
        source: credential.source.clone(),
    };
    let outcome = match command {
        Command::Instances(c) => instances::run(&ctx, c).await,
        Command::Keys(c) => keys::run(&ctx, c).await,
        Command::Events(a) => events::run(&ctx, a).await,
        Command::Webhook(c) => webhook::run(&ctx, c).await,
        Command::Resources(a) => resources::run(&ctx, a).await,
        Command::Hosts(c) => hosts::run(&ctx, c).await,
        Command::Whoami => account::whoami(&ctx).await,
        Command::Users(c) => users::run(&ctx, c).await,
        Command::Audit(a) => audit::run(&ctx, a).await,
        Command::Login(_) | Command::Logout => unreachable!("handled above"),
    };
    match (outcome, &ctx.source) {
        (
            Err(failure @ Failure::Client(ClientError::Api { status: 401, .. })),
            config::Source::Session(s),
        ) => Err(Failure::Hinted(
            Box::new(failure),
            format!(
                "the session of {} stored for {} was refused (ended or expired): run `botfleet login` again",
                s.username, ctx.url
            ),
        )),
        (outcome, _) => outcome,
    }
}

/// Prints why the command failed to stderr and picks the exit code.
fn report(failure: Failure) -> ExitCode {
    match failure {
        Failure::Hinted(failure, hint) => {
            let code = report(*failure);
            eprintln!("botfleet: {hint}");
            code
        }
        Failure::Usage(message) => {
            eprintln!("botfleet: {message}");
            ExitCode::from(2)
        }
        Failure::NotSettled(message) => {
            eprintln!("botfleet: {message}");
            ExitCode::from(1)
        }
        Failure::Gone(message) => {
            eprintln!("botfleet: {message}");
            ExitCode::from(3)
        }
        Failure::Client(ClientError::Api { status, body }) => {
            // The manager's message as it wrote it, and the field at fault.
            eprintln!("botfleet: {}", body.error);
            if let Some(field) = &body.field {
                eprintln!("  field: {field}");
            }
            let code = serde_json::to_value(body.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            eprintln!("  (HTTP {status}, {code})");
            ExitCode::from(1)
        }
        Failure::Client(e @ ClientError::Transport(_)) => {
            eprintln!("botfleet: cannot reach the manager: {e}");
            ExitCode::from(3)
        }
        Failure::Client(e) => {
            eprintln!("botfleet: {e}");
            ExitCode::from(3)
        }
    }
}
