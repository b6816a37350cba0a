//! The operators' metrics: served on `METRICS_ADDR` only, in the Prometheus text format, with
//! route templates and outcomes as labels and nothing personal.
//!
//! The recorder is process-wide and the tests run in parallel, so these assert what must be
//! there (and what must never be), not exact counts.

use reqwest::StatusCode;

use crate::helpers::*;

/// The sample lines of `metric` whose labels include every one of `labels`.
fn samples<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{metric}{{")) || line.starts_with(&format!("{metric} "))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect()
}

#[tokio::test]
async fn metrics_are_served_apart_with_route_templates_and_outcomes_and_nothing_personal() {
    let app = spawn_app_with(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    let session = app.register_ok("alice", "alice@example.com").await;
    assert_eq!(
        app.login("alice", "not the password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    // A path with an id in it: counted under its template, not its value.
    let revoke = app
        .client
        .delete(app.url("/api/v1/keys/987654"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NOT_FOUND);
    app.get_page("/account", Some(&session)).await;

    let res = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();

    for (metric, labels) in [
        (
            "gatehouse_http_requests_total",
            vec![
                r#"route="/rpc/login""#,
                r#"method="POST""#,
                r#"status="4xx""#,
            ],
        ),
        (
            "gatehouse_http_requests_total",
            vec![r#"route="/rpc/login""#, r#"status="2xx""#],
        ),
        (
            "gatehouse_http_requests_total",
            vec![r#"route="/api/v1/keys/{id}""#, r#"method="DELETE""#],
        ),
        ("gatehouse_http_requests_total", vec![r#"route="/account""#]),
        (
            "gatehouse_http_request_duration_seconds_bucket",
            vec![r#"route="/rpc/login""#, r#"le="0.5""#],
        ),
        (
            "gatehouse_sign_ins_total",
            vec![r#"outcome="wrong_credentials""#],
        ),
        ("gatehouse_sign_ins_total", vec![r#"outcome="success""#]),
        (
            "gatehouse_registrations_total",
            vec![r#"outcome="created""#],
        ),
        ("gatehouse_build_info", vec![r#"version=""#]),
        ("gatehouse_active_sessions", vec![]),
        ("gatehouse_db_connections", vec![r#"state="idle""#]),
    ] {
        assert!(
            !samples(&text, metric, &labels).is_empty(),
            "no {metric} {labels:?} in:\n{text}"
        );
    }
    // No label carries a name, an address, an IP, a token or an id from a path.
    for personal in [
        "alice",
        "example.com",
        "127.0.0.1",
        "987654",
        &jwt,
        &session,
    ] {
        assert!(!text.contains(personal), "{personal} in the metrics");
    }
    // Not on the public port.
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_metrics_addr_there_is_no_metrics_listener() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}
