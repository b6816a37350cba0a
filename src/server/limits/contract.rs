//! One contract for the limits, run against every backend: what a `RateLimiter`, a
//! `FailureLog` and the `AccountThrottle` over it promise does not depend on where the
//! counters live.
//!
//! Each test is written once, as `async fn name(backend: Backend)`; `contract!` runs it as
//! `local::name`, `redis::name` and `redis_down::name`:
//! - `local`: this process's counters.
//! - `redis`: the test Redis (`TEST_REDIS_URL`, else `redis://127.0.0.1:6379`), which must
//!   answer, under a key prefix of the test's own, so tests running at once share nothing (and
//!   nothing is ever flushed).
//! - `redis_down`: a Redis URL where nothing listens, so every call takes the in-process
//!   fallback: an outage must not change the promises.
//!
//! What only Redis does (instances sharing one allowance, key names, expiry, the outage
//! bookkeeping) is tested in `redis`; what only this process does, in `throttle`.

use std::sync::Arc;
use std::time::Duration;

use super::local::LocalRateLimiter;
use super::redis::{test_support, RedisConnection, RedisFailureLog, RedisRateLimiter};
use super::throttle::{
    AccountThrottle, FailureLog, LocalFailureLog, Recent, FREE_FAILURES, MAX_DELAY_SECS,
    MAX_FAILURES_PER_HOUR, WINDOW_SECS,
};
use super::{Decision, RateLimiter, Rule};
use crate::server::clock::{Clock, ManualClock};

/// Instantiates each listed contract test once per backend.
macro_rules! contract {
    ($($test:ident),+ $(,)?) => {
        contract!(@backend local, Local, [$($test),+]);
        contract!(@backend redis, Redis, [$($test),+]);
        contract!(@backend redis_down, RedisDown, [$($test),+]);
    };
    (@backend $module:ident, $backend:ident, [$($test:ident),+]) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Backend::$backend).await;
                }
            )+
        }
    };
}

contract!(
    // RateLimiter
    a_burst_is_allowed_then_refused_until_the_next_slot,
    the_allowance_refills_one_slot_per_interval,
    each_rule_and_each_client_counts_on_its_own,
    concurrent_checks_never_exceed_the_burst,
    // FailureLog
    the_log_counts_failures_within_the_window,
    clearing_forgets_one_account_only,
    a_refused_reservation_counts_nothing,
    // AccountThrottle over the log
    the_first_failures_are_free_then_delays_grow,
    exactly_the_failure_that_starts_the_waiting_is_reported,
    parallel_attempts_get_the_free_ones_and_no_more,
    the_delay_is_capped_so_the_owner_is_never_locked_out_for_long,
    the_fastest_attacker_stays_under_a_hundred_failures_an_hour,
    success_clears_and_accounts_are_independent,
    failures_older_than_an_hour_are_forgotten,
);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Local,
    Redis,
    RedisDown,
}

impl Backend {
    /// A connection of its own (Redis backends only).
    async fn redis(self) -> Arc<RedisConnection> {
        self.redis_with_prefix(&test_support::unique_prefix()).await
    }

    async fn redis_with_prefix(self, prefix: &str) -> Arc<RedisConnection> {
        match self {
            Backend::Redis => test_support::connection(prefix).await,
            Backend::RedisDown => test_support::connection_to_nowhere(),
            Backend::Local => unreachable!("the local backend has no Redis"),
        }
    }

    /// A rate limiter over this backend, and the time it is measured by.
    async fn rate_limiter(self, rules: &[&Rule]) -> (Box<dyn RateLimiter>, LimiterTime) {
        let clock = ManualClock::new(1_000_000);
        let app_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let prefix = test_support::unique_prefix();
        let limiter: Box<dyn RateLimiter> = match self {
            Backend::Local => Box::new(LocalRateLimiter::new(rules, app_clock)),
            _ => Box::new(RedisRateLimiter::new(
                self.redis_with_prefix(&prefix).await,
                rules,
                app_clock,
            )),
        };
        let redis_prefix = matches!(self, Backend::Redis).then_some(prefix);
        (
            limiter,
            LimiterTime {
                clock,
                redis_prefix,
            },
        )
    }

    async fn failure_log(self) -> Box<dyn FailureLog> {
        match self {
            Backend::Local => Box::new(LocalFailureLog::default()),
            _ => Box::new(RedisFailureLog::new(self.redis().await)),
        }
    }

    /// The throttle over this backend's log, on a manual clock the test moves.
    async fn throttle(self) -> (AccountThrottle, ManualClock) {
        let clock = ManualClock::new(1_000_000);
        let log = self.failure_log().await;
        (
            AccountThrottle::with_log(Arc::new(clock.clone()), log),
            clock,
        )
    }
}

/// Moves a rate limiter's time: the app's clock, which times the in-process counters (and
/// Redis's fallback), and for a Redis that answers, the stored GCRA arrival times. Redis's own
/// clock cannot be moved; moving every stored time back by the same amount is the same thing
/// to the algorithm, which only compares them with now.
struct LimiterTime {
    clock: ManualClock,
    redis_prefix: Option<String>,
}

impl LimiterTime {
    async fn advance(&self, secs: i64) {
        self.clock.advance(secs);
        let Some(prefix) = &self.redis_prefix else {
            return;
        };
        let client = ::redis::Client::open(test_support::url()).expect("a valid TEST_REDIS_URL");
        let mut redis = client
            .get_multiplexed_async_connection()
            .await
            .expect("the test Redis answers");
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg(format!("{prefix}:rl:*"))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(
            !keys.is_empty(),
            "the limiter stored nothing under {prefix}"
        );
        for key in keys {
            let tat: i64 = ::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            let () = ::redis::cmd("SET")
                .arg(&key)
                .arg(tat - secs * 1_000_000)
                .arg("KEEPTTL")
                .query_async(&mut redis)
                .await
                .unwrap();
        }
    }
}

fn login_rule() -> Rule {
    Rule::parse("login", "5/minute").unwrap()
}

// ---- RateLimiter ----

async fn a_burst_is_allowed_then_refused_until_the_next_slot(backend: Backend) {
    let rule = login_rule();
    let (limiter, _time) = backend.rate_limiter(&[&rule]).await;
    for expected_remaining in (0..5).rev() {
        assert_eq!(
            limiter.check(&rule, "1.2.3.4").await,
            Decision::Allowed {
                remaining: expected_remaining
            }
        );
    }
    match limiter.check(&rule, "1.2.3.4").await {
        Decision::Refused { retry_after } => assert!(
            // One slot comes back every 12 s; a few ms have passed since the first.
            retry_after <= Duration::from_secs(12) && retry_after > Duration::from_secs(11),
            "{retry_after:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Other clients are unaffected.
    assert_eq!(
        limiter.check(&rule, "5.6.7.8").await,
        Decision::Allowed { remaining: 4 }
    );
}

/// 5/minute: after the burst one slot comes back every 12 s, and after a minute all five.
async fn the_allowance_refills_one_slot_per_interval(backend: Backend) {
    let rule = login_rule();
    let (limiter, time) = backend.rate_limiter(&[&rule]).await;
    let allowed = |d: Decision| matches!(d, Decision::Allowed { .. });
    for _ in 0..5 {
        assert!(allowed(limiter.check(&rule, "1.2.3.4").await));
    }
    assert!(!allowed(limiter.check(&rule, "1.2.3.4").await));
    time.advance(11).await;
    assert!(
        !allowed(limiter.check(&rule, "1.2.3.4").await),
        "not before the interval"
    );
    time.advance(1).await;
    assert_eq!(
        limiter.check(&rule, "1.2.3.4").await,
        Decision::Allowed { remaining: 0 },
        "one slot after 12 s"
    );
    assert!(!allowed(limiter.check(&rule, "1.2.3.4").await));
    time.advance(60).await;
    for _ in 0..5 {
        assert!(allowed(limiter.check(&rule, "1.2.3.4").await));
    }
    assert!(
        !allowed(limiter.check(&rule, "1.2.3.4").await),
        "never more than the burst"
    );
}

async fn each_rule_and_each_client_counts_on_its_own(backend: Backend) {
    let (login, register) = (login_rule(), Rule::parse("register", "2/hour").unwrap());
    let (limiter, _time) = backend.rate_limiter(&[&login, &register]).await;
    for _ in 0..2 {
        assert!(matches!(
            limiter.check(&register, "1.2.3.4").await,
            Decision::Allowed { .. }
        ));
    }
    assert!(matches!(
        limiter.check(&register, "1.2.3.4").await,
        Decision::Refused { .. }
    ));
    // The same client under another rule, and another client under this one, start full.
    assert_eq!(
        limiter.check(&login, "1.2.3.4").await,
        Decision::Allowed { remaining: 4 }
    );
    assert_eq!(
        limiter.check(&register, "2001:db8::1").await,
        Decision::Allowed { remaining: 1 }
    );
}

/// Checks arriving together cannot both take the last slot.
async fn concurrent_checks_never_exceed_the_burst(backend: Backend) {
    let rule = Rule::parse("register", "10/hour").unwrap();
    let (limiter, _time) = backend.rate_limiter(&[&rule]).await;
    let checks = (0..40).map(|_| limiter.check(&rule, "9.9.9.9"));
    let decisions = futures::future::join_all(checks).await;
    let allowed = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Allowed { .. }))
        .count();
    assert_eq!(allowed, 10);
}

// ---- FailureLog ----

async fn the_log_counts_failures_within_the_window(backend: Backend) {
    let log = backend.failure_log().await;
    assert_eq!(log.recent("user:1", 0).await, Recent::default());
    assert_eq!(
        log.reserve("user:1", 1_000, 1_000 - WINDOW_SECS).await,
        Ok(1)
    );
    // Two failures in the same second are two failures.
    assert_eq!(
        log.reserve("user:1", 1_000, 1_000 - WINDOW_SECS).await,
        Ok(2)
    );
    assert_eq!(
        log.reserve("user:1", 1_010, 1_010 - WINDOW_SECS).await,
        Ok(3)
    );
    assert_eq!(
        log.recent("user:1", 1_010 - WINDOW_SECS).await,
        Recent {
            count: 3,
            oldest: Some(1_000),
            newest: Some(1_010)
        }
    );
    // Failures at or before `since` are forgotten.
    assert_eq!(
        log.recent("user:1", 1_000).await,
        Recent {
            count: 1,
            oldest: Some(1_010),
            newest: Some(1_010)
        }
    );
    assert_eq!(
        log.reserve("user:1", 1_010 + WINDOW_SECS, 1_010).await,
        Ok(1),
        "an hour later, only the new failure counts"
    );
}

async fn clearing_forgets_one_account_only(backend: Backend) {
    let log = backend.failure_log().await;
    for key in ["user:1", "user:1", "user:2"] {
        log.reserve(key, 1_000, 1_000 - WINDOW_SECS).await.unwrap();
    }
    log.clear("user:1").await;
    assert_eq!(log.recent("user:1", 0).await, Recent::default());
    assert_eq!(log.recent("user:2", 0).await.count, 1);
}

async fn a_refused_reservation_counts_nothing(backend: Backend) {
    let log = backend.failure_log().await;
    for _ in 0..FREE_FAILURES {
        log.reserve("user:1", 1_000, 0).await.unwrap();
    }
    assert_eq!(log.reserve("user:1", 1_000, 0).await, Err(1));
    assert_eq!(log.recent("user:1", 0).await.count, FREE_FAILURES);
}

// ---- AccountThrottle over the log ----

/// Fails `n` attempts on `key` as fast as the throttle allows, waiting whenever it says so;
/// answers what each failed attempt reported as `starts_waiting`.
async fn fail_as_fast_as_allowed(t: &AccountThrottle, clock: &ManualClock, n: usize) -> Vec<bool> {
    let mut reported = Vec::new();
    while reported.len() < n {
        match t.reserve("a").await {
            Ok(attempt) => reported.push(attempt.starts_waiting()),
            Err(wait) => clock.advance(wait as i64),
        }
    }
    reported
}

async fn the_first_failures_are_free_then_delays_grow(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    for _ in 0..FREE_FAILURES {
        assert!(t.reserve("a").await.is_ok());
    }
    for delay in [1, 2, 4, 8] {
        assert_eq!(t.reserve("a").await, Err(delay));
        clock.advance(delay as i64 - 1);
        assert_eq!(t.reserve("a").await, Err(1), "not a second early");
        clock.advance(1);
        assert!(t.reserve("a").await.is_ok());
    }
}

async fn exactly_the_failure_that_starts_the_waiting_is_reported(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    let reported = fail_as_fast_as_allowed(&t, &clock, FREE_FAILURES + 3).await;
    let mut expected = vec![false; FREE_FAILURES + 3];
    expected[FREE_FAILURES - 1] = true;
    assert_eq!(reported, expected);
    // After a success the count starts again, and so does the report.
    t.clear("a").await;
    let reported = fail_as_fast_as_allowed(&t, &clock, FREE_FAILURES).await;
    assert_eq!(reported.iter().filter(|r| **r).count(), 1);
}

async fn parallel_attempts_get_the_free_ones_and_no_more(backend: Backend) {
    let (t, _clock) = backend.throttle().await;
    // A burst at one instant, as from a botnet: checked and counted one at a time, so
    // exactly the free attempts get through, however many arrive together.
    let attempts = (0..30).map(|_| t.reserve("a"));
    let answers = futures::future::join_all(attempts).await;
    let through = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(through, FREE_FAILURES, "{answers:?}");
}

async fn the_delay_is_capped_so_the_owner_is_never_locked_out_for_long(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    fail_as_fast_as_allowed(&t, &clock, 30).await;
    assert_eq!(t.reserve("a").await, Err(MAX_DELAY_SECS as u64));
    clock.advance(MAX_DELAY_SECS);
    assert!(t.reserve("a").await.is_ok());
}

async fn the_fastest_attacker_stays_under_a_hundred_failures_an_hour(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    let start = 1_000_000;
    let mut failures = Vec::new();
    // Three hours of attempts the moment each is allowed.
    while failures
        .last()
        .is_none_or(|at| *at < start + 3 * WINDOW_SECS)
    {
        match t.reserve("a").await {
            Ok(_) => failures.push(clock.now()),
            Err(wait) => {
                assert!(
                    wait <= MAX_DELAY_SECS as u64,
                    "the owner waits at most the cap"
                );
                clock.advance(wait as i64);
            }
        }
    }
    let busiest_hour = failures
        .iter()
        .map(|from| {
            failures
                .iter()
                .filter(|at| (*from..*from + WINDOW_SECS).contains(at))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        busiest_hour < MAX_FAILURES_PER_HOUR,
        "{busiest_hour} in one hour"
    );
}

async fn success_clears_and_accounts_are_independent(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    fail_as_fast_as_allowed(&t, &clock, 10).await;
    assert!(t.reserve("a").await.is_err());
    assert!(t.reserve("b").await.is_ok());
    t.clear("a").await;
    assert!(t.reserve("a").await.is_ok());
}

async fn failures_older_than_an_hour_are_forgotten(backend: Backend) {
    let (t, clock) = backend.throttle().await;
    fail_as_fast_as_allowed(&t, &clock, 10).await;
    clock.advance(3601);
    let fresh = t.reserve("a").await.unwrap();
    assert_eq!(fresh.count, 1);
    t.prune().await;
    assert!(t.reserve("a").await.is_ok());
}
