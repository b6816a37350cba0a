//! Rate limits, trusted proxies, the per-account throttle, the hashing queue, the policy.

use gatehouse::model::AppError;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn sign_in_is_limited_to_five_a_minute_per_ip() {
    let app = spawn_app().await;
    for i in 0..5 {
        let res = app.login(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app.login("nobody9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(header(&res, "ratelimit-limit"), Some("5"));
    assert_eq!(header(&res, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&res, "ratelimit-policy"), Some("5;w=60"));
    let err = app_error(res).await;
    assert_eq!(
        err.to_string(),
        format!("Too many attempts. Try again in {retry} s.")
    );
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.login_from(
            &format!("203.0.113.{i}"),
            &format!("n{i}"),
            "wrong password",
        )
        .await;
    }
    let res = app.login_from("203.0.113.99", "n9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_real_client_has_its_own_limit() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    for i in 0..5 {
        // A client-written first entry changes nothing: the proxy's own entry is the last.
        let chain = format!("6.6.6.{i}, 198.51.100.1");
        assert_eq!(
            app.login_from(&chain, &format!("n{i}"), "wrong password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app
        .login_from("7.7.7.7, 198.51.100.1", "n9", "wrong password")
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = app.login_from("198.51.100.2", "n9", "wrong password").await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "another client is not limited"
    );
}

#[tokio::test]
async fn registration_is_limited_per_ip() {
    let app = spawn_app_with(&[("RATE_LIMIT_REGISTER", "2/hour")]).await;
    app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bobby", "bobby@example.com").await;
    let res = app.register("carol", "carol@example.com").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(app.stored_user("carol").await.is_none());
}

/// Attempts on one account from a new IP each time (a botnet), so only the account throttle
/// can slow them. Returns each attempt's status and body.
async fn spread_attack(
    app: &TestApp,
    username: &str,
    attempts: usize,
) -> Vec<(StatusCode, String)> {
    let mut out = Vec::new();
    for i in 0..attempts {
        let res = app
            .login_from(
                &format!("198.51.{}.{}", i / 200, i % 200 + 1),
                username,
                "wrong password",
            )
            .await;
        out.push((res.status(), res.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn failures_are_throttled_per_account_across_ips_without_a_permanent_lock() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register_ok("alice", "alice@example.com").await;
    let statuses: Vec<u16> = spread_attack(&app, "alice", 6)
        .await
        .iter()
        .map(|(s, _)| s.as_u16())
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Even the right password waits while the account is throttled…
    let res = app.login_from("192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // …but only for a moment: the throttle delays, it never locks.
    app.clock.advance(1);
    let res = app.login_from("192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_throttle_answers_the_same_for_an_account_that_does_not_exist() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register_ok("alice", "alice@example.com").await;
    let real = spread_attack(&app, "alice", 8).await;
    let ghost = spread_attack(&app, "ghost", 8).await;
    assert_eq!(real, ghost, "status and body at every step");
    assert!(real
        .iter()
        .any(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn when_the_hashing_queue_is_full_callers_get_503_with_retry_after() {
    let app = spawn_app_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "0"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let requests = (0..16).map(|i| {
        let app = &app;
        async move {
            app.login_from(
                &format!("198.51.100.{i}"),
                &format!("user{i}"),
                "wrong password",
            )
            .await
        }
    });
    let responses = futures::future::join_all(requests).await;
    let busy: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !busy.is_empty(),
        "16 simultaneous sign-ins on one slot with no queue: some are turned away"
    );
    for res in &busy {
        assert_eq!(header(res, "retry-after"), Some("1"));
    }
    assert!(
        responses
            .iter()
            .all(|r| matches!(r.status().as_u16(), 401 | 503)),
        "nothing else, never 500"
    );
}

// ---- password policy ----

async fn register_with(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.register_with(username, &format!("{username}@example.com"), password)
        .await
}

#[tokio::test]
async fn the_policy_accepts_passphrases_and_refuses_common_or_bad_lengths() {
    let app = spawn_app_with(&[("RATE_LIMIT_REGISTER", "100/hour")]).await;
    assert_eq!(
        register_with(&app, "user1", "correct horse battery staple")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        register_with(&app, "user2", &"ab".repeat(32))
            .await
            .status(),
        StatusCode::OK,
        "64 characters"
    );
    for (password, message) in [
        (
            "Password1",
            "This password is one of the most common. Choose something harder to guess.",
        ),
        ("k7#pq2z", "Use at least 8 characters."),
        (&"ab".repeat(65)[..129], "Use at most 128 characters."),
    ] {
        let err = app_error(register_with(&app, "user3", password).await).await;
        assert_eq!(
            err.field("password").as_deref(),
            Some(message),
            "{password}"
        );
    }
}

#[tokio::test]
async fn the_seed_preset_is_enforced_and_announced_to_the_browser() {
    let app = spawn_app_with(&[("PASSWORD_POLICY", "seed")]).await;
    let policy: serde_json::Value = app
        .call("password_policy", &[], None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policy, "Seed");
    let err = app_error(register_with(&app, "user1", "correct horse battery staple").await).await;
    assert_eq!(
        err.field("password").as_deref(),
        Some("Include an upper-case letter, a lower-case letter and a digit.")
    );
    assert_eq!(
        register_with(&app, "user2", "Correct horse battery 9")
            .await
            .status(),
        StatusCode::OK
    );
    let err = app_error(register_with(&app, "user3", "Password1").await).await;
    assert!(matches!(err, AppError::Validation(_)));
}
