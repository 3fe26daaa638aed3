//! Recent turns per chat, so the agent sees the conversation and two chats never share context. A chat
//! silent for longer than the conversation's lifetime starts afresh: the agent's context follows the
//! same window as the manager's conversations.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

#[derive(Debug, Default)]
struct Chat {
    turns: VecDeque<Turn>,
    last_at: Option<Instant>,
}

/// The last turns of each chat, within the conversation's lifetime.
#[derive(Default)]
pub struct ChatContext {
    chats: Mutex<HashMap<String, Chat>>,
}

impl ChatContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// The chat's last `keep` turns, oldest first; none when the chat was silent for `ttl` or longer.
    pub fn history(&self, chat: &str, keep: usize, ttl: Duration) -> Vec<Turn> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = chats.get_mut(chat) else {
            return Vec::new();
        };
        if c.last_at.is_some_and(|at| at.elapsed() >= ttl) {
            chats.remove(chat);
            return Vec::new();
        }
        let skip = c.turns.len().saturating_sub(keep);
        c.turns.iter().skip(skip).cloned().collect()
    }

    /// Adds a turn, keeping at most `keep` (none when `keep` is 0).
    pub fn push(&self, chat: &str, role: Role, text: &str, keep: usize) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if keep == 0 {
            chats.remove(chat);
            return;
        }
        let c = chats.entry(chat.to_string()).or_default();
        c.turns.push_back(Turn {
            role,
            text: text.to_string(),
        });
        c.last_at = Some(Instant::now());
        while c.turns.len() > keep {
            c.turns.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn chats_keep_their_own_last_turns() {
        let c = ChatContext::new();
        c.push("1", Role::User, "a", 2);
        c.push("1", Role::Assistant, "b", 2);
        c.push("1", Role::User, "c", 2);
        c.push("2", Role::User, "other", 2);
        let one: Vec<String> = c.history("1", 2, DAY).into_iter().map(|t| t.text).collect();
        assert_eq!(one, ["b", "c"]);
        let last: Vec<String> = c.history("1", 1, DAY).into_iter().map(|t| t.text).collect();
        assert_eq!(last, ["c"], "a smaller window applies at once");
        assert_eq!(c.history("2", 2, DAY).len(), 1);
        assert!(c.history("3", 2, DAY).is_empty());
    }

    #[test]
    fn a_silent_chat_starts_a_new_conversation() {
        let c = ChatContext::new();
        c.push("1", Role::User, "a", 10);
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.history("1", 10, Duration::from_millis(10)).is_empty());
        assert!(c.history("1", 10, DAY).is_empty(), "forgotten, not hidden");
    }
}
