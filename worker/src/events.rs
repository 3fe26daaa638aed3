//! The worker's outbox of events for the manager. Events stay until the manager acknowledges them, so a
//! manager that is away for a while loses nothing (up to the buffer's bound); each carries a unique id,
//! so the manager stores it once however often it is fetched.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use shared::{
    webhook::WebhookSetting,
    worker_api::{EventBatch, WorkerEvent},
};
use teloxide::types::Message;

use crate::state::now_ms;

/// Events kept while the manager does not collect them.
pub const MAX_BUFFERED: usize = 10_000;

#[derive(Default)]
pub struct EventLog {
    next_seq: AtomicU64,
    dropped: AtomicU64,
    buffer: Mutex<VecDeque<WorkerEvent>>,
}

impl EventLog {
    /// Records a message that reached the bot (`message.in`) or that it sent (`message.out`).
    pub fn message(&self, message: &Message, kind: &str) {
        let chat = &message.chat;
        let chat_type = crate::seen::chat_kind(chat);
        let event = WorkerEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind: kind.to_string(),
            chat_id: chat.id.0,
            chat_name: chat
                .title()
                .or_else(|| chat.first_name())
                .or_else(|| chat.username())
                .map(str::to_string),
            chat_type: Some(chat_type.to_string()),
            from_id: message.from.as_ref().map(|u| u.id.0),
            from_name: message.from.as_ref().map(|u| u.first_name.clone()),
            message_id: Some(message.id.0),
            text: message
                .text()
                .or_else(|| message.caption())
                .map(str::to_string),
            at: now_ms(),
            webhook: None,
        };
        self.push(event);
    }

    /// Records a webhook configuration set on this worker, for the manager (which keeps and uses it).
    pub fn webhook_config(&self, setting: WebhookSetting) {
        let event = WorkerEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind: "webhook.config".to_string(),
            chat_id: 0,
            chat_name: None,
            chat_type: None,
            from_id: None,
            from_name: None,
            message_id: None,
            text: None,
            at: setting.updated_at,
            webhook: Some(setting),
        };
        self.push(event);
    }

    fn push(&self, event: WorkerEvent) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buffer.len() == MAX_BUFFERED {
            buffer.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        buffer.push_back(event);
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
        }
    }

    /// Forgets events up to and including `up_to`; returns how many went.
    pub fn ack(&self, up_to: u64) -> usize {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let before = buffer.len();
        buffer.retain(|e| e.seq > up_to);
        before - buffer.len()
    }
}
