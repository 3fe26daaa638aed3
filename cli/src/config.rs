//! Where the manager's URL and the credential come from: flags, then the environment (`BOTFLEET_URL`
//! through clap, `BOTFLEET_KEY` here), then the session `botfleet login` stored for that URL, then the
//! config file, then the default URL.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    Failure,
    sessions::{Session, Sessions},
};

pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    url: Option<String>,
    key: Option<String>,
}

/// Where the credential in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    /// Stored by `botfleet login` for this URL.
    Session(Session),
    /// The config file's `key`.
    File(PathBuf),
}

impl Source {
    /// For people: `--key`, `BOTFLEET_KEY`, `the session of ann (botfleet login)`, `/path/config.toml`.
    pub fn describe(&self) -> String {
        match self {
            Self::Flag => "--key".into(),
            Self::Env => "BOTFLEET_KEY".into(),
            Self::Session(s) => format!("the session of {} (botfleet login)", s.username),
            Self::File(path) => path.display().to_string(),
        }
    }
}

/// A bearer credential (the bootstrap admin key, an API key or a session token) and its source.
#[derive(Debug, Clone)]
pub struct Credential {
    pub key: String,
    pub source: Source,
}

/// What the commands use.
#[derive(Debug)]
pub struct Settings {
    pub url: String,
    /// The credential, or why there is none (a usage message).
    pub credential: Result<Credential, String>,
    /// Where `botfleet login` stores sessions; `None` without `HOME` or `XDG_CONFIG_HOME`.
    pub sessions: Option<PathBuf>,
}

impl Settings {
    /// The credential, or exit 2 saying how to give one.
    pub fn require_credential(&self) -> Result<&Credential, Failure> {
        self.credential
            .as_ref()
            .map_err(|why| Failure::Usage(why.clone()))
    }

    /// `sessions.toml`, or exit 2 when there is nowhere to keep it.
    pub fn sessions_path(&self) -> Result<&Path, Failure> {
        self.sessions.as_deref().ok_or_else(|| {
            Failure::Usage(
                "nowhere to keep the session: set HOME or XDG_CONFIG_HOME (an absolute path)"
                    .into(),
            )
        })
    }
}

/// `$XDG_CONFIG_HOME/botfleet`, else `~/.config/botfleet`.
fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("botfleet"))
}

/// `$XDG_CONFIG_HOME/botfleet/config.toml`, else `~/.config/botfleet/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    default_dir().map(|d| d.join("config.toml"))
}

/// `sessions.toml` beside the default config file (whichever config file is read: sessions are filed
/// by URL).
pub fn sessions_path() -> Option<PathBuf> {
    default_dir().map(|d| d.join("sessions.toml"))
}

/// Flags and environment (`url`, `key`, already merged by clap) over the stored session for the URL,
/// over the file, over the default.
pub fn resolve(
    url: Option<String>,
    key: Option<String>,
    env_key: Option<String>,
    config: Option<&Path>,
    sessions: Option<PathBuf>,
) -> Result<Settings, Failure> {
    let (file, path) = match config {
        // Named explicitly: it must exist.
        Some(path) => (read(path)?, Some(path.to_path_buf())),
        None => match default_path() {
            Some(path) if path.exists() => (read(&path)?, Some(path)),
            path => (File::default(), path),
        },
    };
    let url = non_empty(url)
        .or(non_empty(file.url))
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let given = non_empty(key)
        .map(|key| (key, Source::Flag))
        .or_else(|| non_empty(env_key).map(|key| (key, Source::Env)));
    let credential = match given {
        Some((key, source)) => Ok(Credential { key, source }),
        None => {
            // Read only when needed: a key given outright works whatever the sessions file holds.
            let stored = match &sessions {
                Some(p) => Sessions::read(p)?.get(&url).cloned(),
                None => None,
            };
            let expired = stored.as_ref().filter(|s| s.expired()).cloned();
            let session = stored.filter(|s| !s.expired()).map(|s| Credential {
                key: s.token.clone(),
                source: Source::Session(s),
            });
            let from_file = non_empty(file.key).map(|key| Credential {
                key,
                source: Source::File(path.clone().unwrap_or_default()),
            });
            session.or(from_file).ok_or_else(|| match expired {
                Some(s) => format!(
                    "the session of {} at {url} expired at {} (UTC): run `botfleet login` again",
                    s.username,
                    crate::render::unix_ms(s.expires_at.saturating_mul(1000))
                ),
                None => format!(
                    "no admin key: pass --key, set BOTFLEET_KEY, run `botfleet login`, or put \
                     `key = \"…\"` in {}",
                    path.map_or_else(
                        || "the config file (--config)".to_string(),
                        |p| p.display().to_string()
                    )
                ),
            })
        }
    };
    Ok(Settings {
        url,
        credential,
        sessions,
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn read(path: &Path) -> Result<File, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let file: File =
        toml::from_str(&text).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    warn_if_readable_by_others(path, &file);
    Ok(file)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, file: &File) {
    use std::os::unix::fs::PermissionsExt;
    if file.key.is_some()
        && let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "botfleet: warning: {} holds the admin key and others may read it (chmod 600 it)",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &File) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and where it came from, or the usage message.
    fn key(s: &Settings) -> Result<(&str, &Source), &str> {
        s.credential
            .as_ref()
            .map(|c| (c.key.as_str(), &c.source))
            .map_err(String::as_str)
    }

    #[test]
    fn flags_and_env_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("botfleet-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "url = \"http://file:1\"\nkey = \"file-key\"\n").unwrap();
        let s = resolve(None, None, None, Some(&path), None).unwrap();
        assert_eq!(s.url, "http://file:1");
        assert_eq!(key(&s), Ok(("file-key", &Source::File(path.clone()))));
        let s = resolve(
            Some("http://flag:2".into()),
            Some("flag-key".into()),
            Some("env-key".into()),
            Some(&path),
            None,
        )
        .unwrap();
        assert_eq!(s.url, "http://flag:2");
        assert_eq!(key(&s), Ok(("flag-key", &Source::Flag)));
        std::fs::write(&path, "key = \"k\"\n").unwrap();
        assert_eq!(
            resolve(None, None, None, Some(&path), None).unwrap().url,
            DEFAULT_URL
        );
        let s = resolve(None, None, Some("env-key".into()), Some(&path), None).unwrap();
        assert_eq!(key(&s), Ok(("env-key", &Source::Env)));
        std::fs::write(&path, "kee = \"typo\"\n").unwrap();
        assert!(matches!(
            resolve(None, None, None, Some(&path), None),
            Err(Failure::Usage(_))
        ));
        std::fs::write(&path, "url = \"http://x\"\n").unwrap();
        let s = resolve(None, None, None, Some(&path), None).unwrap();
        assert!(key(&s).is_err_and(|m| m.contains("no admin key")));
        assert!(matches!(
            s.require_credential(),
            Err(Failure::Usage(m)) if m.contains("botfleet login")
        ));
        assert!(matches!(
            resolve(
                None,
                Some("k".into()),
                None,
                Some(&dir.join("missing.toml")),
                None
            ),
            Err(Failure::Usage(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stored_session_is_used_for_its_url_only_and_until_it_expires() {
        let dir = std::env::temp_dir().join(format!("botfleet-cli-session-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        let sessions = dir.join("sessions.toml");
        std::fs::write(&config, "url = \"http://m:1\"\nkey = \"file-key\"\n").unwrap();
        let ann = Session {
            username: "ann".into(),
            token: "ann-token".into(),
            expires_at: crate::sessions::now() + 3600,
        };
        let mut stored = Sessions::default();
        stored.insert("http://m:1/", ann.clone());
        stored.write(&sessions).unwrap();
        let resolve_with = |url: Option<&str>, key: Option<&str>, env: Option<&str>| {
            resolve(
                url.map(Into::into),
                key.map(Into::into),
                env.map(Into::into),
                Some(&config),
                Some(sessions.clone()),
            )
            .unwrap()
        };
        // The session wins over the config file's key, not over a key given outright.
        let s = resolve_with(None, None, None);
        assert_eq!(key(&s), Ok(("ann-token", &Source::Session(ann.clone()))));
        let s = resolve_with(None, None, Some("env-key"));
        assert_eq!(key(&s), Ok(("env-key", &Source::Env)));
        let s = resolve_with(None, Some("flag-key"), Some("env-key"));
        assert_eq!(key(&s), Ok(("flag-key", &Source::Flag)));
        // Another manager never sees it.
        let s = resolve_with(Some("http://other:2"), None, None);
        assert_eq!(key(&s), Ok(("file-key", &Source::File(config.clone()))));
        // Expired: the file's key, else a message saying to log in again.
        stored.insert(
            "http://m:1",
            Session {
                expires_at: crate::sessions::now() - 1,
                ..ann
            },
        );
        stored.write(&sessions).unwrap();
        let s = resolve_with(None, None, None);
        assert_eq!(key(&s), Ok(("file-key", &Source::File(config.clone()))));
        std::fs::write(&config, "url = \"http://m:1\"\n").unwrap();
        let s = resolve_with(None, None, None);
        assert!(key(&s).is_err_and(|m| m.contains("expired") && m.contains("botfleet login")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
