//! Internal errors, and the one place they turn into the closed client-facing `AppError`.
//!
//! Flow: internal error → one log line with the request id → `AppError::Internal` carrying
//! only that id. Expected outcomes (validation, bad credentials) pass through unchanged.

use crate::model::AppError;

use super::db::StoreError;

/// What a client is told to wait when the database is unreachable: long enough for a
/// failover or restart, short enough that nobody gives up.
const DATABASE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An expected outcome the client is told about as-is.
    #[error("{0}")]
    Client(AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bounded work queue is full (password hashing): saturation, not a fault.
    #[error("{0}")]
    Saturated(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl From<AppError> for ServiceError {
    fn from(err: AppError) -> Self {
        ServiceError::Client(err)
    }
}

impl ServiceError {
    /// Converts to what the client may see, logging anything internal with `request_id`.
    pub fn into_app_error(self, request_id: &str) -> AppError {
        match self {
            ServiceError::Client(err) => err,
            // Saturation, not a fault: tell the client to come back shortly.
            ServiceError::Saturated(queue) => {
                tracing::warn!(request_id, queue, "queue full, answering 503");
                AppError::Unavailable {
                    retry_after_secs: 1,
                }
            }
            // The database is down or saturated (e.g. a PostgreSQL restart): transient.
            ServiceError::Store(err) if err.is_unavailable() => {
                tracing::error!(request_id, error = %err, "database unavailable, answering 503");
                AppError::Unavailable {
                    retry_after_secs: DATABASE_RETRY_AFTER_SECS,
                }
            }
            internal => {
                tracing::error!(request_id, error = %internal, "internal error");
                AppError::Internal {
                    request_id: Some(request_id.to_string()),
                }
            }
        }
    }
}
