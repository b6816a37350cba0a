//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", description = "Sign-up, OAuth2 password-grant tokens and personal API keys."),
    paths(super::token::token, super::users::register, super::users::me, super::password_reset::request, super::keys::list, super::keys::create, super::keys::revoke, document),
    components(schemas(
        super::token::TokenRequest,
        super::token::TokenResponse,
        super::users::RegisterRequest,
        super::users::UserResponse,
        super::users::AcceptedResponse,
        super::password_reset::PasswordResetRequest,
        super::keys::CreateKeyRequest,
        super::keys::RequestedExpiry,
        super::keys::KeyResponse,
        super::keys::CreatedKeyResponse,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gk_<prefix>_<secret>")
                    .description(Some("Personal API key, sent as Authorization: Bearer gk_…"))
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
