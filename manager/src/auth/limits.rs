//! Request-rate limits (GCRA, the `governor` crate): per key and per user on every authenticated
//! request; per username and per address on logins; per user on the agent test (seed 003: 10 a minute).

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use shared::api::users::RateLimitView;

/// Requests a second and the burst allowed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least one");
        Quota::per_second(nz(self.per_second)).allow_burst(nz(self.burst))
    }

    pub fn view(self) -> RateLimitView {
        RateLimitView {
            per_second: self.per_second,
            burst: self.burst,
        }
    }
}

/// The configured rates.
#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    pub per_key: Rate,
    pub per_user: Rate,
    /// Login attempts a minute, per username and (four times as many) per address.
    pub logins_per_minute: u32,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

pub struct Limits {
    pub settings: RateSettings,
    per_key: DefaultKeyedRateLimiter<String>,
    per_user: DefaultKeyedRateLimiter<String>,
    login_user: DefaultKeyedRateLimiter<String>,
    login_addr: DefaultKeyedRateLimiter<IpAddr>,
    agent_test: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("at least one");
    Quota::with_period(Duration::from_secs(60) / n.get())
        .expect("a non-zero period")
        .allow_burst(n)
}

impl Limits {
    pub fn new(settings: RateSettings) -> Self {
        Self {
            settings,
            per_key: RateLimiter::keyed(settings.per_key.quota()),
            per_user: RateLimiter::keyed(settings.per_user.quota()),
            login_user: RateLimiter::keyed(per_minute(settings.logins_per_minute)),
            login_addr: RateLimiter::keyed(per_minute(
                settings.logins_per_minute.saturating_mul(4),
            )),
            agent_test: RateLimiter::keyed(per_minute(10)),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), RetryAfter> {
        limiter
            .check_key(key)
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }

    /// One request of a key (or session) and of its user (`None`: the bootstrap key, counted as its own
    /// user).
    pub fn request(&self, rate_key: &str, user: Option<&str>) -> Result<(), RetryAfter> {
        self.check(&self.per_key, &rate_key.to_string())?;
        self.check(&self.per_user, &user.unwrap_or("bootstrap").to_string())
    }

    /// One login attempt for `username` from `addr`.
    pub fn login(&self, username: &str, addr: Option<IpAddr>) -> Result<(), RetryAfter> {
        if let Some(addr) = addr {
            self.check(&self.login_addr, &addr)?;
        }
        self.check(&self.login_user, &username.to_lowercase())
    }

    /// One agent test by `who` (a user id, or the key the bootstrap admin used).
    pub fn agent_test(&self, who: &str) -> Result<(), RetryAfter> {
        self.check(&self.agent_test, &who.to_string())
    }

    /// Forgets keys whose limits have fully recovered (call now and then: the maps grow otherwise).
    pub fn retain_recent(&self) {
        self.per_key.retain_recent();
        self.per_user.retain_recent();
        self.login_user.retain_recent();
        self.login_addr.retain_recent();
        self.agent_test.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_allowance_is_refused_with_a_wait() {
        let limits = Limits::new(RateSettings {
            per_key: Rate {
                per_second: 1,
                burst: 3,
            },
            per_user: Rate {
                per_second: 100,
                burst: 100,
            },
            logins_per_minute: 2,
        });
        for _ in 0..3 {
            limits.request("key:a", Some("u")).unwrap();
        }
        let RetryAfter(wait) = limits.request("key:a", Some("u")).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        // Another key of the same user is counted apart.
        limits.request("key:b", Some("u")).unwrap();
        let addr = Some(IpAddr::from([127, 0, 0, 1]));
        limits.login("Ann", addr).unwrap();
        limits.login("ann", addr).unwrap();
        assert!(limits.login("ANN", addr).is_err());
        limits.login("bob", addr).unwrap();
    }
}
