//! Rate limits, trusted proxies and the client address, the per-account throttle, the hashing queue, the policy.

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

/// The address the app records for a session registered with these request headers (from
/// the session list, as its owner sees it on /account).
async fn address_seen(app: &TestApp, headers: &[(&str, &str)]) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (username, email) = (format!("seen{n}"), format!("seen{n}@example.com"));
    let mut req = app.client.post(app.url("/rpc/register")).form(&[
        ("email", email.as_str()),
        ("username", username.as_str()),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ]);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{headers:?}");
    let token = session_token_from(&res, app.cookie_name).unwrap();
    let list: serde_json::Value = app
        .call("sessions", &[], Some(&token))
        .await
        .json()
        .await
        .unwrap();
    list["sessions"][0]["ip"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_client_written_forwarded_header_is_ignored_by_default() {
    // The documented nginx overwrites X-Forwarded-For but passes `Forwarded` on as the client
    // wrote it; only the configured header (X-Forwarded-For by default) may count.
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let seen = address_seen(
        &app,
        &[
            ("forwarded", "for=203.0.113.66"),
            ("x-forwarded-for", "198.51.100.7"),
        ],
    )
    .await;
    assert_eq!(seen, "198.51.100.7");
    let seen = address_seen(&app, &[("forwarded", "for=203.0.113.66")]).await;
    assert_eq!(seen, "127.0.0.1", "no X-Forwarded-For: the proxy itself");

    // A forged Forwarded cannot dodge the sign-in limit either.
    for i in 0..5 {
        let res = app
            .client
            .post(app.url("/rpc/login"))
            .header("x-forwarded-for", "198.51.100.8")
            .header("forwarded", format!("for=203.0.113.{i}"))
            .form(&[("username", format!("n{i}")), ("password", "wrong".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app
        .client
        .post(app.url("/rpc/login"))
        .header("x-forwarded-for", "198.51.100.8")
        .header("forwarded", "for=203.0.113.99")
        .form(&[("username", "n9"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn configured_for_forwarded_only_forwarded_is_read() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("CLIENT_IP_HEADER", "forwarded"),
    ])
    .await;
    let seen = address_seen(
        &app,
        &[
            ("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#),
            ("x-forwarded-for", "203.0.113.66"),
        ],
    )
    .await;
    assert_eq!(seen, "2001:db8::7");
    let seen = address_seen(&app, &[("x-forwarded-for", "203.0.113.66")]).await;
    assert_eq!(seen, "127.0.0.1");
}

#[tokio::test]
async fn an_unreadable_hop_ends_the_walk_at_the_last_trusted_address() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]).await;
    // Whatever is left of the garbage is anyone's word: the trusted hop right of it is the
    // client, not the address the garbage would let through if it were skipped.
    let seen = address_seen(
        &app,
        &[("x-forwarded-for", "198.51.100.7, garbage, 10.0.0.2")],
    )
    .await;
    assert_eq!(seen, "10.0.0.2");
    let seen = address_seen(&app, &[("x-forwarded-for", "198.51.100.7, unknown")]).await;
    assert_eq!(seen, "127.0.0.1");
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64_and_mapped_ipv4_is_plain_ipv4() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    // Five addresses of one /64 (one host can use them all) share the sign-in allowance.
    for i in 1..=5 {
        let res = app
            .login_from(&format!("2001:db8:1:2::{i}"), &format!("n{i}"), "wrong")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app
        .login_from("2001:db8:1:2:ffff:ffff:ffff:fffe", "n6", "wrong")
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The next /64 is another client.
    let res = app.login_from("2001:db8:1:3::1", "n7", "wrong").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // `::ffff:a.b.c.d` is a.b.c.d: one bucket, and recorded as plain IPv4.
    for i in 0..5 {
        let res = app
            .login_from("::ffff:198.51.100.20", &format!("m{i}"), "wrong")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app.login_from("198.51.100.20", "m9", "wrong").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let seen = address_seen(&app, &[("x-forwarded-for", "::ffff:198.51.100.21")]).await;
    assert_eq!(seen, "198.51.100.21");
}

#[tokio::test]
async fn the_global_limit_groups_ipv6_clients_by_64_too() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_GLOBAL", "3/minute"),
    ])
    .await;
    let get = |from: &'static str| {
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .header("x-forwarded-for", from)
            .send()
    };
    for from in ["2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6::3"] {
        assert_eq!(get(from).await.unwrap().status(), StatusCode::OK, "{from}");
    }
    let res = get("2001:db8:5:6:1:2:3:4").await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        get("2001:db8:5:7::1").await.unwrap().status(),
        StatusCode::OK
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

#[tokio::test]
async fn the_global_limit_covers_pages_and_the_api_but_never_assets_or_health_checks() {
    let app = spawn_app_with(&[("RATE_LIMIT_GLOBAL", "3/minute")]).await;
    for path in ["/login", "/api/v1/openapi.json", "/"] {
        let res = app.get(path).await;
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    for path in ["/login", "/api/v1/openapi.json", "/no-such-page"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(res.headers().contains_key("retry-after"), "{path}");
    }
    // Well past the ceiling, the exempt paths still answer: a load balancer's probes and the
    // page's own assets must never be what the ceiling refuses.
    for _ in 0..5 {
        for (path, status) in [
            ("/healthz", StatusCode::OK),
            ("/readyz", StatusCode::OK),
            ("/pkg/gatehouse.js", StatusCode::OK),
            ("/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css", StatusCode::OK),
            ("/robots.txt", StatusCode::NOT_FOUND),
            ("/favicon.ico", StatusCode::OK),
        ] {
            assert_eq!(app.get(path).await.status(), status, "{path}");
        }
    }
    // A minute later the allowance is back (the limiter runs on the app's clock).
    app.clock.advance(60);
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_client_address_requests_share_one_allowance_instead_of_none() {
    use tower::ServiceExt;
    let app = spawn_app_with(&[("RATE_LIMIT_GLOBAL", "2/minute")]).await;
    // The router as a forker might embed it: served without `ConnectInfo`, so no request has
    // a client address.
    let router = gatehouse::server::startup::router(app.state.clone(), None);
    let request = || {
        axum::http::Request::get("/api/v1/openapi.json")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = router.clone().oneshot(request()).await.unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    // Clients with an address are not in that bucket.
    assert_eq!(
        app.get("/api/v1/openapi.json").await.status(),
        StatusCode::OK
    );
}

/// The password grant from `forwarded_for` (the app must trust 127.0.0.1).
async fn password_grant_from(
    app: &TestApp,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/token"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_token_endpoint_and_the_sign_in_form_draw_on_one_allowance_per_ip() {
    let app = spawn_app().await;
    // Three form sign-ins and two token requests: five in all, the login rule's burst.
    for i in 0..3 {
        let res = app.login(&format!("n{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    for i in 3..5 {
        let res = app.password_grant(&format!("n{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    // A limiter of its own with the same quota would still let both of these through.
    let res = app.password_grant("n9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = app.login("n9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_account_throttle_holds_the_password_grant_and_the_form_alike() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register_ok("alice", "alice@example.com").await;
    // A botnet: every failure from a new address, half through each door.
    for i in 0..5 {
        let from = format!("198.51.100.{}", i + 1);
        let status = if i % 2 == 0 {
            password_grant_from(&app, &from, "alice", "wrong password")
                .await
                .status()
        } else {
            app.login_from(&from, "alice", "wrong password")
                .await
                .status()
        };
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
    }
    // The sixth waits, through either door, even with the right password.
    let res = password_grant_from(&app, "198.51.100.50", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let res = app.login_from("198.51.100.51", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // A delay, not a lock.
    app.clock.advance(1);
    let res = password_grant_from(&app, "198.51.100.52", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}
