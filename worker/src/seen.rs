//! What the bot has seen since the worker started: chats, the people who wrote, and recent messages
//! (bounded per chat and in total), for `/chats`, `/contacts`, `/groups` and `/messages`.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use shared::worker_api::{ChatKind, Contact, Direction, MAX_MESSAGES_PER_CHAT, StoredMessage};

use crate::provider::Message;

/// Messages kept per chat.
pub const MAX_PER_CHAT: usize = MAX_MESSAGES_PER_CHAT as usize;
/// Messages kept over all chats.
pub const MAX_TOTAL: usize = 5_000;

/// A chat the bot took part in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatEntry {
    #[serde(deserialize_with = "shared::worker_api::id_string::required")]
    pub id: String,
    pub name: String,
    pub kind: ChatKind,
    pub username: Option<String>,
    pub message_count: u64,
    pub last_message: Option<String>,
    pub last_message_date: i64,
    #[serde(skip)]
    messages: VecDeque<StoredMessage>,
}

#[derive(Default)]
struct Inner {
    chats: HashMap<String, ChatEntry>,
    contacts: HashMap<String, Contact>,
    total: usize,
}

#[derive(Default)]
pub struct Seen {
    inner: Mutex<Inner>,
    /// Something changed since the last save.
    dirty: AtomicBool,
}

/// A chat with its kept messages, as saved.
#[derive(Deserialize)]
struct SavedChat {
    #[serde(flatten)]
    chat: ChatEntry,
    messages: VecDeque<StoredMessage>,
}

/// Everything `Seen` knows, as saved in the data directory.
#[derive(Deserialize)]
struct SavedSeen {
    chats: Vec<SavedChat>,
    contacts: Vec<Contact>,
}

/// [`SavedChat`] by reference, for writing.
#[derive(Serialize)]
struct SavedChatRef<'a> {
    #[serde(flatten)]
    chat: &'a ChatEntry,
    messages: &'a VecDeque<StoredMessage>,
}

/// [`SavedSeen`] by reference, for writing.
#[derive(Serialize)]
struct SavedSeenRef<'a> {
    chats: Vec<SavedChatRef<'a>>,
    contacts: Vec<&'a Contact>,
}

impl Seen {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a message that reached the bot (`in`) or that it sent (`out`).
    pub fn record(&self, message: &Message, direction: Direction) {
        let date = message.date;
        let chat_id = message.chat.id.to_string();
        let stored = StoredMessage {
            message_id: message.id.clone(),
            chat_id: chat_id.clone(),
            from_id: message.from.as_ref().map(|u| u.id.clone()),
            from_name: message.from.as_ref().map(|u| u.name.clone()),
            text: message.text.clone(),
            direction,
            date,
        };
        self.dirty.store(true, Ordering::Relaxed);
        let mut inner = self.lock();
        if direction == Direction::In
            && let Some(user) = &message.from
        {
            inner.contacts.insert(
                user.id.clone(),
                Contact {
                    id: user.id.clone(),
                    name: user.name.clone(),
                    username: user.username.clone(),
                    is_bot: user.is_bot,
                    last_seen_date: date,
                },
            );
        }
        let entry = inner
            .chats
            .entry(chat_id.clone())
            .or_insert_with(|| ChatEntry {
                id: chat_id.clone(),
                name: message
                    .chat
                    .name
                    .clone()
                    .or_else(|| message.chat.username.as_ref().map(|u| format!("@{u}")))
                    .unwrap_or_else(|| chat_id.clone()),
                kind: message.chat.kind,
                username: message.chat.username.clone(),
                message_count: 0,
                last_message: None,
                last_message_date: date,
                messages: VecDeque::new(),
            });
        entry.message_count += 1;
        entry.last_message = stored.text.clone();
        entry.last_message_date = date;
        entry.messages.push_back(stored);
        let mut dropped = 0;
        if entry.messages.len() > MAX_PER_CHAT {
            entry.messages.pop_front();
            dropped = 1;
        }
        inner.total = inner.total + 1 - dropped;
        if inner.total > MAX_TOTAL {
            // Forget the oldest message of the chat that has been quiet longest.
            if let Some(quietest) = inner
                .chats
                .values_mut()
                .filter(|c| !c.messages.is_empty())
                .min_by_key(|c| c.last_message_date)
            {
                quietest.messages.pop_front();
                inner.total -= 1;
            }
        }
    }

    /// Chats, most recently active first; only groups when `groups_only`.
    pub fn chats(&self, groups_only: bool) -> Vec<ChatEntry> {
        let mut chats: Vec<ChatEntry> = self
            .lock()
            .chats
            .values()
            .filter(|c| !groups_only || c.kind.is_group())
            .cloned()
            .collect();
        chats.sort_by_key(|c| std::cmp::Reverse(c.last_message_date));
        chats
    }

    pub fn contacts(&self) -> Vec<Contact> {
        let mut contacts: Vec<Contact> = self.lock().contacts.values().cloned().collect();
        contacts.sort_by_key(|c| std::cmp::Reverse(c.last_seen_date));
        contacts
    }

    /// Loads what an earlier run of this worker saved at `path` (nothing when there is no file).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let seen = Self::default();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
            Err(e) => return Err(e),
        };
        let saved: SavedSeen = serde_json::from_slice(&bytes)?;
        {
            let mut inner = seen.lock();
            for SavedChat { mut chat, messages } in saved.chats {
                inner.total += messages.len();
                chat.messages = messages;
                inner.chats.insert(chat.id.clone(), chat);
            }
            inner.contacts = saved
                .contacts
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
        }
        Ok(seen)
    }

    /// Writes everything to `path` (aside, then renamed: a crash never leaves half a file) if anything
    /// changed since the last save. Serialised straight into the file under the lock: no copy of the
    /// kept messages is made, so saving does not double the worker's memory.
    pub fn save_if_changed(&self, path: &Path) -> std::io::Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        let written = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            {
                let inner = self.lock();
                serde_json::to_writer(
                    &mut out,
                    &SavedSeenRef {
                        chats: inner
                            .chats
                            .values()
                            .map(|c| SavedChatRef {
                                chat: c,
                                messages: &c.messages,
                            })
                            .collect(),
                        contacts: inner.contacts.values().collect(),
                    },
                )?;
            }
            std::io::Write::flush(&mut out)?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        written
    }

    /// Saves to `path` every `every` until `stop` resolves, then once more.
    pub async fn keep(
        self: std::sync::Arc<Self>,
        path: PathBuf,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = &mut stop => true,
            };
            if let Err(e) = self.save_if_changed(&path) {
                tracing::warn!(error = %e, "could not save the seen chats");
            }
            if stopping {
                return;
            }
        }
    }

    /// The chat's kept messages, newest first; `None` for a chat never seen.
    pub fn messages(&self, chat_id: &str, limit: usize) -> Option<Vec<StoredMessage>> {
        let inner = self.lock();
        let chat = inner.chats.get(chat_id)?;
        Some(chat.messages.iter().rev().take(limit).cloned().collect())
    }
}
