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
//!
//! The policy lives here, once; where the failure times are kept is a `FailureLog`: this
//! process (`LocalFailureLog`) or Redis, shared by every instance (`super::redis`). Time
//! always comes from the injected `Clock`, whichever the log, so both behave alike under a
//! test's manual clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::server::clock::Clock;

pub const FREE_FAILURES: usize = 5;
pub const MAX_DELAY_SECS: i64 = 60;
pub const MAX_FAILURES_PER_HOUR: usize = 100;
pub(crate) const WINDOW_SECS: i64 = 3600;

/// The failures of one account within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    pub count: usize,
    /// Times (seconds) of the oldest and newest failure; `None` when there are none.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// Where failure times are kept. "Within the window" means after `since`: failures at or
/// before it are forgotten.
#[async_trait]
pub trait FailureLog: Send + Sync + 'static {
    async fn recent(&self, key: &str, since: i64) -> Recent;
    /// Adds a failure at `now`; returns how many are within the window, this one included.
    async fn record(&self, key: &str, now: i64, since: i64) -> usize;
    async fn clear(&self, key: &str);
    /// Forgets accounts with no failure within the window (keeps memory bounded).
    async fn prune(&self, since: i64);
}

pub struct AccountThrottle {
    clock: Arc<dyn Clock>,
    log: Box<dyn FailureLog>,
}

impl AccountThrottle {
    /// Counts in this process only.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_log(clock, Box::new(LocalFailureLog::default()))
    }

    pub fn with_log(clock: Arc<dyn Clock>, log: Box<dyn FailureLog>) -> Self {
        Self { clock, log }
    }

    /// `Err(seconds to wait)` when the next attempt on this account must wait.
    pub async fn check(&self, key: &str) -> Result<(), u64> {
        let now = self.clock.now();
        let recent = self.log.recent(key, now - WINDOW_SECS).await;
        wait(recent, now)
    }

    /// Counts a failure. `true` exactly when this failure is the one that makes the next
    /// attempt wait, so the caller can record one audit event per lock-out.
    pub async fn record_failure(&self, key: &str) -> bool {
        let now = self.clock.now();
        self.log.record(key, now, now - WINDOW_SECS).await == FREE_FAILURES
    }

    pub async fn clear(&self, key: &str) {
        self.log.clear(key).await;
    }

    /// Drops accounts with no failure in the last hour.
    pub async fn prune(&self) {
        self.log.prune(self.clock.now() - WINDOW_SECS).await;
    }
}

/// The policy: how long the next attempt must wait, given the failures in the window.
fn wait(recent: Recent, now: i64) -> Result<(), u64> {
    let n = recent.count;
    if n >= MAX_FAILURES_PER_HOUR {
        let oldest = recent.oldest.unwrap_or(now);
        return Err((oldest + WINDOW_SECS - now).max(1) as u64);
    }
    if n < FREE_FAILURES {
        return Ok(());
    }
    let exponent = (n - FREE_FAILURES).min(16) as u32;
    let delay = 2i64.pow(exponent).min(MAX_DELAY_SECS);
    let last = recent.newest.unwrap_or(now);
    let wait = last + delay - now;
    if wait > 0 {
        Err(wait as u64)
    } else {
        Ok(())
    }
}

/// Failure times in this process's memory.
#[derive(Default)]
pub struct LocalFailureLog {
    /// Account key → failure times (seconds) within the window, oldest first.
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl LocalFailureLog {
    fn with_failures<T>(
        &self,
        key: &str,
        since: i64,
        f: impl FnOnce(&mut VecDeque<i64>) -> T,
    ) -> T {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = map.entry(key.to_string()).or_default();
        while entry.front().is_some_and(|t| *t <= since) {
            entry.pop_front();
        }
        let result = f(entry);
        if entry.is_empty() {
            map.remove(key);
        }
        result
    }

    #[cfg(test)]
    fn accounts(&self) -> usize {
        self.failures.lock().map(|m| m.len()).unwrap_or_default()
    }
}

#[async_trait]
impl FailureLog for LocalFailureLog {
    async fn recent(&self, key: &str, since: i64) -> Recent {
        self.with_failures(key, since, |failures| Recent {
            count: failures.len(),
            oldest: failures.front().copied(),
            newest: failures.back().copied(),
        })
    }

    async fn record(&self, key: &str, now: i64, since: i64) -> usize {
        self.with_failures(key, since, |failures| {
            failures.push_back(now);
            failures.len()
        })
    }

    async fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }

    async fn prune(&self, since: i64) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, failures| failures.back().is_some_and(|t| *t > since));
    }
}

/// The policy over each log (this one and Redis) is tested in `super::contract`; here, what
/// only the in-process log does.
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pruning_frees_the_memory_of_quiet_accounts() {
        let log = LocalFailureLog::default();
        for key in ["a", "b"] {
            log.record(key, 1_000, 1_000 - WINDOW_SECS).await;
        }
        log.record("b", 2_000, 2_000 - WINDOW_SECS).await;
        log.prune(1_000 + 1).await;
        assert_eq!(log.accounts(), 1);
        log.prune(2_000).await;
        assert_eq!(log.accounts(), 0);
    }
}
