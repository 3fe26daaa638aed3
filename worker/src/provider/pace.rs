//! Sending at a platform's pace, counted from delivery: a limit of N messages per window is N places,
//! and a message holds its place from the moment it may start until one window after its request came
//! back. Wherever the platform counts a message between those two moments, no window of its own can hold
//! more than N: of the messages it counts in one window, the last to start found every other one still
//! holding its place (each came back less than a window before that start), and there are only N.
//!
//! This is what lets a bot send at the limit itself, with as many requests in flight as the places
//! allow, whatever the requests' latency: pacing when requests start (as teloxide's `Throttle` does)
//! lets a slow request and the fast ones after it reach the platform within one window, so it needs a
//! margin under the limit; this needs none. What it costs is the latency itself, once per window: at
//! 30 places a second and 20 ms a request, 30 / 1.02 s ≈ 29.4 messages a second.
//!
//! Every chat has its own places (per second and per minute) besides the overall ones; a send takes its
//! chat's places first, so one waiting for a busy chat holds up no other chat. Places are handed out in
//! the order sends asked (tokio's semaphores are fair). When the platform still answers "too many
//! requests", [`Pacer::freeze`] holds every new send until the time it named.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// A limit: at most `messages` within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub messages: usize,
    pub window: Duration,
}

impl Window {
    pub const fn per_second(messages: usize) -> Self {
        Self {
            messages,
            window: Duration::from_secs(1),
        }
    }

    pub const fn per_minute(messages: usize) -> Self {
        Self {
            messages,
            window: Duration::from_secs(60),
        }
    }
}

/// The limits a [`Pacer`] keeps: overall, and for each chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub overall: Vec<Window>,
    pub per_chat: Vec<Window>,
}

/// One chat's places (one semaphore per limit of [`Limits::per_chat`]).
struct ChatPlaces {
    places: Vec<Arc<Semaphore>>,
}

/// Hands out places under [`Limits`]; see the module's documentation.
pub struct Pacer {
    limits: Limits,
    overall: Vec<Arc<Semaphore>>,
    /// The chats that have a send waiting, in flight, or within a window of its end; a chat whose last
    /// place comes back is forgotten.
    chats: Mutex<HashMap<String, Arc<ChatPlaces>>>,
    /// No send starts before this (the platform said "too many requests" and when to come back).
    frozen_until: Mutex<Option<Instant>>,
}

/// A send's places. Dropping it (when the request came back, or was given up) starts each place's
/// window; the place comes back when it is over.
#[must_use = "a ticket's places are held until it is dropped"]
pub struct Ticket {
    pacer: Arc<Pacer>,
    chat: String,
    places: Arc<ChatPlaces>,
    /// Each held place with its window, overall ones first.
    held: Vec<(OwnedSemaphorePermit, Duration)>,
}

impl Pacer {
    pub fn new(limits: Limits) -> Arc<Self> {
        let overall = limits
            .overall
            .iter()
            .map(|w| Arc::new(Semaphore::new(w.messages.max(1))))
            .collect();
        Arc::new(Self {
            limits,
            overall,
            chats: Mutex::default(),
            frozen_until: Mutex::default(),
        })
    }

    /// Waits for a place in every limit for a message to `chat`; send it while holding the ticket.
    pub async fn admit(self: &Arc<Self>, chat: &str) -> Ticket {
        let places = self
            .lock_chats()
            .entry(chat.to_string())
            .or_insert_with(|| {
                Arc::new(ChatPlaces {
                    places: self
                        .limits
                        .per_chat
                        .iter()
                        .map(|w| Arc::new(Semaphore::new(w.messages.max(1))))
                        .collect(),
                })
            })
            .clone();
        let mut held = Vec::with_capacity(self.overall.len() + places.places.len());
        // The chat's own places first: a send waiting for its chat holds no overall place meanwhile.
        for (semaphore, limit) in places.places.iter().zip(&self.limits.per_chat) {
            held.push((acquire(semaphore).await, limit.window));
        }
        for (semaphore, limit) in self.overall.iter().zip(&self.limits.overall) {
            held.push((acquire(semaphore).await, limit.window));
        }
        // Nothing may start while the platform asked to wait (the places held wait with it).
        loop {
            let until = *self.frozen_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        Ticket {
            pacer: Arc::clone(self),
            chat: chat.to_string(),
            places,
            held,
        }
    }

    /// The platform answered "too many requests, retry after `wait`": no send starts before then.
    pub fn freeze(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut frozen = self.frozen_until.lock().unwrap_or_else(|e| e.into_inner());
        if frozen.is_none_or(|t| t < until) {
            *frozen = Some(until);
        }
    }

    /// How many chats the pacer remembers (those with places out).
    pub fn chats_held(&self) -> usize {
        self.lock_chats().len()
    }

    fn lock_chats(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ChatPlaces>>> {
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets `chat` when no one but the caller holds its places (all have come back).
    fn forget_if_idle(&self, chat: &str, places: Arc<ChatPlaces>) {
        let mut chats = self.lock_chats();
        // The map's reference and the caller's: no ticket and no waiting send has the chat.
        if Arc::strong_count(&places) == 2
            && chats.get(chat).is_some_and(|p| Arc::ptr_eq(p, &places))
        {
            chats.remove(chat);
        }
    }
}

async fn acquire(semaphore: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    Arc::clone(semaphore)
        .acquire_owned()
        .await
        .expect("the pacer never closes its semaphores")
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // The message reached the platform, if it did, by now: each window starts here.
        let done = Instant::now();
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|(_, window)| *window);
        let pacer = Arc::clone(&self.pacer);
        let chat = std::mem::take(&mut self.chat);
        let places = Arc::clone(&self.places);
        let release = async move {
            for (permit, window) in held {
                tokio::time::sleep_until(done + window).await;
                drop(permit);
            }
            pacer.forget_if_idle(&chat, places);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(release);
            }
            // No runtime (the process is ending): nothing more will be sent.
            Err(_) => drop(release),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telegram() -> Limits {
        Limits {
            overall: vec![Window::per_second(30)],
            per_chat: vec![Window::per_second(1), Window::per_minute(20)],
        }
    }

    /// A pseudo-random number in 0..n (a fixed sequence, so the tests are repeatable).
    fn pseudo_random(seed: &mut u64, n: u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 33) % n
    }

    /// The most moments of `times` within any `window`.
    fn peak(times: &[Instant], window: Duration) -> usize {
        let mut times = times.to_vec();
        times.sort_unstable();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Sends `chats[i]` all at once through `pacer`; each request takes `before` (0..max) to reach the
    /// platform and `after` (0..max) to come back. Returns when the platform counted each message, by
    /// chat, and when the last request came back.
    async fn send_all(
        pacer: &Arc<Pacer>,
        chats: &[String],
        max_latency_ms: u64,
    ) -> (Vec<(String, Instant)>, Instant) {
        let mut seed = 7;
        let sends = chats.iter().map(|chat| {
            let before = Duration::from_millis(pseudo_random(&mut seed, max_latency_ms + 1));
            let after = Duration::from_millis(pseudo_random(&mut seed, max_latency_ms + 1));
            let pacer = Arc::clone(pacer);
            let chat = chat.clone();
            tokio::spawn(async move {
                let ticket = pacer.admit(&chat).await;
                tokio::time::sleep(before).await;
                let counted = Instant::now();
                tokio::time::sleep(after).await;
                drop(ticket);
                (chat, counted)
            })
        });
        let counted: Vec<(String, Instant)> = futures::future::join_all(sends.collect::<Vec<_>>())
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        (counted, Instant::now())
    }

    /// 300 chats at once with requests of 0–100 ms each way: never more than 30 messages in any second
    /// where the platform counts them (anywhere between a request's start and its answer), and all of
    /// them within what 30 a second (plus the latency, once a second) allows.
    #[tokio::test(start_paused = true)]
    async fn many_chats_go_at_the_limit_and_never_over_it_wherever_they_are_counted() {
        let pacer = Pacer::new(telegram());
        let chats: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        let start = Instant::now();
        let (counted, end) = send_all(&pacer, &chats, 100).await;
        let times: Vec<Instant> = counted.iter().map(|(_, t)| *t).collect();
        assert!(peak(&times, Duration::from_secs(1)) <= 30);
        // 10 rounds of 30, each at most a second and 200 ms of latency after the one before.
        let took = end - start;
        assert!(took <= Duration::from_millis(10 * 1200), "{took:?}");
        assert!(took >= Duration::from_secs(9), "{took:?}");
        // Once every window is over, the chats are forgotten.
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(pacer.chats_held(), 0);
    }

    /// With a few milliseconds a request (a platform nearby), the pace is 95 % of the limit or better.
    #[tokio::test(start_paused = true)]
    async fn with_fast_requests_the_pace_is_within_5_percent_of_the_limit() {
        let pacer = Pacer::new(telegram());
        let chats: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        let start = Instant::now();
        let (counted, _) = send_all(&pacer, &chats, 5).await;
        let last = counted.iter().map(|(_, t)| *t).max().unwrap();
        // 600 messages: the 571st to 600th go in the 20th second.
        let rate = 570.0 / (last - start).as_secs_f64();
        assert!(rate >= 28.5, "{rate:.1} msg/s");
    }

    /// One chat: one message a second where the platform counts them, and 20 a minute.
    #[tokio::test(start_paused = true)]
    async fn one_chat_gets_one_a_second_and_twenty_a_minute() {
        let pacer = Pacer::new(telegram());
        let chats: Vec<String> = std::iter::repeat_n("-100".to_string(), 25)
            .chain((0..5).map(|i| i.to_string()))
            .collect();
        let start = Instant::now();
        let (counted, _) = send_all(&pacer, &chats, 100).await;
        let group: Vec<Instant> = counted
            .iter()
            .filter(|(c, _)| c == "-100")
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(peak(&group, Duration::from_secs(1)), 1);
        assert!(peak(&group, Duration::from_secs(60)) <= 20);
        // The 21st waits for the first one's minute.
        let mut sorted = group.clone();
        sorted.sort_unstable();
        assert!(sorted[20] - sorted[0] >= Duration::from_secs(60));
        // The other chats were not held up behind the busy one.
        let others = counted.iter().filter(|(c, _)| c != "-100");
        assert!(
            others
                .into_iter()
                .all(|(_, t)| *t - start < Duration::from_secs(1))
        );
    }

    /// "Too many requests" holds every send until the time the platform named.
    #[tokio::test(start_paused = true)]
    async fn a_freeze_holds_every_send() {
        let pacer = Pacer::new(telegram());
        let start = Instant::now();
        drop(pacer.admit("1").await);
        pacer.freeze(Duration::from_secs(3));
        drop(pacer.admit("2").await);
        assert!(Instant::now() - start >= Duration::from_secs(3));
        // A shorter freeze does not shorten a longer one.
        pacer.freeze(Duration::from_secs(5));
        pacer.freeze(Duration::from_secs(1));
        let before = Instant::now();
        drop(pacer.admit("3").await);
        assert!(Instant::now() - before >= Duration::from_secs(5));
    }
}
