//! Abuse limits: per-IP rate limits (`RateLimiter`), the per-account failure throttle
//! (`throttle`), and where the client IP comes from (`client_ip`).
//!
//! The limiter and the throttle's failure log are interfaces, so the counters can live
//! in-process (one instance, the default) or in Redis (`REDIS_URL`: many instances, one
//! allowance; see `redis` for what happens when Redis does not answer).

pub mod client_ip;
#[cfg(test)]
mod contract;
pub mod local;
pub mod redis;
pub mod settings;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::model::AppError;
use crate::server::clock::Clock;

use self::redis::{RedisConnection, RedisFailureLog, RedisRateLimiter};
use self::settings::{RateLimitSettings, RedisSettings};
use self::throttle::AccountThrottle;

/// "`burst` requests per `period`", replenished evenly (GCRA): 5/minute allows 5 at once,
/// then one more every 12 seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub burst: u32,
    pub period: Duration,
}

impl Rule {
    /// Parses `5/minute`, `10/hour`, `600/minute`, `2/second`.
    pub fn parse(name: &'static str, spec: &str) -> Option<Self> {
        let (count, unit) = spec.trim().split_once('/')?;
        let burst: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
        let period = match unit.trim() {
            "second" | "s" => Duration::from_secs(1),
            "minute" | "min" | "m" => Duration::from_secs(60),
            "hour" | "h" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86_400),
            _ => return None,
        };
        Some(Self {
            name,
            burst,
            period,
        })
    }

    /// The client-facing error for a refusal under this rule.
    pub fn refusal(&self, retry_after: Duration) -> AppError {
        AppError::RateLimited {
            // Round up: "try again in 0 s" would be a lie.
            retry_after_secs: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
            limit: self.burst,
            window_secs: self.period.as_secs(),
        }
    }
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u32 },
    Refused { retry_after: Duration },
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request by `key` (a client IP) against `rule`.
    async fn check(&self, rule: &Rule, key: &str) -> Decision;
    /// Forgets keys that are back to a full allowance (keeps memory bounded).
    fn prune(&self);
}

/// The configured rules and the limiter that enforces them.
pub struct Limits {
    pub login: Rule,
    pub register: Rule,
    pub global: Rule,
    pub mail: Rule,
    pub mail_recipient: Rule,
    pub two_factor: Rule,
    limiter: Box<dyn RateLimiter>,
    /// Set when the counters are in Redis, for `ping`.
    redis: Option<Arc<RedisConnection>>,
}

/// The per-IP limits and the per-account throttle for `settings`: in Redis when `REDIS_URL`
/// is set, else in this process. Both share one Redis connection, so an outage is noticed and
/// logged once.
pub fn from_settings(
    rules: &RateLimitSettings,
    redis_settings: &RedisSettings,
    clock: Arc<dyn Clock>,
) -> (Limits, AccountThrottle) {
    let Some(url) = &redis_settings.url else {
        return (
            Limits::in_process(rules, clock.clone()),
            AccountThrottle::new(clock),
        );
    };
    let url_for_logs = redis_settings.url_for_logs().unwrap_or_default();
    let redis = match RedisConnection::new(
        url.expose_secret(),
        &redis_settings.key_prefix,
        url_for_logs.clone(),
    ) {
        Ok(redis) => Arc::new(redis),
        // The URL was checked with the configuration, so this is not expected.
        Err(error) => {
            tracing::error!(
                redis = url_for_logs,
                %error,
                "cannot use Redis: rate limits and the account throttle are per instance"
            );
            return (
                Limits::in_process(rules, clock.clone()),
                AccountThrottle::new(clock),
            );
        }
    };
    tracing::info!(
        redis = url_for_logs,
        prefix = redis_settings.key_prefix,
        "rate limits and the account throttle are kept in Redis"
    );
    // Shared until Redis first fails to answer (`redis::Health` flips it).
    metrics::gauge!(crate::server::metrics::name::REDIS_FALLBACK).set(0.0);
    let limiter = RedisRateLimiter::new(redis.clone(), &rules.all(), clock.clone());
    let mut limits = Limits::new(rules, Box::new(limiter));
    limits.redis = Some(redis.clone());
    let throttle = AccountThrottle::with_log(clock, Box::new(RedisFailureLog::new(redis)));
    (limits, throttle)
}

impl Limits {
    pub fn new(rules: &RateLimitSettings, limiter: Box<dyn RateLimiter>) -> Self {
        let rules = rules.clone();
        Self {
            login: rules.login,
            register: rules.register,
            global: rules.global,
            mail: rules.mail,
            mail_recipient: rules.mail_recipient,
            two_factor: rules.two_factor,
            limiter,
            redis: None,
        }
    }

    pub fn in_process(rules: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let limiter = local::LocalRateLimiter::new(&rules.all(), clock);
        Self::new(rules, Box::new(limiter))
    }

    /// `Err(RateLimited)` when `key` is over `rule`. Per-IP keys come from
    /// `client_ip::limit_key` (an IPv6 client is keyed by its /64).
    pub async fn check(&self, rule: &Rule, key: impl AsRef<str>) -> Result<(), AppError> {
        let key = key.as_ref();
        match self.limiter.check(rule, key).await {
            Decision::Allowed { .. } => Ok(()),
            Decision::Refused { retry_after } => {
                tracing::warn!(event = "rate_limited", rule = rule.name, client = key);
                crate::server::metrics::rate_limited(rule.name);
                Err(rule.refusal(retry_after))
            }
        }
    }

    pub fn prune(&self) {
        self.limiter.prune();
    }

    /// For the readiness probe: `None` when no Redis is configured, else whether it answers.
    /// The error is fit for a log line (no URL, no password).
    pub async fn ping(&self) -> Option<Result<(), String>> {
        match &self.redis {
            Some(redis) => Some(redis.ping().await),
            None => None,
        }
    }
}

/// The key of a mail recipient for `Limits::mail_recipient`: a hash of the canonical address,
/// so no address lands in Redis or in a log line.
pub fn recipient_key(email_canonical: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(email_canonical.as_bytes());
    format!("to:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rate_specs() {
        assert_eq!(
            Rule::parse("login", "5/minute"),
            Some(Rule {
                name: "login",
                burst: 5,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rule::parse("x", "10/hour").map(|r| r.period),
            Some(Duration::from_secs(3600))
        );
        for bad in ["", "5", "0/minute", "five/minute", "5/fortnight"] {
            assert_eq!(Rule::parse("x", bad), None, "{bad}");
        }
    }

    /// The settings' error message promises these four units; an operator may write any of
    /// them, long or short, with spaces around the parts.
    #[test]
    fn every_unit_is_read_long_and_short() {
        let cases = [
            ("1/second", 1),
            ("1/s", 1),
            ("2/minute", 60),
            ("2/min", 60),
            ("2/m", 60),
            ("3/hour", 3_600),
            ("3/h", 3_600),
            ("4/day", 86_400),
            ("4/d", 86_400),
            (" 7 / minute ", 60),
        ];
        for (spec, secs) in cases {
            assert_eq!(
                Rule::parse("x", spec).map(|rule| rule.period),
                Some(Duration::from_secs(secs)),
                "{spec}"
            );
        }
    }

    #[test]
    fn refusals_round_retry_after_up() {
        let rule = Rule::parse("login", "5/minute").unwrap();
        assert_eq!(
            rule.refusal(Duration::from_millis(11_200)),
            AppError::RateLimited {
                retry_after_secs: 12,
                limit: 5,
                window_secs: 60
            }
        );
        // A whole number of seconds is not rounded up a second more; any fraction is.
        let retry_after_secs = |wait| match rule.refusal(wait) {
            AppError::RateLimited {
                retry_after_secs, ..
            } => retry_after_secs,
            other => panic!("{other:?}"),
        };
        assert_eq!(retry_after_secs(Duration::from_secs(12)), 12);
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
    }

    /// The start-up task's hourly prune reaches the limiter through `Limits`: whichever
    /// limiter it is (in-process or Redis with its fallback), its memory is bounded only if
    /// the call is passed on. (How each limiter prunes is tested with it.)
    #[test]
    fn pruning_the_limits_prunes_their_limiter() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        struct CountsPrunes(Arc<AtomicUsize>);
        #[async_trait]
        impl RateLimiter for CountsPrunes {
            async fn check(&self, rule: &Rule, _key: &str) -> Decision {
                Decision::Allowed {
                    remaining: rule.burst,
                }
            }
            fn prune(&self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let no_settings = |_: &str| None;
        let env = crate::server::env::Env::new(&no_settings).unwrap();
        let rules = RateLimitSettings::from_env(&env).unwrap();
        let prunes = Arc::new(AtomicUsize::new(0));
        let limits = Limits::new(&rules, Box::new(CountsPrunes(prunes.clone())));
        limits.prune();
        assert_eq!(prunes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn recipient_keys_are_hashes_that_name_no_address() {
        use sha2::{Digest, Sha256};
        let address = "alice.smith@example.com";
        let key = recipient_key(address);
        // "to:" and the first 16 bytes of the address's SHA-256 in hex, computed here.
        let hex: String = Sha256::digest(address.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key, format!("to:{hex}"));
        for part in ["alice", "smith", "example", "@"] {
            assert!(!key.contains(part), "{part} in {key}");
        }
        // One address, one key; another address, another key.
        assert_eq!(key, recipient_key(address));
        assert_ne!(key, recipient_key("bob@example.com"));
    }
}
