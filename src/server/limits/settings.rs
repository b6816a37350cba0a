//! The limits section of the configuration: the per-IP rules, which proxies to believe about
//! client addresses, and the Redis that shares counters between instances.

use secrecy::{ExposeSecret, SecretString};

use crate::server::env::{invalid, redact_url, ConfigError, Env};

use super::client_ip::{ClientIpHeader, TrustedProxies};
use super::Rule;

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub login: Rule,
    pub register: Rule,
    pub global: Rule,
    /// Requests that send mail (a reset link, a new confirmation link, a change of address),
    /// per client address.
    pub mail: Rule,
    /// The same requests per recipient: per address (or per account, for a signed-in
    /// resend), so nobody can flood one mailbox from many client addresses.
    pub mail_recipient: Rule,
    /// The sign-in step that asks for a two-factor code, per client address (on top of the
    /// per-account throttle that every wrong code counts against).
    pub two_factor: Rule,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Where rate-limit and throttle counters are shared between instances. `None`: each
    /// process counts on its own. A secret: the URL may carry a password.
    pub url: Option<SecretString>,
    /// Prepended to every Redis key (`<prefix>:rl:…`, `<prefix>:thr:…`), so several apps or
    /// environments can share one Redis.
    pub key_prefix: String,
}

impl RateLimitSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let rule = |name: &'static str, var: &'static str, default: &str| {
            let spec = env.text_or(var, default);
            Rule::parse(name, &spec).ok_or_else(|| {
                invalid(
                    var,
                    format!("`{spec}`: expected N/second, N/minute, N/hour or N/day"),
                )
            })
        };
        Ok(Self {
            login: rule("login", "RATE_LIMIT_LOGIN", "5/minute")?,
            register: rule("register", "RATE_LIMIT_REGISTER", "10/hour")?,
            global: rule("global", "RATE_LIMIT_GLOBAL", "600/minute")?,
            mail: rule("mail", "RATE_LIMIT_MAIL", "10/hour")?,
            mail_recipient: rule("mail_recipient", "RATE_LIMIT_MAIL_RECIPIENT", "3/hour")?,
            two_factor: rule("two_factor", "RATE_LIMIT_TWO_FACTOR", "10/minute")?,
        })
    }

    /// Every rule, for limiters that set up a counter per rule.
    pub fn all(&self) -> [&Rule; 6] {
        [
            &self.login,
            &self.register,
            &self.global,
            &self.mail,
            &self.mail_recipient,
            &self.two_factor,
        ]
    }
}

/// `TRUSTED_PROXIES`: the proxies whose forwarding header (`CLIENT_IP_HEADER`) names the
/// real client.
pub fn trusted_proxies(env: &Env) -> Result<TrustedProxies, ConfigError> {
    TrustedProxies::parse(&env.text_or("TRUSTED_PROXIES", ""))
        .map_err(|reason| invalid("TRUSTED_PROXIES", reason))
}

/// `CLIENT_IP_HEADER`: the one header the trusted proxies write, `x-forwarded-for` (default)
/// or `forwarded`. The other is never read, whoever sends it.
pub fn client_ip_header(env: &Env) -> Result<ClientIpHeader, ConfigError> {
    env.parsed(
        "CLIENT_IP_HEADER",
        ClientIpHeader::default(),
        ClientIpHeader::parse,
        "expected `x-forwarded-for` or `forwarded`",
    )
}

impl RedisSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = match env.text("REDIS_URL") {
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
        let key_prefix = env.text_or("REDIS_KEY_PREFIX", "gatehouse");
        if key_prefix.len() > 64 || !key_prefix.chars().all(|c| c.is_ascii_graphic() && c != '*') {
            return Err(invalid(
                "REDIS_KEY_PREFIX",
                "expected up to 64 printable ASCII characters, no spaces or `*`",
            ));
        }
        Ok(Self { url, key_prefix })
    }

    /// The URL with any password replaced (also the `pass=` query parameter that
    /// `redis+unix://` URLs use), for logs; `None` when Redis is not used.
    pub fn url_for_logs(&self) -> Option<String> {
        self.url
            .as_ref()
            .map(|url| redact_url(url.expose_secret(), &["pass"]))
    }
}
