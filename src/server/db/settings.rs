//! The database section of the configuration: which database, and the connection pool.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::server::env::{redact_url, ConfigError, Env};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db?mode=rwc";
/// One default for both backends: plenty for one instance, and several instances still fit
/// in PostgreSQL's default `max_connections` of 100.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;
/// On SQLite, one second: enough for a page and the requests right after it to share one
/// lookup. SQLite means one instance (docs/deploy.md), where the memory is never stale.
pub const DEFAULT_SQLITE_CREDENTIAL_CACHE_SECS: u64 = 1;
/// A revocation that takes longer than this to reach every instance is not one.
pub const MAX_CREDENTIAL_CACHE_SECS: u64 = 60;

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite:…`, `postgres://…` or `postgresql://…`. A secret: it may carry a password.
    pub url: SecretString,
    /// The connection pool, for whichever database `url` names.
    pub pool: DatabasePoolSettings,
    /// `CREDENTIAL_CACHE_SECS`: how long an answer to "whose session is this" or "whose
    /// access token is this" may be used from memory (`CachedStore`); `0`: never. Bounds how
    /// long another instance may still accept a session or token that one instance ended.
    pub credential_cache_secs: u64,
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

impl DatabaseSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.text_or("DATABASE_URL", DEFAULT_DATABASE_URL);
        Ok(Self {
            credential_cache_secs: credential_cache_secs(env, &url)?,
            url: SecretString::from(url),
            pool: DatabasePoolSettings {
                max_connections: env
                    .positive("DATABASE_MAX_CONNECTIONS", DEFAULT_DATABASE_MAX_CONNECTIONS)?,
                acquire_timeout: env.secs("DATABASE_ACQUIRE_TIMEOUT_SECS", 5)?,
            },
        })
    }

    /// The URL with any password replaced, for logs: the user-info one, and the `password=`
    /// query parameter that PostgreSQL URLs also accept.
    pub fn url_for_logs(&self) -> String {
        redact_url(self.url.expose_secret(), &["password"])
    }
}

/// `CREDENTIAL_CACHE_SECS`, or its default for the backend `url` names: on SQLite, the one
/// instance forgets what it ends, so the memory is exact (`DEFAULT_SQLITE_CREDENTIAL_CACHE_SECS`);
/// on PostgreSQL, where several instances share the database, none, so that a session ended on
/// one instance is refused by every other one at once unless the deployment chooses a bound.
fn credential_cache_secs(env: &Env, url: &str) -> Result<u64, ConfigError> {
    let default = match super::Backend::of_url(url) {
        Some(super::Backend::Sqlite) => DEFAULT_SQLITE_CREDENTIAL_CACHE_SECS,
        _ => 0,
    };
    env.parsed(
        "CREDENTIAL_CACHE_SECS",
        default,
        |v| v.parse().ok().filter(|secs| *secs <= MAX_CREDENTIAL_CACHE_SECS),
        &format!(
            "expected whole seconds from 0 to {MAX_CREDENTIAL_CACHE_SECS}: it is how long another instance may still accept an ended session"
        ),
    )
}
