//! How many sends wait for each chat. Telegram allows one message a second per chat (twenty a minute per
//! group), and the throttle makes sends wait for their turn; a request that would join a long line is
//! refused at once with 429 and a `Retry-After`, instead of hanging until its turn (or until the
//! client's timeout). Bulk jobs pace themselves and do not go through here.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use shared::worker_api::ChatRef;

/// Sends that may wait for one chat at a time.
pub const MAX_WAITING_PER_CHAT: usize = 3;

#[derive(Default)]
pub struct Backlog {
    waiting: Mutex<HashMap<String, usize>>,
}

/// A place in a chat's line; leaving (dropping it) frees the place.
pub struct Place {
    backlog: Arc<Backlog>,
    chat: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut waiting = self.backlog.lock();
        if let Some(n) = waiting.get_mut(&self.chat) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.chat);
            }
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
        let key = chat.to_string();
        let mut waiting = self.lock();
        let n = waiting.entry(key.clone()).or_default();
        if *n >= MAX_WAITING_PER_CHAT {
            // One second per waiting send to a person; three to a group (twenty a minute).
            let per_send = if chat.is_group() { 3 } else { 1 };
            return Err(Full {
                retry_after_secs: (*n as u64) * per_send,
            });
        }
        *n += 1;
        Ok(Place {
            backlog: Arc::clone(self),
            chat: key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_line_is_refused_and_a_place_left_is_free_again() {
        let backlog = Arc::new(Backlog::default());
        let chat = ChatRef::Id(7);
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
            backlog.enter(&ChatRef::Id(8)).is_ok(),
            "other chats are not held up"
        );
        drop(places);
        let again = backlog.enter(&chat);
        assert!(again.is_ok());
        assert_eq!(backlog.lock().values().sum::<usize>(), 1);
        drop(again);
        assert!(backlog.lock().is_empty(), "an empty line is forgotten");
    }
}
