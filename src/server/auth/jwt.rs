//! Access tokens for API clients: short-lived, revocable JWTs.
//!
//! - The algorithm is pinned (HS256, with a key derived from `SECRET_KEY`): a token claiming
//!   `alg: none` or any other algorithm is refused before its signature is even looked at.
//! - `sub`, `exp`, `iat`, `nbf`, `iss`, `aud`, `jti` and `client_id` are all required; `iss` and
//!   `aud` must match this deployment.
//! - `sub` is the account's public id (`auth::public_id`), never the sequential internal id,
//!   so a token tells nobody how many accounts exist. `client_id` (RFC 9068 §2.2) names the
//!   client the token was issued to. The header's `typ` is `at+jwt` (RFC 9068), so an ID token or any
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
/// The `client_id` of a token whose password-grant request named no client. (The grant has
/// no client registration: the value only tells which program asked, for the logs and for
/// resource servers reading the claim.)
pub const PASSWORD_GRANT_CLIENT_ID: &str = "gatehouse-password-grant";
/// The longest `client_id` a token request may name.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// A `client_id` as a token may carry it: 1 to 64 printable ASCII characters (RFC 6749
/// Appendix A.1 `VSCHAR`, %x20-7E). Anything else cannot exist past `parse`, so no control
/// character or oversized value reaches a token or a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_CLIENT_ID_LEN
            && raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        ok.then(|| Self(raw.to_string()))
    }

    /// For a request that named no client.
    pub fn password_grant() -> Self {
        Self(PASSWORD_GRANT_CLIENT_ID.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account's public id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The client the token was issued to (RFC 9068 §2.2).
    pub client_id: String,
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

    /// A signed access token for the account with public id `subject`, issued to `client` at
    /// `now`.
    pub fn issue(
        &self,
        subject: &str,
        token_version: i64,
        client: &ClientId,
        now: i64,
    ) -> Result<String, TokenError> {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let claims = AccessClaims {
            sub: subject.to_string(),
            exp: now + self.ttl_secs,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: URL_SAFE_NO_PAD.encode(jti),
            client_id: client.as_str().to_string(),
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
    const SUBJECT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn issue(k: &JwtKeys, version: i64, now: i64) -> String {
        k.issue(SUBJECT, version, &ClientId::password_grant(), now)
            .unwrap()
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let client = ClientId::parse("backup-cli/2.1").unwrap();
        let token = k.issue(SUBJECT, 3, &client, NOW).unwrap();
        let claims = k.verify(&token, NOW + 10).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.ver,
                claims.exp,
                claims.client_id.as_str()
            ),
            (SUBJECT, 3, NOW + 1800, "backup-cli/2.1")
        );
    }

    #[test]
    fn a_token_missing_any_claim_is_refused() {
        let k = keys();
        let token = issue(&k, 0, NOW);
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_string());
        let resigned = |claims: &serde_json::Value| {
            jsonwebtoken::encode(&header, claims, &k.encoding).unwrap()
        };
        assert!(k.verify(&resigned(&claims), NOW).is_ok(), "re-signed whole");
        let names: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
        assert_eq!(names.len(), 9, "{names:?}");
        for name in names {
            let mut without = claims.clone();
            without.as_object_mut().unwrap().remove(&name);
            assert!(
                matches!(
                    k.verify(&resigned(&without), NOW),
                    Err(TokenError::Invalid(_))
                ),
                "a token without `{name}` was accepted"
            );
        }
    }

    #[test]
    fn a_client_id_is_short_printable_ascii() {
        for good in ["a", "backup-cli/2.1", "my client", &"c".repeat(64), "~!@#"] {
            assert!(ClientId::parse(good).is_some(), "{good:?}");
        }
        for bad in [
            "",
            &"c".repeat(65),
            "tab\there",
            "nul\0",
            "déjà",
            "line\nbreak",
            "\u{7f}",
        ] {
            assert!(ClientId::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            ClientId::password_grant().as_str(),
            "gatehouse-password-grant"
        );
    }

    #[test]
    fn expiry_and_not_before_follow_the_clock_with_leeway() {
        let k = keys();
        let token = issue(&k, 0, NOW);
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

    /// `nbf` and `iat` are each checked on their own, with the same leeway as `exp`.
    #[test]
    fn a_token_from_the_future_is_refused_by_either_time_claim() {
        let k = keys();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_string());
        let with = |nbf: i64, iat: i64| {
            let mut claims = k.verify(&issue(&k, 0, NOW), NOW).unwrap();
            (claims.nbf, claims.iat) = (nbf, iat);
            let token = jsonwebtoken::encode(&header, &claims, &k.encoding).unwrap();
            k.verify(&token, NOW).map(|_| ())
        };
        let edge = NOW + LEEWAY_SECS;
        assert_eq!(with(edge, edge), Ok(()), "within the leeway");
        assert_eq!(
            with(edge + 1, NOW),
            Err(TokenError::NotYetValid),
            "nbf alone"
        );
        assert_eq!(
            with(NOW, edge + 1),
            Err(TokenError::NotYetValid),
            "iat alone"
        );
        assert_eq!(with(NOW + 3600, NOW), Err(TokenError::NotYetValid));
        assert_eq!(with(NOW, NOW + 3600), Err(TokenError::NotYetValid));
    }

    #[test]
    fn another_key_issuer_or_audience_is_refused() {
        let token = issue(&keys(), 0, NOW);
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

    /// Signed with the right key, so only the header check can refuse it.
    fn with_header(k: &JwtKeys, alg: Algorithm, typ: Option<&str>) -> String {
        let claims = k.verify(&issue(k, 0, NOW), NOW).unwrap();
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_string);
        jsonwebtoken::encode(&header, &claims, &k.encoding).unwrap()
    }

    #[test]
    fn only_an_hs256_access_token_header_is_accepted() {
        let k = keys();
        assert!(k
            .verify(&with_header(&k, Algorithm::HS256, Some(TOKEN_TYPE)), NOW)
            .is_ok());
        for (alg, typ) in [
            (Algorithm::HS256, Some("JWT")),
            (Algorithm::HS256, None),
            (Algorithm::HS512, Some(TOKEN_TYPE)),
            (Algorithm::HS384, Some(TOKEN_TYPE)),
        ] {
            assert_eq!(
                k.verify(&with_header(&k, alg, typ), NOW),
                Err(TokenError::Invalid("unexpected algorithm or type".into())),
                "{alg:?} {typ:?}"
            );
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys();
        let token = issue(&k, 0, NOW);
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
        assert!(k.verify(&format!("{header}.{payload}."), NOW).is_err());
    }
}
