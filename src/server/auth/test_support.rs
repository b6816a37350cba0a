//! A real set of auth services for unit tests: a SQLite file in a temporary directory, the
//! in-process limits and throttle, a clock the test moves by hand, and the development
//! mailbox (`.eml` files) in the same directory.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::model::{PasswordPolicy, RegisterForm};
use crate::server::clock::{Clock, ManualClock};
use crate::server::db::{self, DatabasePoolSettings, DatabaseSettings, Store};
use crate::server::limits::settings::RateLimitSettings;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::{Limits, Rule};
use crate::server::mail::{MailSettings, Mailer, PublicUrl, TransportSettings};

use super::passkeys::RelyingParty;
use super::settings::{PasskeySettings, SessionSettings, VerificationMode};
use super::{
    Auth, AuthParts, ClientMeta, CurrentSession, FailureFloor, JwtKeys, PasswordHasher, SignedIn,
};

pub const START: i64 = 1_800_000_000;
pub const PASSWORD: &str = "correct horse battery staple";
pub const IDLE_SECS: u64 = 30 * 60;
pub const ABSOLUTE_SECS: u64 = 7 * 24 * 3600;

pub struct Fixture {
    pub auth: Auth,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub mailer: Mailer,
    /// Where the mailer writes each message as a `.eml` file.
    pub mailbox: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The services as development runs them (verification optional).
pub async fn fixture() -> Fixture {
    fixture_in(VerificationMode::Optional).await
}

pub async fn fixture_in(verification_mode: VerificationMode) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let clock = ManualClock::new(START);
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    // Wrapped as the server wraps it, so every service test also runs through the memory of
    // sessions and accounts (and would see it answer stale).
    let store = db::CachedStore::connect(
        &DatabaseSettings {
            url: SecretString::from(url),
            pool: DatabasePoolSettings {
                max_connections: 2,
                acquire_timeout: Duration::from_secs(5),
            },
            credential_cache_secs: 1,
        },
        shared_clock.clone(),
    )
    .await
    .unwrap();
    // Generous per-IP rules: these tests are about the services, not the limits.
    let rule = |name| Rule::parse(name, "1000/minute").unwrap();
    let mailbox = dir.path().join("mail");
    let public_url = PublicUrl::parse("https://auth.example.com", true).unwrap();
    let mailer = Mailer::start(&MailSettings {
        transport: TransportSettings::Mailbox {
            dir: mailbox.clone(),
        },
        from: "Gatehouse <no-reply@auth.example.com>".parse().unwrap(),
        public_url: public_url.clone(),
    })
    .unwrap();
    let auth = Auth::new(AuthParts {
        store: store.clone(),
        clock: shared_clock.clone(),
        hasher: PasswordHasher::new(2).unwrap(),
        // Off: these tests are about outcomes; `sign_in` tests the floor itself.
        failure_floor: FailureFloor::fixed(Duration::ZERO),
        limits: Arc::new(Limits::in_process(
            &RateLimitSettings {
                login: rule("login"),
                register: rule("register"),
                global: rule("global"),
                mail: rule("mail"),
                mail_recipient: rule("mail_recipient"),
                two_factor: rule("two_factor"),
            },
            shared_clock.clone(),
        )),
        throttle: Arc::new(AccountThrottle::new(shared_clock)),
        jwt: Arc::new(JwtKeys::new(
            &SecretString::from("0123456789abcdef0123456789abcdef"),
            "gatehouse",
            "gatehouse-api",
            1800,
        )),
        sessions: SessionSettings {
            idle_timeout: Duration::from_secs(IDLE_SECS),
            absolute_timeout: Duration::from_secs(ABSOLUTE_SECS),
            cookie_secure: false,
        },
        password_policy: PasswordPolicy::Nist,
        verification_mode,
        mailer: mailer.clone(),
        relying_party: RelyingParty::new(&PasskeySettings::Enabled {
            rp_id: "auth.example.com".into(),
            origin: public_url.url().clone(),
        })
        .unwrap(),
        public_url,
        sealer: super::secret_box::SecretBox::new(
            &SecretString::from("0123456789abcdef0123456789abcdef"),
            super::two_factor::SEALING_LABEL,
        ),
    });
    Fixture {
        auth,
        clock,
        store,
        mailer,
        mailbox,
        _dir: dir,
    }
}

pub fn meta() -> ClientMeta {
    ClientMeta {
        ip: Some("192.0.2.1".into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0".into(),
        ),
        request_id: Some("test".into()),
    }
}

pub fn register_form(name: &str) -> RegisterForm {
    RegisterForm {
        email: format!("{name}@example.com"),
        username: name.into(),
        password: PASSWORD.into(),
        password_confirm: PASSWORD.into(),
    }
}

impl Fixture {
    /// Registers `name` (signed in, as the browser does).
    pub async fn register(&self, name: &str) -> SignedIn {
        match self
            .auth
            .registration
            .register(&register_form(name), &meta())
            .await
            .unwrap()
        {
            super::Registered::SignedIn(signed_in) => signed_in,
            super::Registered::CheckInbox => panic!("verification is required: no session"),
        }
    }

    pub async fn login(&self, name: &str, remember: bool) -> SignedIn {
        self.login_from(name, remember, &meta()).await
    }

    /// As [`Fixture::login`], from another device or address than `meta()`'s.
    pub async fn login_from(&self, name: &str, remember: bool, from: &ClientMeta) -> SignedIn {
        let form = crate::model::LoginForm {
            username: name.into(),
            password: PASSWORD.into(),
        };
        match self
            .auth
            .sign_in
            .login(&form, remember, from)
            .await
            .unwrap()
        {
            super::LoginOutcome::SignedIn(signed_in) => signed_in,
            super::LoginOutcome::SecondFactor(_) => panic!("{name} has two-factor on"),
        }
    }

    /// The signed-in person behind `signed_in`'s cookie (which must still be valid).
    pub async fn current(&self, signed_in: &SignedIn) -> CurrentSession {
        self.auth
            .sessions
            .current(&signed_in.token)
            .await
            .unwrap()
            .expect("a live session")
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(secs as i64);
    }

    /// Every message sent so far, oldest first. Waits for the queue to deliver them, after
    /// which the mailer takes no more: call it once, at the end of a test.
    pub async fn sent_mail(&self) -> Vec<SentMail> {
        use mail_parser::MessageParser;

        self.mailer.drain(Duration::from_secs(30)).await;
        let mut files: Vec<_> = std::fs::read_dir(&self.mailbox)
            .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap());
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).unwrap();
                let message = MessageParser::default().parse(&raw).unwrap();
                SentMail {
                    to: message
                        .to()
                        .and_then(|to| to.first())
                        .and_then(|to| to.address())
                        .unwrap_or_default()
                        .to_string(),
                    subject: message.subject().unwrap_or_default().to_string(),
                    text: message.body_text(0).unwrap_or_default().into_owned(),
                }
            })
            .collect()
    }
}

/// A message the fixture's mailer wrote.
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}
