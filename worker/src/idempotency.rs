//! Sends made at most once per `Idempotency-Key`: the worker remembers, for a day, each key it has sent
//! with and the answer it gave; a repeat of the request gets that answer again (with
//! `Idempotent-Replayed: true`) and sends nothing. A repeat that arrives while the first is still
//! sending waits for it. Only sends that succeeded are remembered: a refused or failed send sent
//! nothing, so its repeat tries again.
//!
//! With a data directory, the keys are also written there (one JSON line each, appended when the send
//! succeeded, before the answer leaves), so a restarted worker still knows them. A worker killed between
//! the platform's acknowledgement and that line would send a repeat again: the window is one local file
//! append.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::worker_api::{IDEMPOTENCY_KEEP_SECS, SendResponse};

use crate::{error::ApiError, state::now_ms};

/// Keys kept at most; past this the oldest are forgotten first.
pub const MAX_KEYS: usize = 200_000;
/// How often expired keys are dropped (and the file compacted).
const SWEEP_EVERY_MS: i64 = 60_000;

/// A send that happened, as remembered (and as written, one per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sent {
    key: String,
    /// What was asked (see [`fingerprint`]): a key reused for another request is refused.
    fingerprint: String,
    at: i64,
    response: SendResponse,
}

/// The answer to a keyed send.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Sent now.
    Fresh(SendResponse),
    /// Sent before under this key; nothing was sent now.
    Replayed(SendResponse),
}

pub struct SentKeys {
    done: Mutex<HashMap<String, Sent>>,
    /// One lock per key being sent, so a concurrent repeat waits for the first.
    sending: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    file: Option<PathBuf>,
    /// Lines in the file (live or not), to know when to compact it.
    lines: AtomicUsize,
    last_sweep: AtomicI64,
    keep_ms: i64,
}

impl Default for SentKeys {
    fn default() -> Self {
        Self::in_memory(IDEMPOTENCY_KEEP_SECS as i64 * 1000)
    }
}

/// What identifies a request: where it goes, what it says and how.
pub fn fingerprint(parts: &impl Serialize) -> String {
    let json = serde_json::to_vec(parts).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

impl SentKeys {
    fn in_memory(keep_ms: i64) -> Self {
        Self {
            done: Mutex::default(),
            sending: Mutex::default(),
            file: None,
            lines: AtomicUsize::new(0),
            last_sweep: AtomicI64::new(now_ms()),
            keep_ms,
        }
    }

    /// Keys kept in `file` as well as in memory; the unexpired keys an earlier run wrote there are
    /// known at once (a line cut short by a crash is skipped).
    pub fn open(file: PathBuf) -> std::io::Result<Self> {
        Self::open_keeping(file, IDEMPOTENCY_KEEP_SECS as i64 * 1000)
    }

    fn open_keeping(file: PathBuf, keep_ms: i64) -> std::io::Result<Self> {
        let mut keys = Self::in_memory(keep_ms);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let oldest = now_ms() - keep_ms;
        let done = keys.done.get_mut().unwrap_or_else(|e| e.into_inner());
        for sent in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Sent>(l).ok())
            .filter(|s| s.at >= oldest)
        {
            done.insert(sent.key.clone(), sent);
        }
        if !done.is_empty() {
            tracing::info!(
                keys = done.len(),
                "idempotency keys kept from an earlier run"
            );
        }
        rewrite(&file, done)?;
        keys.lines = AtomicUsize::new(done.len());
        keys.file = Some(file);
        Ok(keys)
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.lock_done().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_done(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sent>> {
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_sending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.sending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered answer to `key`, or a 422 when it was given for another request.
    fn recall(
        &self,
        key: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<SendResponse>, ApiError> {
        match self.lock_done().get(key) {
            Some(sent) if sent.at >= now - self.keep_ms => {
                if sent.fingerprint == fingerprint {
                    Ok(Some(sent.response.clone()))
                } else {
                    Err(ApiError::validation(
                        "Idempotency-Key",
                        "was already used for another request (another chat, text or options); \
                         use a new key for a new message",
                    ))
                }
            }
            _ => Ok(None),
        }
    }

    /// Runs `send` unless a send under `key` happened within the last day, whose answer is given
    /// instead. Concurrent calls with one key send once.
    pub async fn once<F, Fut>(
        &self,
        key: &str,
        fingerprint: &str,
        send: F,
    ) -> Result<Answer, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SendResponse, ApiError>>,
    {
        self.sweep(now_ms());
        if let Some(response) = self.recall(key, fingerprint, now_ms())? {
            return Ok(Answer::Replayed(response));
        }
        let lock = self
            .lock_sending()
            .entry(key.to_string())
            .or_default()
            .clone();
        let answer = async {
            let _turn = lock.lock().await;
            // The first of two concurrent calls may have sent while this one waited.
            if let Some(response) = self.recall(key, fingerprint, now_ms())? {
                return Ok(Answer::Replayed(response));
            }
            let response = send().await?;
            self.remember(Sent {
                key: key.to_string(),
                fingerprint: fingerprint.to_string(),
                at: now_ms(),
                response: response.clone(),
            });
            Ok(Answer::Fresh(response))
        }
        .await;
        let mut sending = self.lock_sending();
        // Only the map and this call hold it: no one else waits for this key.
        if Arc::strong_count(&lock) == 2 {
            sending.remove(key);
        }
        answer
    }

    fn remember(&self, sent: Sent) {
        let mut done = self.lock_done();
        if let Some(file) = &self.file {
            match append(file, &sent) {
                Ok(()) => {
                    self.lines.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not keep an idempotency key on disk; it lives in memory only")
                }
            }
        }
        done.insert(sent.key.clone(), sent);
    }

    /// Drops expired keys (and the oldest past [`MAX_KEYS`]), at most once a minute; rewrites the file
    /// when most of its lines are gone.
    fn sweep(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < SWEEP_EVERY_MS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mut done = self.lock_done();
        let oldest = now - self.keep_ms;
        done.retain(|_, s| s.at >= oldest);
        if done.len() > MAX_KEYS {
            let mut times: Vec<i64> = done.values().map(|s| s.at).collect();
            times.sort_unstable();
            let cut = times[done.len() - MAX_KEYS];
            done.retain(|_, s| s.at >= cut);
        }
        if let Some(file) = &self.file
            && self.lines.load(Ordering::Relaxed) > 2 * done.len() + 1000
        {
            match rewrite(file, &done) {
                Ok(()) => self.lines.store(done.len(), Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "could not compact the idempotency keys file"),
            }
        }
    }
}

fn append(file: &Path, sent: &Sent) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(sent)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(&line)
}

/// Writes `done` aside and renames it over `file`, so a crash never leaves half a file.
fn rewrite(file: &Path, done: &HashMap<String, Sent>) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    let mut out = Vec::new();
    for sent in done.values() {
        out.extend(serde_json::to_vec(sent)?);
        out.push(b'\n');
    }
    std::fs::write(&tmp, out)?;
    std::fs::rename(tmp, file)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn sent(id: &str) -> SendResponse {
        SendResponse {
            message_id: id.into(),
            provider: "telegram".into(),
        }
    }

    #[tokio::test]
    async fn a_key_sends_once_and_repeats_answer_the_first_answer() {
        let keys = SentKeys::default();
        let calls = AtomicU32::new(0);
        let send = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(sent(&n.to_string()))
        };
        let first = keys.once("k1", "fp", send).await.unwrap();
        assert!(matches!(first, Answer::Fresh(ref r) if r.message_id == "1"));
        let again = keys.once("k1", "fp", send).await.unwrap();
        assert!(matches!(again, Answer::Replayed(ref r) if r.message_id == "1"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another key sends.
        assert!(matches!(
            keys.once("k2", "fp", send).await.unwrap(),
            Answer::Fresh(_)
        ));
        // The same key for another request is refused.
        let refused = keys.once("k1", "other", send).await.unwrap_err();
        assert!(
            matches!(refused, ApiError::Validation { ref field, .. } if field == "Idempotency-Key")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_send_is_not_remembered() {
        let keys = SentKeys::default();
        let failed = keys
            .once("k", "fp", || async {
                Err(ApiError::NotReady("down".into()))
            })
            .await;
        assert!(failed.is_err());
        let ok = keys.once("k", "fp", || async { Ok(sent("9")) }).await;
        assert!(matches!(ok.unwrap(), Answer::Fresh(_)));
        assert!(keys.lock_sending().is_empty(), "no lock is left behind");
    }

    #[tokio::test]
    async fn concurrent_repeats_wait_for_the_first_and_send_once() {
        let keys = Arc::new(SentKeys::default());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (keys, calls) = (keys.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                keys.once("k", "fp", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Ok(sent("1"))
                })
                .await
                .unwrap()
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Answer::Fresh(_)) {
                fresh += 1;
            }
        }
        assert_eq!((fresh, calls.load(Ordering::SeqCst)), (1, 1));
        assert!(keys.lock_sending().is_empty());
    }

    #[tokio::test]
    async fn keys_outlive_a_restart_and_expire() {
        let dir = std::env::temp_dir().join(format!("botfleet-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("idempotency.jsonl");
        let keys = SentKeys::open(file.clone()).unwrap();
        keys.once("k", "fp", || async { Ok(sent("7")) })
            .await
            .unwrap();
        // A line cut short by a crash is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"{\"key\":\"half")
            .unwrap();
        drop(keys);
        let keys = SentKeys::open(file.clone()).unwrap();
        assert_eq!(keys.len(), 1);
        let again = keys
            .once("k", "fp", || async { panic!("sent twice") })
            .await
            .unwrap();
        assert!(matches!(again, Answer::Replayed(ref r) if r.message_id == "7"));
        // Kept for a shorter time, the key has expired by the next start.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let keys = SentKeys::open_keeping(file.clone(), 10).unwrap();
        assert!(keys.is_empty());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
