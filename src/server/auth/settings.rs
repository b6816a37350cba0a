//! The auth section of the configuration: sessions, access tokens, password hashing.

use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use url::{Host, Url};

use crate::model::PasswordPolicy;
use crate::server::env::{invalid, ConfigError, Env};
use crate::server::mail::PublicUrl;

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
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HasherSettings {
    /// Concurrent argon2 computations; each holds ~19 MiB while it runs.
    pub concurrency: usize,
    /// Sign-ins waiting for an argon2 slot beyond this get 503 + Retry-After.
    pub queue_limit: usize,
    /// `SIGN_IN_FAILURE_FLOOR_MS`: the least time a failed sign-in takes; `None` (unset)
    /// measures it at start-up (see `auth::failure_floor`).
    pub failure_floor: Option<Duration>,
}

/// HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2).
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// `SECRET_KEY`, which signs access tokens: required in production (32+ bytes); in
/// development a missing or short key is replaced by a random one for this process (`true`
/// in the answer; the binary warns about it).
pub fn secret_key(env: &Env) -> Result<(SecretString, bool), ConfigError> {
    let key = env.secret("SECRET_KEY");
    let long_enough = key
        .as_ref()
        .is_some_and(|k| k.expose_secret().len() >= MIN_SECRET_KEY_BYTES);
    match key {
        Some(key) if long_enough => Ok((key, false)),
        Some(_) if env.is_production() => Err(ConfigError::Insecure(format!(
            "SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes"
        ))),
        None if env.is_production() => Err(ConfigError::Insecure("SECRET_KEY is not set".into())),
        _ => Ok((random_secret_key(), true)),
    }
}

fn random_secret_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl SessionSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let cookie_secure = env.flag("SESSION_COOKIE_SECURE", env.is_production())?;
        if env.is_production() && !cookie_secure {
            return Err(ConfigError::Insecure(
                "SESSION_COOKIE_SECURE=false is only allowed in development".into(),
            ));
        }
        let idle_timeout = env.secs("SESSION_IDLE_TIMEOUT_SECS", 30 * 60)?;
        let absolute_timeout = env.secs("SESSION_ABSOLUTE_TIMEOUT_SECS", 7 * 24 * 60 * 60)?;
        if idle_timeout > absolute_timeout {
            return Err(invalid(
                "SESSION_IDLE_TIMEOUT_SECS",
                "must not exceed SESSION_ABSOLUTE_TIMEOUT_SECS",
            ));
        }
        Ok(Self {
            idle_timeout,
            absolute_timeout,
            cookie_secure,
        })
    }
}

impl JwtSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: env.text_or("JWT_ISSUER", "gatehouse"),
            audience: env.text_or("JWT_AUDIENCE", "gatehouse-api"),
            ttl_secs: env.secs("JWT_TTL_SECS", 30 * 60)?.as_secs() as i64,
        })
    }
}

impl HasherSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(Self {
            concurrency: env.positive("PASSWORD_HASH_CONCURRENCY", cores)?,
            queue_limit: env.number("PASSWORD_HASH_QUEUE", 64)?,
            failure_floor: env.parsed(
                "SIGN_IN_FAILURE_FLOOR_MS",
                None,
                |v| v.parse().ok().map(|ms| Some(Duration::from_millis(ms))),
                "expected a whole number of milliseconds",
            )?,
        })
    }
}

/// `PASSWORD_POLICY`: `nist` (the default) or `seed`.
/// `EMAIL_VERIFICATION`: whether an account must confirm its address before it can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// Sign-up never signs in, and answers alike whether or not the address already has an
    /// account (no email oracle); sign-in waits for the confirmation. Production's default:
    /// every address is proven, and registration tells nobody who has an account.
    Required,
    /// Sign-up signs in at once, as before; unconfirmed accounts see a banner until they
    /// confirm. Development's default: `scripts/run.sh` works with no mailbox to open.
    Optional,
}

impl VerificationMode {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = if env.is_production() {
            Self::Required
        } else {
            Self::Optional
        };
        env.parsed(
            "EMAIL_VERIFICATION",
            default,
            |name| match name.to_ascii_lowercase().as_str() {
                "required" => Some(Self::Required),
                "optional" => Some(Self::Optional),
                _ => None,
            },
            "expected `required` or `optional`",
        )
    }

    pub fn is_required(self) -> bool {
        self == Self::Required
    }
}

pub fn password_policy(env: &Env) -> Result<PasswordPolicy, ConfigError> {
    env.parsed(
        "PASSWORD_POLICY",
        PasswordPolicy::default(),
        PasswordPolicy::from_name,
        "expected `nist` or `seed`",
    )
}

/// Passkeys' relying party (WebAuthn): the id credentials are bound to, a domain, and the one
/// origin whose pages may use them. Both come from `PUBLIC_URL`; `WEBAUTHN_RP_ID` may widen the
/// id to a parent domain (`example.com` for `https://auth.example.com`), so passkeys keep
/// working if the app moves to another sub-domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasskeySettings {
    Enabled {
        rp_id: String,
        origin: Url,
    },
    /// Development served from an IP address: browsers refuse an IP as relying-party id, so
    /// passkeys are off and the pages say why (and how to turn them on).
    Unavailable {
        reason: String,
    },
}

/// Why development's passkeys can be off, as the pages show it.
pub const PASSKEYS_NEED_A_DOMAIN: &str = "Passkeys need the site to be opened by a domain name, \
     not an IP address: set PUBLIC_URL=http://localhost:3000 and open that address.";

/// The same, in production, where the address is the operator's to change.
pub const PASSKEYS_NEED_A_PUBLIC_DOMAIN: &str =
    "Passkeys are off here: this site is served from an IP address, and passkeys need a domain name.";

impl PasskeySettings {
    /// From `WEBAUTHN_RP_ID` and `PUBLIC_URL`. An id that is not the public host or a parent
    /// domain of it refuses to start (every ceremony would fail in the browser). A public
    /// address that is an IP leaves passkeys off (WebAuthn accepts only domains), with the
    /// reason for the pages and, at start-up, the log.
    pub fn from_env(env: &Env, public_url: &PublicUrl) -> Result<Self, ConfigError> {
        let origin = public_url.url().clone();
        let host = match origin.host() {
            Some(Host::Domain(domain)) => domain.to_ascii_lowercase(),
            // Everything else works on an IP address (an internal deployment, a test rig), so
            // it is not a reason to refuse to start: passkeys are off, and say why.
            _ => {
                let reason = if env.is_production() {
                    PASSKEYS_NEED_A_PUBLIC_DOMAIN
                } else {
                    PASSKEYS_NEED_A_DOMAIN
                };
                return Ok(Self::Unavailable {
                    reason: reason.into(),
                });
            }
        };
        let rp_id = match env.text("WEBAUTHN_RP_ID") {
            None => host,
            Some(raw) => {
                let id = raw.trim_end_matches('.').to_ascii_lowercase();
                let suffix_of_host = host == id || host.ends_with(&format!(".{id}"));
                if id.is_empty() || id.contains(['/', ':']) || !suffix_of_host {
                    // In either environment: a mismatch makes every passkey ceremony fail in
                    // the browser, which is better said once at start-up.
                    return Err(invalid(
                        "WEBAUTHN_RP_ID",
                        format!(
                            "`{raw}` must be PUBLIC_URL's host ({host}) or a parent domain of it"
                        ),
                    ));
                }
                id
            }
        };
        Ok(Self::Enabled { rp_id, origin })
    }
}
