//! Authenticator-app codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), the enrolment
//! address (`otpauth://`) and its QR code.
//!
//! `totp-rs` computes the codes; which time step a code belongs to is found here, because the
//! replay check stores that step (a code of the last accepted step, or an earlier one, is
//! refused) and the crate's `check` only answers yes or no.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::model::two_factor::AUTHENTICATOR_DIGITS;

/// Seconds per code.
pub const STEP_SECS: i64 = 30;
/// Steps accepted either side of now, for clocks a little off (RFC 6238 §5.2 recommends one).
pub const SKEW_STEPS: i64 = 1;
/// 160 bits, the length RFC 4226 §4 recommends (and what authenticator apps expect).
pub const SECRET_BYTES: usize = 20;
/// The name authenticator apps show above the account name.
pub const ISSUER: &str = "Gatehouse";

/// A TOTP secret in the clear: only ever in memory, between opening its sealed form and
/// computing a code. Deliberately not `Debug`.
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret written in base32, spaces and case aside (as `base32_grouped` shows it).
    pub fn from_base32(text: &str) -> Option<Self> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        totp_rs::Secret::Encoded(compact)
            .to_bytes()
            .ok()
            .filter(|bytes| !bytes.is_empty())
            .map(Self)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, account: &str) -> TOTP {
        // An account name with `:` would make an ambiguous label; usernames have none, but
        // the label must never fail to build.
        let account = account.replace(':', "_");
        TOTP::new_unchecked(
            Algorithm::SHA1,
            AUTHENTICATOR_DIGITS,
            SKEW_STEPS as u8,
            STEP_SECS as u64,
            self.0.clone(),
            Some(ISSUER.to_string()),
            account,
        )
    }

    /// Base32 (RFC 4648, no padding) in groups of four, for people who type it in.
    pub fn base32_grouped(&self) -> String {
        let plain = self.totp("").get_secret_base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `otpauth://totp/Gatehouse:alice?secret=…&issuer=Gatehouse`.
    pub fn otpauth_url(&self, account: &str) -> String {
        self.totp(account).get_url()
    }

    /// The code for time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp("")
            .generate((step.max(0) as u64) * STEP_SECS as u64)
    }

    /// The time step `code` belongs to, if it is the code of now or of a step either side.
    /// Every candidate is compared, in constant time, whichever matched.
    pub fn matching_step(&self, code: &str, now: i64) -> Option<i64> {
        let current = step_of(now);
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            let candidate = self.code_at_step(step);
            if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// The RFC 6238 time step of a moment.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// `data` as a QR code in an `<svg>` element to put inline in a page: no script, no style
/// attribute and no external image, so the page's strict CSP holds. The size comes from the
/// stylesheet (`.qr svg`), the drawing from the `viewBox`.
pub fn qr_svg(data: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    // The renderer writes a standalone XML file: drop the XML declaration (meaningless
    // inside HTML) and the fixed pixel size.
    let start = drawn.find("<svg")?;
    let svg = &drawn[start..];
    let svg = strip_attribute(svg, "width");
    let svg = strip_attribute(&svg, "height");
    Some(svg.replacen(
        "<svg ",
        r#"<svg role="img" aria-label="QR code for your authenticator app" "#,
        1,
    ))
}

/// Removes the first ` name="…"` from the opening tag.
fn strip_attribute(svg: &str, name: &str) -> String {
    let needle = format!(" {name}=\"");
    let tag_end = svg.find('>').unwrap_or(svg.len());
    match svg[..tag_end].find(&needle) {
        Some(at) => {
            let value_start = at + needle.len();
            match svg[value_start..].find('"') {
                Some(len) => format!("{}{}", &svg[..at], &svg[value_start + len + 1..]),
                None => svg.to_string(),
            }
        }
        None => svg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, with its 20-byte ASCII secret (8 digits there; the last
    /// 6 are what a 6-digit generator gives).
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                secret.code_at_step(step_of(time)),
                eight_digits[2..],
                "t={time}"
            );
        }
    }

    #[test]
    fn accepts_one_step_either_side_and_says_which() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = step_of(now);
        for offset in [-1, 0, 1] {
            let code = secret.code_at_step(step + offset);
            assert_eq!(secret.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-2, 2] {
            let code = secret.code_at_step(step + offset);
            // A code of a farther step can collide with a nearer one only by chance (1 in 10^6).
            if (-1..=1).all(|near| secret.code_at_step(step + near) != code) {
                assert_eq!(secret.matching_step(&code, now), None);
            }
        }
    }

    #[test]
    fn the_secret_reads_as_grouped_base32_and_in_the_otpauth_address() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(
            secret.base32_grouped(),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        let typed = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(typed.expose(), secret.expose());
        assert!(TotpSecret::from_base32("not base32!").is_none());
        let url = secret.otpauth_url("alice");
        assert!(
            url.starts_with(
                "otpauth://totp/Gatehouse:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            ),
            "{url}"
        );
        assert!(url.contains("issuer=Gatehouse"), "{url}");
    }

    #[test]
    fn the_qr_code_is_plain_inline_svg() {
        let svg = qr_svg("otpauth://totp/Gatehouse:alice?secret=GEZDGNBV").unwrap();
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.contains("viewBox="), "{svg}");
        for absent in [
            "<?xml",
            "<script",
            "style=",
            " width=\"",
            " height=\"",
            "href",
        ] {
            let tag_end = svg.find('>').unwrap();
            let checked = if absent.starts_with(' ') {
                &svg[..tag_end]
            } else {
                &svg[..]
            };
            assert!(!checked.contains(absent), "{absent} in {svg}");
        }
    }
}
