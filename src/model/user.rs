use serde::{Deserialize, Serialize};

/// What the browser may know about the signed-in person: never a hash, never an internal id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    pub username: String,
    pub email: String,
    /// Account creation time, seconds since the Unix epoch (UTC).
    pub created_at: i64,
    /// The owner has confirmed `email` (followed a link mailed to it).
    pub email_verified: bool,
    /// Signing in needs a second factor.
    pub two_factor_enabled: bool,
}

/// What a confirmation link will do, for the page that asks "confirm?" before doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingConfirmation {
    /// Confirm `address` as the account's address.
    VerifyEmail { address: String },
    /// Make `address` the account's address.
    ChangeEmail { address: String },
}

/// The account a password reset link is for: the page shows the name, and the strength
/// meter weighs the new password against both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetLink {
    pub username: String,
    pub email: String,
}

/// `2026-11-28` from seconds since the Unix epoch (UTC), in the browser and on the server.
pub fn format_date(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// `2026-11-28 07:45 UTC`: times in the session list and the activity log.
pub fn format_time(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map(|t| {
            format!(
                "{} {:02}:{:02} UTC",
                t.date(),
                t.time().hour(),
                t.time().minute()
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{format_date, format_time};

    #[test]
    fn formats_time_in_utc_to_the_minute() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(7 * 3600 + 45 * 60 + 59), "1970-01-01 07:45 UTC");
    }

    #[test]
    fn formats_as_iso_date_in_utc() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(1_795_833_600), "2026-11-28");
    }
}
