//! Email syntax and normalisation.
//!
//! A small hand-written check instead of validator's built-in `email` rule: that rule pulls
//! IDNA and Unicode tables into the wasm bundle and roughly triples its size (TOOLCHAIN.md).
//! The check is deliberately permissive about the local part (RFC 5321 allows almost anything)
//! and strict about the domain, which is what decides deliverability.

use validator::ValidationError;

/// RFC 5321: a forward path is at most 256 octets including the angle brackets.
pub const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_DOMAIN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Trims surrounding white space and lower-cases the domain. The local part keeps its case:
/// RFC 5321 lets a mail server treat it case-sensitively, so we store what the person typed.
pub fn normalize_email(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => trimmed.to_string(),
    }
}

/// The key used for uniqueness and sign-in lookups: the whole address lower-cased, so
/// `Alice@Example.com` and `alice@example.com` cannot be two accounts.
pub fn canonical_email(raw: &str) -> String {
    normalize_email(raw).to_lowercase()
}

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Validates an address after normalisation (callers may pass it raw: it is trimmed here).
pub fn validate_email(raw: &str) -> Result<(), ValidationError> {
    let email = raw.trim();
    if email.is_empty() {
        return Err(error("email_required", "Enter your email address."));
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(error("email_too_long", "That email address is too long."));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(error(
            "email_invalid",
            "Enter an email address like name@example.com.",
        ));
    };
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.contains('@')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\\\"".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= MAX_DOMAIN_LEN
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // The top-level domain is never all digits (that would be an IP address).
        && !domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(error(
            "email_invalid",
            "Enter an email address like name@example.com.",
        ))
    }
}

/// The part before the `@`, lower-cased: the password policy refuses passwords containing it.
pub fn email_local_part(raw: &str) -> Option<String> {
    raw.trim()
        .rsplit_once('@')
        .map(|(local, _)| local.to_lowercase())
        .filter(|local| !local.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "alice@example.com",
            "a.b+tag@sub.example.co.uk",
            "  bob@example.org  ",
            "x@a-b.io",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "alice@@example.com",
            "al ice@example.com",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example-.com",
            "alice@exa_mple.com",
            "alice@1.2.3.4",
            "alice@example..com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn rejects_overlong_addresses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(validate_email(&long_local).is_err());
        let long_total = format!("a@{}.com", "b".repeat(250));
        assert!(validate_email(&long_total).is_err());
    }

    #[test]
    fn normalisation_trims_and_lowercases_only_the_domain() {
        assert_eq!(normalize_email("  Alice@Example.COM "), "Alice@example.com");
        assert_eq!(canonical_email("  Alice@Example.COM "), "alice@example.com");
    }

    #[test]
    fn local_part_is_lowercased() {
        assert_eq!(
            email_local_part("Alice@Example.com").as_deref(),
            Some("alice")
        );
        assert_eq!(email_local_part("no-at-sign"), None);
    }
}
