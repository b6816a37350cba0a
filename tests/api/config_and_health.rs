use std::net::SocketAddr;

use gatehouse::server::startup::StartupError;
use gatehouse::server::{Application, Settings};
use leptos::config::LeptosOptions;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn liveness_and_readiness_answer() {
    let app = spawn_app().await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/missing"] {
        let res = app.get(path).await;
        let id = res
            .headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app().await;
    let huge = "a".repeat(64 * 1024);
    let res = app.register_with("abc", "a@example.com", &huge).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// SQLite only, whatever `GATEHOUSE_TEST_BACKEND` says: it is about the SQLite file.
#[tokio::test]
async fn the_sqlite_file_and_its_directory_are_created_on_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/dir/app.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let _app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    assert!(db.exists());
}

#[tokio::test]
async fn readiness_names_each_dependency_and_fails_without_redis() {
    let app = spawn_app().await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": "ok", "redis": "not_configured"})
    );

    // A configured Redis that does not answer makes the instance not ready…
    let url = format!("redis://127.0.0.1:{}", unused_port());
    let app = spawn_app_with(&[("REDIS_URL", &url)]).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["redis"], "unavailable");
    assert_eq!(body["database"], "ok");
    // …while it is still alive and serving (limits fall back to this instance's own).
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_not_a_500() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    // Closing the pool is what the app sees when the database is gone: every query fails
    // to get a connection.
    app.store().close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["database"],
        "unavailable"
    );

    let res = app.call("current_user", &[], Some(&token)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert!(matches!(
        app_error(res).await,
        gatehouse::model::AppError::Unavailable {
            retry_after_secs: 5
        }
    ));
    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Builds (and drops) an app listening on `addr` with these settings, on a fresh database.
async fn build_on(addr: &str, vars: &[(&str, &str)]) -> Result<SocketAddr, StartupError> {
    let database = TestDatabase::new().await;
    let mut vars: Vec<(&str, &str)> = vars.to_vec();
    vars.push(("DATABASE_URL", &database.url));
    let settings = Settings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("valid settings");
    let leptos_options = LeptosOptions::builder()
        .output_name("gatehouse")
        .site_root("target/site")
        .site_addr(addr.parse::<SocketAddr>().unwrap())
        .build();
    let app = Application::build(settings, leptos_options).await?;
    Ok(app.local_addr())
}

#[tokio::test]
async fn without_app_env_the_server_refuses_a_non_loopback_address() {
    // Development is only a default where nobody else can connect: a public bind must say
    // which environment it is (no Secure cookie, no HSTS and a throwaway key otherwise).
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let err = build_on(addr, &[]).await.unwrap_err();
        assert!(
            matches!(err, StartupError::ImplicitEnvironment { .. }),
            "{addr}: {err}"
        );
        assert!(err.to_string().contains("APP_ENV"), "{err}");
    }
}

#[tokio::test]
async fn an_explicit_app_env_or_a_loopback_address_starts() {
    let public = build_on("0.0.0.0:0", &[("APP_ENV", "development")])
        .await
        .expect("APP_ENV=development on 0.0.0.0 starts");
    assert!(public.ip().is_unspecified());
    for addr in ["127.0.0.1:0", "[::1]:0"] {
        let local = build_on(addr, &[]).await;
        // `::1` may be missing on a machine without IPv6; then the bind fails, not the check.
        if addr.starts_with('[') && matches!(local, Err(StartupError::Bind { .. })) {
            continue;
        }
        assert!(local.expect(addr).ip().is_loopback(), "{addr}");
    }
}
