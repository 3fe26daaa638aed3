//! How many sends wait for each chat, and how many went to it in the last minute. Telegram allows one
//! message a second and twenty a minute per chat (the Telegram provider's pacer applies both and makes
//! sends wait for their turn); a request that would join a long line, or wait for the minute to pass, is
//! refused at once with 429 and a `Retry-After`, instead of hanging until its turn (or until the
//! client's timeout).
//! Bulk jobs pace themselves and do not go through here.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use shared::worker_api::ChatRef;

/// Sends that may wait for one chat at a time.
pub const MAX_WAITING_PER_CHAT: usize = 3;
/// Sends to one chat in a minute (Telegram's limit, as the pacer applies it).
pub const MAX_PER_MINUTE: usize = 20;
const MINUTE: Duration = Duration::from_secs(60);

/// One chat's line: sends waiting now, and when the sends of the last minute were let in.
#[derive(Default)]
struct Line {
    waiting: usize,
    recent: VecDeque<Instant>,
}

#[derive(Default)]
pub struct Backlog {
    lines: Mutex<HashMap<String, Line>>,
}

/// A place in a chat's line; leaving (dropping it) frees the place.
pub struct Place {
    backlog: Arc<Backlog>,
    chat: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(line) = self.backlog.lock().get_mut(&self.chat) {
            line.waiting = line.waiting.saturating_sub(1);
        }
    }
}

/// The chat's line is full: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub retry_after_secs: u64,
}

impl Backlog {
    /// A place in the line of `chat`, or how long to wait when it is full.
    pub fn enter(self: &Arc<Self>, chat: &ChatRef) -> Result<Place, Full> {
        self.enter_at(chat, Instant::now())
    }

    fn enter_at(self: &Arc<Self>, chat: &ChatRef, now: Instant) -> Result<Place, Full> {
        let key = chat.to_string();
        let mut lines = self.lock();
        // Lines idle for a minute are forgotten, so the map holds only chats in use.
        lines.retain(|_, l| {
            l.recent.retain(|t| now.duration_since(*t) < MINUTE);
            l.waiting > 0 || !l.recent.is_empty()
        });
        let line = lines.entry(key.clone()).or_default();
        if line.waiting >= MAX_WAITING_PER_CHAT {
            // One second per waiting send (Telegram's per-second limit).
            return Err(Full {
                retry_after_secs: line.waiting as u64,
            });
        }
        if line.recent.len() >= MAX_PER_MINUTE {
            let oldest = line.recent.front().copied().unwrap_or(now);
            let left = MINUTE.saturating_sub(now.duration_since(oldest));
            return Err(Full {
                retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        line.waiting += 1;
        line.recent.push_back(now);
        Ok(Place {
            backlog: Arc::clone(self),
            chat: key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Line>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_line_is_refused_and_a_place_left_is_free_again() {
        let backlog = Arc::new(Backlog::default());
        let chat = ChatRef::from(7);
        let places: Vec<Place> = (0..MAX_WAITING_PER_CHAT)
            .map(|_| backlog.enter(&chat).unwrap())
            .collect();
        assert_eq!(
            backlog.enter(&chat).err(),
            Some(Full {
                retry_after_secs: MAX_WAITING_PER_CHAT as u64
            })
        );
        assert!(
            backlog.enter(&ChatRef::from(8)).is_ok(),
            "other chats are not held up"
        );
        drop(places);
        let again = backlog.enter(&chat);
        assert!(again.is_ok());
        assert_eq!(backlog.lock().values().map(|l| l.waiting).sum::<usize>(), 1);
    }

    #[test]
    fn twenty_sends_a_minute_then_wait_for_the_minute_to_pass() {
        let backlog = Arc::new(Backlog::default());
        let chat = ChatRef::from(9);
        let start = Instant::now();
        for i in 0..MAX_PER_MINUTE {
            let at = start + Duration::from_secs(i as u64);
            drop(backlog.enter_at(&chat, at).unwrap());
        }
        let at = start + Duration::from_secs(25);
        assert_eq!(
            backlog.enter_at(&chat, at).err(),
            Some(Full {
                retry_after_secs: 35
            })
        );
        // A minute after the first send, one more may go.
        assert!(backlog.enter_at(&chat, start + MINUTE).is_ok());
        // Lines idle for a minute are forgotten.
        let _ = backlog.enter_at(&ChatRef::from(10), start + MINUTE * 3);
        assert_eq!(backlog.lock().len(), 1);
    }
}
