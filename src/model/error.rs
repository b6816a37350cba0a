//! The closed set of errors a client can ever see.
//!
//! Server functions and JSON handlers return only these. Anything unexpected on the server is
//! logged with the request id and becomes `Internal { request_id }`: no database text, file
//! path or library message crosses this boundary. The messages are written for people; the
//! JSON API adds a stable machine-readable `code` per variant.

use std::collections::BTreeMap;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use validator::ValidationErrors;

/// Field name → the one message to show next to that field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn single(field: &str, message: &str) -> Self {
        let mut errors = Self::default();
        errors.insert(field, message);
        errors
    }

    pub fn insert(&mut self, field: &str, message: &str) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.to_string());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&ValidationErrors> for FieldErrors {
    fn from(errors: &ValidationErrors) -> Self {
        let mut out = FieldErrors::default();
        // Sorted by code so the chosen message is stable whatever the HashMap order.
        for (field, list) in errors.field_errors() {
            let mut list: Vec<_> = list.iter().collect();
            list.sort_by(|a, b| a.code.cmp(&b.code));
            for err in list {
                // Struct-level (`schema`) rules name the field they belong to in a param.
                let target = match (field.as_ref(), err.params.get("field")) {
                    ("__all__", Some(serde_json::Value::String(f))) => f.clone(),
                    _ => field.to_string(),
                };
                let message = err.message.as_deref().unwrap_or("This value is not valid.");
                out.insert(&target, message);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// 422: the input breaks a rule; each field says which.
    #[error("Please correct the highlighted fields.")]
    Validation(FieldErrors),
    /// 401: the one answer for unknown user and wrong password alike.
    #[error("Incorrect username or password")]
    InvalidCredentials,
    /// 403: the password was right, but the account's address is not confirmed yet and this
    /// server requires it (`EMAIL_VERIFICATION=required`).
    #[error("Confirm your email address before signing in: open the link we sent you.")]
    EmailNotVerified,
    /// 410: a mailed link that can no longer be followed: expired, already used, replaced by
    /// a newer one, or made moot (the password or the address changed since).
    #[error(
        "This link no longer works: it has expired, was already used, or a newer one was sent."
    )]
    LinkInvalid,
    /// 401: the sign-in step that asks for a code has no pending sign-in to finish: it timed
    /// out, was finished already, or ended after too many wrong codes.
    #[error("Your sign-in timed out. Sign in again with your password.")]
    SignInExpired,
    /// 400 (OAuth2 `invalid_grant`): the password was right, but the account signs in with a
    /// second factor, which the password grant cannot carry.
    #[error("This account uses two-factor authentication, so the password grant cannot sign it in. Use an API key (created on the account page) instead.")]
    SecondFactorRequired,
    /// 401: the request needs a signed-in session.
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// 403: authenticated, but not allowed (or a cross-site request).
    #[error("This request is not allowed.")]
    Forbidden,
    /// 429: too many attempts from this client or against this account. `limit` requests per
    /// `window_secs` is the rule that refused (0 when unknown), for `RateLimit-*` headers.
    #[error("Too many attempts. Try again in {retry_after_secs} s.")]
    RateLimited {
        retry_after_secs: u64,
        limit: u32,
        window_secs: u64,
    },
    /// 503: a dependency is down or the server is saturated; safe to retry.
    #[error("The service is busy. Please try again in a moment.")]
    Unavailable { retry_after_secs: u64 },
    /// 400: the request itself could not be read.
    #[error("The request could not be understood.")]
    BadRequest,
    /// 404: nothing lives at this address.
    #[error("There is nothing at this address.")]
    NotFound,
    /// 405: this address does not accept this method.
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    /// 408: the request took too long to arrive or to complete.
    #[error("The request took too long. Please try again.")]
    Timeout,
    /// 413: the body is larger than this endpoint accepts.
    #[error("The request is too large.")]
    PayloadTooLarge,
    /// Browser only: the server could not be reached.
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
    /// 500: something failed on our side. The id ties the report to the server log.
    #[error("Something went wrong on our side.{}", request_id.as_deref().map(|id| format!(" Reference: {id}")).unwrap_or_default())]
    Internal { request_id: Option<String> },
}

impl AppError {
    /// The HTTP status this error is sent with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Validation(_) => 422,
            AppError::InvalidCredentials | AppError::Unauthenticated | AppError::SignInExpired => {
                401
            }
            AppError::SecondFactorRequired => 400,
            AppError::Forbidden | AppError::EmailNotVerified => 403,
            AppError::LinkInvalid => 410,
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::BadRequest => 400,
            AppError::NotFound => 404,
            AppError::MethodNotAllowed => 405,
            AppError::Timeout => 408,
            AppError::PayloadTooLarge => 413,
            AppError::Network | AppError::Internal { .. } => 500,
        }
    }

    /// A stable, machine-readable code for JSON clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::EmailNotVerified => "email_not_verified",
            AppError::LinkInvalid => "link_invalid",
            AppError::SignInExpired => "sign_in_expired",
            AppError::SecondFactorRequired => "second_factor_required",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable { .. } => "unavailable",
            AppError::BadRequest => "bad_request",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Timeout => "timeout",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::Network => "network",
            AppError::Internal { .. } => "internal",
        }
    }

    /// The client error for a bare HTTP status (one produced by a layer, not by our code).
    pub fn from_status(status: u16, request_id: Option<String>) -> Self {
        match status {
            401 => AppError::Unauthenticated,
            403 => AppError::Forbidden,
            404 => AppError::NotFound,
            405 => AppError::MethodNotAllowed,
            408 => AppError::Timeout,
            413 => AppError::PayloadTooLarge,
            429 => AppError::RateLimited {
                retry_after_secs: 60,
                limit: 0,
                window_secs: 60,
            },
            503 => AppError::Unavailable {
                retry_after_secs: 5,
            },
            // 400 and any other client error without a variant of its own.
            400..=499 => AppError::BadRequest,
            _ => AppError::Internal { request_id },
        }
    }

    /// The message for one field, when this is a validation error naming it.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Validation(fields) => fields.get(name).map(str::to_string),
            _ => None,
        }
    }

    /// `Retry-After` in seconds, for the variants that have one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited {
                retry_after_secs, ..
            }
            | AppError::Unavailable { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(fields: FieldErrors) -> Self {
        AppError::Validation(fields)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Transport-level failures. Their text can carry library details (serde messages, URLs),
    /// so none of it is kept: each maps to a fixed variant.
    ///
    /// `Deserialization` is a body that could not be read (on the server: invalid UTF-8, or
    /// a chunked body cut off by the size limit); it is the client's mistake, not a fault.
    /// The limit is told apart by its error's fixed text ("length limit exceeded", from
    /// http-body-util), the only signal the runtime passes on.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => AppError::Network,
            ServerFnErrorErr::Deserialization(text) if text.contains("length limit exceeded") => {
                AppError::PayloadTooLarge
            }
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => AppError::BadRequest,
            _ => AppError::Internal { request_id: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_message_carries_only_the_reference() {
        let err = AppError::Internal {
            request_id: Some("abc-123".into()),
        };
        assert_eq!(
            err.to_string(),
            "Something went wrong on our side. Reference: abc-123"
        );
        assert_eq!(err.status_code(), 500);
    }

    #[test]
    fn transport_errors_drop_their_library_text() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "missing field `secret_internal_name`".into(),
        ));
        assert_eq!(err, AppError::BadRequest);
        assert!(!err.to_string().contains("secret_internal_name"));
    }

    #[test]
    fn unreadable_bodies_are_client_errors() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Deserialization(
            "invalid utf-8 sequence of 1 bytes from index 9".into(),
        ));
        assert_eq!(err, AppError::BadRequest);
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Deserialization(
            "length limit exceeded".into(),
        ));
        assert_eq!(err, AppError::PayloadTooLarge);
    }

    #[test]
    fn field_errors_keep_the_first_message_per_field() {
        let mut errors = FieldErrors::default();
        errors.insert("email", "first");
        errors.insert("email", "second");
        assert_eq!(errors.get("email"), Some("first"));
    }

    #[test]
    fn round_trips_through_the_wire_encoding() {
        let err = AppError::Validation(FieldErrors::single("username", "Username already taken."));
        let back = AppError::de(err.ser());
        assert_eq!(back, err);
    }
}
