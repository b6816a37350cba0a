//! Limits kept in Redis, so every instance behind the load balancer counts against the same
//! allowance: with in-process counters, N instances would let an attacker try N times as often.
//!
//! - Rate limits: the same GCRA as `governor` (`local`), one Lua script per check, timed by
//!   Redis's own clock (`TIME`) so instances with skewed clocks still agree.
//! - The account throttle's failure log: a sorted set of failure times per account, timed by
//!   the app's injected `Clock` (the throttle's policy is computed in `throttle`).
//!
//! Each script reads, decides and writes in one step: Redis runs a script atomically, so two
//! instances counting the same client at once cannot both take the last slot.
//!
//! **When Redis does not answer** (down, unreachable, slower than the timeouts below), the call
//! falls back to this process's own counters. Refusing every sign-in during a cache outage
//! would turn a Redis failure into a full outage, while per-instance limits still bound abuse
//! (to N times the limit with N instances). The outage is logged once as an error, and its end
//! once as info. While Redis is down, one call a second tries it; the others go straight to
//! the fallback, so a Redis that drops packets does not slow every sign-in by the timeout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{FromRedisValue, Script, ScriptInvocation};
use async_trait::async_trait;

use super::local::LocalRateLimiter;
use super::throttle::{
    FailureLog, LocalFailureLog, Recent, FREE_FAILURES, MAX_DELAY_SECS, WINDOW_SECS,
};
use super::{Decision, RateLimiter, Rule};
use crate::server::clock::Clock;

/// A sign-in waits at most this long for a connection…
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// …and this long for an answer, before the in-process fallback decides.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// The cap on one call whatever the client library does (connect + answer).
const CALL_BUDGET: Duration = Duration::from_millis(500);
/// While Redis is down, how often one call tries it again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// One connection (multiplexed, reconnecting) shared by the limiter and the throttle, with the
/// key prefix and the outage state.
pub struct RedisConnection {
    manager: ConnectionManager,
    prefix: String,
    /// The URL without its password, for log lines.
    url_for_logs: String,
    health: Health,
}

impl RedisConnection {
    /// Connects lazily: nothing is sent until the first check, so start-up does not wait for
    /// (or fail on) Redis. Must run inside the Tokio runtime.
    pub fn new(url: &str, prefix: &str, url_for_logs: String) -> Result<Self, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // No retry loop inside the client: a failed connection fails the call at once,
            // and the next call (see `Health`) makes a fresh attempt.
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            manager,
            prefix: prefix.to_string(),
            url_for_logs,
            health: Health::new(),
        })
    }

    /// `<prefix>:<part>:<part>…`
    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// Runs a script; `None` when Redis did not answer (or is known to be down), and the caller
    /// falls back.
    async fn invoke<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> Option<T> {
        if !self.health.should_try() {
            return None;
        }
        let mut connection = self.manager.clone();
        let result = tokio::time::timeout(CALL_BUDGET, invocation.invoke_async(&mut connection))
            .await
            .unwrap_or_else(|_| Err(timed_out()));
        self.record(result).ok()
    }

    /// Asks Redis for `PONG`, whatever the outage state (for the readiness probe). The error
    /// is the client's message (an I/O or server error: no URL, no password).
    pub async fn ping(&self) -> Result<(), String> {
        let mut connection = self.manager.clone();
        let result = tokio::time::timeout(
            CALL_BUDGET,
            ::redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out()));
        self.record(result)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    /// Notes whether Redis answered (logging the start and end of an outage).
    fn record<T>(&self, result: Result<T, ::redis::RedisError>) -> Result<T, ::redis::RedisError> {
        match &result {
            Ok(_) => self.health.answered(&self.url_for_logs),
            Err(error) => self.health.failed(&self.url_for_logs, error),
        };
        result
    }
}

fn timed_out() -> ::redis::RedisError {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}

/// Up or down, and when to try again while down.
struct Health {
    started: Instant,
    down: AtomicBool,
    /// Milliseconds since `started` before which, while down, nobody tries Redis.
    retry_at: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
        }
    }

    fn millis(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn should_try(&self) -> bool {
        if !self.down.load(Ordering::Acquire) {
            return true;
        }
        let now = self.millis();
        let at = self.retry_at.load(Ordering::Acquire);
        // Exactly one caller wins the retry slot; the others use the fallback meanwhile.
        now >= at
            && self
                .retry_at
                .compare_exchange(
                    at,
                    now + RETRY_INTERVAL.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// `true` when this ends an outage (and so logged it).
    fn answered(&self, url: &str) -> bool {
        let recovered = self.down.swap(false, Ordering::AcqRel);
        if recovered {
            metrics::gauge!(crate::server::metrics::name::REDIS_FALLBACK).set(0.0);
            tracing::info!(
                event = "redis.recovered",
                redis = url,
                "Redis answers again: rate limits and the account throttle are shared again"
            );
        }
        recovered
    }

    /// `true` when this starts an outage (and so logged it).
    fn failed(&self, url: &str, error: &::redis::RedisError) -> bool {
        self.retry_at.store(
            self.millis() + RETRY_INTERVAL.as_millis() as u64,
            Ordering::Release,
        );
        let started = !self.down.swap(true, Ordering::AcqRel);
        if started {
            metrics::gauge!(crate::server::metrics::name::REDIS_FALLBACK).set(1.0);
            tracing::error!(
                event = "redis.unavailable",
                redis = url,
                %error,
                "Redis is not answering: rate limits and the account throttle fall back to \
                 this instance's own counters until it does"
            );
        }
        started
    }
}

/// GCRA, as `governor` does it (times in microseconds): each request moves the "theoretical
/// arrival time" (TAT) one emission interval T = period / burst later; a request is refused
/// while TAT - tau is still ahead of now, tau = T * (burst - 1). The key expires when TAT
/// passes, which is exactly when a missing key would mean the same thing: a full allowance.
///
/// `string.format('%.0f')`: Lua's default number format keeps 14 digits, and microseconds
/// since 1970 have 16 (exact in a double until 2255).
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local earliest = tat - tau
if now < earliest then
  return {0, earliest - now}
end
local next_tat = math.max(tat, now) + t
redis.call('SET', KEYS[1], string.format('%.0f', next_tat),
  'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor(math.min(now + tau + t - next_tat, tau + t) / t)}
",
    )
});

/// The emission interval and tolerance of `rule`, in microseconds.
fn gcra_parameters(rule: &Rule) -> (u64, u64) {
    let burst = u64::from(rule.burst.max(1));
    let t = (rule.period.as_micros() as u64 / burst).max(1);
    (t, t * (burst - 1))
}

/// Per-IP rate limits in Redis; `fallback` answers while Redis does not.
pub struct RedisRateLimiter {
    redis: Arc<RedisConnection>,
    fallback: LocalRateLimiter,
}

impl RedisRateLimiter {
    /// `clock` times the in-process fallback only: Redis's own clock times the shared
    /// counters, so instances with skewed clocks still agree.
    pub fn new(redis: Arc<RedisConnection>, rules: &[&Rule], clock: Arc<dyn Clock>) -> Self {
        Self {
            redis,
            fallback: LocalRateLimiter::new(rules, clock),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, rule: &Rule, key: &str) -> Decision {
        let (t, tau) = gcra_parameters(rule);
        let mut invocation = GCRA.prepare_invoke();
        invocation
            .key(self.redis.key(&["rl", rule.name, key]))
            .arg(t)
            .arg(tau);
        match self.redis.invoke::<(i64, i64)>(&invocation).await {
            Some((1, remaining)) => Decision::Allowed {
                remaining: remaining.clamp(0, i64::from(u32::MAX)) as u32,
            },
            Some((_, wait)) => Decision::Refused {
                retry_after: Duration::from_micros(wait.max(0) as u64),
            },
            None => self.fallback.check(rule, key).await,
        }
    }

    /// Redis keys expire by themselves; only the fallback's memory needs pruning.
    fn prune(&self) {
        self.fallback.prune();
    }
}

/// Forgets failures at or before `since`, then answers count, oldest and newest. Scores are
/// failure times in seconds by the app's clock.
static RECENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then
  return {0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
return {n, tonumber(oldest[2]), tonumber(newest[2])}
",
    )
});

/// `FailureLog::reserve` in one script, so no other instance's attempt can come between the
/// check and the count: forgets failures at or before `since` (ARGV[1]); when the policy
/// (`throttle::delay_after`, the same formula: ARGV[5] free failures, then 2^(n - free)
/// seconds capped at ARGV[6]) lets an attempt through at `now` (ARGV[2]), adds it (member
/// ARGV[3], a unique id, since several failures can share a second), keeps the set an hour
/// (ARGV[4]) and answers {1, count}; else answers {0, seconds to wait}.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local now = tonumber(ARGV[2])
local free = tonumber(ARGV[5])
if n >= free then
  local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
  local delay = math.min(2 ^ math.min(n - free, 16), tonumber(ARGV[6]))
  local wait = math.floor(newest + delay - now)
  if wait > 0 then
    return {0, wait}
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, n + 1}
",
    )
});

/// The account throttle's failure log in Redis; `fallback` keeps it while Redis does not
/// answer.
pub struct RedisFailureLog {
    redis: Arc<RedisConnection>,
    fallback: LocalFailureLog,
}

impl RedisFailureLog {
    pub fn new(redis: Arc<RedisConnection>) -> Self {
        Self {
            redis,
            fallback: LocalFailureLog::default(),
        }
    }

    fn key(&self, account: &str) -> String {
        self.redis.key(&["thr", account])
    }
}

#[async_trait]
impl FailureLog for RedisFailureLog {
    async fn recent(&self, key: &str, since: i64) -> Recent {
        let mut invocation = RECENT.prepare_invoke();
        invocation.key(self.key(key)).arg(since);
        match self.redis.invoke::<Vec<i64>>(&invocation).await {
            Some(answer) => Recent {
                count: answer.first().copied().unwrap_or(0).max(0) as usize,
                oldest: answer.get(1).copied(),
                newest: answer.get(2).copied(),
            },
            None => self.fallback.recent(key, since).await,
        }
    }

    async fn reserve(&self, key: &str, now: i64, since: i64) -> Result<usize, u64> {
        let mut invocation = RESERVE.prepare_invoke();
        invocation
            .key(self.key(key))
            .arg(since)
            .arg(now)
            .arg(uuid::Uuid::new_v4().simple().to_string())
            .arg(WINDOW_SECS)
            .arg(FREE_FAILURES)
            .arg(MAX_DELAY_SECS);
        match self.redis.invoke::<(i64, i64)>(&invocation).await {
            Some((1, count)) => Ok(count.max(0) as usize),
            Some((_, wait)) => Err(wait.max(1) as u64),
            None => self.fallback.reserve(key, now, since).await,
        }
    }

    async fn clear(&self, key: &str) {
        // Failures counted here during an outage are cleared too.
        self.fallback.clear(key).await;
        let mut invocation = CLEAR.prepare_invoke();
        invocation.key(self.key(key));
        let _: Option<i64> = self.redis.invoke(&invocation).await;
    }

    /// Redis expires quiet accounts by itself; only the fallback needs pruning.
    async fn prune(&self, since: i64) {
        self.fallback.prune(since).await;
    }
}

/// A script too, so it shares the invoke path (timeouts, outage state).
static CLEAR: LazyLock<Script> = LazyLock::new(|| Script::new("return redis.call('DEL', KEYS[1])"));

/// Redis for the tests: the real one at `TEST_REDIS_URL` (else the local default), or one that
/// is down.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use super::RedisConnection;

    pub fn url() -> String {
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    /// A prefix no other test uses, so tests running at once do not share counters.
    pub fn unique_prefix() -> String {
        format!("gatehouse-test-{}", uuid::Uuid::new_v4().simple())
    }

    /// A connection to the test Redis, which must answer: a test that fell back to the
    /// in-process counters would prove nothing about Redis.
    pub async fn connection(prefix: &str) -> Arc<RedisConnection> {
        let redis = RedisConnection::new(&url(), prefix, url()).expect("a valid TEST_REDIS_URL");
        if let Err(error) = redis.ping().await {
            panic!("these tests need Redis at {} ({error})", url());
        }
        Arc::new(redis)
    }

    /// An address where nothing listens.
    pub fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        format!("redis://127.0.0.1:{port}")
    }

    /// A connection to a Redis that is down: every call takes the in-process fallback.
    pub fn connection_to_nowhere() -> Arc<RedisConnection> {
        let url = closed_port_url();
        Arc::new(RedisConnection::new(&url, "gatehouse", url.clone()).expect("a valid URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::server::clock::SystemClock;

    fn login_rule() -> Rule {
        Rule::parse("login", "5/minute").unwrap()
    }

    #[tokio::test]
    async fn two_instances_sharing_one_redis_share_the_allowance() {
        let rule = login_rule();
        let prefix = unique_prefix();
        let a = RedisRateLimiter::new(connection(&prefix).await, &[&rule], Arc::new(SystemClock));
        let b = RedisRateLimiter::new(connection(&prefix).await, &[&rule], Arc::new(SystemClock));
        for i in 0..5 {
            let instance = if i % 2 == 0 { &a } else { &b };
            assert!(matches!(
                instance.check(&rule, "1.2.3.4").await,
                Decision::Allowed { .. }
            ));
        }
        assert!(matches!(
            b.check(&rule, "1.2.3.4").await,
            Decision::Refused { .. }
        ));
        assert!(matches!(
            a.check(&rule, "1.2.3.4").await,
            Decision::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn keys_are_namespaced_and_expire_when_the_allowance_is_back() {
        let rule = login_rule();
        let prefix = unique_prefix();
        let redis = connection(&prefix).await;
        let limiter = RedisRateLimiter::new(redis.clone(), &[&rule], Arc::new(SystemClock));
        limiter.check(&rule, "2001:db8::1").await;
        let key = format!("{prefix}:rl:login:2001:db8::1");
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis.manager.clone())
            .await
            .unwrap();
        // One request used one 12 s slot: the key lives until it is back.
        assert!((11_000..=12_000).contains(&ttl), "{ttl}");
    }

    #[tokio::test]
    async fn many_instances_at_once_never_exceed_the_burst() {
        let rule = Rule::parse("register", "10/hour").unwrap();
        let prefix = unique_prefix();
        let mut limiters = Vec::new();
        for _ in 0..4 {
            limiters.push(RedisRateLimiter::new(
                connection(&prefix).await,
                &[&rule],
                Arc::new(SystemClock),
            ));
        }
        let checks = (0..40).map(|i| limiters[i % 4].check(&rule, "9.9.9.9"));
        let decisions = futures::future::join_all(checks).await;
        let allowed = decisions
            .iter()
            .filter(|d| matches!(d, Decision::Allowed { .. }))
            .count();
        assert_eq!(allowed, 10);
    }

    #[tokio::test]
    async fn the_throttle_forgets_quiet_accounts_by_itself() {
        let prefix = unique_prefix();
        let redis = connection(&prefix).await;
        let log = RedisFailureLog::new(redis.clone());
        assert_eq!(
            log.reserve("user:1", 1_000, 1_000 - WINDOW_SECS).await,
            Ok(1)
        );
        let key = format!("{prefix}:thr:user:1");
        let ttl: i64 = ::redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut redis.manager.clone())
            .await
            .unwrap();
        assert!((3_590..=3_600).contains(&ttl), "{ttl}");
        // An hour later (by the app's clock) the failure is trimmed and the set is gone.
        assert_eq!(log.recent("user:1", 1_000).await, Recent::default());
        let exists: i64 = ::redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut redis.manager.clone())
            .await
            .unwrap();
        assert_eq!(exists, 0);
    }

    #[test]
    fn an_outage_is_reported_once_and_so_is_its_end() {
        let health = Health::new();
        let error = timed_out();
        assert!(health.failed("redis://cache", &error));
        assert!(!health.failed("redis://cache", &error));
        assert!(!health.should_try(), "no retry within the interval");
        assert!(health.answered("redis://cache"));
        assert!(!health.answered("redis://cache"));
        assert!(health.should_try());
    }

    /// While Redis is down it is tried again a second after the last try, by one caller (the
    /// others use the fallback meanwhile). Started 10 s ago, so that a retry time computed
    /// from the uptime any other way than "now + the interval" is told apart.
    #[test]
    fn while_down_one_caller_a_second_tries_redis_again() {
        let health = Health {
            started: Instant::now() - Duration::from_secs(10),
            ..Health::new()
        };
        let interval = RETRY_INTERVAL.as_millis() as u64;
        let within_an_interval = |at: u64| {
            let now = health.millis();
            assert!(at > now && at <= now + interval, "retry at {at}, now {now}");
        };
        health.failed("redis://cache", &timed_out());
        within_an_interval(health.retry_at.load(Ordering::Acquire));
        assert!(!health.should_try());
        // The interval has run out, half a second ago.
        health
            .retry_at
            .store(health.millis() - 500, Ordering::Release);
        assert!(health.should_try(), "one caller tries Redis again");
        assert!(!health.should_try(), "and only one");
        within_an_interval(health.retry_at.load(Ordering::Acquire));
    }

    /// During an outage the fallback counts in memory; the hourly prune must reach it, or an
    /// outage's clients and accounts stay in memory for good.
    #[tokio::test]
    async fn pruning_reaches_the_counters_kept_during_an_outage() {
        let clock = crate::server::clock::ManualClock::new(1_000_000);
        let rule = login_rule();
        let limiter =
            RedisRateLimiter::new(connection_to_nowhere(), &[&rule], Arc::new(clock.clone()));
        limiter.check(&rule, "192.0.2.1").await;
        assert_eq!(limiter.fallback.clients_kept(), 1);
        // Two 12 s intervals on, the client's state is that of one never seen.
        clock.advance(25);
        limiter.prune();
        assert_eq!(limiter.fallback.clients_kept(), 0);

        let log = RedisFailureLog::new(connection_to_nowhere());
        log.reserve("user:1", 1_000, 1_000 - WINDOW_SECS)
            .await
            .unwrap();
        assert_eq!(log.fallback.accounts(), 1);
        log.prune(1_000).await;
        assert_eq!(log.fallback.accounts(), 0);
    }

    /// Every promise of a limiter, kept by the fallback, is checked in `contract` (its
    /// `redis_down` run); here, that the sixth sign-in is refused without waiting on Redis.
    #[tokio::test]
    async fn without_redis_the_limits_still_hold_in_process_and_answer_fast() {
        let rule = login_rule();
        let redis = connection_to_nowhere();
        let limiter = RedisRateLimiter::new(redis.clone(), &[&rule], Arc::new(SystemClock));
        let started = Instant::now();
        let mut decisions = Vec::new();
        for _ in 0..6 {
            decisions.push(limiter.check(&rule, "1.2.3.4").await);
        }
        assert!(
            matches!(
                decisions[..],
                [
                    ..,
                    Decision::Allowed { remaining: 0 },
                    Decision::Refused { .. }
                ]
            ),
            "{decisions:?}"
        );
        assert!(started.elapsed() < CALL_BUDGET, "{:?}", started.elapsed());
        assert!(redis.ping().await.is_err());
    }
}
