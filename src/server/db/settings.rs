//! The database section of the configuration: which database, and the connection pool.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::server::env::{redact_url, ConfigError, Env};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db?mode=rwc";
/// One default for both backends: plenty for one instance, and several instances still fit
/// in PostgreSQL's default `max_connections` of 100.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite:…`, `postgres://…` or `postgresql://…`. A secret: it may carry a password.
    pub url: SecretString,
    /// The connection pool, for whichever database `url` names.
    pub pool: DatabasePoolSettings,
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
        Ok(Self {
            url: SecretString::from(env.text_or("DATABASE_URL", DEFAULT_DATABASE_URL)),
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
