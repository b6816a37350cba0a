//! A short memory in front of the store for the two reads behind every signed-in request: a
//! session cookie's session and account (`session_with_user`), and an access token's account
//! (`user_by_public_id`).
//!
//! Why: on SQLite each statement is handed to the connection's worker thread and back, and
//! under load those thread switches cost more than the query (docs/benchmarks.md). Why not a
//! cache crate: the guarantee below needs "remember this answer only if no write happened since
//! the read began", checked and stored under one lock with the writes' own invalidation, which
//! the general-purpose caches (moka, quick_cache) do not offer.
//!
//! What it guarantees (docs/security-tests.md, "Caching"):
//! - **In this process, nothing is ever stale.** Every write through this store that could
//!   change a remembered answer (sign-out, sign-out everywhere, a password change or reset, an
//!   address change, two-factor on or off, account deletion, …) forgets it once the write is
//!   done, and a read that was under way when a write finished is not remembered.
//! - **Across instances** (several servers on one database) and for writes made outside the
//!   server (`gatehouse two-factor reset`), an answer is used for at most `ttl_secs` after it
//!   was read (`CREDENTIAL_CACHE_SECS`, 1 s by default; `0` turns the memory off): a session
//!   ended on one instance may still be accepted by another for up to that long.
//! - Unknown sessions and accounts are never remembered: a guessed cookie always asks the
//!   database.
//!
//! A new `Store` method must be sorted into one of the groups below (the compiler makes every
//! method be written out here): a write that touches users, sessions or two-factor state
//! forgets everything.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::server::clock::Clock;

use super::{
    AccountRows, ApiKeyRecord, AuditRecord, DatabaseSettings, EmailLinkRecord, NewAuditEvent,
    NewRecoveryCodes, NewUser, PasskeyCeremonyRecord, PasskeyRecord, PoolSample, SessionRecord,
    SignInChallengeRecord, Store, StoreError, TwoFactorRecord, UserRecord,
};

/// Answers remembered per kind. Past it the memory starts again from empty: a bound on memory
/// that needs no eviction order (an answer lives ~1 s anyway).
const CAPACITY: usize = 10_000;

pub struct CachedStore {
    inner: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl_secs: i64,
    memory: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    /// Moves on with every forgetting. A read remembers its answer only if the generation is
    /// still the one it started under: a write that finished while the read was under way
    /// may have changed what it read.
    generation: u64,
    sessions: HashMap<Vec<u8>, Remembered<(SessionRecord, UserRecord)>>,
    accounts: HashMap<String, Remembered<UserRecord>>,
}

struct Remembered<T> {
    value: T,
    read_at: i64,
}

impl CachedStore {
    /// `inner` behind a memory of `ttl_secs`; `inner` itself when `ttl_secs` is 0.
    pub fn wrap(inner: Arc<dyn Store>, clock: Arc<dyn Clock>, ttl_secs: u64) -> Arc<dyn Store> {
        if ttl_secs == 0 {
            return inner;
        }
        Arc::new(Self {
            inner,
            clock,
            ttl_secs: ttl_secs as i64,
            memory: Mutex::default(),
        })
    }

    /// Opens the database `settings` names, behind a memory of its `credential_cache_secs`.
    pub async fn connect(
        settings: &DatabaseSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn Store>, StoreError> {
        let inner = super::connect(settings).await?;
        Ok(Self::wrap(inner, clock, settings.credential_cache_secs))
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // Nothing in the memory can be left half-changed by a panic (each change is one map
        // operation), so a poisoned lock is still usable.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh<T: Clone>(&self, remembered: Option<&Remembered<T>>) -> Option<T> {
        let now = self.clock.now();
        remembered
            .filter(|r| now < r.read_at + self.ttl_secs)
            .map(|r| r.value.clone())
    }

    /// The remembered answer for `key` in the memory `kind` picks, if still fresh; otherwise
    /// `read`'s answer, remembered unless a forgetting happened while it ran (or it is `None`).
    async fn recall_or_read<K, Q, T>(
        &self,
        kind: impl Fn(&mut Memory) -> &mut HashMap<K, Remembered<T>>,
        key: &Q,
        read: impl std::future::Future<Output = Result<Option<T>, StoreError>>,
    ) -> Result<Option<T>, StoreError>
    where
        K: Borrow<Q> + Hash + Eq,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        T: Clone,
    {
        let generation = {
            let mut memory = self.memory();
            if let Some(hit) = self.fresh(kind(&mut memory).get(key)) {
                return Ok(Some(hit));
            }
            memory.generation
        };
        let read_at = self.clock.now();
        let answer = read.await?;
        if let Some(value) = &answer {
            let remembered = Remembered {
                value: value.clone(),
                read_at,
            };
            remember(
                &mut self.memory(),
                kind,
                generation,
                key.to_owned(),
                remembered,
            );
        }
        Ok(answer)
    }

    /// After a write that may change any remembered answer.
    fn forget_all(&self) {
        let mut memory = self.memory();
        memory.generation += 1;
        memory.sessions.clear();
        memory.accounts.clear();
    }

    /// After a write to one session row.
    fn forget_session(&self, token_hash: &[u8]) {
        let mut memory = self.memory();
        memory.generation += 1;
        memory.sessions.remove(token_hash);
    }
}

/// Stores `value` under `key` if no forgetting happened since `generation` was read.
fn remember<K: Hash + Eq, T>(
    memory: &mut Memory,
    map: impl FnOnce(&mut Memory) -> &mut HashMap<K, Remembered<T>>,
    generation: u64,
    key: K,
    remembered: Remembered<T>,
) {
    if memory.generation != generation {
        return;
    }
    let map = map(memory);
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, remembered);
}

#[async_trait]
impl Store for CachedStore {
    // The two remembered reads.

    async fn session_with_user(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let read = self.inner.session_with_user(token_hash);
        self.recall_or_read(|m| &mut m.sessions, token_hash, read)
            .await
    }

    async fn user_by_public_id(&self, public_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let read = self.inner.user_by_public_id(public_id);
        self.recall_or_read(|m| &mut m.accounts, public_id, read)
            .await
    }

    // Writes to one session row: that session's answer goes.

    async fn touch_session(&self, token_hash: &[u8], last_seen_at: i64) -> Result<(), StoreError> {
        let result = self.inner.touch_session(token_hash, last_seen_at).await;
        self.forget_session(token_hash);
        result
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let result = self.inner.delete_session(token_hash).await;
        self.forget_session(token_hash);
        result
    }

    // Writes to accounts, to several sessions, or to what an account row carries (two-factor
    // state is part of `UserRecord`): everything goes. They are rare next to reads. Forgotten
    // after the write whatever its outcome: a failed write may still have happened.

    async fn set_password_hash(
        &self,
        user_id: i64,
        replaced: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let result = self.inner.set_password_hash(user_id, replaced, hash).await;
        self.forget_all();
        result
    }

    async fn replace_password(&self, user_id: i64, hash: &str) -> Result<i64, StoreError> {
        let result = self.inner.replace_password(user_id, hash).await;
        self.forget_all();
        result
    }

    async fn rebind_sessions(&self, user_id: i64, from: i64, to: i64) -> Result<u64, StoreError> {
        let result = self.inner.rebind_sessions(user_id, from, to).await;
        self.forget_all();
        result
    }

    async fn set_email_verified(
        &self,
        user_id: i64,
        email_canonical: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .inner
            .set_email_verified(user_id, email_canonical, at)
            .await;
        self.forget_all();
        result
    }

    async fn change_email(
        &self,
        user_id: i64,
        email: &str,
        email_canonical: &str,
        verified_at: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .change_email(user_id, email, email_canonical, verified_at)
            .await;
        self.forget_all();
        result
    }

    async fn bump_token_version(&self, user_id: i64) -> Result<(), StoreError> {
        let result = self.inner.bump_token_version(user_id).await;
        self.forget_all();
        result
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        let result = self.inner.delete_user_sessions(user_id).await;
        self.forget_all();
        result
    }

    async fn delete_user_session(&self, user_id: i64, id: &str) -> Result<bool, StoreError> {
        let result = self.inner.delete_user_session(user_id, id).await;
        self.forget_all();
        result
    }

    async fn delete_other_sessions(&self, user_id: i64, keep: &[u8]) -> Result<u64, StoreError> {
        let result = self.inner.delete_other_sessions(user_id, keep).await;
        self.forget_all();
        result
    }

    async fn delete_expired_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        let result = self.inner.delete_expired_sessions(now, idle_secs).await;
        self.forget_all();
        result
    }

    async fn begin_two_factor(
        &self,
        user_id: i64,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .inner
            .begin_two_factor(user_id, sealed_secret, now)
            .await;
        self.forget_all();
        result
    }

    async fn enable_two_factor(
        &self,
        user_id: i64,
        step: i64,
        now: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<bool, StoreError> {
        let result = self
            .inner
            .enable_two_factor(user_id, step, now, codes)
            .await;
        self.forget_all();
        result
    }

    async fn delete_two_factor(&self, user_id: i64) -> Result<bool, StoreError> {
        let result = self.inner.delete_two_factor(user_id).await;
        self.forget_all();
        result
    }

    async fn delete_account(
        &self,
        user_id: i64,
        final_event: &NewAuditEvent,
    ) -> Result<AuditRecord, StoreError> {
        let result = self.inner.delete_account(user_id, final_event).await;
        self.forget_all();
        result
    }

    // Everything else passes straight through: reads that are not remembered, and writes to
    // rows no remembered answer holds (API keys, links, recovery codes, challenges, passkeys,
    // ceremonies, the audit chain), or a new row no answer can have named yet.

    async fn insert_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        self.inner.insert_user(user).await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user_by_id(id).await
    }

    async fn user_by_username(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user_by_username(canonical).await
    }

    async fn user_by_email(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user_by_email(canonical).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<i64, StoreError> {
        self.inner.insert_api_key(key).await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.api_key_by_prefix(prefix).await
    }

    async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.api_keys_of(user_id).await
    }

    async fn revoke_api_key(
        &self,
        user_id: i64,
        key_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_api_key(user_id, key_id, now).await
    }

    async fn touch_api_key(&self, key_id: i64, now: i64) -> Result<(), StoreError> {
        self.inner.touch_api_key(key_id, now).await
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }

    async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.session(token_hash).await
    }

    async fn sessions_of(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.sessions_of(user_id).await
    }

    async fn replace_email_link(&self, link: &EmailLinkRecord) -> Result<(), StoreError> {
        self.inner.replace_email_link(link).await
    }

    async fn email_link(&self, token_hash: &[u8]) -> Result<Option<EmailLinkRecord>, StoreError> {
        self.inner.email_link(token_hash).await
    }

    async fn take_email_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<EmailLinkRecord>, StoreError> {
        self.inner.take_email_link(token_hash).await
    }

    async fn email_link_of(
        &self,
        user_id: i64,
        purpose: &str,
    ) -> Result<Option<EmailLinkRecord>, StoreError> {
        self.inner.email_link_of(user_id, purpose).await
    }

    async fn delete_email_links(&self, user_id: i64, purpose: &str) -> Result<u64, StoreError> {
        self.inner.delete_email_links(user_id, purpose).await
    }

    async fn delete_expired_email_links(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.delete_expired_email_links(now).await
    }

    async fn two_factor_of(&self, user_id: i64) -> Result<Option<TwoFactorRecord>, StoreError> {
        self.inner.two_factor_of(user_id).await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<(), StoreError> {
        self.inner.replace_recovery_codes(user_id, codes).await
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        self.inner.use_totp_step(user_id, step).await
    }

    async fn use_recovery_code(&self, user_id: i64, digest: &[u8]) -> Result<bool, StoreError> {
        self.inner.use_recovery_code(user_id, digest).await
    }

    async fn count_recovery_codes(&self, user_id: i64) -> Result<u64, StoreError> {
        self.inner.count_recovery_codes(user_id).await
    }

    async fn take_recovery_code_reveal(
        &self,
        user_id: i64,
        session_id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .take_recovery_code_reveal(user_id, session_id, now)
            .await
    }

    async fn insert_sign_in_challenge(
        &self,
        challenge: &SignInChallengeRecord,
    ) -> Result<(), StoreError> {
        self.inner.insert_sign_in_challenge(challenge).await
    }

    async fn sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError> {
        self.inner.sign_in_challenge(token_hash).await
    }

    async fn fail_sign_in_challenge(&self, token_hash: &[u8]) -> Result<i64, StoreError> {
        self.inner.fail_sign_in_challenge(token_hash).await
    }

    async fn take_sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError> {
        self.inner.take_sign_in_challenge(token_hash).await
    }

    async fn delete_expired_two_factor_state(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.delete_expired_two_factor_state(now).await
    }

    async fn passkeys_of(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.inner.passkeys_of(user_id).await
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        self.inner.passkey_by_credential_id(credential_id).await
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError> {
        self.inner.insert_passkey(passkey).await
    }

    async fn passkey_used(
        &self,
        id: i64,
        credential: &str,
        backed_up: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.inner
            .passkey_used(id, credential, backed_up, now)
            .await
    }

    async fn rename_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
        name: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .rename_passkey(user_id, credential_id, name)
            .await
    }

    async fn delete_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        self.inner.delete_passkey(user_id, credential_id).await
    }

    async fn insert_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremonyRecord,
    ) -> Result<(), StoreError> {
        self.inner.insert_passkey_ceremony(ceremony).await
    }

    async fn take_passkey_ceremony(
        &self,
        token_hash: &[u8],
        purpose: &str,
    ) -> Result<Option<PasskeyCeremonyRecord>, StoreError> {
        self.inner.take_passkey_ceremony(token_hash, purpose).await
    }

    async fn delete_expired_passkey_ceremonies(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.delete_expired_passkey_ceremonies(now).await
    }

    async fn append_audit_event(&self, event: &NewAuditEvent) -> Result<AuditRecord, StoreError> {
        self.inner.append_audit_event(event).await
    }

    async fn audit_events_of(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_events_of(user_id, before_seq, limit).await
    }

    async fn account_rows(
        &self,
        user_id: i64,
        link_purpose: &str,
        events: i64,
    ) -> Result<AccountRows, StoreError> {
        self.inner.account_rows(user_id, link_purpose, events).await
    }

    async fn audit_events_page(
        &self,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_events_page(after, limit).await
    }

    async fn count_active_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        self.inner.count_active_sessions(now, idle_secs).await
    }

    async fn pool_sample(&self) -> PoolSample {
        self.inner.pool_sample().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::server::clock::ManualClock;
    use crate::server::db::DatabasePoolSettings;

    const START: i64 = 1_800_000_000;

    /// Two servers on one SQLite file, each with its own memory, and the clock they share.
    struct TwoInstances {
        here: Arc<dyn Store>,
        there: Arc<dyn Store>,
        clock: ManualClock,
        _dir: tempfile::TempDir,
    }

    async fn two_instances() -> TwoInstances {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let clock = ManualClock::new(START);
        let settings = DatabaseSettings {
            url: SecretString::from(url),
            pool: DatabasePoolSettings {
                max_connections: 2,
                acquire_timeout: Duration::from_secs(5),
            },
            credential_cache_secs: 1,
        };
        let open = || async {
            CachedStore::connect(&settings, Arc::new(clock.clone()))
                .await
                .unwrap()
        };
        TwoInstances {
            here: open().await,
            there: open().await,
            clock: clock.clone(),
            _dir: dir,
        }
    }

    async fn alice_signed_in(store: &dyn Store, token_hash: &[u8]) -> UserRecord {
        let user = store
            .insert_user(&NewUser {
                public_id: "0f".repeat(16),
                username: "alice".into(),
                username_canonical: "alice".into(),
                email: "alice@example.com".into(),
                email_canonical: "alice@example.com".into(),
                password_hash: "$argon2id$placeholder".into(),
                created_at: START,
            })
            .await
            .unwrap();
        store
            .insert_session(&SessionRecord {
                token_hash: token_hash.to_vec(),
                id: "s1".into(),
                user_id: user.id,
                created_at: START,
                last_seen_at: START,
                expires_at: START + 3600,
                remember: false,
                ip: None,
                user_agent: None,
                token_version: user.token_version,
            })
            .await
            .unwrap();
        user
    }

    #[tokio::test]
    async fn an_ended_session_is_refused_at_once_here_and_within_the_bound_elsewhere() {
        let t = two_instances().await;
        let token = [7u8; 32];
        alice_signed_in(&*t.here, &token).await;
        // Both instances have looked it up, so both remember it.
        assert!(t.here.session_with_user(&token).await.unwrap().is_some());
        assert!(t.there.session_with_user(&token).await.unwrap().is_some());

        t.here.delete_session(&token).await.unwrap();
        assert!(
            t.here.session_with_user(&token).await.unwrap().is_none(),
            "the instance that ended it never answers from memory"
        );
        assert!(
            t.there.session_with_user(&token).await.unwrap().is_some(),
            "another instance may, within CREDENTIAL_CACHE_SECS"
        );
        t.clock.advance(1);
        assert!(t.there.session_with_user(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_new_credential_epoch_reaches_the_token_check_at_once() {
        let t = two_instances().await;
        let token = [8u8; 32];
        let alice = alice_signed_in(&*t.here, &token).await;
        let before = t.here.user_by_public_id(&alice.public_id).await.unwrap();
        let session = t.here.session_with_user(&token).await.unwrap();
        assert_eq!(before.unwrap().token_version, alice.token_version);
        assert_eq!(session.unwrap().1.token_version, alice.token_version);

        // Sign out everywhere: a new epoch for tokens, every session gone.
        t.here.bump_token_version(alice.id).await.unwrap();
        t.here.delete_user_sessions(alice.id).await.unwrap();
        let after = t.here.user_by_public_id(&alice.public_id).await.unwrap();
        assert_eq!(after.unwrap().token_version, alice.token_version + 1);
        assert!(t.here.session_with_user(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_unknown_session_is_never_remembered() {
        let t = two_instances().await;
        let token = [9u8; 32];
        assert!(t.here.session_with_user(&token).await.unwrap().is_none());
        // Created elsewhere (another instance signed someone in with this token): seen here
        // at once, with no clock movement, because the miss was not kept.
        alice_signed_in(&*t.there, &token).await;
        assert!(t.here.session_with_user(&token).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_read_under_way_when_a_write_finishes_is_not_remembered() {
        let t = two_instances().await;
        let token = [10u8; 32];
        alice_signed_in(&*t.here, &token).await;
        let cached = CachedStore {
            inner: t.there.clone(),
            clock: Arc::new(t.clock.clone()),
            ttl_secs: 1,
            memory: Mutex::default(),
        };
        // What `session_with_user` does, with a write finishing between its read and its
        // remembering.
        let generation = cached.memory().generation;
        let read = cached
            .inner
            .session_with_user(&token)
            .await
            .unwrap()
            .unwrap();
        cached.delete_session(&token).await.unwrap();
        remember(
            &mut cached.memory(),
            |m| &mut m.sessions,
            generation,
            token.to_vec(),
            Remembered {
                value: read,
                read_at: START,
            },
        );
        assert!(cached.memory().sessions.is_empty());
        assert!(cached.session_with_user(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn zero_seconds_is_no_memory_at_all() {
        let t = two_instances().await;
        let token = [11u8; 32];
        alice_signed_in(&*t.here, &token).await;
        let inner = t.here.clone();
        let uncached = CachedStore::wrap(inner.clone(), Arc::new(t.clock.clone()), 0);
        assert!(Arc::ptr_eq(&uncached, &inner));
    }
}
