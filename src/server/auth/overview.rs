//! `/account` in one read: every card's rows from one `Store::account_rows`, turned into
//! views by the services that own them (the same code their own reads use), so the page costs
//! one database round trip where it cost one per card.

use std::sync::Arc;

use crate::model::account::AccountOverview;
use crate::server::db::Store;
use crate::server::error::ServiceError;

use super::activity::{ActivityLog, FIRST_READ};
use super::email_links::{EmailLinks, Purpose};
use super::passkeys::Passkeys;
use super::sessions::{CurrentSession, Sessions};
use super::two_factor::TwoFactor;
use super::views::api_key_view;

#[derive(Clone)]
pub struct Overview {
    pub(super) store: Arc<dyn Store>,
    pub(super) sessions: Sessions,
    pub(super) activity: ActivityLog,
    pub(super) email_links: EmailLinks,
    pub(super) two_factor: TwoFactor,
    pub(super) passkeys: Passkeys,
}

impl Overview {
    /// Everything the signed-in person's account page shows.
    pub async fn of(&self, current: &CurrentSession) -> Result<AccountOverview, ServiceError> {
        let user_id = current.user.id;
        let rows = self
            .store
            .account_rows(user_id, Purpose::ChangeEmail.as_str(), FIRST_READ)
            .await?;
        Ok(AccountOverview {
            pending_email: self.email_links.unexpired(rows.email_link).map(|l| l.email),
            two_factor: self.two_factor.status_of(
                current,
                rows.two_factor,
                rows.recovery_codes_left,
            )?,
            passkeys: self.passkeys.status_of(current, rows.passkeys),
            sessions: self.sessions.list_of(current, rows.sessions),
            api_keys: rows.api_keys.iter().map(api_key_view).collect(),
            // Reads on only when folded failures leave the page short.
            activity: self
                .activity
                .recent_from(user_id, rows.audit_events)
                .await?,
        })
    }
}
