//! The tamper-evident security activity log.
//!
//! Each account has its own chain of events. A row's hash is SHA-256 over the previous row's
//! hash and the row's own fields, in an unambiguous length-prefixed encoding, so changing,
//! reordering or removing a row in the middle of a chain breaks every hash after it.
//!
//! What the chain does not do on its own: someone with write access to the database can
//! recompute a whole chain, or cut rows off its end. Every appended event is therefore also
//! logged through `tracing` with its hash; logs shipped elsewhere anchor the chain heads.
//!
//! The one legitimate removal is erasure (account deletion): the chain is replaced by a single
//! `account.deleted` row whose `prev_hash` is the erased chain's last hash. The verifier
//! accepts a chain that starts that way and nothing else that does not start at `seq` 1.

use super::db::chain::{chain_hash, GENESIS};
use super::db::{AuditRecord, Store, StoreError};
use crate::model::activity::ActivityKind;

/// Checks chains row by row, in (user_id, seq) order, without holding them in memory.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    head: Option<(i64, i64, Vec<u8>)>,
    pub events: u64,
    pub chains: u64,
    /// One line per broken link, naming the user and the row.
    pub problems: Vec<String>,
}

impl ChainVerifier {
    pub fn push(&mut self, row: &AuditRecord) {
        self.events += 1;
        let user = row.event.user_id;
        let continues_chain = matches!(&self.head, Some((u, _, _)) if *u == user);
        if continues_chain {
            let Some((_, seq, hash)) = &self.head else {
                return;
            };
            if row.seq != seq + 1 {
                self.problems.push(format!(
                    "user {user}: row {} follows row {seq} (rows missing or reordered)",
                    row.seq
                ));
            } else if row.prev_hash != *hash {
                self.problems.push(format!(
                    "user {user}: row {} does not link to row {seq} (a row was altered or replaced)",
                    row.seq
                ));
            }
        } else {
            self.chains += 1;
            let is_erasure = row.event.kind == ActivityKind::AccountDeleted.as_str();
            let starts_cleanly = row.seq == 1 && row.prev_hash == GENESIS;
            if !starts_cleanly && !is_erasure {
                self.problems.push(format!(
                    "user {user}: chain starts at row {} (earlier rows removed)",
                    row.seq
                ));
            }
        }
        if chain_hash(&row.prev_hash, row.seq, &row.event) != row.hash {
            self.problems.push(format!(
                "user {user}: row {} does not match its hash (a field was altered)",
                row.seq
            ));
        }
        self.head = Some((user, row.seq, row.hash.clone()));
    }

    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads every chain from the store and checks it (`gatehouse audit verify`).
pub async fn verify(store: &dyn Store) -> Result<ChainVerifier, StoreError> {
    const PAGE: i64 = 1_000;
    let mut verifier = ChainVerifier::default();
    let mut after = None;
    loop {
        let page = store.audit_events_page(after, PAGE).await?;
        for row in &page {
            verifier.push(row);
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = Some((last.event.user_id, last.seq)),
            _ => return Ok(verifier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::db::chain::next_link;
    use crate::server::db::NewAuditEvent;

    fn event(user_id: i64, kind: ActivityKind, at: i64) -> NewAuditEvent {
        NewAuditEvent {
            user_id,
            created_at: at,
            kind: kind.as_str().to_string(),
            ip: Some("192.0.2.1".into()),
            device: Some("Firefox on Linux".into()),
            request_id: Some("req-1".into()),
            detail: None,
        }
    }

    fn chain(user_id: i64, kinds: &[ActivityKind]) -> Vec<AuditRecord> {
        let mut rows: Vec<AuditRecord> = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            let last = rows.last().map(|r| (r.seq, r.hash.clone()));
            let (seq, prev_hash) = next_link(last);
            let event = event(user_id, *kind, 1_000 + i as i64);
            let hash = chain_hash(&prev_hash, seq, &event);
            rows.push(AuditRecord {
                event,
                seq,
                prev_hash,
                hash,
            });
        }
        rows
    }

    fn verify_rows(rows: &[AuditRecord]) -> ChainVerifier {
        let mut v = ChainVerifier::default();
        rows.iter().for_each(|r| v.push(r));
        v
    }

    const KINDS: [ActivityKind; 3] = [
        ActivityKind::AccountCreated,
        ActivityKind::SignedIn,
        ActivityKind::PasswordChanged,
    ];

    #[test]
    fn intact_chains_verify() {
        let mut rows = chain(1, &KINDS);
        rows.extend(chain(2, &KINDS[..2]));
        let v = verify_rows(&rows);
        assert!(v.is_intact(), "{:?}", v.problems);
        assert_eq!((v.events, v.chains), (5, 2));
    }

    #[test]
    fn an_altered_field_is_detected() {
        let mut rows = chain(1, &KINDS);
        rows[1].event.ip = Some("198.51.100.7".into());
        let v = verify_rows(&rows);
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert!(v.problems[0].contains("row 2 does not match its hash"));
    }

    #[test]
    fn a_removed_row_is_detected() {
        let mut rows = chain(1, &KINDS);
        rows.remove(1);
        assert!(!verify_rows(&rows).is_intact());
        let mut rows = chain(1, &KINDS);
        rows.remove(0);
        let v = verify_rows(&rows);
        assert!(
            v.problems[0].contains("chain starts at row 2"),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_recomputed_row_still_breaks_the_link_to_the_next() {
        let mut rows = chain(1, &KINDS);
        rows[1].event.kind = ActivityKind::SignInFailed.as_str().into();
        rows[1].hash = chain_hash(&rows[1].prev_hash, 2, &rows[1].event);
        let v = verify_rows(&rows);
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert!(v.problems[0].contains("row 3 does not link to row 2"));
    }

    #[test]
    fn an_erasure_record_may_start_a_chain() {
        let erased = chain(1, &KINDS);
        let head = erased.last().unwrap();
        let (seq, prev_hash) = next_link(Some((head.seq, head.hash.clone())));
        let event = event(1, ActivityKind::AccountDeleted, 2_000);
        let hash = chain_hash(&prev_hash, seq, &event);
        let row = AuditRecord {
            event,
            seq,
            prev_hash,
            hash,
        };
        assert!(verify_rows(&[row]).is_intact());
    }

    #[test]
    fn none_and_empty_fields_hash_differently() {
        let mut a = event(1, ActivityKind::SignedIn, 1);
        let mut b = a.clone();
        a.detail = None;
        b.detail = Some(String::new());
        assert_ne!(chain_hash(&GENESIS, 1, &a), chain_hash(&GENESIS, 1, &b));
    }
}
