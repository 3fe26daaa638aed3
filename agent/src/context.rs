//! Recent turns per chat, so the agent sees the conversation and two chats never share context.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
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

/// The last `keep` turns of each chat.
pub struct ChatContext {
    keep: usize,
    chats: Mutex<HashMap<String, VecDeque<Turn>>>,
}

impl ChatContext {
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            chats: Mutex::new(HashMap::new()),
        }
    }

    /// The chat's kept turns, oldest first.
    pub fn history(&self, chat: &str) -> Vec<Turn> {
        let chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats
            .get(chat)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn push(&self, chat: &str, role: Role, text: &str) {
        if self.keep == 0 {
            return;
        }
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        let turns = chats.entry(chat.to_string()).or_default();
        turns.push_back(Turn {
            role,
            text: text.to_string(),
        });
        while turns.len() > self.keep {
            turns.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_keep_their_own_last_turns() {
        let c = ChatContext::new(2);
        c.push("1", Role::User, "a");
        c.push("1", Role::Assistant, "b");
        c.push("1", Role::User, "c");
        c.push("2", Role::User, "other");
        let one: Vec<String> = c.history("1").into_iter().map(|t| t.text).collect();
        assert_eq!(one, ["b", "c"]);
        assert_eq!(c.history("2").len(), 1);
        assert!(c.history("3").is_empty());
    }
}
