//! The worker's outbox of events for the manager. Events stay until the manager acknowledges them, so a
//! manager that is away for a while loses nothing (up to the buffer's bound); each carries a unique id,
//! so the manager stores it once however often it is fetched.

use std::{
    collections::VecDeque,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use shared::{
    webhook::WebhookSetting,
    worker_api::{EventBatch, Exchange, WorkerEvent, WorkerEventKind},
};

use crate::{provider::Message, state::now_ms};

/// Events kept while the manager does not collect them.
pub const MAX_BUFFERED: usize = 10_000;

#[derive(Default)]
pub struct EventLog {
    next_seq: AtomicU64,
    dropped: AtomicU64,
    buffer: Mutex<VecDeque<WorkerEvent>>,
    /// Woken by every new event, for long-polling collectors.
    arrived: tokio::sync::Notify,
    /// Where unacknowledged events are also written (one JSON line each), so a worker that dies before
    /// the manager collected them finds them again; `None` keeps them in memory only.
    file: Option<PathBuf>,
}

impl EventLog {
    /// An outbox kept in `file` as well as in memory; events an earlier run left there come first
    /// (with new sequence numbers; their ids are unchanged, so the manager stores them once).
    pub fn open(file: PathBuf) -> std::io::Result<Self> {
        let mut log = Self {
            file: Some(file.clone()),
            ..Self::default()
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let buffer = log.buffer.get_mut().unwrap_or_else(|e| e.into_inner());
        // A line cut short by a crash is skipped: its event had not been written whole.
        for mut event in text
            .lines()
            .filter_map(|l| serde_json::from_str::<WorkerEvent>(l).ok())
        {
            event.seq = log.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
            buffer.push_back(event);
        }
        if !buffer.is_empty() {
            tracing::info!(events = buffer.len(), "events kept from an earlier run");
        }
        rewrite(&file, buffer)?;
        Ok(log)
    }

    /// Records a message that reached the bot (`message.in`) or that it sent (`message.out`, with the
    /// exchange when it is the agent bridge's reply).
    pub fn message(&self, message: &Message, kind: WorkerEventKind, exchange: Option<Exchange>) {
        let event = WorkerEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind,
            chat_id: Some(message.chat.id.to_string()),
            chat_name: message
                .chat
                .name
                .clone()
                .or_else(|| message.chat.username.clone()),
            chat_type: Some(message.chat.kind),
            from_id: message.from.as_ref().map(|u| u.id.clone()),
            from_name: message.from.as_ref().map(|u| u.name.clone()),
            message_id: Some(message.id.clone()),
            text: message.text.clone(),
            at: now_ms(),
            webhook: None,
            exchange,
        };
        self.push(event);
    }

    /// Records a change of the bot's connection (`bot.status`) or a failure (`bot.error`), in `chat` when
    /// it concerns one.
    pub fn notice(&self, kind: WorkerEventKind, chat: Option<String>, text: String) {
        self.notice_exchange(kind, chat, text, None);
    }

    /// Records a notice with the exchange it is about (a reply the agent bridge could not send).
    pub fn notice_exchange(
        &self,
        kind: WorkerEventKind,
        chat: Option<String>,
        text: String,
        exchange: Option<Exchange>,
    ) {
        let event = WorkerEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind,
            chat_id: chat,
            chat_name: None,
            chat_type: None,
            from_id: None,
            from_name: None,
            message_id: None,
            text: Some(text),
            at: now_ms(),
            webhook: None,
            exchange,
        };
        self.push(event);
    }

    /// Records a webhook configuration set on this worker, for the manager (which keeps and uses it).
    pub fn webhook_config(&self, setting: WebhookSetting) {
        let event = WorkerEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind: WorkerEventKind::WebhookConfig,
            chat_id: None,
            chat_name: None,
            chat_type: None,
            from_id: None,
            from_name: None,
            message_id: None,
            text: None,
            at: setting.updated_at,
            webhook: Some(setting),
            exchange: None,
        };
        self.push(event);
    }

    fn push(&self, event: WorkerEvent) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &self.file
            && let Err(e) = append(file, &event)
        {
            tracing::warn!(error = %e, "could not keep an event on disk; it lives in memory only");
        }
        if buffer.len() == MAX_BUFFERED {
            buffer.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        buffer.push_back(event);
        drop(buffer);
        self.arrived.notify_waiters();
    }

    /// Up to `limit` events after `after`, oldest first.
    pub fn after(&self, after: u64, limit: usize) -> EventBatch {
        let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        EventBatch {
            events: buffer
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect(),
            dropped: self.dropped.load(Ordering::Relaxed),
            report: None,
        }
    }

    /// Like [`after`](Self::after), but when there is nothing yet waits until an event arrives, `wait`
    /// passes or `stop` resolves (a long poll: the manager sees events as they happen).
    pub async fn after_waiting(
        &self,
        after: u64,
        limit: usize,
        wait: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> EventBatch {
        let deadline = tokio::time::Instant::now() + wait;
        let mut stop = std::pin::pin!(stop);
        loop {
            // Registered before looking, so an event pushed in between still wakes us.
            let arrived = self.arrived.notified();
            let batch = self.after(after, limit);
            if !batch.events.is_empty() || tokio::time::Instant::now() >= deadline {
                return batch;
            }
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = &mut stop => return batch,
            }
        }
    }

    /// Forgets events up to and including `up_to`; returns how many went.
    pub fn ack(&self, up_to: u64) -> u64 {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let before = buffer.len();
        buffer.retain(|e| e.seq > up_to);
        let forgotten = before - buffer.len();
        if forgotten > 0
            && let Some(file) = &self.file
            && let Err(e) = rewrite(file, &buffer)
        {
            tracing::warn!(error = %e, "could not drop acknowledged events from disk");
        }
        forgotten as u64
    }
}

fn append(file: &Path, event: &WorkerEvent) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(&line)
}

/// Replaces the file with `events` (written aside and renamed: a crash leaves the old or the new file).
fn rewrite(file: &Path, events: &VecDeque<WorkerEvent>) -> std::io::Result<()> {
    let mut text = Vec::new();
    for e in events {
        text.extend(serde_json::to_vec(e)?);
        text.push(b'\n');
    }
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, file)
}
