//! Personal API keys as the browser and API clients see them, and the form that creates one.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use super::error::FieldErrors;

/// A key's name is a label on the account page: short, and printable.
pub const MAX_KEY_NAME_CHARS: usize = 64;
/// Ten years: "long-lived" without being forever by accident.
pub const MAX_KEY_EXPIRY_DAYS: u32 = 3650;

/// Creating a key: the same rules in the page, the server function and `POST /api/v1/keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct CreateApiKeyForm {
    #[validate(custom(function = "validate_key_name"))]
    pub name: String,
    /// Days until the key stops working; `None`: no expiry.
    #[validate(custom(function = "validate_key_expiry"))]
    pub expires_in_days: Option<u32>,
}

impl CreateApiKeyForm {
    /// The form as the browser posts it: the expiry is the `<select>`'s text, empty for
    /// "never". Anything that is not a whole number is a field error, not a 400.
    pub fn from_posted(name: String, expires_in_days: Option<&str>) -> Result<Self, FieldErrors> {
        let expires_in_days = match expires_in_days.map(str::trim) {
            None | Some("") => None,
            Some(days) => Some(days.parse::<u32>().map_err(|_| {
                FieldErrors::single("expires_in_days", "Choose an expiry from the list.")
            })?),
        };
        Ok(Self {
            name,
            expires_in_days,
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

fn validate_key_expiry(days: u32) -> Result<(), ValidationError> {
    if days == 0 || days > MAX_KEY_EXPIRY_DAYS {
        Err(ValidationError::new("key_expiry")
            .with_message("Choose between 1 and 3650 days, or no expiry.".into()))
    } else {
        Ok(())
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

    fn form(name: &str, days: Option<u32>) -> CreateApiKeyForm {
        CreateApiKeyForm {
            name: name.into(),
            expires_in_days: days,
        }
    }

    #[test]
    fn a_key_needs_a_short_printable_name() {
        assert!(form("deploy script", Some(30)).check().is_ok());
        assert!(form(&"k".repeat(64), None).check().is_ok());
        for bad in ["", "   ", "tab\there", "nul\0", &"k".repeat(65)] {
            let errors = form(bad, None).check().unwrap_err();
            assert!(errors.get("name").is_some(), "{bad:?}");
        }
        assert_eq!(form("  ci  ", None).trimmed_name(), "ci");
    }

    #[test]
    fn expiry_is_between_a_day_and_ten_years_or_never() {
        for days in [Some(1), Some(3650), None] {
            assert!(form("k", days).check().is_ok(), "{days:?}");
        }
        for days in [0, 3651] {
            let errors = form("k", Some(days)).check().unwrap_err();
            assert!(errors.get("expires_in_days").is_some(), "{days}");
        }
    }

    #[test]
    fn the_posted_expiry_is_read_from_the_select() {
        let posted = |v| CreateApiKeyForm::from_posted("k".into(), v);
        assert_eq!(posted(None).unwrap().expires_in_days, None);
        assert_eq!(posted(Some("")).unwrap().expires_in_days, None);
        assert_eq!(posted(Some(" 90 ")).unwrap().expires_in_days, Some(90));
        let errors = posted(Some("soon")).unwrap_err();
        assert_eq!(
            errors.get("expires_in_days"),
            Some("Choose an expiry from the list.")
        );
    }
}
