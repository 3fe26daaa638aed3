//! `botfleet keys …`: API keys to call the manager with (`create`, `list`, `revoke`), and the worker
//! keys of instances (`rotate`, `show`).

use clap::{Args, Subcommand};
use shared::api::users::{ApiKeyView, CreateApiKeyRequest, Scope};

use crate::{
    Ctx, Outcome, Output,
    render::{self, fields, opt, out, table, time},
    users::user_id,
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint an API key (`bfu_…`) acting as you (or, for admins, --user) with the scopes given; it is
    /// printed only this once.
    Create(CreateArgs),
    /// Your API keys (never the keys themselves).
    #[command(alias = "ls")]
    List,
    /// Revoke an API key: it is refused from the next request on.
    #[command(alias = "rm")]
    Revoke {
        /// The key's id (`botfleet keys list`).
        id: String,
    },
    /// Issue a new worker key for an instance (printed only this once); the old one stops working.
    Rotate {
        #[arg(value_name = "INSTANCE")]
        id: String,
    },
    /// An instance's worker key: hint, when it was issued, last use, use count (never the key).
    Show {
        #[arg(value_name = "INSTANCE")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name to tell the key by.
    #[arg(long)]
    name: String,
    /// What the key may do, within its owner's role: read, send, control, settings, admin. Repeat it
    /// or separate with commas.
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        required = true,
        value_delimiter = ',',
        value_parser = parse_scope
    )]
    scopes: Vec<Scope>,
    /// Bind the key to this instance: it works there and nowhere else.
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
    /// When the key stops working (RFC 3339: `2027-01-31T00:00:00Z`).
    #[arg(long, value_name = "RFC3339")]
    expires: Option<String>,
    /// The user the key acts as, by id or username (admins only) [default: you].
    #[arg(long, value_name = "USER")]
    user: Option<String>,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope '{s}'; known: {}", known.join(", "))
    })
}

fn scopes(k: &ApiKeyView) -> String {
    let names: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    names.join(",")
}

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Outcome {
    let c = &ctx.client;
    let json = ctx.output == Output::Json;
    match command {
        KeysCommand::Create(args) => {
            let user_id = match &args.user {
                Some(user) => Some(user_id(ctx, user).await),
                None => None,
            };
            let mut wanted = args.scopes;
            wanted.sort();
            wanted.dedup();
            let created = c
                .create_api_key(&CreateApiKeyRequest {
                    name: args.name,
                    scopes: wanted,
                    instance_id: args.instance,
                    expires_at: args.expires,
                    user_id,
                })
                .await?;
            if json {
                render::json(&created);
            } else {
                let k = &created.view;
                out(&fields(&[
                    ("id", k.id.clone()),
                    ("name", k.name.clone()),
                    ("user", opt(k.user_id.as_deref())),
                    ("scopes", scopes(k)),
                    ("instance", opt(k.instance_id.as_deref())),
                    ("expires", opt(k.expires_at.as_deref().map(time))),
                ]));
                out(&format!("API key: {}", created.key));
            }
            eprintln!(
                "botfleet: the key is shown only now and cannot be shown again: store it. `botfleet keys \
                 revoke {}` revokes it.",
                created.view.id
            );
        }
        KeysCommand::List => {
            let list = c.my_api_keys().await?;
            if json {
                render::json(&list);
            } else if list.keys.is_empty() {
                out("No API keys.");
            } else {
                let rows: Vec<Vec<String>> = list
                    .keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.key_hint.clone(),
                            scopes(k),
                            opt(k.instance_id.as_deref()),
                            opt(k.expires_at.as_deref().map(time)),
                            opt(k.last_used_at.as_deref().map(time)),
                            k.name.clone(),
                        ]
                    })
                    .collect();
                out(&table(
                    &[
                        "ID",
                        "HINT",
                        "SCOPES",
                        "INSTANCE",
                        "EXPIRES",
                        "LAST-USED",
                        "NAME",
                    ],
                    &rows,
                ));
            }
        }
        KeysCommand::Revoke { id } => return crate::done(ctx, &c.revoke_api_key(&id).await?),
        KeysCommand::Rotate { id } => {
            let rotated = c.rotate_api_key(&id).await?;
            if json {
                render::json(&rotated);
            } else {
                out(&format!("API key: {}", rotated.api_key));
            }
            eprintln!(
                "botfleet: the new key is shown only now: store it. The previous key no longer works."
            );
        }
        KeysCommand::Show { id } => {
            let key = c.api_key(&id).await?;
            if json {
                render::json(&key);
            } else {
                let d = &key.data;
                out(&fields(&[
                    ("hint", d.api_key_hint.clone()),
                    ("issued", time(&d.generated_at)),
                    ("last use", opt(d.last_use.as_deref().map(time))),
                    ("uses", d.usage_count.to_string()),
                ]));
            }
        }
    }
    Ok(())
}
