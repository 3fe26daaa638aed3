//! `sessions.toml` beside the config file: the session tokens `botfleet login` stored, one per manager
//! URL (a token is only ever sent to the manager that issued it). Written whole to a temporary file of
//! mode 0600 and renamed over the old one, so it is never readable by others, nor half written.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::Failure;

/// One stored login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub username: String,
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Session {
    pub fn expired(&self) -> bool {
        self.expires_at <= now()
    }
}

/// The file's content: sessions by manager URL.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    #[serde(default)]
    sessions: BTreeMap<String, Session>,
}

const HEADER: &str = "# Written by `botfleet login` and `botfleet logout`: login sessions by manager URL. Keep it \
private (mode 0600).\n";

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The form of a URL sessions are filed under: trimmed, without trailing slashes.
fn url_key(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

impl Sessions {
    /// The file at `path`; none there is no sessions.
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Failure::Usage(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text).map_err(|e| {
            Failure::Usage(format!(
                "{}: {e}(delete the file to forget the stored sessions)",
                path.display()
            ))
        })
    }

    pub fn get(&self, url: &str) -> Option<&Session> {
        self.sessions.get(&url_key(url))
    }

    pub fn insert(&mut self, url: &str, session: Session) -> Option<Session> {
        self.sessions.insert(url_key(url), session)
    }

    pub fn remove(&mut self, url: &str) -> Option<Session> {
        self.sessions.remove(&url_key(url))
    }

    /// Writes the file (and its folder) readable by its owner only; with no session left, removes it.
    pub fn write(&self, path: &Path) -> Result<(), Failure> {
        let failed =
            |e: std::io::Error| Failure::Usage(format!("cannot write {}: {e}", path.display()));
        if self.sessions.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(failed)?;
        }
        let text = format!(
            "{HEADER}{}",
            toml::to_string(self).expect("sessions serialize")
        );
        let tmp = temporary_path(path);
        let written = open_private(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(e));
        }
        Ok(())
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_filed_by_url_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("botfleet-sessions-{}", std::process::id()));
        let path = dir.join("botfleet").join("sessions.toml");
        let mut s = Sessions::read(&path).unwrap();
        assert!(s.get("http://h:1").is_none());
        let ann = Session {
            username: "ann".into(),
            token: "tok".into(),
            expires_at: now() + 60,
        };
        s.insert("http://h:1/", ann.clone());
        s.write(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut s = Sessions::read(&path).unwrap();
        assert_eq!(s.get(" http://h:1 "), Some(&ann));
        assert!(s.get("http://h:2").is_none());
        assert!(!ann.expired());
        assert_eq!(s.remove("http://h:1"), Some(ann));
        s.write(&path).unwrap();
        assert!(!path.exists(), "an empty file is removed");
        std::fs::write(&path, "sessions = 3\n").unwrap();
        assert!(matches!(Sessions::read(&path), Err(Failure::Usage(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
