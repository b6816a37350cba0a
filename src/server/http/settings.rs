//! The HTTP section of the configuration: cross-origin callers, HSTS, time limits, and the
//! development live-reload allowance.

use std::time::Duration;

use crate::server::env::{invalid, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct HttpSettings {
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
}

impl HttpSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let allowed_origins = env
            .list("ALLOWED_ORIGINS")
            .iter()
            .map(|origin| parse_origin(origin))
            .collect::<Result<Vec<_>, _>>()?;
        // cargo-leptos sets LEPTOS_WATCH while `cargo leptos watch` serves the app.
        let dev_live_reload_port = match env.text("LEPTOS_WATCH") {
            Some(_) if !env.is_production() => Some(
                env.text("LEPTOS_RELOAD_PORT")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(3001),
            ),
            _ => None,
        };
        Ok(Self {
            allowed_origins,
            hsts: env.flag("HSTS", env.is_production())?,
            request_timeout: env.secs("REQUEST_TIMEOUT_SECS", 30)?,
            shutdown_timeout: env.secs("SHUTDOWN_TIMEOUT_SECS", 30)?,
            dev_live_reload_port,
        })
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
