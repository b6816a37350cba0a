//! Session tokens and the session cookie.
//!
//! The token is 256 bits from the OS CSPRNG, sent to the browser base64url-encoded; the
//! database stores only its SHA-256, so reading the sessions table does not give anyone a
//! usable cookie. A new token is made at every sign-in (no session fixation).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::settings::SessionSettings;

pub const TOKEN_BYTES: usize = 32;

/// How long a sign-in waits for its two-factor code after the password was right (the
/// challenge row and its cookie).
pub const CHALLENGE_LIFETIME_SECS: i64 = 5 * 60;

/// How long a passkey ceremony waits for the browser's answer (its row and its cookie).
pub const PASSKEY_CEREMONY_LIFETIME_SECS: i64 = 5 * 60;

/// The secret the browser holds. Deliberately not `Debug`/`Display`: it must never be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only strings shaped like our tokens, so junk cookies cost no database lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (decoded.len() == TOKEN_BYTES).then(|| Self(raw.to_string()))
    }

    /// What the database stores and looks up.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `Set-Cookie` for a new session. Without "remember me" there is no `Max-Age`: the cookie
/// ends with the browser session. With it, the cookie lasts the session's absolute lifetime.
/// Either way the server enforces the timeouts on its own row; the cookie's life is only
/// how long the browser offers it.
pub fn session_cookie(
    settings: &SessionSettings,
    token: &SessionToken,
    remember: bool,
) -> Cookie<'static> {
    let mut cookie = base_cookie(settings, token.expose().to_string());
    if remember {
        let lifetime = settings.absolute_timeout.as_secs() as i64;
        cookie.set_max_age(cookie::time::Duration::seconds(lifetime));
    }
    cookie
}

/// `Set-Cookie` that makes the browser drop the session cookie.
pub fn removal_cookie(settings: &SessionSettings) -> Cookie<'static> {
    let mut cookie = base_cookie(settings, String::new());
    cookie.make_removal();
    cookie
}

fn base_cookie(settings: &SessionSettings, value: String) -> Cookie<'static> {
    Cookie::build((settings.cookie_name(), value))
        .path("/")
        .http_only(true)
        // Lax: sent on top-level navigation from other sites (links into the app keep the
        // person signed in), never on cross-site POSTs or sub-resource requests.
        .same_site(SameSite::Lax)
        .secure(settings.cookie_secure)
        .build()
}

/// The short-lived, single-purpose cookies that bind a step in progress to the browser that
/// started it. Each holds a token whose hash names a server-side row; none grants anything
/// but the right to finish that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepCookie {
    /// A sign-in whose password was right, waiting for its two-factor code.
    SignInChallenge,
    /// A passkey ceremony waiting for the browser's answer (`passkeys`).
    PasskeyCeremony,
}

impl StepCookie {
    pub fn name(self, settings: &SessionSettings) -> &'static str {
        match (self, settings.cookie_secure) {
            (Self::SignInChallenge, true) => "__Host-gatehouse_sign_in",
            (Self::SignInChallenge, false) => "gatehouse_sign_in",
            (Self::PasskeyCeremony, true) => "__Host-gatehouse_passkey",
            (Self::PasskeyCeremony, false) => "gatehouse_passkey",
        }
    }

    fn lifetime_secs(self) -> i64 {
        match self {
            Self::SignInChallenge => CHALLENGE_LIFETIME_SECS,
            Self::PasskeyCeremony => PASSKEY_CEREMONY_LIFETIME_SECS,
        }
    }

    /// `Set-Cookie` for the step's token. Strict: each step is reached from our own pages,
    /// never from another site. It lasts as long as the step's row.
    pub fn cookie(self, settings: &SessionSettings, token: &SessionToken) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name(settings), token.expose().to_string()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(settings.cookie_secure)
            .build();
        cookie.set_max_age(cookie::time::Duration::seconds(self.lifetime_secs()));
        cookie
    }

    /// `Set-Cookie` that makes the browser drop the step's cookie.
    pub fn removal(self, settings: &SessionSettings) -> Cookie<'static> {
        let mut cookie = self.cookie(settings, &SessionToken(String::new()));
        cookie.make_removal();
        cookie
    }

    /// Finds the step's cookie in a `Cookie` request header.
    pub fn token_from_header(
        self,
        settings: &SessionSettings,
        header: &str,
    ) -> Option<SessionToken> {
        Cookie::split_parse(header)
            .filter_map(Result::ok)
            .find(|c| c.name() == self.name(settings))
            .and_then(|c| SessionToken::parse(c.value()))
    }
}

/// Finds our session cookie in a `Cookie` request header.
pub fn token_from_cookie_header(settings: &SessionSettings, header: &str) -> Option<SessionToken> {
    Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == settings.cookie_name())
        .and_then(|c| SessionToken::parse(c.value()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(secure: bool) -> SessionSettings {
        SessionSettings {
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            cookie_secure: secure,
        }
    }

    #[test]
    fn tokens_are_256_bit_and_unique() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert!(a != b);
        assert_eq!(a.hash().len(), 32);
        assert_ne!(a.hash(), a.expose().as_bytes());
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        assert!(SessionToken::parse("short").is_none());
        assert!(SessionToken::parse("!!!!").is_none());
        let ok = SessionToken::generate();
        assert!(SessionToken::parse(ok.expose()).is_some());
    }

    #[test]
    fn secure_cookie_has_host_prefix_and_all_flags() {
        let token = SessionToken::generate();
        let header = session_cookie(&settings(true), &token, false).to_string();
        assert!(header.starts_with("__Host-gatehouse_session="), "{header}");
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(header.contains(flag), "{flag} missing in {header}");
        }
        assert!(!header.contains("Domain"), "{header}");
        assert!(!header.contains("Max-Age"), "{header}");
    }

    #[test]
    fn development_cookie_drops_only_secure_and_prefix() {
        let header = session_cookie(&settings(false), &SessionToken::generate(), false).to_string();
        assert!(header.starts_with("gatehouse_session="), "{header}");
        assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax"));
        assert!(!header.contains("Secure"));
    }

    #[test]
    fn remembered_cookie_lasts_the_absolute_lifetime() {
        let header = session_cookie(&settings(true), &SessionToken::generate(), true).to_string();
        assert!(header.contains("Max-Age=600"), "{header}");
        assert!(
            header.contains("HttpOnly") && header.contains("Secure"),
            "{header}"
        );
    }

    #[test]
    fn removal_cookie_expires_immediately() {
        let header = removal_cookie(&settings(true)).to_string();
        assert!(header.starts_with("__Host-gatehouse_session=;"), "{header}");
        assert!(header.contains("Max-Age=0"), "{header}");
    }

    #[test]
    fn step_cookies_are_strict_short_lived_host_only_and_distinct() {
        for (step, name) in [
            (StepCookie::SignInChallenge, "__Host-gatehouse_sign_in"),
            (StepCookie::PasskeyCeremony, "__Host-gatehouse_passkey"),
        ] {
            let token = SessionToken::generate();
            let header = step.cookie(&settings(true), &token).to_string();
            assert!(header.starts_with(&format!("{name}=")), "{header}");
            for flag in [
                "HttpOnly",
                "SameSite=Strict",
                "Secure",
                "Path=/",
                "Max-Age=300",
            ] {
                assert!(header.contains(flag), "{flag} missing in {header}");
            }
            let found = step.token_from_header(
                &settings(true),
                &format!("__Host-gatehouse_session=x; {name}={}", token.expose()),
            );
            assert!(found == Some(token));
            let removal = step.removal(&settings(true)).to_string();
            assert!(removal.contains("Max-Age=0"), "{removal}");
        }
        // One step's token is never read as the other's.
        let token = SessionToken::generate();
        let header = format!("__Host-gatehouse_sign_in={}", token.expose());
        assert!(StepCookie::PasskeyCeremony
            .token_from_header(&settings(true), &header)
            .is_none());
    }

    #[test]
    fn finds_the_token_among_other_cookies() {
        let s = settings(true);
        let token = SessionToken::generate();
        let header = format!(
            "theme=dark; __Host-gatehouse_session={}; other=1",
            token.expose()
        );
        assert!(token_from_cookie_header(&s, &header) == Some(token));
        assert!(token_from_cookie_header(&s, "gatehouse_session=abc").is_none());
    }
}
