//! What the manager last learned about each bot, so that reading one does not ask again: the worker as
//! the engine last reported it, and the day's agent figures computed from the stored messages.
//!
//! - **Workers**: the reconciler records what it sees at every look (each converge inspects, a full pass
//!   lists), and forgets an entry whenever it changes the worker or the engine reports an event about it;
//!   a read that finds nothing inspects live and keeps the answer unless the worker changed meanwhile (a
//!   generation per entry tells).
//! - **Agent figures**: computed once per bot and day, forgotten whenever new messages of the bot are
//!   stored (by whoever stores them), so they are never older than the last stored message.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use shared::api::analytics::LlmStats;

use crate::runtime::WorkerView;

#[derive(Default)]
pub struct Observed {
    /// `Some(None)`: seen absent.
    workers: Mutex<HashMap<String, Slot<Option<WorkerView>>>>,
    llm: Mutex<HashMap<String, Slot<(i64, LlmStats)>>>,
}

/// A value, and how many times the entry was forgotten (so a slow read cannot store a stale value).
struct Slot<T> {
    value: Option<T>,
    generation: u64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            value: None,
            generation: 0,
        }
    }
}

/// A ticket to store what a read found, valid while nothing newer was learned about the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn lookup<T: Clone>(map: &Mutex<HashMap<String, Slot<T>>>, id: &str) -> Result<T, Ticket> {
    let map = lock(map);
    match map.get(id) {
        Some(Slot {
            value: Some(v),
            generation: _,
        }) => Ok(v.clone()),
        Some(slot) => Err(Ticket(slot.generation)),
        None => Err(Ticket(0)),
    }
}

fn store_if<T>(map: &Mutex<HashMap<String, Slot<T>>>, id: &str, ticket: Ticket, value: T) {
    let mut map = lock(map);
    let slot = map.entry(id.to_string()).or_default();
    if slot.generation == ticket.0 {
        slot.value = Some(value);
    }
}

fn forget<T>(map: &Mutex<HashMap<String, Slot<T>>>, id: &str) {
    let mut map = lock(map);
    let slot = map.entry(id.to_string()).or_default();
    slot.value = None;
    slot.generation += 1;
}

impl Observed {
    /// The worker as last seen (`Ok(None)`: seen absent), or a ticket to record a live look.
    pub fn worker(&self, id: &str) -> Result<Option<WorkerView>, Ticket> {
        lookup(&self.workers, id)
    }

    /// What the reconciler saw just now (it alone changes workers, so its look is the latest).
    pub fn saw_worker(&self, id: &str, worker: Option<&WorkerView>) {
        let mut map = lock(&self.workers);
        let slot = map.entry(id.to_string()).or_default();
        slot.value = Some(worker.cloned());
        slot.generation += 1;
    }

    /// What a read saw, kept unless something newer was learned since its ticket.
    pub fn looked_at_worker(&self, id: &str, ticket: Ticket, worker: Option<WorkerView>) {
        store_if(&self.workers, id, ticket, worker);
    }

    /// The worker is changing (a verb, an engine event): the next read looks again.
    pub fn worker_changed(&self, id: &str) {
        forget(&self.workers, id);
    }

    /// The day's agent figures for `day` (unix day), or a ticket to record them once computed.
    pub fn llm(&self, id: &str, day: i64) -> Result<LlmStats, Ticket> {
        let map = lock(&self.llm);
        match map.get(id) {
            Some(Slot {
                value: Some((d, stats)),
                ..
            }) if *d == day => Ok(stats.clone()),
            Some(slot) => Err(Ticket(slot.generation)),
            None => Err(Ticket(0)),
        }
    }

    pub fn computed_llm(&self, id: &str, ticket: Ticket, day: i64, stats: LlmStats) {
        store_if(&self.llm, id, ticket, (day, stats));
    }

    /// New messages of the bot were stored: its figures are computed again when next read.
    pub fn messages_stored(&self, id: &str) {
        forget(&self.llm, id);
    }

    /// The bot is gone.
    pub fn forget(&self, id: &str) {
        lock(&self.workers).remove(id);
        lock(&self.llm).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: &str) -> WorkerView {
        WorkerView {
            id: "c1".into(),
            instance_id: Some("i".into()),
            name: "w".into(),
            state: state.into(),
            running: state == "running",
            started_at: None,
            exit_code: None,
            restart_count: 0,
            endpoint: None,
            host_id: None,
        }
    }

    #[test]
    fn a_read_keeps_what_it_saw_unless_the_worker_changed_meanwhile() {
        let o = Observed::default();
        let ticket = o.worker("i").unwrap_err();
        o.looked_at_worker("i", ticket, Some(view("running")));
        assert_eq!(o.worker("i").unwrap().unwrap().state, "running");

        // A read starts, the reconciler stops the worker, the read finishes with what it saw before.
        o.worker_changed("i");
        let ticket = o.worker("i").unwrap_err();
        o.worker_changed("i");
        o.looked_at_worker("i", ticket, Some(view("running")));
        assert!(o.worker("i").is_err(), "the stale look is not kept");

        // The reconciler's own look always counts, an absent worker included.
        o.saw_worker("i", None);
        assert!(o.worker("i").unwrap().is_none());
        let late = Ticket(0);
        o.looked_at_worker("i", late, Some(view("running")));
        assert!(o.worker("i").unwrap().is_none());
    }

    #[test]
    fn agent_figures_are_computed_again_after_new_messages_and_on_a_new_day() {
        let o = Observed::default();
        let stats = |n| LlmStats {
            success_count: n,
            ..LlmStats::default()
        };
        let ticket = o.llm("i", 10).unwrap_err();
        o.computed_llm("i", ticket, 10, stats(1));
        assert_eq!(o.llm("i", 10).unwrap().success_count, 1);
        assert!(o.llm("i", 11).is_err(), "a new day computes again");

        let ticket = o.llm("i", 10).unwrap();
        assert_eq!(ticket.success_count, 1);
        let ticket = {
            o.messages_stored("i");
            o.llm("i", 10).unwrap_err()
        };
        // Messages stored while computing: the computed figures may miss them, so they are not kept.
        o.messages_stored("i");
        o.computed_llm("i", ticket, 10, stats(1));
        assert!(o.llm("i", 10).is_err());

        o.forget("i");
        assert!(o.llm("i", 10).is_err());
    }
}
