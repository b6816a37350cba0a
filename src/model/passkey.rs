//! Passkeys as both sides see them: the name a person gives one (checked by the same rule in
//! the browser and on the server), and what the account page lists.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use super::{AppError, FieldErrors};

/// The longest name a passkey can have, in characters.
pub const NAME_MAX_CHARS: usize = 64;

pub const NAME_MISSING: &str = "Give the passkey a name, like \u{201c}Work laptop\u{201d}.";
pub const NAME_TOO_LONG: &str = "Use at most 64 characters.";
pub const NAME_CONTROL: &str = "Use letters, digits, spaces and punctuation only.";

pub const PASSWORD_NEEDED: &str =
    "Enter your password to add a passkey (you signed in more than 5 minutes ago).";
pub const CEREMONY_EXPIRED: &str =
    "This passkey request has expired or was already answered. Try again.";
pub const REFUSED: &str = "The passkey could not be verified. Try again, or use your password.";
pub const UNKNOWN_PASSKEY: &str =
    "This passkey is not registered here (it may have been removed). Sign in with your password.";
pub const ALREADY_REGISTERED: &str = "This passkey is already registered.";
pub const NOT_FOUND: &str = "There is no such passkey on your account.";
pub const NO_PASSKEYS: &str = "There is no passkey on this account. Enter a code instead.";
/// The browser's own refusals (`NotAllowedError`: the person closed the dialog, or it timed
/// out; `InvalidStateError`: this authenticator already holds one for the account).
pub const CANCELLED: &str = "No passkey was used: the request was cancelled or timed out.";
pub const ALREADY_ON_DEVICE: &str = "This device already has a passkey for your account.";
pub const UNSUPPORTED: &str =
    "This browser cannot use passkeys. Use your password, or a current browser.";

/// A passkey ceremony's failure, as both sides report it: under the field `passkey`, which
/// the pages show next to their passkey buttons.
pub fn passkey_error(message: &str) -> AppError {
    AppError::Validation(FieldErrors::single("passkey", message))
}

/// One passkey on `/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    /// The credential id, base64url: names the passkey in the rename and remove forms.
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The authenticator said the key is backed up (synced to the person's other devices).
    pub synced: bool,
}

/// The passkeys section of `/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyStatus {
    /// Why passkeys cannot be used here (development served from an IP address); `None` when
    /// they can.
    pub unavailable: Option<String>,
    pub passkeys: Vec<PasskeyView>,
    /// Adding a passkey needs the password again: the sign-in is not recent.
    pub password_needed: bool,
}

/// A passkey's name, trimmed; `Ok(None)` for a blank one where a blank is allowed.
fn clean_name(raw: &str) -> Result<Option<String>, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(NAME_TOO_LONG);
    }
    if name.chars().any(char::is_control) {
        return Err(NAME_CONTROL);
    }
    Ok(Some(name.to_string()))
}

fn validate_name(raw: &str) -> Result<(), ValidationError> {
    match clean_name(raw) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ValidationError::new("name").with_message(NAME_MISSING.into())),
        Err(message) => Err(ValidationError::new("name").with_message(message.into())),
    }
}

fn validate_optional_name(raw: &str) -> Result<(), ValidationError> {
    clean_name(raw)
        .map(|_| ())
        .map_err(|message| ValidationError::new("name").with_message(message.into()))
}

/// Renaming a passkey: a name is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct PasskeyNameForm {
    #[validate(custom(function = "validate_name"))]
    pub name: String,
}

impl PasskeyNameForm {
    /// The name, trimmed.
    pub fn check(&self) -> Result<String, FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))?;
        Ok(self.name.trim().to_string())
    }
}

/// Adding a passkey: the name may be left blank (the server then names it after the browser
/// and system it was made on, "Chrome on Android").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct NewPasskeyForm {
    #[validate(custom(function = "validate_optional_name"))]
    pub name: String,
}

impl NewPasskeyForm {
    /// The name, trimmed; `None` when left blank.
    pub fn check(&self) -> Result<Option<String>, FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))?;
        Ok(clean_name(&self.name).ok().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename(name: &str) -> Result<String, String> {
        PasskeyNameForm { name: name.into() }
            .check()
            .map_err(|e| e.get("name").unwrap_or_default().to_string())
    }

    #[test]
    fn a_name_is_trimmed_and_must_be_short_printable_and_present_to_rename() {
        assert_eq!(rename("  Work laptop "), Ok("Work laptop".into()));
        assert_eq!(rename(&"é".repeat(64)), Ok("é".repeat(64)));
        assert_eq!(rename(&"é".repeat(65)), Err(NAME_TOO_LONG.into()));
        assert_eq!(rename("   "), Err(NAME_MISSING.into()));
        assert_eq!(rename("a\u{0}b"), Err(NAME_CONTROL.into()));
        assert_eq!(rename("line\nbreak"), Err(NAME_CONTROL.into()));
    }

    #[test]
    fn a_new_passkey_may_be_left_unnamed_but_not_misnamed() {
        let new = |name: &str| NewPasskeyForm { name: name.into() }.check();
        assert_eq!(new(" "), Ok(None));
        assert_eq!(new(" Phone "), Ok(Some("Phone".into())));
        assert!(new(&"x".repeat(65)).is_err());
    }
}
