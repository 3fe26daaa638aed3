//! The master keys: where they come from (a file, or `BOTFLEET_MASTER_KEY`), never the database.
//!
//! A keyring is one or more keys, each `<id>:<base64 key>` (or the bare key: its id is then derived
//! from it), one per line in a file or comma-separated in the variable, `#` starting a comment. The
//! first key seals; every key opens, so a rotation can add a key in front before dropping the old one.
//! A key is 32 random bytes, written in base64 (`openssl rand -base64 32`) or hex (64 digits).
//!
//! Without a key given, the manager creates the key file (mode 0600, created exclusively: two managers
//! starting at once end up with one key) at `--master-key-file`, by default next to a SQLite database
//! (`botfleet.db` → `botfleet.master.key`) or at `./data/master.key`. It never creates one for a
//! database that already holds sealed values: that would only hide the missing key.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD},
};
use chacha20poly1305::{
    XChaCha20Poly1305,
    aead::{Generate, Key},
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Bytes of a master key.
pub const KEY_LEN: usize = 32;
/// Longest key id.
const ID_MAX: usize = 32;

/// Where the master key comes from (`manager serve` and `manager master-key rotate`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MasterKeyArgs {
    /// File holding the master key(s) that seal the secrets in the database: `<id>:<base64 key>` per
    /// line, the first one sealing. Created (mode 0600) when missing, unless the database already holds
    /// sealed secrets. Default: next to a SQLite database (`botfleet.db` → `botfleet.master.key`), else
    /// `./data/master.key`. Back it up: without it the stored secrets cannot be read.
    #[arg(long, env = "BOTFLEET_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The master key itself instead of a file: 32 bytes in base64 or hex, optionally `<id>:<key>`;
    /// several comma-separated, the first one sealing. Prefer the environment variable: a command-line
    /// value shows in `ps`.
    #[arg(
        long,
        env = "BOTFLEET_MASTER_KEY",
        hide_env_values = true,
        conflicts_with = "master_key_file"
    )]
    pub master_key: Option<String>,
}

/// One master key. Its bytes are wiped from memory when it is dropped, and never shown.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let key = Key::<XChaCha20Poly1305>::generate();
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&key);
        Self::from_bytes(bytes)
    }

    /// A key named after its digest.
    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut h = Sha256::new();
        h.update(b"botfleet master key id\0");
        h.update(bytes.as_slice());
        let id = hex::encode(&h.finalize()[..4]);
        Self { id, bytes }
    }

    /// A key with the id it was given.
    pub fn with_id(id: &str, bytes: &[u8]) -> Result<Self, String> {
        if id.is_empty()
            || id.len() > ID_MAX
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "key id {id:?} must be 1 to {ID_MAX} letters, digits, '-' or '_'"
            ));
        }
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| format!("a master key is {KEY_LEN} bytes, not {}", bytes.len()))?;
        Ok(Self {
            id: id.to_string(),
            bytes: Zeroizing::new(bytes),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// `<id>:<key>` with the key in `base64` or 64 hex digits.
    fn parse(entry: &str) -> Result<Self, String> {
        let (id, encoded) = match entry.split_once(':') {
            Some((id, key)) => (Some(id.trim()), key.trim()),
            None => (None, entry.trim()),
        };
        let bytes = Zeroizing::new(decode_key(encoded)?);
        match id {
            Some(id) => Self::with_id(id, &bytes),
            None => {
                let bytes: [u8; KEY_LEN] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("a master key is {KEY_LEN} bytes, not {}", bytes.len()))?;
                Ok(Self::from_bytes(Zeroizing::new(bytes)))
            }
        }
    }
}

/// The bytes of a key written in hex (64 digits) or base64 (standard or URL-safe, padded or not).
fn decode_key(encoded: &str) -> Result<Vec<u8>, String> {
    if encoded.len() == 2 * KEY_LEN && encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(encoded).map_err(|_| "not hex".to_string());
    }
    let trimmed = encoded.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| "a master key is base64 or 64 hex digits".to_string())
}

/// One or more master keys, the first one sealing.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// # Panics
    /// When `keys` is empty.
    pub fn new(keys: Vec<MasterKey>) -> Self {
        assert!(!keys.is_empty(), "a keyring holds at least one key");
        Self { keys }
    }

    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    pub fn primary(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The keys of a key file or of `BOTFLEET_MASTER_KEY`: entries on lines or separated by commas,
    /// blank lines and `#` comments skipped. Errors say which entry, never its value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<MasterKey> = Vec::new();
        let entries = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (n, entry) in entries.enumerate() {
            let key = MasterKey::parse(entry).map_err(|e| format!("key {}: {e}", n + 1))?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(format!("key {}: the id {} appears twice", n + 1, key.id));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no key in it".into());
        }
        Ok(Self { keys })
    }

    /// The key file's text.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(
            "# botfleet master keys: `<id>:<base64 key>`, one per line. The first one seals; every one\n\
             # opens. Keep this file secret and backed up: without it the stored secrets cannot be read.\n",
        ));
        for key in &self.keys {
            text.push_str(&key.id);
            text.push(':');
            text.push_str(&STANDARD.encode(key.bytes.as_slice()));
            text.push('\n');
        }
        text
    }

    /// This keyring with `key` in front: it seals, the others still open.
    pub fn with_primary(&self, key: MasterKey) -> Self {
        let others = self.keys.iter().filter(|k| k.id != key.id).cloned();
        let keys = std::iter::once(key.clone()).chain(others).collect();
        Self { keys }
    }
}

/// A master key that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("the master key in {from} is unusable: {reason}")]
    Invalid { from: KeySource, reason: String },
    #[error("cannot read or write the master key file {}: {error}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error(
        "this database holds secrets sealed with master key {ids}, but there is no master key file at \
         {}: start with the key file (--master-key-file, BOTFLEET_MASTER_KEY_FILE) or the key \
         (BOTFLEET_MASTER_KEY) these secrets were sealed with; no new key is made for them", path.display()
    )]
    MissingForSealedDatabase { path: PathBuf, ids: String },
}

/// Where a keyring was found, for messages (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Variable,
    File { path: PathBuf, created: bool },
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Variable => f.write_str("BOTFLEET_MASTER_KEY (--master-key)"),
            Self::File { path, .. } => write!(f, "the key file {}", path.display()),
        }
    }
}

/// The key file used when none is named: next to a SQLite database file (its name with `.master.key`
/// for the extension), else `./data/master.key`.
pub fn default_file(database_url: &str) -> PathBuf {
    let sqlite_file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .filter(|p| !p.is_empty() && !p.starts_with(":memory:"));
    match sqlite_file {
        Some(file) => Path::new(file).with_extension("master.key"),
        None => PathBuf::from("./data/master.key"),
    }
}

impl MasterKeyArgs {
    /// The key file these arguments name (`--master-key-file` or the default); `None` with
    /// `--master-key`.
    pub fn file(&self, database_url: &str) -> Option<PathBuf> {
        match (&self.master_key, &self.master_key_file) {
            (Some(_), _) => None,
            (None, Some(path)) => Some(path.clone()),
            (None, None) => Some(default_file(database_url)),
        }
    }

    /// The keyring: from `--master-key`, else read from the key file, else a new key written to the key
    /// file, unless the database already holds values sealed with the keys `sealed_ids`.
    pub fn load_or_create(
        &self,
        database_url: &str,
        sealed_ids: &BTreeSet<String>,
    ) -> Result<(Keyring, KeySource), KeyringError> {
        if let Some(text) = &self.master_key {
            let keyring = Keyring::parse(text).map_err(|reason| KeyringError::Invalid {
                from: KeySource::Variable,
                reason,
            })?;
            return Ok((keyring, KeySource::Variable));
        }
        let path = self.file(database_url).expect("no --master-key: a file");
        if let Some(keyring) = read_file(&path)? {
            return Ok((
                keyring,
                KeySource::File {
                    path,
                    created: false,
                },
            ));
        }
        if !sealed_ids.is_empty() {
            return Err(KeyringError::MissingForSealedDatabase {
                path,
                ids: sealed_ids.iter().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let keyring = Keyring::new(vec![MasterKey::generate()]);
        match create_exclusive(&path, &keyring)? {
            None => Ok((
                keyring,
                KeySource::File {
                    path,
                    created: true,
                },
            )),
            // Another manager created it meanwhile: use that one.
            Some(theirs) => Ok((
                theirs,
                KeySource::File {
                    path,
                    created: false,
                },
            )),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyringError + '_ {
    move |error| KeyringError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The keyring in the file at `path`; `None` when there is no such file.
pub fn read_file(path: &Path) -> Result<Option<Keyring>, KeyringError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    warn_if_shared(path);
    Keyring::parse(&text)
        .map(Some)
        .map_err(|reason| KeyringError::Invalid {
            from: KeySource::File {
                path: path.to_path_buf(),
                created: false,
            },
            reason,
        })
}

/// Says so when others than the owner may read the key file.
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the master key file is readable by others than its owner; chmod 600 it"
        );
    }
}

/// A new file next to `path` holding the keyring, written and flushed to disk, mode 0600.
fn write_temp(path: &Path, keyring: &Keyring) -> Result<PathBuf, KeyringError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "master.key".into());
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(keyring.to_file_text().as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(&temp)(e));
    }
    Ok(temp)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Flushes the directory entry of a file just created or renamed.
fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(parent(path)) {
        let _ = dir.sync_all();
    }
}

/// Creates the key file only if there is none, complete or not at all (a hard link of a finished
/// temporary file). `Some(theirs)` when another process created it first.
pub fn create_exclusive(path: &Path, keyring: &Keyring) -> Result<Option<Keyring>, KeyringError> {
    let temp = write_temp(path, keyring)?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_file(path)?.map(Some).ok_or_else(|| io_error(path)(e))
        }
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Replaces the key file with one holding `keyring`, at once (a temporary file renamed over it).
pub fn write_atomic(path: &Path, keyring: &Keyring) -> Result<(), KeyringError> {
    let temp = write_temp(path, keyring)?;
    if let Err(e) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path)(e));
    }
    sync_dir(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("botfleet-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keys_are_read_in_base64_and_hex_with_or_without_an_id() {
        let key = MasterKey::generate();
        let b64 = STANDARD.encode(key.bytes());
        let hex = hex::encode(key.bytes());
        for text in [
            b64.clone(),
            hex.clone(),
            b64.trim_end_matches('=').to_string(),
        ] {
            let ring = Keyring::parse(&text).unwrap();
            assert_eq!(ring.primary().bytes(), key.bytes());
            assert_eq!(ring.primary().id(), key.id(), "derived id");
        }
        let ring = Keyring::parse(&format!(
            "# old and new\nnew:{hex}\n\nold:{b64} # a comment\n"
        ))
        .unwrap();
        assert_eq!(ring.ids(), ["new", "old"]);
        let ring = Keyring::parse(&format!("a:{b64},b:{hex}")).unwrap();
        assert_eq!(ring.ids(), ["a", "b"]);
        let back = Keyring::parse(&ring.to_file_text()).unwrap();
        assert_eq!(back.ids(), ["a", "b"]);
        assert_eq!(back.primary().bytes(), key.bytes());
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        for (text, expected) in [
            ("", "no key"),
            ("# only a comment", "no key"),
            ("c2hvcnQ=", "32 bytes"),
            ("not base64 at all!", "base64"),
            ("bad id:AAAA", "key id"),
        ] {
            let error = Keyring::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let key = STANDARD.encode([7u8; 32]);
        let error = Keyring::parse(&format!("a:{key}\na:{key}")).unwrap_err();
        assert!(error.contains("twice"), "{error}");
        assert!(!error.contains(&key));
    }

    #[test]
    fn the_default_file_sits_next_to_a_sqlite_database() {
        assert_eq!(
            default_file("sqlite://./data/botfleet.db"),
            PathBuf::from("./data/botfleet.master.key")
        );
        assert_eq!(
            default_file("sqlite:///var/lib/bf/fleet.db?mode=rwc"),
            PathBuf::from("/var/lib/bf/fleet.master.key")
        );
        assert_eq!(
            default_file("postgres://u@h/db"),
            PathBuf::from("./data/master.key")
        );
        assert_eq!(
            default_file("sqlite::memory:"),
            PathBuf::from("./data/master.key")
        );
    }

    #[test]
    fn a_missing_key_file_is_created_once_private_and_then_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let path = dir.join("sub").join("master.key");
        let args = MasterKeyArgs {
            master_key_file: Some(path.clone()),
            master_key: None,
        };
        let (created, source) = args.load_or_create("", &BTreeSet::new()).unwrap();
        assert_eq!(
            source,
            KeySource::File {
                path: path.clone(),
                created: true
            }
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, source) = args.load_or_create("", &BTreeSet::new()).unwrap();
        assert!(matches!(source, KeySource::File { created: false, .. }));
        assert_eq!(again.primary().bytes(), created.primary().bytes());
        // A second creation finds the first one's key.
        let other = Keyring::new(vec![MasterKey::generate()]);
        let theirs = create_exclusive(&path, &other)
            .unwrap()
            .expect("the file existed");
        assert_eq!(theirs.primary().bytes(), created.primary().bytes());
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("master.key")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_key_is_made_up_for_a_database_that_holds_sealed_values() {
        let dir = temp_dir();
        let path = dir.join("master.key");
        let args = MasterKeyArgs {
            master_key_file: Some(path.clone()),
            master_key: None,
        };
        let error = args
            .load_or_create("", &BTreeSet::from(["ab12cd34".to_string()]))
            .unwrap_err();
        assert!(
            error.to_string().contains("ab12cd34") && error.to_string().contains("master.key"),
            "{error}"
        );
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_variable_wins_and_the_file_is_rewritten_whole() {
        let key = MasterKey::generate();
        let args = MasterKeyArgs {
            master_key_file: None,
            master_key: Some(format!("k1:{}", hex::encode(key.bytes()))),
        };
        let (ring, source) = args
            .load_or_create("sqlite://x.db", &BTreeSet::new())
            .unwrap();
        assert_eq!((ring.ids(), source), (vec!["k1"], KeySource::Variable));
        assert_eq!(args.file("sqlite://x.db"), None);

        let dir = temp_dir();
        let path = dir.join("master.key");
        let first = Keyring::new(vec![key]);
        write_atomic(&path, &first).unwrap();
        let rotated = first.with_primary(MasterKey::generate());
        write_atomic(&path, &rotated).unwrap();
        let read = read_file(&path).unwrap().unwrap();
        assert_eq!(read.ids(), rotated.ids());
        assert_eq!(read.ids().len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
