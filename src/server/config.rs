//! Typed settings, read once at start-up from the environment (and `.env`, via dotenvy in
//! `main`). Every variable is listed in the README's configuration table and `.env.example`.
//!
//! Secrets live in `secrecy` types: their `Debug` prints `[REDACTED]`, so logging the settings
//! cannot leak them.

use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::model::PasswordPolicy;
use crate::server::limits::client_ip::TrustedProxies;
use crate::server::limits::Rule;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db?mode=rwc";
/// One default for both backends: plenty for one instance, and several instances still fit
/// in PostgreSQL's default `max_connections` of 100.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;
/// HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2).
pub const MIN_SECRET_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused for this long ends (ASVS 7.3.1).
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active (ASVS 7.3.2).
    pub absolute_timeout: Duration,
    /// `true`: the cookie is `__Host-…; Secure`. Only development may turn it off, for plain
    /// http on a machine other than localhost.
    pub cookie_secure: bool,
}

impl SessionSettings {
    pub fn cookie_name(&self) -> &'static str {
        if self.cookie_secure {
            // `__Host-`: the browser only accepts it with Secure, Path=/ and no Domain, so a
            // sibling sub-domain cannot plant or overwrite it.
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: SecretString,
    /// The connection pool, for whichever database `database_url` names.
    pub database_pool: DatabasePoolSettings,
    pub secret_key: SecretString,
    /// `true` when SECRET_KEY was not set and a random one was made for this process.
    pub secret_key_is_ephemeral: bool,
    pub session: SessionSettings,
    /// Concurrent argon2 computations; each holds ~19 MiB while it runs.
    pub hash_concurrency: usize,
    /// Rules for new passwords; the browser is told which, and follows it.
    pub password_policy: PasswordPolicy,
    /// Other origins (exact `scheme://host[:port]`) allowed to call the JSON API with
    /// credentials (CORS) and to post to cookie-authenticated endpoints (CSRF check).
    pub allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security`. On by default in production, where TLS is assumed
    /// (directly or at the proxy).
    pub hsts: bool,
    /// A request that has not completed in this time is answered 408.
    pub request_timeout: Duration,
    /// After SIGTERM/SIGINT: how long in-flight requests may take to finish before the
    /// process exits anyway.
    pub shutdown_timeout: Duration,
    /// `cargo leptos watch` is running: the CSP lets the page open the live-reload socket.
    pub dev_live_reload_port: Option<u16>,
    /// Per-IP limits on sign-in and registration attempts, and on all requests.
    pub rate_limits: RateLimitSettings,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers name the real client.
    pub trusted_proxies: TrustedProxies,
    /// Sign-ins waiting for an argon2 slot beyond this get 503 + Retry-After.
    pub hash_queue_limit: usize,
    /// Access tokens for the JSON API.
    pub jwt: JwtSettings,
    /// Where rate-limit and throttle counters are shared between instances. `None`: each
    /// process counts on its own. A secret: the URL may carry a password.
    pub redis_url: Option<SecretString>,
    /// Prepended to every Redis key (`<prefix>:rl:…`, `<prefix>:thr:…`), so several apps or
    /// environments can share one Redis.
    pub redis_key_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePoolSettings {
    /// Connections the pool may hold open at once. Several app instances sharing one
    /// PostgreSQL server together must stay under its `max_connections` (100 by default).
    pub max_connections: u32,
    /// How long a query waits for a free connection, including opening a new one, before it
    /// fails (answered 500 / readiness 503) instead of hanging the request.
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: i64,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub login: Rule,
    pub register: Rule,
    pub global: Rule,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("refusing to start in production: {0}")]
    Insecure(String),
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of mutating the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let environment = match get("APP_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "APP_ENV",
                    format!("expected `development` or `production`, got `{other}`"),
                ))
            }
        };
        let production = environment == Environment::Production;

        let (secret_key, secret_key_is_ephemeral) =
            match lookup("SECRET_KEY").filter(|v| !v.is_empty()) {
                Some(key) if key.len() >= MIN_SECRET_KEY_BYTES => (SecretString::from(key), false),
                Some(_) if production => {
                    return Err(ConfigError::Insecure(format!(
                        "SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes"
                    )))
                }
                None if production => {
                    return Err(ConfigError::Insecure("SECRET_KEY is not set".into()))
                }
                // Development: a short or missing key is replaced by a random one for this process;
                // main() warns about it.
                _ => (generate_secret_key(), true),
            };

        let cookie_secure = match get("SESSION_COOKIE_SECURE") {
            Some(v) => parse_bool("SESSION_COOKIE_SECURE", &v)?,
            None => production,
        };
        if production && !cookie_secure {
            return Err(ConfigError::Insecure(
                "SESSION_COOKIE_SECURE=false is only allowed in development".into(),
            ));
        }

        let idle = parse_secs(&get, "SESSION_IDLE_TIMEOUT_SECS", 30 * 60)?;
        let absolute = parse_secs(&get, "SESSION_ABSOLUTE_TIMEOUT_SECS", 7 * 24 * 60 * 60)?;
        if idle > absolute {
            return Err(invalid(
                "SESSION_IDLE_TIMEOUT_SECS",
                "must not exceed SESSION_ABSOLUTE_TIMEOUT_SECS",
            ));
        }

        let default_concurrency = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hash_concurrency = match get("PASSWORD_HASH_CONCURRENCY") {
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    "PASSWORD_HASH_CONCURRENCY",
                    "expected a positive whole number",
                )
            })?,
            None => default_concurrency,
        };

        let allowed_origins = match get("ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(parse_origin)
                .collect::<Result<Vec<_>, _>>()?,
        };

        let hsts = match get("HSTS") {
            Some(v) => parse_bool("HSTS", &v)?,
            None => production,
        };

        let request_timeout = parse_secs(&get, "REQUEST_TIMEOUT_SECS", 30)?;
        let shutdown_timeout = parse_secs(&get, "SHUTDOWN_TIMEOUT_SECS", 30)?;

        let rule = |name: &'static str, var: &'static str, default: &str| {
            let spec = get(var).unwrap_or_else(|| default.to_string());
            Rule::parse(name, &spec).ok_or_else(|| {
                invalid(
                    var,
                    format!("`{spec}`: expected N/second, N/minute, N/hour or N/day"),
                )
            })
        };
        let rate_limits = RateLimitSettings {
            login: rule("login", "RATE_LIMIT_LOGIN", "5/minute")?,
            register: rule("register", "RATE_LIMIT_REGISTER", "10/hour")?,
            global: rule("global", "RATE_LIMIT_GLOBAL", "600/minute")?,
        };
        let trusted_proxies = TrustedProxies::parse(&get("TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|reason| invalid("TRUSTED_PROXIES", reason))?;
        let hash_queue_limit = match get("PASSWORD_HASH_QUEUE") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| invalid("PASSWORD_HASH_QUEUE", "expected a whole number"))?,
            None => 64,
        };

        let database_pool = DatabasePoolSettings {
            max_connections: match get("DATABASE_MAX_CONNECTIONS") {
                Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    invalid(
                        "DATABASE_MAX_CONNECTIONS",
                        "expected a positive whole number",
                    )
                })?,
                None => DEFAULT_DATABASE_MAX_CONNECTIONS,
            },
            acquire_timeout: parse_secs(&get, "DATABASE_ACQUIRE_TIMEOUT_SECS", 5)?,
        };

        let jwt = JwtSettings {
            issuer: get("JWT_ISSUER").unwrap_or_else(|| "gatehouse".into()),
            audience: get("JWT_AUDIENCE").unwrap_or_else(|| "gatehouse-api".into()),
            ttl_secs: parse_secs(&get, "JWT_TTL_SECS", 30 * 60)?.as_secs() as i64,
        };

        let redis_url = match get("REDIS_URL") {
            None => None,
            // Checked now, so a typo stops the start rather than silently falling back to
            // per-instance limits. The reason never repeats the URL: it may hold a password.
            Some(url) => match ::redis::Client::open(url.as_str()) {
                Ok(_) => Some(SecretString::from(url)),
                // The client's messages are fixed texts ("Missing hostname", …).
                Err(error) => {
                    return Err(invalid(
                        "REDIS_URL",
                        format!(
                            "{error}; expected redis://[user:password@]host[:port][/db] \
                             or redis+unix:///path/to/socket"
                        ),
                    ))
                }
            },
        };
        let redis_key_prefix = get("REDIS_KEY_PREFIX").unwrap_or_else(|| "gatehouse".into());
        if redis_key_prefix.len() > 64
            || !redis_key_prefix
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '*')
        {
            return Err(invalid(
                "REDIS_KEY_PREFIX",
                "expected up to 64 printable ASCII characters, no spaces or `*`",
            ));
        }

        let password_policy = match get("PASSWORD_POLICY") {
            None => PasswordPolicy::default(),
            Some(name) => PasswordPolicy::from_name(&name)
                .ok_or_else(|| invalid("PASSWORD_POLICY", "expected `nist` or `seed`"))?,
        };

        // cargo-leptos sets LEPTOS_WATCH while `cargo leptos watch` serves the app.
        let dev_live_reload_port =
            match (production, get("LEPTOS_WATCH"), get("LEPTOS_RELOAD_PORT")) {
                (false, Some(_), port) => Some(port.and_then(|p| p.parse().ok()).unwrap_or(3001)),
                _ => None,
            };

        Ok(Settings {
            environment,
            database_url: SecretString::from(
                get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            ),
            database_pool,
            secret_key,
            secret_key_is_ephemeral,
            session: SessionSettings {
                idle_timeout: idle,
                absolute_timeout: absolute,
                cookie_secure,
            },
            hash_concurrency,
            password_policy,
            allowed_origins,
            hsts,
            request_timeout,
            shutdown_timeout,
            dev_live_reload_port,
            rate_limits,
            trusted_proxies,
            hash_queue_limit,
            jwt,
            redis_url,
            redis_key_prefix,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The database URL with any password replaced, for logs: the user-info one, and the
    /// `password=` query parameter that PostgreSQL URLs also accept.
    pub fn database_url_for_logs(&self) -> String {
        redact_query_params(
            &redact_url_password(self.database_url.expose_secret()),
            &["password"],
        )
    }

    /// The Redis URL with any password replaced, for logs; `None` when Redis is not used.
    pub fn redis_url_for_logs(&self) -> Option<String> {
        self.redis_url
            .as_ref()
            .map(|url| redact_redis_url(url.expose_secret()))
    }
}

/// An allowed origin must be exactly `scheme://host[:port]`, because browsers send exactly
/// that and it is compared as a string. `*` and `null` are refused outright: a wildcard with
/// credentials is forbidden by the CORS spec, and `null` is what sandboxed frames and
/// `file:` pages send, so trusting it trusts anyone.
fn parse_origin(raw: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| invalid("ALLOWED_ORIGINS", format!("`{raw}`: {reason}"));
    if raw == "*" {
        return Err(bad("a wildcard origin is never allowed"));
    }
    if raw.eq_ignore_ascii_case("null") {
        return Err(bad("the `null` origin is never allowed"));
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(bad("expected scheme://host[:port]"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*', ' ']) {
        return Err(bad(
            "expected scheme://host[:port] with no path, user or wildcard",
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

fn generate_secret_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(name, "expected true or false")),
    }
}

fn parse_secs(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| invalid(name, "expected a positive number of seconds")),
    }
}

/// `postgres://user:hunter2@host/db` → `postgres://user:***@host/db`.
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

/// As `redact_url_password`, and also the `pass=` query parameter that `redis+unix://` URLs
/// use for the password.
fn redact_redis_url(url: &str) -> String {
    redact_query_params(&redact_url_password(url), &["pass"])
}

/// `…?db=1&pass=hunter2` → `…?db=1&pass=***` for each parameter in `names` (any case).
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

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const GOOD_KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn development_defaults_work_without_any_variable() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert!(s.secret_key_is_ephemeral);
        assert!(s.secret_key.expose_secret().len() >= MIN_SECRET_KEY_BYTES);
        assert!(!s.session.cookie_secure);
        assert_eq!(s.session.idle_timeout, Duration::from_secs(1800));
        assert_eq!(s.session.absolute_timeout, Duration::from_secs(604_800));
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn production_refuses_missing_or_short_secret_key() {
        assert!(matches!(
            settings(&[("APP_ENV", "production")]),
            Err(ConfigError::Insecure(_))
        ));
        assert!(matches!(
            settings(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]),
            Err(ConfigError::Insecure(_))
        ));
    }

    #[test]
    fn production_forces_secure_cookies() {
        let s = settings(&[("APP_ENV", "production"), ("SECRET_KEY", GOOD_KEY)]).unwrap();
        assert!(s.session.cookie_secure);
        assert_eq!(s.session.cookie_name(), "__Host-gatehouse_session");
        assert!(matches!(
            settings(&[
                ("APP_ENV", "production"),
                ("SECRET_KEY", GOOD_KEY),
                ("SESSION_COOKIE_SECURE", "false")
            ]),
            Err(ConfigError::Insecure(_))
        ));
    }

    #[test]
    fn rejects_unknown_environment_and_bad_numbers() {
        assert!(settings(&[("APP_ENV", "staging")]).is_err());
        assert!(settings(&[("SESSION_IDLE_TIMEOUT_SECS", "soon")]).is_err());
        assert!(settings(&[("SESSION_IDLE_TIMEOUT_SECS", "0")]).is_err());
        assert!(settings(&[
            ("SESSION_IDLE_TIMEOUT_SECS", "100"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECS", "50")
        ])
        .is_err());
    }

    #[test]
    fn allowed_origins_are_exact_and_never_wildcards() {
        let s = settings(&[(
            "ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            s.allowed_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "null",
            "app.example.com",
            "https://app.example.com/",
            "ftp://x.example",
            "https://*.example.com",
        ] {
            assert!(settings(&[("ALLOWED_ORIGINS", bad)]).is_err(), "{bad}");
            assert!(
                settings(&[
                    ("APP_ENV", "production"),
                    ("SECRET_KEY", GOOD_KEY),
                    ("ALLOWED_ORIGINS", bad)
                ])
                .is_err(),
                "{bad} in production"
            );
        }
    }

    #[test]
    fn rate_limits_default_to_the_seed_and_are_configurable() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.rate_limits.login.burst, s.rate_limits.login.period),
            (5, Duration::from_secs(60))
        );
        let s = settings(&[
            ("RATE_LIMIT_LOGIN", "20/hour"),
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
        ])
        .unwrap();
        assert_eq!(
            (s.rate_limits.login.burst, s.rate_limits.login.period),
            (20, Duration::from_secs(3600))
        );
        assert!(s.trusted_proxies.contains(&"10.1.2.3".parse().unwrap()));
        assert!(settings(&[("RATE_LIMIT_LOGIN", "lots")]).is_err());
        assert!(settings(&[("TRUSTED_PROXIES", "everyone")]).is_err());
    }

    #[test]
    fn hsts_defaults_on_in_production_only() {
        assert!(!settings(&[]).unwrap().hsts);
        assert!(
            settings(&[("APP_ENV", "production"), ("SECRET_KEY", GOOD_KEY)])
                .unwrap()
                .hsts
        );
        assert!(settings(&[("HSTS", "true")]).unwrap().hsts);
    }

    #[test]
    fn live_reload_allowance_exists_only_under_cargo_leptos_watch_in_development() {
        assert_eq!(settings(&[]).unwrap().dev_live_reload_port, None);
        assert_eq!(
            settings(&[("LEPTOS_WATCH", "true")])
                .unwrap()
                .dev_live_reload_port,
            Some(3001)
        );
        let prod = settings(&[
            ("APP_ENV", "production"),
            ("SECRET_KEY", GOOD_KEY),
            ("LEPTOS_WATCH", "true"),
        ])
        .unwrap();
        assert_eq!(prod.dev_live_reload_port, None);
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = settings(&[
            ("SECRET_KEY", GOOD_KEY),
            ("DATABASE_URL", "postgres://u:hunter2@db/app"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains(GOOD_KEY));
        assert!(!debug.contains("hunter2"));
    }

    #[test]
    fn redis_is_optional_and_its_prefix_defaults_to_the_app_name() {
        let s = settings(&[]).unwrap();
        assert!(s.redis_url.is_none());
        assert_eq!(s.redis_url_for_logs(), None);
        assert_eq!(s.redis_key_prefix, "gatehouse");
        let s = settings(&[
            ("REDIS_URL", "redis://127.0.0.1:6379/2"),
            ("REDIS_KEY_PREFIX", "staging-gh"),
        ])
        .unwrap();
        assert_eq!(
            s.redis_url.as_ref().map(|u| u.expose_secret().to_string()),
            Some("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(s.redis_key_prefix, "staging-gh");
    }

    #[test]
    fn malformed_redis_settings_stop_the_start_without_echoing_the_url() {
        for bad in [
            "localhost:6379",
            "http://:hunter2@cache:6379",
            "redis://:hunter2@cache:6379/not-a-db",
            // TLS would need a TLS client built in; refuse it rather than connect in clear.
            "rediss://:hunter2@cache:6379",
        ] {
            let err = settings(&[("REDIS_URL", bad)]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "REDIS_URL",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        for bad in ["with space", "a*b", &"x".repeat(65)] {
            assert!(settings(&[("REDIS_KEY_PREFIX", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_redis_password_never_reaches_debug_output_or_logs() {
        let s = settings(&[("REDIS_URL", "redis://app:hunter2@cache:6379/0")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.redis_url_for_logs().as_deref(),
            Some("redis://app:***@cache:6379/0")
        );
        assert_eq!(
            redact_redis_url("redis://:hunter2@cache"),
            "redis://:***@cache"
        );
        assert_eq!(
            redact_redis_url("redis+unix:///run/redis.sock?db=1&pass=hunter2"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
    }

    #[test]
    fn database_url_password_is_redacted_for_logs() {
        assert_eq!(
            redact_url_password("postgres://u:hunter2@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(
            redact_url_password("postgres://u@db/app"),
            "postgres://u@db/app"
        );
        assert_eq!(
            redact_url_password(DEFAULT_DATABASE_URL),
            DEFAULT_DATABASE_URL
        );
    }

    #[test]
    fn a_postgres_password_is_redacted_wherever_the_url_carries_it() {
        let s = settings(&[(
            "DATABASE_URL",
            "postgres://gatehouse:hunter2@db.internal:5432/gatehouse?sslmode=require",
        )])
        .unwrap();
        assert_eq!(
            s.database_url_for_logs(),
            "postgres://gatehouse:***@db.internal:5432/gatehouse?sslmode=require"
        );
        let s = settings(&[(
            "DATABASE_URL",
            "postgresql://gatehouse@db/app?sslmode=require&Password=hunter2",
        )])
        .unwrap();
        assert_eq!(
            s.database_url_for_logs(),
            "postgresql://gatehouse@db/app?sslmode=require&Password=***"
        );
        // A password containing `@` (percent-encoding is optional for it in practice).
        let s = settings(&[("DATABASE_URL", "postgres://u:hun@ter2@db/app")]).unwrap();
        assert_eq!(s.database_url_for_logs(), "postgres://u:***@db/app");
        assert!(!format!("{s:?}").contains("ter2"));
    }

    #[test]
    fn the_database_pool_defaults_and_is_configurable() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database_pool,
            DatabasePoolSettings {
                max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
                acquire_timeout: Duration::from_secs(5),
            }
        );
        let s = settings(&[
            ("DATABASE_MAX_CONNECTIONS", "25"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
        ])
        .unwrap();
        assert_eq!(s.database_pool.max_connections, 25);
        assert_eq!(s.database_pool.acquire_timeout, Duration::from_secs(2));
        for (name, bad) in [
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_MAX_CONNECTIONS", "-1"),
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "0"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "5s"),
        ] {
            assert!(
                matches!(settings(&[(name, bad)]), Err(ConfigError::Invalid { name: n, .. }) if n == name),
                "{name}={bad}"
            );
        }
    }
}
