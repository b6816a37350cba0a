//! A password strength estimate for the meter under the password field.
//!
//! Deliberately small: the `zxcvbn` crate gives better estimates but adds its dictionaries
//! (~800 KB) to the browser bundle. This estimate counts the search space an attacker faces
//! (length × alphabet), discounts repetition and runs like `abcd` / `4321`, and drops to
//! zero for anything the policy refuses (common, containing the username…). It informs; the
//! policy decides.

use serde::{Deserialize, Serialize};

use super::password::{
    is_common, normalize_password, validate_password_not_identity, PASSWORD_MIN_CHARS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strength {
    /// 0 (refused or empty) to 4 (strong).
    pub score: u8,
}

impl Strength {
    pub fn label(&self) -> &'static str {
        match self.score {
            0 => "Too weak",
            1 => "Weak",
            2 => "Fair",
            3 => "Good",
            _ => "Strong",
        }
    }
}

/// Estimates the strength of `password` for the person with this username and email.
pub fn estimate(password: &str, username: &str, email: &str) -> Strength {
    let password = normalize_password(password);
    let chars: Vec<char> = password.chars().collect();
    if chars.len() < PASSWORD_MIN_CHARS
        || is_common(&password)
        || validate_password_not_identity(&password, username, email).is_err()
    {
        return Strength { score: 0 };
    }
    let bits = entropy_bits(&chars);
    let score = match bits {
        b if b < 30.0 => 1,
        b if b < 45.0 => 2,
        b if b < 65.0 => 3,
        _ => 4,
    };
    Strength { score }
}

/// log2 of the search space, with repeated characters and sequential runs counted once.
fn entropy_bits(chars: &[char]) -> f64 {
    let mut alphabet = 0u32;
    type CharClass = (fn(&char) -> bool, u32);
    let classes: [CharClass; 4] = [
        (char::is_ascii_lowercase, 26),
        (char::is_ascii_uppercase, 26),
        (char::is_ascii_digit, 10),
        (|c: &char| c.is_ascii() && !c.is_ascii_alphanumeric(), 33),
    ];
    for (belongs, size) in classes {
        if chars.iter().any(belongs) {
            alphabet += size;
        }
    }
    if chars.iter().any(|c| !c.is_ascii()) {
        alphabet += 100;
    }
    // Characters that repeat the previous one, or continue a run (+1 / -1), add little.
    let mut effective = 0.0;
    for (i, c) in chars.iter().enumerate() {
        let predictable = i > 0 && {
            let prev = chars[i - 1] as i64;
            let cur = *c as i64;
            (cur - prev).abs() <= 1
        };
        effective += if predictable { 0.25 } else { 1.0 };
    }
    effective * f64::from(alphabet.max(1)).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(p: &str) -> u8 {
        estimate(p, "alice", "alice@example.com").score
    }

    #[test]
    fn refused_passwords_score_zero() {
        assert_eq!(score(""), 0);
        assert_eq!(score("short"), 0);
        assert_eq!(score("Password1"), 0);
        assert_eq!(score("alice-in-chains"), 0);
    }

    #[test]
    fn passphrases_are_strong() {
        assert_eq!(score("correct horse battery staple"), 4);
    }

    #[test]
    fn runs_and_repeats_score_lower_than_varied_text_of_the_same_length() {
        assert!(score("abcdefghijkl") < score("qmzuvkrwtxpe"));
        assert!(score("aaaaaaaaaaab") < score("qmzuvkrwtxpe"));
        assert!(score("qmzuvkrw") <= score("qmzuvkrwtxpeQ7!"));
    }

    #[test]
    fn labels_follow_the_score() {
        let labels: Vec<_> = (0..=4).map(|score| Strength { score }.label()).collect();
        assert_eq!(labels, ["Too weak", "Weak", "Fair", "Good", "Strong"]);
    }
}
