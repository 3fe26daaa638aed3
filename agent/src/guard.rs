//! The inbound guard: what stands between a chat and the LLM bill. A per-chat rate limit on agent calls
//! (GCRA, `governor`; beyond it a question is dropped — answered with the fallback message — or waits,
//! as LangBot offers) and a cap on the tokens the bot may spend per UTC day (from the agents' `usage`).
//! Both outcomes are reported in the question's exchange (`dropped_rate`, `dropped_cap`), so analytics
//! count them.

use std::{
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use shared::agent::{ChatRateLimit, RateStrategy};

/// The longest a question waits for its chat's rate (`wait`); beyond, it is dropped.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Why a question gets no agent call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Rate,
    Cap,
}

#[derive(Default)]
pub struct Guard {
    /// The limiter of the configured rate (replaced when the rate changes).
    limiter: Mutex<
        Option<(
            ChatRateLimit,
            std::sync::Arc<DefaultKeyedRateLimiter<String>>,
        )>,
    >,
    /// `(UTC day number, tokens spent that day)`, packed: the day in the high 24 bits.
    spent: AtomicU64,
}

const DAY_SHIFT: u32 = 40;

fn utc_day() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

impl Guard {
    fn limiter(&self, limit: ChatRateLimit) -> std::sync::Arc<DefaultKeyedRateLimiter<String>> {
        let mut current = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((configured, limiter)) = current.as_ref()
            && configured.per_minute == limit.per_minute
        {
            return limiter.clone();
        }
        let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = std::sync::Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute)));
        *current = Some((limit, limiter.clone()));
        limiter
    }

    /// Lets a question of `chat` through to the agent, waiting for its rate when the strategy says so;
    /// `Err` when the rate or the day's spending cap stops it.
    pub async fn admit(
        &self,
        chat: &str,
        rate: Option<ChatRateLimit>,
        cap: Option<u64>,
    ) -> Result<(), Stopped> {
        if let Some(cap) = cap
            && self.spent_today() >= cap
        {
            return Err(Stopped::Cap);
        }
        let Some(rate) = rate else {
            return Ok(());
        };
        let limiter = self.limiter(rate);
        let key = chat.to_string();
        match limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                if rate.strategy == RateStrategy::Wait && wait <= MAX_WAIT {
                    tokio::time::sleep(wait).await;
                    // Others may have taken the slot meanwhile: wait for the next, within the bound.
                    match tokio::time::timeout(MAX_WAIT, limiter.until_key_ready(&key)).await {
                        Ok(()) => Ok(()),
                        Err(_) => Err(Stopped::Rate),
                    }
                } else {
                    Err(Stopped::Rate)
                }
            }
        }
    }

    /// Counts tokens an agent call spent.
    pub fn spend(&self, tokens: u64) {
        let today = utc_day();
        let _ = self
            .spent
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |packed| {
                let (day, spent) = (packed >> DAY_SHIFT, packed & ((1 << DAY_SHIFT) - 1));
                let spent = if day == today { spent } else { 0 };
                let spent = (spent + tokens).min((1 << DAY_SHIFT) - 1);
                Some((today << DAY_SHIFT) | spent)
            });
    }

    /// Tokens spent today (UTC).
    pub fn spent_today(&self) -> u64 {
        let packed = self.spent.load(Ordering::SeqCst);
        if packed >> DAY_SHIFT == utc_day() {
            packed & ((1 << DAY_SHIFT) - 1)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_chat_beyond_its_rate_is_dropped_and_others_are_not() {
        let g = Guard::default();
        let rate = Some(ChatRateLimit {
            per_minute: 2,
            strategy: RateStrategy::Drop,
        });
        // GCRA: the burst is one minute's quota.
        assert_eq!(g.admit("a", rate, None).await, Ok(()));
        assert_eq!(g.admit("a", rate, None).await, Ok(()));
        assert_eq!(g.admit("a", rate, None).await, Err(Stopped::Rate));
        assert_eq!(g.admit("b", rate, None).await, Ok(()));
        assert_eq!(
            g.admit("a", None, None).await,
            Ok(()),
            "no limit configured"
        );
    }

    #[tokio::test]
    async fn waiting_lets_a_question_through_once_the_rate_allows() {
        let g = Guard::default();
        let rate = Some(ChatRateLimit {
            per_minute: 600,
            strategy: RateStrategy::Wait,
        });
        for _ in 0..600 {
            g.admit("a", rate, None).await.unwrap();
        }
        let started = std::time::Instant::now();
        assert_eq!(g.admit("a", rate, None).await, Ok(()));
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn the_cap_stops_calls_once_the_days_tokens_are_spent() {
        let g = Guard::default();
        assert_eq!(g.admit("a", None, Some(100)).await, Ok(()));
        g.spend(60);
        g.spend(40);
        assert_eq!(g.spent_today(), 100);
        assert_eq!(g.admit("a", None, Some(100)).await, Err(Stopped::Cap));
        assert_eq!(g.admit("a", None, Some(101)).await, Ok(()));
    }
}
