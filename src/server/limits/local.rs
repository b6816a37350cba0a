//! The in-process rate limiter: one `governor` keyed GCRA limiter per rule, timed by the
//! app's injectable clock (so tests can move time and watch allowances refill).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use super::{Decision, RateLimiter, Rule};
use crate::server::clock::Clock;

/// The app's clock as governor reads it: `Duration` since the epoch is one of governor's own
/// `Reference` instants.
#[derive(Clone)]
pub struct GovernorClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.now_monotonic()
    }
}

type Keyed =
    Governor<String, DefaultKeyedStateStore<String>, GovernorClock, StateInformationMiddleware>;

pub struct LocalRateLimiter {
    limiters: HashMap<&'static str, Keyed>,
    clock: GovernorClock,
}

fn quota(rule: &Rule) -> Quota {
    let burst = NonZeroU32::new(rule.burst).unwrap_or(NonZeroU32::MIN);
    // One cell every period/burst, `burst` at once.
    Quota::with_period(rule.period / burst.get())
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl LocalRateLimiter {
    pub fn new(rules: &[&Rule], clock: Arc<dyn Clock>) -> Self {
        let clock = GovernorClock(clock);
        let limiters = rules
            .iter()
            .map(|rule| {
                let limiter: Keyed = Governor::new(
                    quota(rule),
                    DefaultKeyedStateStore::default(),
                    clock.clone(),
                );
                (rule.name, limiter)
            })
            .collect();
        Self { limiters, clock }
    }
}

#[cfg(test)]
impl LocalRateLimiter {
    /// Clients with a state kept in memory, over every rule.
    pub(super) fn clients_kept(&self) -> usize {
        self.limiters.values().map(Keyed::len).sum()
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(&self, rule: &Rule, key: &str) -> Decision {
        let Some(limiter) = self.limiters.get(rule.name) else {
            // A rule nobody configured limits nothing; a wiring mistake, so say so.
            tracing::error!(rule = rule.name, "rate limit rule has no limiter");
            return Decision::Allowed {
                remaining: rule.burst,
            };
        };
        match limiter.check_key(&key.to_string()) {
            Ok(snapshot) => Decision::Allowed {
                remaining: snapshot.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Refused {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    fn prune(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

// Every promise of a limiter is tested in `super::contract`, with the same tests as the Redis
// limiter; here, what only this one does: keep a state per client in memory.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clock::ManualClock;

    #[tokio::test]
    async fn pruning_forgets_clients_whose_allowance_is_whole_again() {
        let clock = ManualClock::new(1_000_000);
        let rule = Rule::parse("login", "5/minute").unwrap();
        let limiter = LocalRateLimiter::new(&[&rule], Arc::new(clock.clone()));
        // One request costs a 12 s slot. governor forgets a client once its state is that of
        // a client never seen (one more interval after the slot is back): A's, 25 s on; not
        // B's, taken then.
        limiter.check(&rule, "192.0.2.1").await;
        clock.advance(25);
        limiter.check(&rule, "192.0.2.2").await;
        assert_eq!(limiter.clients_kept(), 2);
        limiter.prune();
        assert_eq!(
            limiter.clients_kept(),
            1,
            "A's state is forgotten, B's kept"
        );
        clock.advance(25);
        limiter.prune();
        assert_eq!(limiter.clients_kept(), 0);
    }
}
