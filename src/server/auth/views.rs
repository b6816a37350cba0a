//! Storage rows → the views the doors hand out. Each view has exactly one mapping, here, so
//! no door (server function or JSON handler) ever sees a row, a hash or an internal id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::model::activity::SessionView;
use crate::model::api_key::ApiKeyView;
use crate::model::passkey::PasskeyView;
use crate::model::PublicUser;
use crate::server::db::{ApiKeyRecord, PasskeyRecord, SessionRecord, UserRecord};

use super::client::device_summary;

pub fn public_user(user: &UserRecord) -> PublicUser {
    PublicUser {
        username: user.username.clone(),
        email: user.email.clone(),
        created_at: user.created_at,
        email_verified: user.email_verified_at.is_some(),
        two_factor_enabled: user.two_factor_enabled,
    }
}

pub fn api_key_view(key: &ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: key.id,
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        scopes: key.scopes.clone(),
        created_at: key.created_at,
        expires_at: key.expires_at,
        last_used_at: key.last_used_at,
        revoked_at: key.revoked_at,
    }
}

/// A passkey is named by its credential id, base64url (public: the browser has it too), never
/// by its row id.
pub fn passkey_view(passkey: PasskeyRecord) -> PasskeyView {
    PasskeyView {
        id: URL_SAFE_NO_PAD.encode(&passkey.credential_id),
        name: passkey.name,
        created_at: passkey.created_at,
        last_used_at: passkey.last_used_at,
        synced: passkey.backed_up,
    }
}

/// `current`: this row is the session the request came with.
pub fn session_view(session: SessionRecord, current: bool) -> SessionView {
    SessionView {
        current,
        device: session
            .user_agent
            .as_deref()
            .and_then(device_summary)
            .unwrap_or_else(|| "Unknown device".to_string()),
        id: session.id,
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        expires_at: session.expires_at,
        ip: session.ip,
        remember: session.remember,
    }
}
