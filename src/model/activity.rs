//! The security activity log and the session list as the account page shows them.

use serde::{Deserialize, Serialize};

/// Every kind of security event Gatehouse records. The string form is what the database
/// stores (and what the hash chain covers), so existing names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActivityKind {
    AccountCreated,
    SignedIn,
    SignInFailed,
    SignInThrottled,
    TokenIssued,
    SignedOut,
    SignedOutEverywhere,
    SessionRevoked,
    OtherSessionsRevoked,
    PasswordChanged,
    ApiKeyCreated,
    ApiKeyRevoked,
    AccountDeleted,
    SignUpAttempted,
    EmailVerified,
    PasswordResetRequested,
    PasswordReset,
    EmailChangeRequested,
    EmailChanged,
    SecondFactorFailed,
    TwoFactorEnabled,
    TwoFactorDisabled,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    PasskeyRefused,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 28] = [
        Self::AccountCreated,
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignInThrottled,
        Self::TokenIssued,
        Self::SignedOut,
        Self::SignedOutEverywhere,
        Self::SessionRevoked,
        Self::OtherSessionsRevoked,
        Self::PasswordChanged,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::AccountDeleted,
        Self::SignUpAttempted,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::SecondFactorFailed,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::RecoveryCodesRegenerated,
        Self::RecoveryCodeUsed,
        Self::PasskeyAdded,
        Self::PasskeyRenamed,
        Self::PasskeyRemoved,
        Self::PasskeyRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::SignedIn => "login.succeeded",
            Self::SignInFailed => "login.failed",
            Self::SignInThrottled => "login.throttled",
            Self::TokenIssued => "token.issued",
            Self::SignedOut => "logout",
            Self::SignedOutEverywhere => "logout.everywhere",
            Self::SessionRevoked => "session.revoked",
            Self::OtherSessionsRevoked => "sessions.revoked_others",
            Self::PasswordChanged => "password.changed",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::AccountDeleted => "account.deleted",
            Self::SignUpAttempted => "register.existing_email",
            Self::EmailVerified => "email.verified",
            Self::PasswordResetRequested => "password_reset.requested",
            Self::PasswordReset => "password_reset.completed",
            Self::EmailChangeRequested => "email_change.requested",
            Self::EmailChanged => "email.changed",
            Self::SecondFactorFailed => "login.second_factor_failed",
            Self::TwoFactorEnabled => "two_factor.enabled",
            Self::TwoFactorDisabled => "two_factor.disabled",
            Self::RecoveryCodesRegenerated => "recovery_codes.regenerated",
            Self::RecoveryCodeUsed => "recovery_code.used",
            Self::PasskeyAdded => "passkey.added",
            Self::PasskeyRenamed => "passkey.renamed",
            Self::PasskeyRemoved => "passkey.removed",
            Self::PasskeyRefused => "login.passkey_refused",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// What the account page says happened.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AccountCreated => "Account created",
            Self::SignedIn => "Signed in",
            Self::SignInFailed => "Failed sign-in (wrong password)",
            Self::SignInThrottled => "Sign-in slowed down after repeated failures",
            Self::TokenIssued => "API access token issued",
            Self::SignedOut => "Signed out",
            Self::SignedOutEverywhere => "Signed out everywhere",
            Self::SessionRevoked => "Session revoked",
            Self::OtherSessionsRevoked => "Other sessions signed out",
            Self::PasswordChanged => "Password changed",
            Self::ApiKeyCreated => "API key created",
            Self::ApiKeyRevoked => "API key revoked",
            Self::AccountDeleted => "Account deleted",
            Self::SignUpAttempted => "Someone tried to sign up with your email address",
            Self::EmailVerified => "Email address confirmed",
            Self::PasswordResetRequested => "Password reset link sent",
            Self::PasswordReset => "Password reset by email link",
            Self::EmailChangeRequested => "Change of email address requested",
            Self::EmailChanged => "Email address changed",
            Self::SecondFactorFailed => "Failed sign-in (wrong two-factor code)",
            Self::TwoFactorEnabled => "Two-factor authentication turned on",
            Self::TwoFactorDisabled => "Two-factor authentication turned off",
            Self::RecoveryCodesRegenerated => "New recovery codes made",
            Self::RecoveryCodeUsed => "Recovery code used",
            Self::PasskeyAdded => "Passkey added",
            Self::PasskeyRenamed => "Passkey renamed",
            Self::PasskeyRemoved => "Passkey removed",
            Self::PasskeyRefused => "Failed sign-in (passkey refused)",
        }
    }

    /// Events the owner should look at twice.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Self::SignInFailed
                | Self::SignInThrottled
                | Self::SignUpAttempted
                | Self::SecondFactorFailed
                | Self::TwoFactorDisabled
                | Self::RecoveryCodeUsed
                | Self::PasskeyRemoved
                | Self::PasskeyRefused
        )
    }
}

/// One row of "Recent security activity".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityView {
    /// Seconds since the Unix epoch (UTC); the latest event of a repeated row.
    pub at: i64,
    pub kind: ActivityKind,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub detail: Option<String>,
    /// Failed sign-ins in a row are one row, so someone else's guessing cannot push the
    /// owner's own events off the page; `None` for every other row.
    pub repeated: Option<RepeatedFailures>,
}

/// What a row standing for several failed sign-ins in a row sums up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatedFailures {
    /// Failed sign-ins in the run.
    pub failures: u64,
    /// When the first of them happened (`at` is the last).
    pub since: i64,
    /// Distinct client addresses they came from.
    pub addresses: u64,
    /// Sign-in was slowed down during the run.
    pub throttled: bool,
    /// The count stops at what the page looks through: there were at least this many.
    pub at_least: bool,
}

impl ActivityView {
    /// The row's headline.
    pub fn title(&self) -> String {
        match &self.repeated {
            Some(run) => format!(
                "{}{} failed sign-ins in a row",
                run.failures,
                if run.at_least { "+" } else { "" }
            ),
            None => self.kind.describe().to_string(),
        }
    }
}

/// One of the signed-in person's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// Public handle, used to revoke it.
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    /// "Firefox on Linux", or "Unknown device".
    pub device: String,
    pub remember: bool,
    /// The session making this request.
    pub current: bool,
}

/// The session list with the policy it lives under (shown above the list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// This session first, then the most recently used.
    pub sessions: Vec<SessionView>,
    pub idle_timeout_secs: u64,
    pub absolute_timeout_secs: u64,
}

/// "1 session", "3 sessions".
pub fn count_of(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "30 minutes", "7 days", "1 hour", "90 seconds": the largest whole unit.
pub fn describe_duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| secs >= *size && secs.is_multiple_of(*size))
        .map(|(size, unit)| count_of(secs / size, unit))
        .unwrap_or_else(|| count_of(secs, "second"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(1800), "30 minutes");
        assert_eq!(describe_duration(604_800), "7 days");
        assert_eq!(describe_duration(3600), "1 hour");
        assert_eq!(describe_duration(90), "90 seconds");
        assert_eq!(count_of(1, "session"), "1 session");
        assert_eq!(count_of(0, "session"), "0 sessions");
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for kind in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
            assert!(seen.insert(kind.as_str()));
        }
        assert_eq!(ActivityKind::parse("nope"), None);
    }
}
