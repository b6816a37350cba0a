//! Reading settings from the environment: one small reader with typed helpers, used by each
//! section's parser (`auth::settings`, `db::settings`, `http::settings`, `limits::settings`).
//! `config` assembles the sections; nothing here knows what any section means.
//!
//! Values are trimmed and an empty value counts as unset, so `NAME=` in a `.env` file means
//! "use the default". An invalid value stops the start with the variable's name and what was
//! expected, and never echoes a secret.

use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("refusing to start in production: {0}")]
    Insecure(String),
}

pub fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The variables, and the environment they describe (`APP_ENV`), which several sections'
/// defaults depend on.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub environment: Environment,
}

impl<'a> Env<'a> {
    /// Reads `APP_ENV` (`development`, the default, or `production`).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Self {
            lookup,
            environment: Environment::Development,
        };
        env.environment = match env.text("APP_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "APP_ENV",
                    format!("expected `development` or `production`, got `{other}`"),
                ))
            }
        };
        Ok(env)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The value, trimmed; `None` when unset or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_string())
    }

    /// A secret exactly as given (not trimmed: spaces may be part of it); `None` when unset
    /// or empty.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        (self.lookup)(name)
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.text(name).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(_) => Err(invalid(name, "expected true or false")),
        }
    }

    /// A whole number, zero allowed.
    pub fn number<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        self.parsed(name, default, |v| v.parse().ok(), "expected a whole number")
    }

    /// A whole number above zero.
    pub fn positive<T: FromStr + PartialOrd + Default>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        self.parsed(
            name,
            default,
            |v| v.parse().ok().filter(|n| *n > T::default()),
            "expected a positive whole number",
        )
    }

    /// A positive number of seconds.
    pub fn secs(&self, name: &'static str, default_secs: u64) -> Result<Duration, ConfigError> {
        self.parsed(
            name,
            Duration::from_secs(default_secs),
            |v| v.parse().ok().filter(|n| *n > 0).map(Duration::from_secs),
            "expected a positive number of seconds",
        )
    }

    /// A comma-separated list; blanks between commas are ignored.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Any other type: `parse` returns `None` for an invalid value, which is refused with
    /// `expected` as the reason.
    pub fn parsed<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => parse(&value).ok_or_else(|| invalid(name, expected)),
        }
    }
}

/// A URL with its password replaced, for logs: the user-info one
/// (`postgres://user:hunter2@host/db` → `postgres://user:***@host/db`) and any query parameter
/// named in `password_params` (any case).
pub fn redact_url(url: &str, password_params: &[&str]) -> String {
    redact_query_params(&redact_url_password(url), password_params)
}

fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _password)) => format!(
                "{}{user}:***{}",
                &url[..scheme_end + 3],
                &url[scheme_end + 3 + at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn redact_query_params(url: &str, names: &[&str]) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if names.iter().any(|n| name.eq_ignore_ascii_case(n)) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with<T>(vars: &[(&str, &str)], read: impl FnOnce(&Env) -> T) -> T {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| map.get(name).cloned();
        read(&Env::new(&lookup).expect("valid APP_ENV"))
    }

    #[test]
    fn blank_values_mean_the_default() {
        with(&[("A", "  "), ("B", " 7 ")], |env| {
            assert_eq!(env.text("A"), None);
            assert_eq!(env.positive::<u32>("A", 3), Ok(3));
            assert_eq!(env.positive::<u32>("B", 3), Ok(7));
            assert_eq!(env.text_or("C", "x"), "x");
        });
    }

    #[test]
    fn typed_helpers_refuse_what_they_cannot_read_naming_the_variable() {
        with(&[("N", "0"), ("S", "5s"), ("F", "maybe")], |env| {
            assert_eq!(env.number::<usize>("N", 9), Ok(0));
            assert!(matches!(
                env.positive::<usize>("N", 9),
                Err(ConfigError::Invalid { name: "N", .. })
            ));
            assert!(matches!(
                env.secs("S", 1),
                Err(ConfigError::Invalid { name: "S", .. })
            ));
            assert!(matches!(
                env.flag("F", true),
                Err(ConfigError::Invalid { name: "F", .. })
            ));
        });
    }

    #[test]
    fn lists_and_flags() {
        with(&[("L", " a, ,b ,"), ("F", "yes"), ("G", "0")], |env| {
            assert_eq!(env.list("L"), ["a", "b"]);
            assert!(env.list("missing").is_empty());
            assert_eq!(env.flag("F", false), Ok(true));
            assert_eq!(env.flag("G", true), Ok(false));
            assert_eq!(env.flag("missing", true), Ok(true));
        });
    }

    #[test]
    fn the_environment_is_read_first_and_checked() {
        with(&[], |env| assert!(!env.is_production()));
        with(&[("APP_ENV", "production")], |env| {
            assert!(env.is_production())
        });
        let lookup = |name: &str| (name == "APP_ENV").then(|| "staging".to_string());
        assert!(Env::new(&lookup).is_err());
    }

    #[test]
    fn passwords_in_urls_are_redacted_for_logs() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/app", &[]),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(
            redact_url("postgres://u@db/app", &[]),
            "postgres://u@db/app"
        );
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&PASS=hunter2", &["pass"]),
            "redis+unix:///run/redis.sock?db=1&PASS=***"
        );
    }
}
