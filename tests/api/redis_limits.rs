//! Limits kept in Redis: two instances (one database, one Redis) enforce one allowance, and
//! an unreachable Redis degrades to per-instance limits instead of refusing sign-ins.
//!
//! Needs a real Redis: `TEST_REDIS_URL`, else `redis://127.0.0.1:6379`. Every test uses its
//! own key prefix, so tests running at once never share counters.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;
use crate::logs::capture_logs;

/// Two instances behind one load balancer: the same database, Redis and key prefix, and the
/// load balancer as their trusted proxy.
async fn two_instances() -> (TestApp, TestApp, TestDatabase) {
    let database = TestDatabase::new().await;
    let (redis, prefix) = (redis_url(), unique_prefix());
    let vars = [
        ("DATABASE_URL", database.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    for app in [&a, &b] {
        assert_eq!(
            app.limits().ping().await,
            Some(Ok(())),
            "these tests need Redis at {redis}"
        );
    }
    (a, b, database)
}

#[tokio::test]
async fn the_sign_in_limit_per_ip_holds_across_instances() {
    let (a, b, _database) = two_instances().await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .login_from("198.51.100.7", &format!("nobody{i}"), "wrong")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The sixth attempt is refused whichever instance it reaches.
    for app in [&a, &b] {
        let res = app.login_from("198.51.100.7", "nobody9", "wrong").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=12).contains(&retry), "{retry}");
    }
    let other = a.login_from("198.51.100.8", "nobody9", "wrong").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another client");
}

#[tokio::test]
async fn the_account_throttle_holds_across_instances() {
    let (a, b, _database) = two_instances().await;
    a.register_ok("alice", "alice@example.com").await;
    // A botnet: a new IP each time, alternating instances, so only the throttle can tell.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        let ip = format!("203.0.113.{}", i + 1);
        statuses.push(
            app.login_from(&ip, "alice", "wrong")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let res = a.login_from("192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the owner waits too"
    );
    // The throttle runs on each app's clock; the instances' clocks agree.
    a.clock.advance(1);
    b.clock.advance(1);
    let res = b.login_from("192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The success on B cleared the count for A as well.
    for i in 0..5 {
        let ip = format!("203.0.113.{}", i + 50);
        let res = a.login_from(&ip, "alice", "wrong").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
}

#[tokio::test]
async fn without_redis_the_limits_still_apply_per_instance_and_the_outage_is_logged_once() {
    let captured = capture_logs();
    // With a password, to check it is never logged; nothing listens there.
    let url = format!("redis://:hunter2@127.0.0.1:{}", unused_port());
    let app = spawn_app_with(&[("REDIS_URL", url.as_str())]).await;
    let started = Instant::now();
    for i in 0..5 {
        let res = app.login(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let refused = Instant::now();
    let res = app.login("nobody9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused.elapsed() < Duration::from_secs(1),
        "a refusal needs no argon2 and must not wait on Redis: {:?}",
        refused.elapsed()
    );
    // Five argon2 verifications on a shared test machine, and nothing else slow.
    assert!(started.elapsed() < Duration::from_secs(20));
    match app.limits().ping().await {
        Some(Err(reason)) => assert!(!reason.contains("hunter2"), "{reason}"),
        other => panic!("the readiness probe should see Redis down: {other:?}"),
    }

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logs.matches("redis.unavailable").count(),
        1,
        "one error per outage:\n{logs}"
    );
    assert!(logs.contains("redis://:***@127.0.0.1"), "{logs}");
    assert!(
        !logs.contains("hunter2"),
        "the Redis password was logged:\n{logs}"
    );
}

#[tokio::test]
async fn a_redis_that_hangs_does_not_stall_sign_ins() {
    // Accepts connections (the kernel completes the handshake) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let app = spawn_app_with(&[("REDIS_URL", url.as_str())]).await;
    for i in 0..5 {
        let started = Instant::now();
        let res = app.login(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(started.elapsed() < Duration::from_secs(10), "attempt {i}");
    }
    let started = Instant::now();
    let res = app.login("nobody9", "wrong password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // At most one Redis attempt (bounded at 500 ms) may fall inside this request.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn without_redis_configured_there_is_nothing_to_ping() {
    let app = spawn_app().await;
    assert_eq!(app.limits().ping().await, None);
}

#[tokio::test]
async fn without_redis_the_account_throttle_still_holds_per_instance() {
    let url = format!("redis://127.0.0.1:{}", unused_port());
    let app = spawn_app_with(&[
        ("REDIS_URL", url.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    app.register_ok("alice", "alice@example.com").await;
    // One account, a new address every time: only the throttle (here, its in-process
    // fallback) can slow this down.
    for i in 0..5 {
        let from = format!("203.0.113.{}", i + 1);
        let res = app.login_from(&from, "alice", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = app.login_from("203.0.113.99", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The fallback runs on the app's clock too: a delay, not a lock.
    app.clock.advance(1);
    let res = app.login_from("203.0.113.98", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        matches!(app.limits().ping().await, Some(Err(_))),
        "Redis really was down"
    );
}
