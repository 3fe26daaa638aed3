//! `botfleet login`, `botfleet logout` and `botfleet whoami`.

use clap::Args;
use client::{Client, ClientError};
use serde::Serialize;
use shared::api::{
    Done,
    users::{LoginRequest, MeView, RateLimitView, Role},
};

use crate::{
    Ctx, Failure, Outcome, Output,
    config::{Settings, Source},
    prompt,
    render::{self, fields, opt, out},
    sessions::{self, Session, Sessions},
};

pub const LOGIN_ABOUT: &str = "\
Log in to the manager with a username and password.

The session token is stored for this manager's URL in sessions.toml beside the config file
($XDG_CONFIG_HOME/botfleet/sessions.toml, else ~/.config/botfleet/sessions.toml; mode 0600), and the
next commands use it when neither --key nor BOTFLEET_KEY is given (it goes before the config file's
`key`). It lasts until it expires or `botfleet logout` ends it; logging in again replaces it.

The password is asked on the terminal without echo, or read from stdin with --password-stdin
(`botfleet login -u ann --password-stdin < file`); never from a flag, which `ps` shows.";

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The user to log in as [default: asked on the terminal].
    #[arg(long, short, env = "BOTFLEET_USERNAME")]
    username: Option<String>,
    /// Read the password from stdin (one trailing line break is dropped) instead of asking.
    #[arg(long, requires = "username")]
    password_stdin: bool,
}

/// What `login --output json` prints (never the token).
#[derive(Debug, Serialize)]
struct LoggedIn<'a> {
    url: &'a str,
    username: &'a str,
    role: Option<Role>,
    expires_in: u64,
    /// RFC 3339 (UTC).
    expires_at: String,
    stored_in: String,
}

/// Unix seconds as RFC 3339 (UTC).
fn rfc3339(secs: i64) -> String {
    format!(
        "{}Z",
        render::unix_ms(secs.saturating_mul(1000)).replacen(' ', "T", 1)
    )
}

fn client(url: &str, key: &str) -> Result<Client, Failure> {
    Client::new(url, key).map_err(|e| Failure::Usage(format!("--url: {e}")))
}

pub async fn login(settings: &Settings, output: Output, args: LoginArgs) -> Outcome {
    let path = settings.sessions_path()?;
    // Read before asking for the password: a broken file is said at once.
    let mut stored = Sessions::read(path)?;
    let username = match args.username {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => prompt::username()?,
    };
    let password = prompt::password(args.password_stdin, "Password", false)?;
    let url = settings.url.as_str();
    let session = client(url, "")?
        .login(&LoginRequest {
            username: username.clone(),
            password,
        })
        .await?;
    let expires_at = sessions::now().saturating_add(i64::try_from(session.expires_in).unwrap_or(0));
    let replaced = stored.insert(
        url,
        Session {
            username: username.clone(),
            token: session.access_token.clone(),
            expires_at,
        },
    );
    stored.write(path)?;
    let me = client(url, &session.access_token)?;
    // The session it replaces ends now rather than when it expires (best effort: it may have already).
    if let Some(old) = replaced.filter(|s| !s.expired() && s.token != session.access_token) {
        let _ = client(url, &old.token)?.logout().await;
    }
    let role = me.me().await.ok().map(|m| m.role);
    if output == Output::Json {
        render::json(&LoggedIn {
            url,
            username: &username,
            role,
            expires_in: session.expires_in,
            expires_at: rfc3339(expires_at),
            stored_in: path.display().to_string(),
        });
    } else {
        out(&format!(
            "Logged in to {url} as {username}{}; the session lasts until {} UTC (stored in {}).",
            role.map(|r| format!(" ({})", r.as_str()))
                .unwrap_or_default(),
            render::unix_ms(expires_at.saturating_mul(1000)),
            path.display()
        ));
    }
    if let Ok(c) = &settings.credential
        && matches!(c.source, Source::Flag | Source::Env)
    {
        eprintln!(
            "botfleet: note: {} is set and goes before the stored session; unset it to use the session.",
            c.source.describe()
        );
    }
    Ok(())
}

pub async fn logout(settings: &Settings, output: Output) -> Outcome {
    // The manager's `Done` as JSON, or its message for people.
    let say = |message: String| {
        if output == Output::Json {
            render::json(&Done::new(message));
        } else {
            out(&message);
        }
    };
    let path = settings.sessions_path()?;
    let url = settings.url.as_str();
    let mut stored = Sessions::read(path)?;
    let (token, who) = match stored.remove(url) {
        Some(session) => {
            // Forgotten here first: whatever the manager answers, this machine no longer holds it.
            stored.write(path)?;
            if session.expired() {
                say(format!(
                    "The session of {} at {url} had expired; it is forgotten.",
                    session.username
                ));
                return Ok(());
            }
            (session.token, session.username)
        }
        None => match &settings.credential {
            // A session token given outright: end that one.
            Ok(c) if matches!(c.source, Source::Flag | Source::Env) => {
                (c.key.clone(), c.source.describe())
            }
            _ => {
                return Err(Failure::Usage(format!(
                    "not logged in to {url}: no session stored in {}",
                    path.display()
                )));
            }
        },
    };
    match client(url, &token)?.logout().await {
        Ok(_) => {
            say(format!("Logged out of {url} ({who})."));
            Ok(())
        }
        Err(ClientError::Api { status: 401, .. }) => {
            say(format!(
                "The session of {who} at {url} had already ended; it is forgotten."
            ));
            Ok(())
        }
        Err(e) => Err(Failure::Hinted(
            Box::new(e.into()),
            "the session is forgotten here, but the manager did not end it: it stays valid until it \
             expires"
                .into(),
        )),
    }
}

fn rate(r: &RateLimitView) -> String {
    format!("{}/s (burst {})", r.per_second, r.burst)
}

fn quota(used: i64, limit: Option<i64>, unit: &str) -> String {
    match limit {
        Some(limit) => format!("{used}{unit} of {limit}{unit}"),
        None => format!("{used}{unit} (no limit)"),
    }
}

pub async fn whoami(ctx: &Ctx) -> Outcome {
    let me: MeView = ctx.client.me().await?;
    if ctx.output == Output::Json {
        render::json(&me);
        return Ok(());
    }
    let user = me.user.as_ref().map_or_else(
        || "- (the bootstrap admin key)".to_string(),
        |u| {
            format!(
                "{} ({}){}",
                u.username,
                u.id,
                if u.disabled { ", disabled" } else { "" }
            )
        },
    );
    let via = match &ctx.source {
        Source::Session(s) => format!(
            "stored by `botfleet login`, until {} UTC",
            render::unix_ms(s.expires_at.saturating_mul(1000))
        ),
        Source::File(path) => format!("from {}", path.display()),
        other => format!("from {}", other.describe()),
    };
    let scopes: Vec<&str> = me.scopes.iter().map(|s| s.as_str()).collect();
    let mut rows = vec![
        ("manager", ctx.url.clone()),
        ("user", user),
        ("role", me.role.as_str().to_string()),
        ("credential", format!("{} ({via})", me.credential)),
        ("scopes", scopes.join(", ")),
    ];
    if me.key_id.is_some() {
        rows.push(("key id", opt(me.key_id.as_deref())));
    }
    if me.instance_id.is_some() {
        rows.push(("instance", opt(me.instance_id.as_deref())));
    }
    rows.extend([
        (
            "bots",
            quota(me.max_instances.used, me.max_instances.limit, ""),
        ),
        (
            "memory",
            quota(me.max_memory_mb.used, me.max_memory_mb.limit, " MiB"),
        ),
        (
            "rate limit",
            format!(
                "{} per key, {} per user",
                rate(&me.rate_limit_per_key),
                rate(&me.rate_limit_per_user)
            ),
        ),
    ]);
    out(&fields(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_times_are_rfc3339() {
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    }
}
