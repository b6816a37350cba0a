//! Secrets never reach the logs: a whole journey runs with every log line captured.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use reqwest::header::COOKIE;

use crate::helpers::*;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    /// The capture buffer of the test running on this thread, if it asked for one.
    static CAPTURE: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Writes a log line into the current thread's capture buffer (or nowhere).
struct ThreadCapture;

impl Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(buffer) = c.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One global subscriber for the whole test binary. A per-test `set_default` subscriber
/// misses events when another test thread registers the same callsites first (tracing's
/// interest cache); a global one cannot. Each test's server runs on the test's own thread
/// (current-thread runtime), so routing by thread separates the tests' logs.
pub(crate) fn capture_logs() -> Buffer {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,gatehouse=trace,tower_http=trace,sqlx=trace")
            .with_ansi(false)
            .with_writer(|| ThreadCapture)
            .try_init();
    });
    let buffer = Buffer::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(buffer.clone()));
    buffer
}

#[tokio::test]
async fn logs_never_contain_passwords_tokens_or_cookies() {
    let captured = capture_logs();

    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let wrong = "a wrong password that must not be logged";
    app.login("alice", wrong).await;
    let login = app.login("alice@example.com", PASSWORD).await;
    let second = session_token_from(&login, app.cookie_name).unwrap();
    app.client
        .get(app.url("/account"))
        .header(COOKIE, session_header(app.cookie_name, &second))
        .header("authorization", "Bearer some.jwt.value")
        .send()
        .await
        .unwrap();
    app.call("logout", &[], Some(&token)).await;

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    // The capture works: the events are there…
    for event in [
        "account.created",
        "login.failed",
        "login.succeeded",
        "logout",
    ] {
        assert!(logs.contains(event), "{event} not logged:\n{logs}");
    }
    // …and the secrets are not.
    for secret in [
        PASSWORD,
        wrong,
        token.as_str(),
        second.as_str(),
        "some.jwt.value",
    ] {
        assert!(!logs.contains(secret), "secret {secret:?} in logs:\n{logs}");
    }
}

#[tokio::test]
async fn panics_and_internal_errors_are_logged_with_the_request_id() {
    let captured = capture_logs();
    let app = spawn_app().await;

    let panicked = app.get("/test/panic").await;
    assert_eq!(
        panicked.status(),
        reqwest::StatusCode::INTERNAL_SERVER_ERROR
    );
    let panic_id = header(&panicked, "x-request-id").unwrap().to_string();
    // An internal error: the schema is broken under a sign-in.
    app.register_ok("alice", "alice@example.com").await;
    app.execute_sql("DROP TABLE sessions").await.unwrap();
    let failed = app.login("alice", PASSWORD).await;
    assert_eq!(failed.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let error_id = header(&failed, "x-request-id").unwrap().to_string();
    assert_ne!(panic_id, error_id);

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    // One error line each, naming the request's id and saying what went wrong (which the
    // client was not told).
    let line = |id: &str, what: &str| {
        logs.lines()
            .find(|line| line.contains("ERROR") && line.contains(id) && line.contains(what))
            .map(str::to_string)
    };
    assert!(
        line(&panic_id, "secret panic detail").is_some(),
        "no error line with {panic_id} and the panic:\n{logs}"
    );
    assert!(
        line(&error_id, "internal error").is_some(),
        "no error line with {error_id}:\n{logs}"
    );
}
