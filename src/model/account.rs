//! What `/account` shows, as one value: every card's data, read together.

use serde::{Deserialize, Serialize};

use super::activity::{ActivityView, SessionList};
use super::api_key::ApiKeyView;
use super::passkey::PasskeyStatus;
use super::two_factor::TwoFactorStatus;

/// The account page's cards, in the order the page shows them. One read on the server
/// (`server::auth::Overview`), so the page costs one database round trip, not one per
/// card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    /// The address a change of the account's email waits on, if any.
    pub pending_email: Option<String>,
    pub two_factor: TwoFactorStatus,
    pub passkeys: PasskeyStatus,
    pub sessions: SessionList,
    /// Newest first.
    pub api_keys: Vec<ApiKeyView>,
    /// The latest security events, newest first (failed sign-ins in a row folded into one).
    pub activity: Vec<ActivityView>,
}
