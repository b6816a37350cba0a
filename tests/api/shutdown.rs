//! Graceful shutdown: stop accepting, finish what is in flight, within a bounded time.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let app = spawn_app().await;
    let in_flight = tokio::spawn(app.client.get(app.url("/test/wait")).send());
    within(
        "the request reaches the handler",
        app.gate.entered.notified(),
    )
    .await;

    let server = app.stop();
    // New connections are no longer accepted (a fresh client: no pooled connection).
    let fresh = reqwest::Client::new();
    let refused = within("new connections are refused", async {
        loop {
            match fresh.get(app.url("/healthz")).send().await {
                Err(error) => break error,
                // The listener may still be draining its backlog for a moment.
                Ok(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    assert!(refused.is_connect(), "{refused}");
    assert!(!server.is_finished(), "a request is still in flight");

    // The request in flight completes normally, and then the server stops.
    app.gate.release.notify_one();
    let res = within("the request in flight completes", in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "released");
    within("the server stops", server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_request_that_never_finishes_cannot_hold_shutdown_past_the_grace_period() {
    let app = spawn_app_with(&[
        ("SHUTDOWN_TIMEOUT_SECS", "1"),
        ("REQUEST_TIMEOUT_SECS", "3600"),
    ])
    .await;
    let stuck = tokio::spawn(app.client.get(app.url("/test/hang")).send());
    // Make sure the request has reached the server before stopping it.
    let in_flight = tokio::spawn(app.client.get(app.url("/test/wait")).send());
    within(
        "the request reaches the handler",
        app.gate.entered.notified(),
    )
    .await;
    let server = app.stop();
    // Ends by itself after the grace period (1 s), although two requests never completed.
    within("shutdown despite a stuck request", server)
        .await
        .unwrap()
        .unwrap();
    in_flight.abort();
    stuck.abort();
}
