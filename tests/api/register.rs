use gatehouse::model::AppError;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn registration_creates_the_account_and_signs_it_in() {
    let app = spawn_app().await;
    let res = app.register("alice", "alice@example.com").await;
    assert_eq!(res.status(), StatusCode::OK);
    // The hydrated client follows this to `/` with client-side routing.
    assert_eq!(
        res.headers().get("location").map(|v| v.to_str().unwrap()),
        Some("/")
    );
    let token = session_token_from(&res, app.cookie_name).expect("session cookie");
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn duplicate_username_is_reported_on_the_field_whatever_its_case() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let res = app.register("ALICE", "other@example.com").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(
        !body.to_lowercase().contains("unique"),
        "database text leaked: {body}"
    );
    assert!(
        !body.to_lowercase().contains("sqlite"),
        "database text leaked: {body}"
    );
    let err: AppError = serde_json::from_str(&body).unwrap();
    assert_eq!(
        err.field("username").as_deref(),
        Some("That username is already taken.")
    );
    assert_eq!(err.field("email"), None);
}

#[tokio::test]
async fn duplicate_email_is_reported_on_the_field_whatever_its_case() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let err = app_error(app.register("bob", "  Alice@EXAMPLE.com ").await).await;
    assert_eq!(
        err.field("email").as_deref(),
        Some("An account with this email already exists.")
    );
}

#[tokio::test]
async fn invalid_input_is_rejected_by_the_server_when_the_browser_is_bypassed() {
    let app = spawn_app().await;
    let cases: &[(&str, [(&str, &str); 4])] = &[
        (
            "email",
            [
                ("email", "not-an-email"),
                ("username", "bob"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        ),
        (
            "username",
            [
                ("email", "b@example.com"),
                ("username", "b!"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        ),
        (
            "password",
            [
                ("email", "b@example.com"),
                ("username", "bob"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        ),
        (
            "password_confirm",
            [
                ("email", "b@example.com"),
                ("username", "bob"),
                ("password", PASSWORD),
                ("password_confirm", "other words"),
            ],
        ),
        (
            "password",
            [
                ("email", "b@example.com"),
                ("username", "bobby"),
                ("password", "bobby-forever-1"),
                ("password_confirm", "bobby-forever-1"),
            ],
        ),
    ];
    for (field, form) in cases {
        let res = app.call("register", form, None).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(session_token_from(&res, app.cookie_name).is_none());
        let err = app_error(res).await;
        assert!(err.field(field).is_some(), "{field}: {err:?}");
    }
    // Nothing was created along the way.
    assert!(app.stored_user("bob").await.is_none());
}

#[tokio::test]
async fn a_password_over_128_characters_is_refused() {
    let app = spawn_app().await;
    let long = "x".repeat(129);
    let res = app.register_with("carol", "c@example.com", &long).await;
    assert_eq!(
        app_error(res).await.field("password").as_deref(),
        Some("Use at most 128 characters.")
    );
}

#[tokio::test]
async fn malformed_server_function_arguments_get_a_4xx_not_a_500() {
    let app = spawn_app().await;
    let res = app
        .call("register", &[("email", "x@example.com")], None)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err = app_error(res).await;
    assert_eq!(err, AppError::BadRequest);
}

#[tokio::test]
async fn stored_email_is_normalised_and_the_hash_is_argon2id() {
    let app = spawn_app().await;
    app.register_ok("Dana_1", "  Dana@Example.ORG ").await;
    let user = app
        .store()
        .user_by_email("dana@example.org")
        .await
        .unwrap()
        .expect("user");
    assert_eq!(user.email, "Dana@example.org");
    assert_eq!(user.username, "Dana_1");
    assert!(user
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!user.password_hash.contains(PASSWORD));
}
