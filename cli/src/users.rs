//! `botfleet users list|show|create|update|delete` (admins). Users are named by id or username.

use clap::{Args, Subcommand};
use shared::api::users::{CreateUserRequest, Role, UpdateUserRequest, UserView};

use crate::{
    Ctx, Failure, Outcome, Output, prompt,
    render::{self, fields, out, table, time},
};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Every user, oldest first.
    #[command(alias = "ls")]
    List,
    /// One user.
    #[command(alias = "get")]
    Show {
        /// The user's id or username.
        user: String,
    },
    /// Create a user. The password is asked on the terminal (twice, without echo), or read from stdin
    /// with --password-stdin; never from a flag.
    Create(CreateArgs),
    /// Change a user: role, password, quotas, disabled. A new password or role, or --disable, ends
    /// their sessions at once.
    Update(UpdateArgs),
    /// Delete a user and their API keys (refused while they own bots: delete those first).
    #[command(alias = "rm")]
    Delete {
        /// The user's id or username.
        user: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Letters, digits and `_ - . @`.
    username: String,
    /// admin, operator or user.
    #[arg(long, default_value = "user", value_parser = parse_role)]
    role: Role,
    /// Most bots the user may own [default: the manager's].
    #[arg(long, value_name = "N")]
    max_instances: Option<i64>,
    /// Most memory (MiB) the user's bots may hold in all [default: the manager's].
    #[arg(long, value_name = "MIB")]
    max_memory_mb: Option<i64>,
    /// Read the password (at least 8 characters) from stdin instead of asking.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The user's id or username.
    user: String,
    /// admin, operator or user.
    #[arg(long, value_parser = parse_role)]
    role: Option<Role>,
    /// Set a new password, asked on the terminal (twice, without echo).
    #[arg(long, conflicts_with = "password_stdin")]
    password: bool,
    /// Set a new password, read from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Refuse the user's credentials from now on (sessions and API keys).
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Let a disabled user in again.
    #[arg(long)]
    enable: bool,
    /// Most bots the user may own; `default` returns to the manager's.
    #[arg(long, value_name = "N|default", value_parser = parse_quota)]
    max_instances: Option<Quota>,
    /// Most memory (MiB) the user's bots may hold in all; `default` returns to the manager's.
    #[arg(long, value_name = "MIB|default", value_parser = parse_quota)]
    max_memory_mb: Option<Quota>,
}

/// A quota given on the command line: a number, or `None` for the manager's default.
#[derive(Debug, Clone, Copy)]
pub struct Quota(Option<i64>);

fn parse_quota(s: &str) -> Result<Quota, String> {
    if s == "default" {
        return Ok(Quota(None));
    }
    s.parse()
        .map(|n| Quota(Some(n)))
        .map_err(|_| format!("'{s}' is neither a number nor `default`"))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role '{s}'; known: admin, operator, user"))
}

/// The id of the user `user` names: a user's id as it is, else the id of the user with that username;
/// anything else as it is (the manager answers 404).
pub async fn user_id(ctx: &Ctx, user: &str) -> String {
    // Callers that may not list users (403) name themselves by id; their request says the rest.
    let Ok(list) = ctx.client.users().await else {
        return user.to_string();
    };
    if list.users.iter().any(|u| u.id == user) {
        return user.to_string();
    }
    list.users
        .into_iter()
        .find(|u| u.username == user)
        .map_or_else(|| user.to_string(), |u| u.id)
}

fn quota(limit: Option<i64>, unit: &str) -> String {
    limit.map_or_else(|| "default".to_string(), |n| format!("{n}{unit}"))
}

fn state(u: &UserView) -> &'static str {
    if u.disabled { "disabled" } else { "active" }
}

fn show(ctx: &Ctx, u: &UserView) {
    if ctx.output == Output::Json {
        render::json(u);
        return;
    }
    out(&fields(&[
        ("id", u.id.clone()),
        ("username", u.username.clone()),
        ("role", u.role.as_str().to_string()),
        ("state", state(u).to_string()),
        ("max bots", quota(u.max_instances, "")),
        ("max memory", quota(u.max_memory_mb, " MiB")),
        ("created", time(&u.created_at)),
        ("updated", time(&u.updated_at)),
    ]));
}

pub async fn run(ctx: &Ctx, command: UsersCommand) -> Outcome {
    let c = &ctx.client;
    match command {
        UsersCommand::List => {
            let list = c.users().await?;
            if ctx.output == Output::Json {
                render::json(&list);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .users
                .iter()
                .map(|u| {
                    vec![
                        u.id.clone(),
                        u.username.clone(),
                        u.role.as_str().to_string(),
                        state(u).to_string(),
                        quota(u.max_instances, ""),
                        quota(u.max_memory_mb, " MiB"),
                        time(&u.created_at),
                    ]
                })
                .collect();
            out(&table(
                &[
                    "ID",
                    "USERNAME",
                    "ROLE",
                    "STATE",
                    "MAX-BOTS",
                    "MAX-MEMORY",
                    "CREATED",
                ],
                &rows,
            ));
        }
        UsersCommand::Show { user } => {
            let id = user_id(ctx, &user).await;
            show(ctx, &c.user(&id).await?);
        }
        UsersCommand::Create(args) => {
            let password = prompt::password(args.password_stdin, "Password", true)?;
            let user = c
                .create_user(&CreateUserRequest {
                    username: args.username,
                    password,
                    role: args.role,
                    max_instances: args.max_instances,
                    max_memory_mb: args.max_memory_mb,
                })
                .await?;
            if ctx.output == Output::Json {
                render::json(&user);
            } else {
                out(&format!(
                    "Created user {} ({}, role {}).",
                    user.username,
                    user.id,
                    user.role.as_str()
                ));
            }
        }
        UsersCommand::Update(args) => {
            let password = if args.password || args.password_stdin {
                Some(prompt::password(args.password_stdin, "New password", true)?)
            } else {
                None
            };
            let request = UpdateUserRequest {
                password,
                role: args.role,
                disabled: match (args.disable, args.enable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                max_instances: args.max_instances.map(|q| q.0),
                max_memory_mb: args.max_memory_mb.map(|q| q.0),
            };
            if request.password.is_none()
                && request.role.is_none()
                && request.disabled.is_none()
                && request.max_instances.is_none()
                && request.max_memory_mb.is_none()
            {
                return Err(Failure::Usage(
                    "nothing to change: give --role, --password, --password-stdin, --disable, \
                     --enable, --max-instances or --max-memory-mb"
                        .into(),
                ));
            }
            let id = user_id(ctx, &args.user).await;
            let user = c.update_user(&id, &request).await?;
            if ctx.output == Output::Json {
                render::json(&user);
            } else {
                out(&format!("Updated user {} ({}).", user.username, user.id));
            }
        }
        UsersCommand::Delete { user } => {
            let id = user_id(ctx, &user).await;
            return crate::done(ctx, &c.delete_user(&id).await?);
        }
    }
    Ok(())
}
