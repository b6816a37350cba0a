//! Typed settings, read once at start-up from the environment (and `.env`, via dotenvy in
//! `main`). Every variable is listed in the README's configuration table and `.env.example`.
//!
//! Each section is parsed next to the module that uses it (`auth::settings`, `db::settings`,
//! `http::settings`, `limits::settings`, `mail::settings`), over the small reader in `server::env`; this module
//! only assembles them. Secrets live in `secrecy` types: their `Debug` prints `[REDACTED]`,
//! so logging the settings cannot leak them.

use secrecy::SecretString;

use crate::model::PasswordPolicy;
use crate::server::auth::settings::{
    self as auth_settings, HasherSettings, JwtSettings, PasskeySettings, SessionSettings,
    VerificationMode,
};
use crate::server::db::DatabaseSettings;
use crate::server::http::settings::HttpSettings;
use crate::server::limits::client_ip::{ClientIpHeader, TrustedProxies};
use crate::server::limits::settings::{self as limit_settings, RateLimitSettings, RedisSettings};
use crate::server::mail::MailSettings;
use crate::server::metrics::MetricsSettings;

/// Leptos's listen address when `LEPTOS_SITE_ADDR` is unset.
const DEFAULT_SITE_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 3000);

use crate::server::env::Env;
pub use crate::server::env::{ConfigError, Environment};

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// `false` when `APP_ENV` was not set and development is only the default. A server with
    /// development settings (no `Secure` cookie, no HSTS, a per-process key) must not face a
    /// network by accident, so `startup` then refuses any listen address but loopback.
    pub environment_is_explicit: bool,
    pub database: DatabaseSettings,
    /// Signs access tokens (HS256).
    pub secret_key: SecretString,
    /// `true` when SECRET_KEY was not set and a random one was made for this process.
    pub secret_key_is_ephemeral: bool,
    pub session: SessionSettings,
    pub hasher: HasherSettings,
    /// `EMAIL_VERIFICATION`: must an address be confirmed before its account signs in?
    pub email_verification: VerificationMode,
    /// Rules for new passwords; the browser is told which, and follows it.
    pub password_policy: PasswordPolicy,
    /// Access tokens for the JSON API.
    pub jwt: JwtSettings,
    pub http: HttpSettings,
    /// Per-IP limits on sign-in and registration attempts, and on all requests.
    pub rate_limits: RateLimitSettings,
    /// Proxies whose forwarding header names the real client.
    pub trusted_proxies: TrustedProxies,
    /// The one forwarding header those proxies write; the other kind is never read.
    pub client_ip_header: ClientIpHeader,
    pub redis: RedisSettings,
    /// Outgoing mail: the relay (or development's mailbox folder), the sender, `PUBLIC_URL`.
    pub mail: MailSettings,
    /// `METRICS_ADDR`: the operators' `/metrics` listener, if any.
    pub metrics: MetricsSettings,
    /// Passkeys' relying party (`WEBAUTHN_RP_ID`, `PUBLIC_URL`), or why they are off.
    pub passkeys: PasskeySettings,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of mutating the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup)?;
        let (secret_key, secret_key_is_ephemeral) = auth_settings::secret_key(&env)?;
        let mut settings = Settings {
            environment: env.environment,
            environment_is_explicit: env.text("APP_ENV").is_some(),
            database: DatabaseSettings::from_env(&env)?,
            secret_key,
            secret_key_is_ephemeral,
            session: SessionSettings::from_env(&env)?,
            hasher: HasherSettings::from_env(&env)?,
            password_policy: auth_settings::password_policy(&env)?,
            email_verification: VerificationMode::from_env(&env)?,
            jwt: JwtSettings::from_env(&env)?,
            http: HttpSettings::from_env(&env)?,
            rate_limits: RateLimitSettings::from_env(&env)?,
            trusted_proxies: limit_settings::trusted_proxies(&env)?,
            client_ip_header: limit_settings::client_ip_header(&env)?,
            redis: RedisSettings::from_env(&env)?,
            // Last: a deployment missing several settings hears about the key and cookies
            // first, as it always has.
            mail: MailSettings::from_env(&env)?,
            // Filled in below, from PUBLIC_URL.
            passkeys: PasskeySettings::Unavailable {
                reason: String::new(),
            },
            metrics: MetricsSettings::from_env(
                &env,
                Some(
                    env.text("LEPTOS_SITE_ADDR")
                        .and_then(|addr| addr.parse().ok())
                        .unwrap_or(DEFAULT_SITE_ADDR),
                ),
            )?,
        };
        settings.passkeys = PasskeySettings::from_env(&env, &settings.mail.public_url)?;
        Ok(settings)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use std::time::Duration;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::server::auth::settings::MIN_SECRET_KEY_BYTES;
    use crate::server::db::settings::{
        DatabasePoolSettings, DEFAULT_DATABASE_MAX_CONNECTIONS, DEFAULT_DATABASE_URL,
    };

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const GOOD_KEY: &str = "0123456789abcdef0123456789abcdef";

    /// Everything production requires, and `extra` on top.
    fn production(extra: &[(&'static str, &'static str)]) -> Result<Settings, ConfigError> {
        let mut vars = vec![
            ("APP_ENV", "production"),
            ("SECRET_KEY", GOOD_KEY),
            (
                "SMTP_URL",
                "smtp://mailer:hunter2@smtp.example.com:587?tls=required",
            ),
            ("PUBLIC_URL", "https://auth.example.com"),
        ];
        vars.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        vars.extend_from_slice(extra);
        settings(&vars)
    }

    #[test]
    fn the_failure_floor_is_measured_unless_set_in_whole_milliseconds() {
        assert_eq!(settings(&[]).unwrap().hasher.failure_floor, None);
        let set = settings(&[("SIGN_IN_FAILURE_FLOOR_MS", "450")]).unwrap();
        assert_eq!(set.hasher.failure_floor, Some(Duration::from_millis(450)));
        for bad in ["0.5", "-1", "fast"] {
            assert!(
                settings(&[("SIGN_IN_FAILURE_FLOOR_MS", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn development_defaults_work_without_any_variable() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert!(s.secret_key_is_ephemeral);
        assert!(s.secret_key.expose_secret().len() >= MIN_SECRET_KEY_BYTES);
        assert!(!s.session.cookie_secure);
        assert_eq!(s.session.idle_timeout, Duration::from_secs(1800));
        assert_eq!(s.session.absolute_timeout, Duration::from_secs(604_800));
        assert_eq!(s.database.url.expose_secret(), DEFAULT_DATABASE_URL);
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
        let s = production(&[]).unwrap();
        assert!(s.session.cookie_secure);
        assert_eq!(s.session.cookie_name(), "__Host-gatehouse_session");
        assert!(matches!(
            production(&[("SESSION_COOKIE_SECURE", "false")]),
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
            s.http.allowed_origins,
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
                production(&[("ALLOWED_ORIGINS", bad)]).is_err(),
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
    fn one_client_ip_header_is_read_x_forwarded_for_unless_configured() {
        assert_eq!(
            settings(&[]).unwrap().client_ip_header,
            ClientIpHeader::XForwardedFor
        );
        assert_eq!(
            settings(&[("CLIENT_IP_HEADER", "Forwarded")])
                .unwrap()
                .client_ip_header,
            ClientIpHeader::Forwarded
        );
        for bad in ["x-real-ip", "both", "forwarded,x-forwarded-for"] {
            assert!(
                matches!(
                    settings(&[("CLIENT_IP_HEADER", bad)]),
                    Err(ConfigError::Invalid {
                        name: "CLIENT_IP_HEADER",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_unset_app_env_is_development_by_default_and_known_as_such() {
        assert!(!settings(&[]).unwrap().environment_is_explicit);
        assert!(
            !settings(&[("APP_ENV", " ")])
                .unwrap()
                .environment_is_explicit
        );
        let s = settings(&[("APP_ENV", "development")]).unwrap();
        assert!(s.environment_is_explicit);
        assert_eq!(s.environment, Environment::Development);
    }

    #[test]
    fn hsts_defaults_on_in_production_only() {
        assert!(!settings(&[]).unwrap().http.hsts);
        assert!(production(&[]).unwrap().http.hsts);
        assert!(settings(&[("HSTS", "true")]).unwrap().http.hsts);
    }

    #[test]
    fn live_reload_allowance_exists_only_under_cargo_leptos_watch_in_development() {
        assert_eq!(settings(&[]).unwrap().http.dev_live_reload_port, None);
        assert_eq!(
            settings(&[("LEPTOS_WATCH", "true")])
                .unwrap()
                .http
                .dev_live_reload_port,
            Some(3001)
        );
        let prod = production(&[("LEPTOS_WATCH", "true")]).unwrap();
        assert_eq!(prod.http.dev_live_reload_port, None);
    }

    #[test]
    fn metrics_are_off_by_default_and_never_on_the_site_port() {
        assert_eq!(settings(&[]).unwrap().metrics.addr, None);
        assert_eq!(
            settings(&[("METRICS_ADDR", "127.0.0.1:9100")])
                .unwrap()
                .metrics
                .addr,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        for (site, metrics) in [("", "127.0.0.1:3000"), ("0.0.0.0:8080", "127.0.0.1:8080")] {
            let mut vars = vec![("METRICS_ADDR", metrics)];
            if !site.is_empty() {
                vars.push(("LEPTOS_SITE_ADDR", site));
            }
            assert!(
                matches!(
                    settings(&vars),
                    Err(ConfigError::Invalid {
                        name: "METRICS_ADDR",
                        ..
                    })
                ),
                "{site} / {metrics}"
            );
        }
        assert!(settings(&[("METRICS_ADDR", "localhost")]).is_err());
    }

    #[test]
    fn email_verification_is_required_in_production_and_optional_in_development_by_default() {
        assert_eq!(
            production(&[]).unwrap().email_verification,
            VerificationMode::Required
        );
        assert_eq!(
            settings(&[]).unwrap().email_verification,
            VerificationMode::Optional
        );
        assert_eq!(
            production(&[("EMAIL_VERIFICATION", "optional")])
                .unwrap()
                .email_verification,
            VerificationMode::Optional
        );
        assert_eq!(
            settings(&[("EMAIL_VERIFICATION", "Required")])
                .unwrap()
                .email_verification,
            VerificationMode::Required
        );
        assert!(matches!(
            settings(&[("EMAIL_VERIFICATION", "sometimes")]),
            Err(ConfigError::Invalid {
                name: "EMAIL_VERIFICATION",
                ..
            })
        ));
    }

    #[test]
    fn production_refuses_to_start_without_a_mail_relay_or_a_public_url() {
        for (missing, reason) in [
            ("SMTP_URL", "SMTP_URL is not set"),
            ("PUBLIC_URL", "PUBLIC_URL is not set"),
        ] {
            let error = production(&[(missing, "")]).unwrap_err();
            assert!(
                matches!(error, ConfigError::Insecure(_)),
                "{missing}: {error}"
            );
            assert!(error.to_string().contains(reason), "{error}");
        }
        // Production links must be https: its cookies and pages are.
        assert!(matches!(
            production(&[("PUBLIC_URL", "http://auth.example.com")]),
            Err(ConfigError::Invalid {
                name: "PUBLIC_URL",
                ..
            })
        ));
    }

    #[test]
    fn passkeys_belong_to_the_public_host_or_a_parent_domain_and_are_off_on_an_ip_address() {
        let enabled = |s: Settings| match s.passkeys {
            PasskeySettings::Enabled { rp_id, origin } => (rp_id, origin.to_string()),
            other => panic!("passkeys off: {other:?}"),
        };
        assert_eq!(
            enabled(production(&[]).unwrap()),
            (
                "auth.example.com".into(),
                "https://auth.example.com/".into()
            )
        );
        let parent = production(&[("WEBAUTHN_RP_ID", "Example.com")]).unwrap();
        assert_eq!(enabled(parent).0, "example.com");
        for foreign in [
            "other.com",
            "ample.com",
            "auth.example.com.evil",
            "https://example.com",
        ] {
            assert!(
                matches!(
                    production(&[("WEBAUTHN_RP_ID", foreign)]),
                    Err(ConfigError::Invalid {
                        name: "WEBAUTHN_RP_ID",
                        ..
                    })
                ),
                "{foreign}"
            );
        }
        // An IP address: the rest works there, passkeys cannot, and say so.
        let ip = production(&[("PUBLIC_URL", "https://192.0.2.10")]).unwrap();
        assert!(matches!(
            ip.passkeys,
            PasskeySettings::Unavailable { reason } if reason.contains("domain name")
        ));
        // Development: `localhost` by default; on an IP address, off with the reason.
        assert_eq!(enabled(settings(&[]).unwrap()).0, "localhost");
        let on_ip = settings(&[("PUBLIC_URL", "http://127.0.0.1:3000")]).unwrap();
        assert!(matches!(
            on_ip.passkeys,
            PasskeySettings::Unavailable { reason } if reason.contains("localhost")
        ));
    }

    #[test]
    fn development_writes_mail_to_files_and_links_to_the_listen_address_by_default() {
        use crate::server::mail::TransportSettings;

        let s = settings(&[]).unwrap();
        assert!(matches!(
            &s.mail.transport,
            TransportSettings::Mailbox { dir } if dir.as_path() == std::path::Path::new("data/mail")
        ));
        assert_eq!(s.mail.transport.describe_for_logs(), "files in data/mail");
        assert_eq!(s.mail.public_url.origin(), "http://localhost:3000");
        assert_eq!(s.mail.from.to_string(), "Gatehouse <no-reply@localhost>");
        let s = settings(&[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:8080"),
            ("MAIL_DIR", "/tmp/gatehouse-mail"),
        ])
        .unwrap();
        assert_eq!(s.mail.public_url.origin(), "http://0.0.0.0:8080");
        assert_eq!(
            s.mail.transport.describe_for_logs(),
            "files in /tmp/gatehouse-mail"
        );
    }

    #[test]
    fn the_sender_defaults_to_no_reply_at_the_public_host_and_is_checked() {
        let s = production(&[]).unwrap();
        assert_eq!(
            s.mail.from.to_string(),
            "Gatehouse <no-reply@auth.example.com>"
        );
        let s = settings(&[("MAIL_FROM", "Support <help@example.com>")]).unwrap();
        assert_eq!(s.mail.from.to_string(), "Support <help@example.com>");
        for bad in ["not an address", "Gatehouse <no-reply>", "a@b@c"] {
            assert!(
                matches!(
                    settings(&[("MAIL_FROM", bad)]),
                    Err(ConfigError::Invalid {
                        name: "MAIL_FROM",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        for bad in [
            "auth.example.com",
            "https://auth.example.com/app",
            "ftp://x.example",
        ] {
            assert!(
                matches!(
                    settings(&[("PUBLIC_URL", bad)]),
                    Err(ConfigError::Invalid {
                        name: "PUBLIC_URL",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_relay_password_never_reaches_debug_output_or_logs() {
        let s = production(&[]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.mail.transport.describe_for_logs(),
            "smtp://mailer:***@smtp.example.com:587?tls=required"
        );
        let error = settings(&[("SMTP_URL", "smtp://mailer:hunter2@relay?tls=maybe")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        // A password that would cross the network in clear stops a production start.
        let error =
            production(&[("SMTP_URL", "smtp://mailer:hunter2@smtp.example.com:25")]).unwrap_err();
        assert!(matches!(error, ConfigError::Insecure(_)), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
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
        assert!(s.redis.url.is_none());
        assert_eq!(s.redis.url_for_logs(), None);
        assert_eq!(s.redis.key_prefix, "gatehouse");
        let s = settings(&[
            ("REDIS_URL", "redis://127.0.0.1:6379/2"),
            ("REDIS_KEY_PREFIX", "staging-gh"),
        ])
        .unwrap();
        assert_eq!(
            s.redis.url.as_ref().map(|u| u.expose_secret().to_string()),
            Some("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(s.redis.key_prefix, "staging-gh");
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
            s.redis.url_for_logs().as_deref(),
            Some("redis://app:***@cache:6379/0")
        );
        let s = settings(&[(
            "REDIS_URL",
            "redis+unix:///run/redis.sock?db=1&pass=hunter2",
        )])
        .unwrap();
        assert_eq!(
            s.redis.url_for_logs().as_deref(),
            Some("redis+unix:///run/redis.sock?db=1&pass=***")
        );
    }

    #[test]
    fn database_url_password_is_redacted_for_logs() {
        let redacted = |url: &str| {
            settings(&[("DATABASE_URL", url)])
                .unwrap()
                .database
                .url_for_logs()
        };
        assert_eq!(
            redacted("postgres://u:hunter2@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(redacted("postgres://u@db/app"), "postgres://u@db/app");
        assert_eq!(redacted(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn every_setting_has_its_default_without_any_variable() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.hasher.queue_limit, 64);
        assert!(s.hasher.concurrency >= 1);
        assert_eq!(s.jwt.issuer, "gatehouse");
        assert_eq!(s.jwt.ttl_secs, 1800);
        assert_eq!(s.http.request_timeout, Duration::from_secs(30));
        assert_eq!(s.http.shutdown_timeout, Duration::from_secs(30));
        assert!(s.http.allowed_origins.is_empty());
        assert_eq!(s.password_policy, PasswordPolicy::default());
        assert!(settings(&[("PASSWORD_POLICY", "lax")]).is_err());
        assert!(settings(&[("PASSWORD_HASH_CONCURRENCY", "0")]).is_err());
        assert_eq!(
            settings(&[("PASSWORD_HASH_QUEUE", "0")])
                .unwrap()
                .hasher
                .queue_limit,
            0
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
            s.database.url_for_logs(),
            "postgres://gatehouse:***@db.internal:5432/gatehouse?sslmode=require"
        );
        let s = settings(&[(
            "DATABASE_URL",
            "postgresql://gatehouse@db/app?sslmode=require&Password=hunter2",
        )])
        .unwrap();
        assert_eq!(
            s.database.url_for_logs(),
            "postgresql://gatehouse@db/app?sslmode=require&Password=***"
        );
        // A password containing `@` (percent-encoding is optional for it in practice).
        let s = settings(&[("DATABASE_URL", "postgres://u:hun@ter2@db/app")]).unwrap();
        assert_eq!(s.database.url_for_logs(), "postgres://u:***@db/app");
        assert!(!format!("{s:?}").contains("ter2"));
    }

    #[test]
    fn the_database_pool_defaults_and_is_configurable() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database.pool,
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
        assert_eq!(s.database.pool.max_connections, 25);
        assert_eq!(s.database.pool.acquire_timeout, Duration::from_secs(2));
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

    #[test]
    fn the_credential_cache_is_one_second_on_sqlite_off_on_postgres_and_bounded() {
        assert_eq!(settings(&[]).unwrap().database.credential_cache_secs, 1);
        // Several instances share a PostgreSQL database: off unless a bound is chosen.
        let postgres = ("DATABASE_URL", "postgres://db/gatehouse");
        assert_eq!(
            settings(&[postgres])
                .unwrap()
                .database
                .credential_cache_secs,
            0
        );
        let chosen = settings(&[postgres, ("CREDENTIAL_CACHE_SECS", "2")]).unwrap();
        assert_eq!(chosen.database.credential_cache_secs, 2);
        for (value, secs) in [("0", 0), ("60", 60)] {
            let s = settings(&[("CREDENTIAL_CACHE_SECS", value)]).unwrap();
            assert_eq!(s.database.credential_cache_secs, secs, "{value}");
        }
        for bad in ["61", "-1", "1s"] {
            assert!(
                matches!(
                    settings(&[("CREDENTIAL_CACHE_SECS", bad)]),
                    Err(ConfigError::Invalid {
                        name: "CREDENTIAL_CACHE_SECS",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
