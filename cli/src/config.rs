//! Where the manager's URL and the admin key come from: flags, then the environment (`BOTFLEET_URL`
//! through clap, `BOTFLEET_KEY` here), then the config file, then the default URL.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Failure;

pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    url: Option<String>,
    key: Option<String>,
}

/// What the commands use.
#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub key: String,
}

/// `$XDG_CONFIG_HOME/botfleet/config.toml`, else `~/.config/botfleet/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("botfleet").join("config.toml"))
}

/// Flags and environment (`url`, `key`, already merged by clap) over the file over the default.
pub fn resolve(
    url: Option<String>,
    key: Option<String>,
    env_key: Option<String>,
    config: Option<&Path>,
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
    let key = non_empty(key)
        .or(non_empty(env_key))
        .or(non_empty(file.key))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "no admin key: pass --key, set BOTFLEET_KEY, or put `key = \"…\"` in {}",
                path.map_or_else(
                    || "the config file (--config)".to_string(),
                    |p| p.display().to_string()
                )
            ))
        })?;
    Ok(Settings { url, key })
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

    #[test]
    fn flags_and_env_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("botfleet-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "url = \"http://file:1\"\nkey = \"file-key\"\n").unwrap();
        let s = resolve(None, None, None, Some(&path)).unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.as_str()),
            ("http://file:1", "file-key")
        );
        let s = resolve(
            Some("http://flag:2".into()),
            Some("flag-key".into()),
            Some("env-key".into()),
            Some(&path),
        )
        .unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.as_str()),
            ("http://flag:2", "flag-key")
        );
        std::fs::write(&path, "key = \"k\"\n").unwrap();
        assert_eq!(
            resolve(None, None, None, Some(&path)).unwrap().url,
            DEFAULT_URL
        );
        let s = resolve(None, None, Some("env-key".into()), Some(&path)).unwrap();
        assert_eq!(s.key, "env-key");
        std::fs::write(&path, "kee = \"typo\"\n").unwrap();
        assert!(matches!(
            resolve(None, None, None, Some(&path)),
            Err(Failure::Usage(_))
        ));
        std::fs::write(&path, "url = \"http://x\"\n").unwrap();
        assert!(
            matches!(resolve(None, None, None, Some(&path)), Err(Failure::Usage(m)) if m.contains("no admin key"))
        );
        assert!(matches!(
            resolve(
                None,
                Some("k".into()),
                None,
                Some(&dir.join("missing.toml"))
            ),
            Err(Failure::Usage(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
