//! What the worker knows about its bot right now, shared by the bot task and the API handlers.

use std::sync::{
    RwLock,
    atomic::{AtomicI64, AtomicU64, Ordering},
};

use shared::worker_api::{BotInfo, BotState, ConnectionStatus, MessageCounts};

/// The bot's connection state plus message counters.
#[derive(Debug)]
pub struct BotStatus {
    snapshot: RwLock<Snapshot>,
    sent: AtomicU64,
    received: AtomicU64,
    /// Unix ms of the last answered `getUpdates`; 0 before the first.
    last_poll_at: AtomicI64,
    /// Calls made with the user's API key (not the manager's control key), and the last one's time.
    key_uses: AtomicU64,
    key_last_used_at: AtomicI64,
    send_latency_ms: AtomicU64,
}

/// A consistent view of the connection state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub connection: ConnectionStatus,
    pub state: BotState,
    pub info: Option<BotInfo>,
    pub last_error: Option<String>,
}

impl Default for BotStatus {
    fn default() -> Self {
        Self {
            snapshot: RwLock::new(Snapshot {
                connection: ConnectionStatus::Connecting,
                state: BotState::Starting,
                info: None,
                last_error: None,
            }),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            last_poll_at: AtomicI64::new(0),
            key_uses: AtomicU64::new(0),
            key_last_used_at: AtomicI64::new(0),
            send_latency_ms: AtomicU64::new(0),
        }
    }
}

impl BotStatus {
    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
    }

    /// Healthy means the provider accepted our token and the worker is not stopping.
    pub fn is_healthy(&self) -> bool {
        self.read().state == BotState::Ready
    }

    pub fn counts(&self) -> MessageCounts {
        MessageCounts {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }

    /// A message went out; `took` is how long Telegram took to accept it.
    pub fn count_sent(&self, took: std::time::Duration) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.send_latency_ms
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn send_latency_ms_total(&self) -> u64 {
        self.send_latency_ms.load(Ordering::Relaxed)
    }

    pub fn count_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn mark_polled(&self) {
        self.last_poll_at.store(now_ms(), Ordering::Relaxed);
    }

    /// Unix ms of the last answered long poll, if any.
    pub fn last_poll_at(&self) -> Option<i64> {
        Some(self.last_poll_at.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    /// A failed long poll: the bot stays ready (sending may still work) but the error is reported.
    pub fn record_poll_error(&self, error: String) {
        self.write().last_error = Some(error);
    }

    pub fn record_key_use(&self) {
        self.key_uses.fetch_add(1, Ordering::Relaxed);
        self.key_last_used_at.store(now_ms(), Ordering::Relaxed);
    }

    /// (uses, last use in unix ms) of the user's API key.
    pub fn key_usage(&self) -> (u64, Option<i64>) {
        let last = self.key_last_used_at.load(Ordering::Relaxed);
        (
            self.key_uses.load(Ordering::Relaxed),
            Some(last).filter(|t| *t > 0),
        )
    }

    pub fn set_ready(&self, info: BotInfo) {
        let mut s = self.write();
        s.connection = ConnectionStatus::Connected;
        s.state = BotState::Ready;
        s.info = Some(info);
        s.last_error = None;
    }

    /// Records a failed attempt to reach the provider; the worker keeps trying.
    pub fn set_retrying(&self, error: String) {
        let mut s = self.write();
        s.connection = ConnectionStatus::Connecting;
        s.state = BotState::Starting;
        s.last_error = Some(error);
    }

    /// The provider refused the token: final until the instance gets a new one.
    pub fn set_unauthorized(&self, error: String) {
        let mut s = self.write();
        s.connection = ConnectionStatus::Unauthorized;
        s.state = BotState::AuthFailed;
        s.last_error = Some(error);
    }

    pub fn set_stopping(&self) {
        let mut s = self.write();
        s.connection = ConnectionStatus::Disconnected;
        s.state = BotState::Stopping;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        // A poisoned lock only means a panic elsewhere; the snapshot itself is always whole.
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.snapshot.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
