//! The JSON API's error answer: `ApiError` carries the closed `AppError` and the request id,
//! and renders the one JSON error shape (`error_page::json_error`). Handlers return
//! `Result<_, ApiError>` and turn service failures into it with `.or_api_error(&request_id)`,
//! which logs anything internal under that id first.

use axum::response::{IntoResponse, Response};

use crate::model::AppError;
use crate::server::error::ServiceError;
use crate::server::http::error_page::json_error;
use crate::server::http::extract::RequestId;

#[derive(Debug)]
pub struct ApiError {
    pub error: AppError,
    pub request_id: RequestId,
}

impl ApiError {
    pub fn new(error: AppError, request_id: &RequestId) -> Self {
        Self {
            error,
            request_id: request_id.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(&self.error, Some(self.request_id.as_str()))
    }
}

/// `service_call.await.or_api_error(&request_id)?`
pub trait OrApiError<T> {
    fn or_api_error(self, request_id: &RequestId) -> Result<T, ApiError>;
}

impl<T> OrApiError<T> for Result<T, ServiceError> {
    fn or_api_error(self, request_id: &RequestId) -> Result<T, ApiError> {
        self.map_err(|err| ApiError::new(err.into_app_error(request_id.as_str()), request_id))
    }
}
