//! Secrets the server must read back (an authenticator's TOTP secret, recovery codes waiting
//! to be shown), sealed before they are stored.
//!
//! XChaCha20-Poly1305: a random 192-bit nonce per seal is safe without a counter, and the tag
//! makes any change to a stored value fail to open. The key is derived from `SECRET_KEY` by
//! HKDF-SHA256 with a label of its own, so it is never the raw secret nor any other purpose's
//! key (the JWT key, the form-error signer). Each seal also binds a context (the account and
//! what the value is) as associated data: a sealed value copied to another row does not open.
//!
//! Changing `SECRET_KEY` makes sealed values unreadable: the README says what that means for
//! two-factor (recovery codes, which are hashed and not sealed, keep working).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const NONCE_BYTES: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// The box for values sealed under `label` (one label per kind of stored secret).
    pub fn new(secret_key: &SecretString, label: &str) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, secret_key.expose_secret().as_bytes())
            .expand(label.as_bytes(), &mut key)
            // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
            .expect("HKDF output of 32 bytes");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // Encryption fails only for inputs of more than 256 GiB.
            .expect("XChaCha20-Poly1305 encryption");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext, or `None` when the value was sealed under another key or context, or
    /// was changed.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn opens_what_it_sealed_only_with_the_same_key_label_and_context() {
        let sealer = SecretBox::new(&key("k".repeat(32).as_str()), "label-a");
        let sealed = sealer.seal(b"the secret", b"user:1");
        assert_eq!(
            sealer.open(&sealed, b"user:1").as_deref(),
            Some(&b"the secret"[..])
        );
        // Not stored in the clear, and a new nonce every time.
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_ne!(sealer.seal(b"the secret", b"user:1"), sealed);
        assert!(sealer.open(&sealed, b"user:2").is_none());
        let other_label = SecretBox::new(&key("k".repeat(32).as_str()), "label-b");
        assert!(other_label.open(&sealed, b"user:1").is_none());
        let other_key = SecretBox::new(&key("j".repeat(32).as_str()), "label-a");
        assert!(other_key.open(&sealed, b"user:1").is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&tampered, b"user:1").is_none());
        assert!(sealer.open(&sealed[..10], b"user:1").is_none());
    }
}
