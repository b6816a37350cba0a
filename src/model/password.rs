//! The password policy (NIST SP 800-63B, OWASP ASVS 5.0 V6), shared by browser and server.
//!
//! - at least 8 and at most 128 characters, counted after Unicode NFC normalisation;
//! - not one of the 10,000 most common passwords (case-insensitive);
//! - no composition rules (no "one upper case, one digit") — unless the `seed` preset is
//!   configured, which adds the seed checklist's upper + lower + digit rule;
//! - must not contain the username or the email's local part.
//!
//! Passwords are used exactly as typed — never trimmed or truncated — except that both the
//! registration and the sign-in path normalise them to NFC, so the same visible password
//! typed on two keyboards (precomposed `é` versus `e` + combining accent) is one password.

use serde::{Deserialize, Serialize};
use validator::ValidationError;

use super::nfc::nfc;

/// A password as typed: in a form, a server function's arguments and an API request, until
/// the server hands it to the hasher. Its `Debug` never shows it, so a form or request that
/// holds one can be logged (`?form`) without leaking it; the text is read only through
/// `expose`, which makes every use visible.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self(password)
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Self(password.to_string())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The 10,000 most common passwords (see `scripts/gen-common-passwords.py` for the source),
/// minus those under 8 characters, which the length rule refuses anyway: lower-cased, sorted.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Which rules new passwords follow. The server's choice (`PASSWORD_POLICY`) is sent to the
/// browser, so both check the same thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordPolicy {
    /// NIST SP 800-63B / ASVS 5.0: length, blocklist, no composition rules.
    #[default]
    Nist,
    /// The seed checklist's rules on top: at least one upper-case letter, one lower-case
    /// letter and one digit. Kept for deployments that must match the seed app.
    Seed,
}

impl PasswordPolicy {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "nist" => Some(Self::Nist),
            "seed" => Some(Self::Seed),
            _ => None,
        }
    }

    /// The hint shown under the password field.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Nist => {
                "At least 8 characters. A few unrelated words make a strong, memorable password."
            }
            Self::Seed => {
                "At least 8 characters, with an upper-case letter, a lower-case letter and a digit."
            }
        }
    }

    /// Every rule for a new password (registration, password change).
    pub fn check(&self, password: &str) -> Result<(), ValidationError> {
        validate_length(password)?;
        if is_common(password) {
            return Err(error(
                "password_common",
                "This password is one of the most common. Choose something harder to guess.",
            ));
        }
        if *self == Self::Seed {
            let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
            if !(has(char::is_ascii_uppercase)
                && has(char::is_ascii_lowercase)
                && has(char::is_ascii_digit))
            {
                return Err(error(
                    "password_composition",
                    "Include an upper-case letter, a lower-case letter and a digit.",
                ));
            }
        }
        Ok(())
    }
}

/// True when the password (NFC, case-insensitive) is on the common-passwords list.
pub fn is_common(password: &str) -> bool {
    // Split once per process; the lines are sorted, so a lookup is ~12 comparisons.
    static LINES: std::sync::LazyLock<Vec<&'static str>> =
        std::sync::LazyLock::new(|| COMMON_PASSWORDS.lines().collect());
    let needle = normalize_password(password).to_lowercase();
    LINES.binary_search(&needle.as_str()).is_ok()
}

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// A UTF-8 character is at most 4 bytes, so anything longer than this is over the limit
/// whatever it normalises to. Checked first, so an enormous input is refused without
/// walking it through normalisation (or, later, through argon2).
const PASSWORD_MAX_BYTES: usize = PASSWORD_MAX_CHARS * 4;
/// Identity fragments shorter than this are too common to forbid inside a password.
const MIN_IDENTITY_FRAGMENT: usize = 3;

/// NFC-normalises a password before it is hashed or verified.
pub fn normalize_password(password: &str) -> String {
    nfc(password)
}

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Length in characters after NFC, or `None` when the input is over the byte bound.
fn normalized_len(password: &str) -> Option<usize> {
    (password.len() <= PASSWORD_MAX_BYTES).then(|| nfc(password).chars().count())
}

/// The rules a new password must follow under `policy` (validator's `use_context` hook).
pub fn validate_new_password(
    password: &str,
    policy: &PasswordPolicy,
) -> Result<(), ValidationError> {
    policy.check(password)
}

fn validate_length(password: &str) -> Result<(), ValidationError> {
    if password.is_empty() {
        return Err(error("password_required", "Choose a password."));
    }
    match normalized_len(password) {
        Some(n) if n < PASSWORD_MIN_CHARS => {
            Err(error("password_too_short", "Use at least 8 characters."))
        }
        Some(n) if n <= PASSWORD_MAX_CHARS => Ok(()),
        _ => Err(error("password_too_long", "Use at most 128 characters.")),
    }
}

/// What a sign-in password must be before it is worth hashing: present and within the
/// maximum length. No policy here: an old password must still be able to sign in.
pub fn validate_login_password(password: &str) -> Result<(), ValidationError> {
    if password.is_empty() {
        return Err(error("password_required", "Enter your password."));
    }
    match normalized_len(password) {
        Some(n) if n <= PASSWORD_MAX_CHARS => Ok(()),
        _ => Err(error(
            "password_too_long",
            "Passwords are at most 128 characters.",
        )),
    }
}

/// Refuses a password that contains the username or the email's local part (ASVS 6.2.11).
pub fn validate_password_not_identity(
    password: &str,
    username: &str,
    email: &str,
) -> Result<(), ValidationError> {
    let password = normalize_password(password).to_lowercase();
    let fragments = [
        Some(super::username::canonical_username(username)),
        super::email::email_local_part(email),
    ];
    let contains_identity = fragments
        .iter()
        .flatten()
        .filter(|fragment| fragment.chars().count() >= MIN_IDENTITY_FRAGMENT)
        .any(|fragment| password.contains(fragment.as_str()));
    if contains_identity {
        let mut err = error(
            "password_contains_identity",
            "Your password must not contain your username or email name.",
        );
        // Struct-level errors land under `__all__`; this tells `FieldErrors` which field owns it.
        err.add_param("field".into(), &"password");
        Err(err)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_new_password(password: &str) -> Result<(), ValidationError> {
        PasswordPolicy::Nist.check(password)
    }

    #[test]
    fn accepts_a_passphrase_without_composition_rules() {
        assert!(validate_new_password("correct horse battery staple").is_ok());
        assert!(validate_new_password("alllowercase").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password1",
            "Password1",
            "PASSWORD1",
            "iloveyou",
            "baseball",
            "trustno1",
            "qwertyuiop",
        ] {
            assert_eq!(
                validate_new_password(common).unwrap_err().code,
                "password_common",
                "{common}"
            );
        }
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn the_list_holds_only_what_the_length_rule_lets_through_and_is_sorted() {
        let lines: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert!(lines.len() > 3000, "{}", lines.len());
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(lines
            .iter()
            .all(|l| l.chars().count() >= PASSWORD_MIN_CHARS && *l == l.to_lowercase()));
    }

    #[test]
    fn the_seed_preset_adds_composition_rules() {
        let seed = PasswordPolicy::Seed;
        assert_eq!(
            seed.check("correct horse battery staple").unwrap_err().code,
            "password_composition"
        );
        assert!(seed.check("Correct horse battery 9").is_ok());
        // Blocklisted even though it satisfies the seed's own rules.
        assert_eq!(seed.check("Password1").unwrap_err().code, "password_common");
        assert_eq!(
            PasswordPolicy::from_name("seed"),
            Some(PasswordPolicy::Seed)
        );
        assert_eq!(
            PasswordPolicy::from_name("nist"),
            Some(PasswordPolicy::Nist)
        );
        assert_eq!(PasswordPolicy::from_name("strict"), None);
    }

    #[test]
    fn enforces_length_bounds_in_characters() {
        assert_eq!(
            validate_new_password("1234567").unwrap_err().code,
            "password_too_short"
        );
        assert!(validate_new_password("k7#pq2zw").is_ok());
        assert!(validate_new_password(&"xy".repeat(32)).is_ok());
        assert!(validate_new_password(&"xy".repeat(64)).is_ok());
        assert_eq!(
            validate_new_password(&"x".repeat(129)).unwrap_err().code,
            "password_too_long"
        );
        assert_eq!(
            validate_new_password("").unwrap_err().code,
            "password_required"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 8 four-byte characters: 32 bytes, but 8 characters.
        assert!(validate_new_password(&"🔑".repeat(8)).is_ok());
        assert!(validate_new_password(&"🔑".repeat(128)).is_ok());
        assert!(validate_new_password(&"🔑".repeat(129)).is_err());
    }

    #[test]
    fn huge_input_is_refused_by_the_byte_bound() {
        let huge = "a".repeat(1_000_000);
        assert_eq!(
            validate_new_password(&huge).unwrap_err().code,
            "password_too_long"
        );
        assert!(validate_login_password(&huge).is_err());
    }

    #[test]
    fn nfc_makes_composed_and_decomposed_forms_equal() {
        let composed = "caf\u{e9} au lait";
        let decomposed = "cafe\u{301} au lait";
        assert_ne!(composed, decomposed);
        assert_eq!(normalize_password(composed), normalize_password(decomposed));
    }

    #[test]
    fn never_trims_white_space() {
        assert_eq!(normalize_password("  spaced  "), "  spaced  ");
    }

    #[test]
    fn login_password_has_no_policy_beyond_presence_and_length() {
        assert!(validate_login_password("short").is_ok());
        assert!(validate_login_password("").is_err());
        assert!(validate_login_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn refuses_username_or_email_local_part_inside_the_password() {
        let code = |p: &str| {
            validate_password_not_identity(p, "Alice_W", "wonder@example.com")
                .err()
                .map(|e| e.code)
        };
        assert_eq!(
            code("my-alice_w-secret").as_deref(),
            Some("password_contains_identity")
        );
        assert_eq!(
            code("WONDERful things").as_deref(),
            Some("password_contains_identity")
        );
        assert_eq!(code("correct horse battery staple"), None);
    }

    #[test]
    fn ignores_identity_fragments_too_short_to_matter() {
        assert!(validate_password_not_identity("xy-and-more", "ab", "xy@example.com").is_ok());
    }

    #[test]
    fn the_seed_preset_needs_each_of_the_three_classes() {
        let seed = PasswordPolicy::Seed;
        for (password, missing) in [
            ("correct horse 9 staple", "an upper-case letter"),
            ("CORRECT HORSE 9 STAPLE", "a lower-case letter"),
            ("Correct horse battery staple", "a digit"),
        ] {
            assert_eq!(
                seed.check(password).map_err(|e| e.code),
                Err("password_composition".into()),
                "{password} has no {missing}"
            );
        }
    }

    #[test]
    fn each_policy_hints_at_its_own_rules() {
        let nist = PasswordPolicy::Nist.hint();
        let seed = PasswordPolicy::Seed.hint();
        assert!(nist.starts_with("At least 8 characters."), "{nist}");
        assert!(!nist.contains("digit"), "{nist}");
        assert!(seed.starts_with("At least 8 characters"), "{seed}");
        for class in ["upper-case letter", "lower-case letter", "digit"] {
            assert!(seed.contains(class), "{seed}");
        }
    }

    #[test]
    fn a_sign_in_password_may_be_exactly_the_longest_allowed() {
        assert!(validate_login_password(&"x".repeat(PASSWORD_MAX_CHARS)).is_ok());
        // 128 two-byte characters: the byte bound is 4 per character, not 1 or 2.
        assert!(validate_login_password(&"\u{e9}".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert!(validate_new_password(&"\u{e9}".repeat(PASSWORD_MAX_CHARS)).is_ok());
    }

    #[test]
    fn a_three_character_name_is_long_enough_to_forbid() {
        let code = validate_password_not_identity("my bob secret", "bob", "x@example.com")
            .unwrap_err()
            .code;
        assert_eq!(code, "password_contains_identity");
        assert!(validate_password_not_identity("my bo secret", "bo", "x@example.com").is_ok());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::from("correct horse battery staple");
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert!(!password.is_empty());
        assert!(Password::default().is_empty());
        assert_eq!(
            Password::from(String::from("typed")).expose(),
            Password::from("typed").expose()
        );
    }
}
