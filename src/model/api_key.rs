//! Personal API keys as the browser and API clients see them, and the form that creates one.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use super::error::FieldErrors;
use super::forms::validate_current_password;
use super::password::Password;

/// A key's name is a label on the account page: short, and printable.
pub const MAX_KEY_NAME_CHARS: usize = 64;
/// Ten years: "long-lived" without being forever by accident.
pub const MAX_KEY_EXPIRY_DAYS: u32 = 3650;
/// The expiry a key gets unless its owner picks another: a key forgotten in a script or a
/// leaked `.env` stops working by itself. "Never" has to be chosen.
pub const DEFAULT_KEY_EXPIRY_DAYS: u32 = 90;
/// How the form and the API spell "does not expire".
pub const NEVER_EXPIRES: &str = "never";

/// When a new key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyExpiry {
    /// This many days after its creation.
    Days(u32),
    /// Only when revoked. Never the default: it must be chosen explicitly.
    Never,
}

impl Default for KeyExpiry {
    fn default() -> Self {
        Self::Days(DEFAULT_KEY_EXPIRY_DAYS)
    }
}

impl KeyExpiry {
    /// The choice as text (the form's `<select>`, or a string in the API): empty for the
    /// default, `never`, or a whole number of days (range checked by `check`). `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "" => Some(Self::default()),
            NEVER_EXPIRES => Some(Self::Never),
            days => days.parse().ok().map(Self::Days),
        }
    }

    /// The number of days, `None` for a key that does not expire.
    pub fn days(self) -> Option<u32> {
        match self {
            Self::Days(days) => Some(days),
            Self::Never => None,
        }
    }
}

/// Creating a key: the same rules in the page, the server function and `POST /api/v1/keys`.
/// The current password is asked for, as for other changes to the account's credentials: a
/// key outlives any session, so a borrowed or stolen session must not be enough to mint one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct CreateApiKeyForm {
    #[validate(custom(function = "validate_key_name"))]
    pub name: String,
    #[validate(custom(function = "validate_key_expiry"))]
    pub expires_in_days: KeyExpiry,
    /// The account's current password (checked against the hash on the server).
    #[validate(custom(function = "validate_current_password"))]
    pub password: Password,
}

/// The message for an expiry that is none of the offered choices.
pub const EXPIRY_NOT_A_CHOICE: &str = "Choose an expiry from the list.";

impl CreateApiKeyForm {
    /// The form as the browser posts it: the expiry is the `<select>`'s text (a number of
    /// days or `never`; absent or empty means the default). Anything else is a field error,
    /// not a 400.
    pub fn from_posted(
        name: String,
        expires_in_days: Option<&str>,
        password: Password,
    ) -> Result<Self, FieldErrors> {
        let expires_in_days = KeyExpiry::parse(expires_in_days.unwrap_or_default())
            .ok_or_else(|| FieldErrors::single("expires_in_days", EXPIRY_NOT_A_CHOICE))?;
        Ok(Self {
            name,
            expires_in_days,
            password,
        })
    }

    pub fn check(&self) -> Result<(), FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))
    }

    /// The name as stored: without surrounding spaces.
    pub fn trimmed_name(&self) -> &str {
        self.name.trim()
    }
}

/// Control characters have no place in a label shown on the account page, and a NUL cannot
/// even be stored by PostgreSQL: refused alike on every backend.
fn validate_key_name(name: &str) -> Result<(), ValidationError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_KEY_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        Err(ValidationError::new("key_name").with_message(
            "Give the key a name of 1 to 64 characters, without control characters.".into(),
        ))
    } else {
        Ok(())
    }
}

fn validate_key_expiry(expiry: &KeyExpiry) -> Result<(), ValidationError> {
    match expiry {
        KeyExpiry::Days(days) if *days == 0 || *days > MAX_KEY_EXPIRY_DAYS => {
            Err(ValidationError::new("key_expiry")
                .with_message("Choose between 1 and 3650 days, or never.".into()))
        }
        _ => Ok(()),
    }
}

/// An API key as its owner sees it in the list: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The public part, as in `gk_<prefix>_…`.
    pub prefix: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The answer to creating a key: its view and the full key, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKeyView,
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, expiry: KeyExpiry) -> CreateApiKeyForm {
        CreateApiKeyForm {
            name: name.into(),
            expires_in_days: expiry,
            password: "my current password".into(),
        }
    }

    #[test]
    fn a_key_needs_a_short_printable_name() {
        assert!(form("deploy script", KeyExpiry::Days(30)).check().is_ok());
        assert!(form(&"k".repeat(64), KeyExpiry::Never).check().is_ok());
        for bad in ["", "   ", "tab\there", "nul\0", &"k".repeat(65)] {
            let errors = form(bad, KeyExpiry::Never).check().unwrap_err();
            assert!(errors.get("name").is_some(), "{bad:?}");
        }
        assert_eq!(form("  ci  ", KeyExpiry::Never).trimmed_name(), "ci");
    }

    #[test]
    fn expiry_is_between_a_day_and_ten_years_or_never() {
        for expiry in [KeyExpiry::Days(1), KeyExpiry::Days(3650), KeyExpiry::Never] {
            assert!(form("k", expiry).check().is_ok(), "{expiry:?}");
        }
        for days in [0, 3651] {
            let errors = form("k", KeyExpiry::Days(days)).check().unwrap_err();
            assert!(errors.get("expires_in_days").is_some(), "{days}");
        }
    }

    #[test]
    fn a_key_expires_in_90_days_unless_never_is_chosen() {
        assert_eq!(KeyExpiry::default(), KeyExpiry::Days(90));
        assert_eq!(CreateApiKeyForm::default().expires_in_days.days(), Some(90));
        assert_eq!(KeyExpiry::Never.days(), None);
    }

    #[test]
    fn the_current_password_is_required() {
        let mut without = form("k", KeyExpiry::Never);
        without.password = Password::default();
        let errors = without.check().unwrap_err();
        assert_eq!(errors.get("password"), Some("Enter your current password."));
        assert!(errors.get("name").is_none());
    }

    #[test]
    fn the_posted_expiry_is_read_from_the_select() {
        let posted = |v| CreateApiKeyForm::from_posted("k".into(), v, "pw".into());
        let default = KeyExpiry::Days(DEFAULT_KEY_EXPIRY_DAYS);
        assert_eq!(posted(None).unwrap().expires_in_days, default);
        assert_eq!(posted(Some("")).unwrap().expires_in_days, default);
        assert_eq!(
            posted(Some(" 30 ")).unwrap().expires_in_days,
            KeyExpiry::Days(30)
        );
        assert_eq!(
            posted(Some("never")).unwrap().expires_in_days,
            KeyExpiry::Never
        );
        assert_eq!(posted(None).unwrap().password.expose(), "pw");
        for bad in ["soon", "-1", "Never", "1.5"] {
            let errors = posted(Some(bad)).unwrap_err();
            assert_eq!(
                errors.get("expires_in_days"),
                Some(EXPIRY_NOT_A_CHOICE),
                "{bad}"
            );
        }
    }
}
