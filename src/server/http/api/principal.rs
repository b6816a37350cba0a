//! Who is calling: `Authorization: Bearer <access token or API key>`, and whether that
//! credential may use the route.
//!
//! Credentials are accepted only in the `Authorization` header. A token in the query string
//! (`?access_token=`) is ignored, because URLs end up in logs, browser history and `Referer`.
//!
//! Answers, as RFC 6750 §3.1 sorts them:
//! - no `Authorization` header: 401 with a bare `WWW-Authenticate: Bearer realm="gatehouse"`;
//! - a header that is not one `Bearer <credential>` (another scheme such as `Basic`, no
//!   credential, the header twice, not text): 400 `invalid_request`. (RFC 6750 §3 would also
//!   allow a bare 401 for an unsupported scheme; 400 tells a client that did send something
//!   what is wrong with it.)
//! - a credential that is invalid, expired, revoked or unknown: 401 `invalid_token`;
//! - a valid credential without what the route needs: 403 `insufficient_scope`.
//!
//! Routes never take "any valid credential": each names what it needs, `Scoped<S>` for a
//! scope an API key may hold, `AccessToken` for what only an access token may do. So a key
//! given another scope one day cannot reach a route by merely being a valid key.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::auth::api_key_secret::SCOPE_READ_PROFILE;
use crate::server::auth::{Credential, Principal};
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::OrApiError;

/// A scope a route needs (the `scope` of RFC 6750 §3). Access tokens hold every scope; an
/// API key only those stored with it.
pub trait RequiredScope {
    const SCOPE: &'static str;
}

/// `read:profile`: the caller's own account (`GET /users/me`).
pub struct ReadProfile;

impl RequiredScope for ReadProfile {
    const SCOPE: &'static str = SCOPE_READ_PROFILE;
}

/// A credential that holds scope `S`: an access token, or an API key with `S` among its
/// scopes. A key without it gets 403 `insufficient_scope`.
pub struct Scoped<S: RequiredScope>(pub Principal, pub PhantomData<S>);

/// An access token only: key and session management refuse API keys.
pub struct AccessToken(pub Principal);

/// The parts of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) and of the JSON body.
struct Challenge<'a> {
    status: StatusCode,
    /// `None`: the bare challenge for a request without credentials.
    error: Option<&'a str>,
    description: &'a str,
    /// The scope the route needs, with `insufficient_scope`.
    scope: Option<&'a str>,
}

impl Challenge<'_> {
    fn respond(self, request_id: RequestId) -> Response {
        let mut value = r#"Bearer realm="gatehouse""#.to_string();
        if let Some(error) = self.error {
            value.push_str(&format!(
                r#", error="{error}", error_description="{}""#,
                self.description
            ));
        }
        if let Some(scope) = self.scope {
            value.push_str(&format!(r#", scope="{scope}""#));
        }
        let code = self.error.unwrap_or("unauthenticated");
        let mut response = (
            self.status,
            Json(json!({
                "error": code,
                "message": self.description,
                "request_id": request_id.as_str(),
            })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The credential of `Authorization: Bearer <credential>`, or the refusal: 401 when the header
/// is missing, 400 `invalid_request` when it is there but not one well-formed Bearer value.
fn bearer_credential(parts: &Parts) -> Result<&str, Challenge<'static>> {
    let mut headers = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(header) = headers.next() else {
        return Err(Challenge {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            description: "Authentication required.",
            scope: None,
        });
    };
    let malformed = |description| Challenge {
        status: StatusCode::BAD_REQUEST,
        error: Some("invalid_request"),
        description,
        scope: None,
    };
    // Two headers are two ways of sending a credential (RFC 6750 §3.1): which one counts
    // must not depend on which a proxy kept first.
    if headers.next().is_some() {
        return Err(malformed("Send one Authorization header."));
    }
    header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| credential.trim())
        .filter(|credential| !credential.is_empty())
        .ok_or_else(|| {
            malformed("Use the Bearer scheme: Authorization: Bearer <access token or API key>.")
        })
}

/// Any valid credential. Private on purpose: handlers say what they need (`Scoped`,
/// `AccessToken`), never just "someone".
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, Response> {
    let id = RequestId::of(&parts.headers);
    let credential = bearer_credential(parts).map_err(|c| c.respond(id.clone()))?;
    let resolved = state
        .auth
        .tokens
        .principal_for_bearer(credential)
        .await
        .or_api_error(&id)
        .map_err(IntoResponse::into_response)?;
    resolved.ok_or_else(|| {
        Challenge {
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
            description: "The access token or API key is invalid, expired or revoked.",
            scope: None,
        }
        .respond(id)
    })
}

impl<S: RequiredScope> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        if principal.has_scope(S::SCOPE) {
            return Ok(Self(principal, PhantomData));
        }
        if let Credential::ApiKey { key_id, .. } = principal.via {
            tracing::warn!(
                event = "api_key.insufficient_scope",
                key_id,
                scope = S::SCOPE
            );
        }
        Err(Challenge {
            status: StatusCode::FORBIDDEN,
            error: Some("insufficient_scope"),
            description: "This API key does not have the scope this request needs.",
            scope: Some(S::SCOPE),
        }
        .respond(RequestId::of(&parts.headers)))
    }
}

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        match principal.via {
            Credential::AccessToken => Ok(Self(principal)),
            Credential::ApiKey { .. } => Err(Challenge {
                status: StatusCode::FORBIDDEN,
                error: Some("insufficient_scope"),
                description: "API keys cannot manage keys; use an access token.",
                scope: None,
            }
            .respond(RequestId::of(&parts.headers))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(values: &[&[u8]]) -> Parts {
        let mut request = axum::http::Request::builder();
        for value in values {
            request = request.header(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        request.body(()).unwrap().into_parts().0
    }

    fn refusal(values: &[&[u8]]) -> (StatusCode, Option<&'static str>) {
        let parts = parts(values);
        let refused = bearer_credential(&parts).expect_err("refused");
        (refused.status, refused.error)
    }

    #[test]
    fn only_one_bearer_value_is_a_credential() {
        assert_eq!(
            bearer_credential(&parts(&[b"Bearer abc"])).ok(),
            Some("abc")
        );
        assert_eq!(
            bearer_credential(&parts(&[b"bearer  abc "])).ok(),
            Some("abc")
        );
        assert_eq!(refusal(&[]), (StatusCode::UNAUTHORIZED, None));
        let bad_request = (StatusCode::BAD_REQUEST, Some("invalid_request"));
        for malformed in [
            &b"Basic YWxpY2U6c2VjcmV0"[..],
            b"Token abc",
            b"Bearer",
            b"Bearer ",
            b"Bearerabc",
            b"gk_abcdefgh_secret",
            b"Bearer \xff",
        ] {
            assert_eq!(
                refusal(&[malformed]),
                bad_request,
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
        assert_eq!(refusal(&[b"Bearer abc", b"Bearer abc"]), bad_request);
    }
}
