//! `gatehouse import-users`: seed-app users move over with their bcrypt hashes, which become
//! argon2id at their next sign-in.

use reqwest::StatusCode;

use crate::helpers::*;

/// Runs `gatehouse import-users FILE` against the database at `db_url`.
fn run_import(db_url: &str, file: &std::path::Path) -> std::process::Output {
    run_gatehouse(
        &["import-users", file.to_str().unwrap()],
        &[("DATABASE_URL", db_url)],
    )
}

#[tokio::test]
async fn imported_bcrypt_users_sign_in_and_are_upgraded_to_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    // The database under test; the binary creates its tables on first use.
    let database = TestDatabase::new().await;
    let db_url = database.url.clone();
    let seed_hash = bcrypt::hash("seed app password", 4).unwrap();
    let csv = format!(
        "username,email,hash\n\
         seeduser,Seed.User@Example.com,{seed_hash}\n\
         plain,plain@example.com,hunter2\n\
         bad name,bad@example.com,{seed_hash}\n\
         seeduser,other@example.com,{seed_hash}\n"
    );
    let file = dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();

    let out = run_import(&db_url, &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("imported 1 user(s), skipped 3"), "{stdout}");
    assert!(
        stdout.contains("line 3: hash: not an argon2 or bcrypt hash"),
        "{stdout}"
    );
    assert!(stdout.contains("line 4: username"), "{stdout}");
    assert!(
        stdout.contains("line 5: username or email already exists"),
        "{stdout}"
    );
    assert!(
        !out.status.success(),
        "skipped rows make the exit status say so"
    );

    let app = spawn_app_with(&[("DATABASE_URL", &db_url)]).await;
    let before = app.stored_user("seeduser").await.unwrap();
    assert!(before.password_hash.starts_with("$2b$"));
    assert_eq!(
        app.login("seed.user@example.com", "seed app password")
            .await
            .status(),
        StatusCode::OK
    );
    let after = app.stored_user("seeduser").await.unwrap();
    assert!(
        after
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        after.password_hash
    );
    assert_eq!(
        app.login("seeduser", "seed app password").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("seeduser", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn json_lines_are_accepted_too() {
    let dir = tempfile::tempdir().unwrap();
    // The database under test; the binary creates its tables on first use.
    let database = TestDatabase::new().await;
    let db_url = database.url.clone();
    let hash = bcrypt::hash("another seed password", 4).unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(
        &file,
        format!("{{\"username\":\"jsonuser\",\"email\":\"j@example.com\",\"hash\":\"{hash}\"}}\n"),
    )
    .unwrap();
    let out = run_import(&db_url, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let app = spawn_app_with(&[("DATABASE_URL", &db_url)]).await;
    assert_eq!(
        app.login("jsonuser", "another seed password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn costlier_bcrypt_hashes_are_imported_with_a_note_about_the_failure_floor() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new().await;
    // Only the prefix matters to the note; the rest has a bcrypt hash's shape.
    let tail = "abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234";
    let csv = format!(
        "username,email,hash\n\
         cost12,c12@example.com,$2b$12${tail}\n\
         cost13,c13@example.com,$2b$13${tail}\n\
         cost14,c14@example.com,$2y$14${tail}\n"
    );
    let file = dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let out = run_import(&database.url, &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("imported 3 user(s), skipped 0"), "{stdout}");
    assert!(
        stdout.contains("note: 2 bcrypt hash(es) cost more than 12 (up to 14)")
            && stdout.contains("SIGN_IN_FAILURE_FLOOR_MS"),
        "{stdout}"
    );
}
