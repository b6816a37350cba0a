//! `/account`'s rules: password change, the session list, remember-me, the security
//! activity log and its hash chain, account deletion, Clear-Site-Data.

use gatehouse::model::activity::{ActivityKind, ActivityView, SessionList, SessionView};
use gatehouse::model::AppError;
use reqwest::StatusCode;

use crate::helpers::*;

const NEW_PASSWORD: &str = "a completely new passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

impl TestApp {
    async fn change_password(&self, token: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.call("change_password", form, Some(token)).await
    }

    async fn sessions(&self, token: &str) -> Vec<SessionView> {
        let res = self.call("sessions", &[], Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<SessionList>().await.unwrap().sessions
    }

    async fn activity(&self, token: &str) -> Vec<ActivityView> {
        let res = self.call("activity", &[], Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn activity_kinds(&self, token: &str) -> Vec<ActivityKind> {
        self.activity(token).await.iter().map(|e| e.kind).collect()
    }
}

fn change_form<'a>(current: &'a str, new: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("current_password", current),
        ("new_password", new),
        ("new_password_confirm", new),
    ]
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_tokens_and_renews_this_one() {
    let app = spawn_app().await;
    let first = app.register_ok("alice", "alice@example.com").await;
    let second = app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    assert_eq!(app.me(&jwt).await.status(), StatusCode::OK);

    let res = app
        .change_password(&first, &change_form(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = session_token_from(&res, app.cookie_name).expect("a new session cookie");
    assert_ne!(renewed, first, "the session id must change");

    // The other client's next request is signed out; so is the old cookie of this one.
    let res = app.call("sessions", &[], Some(&second)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app_error(res).await, AppError::Unauthenticated);
    assert_eq!(app.current_username(&first).await, None);
    assert_eq!(
        app.current_username(&renewed).await.as_deref(),
        Some("alice")
    );
    // Access tokens issued before the change are refused.
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    // Only the new password signs in.
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// API keys have their own revoke: a password change, "Sign out everywhere" and a password
/// reset end sessions and access tokens, never keys (README, "API keys").
#[tokio::test]
async fn api_keys_survive_a_password_change_signing_out_everywhere_and_a_reset() {
    const PUBLIC_URL: &str = "https://gatehouse.keys-test.example";
    let app = spawn_app_with(&[("PUBLIC_URL", PUBLIC_URL)]).await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let key = app
        .create_key_secret(&app.access_token("alice").await, "deploy")
        .await;
    let key_works = async || app.me(&key).await.status() == StatusCode::OK;
    assert!(key_works().await);

    // A password change: the access tokens die (so it happened), the key does not.
    let jwt = app.access_token("alice").await;
    let res = app
        .change_password(&session, &change_form(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let session = session_token_from(&res, app.cookie_name).expect("a renewed session");
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    assert!(key_works().await, "after a password change");

    // Signing out everywhere.
    let jwt = app
        .password_grant("alice", NEW_PASSWORD)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app.call("logout_everywhere", &[], Some(&session)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.current_username(&session).await, None);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    assert!(key_works().await, "after signing out everywhere");

    // A password reset through the mailed link.
    let res = app
        .call(
            "request_password_reset",
            &[("email", "alice@example.com")],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Alice's earlier mail (the address confirmation, the change notice) comes first.
    let reset_link = format!("{PUBLIC_URL}/reset-password?");
    let mut seen = Vec::new();
    let (text, start) = loop {
        let text = app.mailbox.next_for("alice@example.com").await.text();
        if let Some(start) = text.find(&reset_link) {
            break (text, start);
        }
        seen.push(text);
        assert!(seen.len() < 5, "no reset link in: {seen:?}");
    };
    let link = text[start + PUBLIC_URL.len()..]
        .split_whitespace()
        .next()
        .unwrap();
    let opened = app.get_page(link, None).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let link_cookie = set_cookie(&opened, "gatehouse_reset_link").expect("the link's cookie");
    let link_cookie = link_cookie.split(';').next().unwrap().to_string();
    let reset_to = "the passphrase after the reset";
    let res = app
        .rpc(
            "reset_password",
            &[
                ("new_password", reset_to),
                ("new_password_confirm", reset_to),
            ],
            None,
        )
        .header(reqwest::header::COOKIE, link_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.login("alice", reset_to).await.status(), StatusCode::OK);
    assert!(key_works().await, "after a password reset");
}

#[tokio::test]
async fn other_sessions_may_be_kept_but_tokens_still_end() {
    let app = spawn_app().await;
    let first = app.register_ok("alice", "alice@example.com").await;
    let second = app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    let mut form = change_form(PASSWORD, NEW_PASSWORD);
    form.push(("keep_other_sessions", "on"));
    let res = app.change_password(&first, &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.current_username(&second).await.as_deref(),
        Some("alice")
    );
    assert_eq!(app.current_username(&first).await, None);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_current_password_is_a_field_error_and_counts_towards_the_throttle() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    for _ in 0..5 {
        let res = app
            .change_password(&token, &change_form("not my password", NEW_PASSWORD))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            app_error(res).await.field("current_password").as_deref(),
            Some("That is not your current password.")
        );
    }
    // Guessing through this form is as slow as guessing at the sign-in form.
    let res = app
        .change_password(&token, &change_form(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Nothing changed, and the session is still there.
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    app.clock.advance(60);
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(60);
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
    // Six failures (five through the form, one at sign-in) with a lock-out among them: one
    // row on the page, above the sign-in that followed.
    let activity = app.activity(&token).await;
    assert_eq!(activity[0].kind, ActivityKind::SignedIn);
    let run = activity[1].repeated.as_ref().expect("the failures, folded");
    assert_eq!((run.failures, run.throttled), (6, true));
}

#[tokio::test]
async fn the_new_password_follows_the_shared_policy() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let cases = [
        (change_form(PASSWORD, "short"), "Use at least 8 characters."),
        (
            change_form(PASSWORD, PASSWORD),
            "Choose a password different from your current one.",
        ),
        (
            change_form(PASSWORD, "password123"),
            "This password is one of the most common. Choose something harder to guess.",
        ),
        (
            change_form(PASSWORD, "alice in wonderland"),
            "Your password must not contain your username or email name.",
        ),
    ];
    for (form, expected) in cases {
        let res = app.change_password(&token, &form).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            app_error(res).await.field("new_password").as_deref(),
            Some(expected),
            "{form:?}"
        );
    }
    let res = app
        .change_password(
            &token,
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", "something else"),
            ],
        )
        .await;
    assert_eq!(
        app_error(res)
            .await
            .field("new_password_confirm")
            .as_deref(),
        Some("The passwords do not match.")
    );
}

#[tokio::test]
async fn changing_the_password_works_without_javascript() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app
        .post_plain_form(
            "change_password",
            &change_form(PASSWORD, NEW_PASSWORD),
            "/account",
            Some(&token),
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        res.headers()["location"],
        "/account?notice=password-changed"
    );
    let renewed = session_token_from(&res, app.cookie_name).expect("a new session cookie");
    let page = app
        .get_page("/account?notice=password-changed", Some(&renewed))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Your password has been changed."));
}

#[tokio::test]
async fn the_session_list_shows_each_device_and_marks_this_one() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let login = [("username", "alice"), ("password", PASSWORD)];
    let res = app.call_from(FIREFOX, "login", &login, None).await;
    let laptop = session_token_from(&res, app.cookie_name).unwrap();
    let res = app.call_from(IPHONE, "login", &login, None).await;
    let phone = session_token_from(&res, app.cookie_name).unwrap();
    app.clock.advance(120);
    app.current_username(&phone).await;
    app.clock.advance(61);

    // Listing uses (and so touches) this session: most recently used first.
    let list = app.sessions(&laptop).await;
    assert_eq!(list.len(), 3, "registration, laptop, phone: {list:?}");
    assert!(list[0].current, "{list:?}");
    assert_eq!(list[0].device, "Firefox on Linux");
    assert_eq!(list[1].device, "Safari on iPhone");
    assert_eq!(list[1].last_seen_at, START_TIME + 120);
    assert_eq!(list[2].last_seen_at, START_TIME);
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    assert!(list.iter().all(|s| s.ip.is_some() && s.id.len() == 32));
    // The token (or its hash) never appears in the list.
    let body = serde_json::to_string(&list).unwrap();
    assert!(!body.contains(&laptop) && !body.contains(&phone));
}

#[tokio::test]
async fn one_session_can_be_revoked_and_only_by_its_owner() {
    let app = spawn_app().await;
    let laptop = app.register_ok("alice", "alice@example.com").await;
    let phone = app.login_ok("alice").await;
    let mallory = app.register_ok("mallory", "mallory@example.com").await;
    let phone_id = app
        .sessions(&laptop)
        .await
        .into_iter()
        .find(|s| !s.current)
        .unwrap()
        .id;

    // Someone else's session id is "not found", exactly like a made-up one.
    let res = app
        .call("revoke_session", &[("id", &phone_id)], Some(&mallory))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.current_username(&phone).await.as_deref(), Some("alice"));

    let res = app
        .call("revoke_session", &[("id", &phone_id)], Some(&laptop))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.current_username(&phone).await, None);
    assert_eq!(
        app.current_username(&laptop).await.as_deref(),
        Some("alice")
    );
    assert_eq!(app.sessions(&laptop).await.len(), 1);
    let res = app
        .call("revoke_session", &[("id", &phone_id)], Some(&laptop))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_this_session() {
    let app = spawn_app().await;
    let here = app.register_ok("alice", "alice@example.com").await;
    let others = [app.login_ok("alice").await, app.login_ok("alice").await];
    let bob = app.register_ok("bob", "bob@example.com").await;
    let res = app.call("revoke_other_sessions", &[], Some(&here)).await;
    assert_eq!(res.status(), StatusCode::OK);
    for other in &others {
        assert_eq!(app.current_username(other).await, None);
    }
    assert_eq!(app.current_username(&here).await.as_deref(), Some("alice"));
    assert_eq!(app.current_username(&bob).await.as_deref(), Some("bob"));
    let list = app.sessions(&here).await;
    assert_eq!(list.len(), 1);
    assert!(list[0].current);
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let last_seen = || async { app.stored_session(&token).await.unwrap().last_seen_at };
    assert_eq!(last_seen().await, START_TIME);
    app.clock.advance(59);
    app.current_username(&token).await;
    assert_eq!(last_seen().await, START_TIME, "no write within the minute");
    app.clock.advance(1);
    app.current_username(&token).await;
    assert_eq!(last_seen().await, START_TIME + 60);
}

#[tokio::test]
async fn remember_me_outlives_the_idle_timeout_but_not_the_absolute_lifetime() {
    let app = spawn_app_with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "300"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "3600"),
    ])
    .await;
    app.register_ok("alice", "alice@example.com").await;
    let res = app
        .call(
            "login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("remember", "on"),
            ],
            None,
        )
        .await;
    let cookie = set_cookie(&res, DEV_COOKIE).unwrap();
    assert!(
        cookie.contains("Max-Age=3600"),
        "a persistent cookie: {cookie}"
    );
    let remembered = session_token_from(&res, app.cookie_name).unwrap();
    let plain = app.login_ok("alice").await;
    let plain_cookie_is_a_browser_session_cookie = {
        let res = app.login("alice", PASSWORD).await;
        set_cookie_headers(res.headers())
            .iter()
            .all(|c| !c.contains("Max-Age"))
    };
    assert!(plain_cookie_is_a_browser_session_cookie);

    app.clock.advance(1800);
    assert_eq!(app.purge_expired_sessions().await, 3, "the idle ones");
    assert_eq!(app.current_username(&plain).await, None);
    assert_eq!(
        app.current_username(&remembered).await.as_deref(),
        Some("alice")
    );
    assert!(app.sessions(&remembered).await[0].remember);
    app.clock.advance(1800);
    assert_eq!(
        app.current_username(&remembered).await,
        None,
        "3600 s after sign-in"
    );
}

#[tokio::test]
async fn security_events_are_recorded_for_their_owner_newest_first() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let bob = app.register_ok("bob", "bob@example.com").await;
    assert_eq!(
        app.login("alice", "wrong password!").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .call_from(
            FIREFOX,
            "login",
            &[("username", "alice"), ("password", PASSWORD)],
            None,
        )
        .await;
    let laptop = session_token_from(&res, app.cookie_name).unwrap();
    let res = app
        .call(
            "create_api_key",
            &[
                ("name", "deploy"),
                ("expires_in_days", "30"),
                ("password", PASSWORD),
            ],
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.access_token("alice").await;
    let laptop_id = app
        .sessions(&token)
        .await
        .into_iter()
        .find(|s| s.device == "Firefox on Linux")
        .unwrap()
        .id;
    app.call("revoke_session", &[("id", &laptop_id)], Some(&token))
        .await;
    app.call("revoke_other_sessions", &[], Some(&token)).await;
    app.call("logout", &[], Some(&laptop)).await; // already revoked: nothing to record

    use ActivityKind::*;
    assert_eq!(
        app.activity_kinds(&token).await,
        [
            OtherSessionsRevoked,
            SessionRevoked,
            TokenIssued,
            ApiKeyCreated,
            SignedIn,
            SignInFailed,
            AccountCreated
        ]
    );
    let events = app.activity(&token).await;
    let signed_in = events.iter().find(|e| e.kind == SignedIn).unwrap();
    assert_eq!(signed_in.device.as_deref(), Some("Firefox on Linux"));
    assert!(signed_in.ip.is_some());
    let created = events.iter().find(|e| e.kind == ApiKeyCreated).unwrap();
    assert!(created.detail.as_deref().unwrap().contains("deploy"));
    // Bob sees only his own.
    assert_eq!(app.activity_kinds(&bob).await, [AccountCreated]);

    app.call("logout", &[], Some(&token)).await;
    let token = app.login_ok("alice").await;
    assert_eq!(app.activity_kinds(&token).await[..2], [SignedIn, SignedOut]);
}

#[tokio::test]
async fn the_account_page_lists_at_most_50_events() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    for _ in 0..55 {
        app.call("revoke_other_sessions", &[], Some(&token)).await;
    }
    assert_eq!(app.activity(&token).await.len(), 50);
}

#[tokio::test]
async fn the_activity_log_is_a_verifiable_chain_that_detects_tampering() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bob", "bob@example.com").await;
    app.call("revoke_other_sessions", &[], Some(&token)).await;
    app.call("logout", &[], Some(&token)).await;

    let store = app.store().clone();
    let report = gatehouse::server::audit::verify(store.as_ref())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.events, report.chains), (4, 2));
    let out = run_audit_verify(&app.database_url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 4 event(s) in 2 chain(s)"));

    // Rows cannot be edited through SQL (on either backend)…
    let edit = app
        .execute_sql("UPDATE audit_events SET ip = '203.0.113.9' WHERE seq = 2")
        .await;
    assert!(edit.unwrap_err().to_string().contains("append-only"));
    // …and one removed from the middle of a chain is detected.
    let removed = app
        .execute_sql("DELETE FROM audit_events WHERE seq = 2 AND user_id = (SELECT MIN(user_id) FROM audit_events)")
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let out = run_audit_verify(&app.database_url);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("TAMPERED") && stdout.contains("row 3 follows row 1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_edited_row_is_detected_even_with_the_trigger_dropped() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    app.call("logout", &[], Some(&token)).await;
    // PostgreSQL names the table a trigger belongs to; SQLite refuses the `ON` clause.
    let drop_trigger = match test_backend() {
        TestBackend::Sqlite => "DROP TRIGGER audit_events_no_update",
        TestBackend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events",
    };
    app.execute_sql(drop_trigger).await.unwrap();
    let edited = app
        .execute_sql("UPDATE audit_events SET ip = '203.0.113.9' WHERE seq = 1")
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let out = run_audit_verify(&app.database_url);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("row 1 does not match its hash"));
}

/// Appends racing for one chain (requests of one user served at once, or several instances)
/// each get their own `seq`, and the chain stays whole: on SQLite the write lock serialises
/// them, on PostgreSQL a per-user advisory lock does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_one_chain_all_land_in_order() {
    let app = spawn_app().await;
    let store = app.store().clone();
    let appends = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let event = gatehouse::server::db::NewAuditEvent {
                user_id: 4242,
                created_at: START_TIME + i,
                kind: "session.revoked".into(),
                ip: Some("192.0.2.1".into()),
                device: None,
                request_id: Some(format!("req-{i}")),
                detail: None,
            };
            store.append_audit_event(&event).await
        })
    });
    let results = futures::future::join_all(appends).await;
    let mut seqs: Vec<i64> = results
        .into_iter()
        .map(|joined| joined.unwrap().expect("every append succeeds").seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

    let report = gatehouse::server::audit::verify(store.as_ref())
        .await
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.events, report.chains), (20, 1));
    let stored: Vec<i64> = store
        .audit_events_of(4242, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(stored, (1..=20).rev().collect::<Vec<_>>());
}

/// The activity read gives back each event exactly as it was appended, hashes included,
/// newest first, `limit` at a time before `before_seq`, and only the one account's: text that
/// JSON must escape (quotes, backslashes, control characters, non-ASCII) and absent fields
/// included. The SQLite store reads the events as one JSON array that SQLite builds
/// (`db::sqlite`), PostgreSQL's as rows; this holds both to the same answer.
#[tokio::test]
async fn a_users_events_read_back_as_they_were_appended() {
    use gatehouse::server::db::NewAuditEvent;
    let app = spawn_app().await;
    let store = app.store().clone();
    let texts = [
        r#"a "quote" and a \ backslash"#,
        "a line\nbreak, a\ttab and \u{1}",
        "é, 漢字 and 🔐",
        r#"["]}"#,
        "",
    ];
    let mut appended = Vec::new();
    for (i, text) in (0..).zip(texts) {
        let event = NewAuditEvent {
            user_id: 4343,
            created_at: START_TIME + i,
            kind: "session.revoked".into(),
            ip: (i % 2 == 0).then(|| "2001:db8::1".to_string()),
            device: Some(text.to_string()),
            request_id: (i % 2 == 1).then(|| format!("req-{i}")),
            detail: Some(format!("{text} (detail)")),
        };
        appended.push(store.append_audit_event(&event).await.unwrap());
    }
    let other_account = NewAuditEvent {
        user_id: 4344,
        created_at: START_TIME,
        kind: "session.revoked".into(),
        ip: None,
        device: None,
        request_id: None,
        detail: None,
    };
    store.append_audit_event(&other_account).await.unwrap();

    let newest_first: Vec<_> = appended.into_iter().rev().collect();
    let read = |before, limit| store.audit_events_of(4343, before, limit);
    assert_eq!(read(None, 100).await.unwrap(), newest_first);
    assert_eq!(read(None, 2).await.unwrap(), newest_first[..2]);
    assert_eq!(
        read(Some(newest_first[1].seq), 2).await.unwrap(),
        newest_first[2..4]
    );
    assert_eq!(read(Some(1), 10).await.unwrap(), []);
    assert_eq!(store.audit_events_of(9999, None, 10).await.unwrap(), []);
}

/// `gatehouse audit verify` reads the log a page (1,000 rows) at a time: chains that cross a
/// page boundary still verify, every row is read once, and an edit past the first page is
/// found.
#[tokio::test]
async fn verification_reads_past_the_first_thousand_rows() {
    // (user, rows): 1,300 rows, the first page ending inside user 4's chain, at its row 250.
    const CHAINS: [(i64, i64); 5] = [(1, 300), (2, 250), (3, 200), (4, 350), (5, 200)];
    let total: i64 = CHAINS.iter().map(|(_, rows)| rows).sum();
    let app = spawn_app().await;
    let store = app.store().clone();
    // The chains are appended side by side (PostgreSQL locks per chain, so this is faster).
    let appends = CHAINS.map(|(user_id, rows)| {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..rows {
                let event = gatehouse::server::db::NewAuditEvent {
                    user_id,
                    created_at: START_TIME + i,
                    kind: "session.revoked".into(),
                    ip: Some("192.0.2.1".into()),
                    device: None,
                    request_id: Some(format!("req-{i}")),
                    detail: None,
                };
                store.append_audit_event(&event).await.expect("append");
            }
        })
    });
    for joined in within("appending the events", futures::future::join_all(appends)).await {
        joined.unwrap();
    }

    let verify = || {
        within(
            "verifying",
            gatehouse::server::audit::verify(store.as_ref()),
        )
    };
    let report = verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(
        (report.events, report.chains),
        (total as u64, CHAINS.len() as u64)
    );

    let drop_trigger = match test_backend() {
        TestBackend::Sqlite => "DROP TRIGGER audit_events_no_update",
        TestBackend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events",
    };
    app.execute_sql(drop_trigger).await.unwrap();
    // Row 1,050 of the log: on the second page.
    let edited = app
        .execute_sql("UPDATE audit_events SET ip = '203.0.113.9' WHERE user_id = 4 AND seq = 300")
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let report = verify().await.unwrap();
    assert_eq!(report.events, total as u64);
    assert_eq!(
        report.problems,
        ["user 4: row 300 does not match its hash (a field was altered)"]
    );
}

fn run_audit_verify(db_url: &str) -> std::process::Output {
    run_gatehouse(&["audit", "verify"], &[("DATABASE_URL", db_url)])
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_the_username() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app
        .call(
            "delete_account",
            &[
                ("password", "wrong password!"),
                ("confirm_username", "alice"),
            ],
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app_error(res).await.field("password").as_deref(),
        Some("That is not your current password.")
    );
    let res = app
        .call(
            "delete_account",
            &[("password", PASSWORD), ("confirm_username", "bob")],
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    let res = app
        .call(
            "delete_account",
            &[("password", PASSWORD), ("confirm_username", "alice")],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_the_account_erases_it_everywhere_and_keeps_a_minimal_record() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let other = app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    let key = app.create_key_secret(&jwt, "deploy").await;
    let user_id = app.stored_user("alice").await.unwrap().id;
    let erased_head = app
        .store()
        .audit_events_of(user_id, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(
        erased_head.seq > 1,
        "a history to erase: {}",
        erased_head.seq
    );

    let res = app
        .call(
            "delete_account",
            &[("password", PASSWORD), ("confirm_username", "Alice")],
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["clear-site-data"], r#""cache", "storage""#);
    assert!(set_cookie_headers(res.headers())
        .iter()
        .any(|c| c.contains("Max-Age=0")));

    // Signed out everywhere; every credential is dead.
    assert_eq!(app.current_username(&token).await, None);
    assert_eq!(app.current_username(&other).await, None);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&key).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Personal data is gone: no user row, no sessions, no keys, no activity with addresses.
    assert!(app.stored_user("alice").await.is_none());
    let store = app.store();
    assert!(store.sessions_of(user_id).await.unwrap().is_empty());
    assert!(store.api_keys_of(user_id).await.unwrap().is_empty());
    let left = store.audit_events_of(user_id, None, 100).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].event.kind, "account.deleted");
    assert_eq!(
        (left[0].event.ip.as_ref(), left[0].event.device.as_ref()),
        (None, None)
    );
    assert!(left[0].event.request_id.is_some());
    // The record continues the erased chain: it links to its last hash, at the next `seq`
    // (the verifier cannot check this once the rows are gone; the erasure must write it).
    assert_eq!(
        (left[0].seq, &left[0].prev_hash),
        (erased_head.seq + 1, &erased_head.hash)
    );
    assert!(gatehouse::server::audit::verify(store.as_ref())
        .await
        .unwrap()
        .is_intact());
    // The name is free again.
    app.register_ok("alice", "alice@example.com").await;
}

#[tokio::test]
async fn signing_out_asks_the_browser_to_clear_site_data() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app.call("logout", &[], Some(&token)).await;
    // Never "cookies": that would clear every cookie of the registrable domain (every
    // `*.example.com` app); the session cookie is expired by name instead.
    assert_eq!(res.headers()["clear-site-data"], r#""cache", "storage""#);
    let removal = set_cookie_headers(res.headers());
    assert!(
        removal
            .iter()
            .any(|c| c.starts_with(&format!("{}=;", app.cookie_name)) && c.contains("Max-Age=0")),
        "{removal:?}"
    );
    let token = app.login_ok("alice").await;
    let res = app.call("logout_everywhere", &[], Some(&token)).await;
    assert_eq!(res.headers()["clear-site-data"], r#""cache", "storage""#);
    // Sign-in does not clear anything.
    let res = app.login("alice", PASSWORD).await;
    assert!(res.headers().get("clear-site-data").is_none());
}

#[tokio::test]
async fn account_pages_need_a_session() {
    let app = spawn_app().await;
    for endpoint in ["sessions", "activity", "revoke_other_sessions"] {
        let res = app.call(endpoint, &[], None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{endpoint}");
    }
    let res = app
        .change_password(
            "A".repeat(43).as_str(),
            &change_form(PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The decision pinned: "sign out everywhere" ends sessions and access tokens, and leaves API
/// keys working (they serve unattended clients and have their own revoke); the page says so
/// next to the button and in the API keys section.
#[tokio::test]
async fn signing_out_everywhere_ends_sessions_and_tokens_but_not_api_keys() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let other = app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    let key = app.create_key_secret(&jwt, "nightly backup").await;

    let html = app
        .get_page("/account", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    let said = |testid: &str| {
        let at = html
            .find(&format!(r#"data-testid="{testid}""#))
            .unwrap_or_else(|| panic!("{testid} missing"));
        html[at..].split("</p>").next().unwrap().to_string()
    };
    let by_the_button = said("sign-out-everywhere-scope");
    assert!(
        by_the_button.contains("API keys keep working"),
        "{by_the_button}"
    );
    let in_keys = said("keys-survive-sign-out");
    assert!(
        in_keys.contains("keep working when you sign out everywhere"),
        "{in_keys}"
    );

    let res = app.call("logout_everywhere", &[], Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.current_username(&token).await, None);
    assert_eq!(app.current_username(&other).await, None);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.me(&key).await.status(),
        StatusCode::OK,
        "the key lives on"
    );
}

#[tokio::test]
async fn creating_a_key_on_the_account_page_needs_the_current_password() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let create = async |password: &str| {
        app.call(
            "create_api_key",
            &[("name", "deploy"), ("password", password)],
            Some(&token),
        )
        .await
    };
    let res = create("").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app_error(res).await.field("password").as_deref(),
        Some("Enter your current password.")
    );
    for _ in 0..5 {
        let res = create("not my password").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            app_error(res).await.field("password").as_deref(),
            Some("That is not your current password.")
        );
    }
    // Counted against the account's throttle, like a failed sign-in.
    assert_eq!(
        create(PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The five failures are one folded row on the page, and no key was made.
    let activity = app.activity(&token).await;
    let run = activity[0].repeated.as_ref().expect("the failures, folded");
    assert_eq!(run.failures, 5);
    assert!(!activity
        .iter()
        .any(|e| e.kind == ActivityKind::ApiKeyCreated));
    app.clock.advance(120);
    assert_eq!(create(PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.activity_kinds(&token).await.first(),
        Some(&ActivityKind::ApiKeyCreated)
    );
}

#[tokio::test]
async fn a_key_made_on_the_account_page_expires_in_90_days_unless_never_is_picked() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let days = 86_400;
    for (expiry, expires_at) in [
        (None, Some(START_TIME + 90 * days)),
        (Some(""), Some(START_TIME + 90 * days)),
        (Some("365"), Some(START_TIME + 365 * days)),
        (Some("never"), None),
    ] {
        let mut form = vec![("name", "k"), ("password", PASSWORD)];
        form.extend(expiry.map(|e| ("expires_in_days", e)));
        let res = app.call("create_api_key", &form, Some(&token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{expiry:?}");
        let created: gatehouse::model::api_key::CreatedApiKey = res.json().await.unwrap();
        assert_eq!(created.key.expires_at, expires_at, "{expiry:?}");
    }
    // The form offers 90 days first, and "never" only as an explicit choice.
    let html = app
        .get_page("/account", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    let select = html
        .split(r#"id="key-expiry""#)
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .expect("the expiry select")
        .to_string();
    assert!(
        select.contains(r#"<option value="90" selected"#),
        "{select}"
    );
    assert!(select.contains(r#"<option value="never">"#), "{select}");
    assert!(!select.contains(r#"value="""#), "{select}");
}

/// `Store::account_rows`, the account page's one read, gives row for row what the separate
/// reads give: each card's rows of the one account in each read's order, blobs and hashes
/// included, text that JSON must escape included, absent fields absent, and nothing of
/// another account. The SQLite store builds it as one statement of JSON (`db::sqlite`),
/// PostgreSQL's runs the separate reads; this holds both to the same answer.
#[tokio::test]
async fn the_account_pages_one_read_equals_the_separate_reads() {
    use gatehouse::server::db::{
        AccountRows, ApiKeyRecord, EmailLinkRecord, NewAuditEvent, NewRecoveryCodes, PasskeyRecord,
        SessionRecord, Store,
    };
    const CHANGE: &str = "change_email";
    async fn separate_reads(store: &dyn Store, user_id: i64, events: i64) -> AccountRows {
        AccountRows {
            sessions: store.sessions_of(user_id).await.unwrap(),
            api_keys: store.api_keys_of(user_id).await.unwrap(),
            passkeys: store.passkeys_of(user_id).await.unwrap(),
            two_factor: store.two_factor_of(user_id).await.unwrap(),
            recovery_codes_left: store.count_recovery_codes(user_id).await.unwrap(),
            email_link: store.email_link_of(user_id, CHANGE).await.unwrap(),
            audit_events: store.audit_events_of(user_id, None, events).await.unwrap(),
        }
    }
    // Bytes with leading zeros and high bits, different per use.
    let bytes = |seed: u8, len: usize| -> Vec<u8> {
        (0..len as u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(seed))
            .collect()
    };
    let texts = [
        r#"a "quote" and a \ backslash"#,
        "a line\nbreak, a\ttab and \u{1}",
        "é, 漢字 and 🔐",
        r#"["]}"#,
    ];

    let app = spawn_app().await;
    let store = app.store().clone();
    for name in ["alice", "bob", "carol"] {
        app.register_ok(name, &format!("{name}@example.com")).await;
    }
    let alice = app.stored_user("alice").await.unwrap();
    let bob = app.stored_user("bob").await.unwrap();
    let carol = app.stored_user("carol").await.unwrap();

    // Carol has only what registering gave her.
    let carols = store.account_rows(carol.id, CHANGE, 50).await.unwrap();
    assert_eq!(carols, separate_reads(store.as_ref(), carol.id, 50).await);
    assert_eq!(carols.two_factor, None);
    assert_eq!(carols.email_link, None);

    // Alice has something on every card; every column of a row holds a different value.
    for (i, text) in (1..).zip(texts) {
        store
            .insert_session(&SessionRecord {
                token_hash: bytes(i as u8, 32),
                id: format!("session-{i}"),
                user_id: alice.id,
                created_at: START_TIME + i,
                last_seen_at: START_TIME + 100 + i,
                expires_at: START_TIME + 10_000 + i,
                remember: i % 2 == 0,
                ip: (i % 2 == 1).then(|| "2001:db8::1".to_string()),
                user_agent: Some(text.to_string()),
                token_version: alice.token_version,
            })
            .await
            .unwrap();
        let key_id = store
            .insert_api_key(&ApiKeyRecord {
                id: 0,
                user_id: alice.id,
                name: text.to_string(),
                prefix: format!("prefix{i}"),
                secret_hash: bytes(50 + i as u8, 32),
                scopes: "users:read".into(),
                created_at: START_TIME + 200 + i,
                expires_at: (i % 2 == 0).then_some(START_TIME + 20_000 + i),
                last_used_at: None,
                revoked_at: None,
            })
            .await
            .unwrap();
        if i == 1 {
            store.touch_api_key(key_id, START_TIME + 300).await.unwrap();
            assert!(store
                .revoke_api_key(alice.id, key_id, START_TIME + 400)
                .await
                .unwrap());
        }
        assert!(store
            .insert_passkey(&PasskeyRecord {
                id: 0,
                user_id: alice.id,
                credential_id: bytes(100 + i as u8, 16 + i as usize),
                name: text.to_string(),
                credential: format!(r#"{{"cred":{text:?}}}"#),
                backed_up: i % 2 == 1,
                created_at: START_TIME + 500 + i,
                last_used_at: (i % 2 == 0).then_some(START_TIME + 600 + i),
            })
            .await
            .unwrap());
        store
            .append_audit_event(&NewAuditEvent {
                user_id: alice.id,
                created_at: START_TIME + 700 + i,
                kind: "session.revoked".into(),
                ip: (i % 2 == 0).then(|| "192.0.2.7".to_string()),
                device: Some(text.to_string()),
                request_id: (i % 2 == 1).then(|| format!("req-{i}")),
                detail: Some(format!("{text} (detail)")),
            })
            .await
            .unwrap();
    }
    assert!(store
        .begin_two_factor(alice.id, &bytes(200, 40), START_TIME + 800)
        .await
        .unwrap());
    let codes = NewRecoveryCodes {
        salt: bytes(210, 16),
        digests: (0..3).map(|i| bytes(220 + i, 32)).collect(),
        reveal_to_session: "session-1".into(),
        sealed_codes: bytes(230, 48),
        reveal_until: START_TIME + 900,
    };
    assert!(store
        .enable_two_factor(alice.id, 12_345, START_TIME + 850, &codes)
        .await
        .unwrap());
    store
        .replace_email_link(&EmailLinkRecord {
            token_hash: bytes(240, 32),
            user_id: alice.id,
            purpose: CHANGE.into(),
            email: "Alice.New@example.com".into(),
            email_canonical: "alice.new@example.com".into(),
            created_at: START_TIME + 950,
            expires_at: START_TIME + 9_950,
            token_version: alice.token_version,
        })
        .await
        .unwrap();
    // Bob is half-way through enrolment (no recovery salt yet) and has his own link.
    assert!(store
        .begin_two_factor(bob.id, &bytes(250, 40), START_TIME + 990)
        .await
        .unwrap());
    store
        .replace_email_link(&EmailLinkRecord {
            token_hash: bytes(7, 32),
            user_id: bob.id,
            purpose: CHANGE.into(),
            email: "bob.new@example.com".into(),
            email_canonical: "bob.new@example.com".into(),
            created_at: START_TIME + 999,
            expires_at: START_TIME + 9_999,
            token_version: bob.token_version,
        })
        .await
        .unwrap();

    let alices = store.account_rows(alice.id, CHANGE, 50).await.unwrap();
    assert_eq!(alices, separate_reads(store.as_ref(), alice.id, 50).await);
    // Registering gave a session; the four above are on top of it, and so on for each card.
    assert_eq!(alices.sessions.len(), 5);
    assert_eq!(alices.api_keys.len(), 4);
    assert_eq!(alices.passkeys.len(), 4);
    assert_eq!(alices.recovery_codes_left, 3);
    assert_eq!(
        alices.two_factor.as_ref().unwrap().recovery_salt,
        Some(codes.salt)
    );
    assert_eq!(
        alices.email_link.as_ref().unwrap().email,
        "Alice.New@example.com"
    );
    assert!(alices.audit_events.len() >= 5);
    // Only as many events as asked for: the newest.
    let newest_two = store.account_rows(alice.id, CHANGE, 2).await.unwrap();
    assert_eq!(newest_two.audit_events, alices.audit_events[..2]);

    let bobs = store.account_rows(bob.id, CHANGE, 50).await.unwrap();
    assert_eq!(bobs, separate_reads(store.as_ref(), bob.id, 50).await);
    let enrolment = bobs.two_factor.expect("an enrolment");
    assert_eq!(
        (enrolment.enabled_at, enrolment.recovery_salt),
        (None, None)
    );
    assert_eq!(bobs.email_link.unwrap().email, "bob.new@example.com");
    // Another purpose's link is not the pending change.
    assert_eq!(
        store
            .account_rows(bob.id, "reset_password", 50)
            .await
            .unwrap()
            .email_link,
        None
    );
}

/// `/rpc/account`, the account page's one read, answers what each card's own function
/// answers, and nothing without a session.
#[tokio::test]
async fn the_account_overview_is_what_each_cards_own_function_answers() {
    use gatehouse::model::account::AccountOverview;
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .call(
            "create_api_key",
            &[("name", "deploy"), ("password", PASSWORD)],
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.clock.advance(5);

    let res = app.call("account", &[], Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let overview: AccountOverview = res.json().await.unwrap();
    let card = |endpoint: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            let res = app.call(endpoint, &[], Some(&token)).await;
            assert_eq!(res.status(), StatusCode::OK, "{endpoint}");
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    fn as_json(value: &impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }
    assert_eq!(as_json(&overview.sessions), card("sessions").await);
    assert_eq!(as_json(&overview.activity), card("activity").await);
    assert_eq!(as_json(&overview.api_keys), card("api_keys").await);
    assert_eq!(as_json(&overview.passkeys), card("passkeys").await);
    assert_eq!(
        as_json(&overview.two_factor),
        card("two_factor_status").await
    );
    assert_eq!(
        as_json(&overview.pending_email),
        card("pending_email_change").await
    );
    // Something on the cards, so the equalities above compare more than empty lists.
    assert_eq!(overview.sessions.sessions.len(), 2);
    assert!(overview.sessions.sessions[0].current);
    assert_eq!(overview.api_keys.len(), 1);
    assert!(!overview.activity.is_empty());

    let res = app.call("account", &[], None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app_error(res).await, AppError::Unauthenticated);
}
