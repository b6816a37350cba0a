//! Browser sessions: start, resolve a cookie, list, revoke, expire.
//!
//! A session ends at the first of its absolute expiry and (unless remembered) its idle
//! timeout; the cookie's own lifetime is only how long the browser offers it.

use std::sync::Arc;

use crate::model::activity::{count_of, ActivityKind, SessionList};
use crate::model::{AppError, PublicUser};
use crate::server::clock::Clock;
use crate::server::db::{SessionRecord, Store, UserRecord};
use crate::server::error::ServiceError;

use super::activity::ActivityLog;
use super::client::{device_summary, ClientMeta};
use super::public_id;
use super::session::SessionToken;
use super::settings::SessionSettings;
use super::views::{public_user, session_view};

/// `last_seen_at` (of a session or an API key) is written at most this often, so browsing is
/// not a database write per request.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// The signed-in person behind a session cookie, and that session. Opaque to the doors: they
/// hand it back to the services, and read only what the accessors show.
#[derive(Clone)]
pub struct CurrentSession {
    pub(super) user: UserRecord,
    pub(super) session: SessionRecord,
}

impl CurrentSession {
    /// Internal: handed back to the services, never shown.
    pub fn user_id(&self) -> i64 {
        self.user.id
    }

    pub fn user(&self) -> PublicUser {
        public_user(&self.user)
    }
}

/// The session lookup of one page render, done once and shared by every part of the page that
/// asks (the account page asked eight times: its header, each card's data, each card's
/// guard). Provided for `GET` renders only (`server::startup`): a render changes no session,
/// so the answer cannot go stale within it, while a server function that signs in or out
/// must see its own change and always looks again.
#[derive(Clone, Default)]
pub struct RenderSession(Arc<tokio::sync::OnceCell<Option<CurrentSession>>>);

impl RenderSession {
    /// The first caller looks `token` up; everyone after it in the render gets that answer.
    /// A failed lookup is not kept: the next caller tries again.
    pub async fn current(
        &self,
        sessions: &Sessions,
        token: &SessionToken,
    ) -> Result<Option<CurrentSession>, ServiceError> {
        self.0
            .get_or_try_init(|| sessions.current(token))
            .await
            .cloned()
    }
}

/// A session just started (registration, sign-in, password change): the token for the
/// cookie, and whether the cookie should outlive the browser session.
pub struct SignedIn {
    pub token: SessionToken,
    pub remember: bool,
}

#[derive(Clone)]
pub struct Sessions {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: SessionSettings,
    pub(super) activity: ActivityLog,
}

impl Sessions {
    /// A fresh session with a fresh token and a fresh public id: never reuses an id the
    /// browser already had (no session fixation).
    pub(super) async fn start(
        &self,
        user: &UserRecord,
        remember: bool,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let record = SessionRecord {
            token_hash: token.hash(),
            // Unrelated to the token, so showing it (session list, revoke forms) reveals
            // nothing usable.
            id: public_id::generate(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.absolute_timeout.as_secs() as i64,
            remember,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            // The epoch of the credentials that were just checked: if the account moved on
            // since (a password change racing this sign-in), the session is refused on use.
            token_version: user.token_version,
        };
        self.store.insert_session(&record).await?;
        Ok(SignedIn { token, remember })
    }

    /// When `session` stops being valid: its absolute expiry, or (unless remembered) the
    /// idle timeout counted from its last use.
    fn deadline(&self, session: &SessionRecord) -> i64 {
        if session.remember {
            session.expires_at
        } else {
            let idle = session.last_seen_at + self.settings.idle_timeout.as_secs() as i64;
            idle.min(session.expires_at)
        }
    }

    /// The signed-in user and session for a session token, or `None` when the session is
    /// unknown, has expired, or belongs to an older credential epoch than the account's
    /// (such a row is deleted on the spot).
    pub async fn current(
        &self,
        token: &SessionToken,
    ) -> Result<Option<CurrentSession>, ServiceError> {
        let hash = token.hash();
        // One statement for both rows: a signed-in page or request costs one round trip to
        // the database, not two (docs/benchmarks.md).
        let Some((mut session, user)) = self.store.session_with_user(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= self.deadline(&session) {
            self.store.delete_session(&hash).await?;
            tracing::info!(event = "session.expired", user_id = session.user_id);
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
            self.store.touch_session(&hash, now).await?;
            session.last_seen_at = now;
        }
        if session.token_version != user.token_version {
            self.store.delete_session(&hash).await?;
            tracing::warn!(event = "session.stale_credentials", user_id = user.id);
            return Ok(None);
        }
        Ok(Some(CurrentSession { user, session }))
    }

    /// Ends the session a browser had before it signed in again (as the same person or as
    /// someone else): one browser, one session (ASVS 7.2.4). Not a sign-out in the activity
    /// log: the new sign-in is what happened.
    pub async fn end_replaced(&self, token: &SessionToken) -> Result<(), ServiceError> {
        self.store.delete_session(&token.hash()).await?;
        Ok(())
    }

    /// Ends the session server-side; the cookie alone is worthless afterwards.
    pub async fn logout(
        &self,
        token: &SessionToken,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let hash = token.hash();
        if let Some(session) = self.store.session(&hash).await? {
            self.store.delete_session(&hash).await?;
            self.activity
                .record(session.user_id, ActivityKind::SignedOut, meta, None)
                .await;
        }
        Ok(())
    }

    /// The user's live sessions: this one first, then the most recently used.
    pub async fn list(&self, current: &CurrentSession) -> Result<SessionList, ServiceError> {
        let rows = self.store.sessions_of(current.user.id).await?;
        Ok(self.list_of(current, rows))
    }

    /// `list` from the user's rows, read already (in `Store::sessions_of`'s order).
    pub(super) fn list_of(
        &self,
        current: &CurrentSession,
        rows: Vec<SessionRecord>,
    ) -> SessionList {
        let now = self.clock.now();
        let mut sessions = rows
            .into_iter()
            // Expired rows linger until the next purge; they are not sessions any more.
            .filter(|s| now < self.deadline(s))
            .map(|s| {
                let this_one = s.token_hash == current.session.token_hash;
                session_view(s, this_one)
            })
            .collect::<Vec<_>>();
        // Stable: the store's most-recently-used order is kept behind this session.
        sessions.sort_by_key(|s| !s.current);
        SessionList {
            sessions,
            idle_timeout_secs: self.settings.idle_timeout.as_secs(),
            absolute_timeout_secs: self.settings.absolute_timeout.as_secs(),
        }
    }

    /// Ends one of the user's sessions by its public id; `NotFound` for anyone else's.
    pub async fn revoke(
        &self,
        current: &CurrentSession,
        session_id: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user_id = current.user.id;
        let target = self
            .store
            .sessions_of(user_id)
            .await?
            .into_iter()
            .find(|s| s.id == session_id);
        let Some(target) = target else {
            return Err(AppError::NotFound.into());
        };
        if !self.store.delete_user_session(user_id, session_id).await? {
            return Err(AppError::NotFound.into());
        }
        let detail = target.user_agent.as_deref().and_then(device_summary);
        let detail = match (detail, target.ip) {
            (Some(device), Some(ip)) => Some(format!("{device}, {ip}")),
            (device, ip) => device.or(ip),
        };
        self.activity
            .record(user_id, ActivityKind::SessionRevoked, meta, detail)
            .await;
        Ok(())
    }

    /// Ends every session of the user except the current one.
    pub async fn revoke_others(
        &self,
        current: &CurrentSession,
        meta: &ClientMeta,
    ) -> Result<u64, ServiceError> {
        let user_id = current.user.id;
        let ended = self
            .store
            .delete_other_sessions(user_id, &current.session.token_hash)
            .await?;
        let detail = format!("{} ended", count_of(ended, "session"));
        self.activity
            .record(
                user_id,
                ActivityKind::OtherSessionsRevoked,
                meta,
                Some(detail),
            )
            .await;
        Ok(ended)
    }

    /// Sessions that have not expired (for the metrics).
    pub async fn count_active(&self) -> Result<u64, ServiceError> {
        let idle = self.settings.idle_timeout.as_secs() as i64;
        Ok(self
            .store
            .count_active_sessions(self.clock.now(), idle)
            .await?)
    }

    /// Deletes expired sessions; run periodically by the server.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        let idle = self.settings.idle_timeout.as_secs() as i64;
        Ok(self
            .store
            .delete_expired_sessions(self.clock.now(), idle)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::ClientMeta;
    use super::super::test_support::*;
    use super::RenderSession;
    use crate::model::activity::ActivityKind;
    use crate::model::AppError;
    use crate::server::error::ServiceError;

    #[tokio::test]
    async fn an_idle_session_ends_and_a_remembered_one_lives_to_its_absolute_limit() {
        let f = fixture().await;
        let plain = f.register("alice").await;
        let remembered = f.login("alice", true).await;
        let sessions = &f.auth.sessions;
        assert!(sessions.current(&plain.token).await.unwrap().is_some());

        f.advance(IDLE_SECS);
        assert!(sessions.current(&plain.token).await.unwrap().is_none());
        // The expired row went with the refusal.
        assert!(f
            .store
            .session(&plain.token.hash())
            .await
            .unwrap()
            .is_none());
        assert!(sessions.current(&remembered.token).await.unwrap().is_some());

        f.advance(ABSOLUTE_SECS);
        assert!(sessions.current(&remembered.token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn use_is_written_at_most_once_a_minute() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let hash = signed_in.token.hash();
        let seen = |f: &Fixture| {
            let hash = hash.clone();
            let store = f.store.clone();
            async move { store.session(&hash).await.unwrap().unwrap().last_seen_at }
        };
        f.advance(59);
        f.auth.sessions.current(&signed_in.token).await.unwrap();
        assert_eq!(seen(&f).await, START);
        f.advance(1);
        f.auth.sessions.current(&signed_in.token).await.unwrap();
        assert_eq!(seen(&f).await, START + 60);
    }

    #[tokio::test]
    async fn a_render_looks_the_session_up_once_and_a_failed_lookup_is_not_kept() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let sessions = &f.auth.sessions;
        let render = RenderSession::default();
        let first = render.current(sessions, &signed_in.token).await.unwrap();
        assert!(first.is_some());

        // Gone from the store (another tab signed out): the render keeps what it first saw,
        // a lookup outside any render sees the change at once.
        sessions.logout(&signed_in.token, &meta()).await.unwrap();
        assert!(sessions.current(&signed_in.token).await.unwrap().is_none());
        let again = render.current(sessions, &signed_in.token).await.unwrap();
        assert_eq!(again.map(|c| c.user_id()), first.map(|c| c.user_id()));

        // An error is not memoised: the next caller of the same render asks the store again.
        let other = f.register("bob").await;
        let render = RenderSession::default();
        f.store.close().await;
        assert!(render.current(sessions, &other.token).await.is_err());
        assert!(render.0.get().is_none());
    }

    #[tokio::test]
    async fn the_list_shows_this_session_first_and_revokes_only_your_own() {
        let f = fixture().await;
        let first = f.register("alice").await;
        f.advance(120);
        let _second = f.login("alice", false).await;
        let bob = f.register("bob").await;

        let current = f.current(&first).await;
        let list = f.auth.sessions.list(&current).await.unwrap();
        assert_eq!(list.sessions.len(), 2);
        assert!(list.sessions[0].current);
        assert_eq!(list.sessions[0].device, "Firefox on Linux");
        assert_eq!(list.idle_timeout_secs, IDLE_SECS);

        let bobs = f.current(&bob).await;
        // Each session names its own account's row (the ids differ: bob registered second).
        for (session, name) in [(&current, "alice"), (&bobs, "bob")] {
            let row = f.store.user_by_username(name).await.unwrap().unwrap();
            assert_eq!(session.user_id(), row.id, "{name}");
        }
        assert_ne!(current.user_id(), bobs.user_id());
        let bobs_id = f.auth.sessions.list(&bobs).await.unwrap().sessions[0]
            .id
            .clone();
        let refused = f.auth.sessions.revoke(&current, &bobs_id, &meta()).await;
        assert!(matches!(
            refused,
            Err(ServiceError::Client(AppError::NotFound))
        ));
        assert!(f.auth.sessions.current(&bob.token).await.unwrap().is_some());

        let other = list.sessions[1].id.clone();
        f.auth
            .sessions
            .revoke(&current, &other, &meta())
            .await
            .unwrap();
        assert_eq!(
            f.auth.sessions.list(&current).await.unwrap().sessions.len(),
            1
        );
    }

    #[tokio::test]
    async fn a_session_leaves_the_list_the_second_its_idle_time_is_up() {
        let f = fixture().await;
        let _plain = f.register("alice").await;
        let remembered = f.login("alice", true).await;
        f.advance(IDLE_SECS - 1);
        let current = f.current(&remembered).await;
        assert_eq!(
            f.auth.sessions.list(&current).await.unwrap().sessions.len(),
            2
        );
        f.advance(1);
        let list = f.auth.sessions.list(&current).await.unwrap();
        assert_eq!(
            list.sessions.len(),
            1,
            "the plain session is at its idle deadline"
        );
        assert!(list.sessions[0].current);
    }

    #[tokio::test]
    async fn the_activity_log_names_the_device_of_the_session_that_was_ended() {
        let f = fixture().await;
        let here = f.register("alice").await;
        let phone = ClientMeta {
            ip: Some("198.51.100.7".into()),
            user_agent: Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36"
                    .into(),
            ),
            request_id: None,
        };
        f.login_from("alice", false, &phone).await;
        let current = f.current(&here).await;
        let list = f.auth.sessions.list(&current).await.unwrap();
        let other = list.sessions.iter().find(|s| !s.current).unwrap();
        f.auth
            .sessions
            .revoke(&current, &other.id, &meta())
            .await
            .unwrap();

        let events = f.auth.activity.recent(current.user_id()).await.unwrap();
        let revoked = events
            .iter()
            .find(|e| e.kind == ActivityKind::SessionRevoked)
            .expect("a revocation row");
        let detail = revoked.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("Chrome") && detail.ends_with(", 198.51.100.7"),
            "{detail}"
        );
        assert!(!detail.contains("192.0.2.1"), "{detail}");
    }

    #[tokio::test]
    async fn the_active_count_leaves_out_ended_sessions_and_the_purge_deletes_them() {
        let f = fixture().await;
        f.register("alice").await;
        f.register("bob").await;
        f.login("alice", true).await;
        let sessions = &f.auth.sessions;
        assert_eq!(sessions.count_active().await.unwrap(), 3);
        f.advance(IDLE_SECS);
        assert_eq!(
            sessions.count_active().await.unwrap(),
            1,
            "only the remembered one"
        );
        assert_eq!(sessions.purge_expired().await.unwrap(), 2);
        assert_eq!(sessions.purge_expired().await.unwrap(), 0);
        assert_eq!(sessions.count_active().await.unwrap(), 1);
    }
}
