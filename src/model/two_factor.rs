//! Two-factor sign-in as both sides see it: the code a person types (an authenticator code or
//! a recovery code, in the one field named `code`), and what the account page shows.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use super::forms::validate_current_password;
use super::{FieldErrors, Password};

/// Digits in an authenticator code (RFC 6238 with the usual 6).
pub const AUTHENTICATOR_DIGITS: usize = 6;
/// Recovery codes made at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters in each of a recovery code's two groups (`k3x9m-p2q7r`).
pub const RECOVERY_GROUP_LEN: usize = 5;

pub const CODE_MISSING: &str =
    "Enter the 6-digit code from your authenticator app, or one of your recovery codes.";
pub const CODE_SHAPE: &str =
    "A code is 6 digits from your authenticator app, or a recovery code like k3x9m-p2q7r.";
pub const WRONG_CODE: &str =
    "That code is not right. Check that your phone's clock is set automatically, or use a recovery code.";
pub const CODE_ALREADY_USED: &str =
    "That code was already used. Wait for the next one in your app.";

/// A sign-in waiting for its second step, as its page needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingSignIn {
    /// The account has a passkey, which can answer the step instead of a code.
    pub passkey: bool,
}

/// A code as typed, read: spaces, dashes and case do not matter where they cannot change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactorCode {
    /// Six digits.
    Authenticator(String),
    /// Ten lowercase letters and digits, written `xxxxx-xxxxx`.
    Recovery(String),
}

impl SecondFactorCode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // People copy codes with spaces ("123 456"), and type recovery codes in capitals or
        // without the dash: none of that changes which code it is.
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if compact.is_empty() {
            return Err(CODE_MISSING);
        }
        if compact.len() == AUTHENTICATOR_DIGITS && compact.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Authenticator(compact));
        }
        if compact.len() == 2 * RECOVERY_GROUP_LEN
            && compact
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            let (first, second) = compact.split_at(RECOVERY_GROUP_LEN);
            return Ok(Self::Recovery(format!("{first}-{second}")));
        }
        Err(CODE_SHAPE)
    }
}

fn validate_code(raw: &str) -> Result<(), ValidationError> {
    SecondFactorCode::parse(raw)
        .map(|_| ())
        .map_err(|message| ValidationError::new("code").with_message(message.into()))
}

/// The sign-in step after the password, and the first code of an enrolment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct SecondFactorForm {
    #[validate(custom(function = "validate_code"))]
    pub code: String,
}

impl SecondFactorForm {
    pub fn check(&self) -> Result<SecondFactorCode, FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))?;
        SecondFactorCode::parse(&self.code).map_err(|message| FieldErrors::single("code", message))
    }
}

/// Starting an enrolment or making new recovery codes: the current password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct PasswordConfirmForm {
    #[validate(custom(function = "validate_current_password"))]
    pub password: Password,
}

impl PasswordConfirmForm {
    pub fn check(&self) -> Result<(), FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))
    }
}

/// Turning two-factor off: the password and a code, both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct DisableTwoFactorForm {
    #[validate(custom(function = "validate_current_password"))]
    pub password: Password,
    #[validate(custom(function = "validate_code"))]
    pub code: String,
}

impl DisableTwoFactorForm {
    pub fn check(&self) -> Result<SecondFactorCode, FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))?;
        SecondFactorCode::parse(&self.code).map_err(|message| FieldErrors::single("code", message))
    }
}

/// What `/account` shows about two-factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    /// Unused recovery codes (0 while off).
    pub recovery_codes_left: u64,
    /// An enrolment started and waiting for its first code.
    pub enrolment: Option<Enrolment>,
}

/// What an authenticator app needs, shown until the first code confirms it (never after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The secret in base32, in groups of four for typing.
    pub secret_base32: String,
    /// The `otpauth://` address, drawn as a QR code.
    pub otpauth_url: String,
    /// The QR code as an SVG element, drawn on the server.
    pub qr_svg: String,
}

/// Fresh recovery codes, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes(pub Vec<String>);

impl RecoveryCodes {
    /// The text file offered for download: one code per line.
    pub fn as_text(&self) -> String {
        let mut text = String::from(
            "Gatehouse recovery codes. Each works once, in place of an authenticator code.\n\n",
        );
        for code in &self.0 {
            text.push_str(code);
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_authenticator_and_recovery_codes_as_people_type_them() {
        use SecondFactorCode::*;
        assert_eq!(
            SecondFactorCode::parse("123456"),
            Ok(Authenticator("123456".into()))
        );
        assert_eq!(
            SecondFactorCode::parse(" 123 456 "),
            Ok(Authenticator("123456".into()))
        );
        assert_eq!(
            SecondFactorCode::parse("k3x9m-p2q7r"),
            Ok(Recovery("k3x9m-p2q7r".into()))
        );
        assert_eq!(
            SecondFactorCode::parse("K3X9MP2Q7R"),
            Ok(Recovery("k3x9m-p2q7r".into()))
        );
        assert_eq!(SecondFactorCode::parse(""), Err(CODE_MISSING));
        assert_eq!(SecondFactorCode::parse("  "), Err(CODE_MISSING));
        for bad in [
            "12345",
            "1234567",
            "12345a",
            "k3x9m-p2q7",
            "k3x9m_p2q7r",
            "ｋ3x9m-p2q7r",
        ] {
            assert_eq!(SecondFactorCode::parse(bad), Err(CODE_SHAPE), "{bad}");
        }
    }

    #[test]
    fn the_form_names_the_code_field() {
        let form = SecondFactorForm { code: "12".into() };
        assert_eq!(form.check().unwrap_err().get("code"), Some(CODE_SHAPE));
        let off = DisableTwoFactorForm {
            password: "".into(),
            code: "".into(),
        };
        let errors = off.check().unwrap_err();
        assert!(errors.get("password").is_some());
        assert_eq!(errors.get("code"), Some(CODE_MISSING));
    }

    #[test]
    fn the_download_lists_every_code_on_its_own_line() {
        let codes = RecoveryCodes(vec!["aaaaa-bbbbb".into(), "ccccc-ddddd".into()]);
        let text = codes.as_text();
        assert!(text.contains("\naaaaa-bbbbb\nccccc-ddddd\n"), "{text}");
    }
}
