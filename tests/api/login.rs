use gatehouse::model::AppError;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn sign_in_works_with_username_or_email_in_any_case() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    for identifier in ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"] {
        let res = app.login(identifier, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "{identifier}");
        let token = session_token_from(&res, app.cookie_name).expect("session cookie");
        assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_identical_responses() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let hasher = app.hasher();

    let before = hasher.verification_count();
    let wrong_password = app.login("alice", "not the password").await;
    assert_eq!(
        hasher.verification_count(),
        before + 1,
        "wrong password runs one argon2 verification"
    );
    let unknown_user = app.login("nobody", "not the password").await;
    assert_eq!(
        hasher.verification_count(),
        before + 2,
        "unknown user runs one argon2 verification too"
    );

    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.status(), unknown_user.status());
    let comparable = |res: &reqwest::Response| {
        let mut headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        headers.sort();
        headers
    };
    assert_eq!(comparable(&wrong_password), comparable(&unknown_user));
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap(),
    );
    assert_eq!(a, b);
    let err: AppError = serde_json::from_str(&a).unwrap();
    assert_eq!(err, AppError::InvalidCredentials);
    assert_eq!(err.to_string(), "Incorrect username or password");
}

#[tokio::test]
async fn failed_sign_in_sets_no_session_cookie() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let res = app.login("alice", "wrong password here").await;
    assert!(set_cookie_headers(res.headers()).is_empty());
}

#[tokio::test]
async fn password_is_verified_exactly_as_typed() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    for variant in [
        " correct horse battery staple",
        "correct horse battery staple ",
        "Correct horse battery staple",
        "correct horse battery stapl",
    ] {
        assert_eq!(
            app.login("alice", variant).await.status(),
            StatusCode::UNAUTHORIZED,
            "{variant:?}"
        );
    }
}

#[tokio::test]
async fn unicode_passwords_match_across_normalisation_forms() {
    let app = spawn_app().await;
    let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";
    let res = app
        .register_with("unicode", "u@example.com", composed)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.login("unicode", decomposed).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn next_is_followed_only_when_it_is_a_local_path() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    for (next, expected) in [
        ("/account", "/account"),
        ("https://evil.example/phish", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ] {
        let res = app
            .call(
                "login",
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["location"].to_str().unwrap(),
            expected,
            "next={next:?}"
        );
    }
}

#[tokio::test]
async fn empty_fields_are_reported_per_field_without_checking_credentials() {
    let app = spawn_app().await;
    let before = app.hasher().verification_count();
    let res = app.login("", "").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = app_error(res).await;
    assert!(
        err.field("username").is_some() && err.field("password").is_some(),
        "{err:?}"
    );
    assert_eq!(app.hasher().verification_count(), before);
}

#[tokio::test]
async fn a_long_password_is_never_truncated_like_bcrypt_would() {
    let app = spawn_app().await;
    // 80 bytes: bcrypt only looks at the first 72, so a bcrypt system would accept the prefix.
    let password = format!("correct horse battery staple {}", "and more ".repeat(4));
    let password = format!("{password}{}", "z".repeat(80 - password.len()));
    assert_eq!(password.len(), 80);
    let res = app
        .register_with("longpw", "l@example.com", &password)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.login("longpw", &password[..72]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("longpw", &password).await.status(),
        StatusCode::OK
    );
}

/// PostgreSQL cannot store or even compare text with a NUL character; the store answers "no
/// such account" for it, as SQLite does, so both backends give the plain 401 and no 500.
#[tokio::test]
async fn a_nul_character_in_the_name_is_just_an_unknown_account() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN", "100/minute")]).await;
    app.register_ok("alice", "alice@example.com").await;
    for identifier in ["ali\0ce", "alice\0", "alice@example.com\0", "\0"] {
        let res = app.login(identifier, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{identifier:?}");
        let res = app.password_grant(identifier, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{identifier:?}");
    }
    let res = app.register("bob\0", "bob\0@example.com").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
