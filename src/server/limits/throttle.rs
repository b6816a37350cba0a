//! The per-account throttle: failed sign-ins are counted per account, across all IPs, so an
//! attack spread over a botnet is slowed as much as one from a single address.
//!
//! Design (see README, "Brute force"):
//! - The first `FREE_FAILURES` failures in an hour cost nothing.
//! - After that each further attempt must wait `2^(n - FREE_FAILURES)` seconds after the
//!   last failure, at most `MAX_DELAY`: a delay, never a lock. When the attack stops, the owner
//!   gets in after at most a minute.
//! - At most `MAX_FAILURES_PER_HOUR` failures are accepted per hour (ASVS 4.0.3 2.2.1); the
//!   delays keep a patient attacker around 70 an hour anyway.
//! - A success clears the count.
//! - Unknown accounts are throttled exactly like real ones (keyed by the name that was
//!   typed), so the throttle's answers reveal nothing about which accounts exist.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::server::clock::Clock;

pub const FREE_FAILURES: usize = 5;
pub const MAX_DELAY_SECS: i64 = 60;
pub const MAX_FAILURES_PER_HOUR: usize = 100;
const WINDOW_SECS: i64 = 3600;

pub struct AccountThrottle {
    clock: Arc<dyn Clock>,
    /// Account key → failure times (seconds) within the last hour, oldest first.
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl AccountThrottle {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn with_failures<T>(&self, key: &str, f: impl FnOnce(&mut VecDeque<i64>, i64) -> T) -> T {
        let now = self.clock.now();
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = map.entry(key.to_string()).or_default();
        while entry.front().is_some_and(|t| *t <= now - WINDOW_SECS) {
            entry.pop_front();
        }
        let result = f(entry, now);
        if entry.is_empty() {
            map.remove(key);
        }
        result
    }

    /// `Err(seconds to wait)` when the next attempt on this account must wait.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.with_failures(key, |failures, now| {
            let n = failures.len();
            if n >= MAX_FAILURES_PER_HOUR {
                let oldest = failures.front().copied().unwrap_or(now);
                return Err((oldest + WINDOW_SECS - now).max(1) as u64);
            }
            if n < FREE_FAILURES {
                return Ok(());
            }
            let exponent = (n - FREE_FAILURES).min(16) as u32;
            let delay = 2i64.pow(exponent).min(MAX_DELAY_SECS);
            let last = failures.back().copied().unwrap_or(now);
            let wait = last + delay - now;
            if wait > 0 {
                Err(wait as u64)
            } else {
                Ok(())
            }
        })
    }

    pub fn record_failure(&self, key: &str) {
        self.with_failures(key, |failures, now| failures.push_back(now));
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }

    /// Drops accounts with no failure in the last hour.
    pub fn prune(&self) {
        let cutoff = self.clock.now() - WINDOW_SECS;
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, failures| failures.back().is_some_and(|t| *t > cutoff));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clock::ManualClock;

    fn throttle() -> (AccountThrottle, ManualClock) {
        let clock = ManualClock::new(1_000_000);
        (AccountThrottle::new(Arc::new(clock.clone())), clock)
    }

    #[test]
    fn the_first_failures_are_free_then_delays_grow() {
        let (t, clock) = throttle();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.check("a"), Ok(()));
            t.record_failure("a");
        }
        assert_eq!(t.check("a"), Err(1));
        clock.advance(1);
        assert_eq!(t.check("a"), Ok(()));
        t.record_failure("a");
        assert_eq!(t.check("a"), Err(2));
        t.record_failure("a");
        t.record_failure("a");
        assert_eq!(t.check("a"), Err(8));
    }

    #[test]
    fn the_delay_is_capped_so_the_owner_is_never_locked_out_for_long() {
        let (t, clock) = throttle();
        for _ in 0..30 {
            t.record_failure("a");
        }
        assert_eq!(t.check("a"), Err(MAX_DELAY_SECS as u64));
        clock.advance(MAX_DELAY_SECS);
        assert_eq!(t.check("a"), Ok(()));
    }

    #[test]
    fn at_most_a_hundred_failures_an_hour() {
        let (t, clock) = throttle();
        for _ in 0..MAX_FAILURES_PER_HOUR {
            t.record_failure("a");
            clock.advance(1);
        }
        clock.advance(MAX_DELAY_SECS);
        let wait = t.check("a").unwrap_err();
        assert!(wait > MAX_DELAY_SECS as u64 && wait <= 3600, "{wait}");
        clock.advance(3600);
        assert_eq!(t.check("a"), Ok(()));
    }

    #[test]
    fn success_clears_and_accounts_are_independent() {
        let (t, _clock) = throttle();
        for _ in 0..10 {
            t.record_failure("a");
        }
        assert!(t.check("a").is_err());
        assert_eq!(t.check("b"), Ok(()));
        t.clear("a");
        assert_eq!(t.check("a"), Ok(()));
    }

    #[test]
    fn failures_older_than_an_hour_are_forgotten() {
        let (t, clock) = throttle();
        for _ in 0..10 {
            t.record_failure("a");
        }
        clock.advance(3601);
        assert_eq!(t.check("a"), Ok(()));
        t.prune();
        assert!(t.failures.lock().unwrap().is_empty());
    }
}
