//! Authentication: the services both doors (server functions and the JSON API) call, and the
//! pieces they are made of (password hashing, session tokens, JWTs, API-key secrets).
//!
//! One small service per concern (`register`, `sign_in`, `sessions`, `tokens`, `api_keys`,
//! `account`, `activity`) rather than one service with every method: each holds only what
//! it uses (the store, the clock, the hasher, the limits…, all built once in `startup` and
//! shared), so what a concern can touch is visible in its fields, and the features still to
//! came later land as services of their own, as mail did (`notices`,
//! `verification`, `password_reset`, over `email_links`) and two-factor did (`two_factor`, over
//! `totp`, `recovery_codes` and `secret_box`) and passkeys did (`passkeys`, over webauthn-rs).
//! Services that build on
//! another hold a clone of it (they are cheap handles): `account` and `api_keys` confirm
//! passwords through `sign_in`, which starts sessions through `sessions`.

pub mod account;
pub mod activity;
pub mod api_key_secret;
pub mod api_keys;
pub mod client;
pub mod email_links;
pub mod failure_floor;
pub mod import;
pub mod jwt;
pub mod notices;
pub mod overview;
pub mod passkeys;
pub mod password;
pub mod password_reset;
pub mod public_id;
pub mod recovery_codes;
pub mod register;
pub mod secret_box;
pub mod session;
pub mod sessions;
pub mod settings;
pub mod sign_in;
#[cfg(test)]
mod test_support;
pub mod tokens;
pub mod totp;
pub mod two_factor;
pub mod verification;
mod views;

use std::sync::Arc;

use crate::model::PasswordPolicy;
use crate::server::clock::Clock;
use crate::server::db::Store;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::Limits;
use crate::server::mail::{Mailer, PublicUrl};

use self::secret_box::SecretBox;

pub use self::account::AccountSecurity;
pub use self::activity::ActivityLog;
pub use self::api_keys::ApiKeys;
pub use self::client::ClientMeta;
pub use self::email_links::EmailLinks;
pub use self::failure_floor::FailureFloor;
pub use self::jwt::{ClientId, JwtKeys};
pub use self::notices::Notices;
pub use self::overview::Overview;
pub use self::passkeys::{Passkeys, RelyingParty};
pub use self::password::PasswordHasher;
pub use self::password_reset::PasswordReset;
pub use self::register::{CreatedAccount, Registered, Registration};
pub use self::session::SessionToken;
pub use self::sessions::{CurrentSession, RenderSession, Sessions, SignedIn};
pub use self::settings::{SessionSettings, VerificationMode};
pub use self::sign_in::{LoginOutcome, SignIn};
pub use self::tokens::{Credential, IssuedToken, Principal, Tokens};
pub use self::two_factor::TwoFactor;
pub use self::verification::{Confirmed, EmailVerification};

/// The infrastructure the auth services are built on. `startup` makes each piece once; the
/// application state holds the same handles for the edge (limits, readiness, shutdown).
pub struct AuthParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    /// How long a failed sign-in takes at least (see `failure_floor`).
    pub failure_floor: FailureFloor,
    pub limits: Arc<Limits>,
    pub throttle: Arc<AccountThrottle>,
    pub jwt: Arc<JwtKeys>,
    pub sessions: SessionSettings,
    pub password_policy: PasswordPolicy,
    /// Must an address be confirmed before its account signs in?
    pub verification_mode: VerificationMode,
    /// Queues outgoing mail (see `server::mail`).
    pub mailer: Mailer,
    /// The base of every link in a mail.
    pub public_url: PublicUrl,
    /// Seals TOTP secrets (and recovery codes waiting to be shown) before they are stored.
    pub sealer: SecretBox,
    /// Passkeys' relying party (or why passkeys are off).
    pub relying_party: RelyingParty,
}

/// Every auth service, wired together once.
#[derive(Clone)]
pub struct Auth {
    pub registration: Registration,
    pub sign_in: SignIn,
    pub sessions: Sessions,
    pub tokens: Tokens,
    pub api_keys: ApiKeys,
    pub account: AccountSecurity,
    pub activity: ActivityLog,
    pub notices: Notices,
    pub overview: Overview,
    pub verification: EmailVerification,
    pub password_reset: PasswordReset,
    pub email_links: EmailLinks,
    pub two_factor: TwoFactor,
    pub passkeys: Passkeys,
}

impl Auth {
    pub fn new(parts: AuthParts) -> Self {
        let AuthParts {
            store,
            clock,
            hasher,
            failure_floor,
            limits,
            throttle,
            jwt,
            sessions,
            password_policy,
            verification_mode,
            mailer,
            public_url,
            sealer,
            relying_party,
        } = parts;
        let activity = ActivityLog {
            store: store.clone(),
            clock: clock.clone(),
        };
        let notices = Notices {
            mailer,
            public_url,
            clock: clock.clone(),
        };
        let sessions = Sessions {
            store: store.clone(),
            clock: clock.clone(),
            settings: sessions,
            activity: activity.clone(),
        };
        let sign_in = SignIn {
            store: store.clone(),
            clock: clock.clone(),
            hasher: hasher.clone(),
            limits: limits.clone(),
            throttle: throttle.clone(),
            failure_floor: failure_floor.clone(),
            verification_mode,
            activity: activity.clone(),
            sessions: sessions.clone(),
        };
        let email_links = EmailLinks {
            store: store.clone(),
            clock: clock.clone(),
        };
        let verification = EmailVerification {
            store: store.clone(),
            clock: clock.clone(),
            mode: verification_mode,
            links: email_links.clone(),
            limits: limits.clone(),
            notices: notices.clone(),
            activity: activity.clone(),
            sessions: sessions.clone(),
            sign_in: sign_in.clone(),
        };
        let password_reset = PasswordReset {
            store: store.clone(),
            clock: clock.clone(),
            links: email_links.clone(),
            limits: limits.clone(),
            hasher: hasher.clone(),
            policy: password_policy,
            activity: activity.clone(),
            notices: notices.clone(),
        };
        let two_factor = TwoFactor {
            store: store.clone(),
            clock: clock.clone(),
            hasher: hasher.clone(),
            limits: limits.clone(),
            throttle,
            sealer,
            activity: activity.clone(),
            sessions: sessions.clone(),
            sign_in: sign_in.clone(),
            notices: notices.clone(),
        };
        let passkeys = Passkeys {
            store: store.clone(),
            clock: clock.clone(),
            relying_party,
            limits: limits.clone(),
            activity: activity.clone(),
            notices: notices.clone(),
            sessions: sessions.clone(),
            sign_in: sign_in.clone(),
            two_factor: two_factor.clone(),
        };
        let api_keys = ApiKeys {
            store: store.clone(),
            clock: clock.clone(),
            activity: activity.clone(),
            sign_in: sign_in.clone(),
        };
        let overview = Overview {
            store: store.clone(),
            sessions: sessions.clone(),
            activity: activity.clone(),
            email_links: email_links.clone(),
            two_factor: two_factor.clone(),
            passkeys: passkeys.clone(),
        };
        Self {
            overview,
            registration: Registration {
                store: store.clone(),
                clock: clock.clone(),
                hasher: hasher.clone(),
                limits,
                policy: password_policy,
                activity: activity.clone(),
                sessions: sessions.clone(),
                verification: verification.clone(),
                notices: notices.clone(),
                floor: failure_floor.clone(),
            },
            tokens: Tokens {
                store: store.clone(),
                clock,
                jwt,
                activity: activity.clone(),
                sign_in: sign_in.clone(),
                api_keys: api_keys.clone(),
            },
            account: AccountSecurity {
                store,
                hasher,
                policy: password_policy,
                activity: activity.clone(),
                sign_in: sign_in.clone(),
                sessions: sessions.clone(),
                notices: notices.clone(),
            },
            sign_in,
            sessions,
            api_keys,
            activity,
            notices,
            verification,
            password_reset,
            email_links,
            two_factor,
            passkeys,
        }
    }
}
