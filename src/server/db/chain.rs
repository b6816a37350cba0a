//! The arithmetic of the activity log's hash chains: where a new row links in, and its hash.
//! Pure functions, used by the backends to append rows and by `server::audit` to verify
//! them, so the two can never disagree (see `server::audit` for what the chain guarantees).

use sha2::{Digest, Sha256};

use super::NewAuditEvent;

/// `prev_hash` of the first row of every chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The `(seq, prev_hash)` for the row after `last` (the chain's current head, if any).
pub fn next_link(last: Option<(i64, Vec<u8>)>) -> (i64, Vec<u8>) {
    match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_vec()),
    }
}

/// The hash of a row: SHA-256 over a version tag, the previous hash, and every field, each
/// length-prefixed (and `None` distinct from `Some("")`), so no two rows encode alike.
pub fn chain_hash(prev_hash: &[u8], seq: i64, event: &NewAuditEvent) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"gatehouse-audit-v1");
    let mut field = |bytes: Option<&[u8]>| match bytes {
        None => hasher.update([0u8]),
        Some(bytes) => {
            hasher.update([1u8]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
    };
    field(Some(prev_hash));
    field(Some(&event.user_id.to_be_bytes()));
    field(Some(&seq.to_be_bytes()));
    field(Some(&event.created_at.to_be_bytes()));
    field(Some(event.kind.as_bytes()));
    field(event.ip.as_deref().map(str::as_bytes));
    field(event.device.as_deref().map(str::as_bytes));
    field(event.request_id.as_deref().map(str::as_bytes));
    field(event.detail.as_deref().map(str::as_bytes));
    hasher.finalize().to_vec()
}
