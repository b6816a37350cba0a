//! The links Gatehouse mails: to confirm an address, to reset a password, to move an account
//! to a new address. Each carries a token made like a session token (256 bits from the OS
//! CSPRNG, base64url); the database keeps only its SHA-256, so a copy of the database cannot
//! follow a link.
//!
//! A link works once (following it deletes it, in the same statement that reads it), for a
//! lifetime fixed by its purpose, and an account has at most one link of each purpose: issuing
//! a new one makes the last one useless. The services decide what following a link does.

use std::sync::Arc;

use crate::server::clock::Clock;
use crate::server::db::{EmailLinkRecord, Store, UserRecord};
use crate::server::error::ServiceError;

use super::client::ClientMeta;
use super::session::SessionToken;

/// Runs `work` (a lookup and the mail of a link) after the answer, so the answer cannot tell
/// whether it found an account. A failure is logged as `event`, with the request id.
pub(super) fn after_the_answer<F>(event: &'static str, meta: &ClientMeta, work: F)
where
    F: std::future::Future<Output = Result<(), ServiceError>> + Send + 'static,
{
    let request_id = meta.request_id.clone().unwrap_or_else(|| "-".to_string());
    tokio::spawn(async move {
        if let Err(error) = work.await {
            tracing::error!(event, request_id, %error);
        }
    });
}

/// What a link is for; the string form is what the database stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ResetPassword, Self::ChangeEmail]
            .into_iter()
            .find(|p| p.as_str() == stored)
    }

    /// How long a link works. A reset link is a key to the account, so it is short-lived
    /// (OWASP's Forgot Password cheat sheet); confirming an address can wait a day.
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Self::ResetPassword => 30 * 60,
            Self::VerifyEmail | Self::ChangeEmail => 24 * 3600,
        }
    }

    /// The lifetime in words, for the message.
    pub fn lifetime_words(self) -> &'static str {
        match self {
            Self::ResetPassword => "30 minutes",
            Self::VerifyEmail | Self::ChangeEmail => "24 hours",
        }
    }
}

/// A link's secret, as it goes into the URL. Deliberately not `Debug`/`Display`.
pub struct LinkToken(SessionToken);

impl LinkToken {
    /// Accepts only strings shaped like our tokens, so junk costs no database lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        SessionToken::parse(raw).map(Self)
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    fn hash(&self) -> Vec<u8> {
        self.0.hash()
    }
}

/// A link that can still be followed: its purpose, its account and its address.
#[derive(Debug, Clone)]
pub struct LiveLink {
    pub purpose: Purpose,
    pub record: EmailLinkRecord,
}

#[derive(Clone)]
pub struct EmailLinks {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
}

impl EmailLinks {
    /// Makes a link of `purpose` for `user`, sent to `email` (stored and canonical forms),
    /// replacing the account's previous one of that purpose.
    pub async fn issue(
        &self,
        user: &UserRecord,
        purpose: Purpose,
        email: &str,
        email_canonical: &str,
    ) -> Result<LinkToken, ServiceError> {
        let token = LinkToken(SessionToken::generate());
        let now = self.clock.now();
        self.store
            .replace_email_link(&EmailLinkRecord {
                token_hash: token.hash(),
                user_id: user.id,
                purpose: purpose.as_str().to_string(),
                email: email.to_string(),
                email_canonical: email_canonical.to_string(),
                created_at: now,
                expires_at: now + purpose.lifetime_secs(),
                token_version: user.token_version,
            })
            .await?;
        Ok(token)
    }

    /// The link behind `raw` if it can still be followed, left in place (a page that shows
    /// what following it will do).
    pub async fn peek(&self, raw: &str) -> Result<Option<LiveLink>, ServiceError> {
        let Some(token) = LinkToken::parse(raw) else {
            return Ok(None);
        };
        let record = self.store.email_link(&token.hash()).await?;
        Ok(record.and_then(|record| self.live(record)))
    }

    /// Follows the link behind `raw`: deletes it and answers it if it could still be
    /// followed. Of two requests with one link, only one gets it.
    pub async fn take(&self, raw: &str) -> Result<Option<LiveLink>, ServiceError> {
        let Some(token) = LinkToken::parse(raw) else {
            return Ok(None);
        };
        let record = self.store.take_email_link(&token.hash()).await?;
        Ok(record.and_then(|record| self.live(record)))
    }

    /// The account's pending link of `purpose` (one that has not expired).
    pub async fn pending(
        &self,
        user_id: i64,
        purpose: Purpose,
    ) -> Result<Option<EmailLinkRecord>, ServiceError> {
        let record = self.store.email_link_of(user_id, purpose.as_str()).await?;
        Ok(self.unexpired(record))
    }

    /// `record`, unless it has expired (expired links linger until the next purge).
    pub(super) fn unexpired(&self, record: Option<EmailLinkRecord>) -> Option<EmailLinkRecord> {
        record.filter(|r| r.expires_at > self.clock.now())
    }

    /// Deletes the account's links of `purpose`.
    pub async fn revoke(&self, user_id: i64, purpose: Purpose) -> Result<(), ServiceError> {
        self.store
            .delete_email_links(user_id, purpose.as_str())
            .await?;
        Ok(())
    }

    /// Deletes links past their lifetime; run periodically by the server.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_expired_email_links(self.clock.now())
            .await?)
    }

    fn live(&self, record: EmailLinkRecord) -> Option<LiveLink> {
        let purpose = Purpose::parse(&record.purpose)?;
        (record.expires_at > self.clock.now()).then_some(LiveLink { purpose, record })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    async fn alice(f: &Fixture) -> UserRecord {
        f.register("alice").await;
        f.store.user_by_username("alice").await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_link_works_once_and_only_within_its_lifetime() {
        let f = fixture().await;
        let user = alice(&f).await;
        let links = &f.auth.email_links;
        let token = links
            .issue(
                &user,
                Purpose::ResetPassword,
                &user.email,
                &user.email_canonical,
            )
            .await
            .unwrap();
        // Only the hash is stored: the SHA-256 of the link's token text, computed here, not
        // the token, nor its decoded bytes.
        let stored = f
            .store
            .email_link_of(user.id, "reset_password")
            .await
            .unwrap()
            .unwrap();
        {
            use base64::Engine;
            use sha2::Digest;
            let expected = sha2::Sha256::digest(token.expose().as_bytes()).to_vec();
            assert_eq!(stored.token_hash, expected);
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.expose())
                .unwrap();
            assert_eq!(raw.len(), 32);
            assert_ne!(stored.token_hash, raw);
        }
        assert_eq!(stored.expires_at, START + 30 * 60);

        f.advance(30 * 60 - 1);
        assert!(links.peek(token.expose()).await.unwrap().is_some());
        let taken = links.take(token.expose()).await.unwrap().unwrap();
        assert_eq!(taken.purpose, Purpose::ResetPassword);
        assert_eq!(taken.record.user_id, user.id);
        assert!(
            links.take(token.expose()).await.unwrap().is_none(),
            "used once"
        );

        let token = links
            .issue(
                &user,
                Purpose::VerifyEmail,
                &user.email,
                &user.email_canonical,
            )
            .await
            .unwrap();
        f.advance(24 * 3600);
        assert!(
            links.peek(token.expose()).await.unwrap().is_none(),
            "expired"
        );
        assert!(
            links.take(token.expose()).await.unwrap().is_none(),
            "expired"
        );
        assert_eq!(links.purge_expired().await.unwrap(), 0, "taken already");
    }

    #[tokio::test]
    async fn a_newer_link_replaces_the_last_of_its_purpose_only() {
        let f = fixture().await;
        let user = alice(&f).await;
        let links = &f.auth.email_links;
        let issue = |purpose| links.issue(&user, purpose, &user.email, &user.email_canonical);
        let reset = issue(Purpose::ResetPassword).await.unwrap();
        let older = issue(Purpose::VerifyEmail).await.unwrap();
        let newer = issue(Purpose::VerifyEmail).await.unwrap();
        assert!(links.peek(older.expose()).await.unwrap().is_none());
        assert!(links.peek(newer.expose()).await.unwrap().is_some());
        assert!(links.peek(reset.expose()).await.unwrap().is_some());
        // Junk and unknown tokens cost nothing and find nothing.
        assert!(links.peek("junk").await.unwrap().is_none());
        assert!(links.take(&"A".repeat(43)).await.unwrap().is_none());
    }
}
