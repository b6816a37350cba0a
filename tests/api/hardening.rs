//! Findings of the security review (ASVS 5.0 L2), each with the test that would catch its
//! regression.

use gatehouse::model::AppError;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn signing_in_again_ends_the_session_the_browser_came_with() {
    let app = spawn_app().await;
    let old = app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bob", "bob@example.com").await;

    // The same browser signs in again (as someone else, here): its old session must end.
    let res = app
        .call(
            "login",
            &[("username", "bob"), ("password", PASSWORD)],
            Some(&old),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = session_token_from(&res, app.cookie_name).expect("a new session");
    assert_ne!(new, old);
    assert_eq!(app.current_username(&old).await, None);
    assert_eq!(app.current_username(&new).await.as_deref(), Some("bob"));

    // Registering from a signed-in browser too.
    let res = app
        .call(
            "register",
            &[
                ("email", "carol@example.com"),
                ("username", "carol"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
            Some(&new),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.current_username(&new).await, None);
}

#[tokio::test]
async fn malformed_server_function_bodies_are_client_errors_with_the_usual_shape() {
    let app = spawn_app().await;
    let cases: [(&str, Vec<u8>); 2] = [
        ("invalid UTF-8", b"username=\xff\xfe&password=x".to_vec()),
        ("not UTF-8 at all", b"\xc3\x28\xa0\xa1".to_vec()),
    ];
    for (what, body) in cases {
        let res = app
            .client
            .post(app.url("/rpc/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        // The shape every server function answers with: the closed error, encoded.
        assert_eq!(app_error(res).await, AppError::BadRequest, "{what}");
    }
}

#[tokio::test]
async fn bad_percent_encoding_is_read_literally_and_answered_normally() {
    // The form decoder keeps an invalid escape as the text it is, so this is an ordinary
    // (failed) sign-in, not a fault.
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/rpc/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=%zz&password=%")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app_error(res).await, AppError::InvalidCredentials);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_unread() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b'a'; 1024])).collect();
    let res = app
        .client
        .post(app.url("/rpc/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app_error(res).await, AppError::PayloadTooLarge);
}

/// 30 wrong passwords for one account, all at once: the per-account throttle lets exactly
/// its free attempts through (each is checked and counted in one step), on either limits
/// backend. Before, the burst all passed the check together and got 30 guesses.
#[tokio::test]
async fn a_parallel_burst_of_wrong_passwords_gets_only_the_free_attempts() {
    let (redis_url, prefix) = (redis_url(), unique_prefix());
    // The per-IP limit is not what this is about.
    let per_ip = ("RATE_LIMIT_LOGIN", "1000/minute");
    let backends = [
        ("local", vec![per_ip]),
        (
            "redis",
            vec![
                per_ip,
                ("REDIS_URL", &redis_url),
                ("REDIS_KEY_PREFIX", &prefix),
            ],
        ),
    ];
    for (backend, vars) in backends {
        let app = spawn_app_with(&vars).await;
        app.register_ok("alice", "alice@example.com").await;
        let guesses = (0..30).map(|i| {
            let app = &app;
            async move {
                app.password_grant("alice", &format!("wrong guess {i}"))
                    .await
                    .status()
            }
        });
        let statuses = futures::future::join_all(guesses).await;
        let wrong = statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((wrong, refused), (5, 25), "{backend}: {statuses:?}");
    }
}
