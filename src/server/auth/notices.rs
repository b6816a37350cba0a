//! Mail that tells an account's owner about a change to how they sign in, so a change they did
//! not make does not go unnoticed (ASVS 4.0.3 2.5.5: the user is told when an authentication
//! factor changes).
//!
//! Notices are queued, never awaited: whether one goes out changes nothing in the answer to
//! the request that caused it. Links come from `PUBLIC_URL` only.

use std::sync::Arc;

use crate::server::clock::Clock;
use crate::server::db::UserRecord;
use crate::server::mail::templates::{device_and_address, utc_date_time, PasswordChanged};
use crate::server::mail::{Mailer, OutgoingMail, PublicUrl, RenderedMail};

use super::client::ClientMeta;

#[derive(Clone)]
pub struct Notices {
    pub(super) mailer: Mailer,
    pub(super) public_url: PublicUrl,
    pub(super) clock: Arc<dyn Clock>,
}

impl Notices {
    /// "Your password was changed", to the account's address: when, from which device and
    /// address, and where to sign in if it was not them.
    pub fn password_changed(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
        other_sessions_ended: bool,
    ) {
        let notice = PasswordChanged {
            username: user.username.clone(),
            changed_at: utc_date_time(self.clock.now()),
            changed_from: device_and_address(meta.device().as_deref(), meta.ip.as_deref()),
            other_sessions_ended,
            login_link: self.public_url.link("/login", &[]),
            site: self.public_url.origin(),
        };
        self.queue(user, meta, "password_changed", notice.render());
    }

    fn queue(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
        kind: &'static str,
        rendered: Result<RenderedMail, askama::Error>,
    ) {
        match rendered {
            Ok(content) => self.mailer.send(OutgoingMail {
                to: user.email.clone(),
                kind,
                content,
                request_id: meta.request_id.clone(),
            }),
            Err(error) => tracing::error!(
                event = "mail.invalid",
                kind,
                user_id = user.id,
                %error,
                "notice could not be rendered"
            ),
        }
    }
}
