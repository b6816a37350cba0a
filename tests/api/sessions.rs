use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_full_journey_register_me_logout_login() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));

    let res = app.call("logout", &[], Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        set_cookie_headers(res.headers())
            .iter()
            .any(|c| c.starts_with(&format!("{DEV_COOKIE}=;")) && c.contains("Max-Age=0")),
        "logout removes the cookie: {:?}",
        set_cookie_headers(res.headers())
    );
    assert_eq!(app.current_username(&token).await, None);

    let res = app.login("alice", PASSWORD).await;
    let new_token = session_token_from(&res, app.cookie_name).expect("session cookie");
    assert_eq!(
        app.current_username(&new_token).await.as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn the_old_session_id_is_unusable_after_logout_even_if_replayed() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    app.call("logout", &[], Some(&token)).await;
    // A copy of the cookie kept by an attacker (or a stale tab) is dead server-side.
    assert_eq!(app.current_username(&token).await, None);
    assert!(app.stored_session(&token).await.is_none());
}

#[tokio::test]
async fn every_sign_in_gets_a_new_session_id() {
    let app = spawn_app().await;
    let first = app.register_ok("alice", "alice@example.com").await;
    let res = app
        .call(
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
            Some(&first),
        )
        .await;
    let second = session_token_from(&res, app.cookie_name).expect("session cookie");
    assert_ne!(
        first, second,
        "sign-in must not keep a session id the browser already had"
    );
}

#[tokio::test]
async fn only_the_hash_of_the_session_token_is_stored() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let user_id = app.stored_user("alice").await.unwrap().id;
    let stored = app.store().sessions_of(user_id).await.unwrap();
    assert_eq!(stored.len(), 1);
    // The key the row is stored under is the SHA-256 of the cookie's value, computed here
    // independently of the app: not the token, not its decoded bytes (as long as a hash).
    assert_eq!(stored[0].token_hash, sha256(token.as_bytes()));
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &token).unwrap();
    assert_ne!(stored[0].token_hash, decoded);
    // Nor is it anywhere else in the row.
    for column in [
        Some(&stored[0].id),
        stored[0].ip.as_ref(),
        stored[0].user_agent.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!column.contains(&token), "{column}");
    }
    // The cookie's value itself finds nothing.
    assert!(app
        .store()
        .session(token.as_bytes())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn development_cookie_is_http_only_lax_and_host_wide() {
    let app = spawn_app().await;
    let res = app.register("alice", "alice@example.com").await;
    let cookie = set_cookie(&res, DEV_COOKIE).expect("cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn production_cookie_is_host_prefixed_and_secure() {
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("SECRET_KEY", "an-integration-test-key-of-32-bytes!"),
        ("PUBLIC_URL", "https://auth.example.test"),
        // Production requires confirmed addresses by default; sign-up then sets no cookie.
        ("EMAIL_VERIFICATION", "optional"),
    ])
    .await;
    let res = app.register("alice", "alice@example.com").await;
    let cookie = set_cookie(&res, "__Host-gatehouse_session").expect("__Host- cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "300"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "3600"),
    ])
    .await;
    let token = app.register_ok("alice", "alice@example.com").await;
    app.clock.advance(299);
    // Activity within the idle window keeps it alive (and moves last-seen forward)…
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    app.clock.advance(299);
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    // …but five minutes of silence ends it.
    app.clock.advance(300);
    assert_eq!(app.current_username(&token).await, None);
}

#[tokio::test]
async fn an_active_session_still_ends_at_its_absolute_lifetime() {
    let app = spawn_app_with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "300"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "900"),
    ])
    .await;
    let token = app.register_ok("alice", "alice@example.com").await;
    for _ in 0..4 {
        app.clock.advance(200);
        assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    }
    app.clock.advance(100); // 900 s after sign-in
    assert_eq!(app.current_username(&token).await, None);
}

#[tokio::test]
async fn expired_sessions_are_purged() {
    let app = spawn_app_with(&[("SESSION_IDLE_TIMEOUT_SECS", "300")]).await;
    app.register_ok("alice", "alice@example.com").await;
    let live = app.register_ok("bob", "bob@example.com").await;
    app.clock.advance(301);
    // bob's session is used again just before the purge, alice's is not.
    app.store()
        .touch_session(
            &gatehouse::server::auth::SessionToken::parse(&live)
                .unwrap()
                .hash(),
            gatehouse::server::clock::Clock::now(&app.clock),
        )
        .await
        .unwrap();
    assert_eq!(app.purge_expired_sessions().await, 1);
    assert_eq!(app.current_username(&live).await.as_deref(), Some("bob"));
}

#[tokio::test]
async fn a_forged_or_malformed_cookie_is_just_signed_out() {
    let app = spawn_app().await;
    assert_eq!(app.current_username("not-a-token").await, None);
    assert_eq!(app.current_username(&"A".repeat(43)).await, None);
}
