//! Recovery codes: ten single-use codes shown once when two-factor is turned on (or the codes
//! are renewed), each accepted once in place of an authenticator code.
//!
//! A code is two groups of five lowercase letters and digits (`k3x9m-p2q7r`): about 52 bits,
//! too few to store under a plain hash (a stolen table could be searched offline), so each is
//! stored as an argon2id digest (NIST 800-63B §5.1.2.2, look-up secrets). One salt per account
//! for all ten: checking a typed code is then one argon2 run and one indexed delete, not ten
//! runs; it saves an attacker nothing, who tests each guess against all ten either way.

use rand::{Rng, RngCore};
use secrecy::SecretString;

use crate::model::two_factor::{RECOVERY_CODE_COUNT, RECOVERY_GROUP_LEN};

use super::password::{HashError, PasswordHasher};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const SALT_BYTES: usize = 16;

/// `RECOVERY_CODE_COUNT` new codes, from the OS CSPRNG, uniform over the alphabet.
pub fn generate() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut group = || -> String {
                (0..RECOVERY_GROUP_LEN)
                    .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                    .collect()
            };
            let first = group();
            format!("{first}-{}", group())
        })
        .collect()
}

pub fn new_salt() -> Vec<u8> {
    let mut salt = vec![0u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

/// The stored form of `code` (as `SecondFactorCode::parse` writes it) under `salt`.
pub async fn digest(
    hasher: &PasswordHasher,
    code: &str,
    salt: &[u8],
) -> Result<Vec<u8>, HashError> {
    hasher
        .digest(SecretString::from(code.to_string()), salt.to_vec())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::two_factor::SecondFactorCode;

    #[test]
    fn ten_distinct_codes_in_the_published_shape() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(
                SecondFactorCode::parse(code),
                Ok(SecondFactorCode::Recovery(code.clone())),
                "{code}"
            );
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[tokio::test]
    async fn digests_depend_on_the_code_and_the_salt() {
        let hasher = PasswordHasher::new(1).unwrap();
        let salt = new_salt();
        let a = digest(&hasher, "aaaaa-bbbbb", &salt).await.unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, digest(&hasher, "aaaaa-bbbbb", &salt).await.unwrap());
        assert_ne!(a, digest(&hasher, "aaaaa-bbbbc", &salt).await.unwrap());
        assert_ne!(
            a,
            digest(&hasher, "aaaaa-bbbbb", &new_salt()).await.unwrap()
        );
    }

    /// The stored form is argon2id (v1.3) at the password parameters (m = 19 MiB, t = 2,
    /// p = 1) with a 32-byte output, computed here with the `argon2` crate directly: a fast
    /// hash, another argon2 variant or weaker parameters give other bytes.
    #[tokio::test]
    async fn digests_are_argon2id_at_the_password_parameters() {
        use argon2::{Algorithm, Argon2, Params, Version};
        let hasher = PasswordHasher::new(1).unwrap();
        let salt = new_salt();
        let code = "k3x9m-p2q7r";
        let stored = digest(&hasher, code, &salt).await.unwrap();
        let params = Params::new(19 * 1024, 2, 1, Some(32)).unwrap();
        let mut expected = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(code.as_bytes(), &salt, &mut expected)
            .unwrap();
        assert_eq!(stored, expected);
    }
}
