//! Access tokens for API clients: short-lived, revocable JWTs.
//!
//! - The algorithm is pinned (HS256, with a key derived from `SECRET_KEY`): a token claiming
//!   `alg: none` or any other algorithm is refused before its signature is even looked at.
//! - `sub`, `exp`, `iat`, `nbf`, `iss`, `aud` and `jti` are all required; `iss` and `aud` must
//!   match this deployment. The header's `typ` is `at+jwt` (RFC 9068), so an ID token or any
//!   other JWT signed with the same key cannot pass for an access token.
//! - Each token carries the user's `token_version` (`ver`); bumping it on sign-out-everywhere
//!   or a password change ends every outstanding token at once.
//! - Time claims are checked against the injectable clock (tests move it), with a small leeway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's token version when the token was issued.
    pub ver: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed or wrongly signed token: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, ttl_secs: i64) -> Self {
        // A key for this purpose only, so SECRET_KEY can serve other uses without the JWT
        // key ever being the raw secret.
        let key = Sha256::new()
            .chain_update(b"gatehouse/jwt/hs256/v1\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["sub", "exp", "iat", "nbf", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        // Time is checked in `verify` against the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    /// A signed access token for `user_id` at `now`.
    pub fn issue(&self, user_id: i64, token_version: i64, now: i64) -> Result<String, TokenError> {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let claims = AccessClaims {
            sub: user_id.to_string(),
            exp: now + self.ttl_secs,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: URL_SAFE_NO_PAD.encode(jti),
            ver: token_version,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_string());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks signature, algorithm, type, issuer, audience and time; returns the claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::Invalid("unexpected algorithm or type".into()));
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if now >= claims.exp + LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECS < claims.nbf || now + LEEWAY_SECS < claims.iat {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &SecretString::from("test secret key of enough bytes!!".to_string()),
            "gatehouse",
            "gatehouse-api",
            1800,
        )
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn round_trip() {
        let k = keys();
        let token = k.issue(42, 3, NOW).unwrap();
        let claims = k.verify(&token, NOW + 10).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.ver, claims.exp),
            ("42", 3, NOW + 1800)
        );
    }

    #[test]
    fn expiry_and_not_before_follow_the_clock_with_leeway() {
        let k = keys();
        let token = k.issue(1, 0, NOW).unwrap();
        assert!(k.verify(&token, NOW + 1800 + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            k.verify(&token, NOW + 1800 + LEEWAY_SECS),
            Err(TokenError::Expired)
        );
        assert_eq!(
            k.verify(&token, NOW - LEEWAY_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn another_key_issuer_or_audience_is_refused() {
        let token = keys().issue(1, 0, NOW).unwrap();
        let other = JwtKeys::new(
            &SecretString::from("another secret key, also long!!!".to_string()),
            "gatehouse",
            "gatehouse-api",
            1800,
        );
        assert!(other.verify(&token, NOW).is_err());
        let other_iss = JwtKeys::new(
            &SecretString::from("test secret key of enough bytes!!".to_string()),
            "evil",
            "gatehouse-api",
            1800,
        );
        assert!(other_iss.verify(&token, NOW).is_err());
        let other_aud = JwtKeys::new(
            &SecretString::from("test secret key of enough bytes!!".to_string()),
            "gatehouse",
            "other-api",
            1800,
        );
        assert!(other_aud.verify(&token, NOW).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys();
        let token = k.issue(1, 0, NOW).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
        assert!(k.verify(&format!("{header}.{payload}."), NOW).is_err());
    }
}
