//! Abuse limits: per-IP rate limits (`RateLimiter`), the per-account failure throttle
//! (`throttle`), and where the client IP comes from (`client_ip`).
//!
//! The limiter is an interface so the counters can live in-process (one instance, the
//! default) or in a shared store (many instances).

pub mod client_ip;
pub mod local;
pub mod throttle;

use std::time::Duration;

use async_trait::async_trait;

use crate::model::AppError;

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
    limiter: Box<dyn RateLimiter>,
}

impl Limits {
    pub fn new(login: Rule, register: Rule, global: Rule, limiter: Box<dyn RateLimiter>) -> Self {
        Self {
            login,
            register,
            global,
            limiter,
        }
    }

    pub fn in_process(login: Rule, register: Rule, global: Rule) -> Self {
        let limiter = local::LocalRateLimiter::new(&[&login, &register, &global]);
        Self::new(login, register, global, Box::new(limiter))
    }

    /// `Err(RateLimited)` when `key` is over `rule`.
    pub async fn check(&self, rule: &Rule, key: &str) -> Result<(), AppError> {
        match self.limiter.check(rule, key).await {
            Decision::Allowed { .. } => Ok(()),
            Decision::Refused { retry_after } => {
                tracing::warn!(event = "rate_limited", rule = rule.name, client = key);
                Err(rule.refusal(retry_after))
            }
        }
    }

    pub fn prune(&self) {
        self.limiter.prune();
    }
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
    }
}
