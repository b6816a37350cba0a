//! Personal API keys: `gk_<prefix>_<secret>`.
//!
//! - `gk_` makes a leaked key recognisable to secret scanners and to people.
//! - `<prefix>`: 8 random lower-case letters/digits, public, stored in clear to find the row
//!   (and shown in the key list so people can tell keys apart).
//! - `<secret>`: 256 random bits, base64url. Only its SHA-256 is stored, and the comparison is
//!   constant-time, so neither the database nor response timing reveals it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "gk_";
const PREFIX_LEN: usize = 8;
const SECRET_BYTES: usize = 32;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The scopes a key can hold. A key can only ever read the profile: it cannot manage keys or
/// sessions, and it cannot sign in to the browser pages.
pub const SCOPE_READ_PROFILE: &str = "read:profile";
pub const KNOWN_SCOPES: &[&str] = &[SCOPE_READ_PROFILE];

/// A key as handed to its owner, once.
pub struct NewKey {
    pub full: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
}

pub fn generate() -> NewKey {
    let mut rng = rand::rngs::OsRng;
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| PREFIX_ALPHABET[rng.gen_range(0..PREFIX_ALPHABET.len())] as char)
        .collect();
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    NewKey {
        full: format!("{KEY_PREFIX}{prefix}_{secret}"),
        secret_hash: hash_secret(&secret),
        prefix,
    }
}

/// Splits a presented key into (prefix, secret) if it has our shape.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    // `get` answers `None` for a key too short or with a character across the prefix's end,
    // where slicing or `split_at` would panic on what anyone can send.
    let prefix = rest.get(..PREFIX_LEN)?;
    let secret = rest[PREFIX_LEN..].strip_prefix('_')?;
    let well_formed = prefix.bytes().all(|b| PREFIX_ALPHABET.contains(&b))
        && URL_SAFE_NO_PAD
            .decode(secret)
            .is_ok_and(|b| b.len() == SECRET_BYTES);
    well_formed.then_some((prefix, secret))
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Constant-time comparison of a presented secret with the stored hash.
pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_only_their_own_hash() {
        let key = generate();
        assert!(key.full.starts_with("gk_"));
        let (prefix, secret) = parse(&key.full).unwrap();
        assert_eq!(prefix, key.prefix);
        assert!(secret_matches(secret, &key.secret_hash));
        let other = generate();
        assert!(!secret_matches(secret, &other.secret_hash));
        assert_ne!(key.full, other.full);
    }

    #[test]
    fn keys_have_at_least_128_random_bits() {
        let key = generate();
        let (_, secret) = parse(&key.full).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len() * 8, 256);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "gk_",
            "gk_abc",
            "xx_abcdefgh_AAAA",
            "gk_ABCDEFGH_AAAA",
            "gk_abcdefgh_short",
            "gk_abcdefgh-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        // Anything can arrive in a header: short, or with a character across the prefix's end
        // or inside it. None of it panics.
        let secret = URL_SAFE_NO_PAD.encode([7u8; SECRET_BYTES]);
        for bad in [
            "gk_abcdefgh".to_string(),
            "gk_abcdefgh_".to_string(),
            "gk_abcdefgé".to_string(),
            format!("gk_abcdefgé_{secret}"),
            format!("gk_abcdéfgh_{secret}"),
            format!("gk_éééééééé_{secret}"),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse(&format!("gk_abcdefgh_{secret}")),
            Some(("abcdefgh", secret.as_str()))
        );
    }

    /// What this can prove: the presented secret is hashed and compared with the stored hash
    /// by `subtle`'s constant-time equality (never `==`, which stops at the first differing
    /// byte), and the one caller finds the row by its public prefix and checks the secret
    /// with that function (not by a database lookup on the secret's hash). It reads the
    /// source; it cannot measure time, and it trusts `subtle` to be what it says.
    #[test]
    fn the_secret_is_compared_with_a_constant_time_primitive() {
        let source = include_str!("api_key_secret.rs");
        let start = source.find("pub fn secret_matches").unwrap();
        let body = &source[start..start + source[start..].find("\n}").unwrap()];
        assert!(body.contains(".ct_eq("), "{body}");
        assert!(!body.contains("=="), "{body}");
        let caller = include_str!("api_keys.rs");
        assert!(caller.contains("api_key_by_prefix(prefix)"));
        assert!(caller.contains("api_key_secret::secret_matches(secret, &key.secret_hash)"));
        // And it answers right: a hash one bit off, or of another length, does not match.
        let key = generate();
        let (_, secret) = parse(&key.full).unwrap();
        let mut off = key.secret_hash.clone();
        off[31] ^= 1;
        assert!(!secret_matches(secret, &off));
        assert!(!secret_matches(secret, &key.secret_hash[..31]));
        assert!(secret_matches(secret, &key.secret_hash));
    }
}
