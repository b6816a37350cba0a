//! The security activity log as the services write and read it: each event goes to the
//! account's hash chain (see `server::audit`) and to the tracing log, with the new chain hash,
//! which anchors the chain outside the database.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::model::activity::{ActivityKind, ActivityView, RepeatedFailures};
use crate::server::clock::Clock;
use crate::server::db::{AuditRecord, NewAuditEvent, Store};
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

    /// The user's most recent security events, newest first, as the account page shows
    /// them: at most `ACTIVITY_SHOWN` rows, failed sign-ins in a row folded into one.
    pub async fn recent(&self, user_id: i64) -> Result<Vec<ActivityView>, ServiceError> {
        let first = self
            .store
            .audit_events_of(user_id, None, FIRST_READ)
            .await?;
        self.recent_from(user_id, first).await
    }

    /// `recent`, given the newest `FIRST_READ` events, read already: reads further only when
    /// folded failures leave the page short.
    pub(super) async fn recent_from(
        &self,
        user_id: i64,
        first: Vec<AuditRecord>,
    ) -> Result<Vec<ActivityView>, ServiceError> {
        let mut folder = ActivityFolder::new(ACTIVITY_SHOWN as usize);
        let (mut before, mut scanned, mut read) = (None, 0, FIRST_READ);
        let mut next = Some(first);
        loop {
            let rows = match next.take() {
                Some(rows) => rows,
                None => self.store.audit_events_of(user_id, before, read).await?,
            };
            let exhausted = (rows.len() as i64) < read;
            before = rows.last().map(|row| row.seq);
            scanned += rows.len();
            read = next_read(read).min(SCAN_LIMIT.saturating_sub(scanned) as i64);
            for row in rows {
                let Some(kind) = ActivityKind::parse(&row.event.kind) else {
                    continue;
                };
                folder.push(ActivityView {
                    kind,
                    at: row.event.created_at,
                    ip: row.event.ip,
                    device: row.event.device,
                    detail: row.event.detail,
                    repeated: None,
                });
                if folder.is_full() {
                    return Ok(folder.finish(false));
                }
            }
            if exhausted {
                return Ok(folder.finish(false));
            }
            if scanned >= SCAN_LIMIT {
                return Ok(folder.finish(true));
            }
        }
    }
}

/// Events the page's first read asks for: as many as it shows, which is every read an
/// account needs unless failed sign-ins in a row fold into one row. Reading more up front
/// costs every render of a busy account: with 100 events, reading them all made `/account`
/// 1.41× slower than reading 50 (on SQLite each row is a message from the connection's worker
/// thread; docs/benchmarks.md). Reading fewer could never fill the page.
pub(super) const FIRST_READ: i64 = ACTIVITY_SHOWN;
/// The most events one read asks for: the reads after the first grow to it, so a long run of
/// failures costs a few larger reads rather than hundreds of small ones.
const SCAN_PAGE: i64 = 500;

/// How many events the read after one of `previous` asks for.
fn next_read(previous: i64) -> i64 {
    (previous * 4).min(SCAN_PAGE)
}

/// Events looked through for one page at most: days of the fastest guessing the account
/// throttle lets through (~70 failures an hour), and still one bounded read.
const SCAN_LIMIT: usize = 10_000;

/// Builds the activity page from events newest first: each event is a row, except that
/// failed (and slowed-down) sign-ins in a row become one row saying how many, from how many
/// addresses, over what time. Someone guessing a password can thus add one row, not fifty,
/// and the owner's own sign-ins and changes stay on the page.
struct ActivityFolder {
    rows: Vec<ActivityView>,
    limit: usize,
    run: Option<FailureRun>,
}

/// Failed sign-ins in a row, newest first.
struct FailureRun {
    newest: ActivityView,
    events: usize,
    failures: u64,
    since: i64,
    addresses: BTreeSet<String>,
    throttled: bool,
}

fn is_failure(kind: ActivityKind) -> bool {
    matches!(
        kind,
        ActivityKind::SignInFailed | ActivityKind::SignInThrottled
    )
}

impl ActivityFolder {
    fn new(limit: usize) -> Self {
        Self {
            rows: Vec::new(),
            limit,
            run: None,
        }
    }

    fn push(&mut self, event: ActivityView) {
        if !is_failure(event.kind) {
            self.close_run(false);
            self.rows.push(event);
            return;
        }
        let run = self.run.get_or_insert_with(|| FailureRun {
            newest: event.clone(),
            events: 0,
            failures: 0,
            since: event.at,
            addresses: BTreeSet::new(),
            throttled: false,
        });
        run.events += 1;
        run.since = event.at;
        match event.kind {
            ActivityKind::SignInThrottled => run.throttled = true,
            _ => run.failures += 1,
        }
        run.addresses.extend(event.ip);
    }

    /// Full once the closed rows reach the limit: nothing older can change them.
    fn is_full(&self) -> bool {
        self.rows.len() >= self.limit
    }

    fn close_run(&mut self, at_least: bool) {
        let Some(run) = self.run.take() else {
            return;
        };
        if run.events == 1 {
            self.rows.push(run.newest);
            return;
        }
        self.rows.push(ActivityView {
            kind: ActivityKind::SignInFailed,
            detail: None,
            repeated: Some(RepeatedFailures {
                failures: run.failures,
                since: run.since,
                addresses: run.addresses.len() as u64,
                throttled: run.throttled,
                at_least,
            }),
            ..run.newest
        });
    }

    /// The page; `truncated`: the events ran past what was looked through.
    fn finish(mut self, truncated: bool) -> Vec<ActivityView> {
        self.close_run(truncated);
        self.rows.truncate(self.limit);
        self.rows
    }
}

/// The first 8 bytes of a hash as hex: enough to anchor a chain head in the logs.
pub fn hex_prefix(hash: &[u8]) -> String {
    hex::encode(&hash[..hash.len().min(8)])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn event(kind: ActivityKind, at: i64, ip: &str) -> ActivityView {
        ActivityView {
            at,
            kind,
            ip: Some(ip.into()),
            device: None,
            detail: None,
            repeated: None,
        }
    }

    /// Folds `events` (oldest first, as they happened) the way the page reads them.
    fn fold(events: &[ActivityView], limit: usize) -> Vec<ActivityView> {
        let mut folder = ActivityFolder::new(limit);
        for event in events.iter().rev() {
            folder.push(event.clone());
            if folder.is_full() {
                break;
            }
        }
        folder.finish(false)
    }

    #[test]
    fn failed_sign_ins_in_a_row_are_one_row() {
        let mut events = vec![
            event(ActivityKind::AccountCreated, 1, "192.0.2.1"),
            event(ActivityKind::SignedIn, 2, "192.0.2.1"),
        ];
        for i in 0..200 {
            events.push(event(
                ActivityKind::SignInFailed,
                10 + i,
                ["198.51.100.7", "203.0.113.9"][i as usize % 2],
            ));
            if i >= 5 {
                events.push(event(ActivityKind::SignInThrottled, 10 + i, "198.51.100.7"));
            }
        }
        events.push(event(ActivityKind::SignedIn, 500, "192.0.2.1"));
        let rows = fold(&events, 50);
        let kinds: Vec<_> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                ActivityKind::SignedIn,
                ActivityKind::SignInFailed,
                ActivityKind::SignedIn,
                ActivityKind::AccountCreated
            ]
        );
        let run = rows[1].repeated.as_ref().expect("a folded row");
        assert_eq!(
            (
                run.failures,
                run.since,
                run.addresses,
                run.throttled,
                run.at_least
            ),
            (200, 10, 2, true, false)
        );
        assert_eq!(rows[1].at, 209);
        assert_eq!(rows[1].title(), "200 failed sign-ins in a row");
    }

    #[test]
    fn a_single_failure_stays_as_it_was() {
        let failure = event(ActivityKind::SignInFailed, 5, "192.0.2.1");
        let rows = fold(
            &[
                event(ActivityKind::SignedIn, 1, "192.0.2.1"),
                failure.clone(),
                event(ActivityKind::SignedIn, 9, "192.0.2.1"),
            ],
            50,
        );
        assert_eq!(rows[1], failure);
        assert_eq!(rows[1].title(), "Failed sign-in (wrong password)");
    }

    #[test]
    fn the_page_holds_the_newest_rows_up_to_its_limit() {
        let events: Vec<_> = (0..60)
            .map(|i| event(ActivityKind::SignedIn, i, "192.0.2.1"))
            .collect();
        let rows = fold(&events, 50);
        assert_eq!(rows.len(), 50);
        assert_eq!((rows[0].at, rows[49].at), (59, 10));
    }

    #[test]
    fn a_run_cut_off_by_the_scan_limit_says_at_least() {
        let mut folder = ActivityFolder::new(50);
        for at in (0..3).rev() {
            folder.push(event(ActivityKind::SignInFailed, at, "192.0.2.1"));
        }
        let rows = folder.finish(true);
        assert!(rows[0].repeated.as_ref().unwrap().at_least);
        assert_eq!(rows[0].title(), "3+ failed sign-ins in a row");
    }

    #[tokio::test]
    async fn someone_elses_guessing_does_not_push_the_owners_events_off_the_page() {
        let f = fixture().await;
        f.register("alice").await;
        let signed_in = f.login("alice", false).await;
        let user_id = f.current(&signed_in).await.user_id();
        // More than one read's worth (`SCAN_PAGE`), so the page reads on past the first.
        for _ in 0..600 {
            f.auth
                .activity
                .record(user_id, ActivityKind::SignInFailed, &meta(), None)
                .await;
        }
        let rows = f.auth.activity.recent(user_id).await.unwrap();
        let kinds: Vec<_> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                ActivityKind::SignInFailed,
                ActivityKind::SignedIn,
                ActivityKind::AccountCreated
            ],
            "{rows:?}"
        );
        assert_eq!(rows[0].repeated.as_ref().unwrap().failures, 600);
    }

    #[test]
    fn the_first_read_is_the_page_and_later_reads_grow_to_the_scan_page() {
        assert_eq!(FIRST_READ, ACTIVITY_SHOWN);
        let reads: Vec<_> = std::iter::successors(Some(FIRST_READ), |&r| Some(next_read(r)))
            .take(4)
            .collect();
        assert_eq!(reads, [50, 200, 500, 500]);
    }

    #[tokio::test]
    async fn a_busy_account_shows_its_newest_events() {
        let f = fixture().await;
        let user_id = f.current(&f.register("alice").await).await.user_id();
        for at in 0..(3 * ACTIVITY_SHOWN) {
            f.auth
                .activity
                .record(
                    user_id,
                    ActivityKind::SignedIn,
                    &meta(),
                    Some(at.to_string()),
                )
                .await;
        }
        let rows = f.auth.activity.recent(user_id).await.unwrap();
        assert_eq!(rows.len(), ACTIVITY_SHOWN as usize);
        // Newest first, and the newest ones: the older events (and the account's creation)
        // are past the page.
        let details: Vec<_> = rows.iter().map(|r| r.detail.clone().unwrap()).collect();
        assert_eq!(details[0], (3 * ACTIVITY_SHOWN - 1).to_string());
        assert_eq!(details[49], (2 * ACTIVITY_SHOWN).to_string());
    }

    #[test]
    fn a_chain_head_is_logged_by_its_first_eight_bytes() {
        assert_eq!(hex_prefix(&[0xab; 32]), "abababababababab");
        assert_eq!(hex_prefix(&[1, 2]), "0102");
    }
}
