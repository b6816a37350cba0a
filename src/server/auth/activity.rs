//! The security activity log as the services write and read it: each event goes to the
//! account's hash chain (see `server::audit`) and to the tracing log, with the new chain hash,
//! which anchors the chain outside the database.

use std::sync::Arc;

use crate::model::activity::{ActivityKind, ActivityView};
use crate::server::clock::Clock;
use crate::server::db::{NewAuditEvent, Store};
use crate::server::error::ServiceError;

use super::client::ClientMeta;

/// How many events `/account` shows.
pub const ACTIVITY_SHOWN: i64 = 50;

#[derive(Clone)]
pub struct ActivityLog {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
}

impl ActivityLog {
    /// Appends a security event to the user's chain and to the tracing log. A failed write is
    /// logged loudly but does not undo what already happened.
    pub async fn record(
        &self,
        user_id: i64,
        kind: ActivityKind,
        meta: &ClientMeta,
        detail: Option<String>,
    ) {
        let event = NewAuditEvent {
            user_id,
            created_at: self.clock.now(),
            kind: kind.as_str().to_string(),
            ip: meta.ip.clone(),
            device: meta.device(),
            request_id: meta.request_id.clone(),
            detail,
        };
        match self.store.append_audit_event(&event).await {
            Ok(stored) => tracing::info!(
                event = kind.as_str(),
                user_id,
                ip = meta.ip.as_deref(),
                seq = stored.seq,
                chain_hash = %hex_prefix(&stored.hash),
            ),
            Err(error) => tracing::error!(
                event = kind.as_str(),
                user_id,
                %error,
                "could not write the security activity log"
            ),
        }
    }

    /// The record that replaces an erased account's chain: no address, no device.
    pub fn erasure_event(&self, user_id: i64, meta: &ClientMeta) -> NewAuditEvent {
        NewAuditEvent {
            user_id,
            created_at: self.clock.now(),
            kind: ActivityKind::AccountDeleted.as_str().to_string(),
            ip: None,
            device: None,
            request_id: meta.request_id.clone(),
            detail: None,
        }
    }

    /// The user's most recent security events, newest first.
    pub async fn recent(&self, user_id: i64) -> Result<Vec<ActivityView>, ServiceError> {
        let rows = self.store.audit_events_of(user_id, ACTIVITY_SHOWN).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(ActivityView {
                    kind: ActivityKind::parse(&row.event.kind)?,
                    at: row.event.created_at,
                    ip: row.event.ip,
                    device: row.event.device,
                    detail: row.event.detail,
                })
            })
            .collect())
    }
}

/// The first 8 bytes of a hash as hex: enough to anchor a chain head in the logs.
pub fn hex_prefix(hash: &[u8]) -> String {
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::hex_prefix;

    #[test]
    fn a_chain_head_is_logged_by_its_first_eight_bytes() {
        assert_eq!(hex_prefix(&[0xab; 32]), "abababababababab");
        assert_eq!(hex_prefix(&[1, 2]), "0102");
    }
}
