//! Time as a dependency, so session expiry can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// Time since the Unix epoch that never runs backwards, for the rate limiters' cell
    /// arithmetic (GCRA needs sub-second steps and a monotonic clock). By default `now`, which
    /// is all a test clock needs.
    fn now_monotonic(&self) -> Duration {
        Duration::from_secs(self.now().max(0) as u64)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()
    }

    /// The wall clock read once, then advanced by the monotonic clock: a wall clock stepped
    /// back by NTP must not hand out rate-limit cells again.
    fn now_monotonic(&self) -> Duration {
        static ANCHOR: LazyLock<(Duration, Instant)> = LazyLock::new(|| {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            (wall, Instant::now())
        });
        let (wall, instant) = *ANCHOR;
        wall + instant.elapsed()
    }
}

/// A clock the tests move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
