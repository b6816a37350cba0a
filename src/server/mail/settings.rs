//! The mail section of the configuration: where messages go (`SMTP_URL`, or in development the
//! mailbox folder `MAIL_DIR`), who sends them (`MAIL_FROM`), and the base of every link in them
//! (`PUBLIC_URL`).

use std::net::IpAddr;
use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::Address;
use secrecy::{ExposeSecret, SecretString};
use url::{Host, Url};

use crate::server::env::{invalid, redact_url, ConfigError, Env};

/// Where development writes messages when no `SMTP_URL` is set.
pub const DEFAULT_MAIL_DIR: &str = "data/mail";
/// The listen address Cargo.toml gives Leptos, the base of development's default `PUBLIC_URL`.
const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
const SMTP_URL_FORMS: &str = "expected smtp://host:port, \
     smtp://user:password@host:587?tls=required or smtps://user:password@host:465";

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: TransportSettings,
    /// The `From:` of every message.
    pub from: Mailbox,
    /// The base of every link in a message.
    pub public_url: PublicUrl,
}

#[derive(Debug, Clone)]
pub enum TransportSettings {
    /// `SMTP_URL`, in lettre's URL form. A secret: it may carry the relay's password.
    Smtp { url: SecretString },
    /// Development without `SMTP_URL`: each message becomes a `.eml` file in this folder
    /// (created on the first message), and its link is logged.
    Mailbox { dir: PathBuf },
}

impl MailSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let public_url = match env.text("PUBLIC_URL") {
            Some(raw) => PublicUrl::parse(&raw, env.is_production())
                .map_err(|reason| invalid("PUBLIC_URL", format!("`{raw}`: {reason}")))?,
            None if env.is_production() => {
                return Err(ConfigError::Insecure(
                    "PUBLIC_URL is not set: links in mail are built from it, never from the \
                     request's Host header (e.g. PUBLIC_URL=https://auth.example.com)"
                        .into(),
                ))
            }
            // Development serves plain http on the listen address, named `localhost` when it is
            // the IPv4 loopback: the same listener, and a name browsers accept as a passkey
            // relying-party id (an IP address never is).
            None => {
                let addr = env.text_or("LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR);
                let site = match addr.strip_prefix("127.0.0.1:") {
                    Some(port) => format!("localhost:{port}"),
                    None => addr,
                };
                PublicUrl::parse(&format!("http://{site}"), false).map_err(|reason| {
                    invalid(
                        "PUBLIC_URL",
                        format!("not set, and http://{site} cannot stand in for it: {reason}"),
                    )
                })?
            }
        };
        let transport = match env.text("SMTP_URL") {
            Some(url) => {
                check_smtp_url(&url, env.is_production())?;
                TransportSettings::Smtp {
                    url: SecretString::from(url),
                }
            }
            None if env.is_production() => {
                return Err(ConfigError::Insecure(
                    "SMTP_URL is not set: production sends mail through a relay \
                     (e.g. SMTP_URL=smtp://user:password@smtp.example.com:587?tls=required)"
                        .into(),
                ))
            }
            None => TransportSettings::Mailbox {
                dir: PathBuf::from(env.text_or("MAIL_DIR", DEFAULT_MAIL_DIR)),
            },
        };
        let from = match env.text("MAIL_FROM") {
            Some(raw) => raw.parse::<Mailbox>().map_err(|_| {
                invalid(
                    "MAIL_FROM",
                    format!(
                        "`{raw}`: expected an address, or a name and an address like \
                             `Gatehouse <no-reply@example.com>`"
                    ),
                )
            })?,
            None => public_url.default_sender(),
        };
        Ok(Self {
            transport,
            from,
            public_url,
        })
    }
}

impl TransportSettings {
    /// Where mail goes, for the start-up log: the SMTP URL with its password as `***`, or the
    /// development mailbox folder.
    pub fn describe_for_logs(&self) -> String {
        match self {
            Self::Smtp { url } => redact_url(url.expose_secret(), &[]),
            Self::Mailbox { dir } => format!("files in {}", dir.display()),
        }
    }
}

/// `SMTP_URL` checked against the forms lettre accepts, so a typo stops the start rather than
/// every message. The reasons never repeat the URL: it may hold a password.
fn check_smtp_url(raw: &str, production: bool) -> Result<(), ConfigError> {
    let refuse = |reason: &str| invalid("SMTP_URL", format!("{reason}; {SMTP_URL_FORMS}"));
    let url = Url::parse(raw).map_err(|error| refuse(&format!("not a URL ({error})")))?;
    let tls = url
        .query_pairs()
        .find(|(name, _)| name == "tls")
        .map(|(_, value)| value.into_owned());
    let encrypted = match (url.scheme(), tls.as_deref()) {
        ("smtps", None) | ("smtp", Some("required")) => true,
        ("smtp", None | Some("opportunistic")) => false,
        ("smtp" | "smtps", Some(_)) => {
            return Err(refuse(
                "the tls parameter must be `required` or `opportunistic` (smtp:// only)",
            ))
        }
        _ => return Err(refuse("the scheme must be smtp or smtps")),
    };
    let Some(host) = url.host() else {
        return Err(refuse("the relay's host is missing"));
    };
    // A password sent where STARTTLS may be stripped (or is never asked for) can be read on
    // the way. A relay on this machine is the one place where that is no exposure.
    // (An smtp:// URL's IPv4 host reads as a name: the URL standard parses addresses only for
    // the schemes it knows, like http.)
    let loopback = match host {
        Host::Domain(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    };
    if production && url.password().is_some() && !encrypted && !loopback {
        return Err(ConfigError::Insecure(format!(
            "SMTP_URL would send the relay's password to {host} without TLS: \
             use smtps:// or ?tls=required"
        )));
    }
    Ok(())
}

/// `PUBLIC_URL`: the address people reach Gatehouse at, `scheme://host[:port]`. Links in mail
/// are made only from it, so a forged `Host` header can never point a link elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl PublicUrl {
    /// An absolute http(s) URL with no path (a trailing `/` is fine), query, fragment or user;
    /// `https` only in production, where cookies are `Secure` and so is every page. A path
    /// prefix is refused because Gatehouse serves its pages from `/`.
    pub fn parse(raw: &str, production: bool) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|error| format!("not a URL ({error})"))?;
        match url.scheme() {
            "https" => {}
            "http" if !production => {}
            "http" => return Err("production links must use https".into()),
            _ => return Err("the scheme must be http or https".into()),
        }
        if url.host().is_none() {
            return Err("the host is missing".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a user name or password does not belong in it".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("expected scheme://host[:port], with no path, query or fragment".into());
        }
        Ok(Self(url))
    }

    /// A link to `path` (which starts with `/`) on this site, with `query` encoded. Only the
    /// path and query are set, so whatever `path` holds cannot change the scheme or host.
    pub fn link(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = self.0.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.into()
    }

    /// The URL itself (`scheme://host[:port]/`).
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// `scheme://host[:port]`, without the trailing slash.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// `Gatehouse <no-reply@host>` for a public host name; `no-reply@localhost` where the
    /// host is an address or a single label (development).
    fn default_sender(&self) -> Mailbox {
        let domain = match self.0.host() {
            Some(Host::Domain(name)) if name.contains('.') => name.to_string(),
            _ => "localhost".to_string(),
        };
        // A host the URL parser takes but the address check does not (an underscore, say)
        // falls back to `localhost`, a domain known to be valid.
        let address = Address::new("no-reply", &domain)
            .unwrap_or_else(|_| Address::new_dangerous("no-reply", "localhost"));
        Mailbox::new(Some("Gatehouse".into()), address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_origins_and_links_keep_to_them() {
        let url = PublicUrl::parse("https://auth.example.com/", true).unwrap();
        assert_eq!(url.origin(), "https://auth.example.com");
        assert_eq!(url.link("/login", &[]), "https://auth.example.com/login");
        assert_eq!(
            url.link("/verify", &[("token", "a b&c")]),
            "https://auth.example.com/verify?token=a+b%26c"
        );
        // A path that looks like another host stays a path on this one.
        assert!(url
            .link("//evil.example/x", &[])
            .starts_with("https://auth.example.com/"));
        let dev = PublicUrl::parse("http://127.0.0.1:3000", false).unwrap();
        assert_eq!(dev.link("/login", &[]), "http://127.0.0.1:3000/login");
    }

    #[test]
    fn public_urls_that_are_not_plain_origins_are_refused() {
        for bad in [
            "auth.example.com",
            "/login",
            "ftp://auth.example.com",
            "https://auth.example.com/app",
            "https://auth.example.com/?x=1",
            "https://auth.example.com/#top",
            "https://user:pw@auth.example.com",
        ] {
            assert!(PublicUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(PublicUrl::parse("http://auth.example.com", false).is_ok());
        assert!(PublicUrl::parse("http://auth.example.com", true).is_err());
    }

    #[test]
    fn the_default_sender_is_no_reply_at_the_public_host() {
        let sender = |url| {
            PublicUrl::parse(url, false)
                .unwrap()
                .default_sender()
                .to_string()
        };
        assert_eq!(
            sender("https://auth.example.com"),
            "Gatehouse <no-reply@auth.example.com>"
        );
        assert_eq!(
            sender("http://127.0.0.1:3000"),
            "Gatehouse <no-reply@localhost>"
        );
    }

    #[test]
    fn smtp_urls_take_lettres_forms_and_never_echo_a_password() {
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://user:hunter2@smtp.example.com:587?tls=required",
            "smtps://user:hunter2@smtp.example.com:465",
            "smtp://relay.internal",
        ] {
            assert_eq!(check_smtp_url(good, true), Ok(()), "{good}");
        }
        for bad in [
            "smtp.example.com:587",
            "http://user:hunter2@smtp.example.com",
            "smtp://user:hunter2@smtp.example.com?tls=sometimes",
            "smtps://user:hunter2@smtp.example.com?tls=required",
            "smtp://:hunter2@",
        ] {
            let error = check_smtp_url(bad, false).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::Invalid {
                        name: "SMTP_URL",
                        ..
                    }
                ),
                "{bad}: {error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn production_sends_a_relay_password_only_over_tls_or_loopback() {
        for clear in [
            "smtp://user:hunter2@smtp.example.com:587",
            "smtp://user:hunter2@smtp.example.com:587?tls=opportunistic",
        ] {
            let error = check_smtp_url(clear, true).unwrap_err();
            assert!(matches!(error, ConfigError::Insecure(_)), "{clear}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
            assert_eq!(check_smtp_url(clear, false), Ok(()), "development: {clear}");
        }
        for fine in [
            "smtp://user:hunter2@localhost:25",
            "smtp://user:hunter2@127.0.0.1:25",
            "smtp://user:hunter2@[::1]:25",
        ] {
            assert_eq!(check_smtp_url(fine, true), Ok(()), "{fine}");
        }
    }
}
