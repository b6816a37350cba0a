//! Usernames: 3 to 50 of `[A-Za-z0-9_]`, unique regardless of case.
//!
//! Written by hand rather than with validator's `regex` rule, which would put the regex engine
//! into the browser bundle for a one-line character check.

use validator::ValidationError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;

/// The uniqueness and lookup key: `Alice` and `alice` are the same account.
pub fn canonical_username(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

pub fn validate_username(raw: &str) -> Result<(), ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(error("username_required", "Choose a username."));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(error(
            "username_charset",
            "Use only letters, digits and underscores.",
        ));
    }
    // All characters are ASCII now, so the byte length is the character count.
    if name.len() < USERNAME_MIN {
        return Err(error("username_too_short", "Use at least 3 characters."));
    }
    if name.len() > USERNAME_MAX {
        return Err(error("username_too_long", "Use at most 50 characters."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_underscores_within_bounds() {
        for ok in ["abc", "Alice_99", &"a".repeat(50), "___"] {
            assert!(validate_username(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(
            validate_username("ab").unwrap_err().code,
            "username_too_short"
        );
        assert_eq!(
            validate_username(&"a".repeat(51)).unwrap_err().code,
            "username_too_long"
        );
        assert_eq!(validate_username("").unwrap_err().code, "username_required");
    }

    #[test]
    fn rejects_other_characters() {
        for bad in [
            "al ice",
            "alice!",
            "älice",
            "al-ice",
            "al.ice",
            "ali\u{0}ce",
        ] {
            assert_eq!(
                validate_username(bad).unwrap_err().code,
                "username_charset",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn canonical_form_ignores_case() {
        assert_eq!(canonical_username(" Alice_1 "), "alice_1");
    }
}
