use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn liveness_and_readiness_answer() {
    let app = spawn_app().await;
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
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
        let res = app.client.get(app.url(path)).send().await.unwrap();
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
    let res = app
        .call(
            "register",
            &[
                ("email", "a@example.com"),
                ("username", "abc"),
                ("password", &huge),
                ("password_confirm", &huge),
            ],
            None,
        )
        .await;
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
