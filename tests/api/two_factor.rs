//! Two-factor sign-in over HTTP, on both backends: enrolment through the account's server
//! functions and pages, the sign-in step and its cookie, replay and the time window (with the
//! app's manual clock), recovery codes, the JSON API, the no-JavaScript path and the limits.

use reqwest::header::{ACCEPT, COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use gatehouse::model::two_factor::{CODE_ALREADY_USED, WRONG_CODE};
use gatehouse::model::AppError;
use gatehouse::server::auth::totp::{step_of, TotpSecret, STEP_SECS};
use gatehouse::server::clock::Clock;

use crate::helpers::*;

/// The challenge cookie's name on the test servers (cookies are not Secure there).
const CHALLENGE: &str = "gatehouse_sign_in";

/// The text of the element carrying `data-testid="{id}"` in a rendered page.
fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("data-testid=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(html[open_end..close].to_string())
}

/// Every recovery code on a page that shows them.
fn codes_in(html: &str) -> Vec<String> {
    let Some(start) = html.find("data-testid=\"recovery-codes\"") else {
        return Vec::new();
    };
    let list = &html[start..start + html[start..].find("</ol>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|part| part[..part.find('<').unwrap()].to_string())
        .collect()
}

impl TestApp {
    fn code(&self, secret: &TotpSecret, steps_ahead: i64) -> String {
        secret.code_at_step(step_of(self.clock.now()) + steps_ahead)
    }

    /// Registers `name`, turns two-factor on through the server functions and the pages the
    /// browser sees, and answers the session, the secret and the recovery codes.
    pub(crate) async fn enrol(&self, name: &str) -> (String, TotpSecret, Vec<String>) {
        let session = self.register_ok(name, &format!("{name}@example.com")).await;
        let started = self
            .call(
                "start_two_factor",
                &[("password", PASSWORD)],
                Some(&session),
            )
            .await;
        assert_eq!(started.status(), StatusCode::OK);
        assert_eq!(header(&started, "location"), Some("/account/two-factor"));
        let page = self
            .get_page("/account/two-factor", Some(&session))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("<svg role=\"img\""), "no QR code on the page");
        let secret_text = text_of(&page, "totp-secret").expect("the secret as text");
        let secret = TotpSecret::from_base32(&secret_text).expect("base32");
        let confirmed = self
            .call(
                "confirm_two_factor",
                &[("code", &self.code(&secret, 0))],
                Some(&session),
            )
            .await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        let page = self
            .get_page("/account/recovery-codes", Some(&session))
            .await
            .text()
            .await
            .unwrap();
        let codes = codes_in(&page);
        assert_eq!(codes.len(), 10, "{page}");
        // The step of the code just used is spent.
        self.clock.advance(STEP_SECS);
        (session, secret, codes)
    }

    /// The password step: answers the challenge token (and checks no session was made).
    pub(crate) async fn password_step(&self, name: &str) -> String {
        let res = self.login(name, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "location"), Some("/login/two-factor"));
        assert!(
            session_token_from(&res, self.cookie_name).is_none(),
            "a session from the password alone"
        );
        session_token_from(&res, CHALLENGE).expect("a challenge cookie")
    }

    async fn code_step(&self, challenge: &str, code: &str) -> Response {
        self.client
            .post(self.url("/rpc/two_factor_sign_in"))
            .header(COOKIE, format!("{CHALLENGE}={challenge}"))
            .form(&[("code", code)])
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn enrolment_then_sign_in_with_a_code_then_replay_refused() {
    let app = spawn_app().await;
    let (_, secret, _) = app.enrol("alice").await;

    let challenge = app.password_step("alice").await;
    let wrong = app.code_step(&challenge, &app.code(&secret, 3)).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app_error(wrong).await.field("code").as_deref(),
        Some(WRONG_CODE)
    );

    let code = app.code(&secret, 0);
    let signed_in = app.code_step(&challenge, &code).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let session = session_token_from(&signed_in, app.cookie_name).expect("a session now");
    // The challenge cookie is dropped with the sign-in.
    assert!(set_cookie(&signed_in, CHALLENGE)
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        app.current_username(&session).await.as_deref(),
        Some("alice")
    );

    // The same code, on a new sign-in in the same window: refused.
    let challenge = app.password_step("alice").await;
    let replay = app.code_step(&challenge, &code).await;
    assert_eq!(
        app_error(replay).await.field("code").as_deref(),
        Some(CODE_ALREADY_USED)
    );
    // One step later the next code works: the window moved on, not the account.
    app.clock.advance(STEP_SECS);
    let next = app.code_step(&challenge, &app.code(&secret, 0)).await;
    assert_eq!(next.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_window_is_one_step_either_side_of_the_server_clock() {
    let app = spawn_app().await;
    let (_, secret, _) = app.enrol("alice").await;
    // One more step, so that the step before now is after the one enrolment used.
    app.clock.advance(STEP_SECS);
    let challenge = app.password_step("alice").await;
    // A phone 60 s fast: two steps ahead, refused.
    let far = app.code_step(&challenge, &app.code(&secret, 2)).await;
    assert_eq!(
        app_error(far).await.field("code").as_deref(),
        Some(WRONG_CODE)
    );
    // A phone 30 s slow: one step behind, accepted.
    let behind = app.code_step(&challenge, &app.code(&secret, -1)).await;
    assert_eq!(behind.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_challenge_cookie_is_strict_short_lived_and_useless_as_a_session() {
    let app = spawn_app().await;
    app.enrol("alice").await;
    let res = app.login("alice", PASSWORD).await;
    let cookie = set_cookie(&res, CHALLENGE).expect("a challenge cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=300"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    let challenge = session_token_from(&res, CHALLENGE).unwrap();
    // Presented as a session cookie, it is nobody.
    assert_eq!(app.current_username(&challenge).await, None);
    let page = app.get_page("/account", Some(&challenge)).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    // It times out with the server's clock.
    app.clock.advance(300);
    let late = app.code_step(&challenge, "123456").await;
    assert_eq!(app_error(late).await, AppError::SignInExpired);
}

#[tokio::test]
async fn recovery_codes_are_shown_once_and_each_signs_in_once() {
    let app = spawn_app().await;
    let (session, _, codes) = app.enrol("alice").await;
    let again = app
        .get_page("/account/recovery-codes", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(codes_in(&again).is_empty(), "codes shown twice");
    assert!(again.contains("Recovery codes are shown once"));

    let challenge = app.password_step("alice").await;
    assert_eq!(
        app.code_step(&challenge, &codes[0]).await.status(),
        StatusCode::OK
    );
    let challenge = app.password_step("alice").await;
    let reused = app.code_step(&challenge, &codes[0]).await;
    assert_eq!(
        app_error(reused).await.field("code").as_deref(),
        Some(WRONG_CODE)
    );
    let status: Value = app
        .call("two_factor_status", &[], Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recovery_codes_left"], 9);
    // Stored as argon2id digests (under the account's salt), computed here with the argon2
    // crate: the nine codes left are exactly the digests in the table, and no code's text is.
    let user = app.stored_user("alice").await.unwrap();
    assert!(user.two_factor_enabled);
    let salt = app
        .store()
        .two_factor_of(user.id)
        .await
        .unwrap()
        .unwrap()
        .recovery_salt
        .expect("a salt");
    let mut stored = stored_recovery_digests(&app, user.id).await;
    let mut expected: Vec<Vec<u8>> = codes[1..]
        .iter()
        .map(|code| argon2id_digest(code, &salt))
        .collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
    for digest in &stored {
        for code in &codes {
            let text = code.as_bytes();
            assert!(
                !digest.windows(text.len()).any(|w| w == text),
                "{code} stored"
            );
        }
    }
}

/// argon2id v1.3 at the password parameters (m = 19 MiB, t = 2, p = 1), 32 bytes out.
fn argon2id_digest(code: &str, salt: &[u8]) -> Vec<u8> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(19 * 1024, 2, 1, Some(32)).unwrap();
    let mut out = vec![0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(code.as_bytes(), salt, &mut out)
        .unwrap();
    out
}

/// The `digest` column of an account's rows in `recovery_codes`, read behind the app's back
/// with the backend's own driver.
async fn stored_recovery_digests(app: &TestApp, user_id: i64) -> Vec<Vec<u8>> {
    use sqlx::Connection;
    if app.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT digest FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT digest FROM recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_api_refuses_the_password_grant_and_keeps_earlier_credentials() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let earlier_token = app.access_token("alice").await;
    let key = app.create_key_secret(&earlier_token, "ci").await;
    // Enrol the existing account.
    let session = app.login_ok("alice").await;
    app.call(
        "start_two_factor",
        &[("password", PASSWORD)],
        Some(&session),
    )
    .await;
    let page = app
        .get_page("/account/two-factor", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    let secret = TotpSecret::from_base32(&text_of(&page, "totp-secret").unwrap()).unwrap();
    let confirmed = app
        .call(
            "confirm_two_factor",
            &[("code", &app.code(&secret, 0))],
            Some(&session),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);

    let refused = app.password_grant("alice", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("two-factor"),
        "{body}"
    );
    // A wrong password still gets the one answer for wrong credentials.
    let wrong: Value = app
        .password_grant("alice", "nope nope")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrong["error_description"], "Incorrect username or password");
    for credential in [&earlier_token, &key] {
        let me = app.me(credential).await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["two_factor_enabled"], true);
    }
}

#[tokio::test]
async fn without_javascript_a_wrong_code_comes_back_to_the_step_and_a_right_one_signs_in() {
    let app = spawn_app().await;
    let (_, secret, _) = app.enrol("alice").await;
    let challenge = app.password_step("alice").await;
    let plain = |code: String| {
        app.client
            .post(app.url("/rpc/two_factor_sign_in"))
            .header(COOKIE, format!("{CHALLENGE}={challenge}"))
            .header(ACCEPT, "text/html")
            .header(reqwest::header::REFERER, app.url("/login/two-factor"))
            .form(&[("code", code)])
            .send()
    };
    let wrong = plain(app.code(&secret, 4)).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FOUND);
    let back = header(&wrong, LOCATION.as_str()).unwrap().to_string();
    assert!(back.starts_with("/login/two-factor?"), "{back}");
    assert!(back.contains("__err=") && back.contains("__sig="), "{back}");
    let right = plain(app.code(&secret, 0)).await.unwrap();
    assert_eq!(right.status(), StatusCode::FOUND);
    assert_eq!(header(&right, "location"), Some("/"));
    assert!(session_token_from(&right, app.cookie_name).is_some());
}

#[tokio::test]
async fn the_code_step_has_its_own_per_address_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_TWO_FACTOR", "2/minute")]).await;
    let (_, secret, _) = app.enrol("alice").await;
    let challenge = app.password_step("alice").await;
    for _ in 0..2 {
        let refused = app.code_step(&challenge, &app.code(&secret, 5)).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let limited = app.code_step(&challenge, &app.code(&secret, 0)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&limited, "retry-after").is_some());
}

#[tokio::test]
async fn turning_off_needs_password_and_code_and_the_password_alone_signs_in_again() {
    let app = spawn_app().await;
    let (session, secret, _) = app.enrol("alice").await;
    let missing = app
        .call(
            "disable_two_factor",
            &[("password", PASSWORD), ("code", "")],
            Some(&session),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let off = app
        .call(
            "disable_two_factor",
            &[("password", PASSWORD), ("code", &app.code(&secret, 0))],
            Some(&session),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(
        header(&off, "location"),
        Some("/account?notice=two-factor-off")
    );
    let res = app.login("alice", PASSWORD).await;
    assert!(session_token_from(&res, app.cookie_name).is_some());
}

#[tokio::test]
async fn an_operator_can_reset_two_factor_and_the_owner_is_told() {
    let app = spawn_app().await;
    let (session, _, _) = app.enrol("alice").await;
    let mail_dir = tempfile::tempdir().unwrap();
    let mail_dir_text = mail_dir.path().display().to_string();
    let run = |account: &str| {
        run_gatehouse(
            &["two-factor", "reset", account],
            &[
                ("DATABASE_URL", &app.database_url),
                ("MAIL_DIR", &mail_dir_text),
            ],
        )
    };
    let nobody = run("nobody");
    assert_eq!(nobody.status.code(), Some(1));
    // By email address, in any case.
    let reset = run("ALICE@example.com");
    let stdout = String::from_utf8_lossy(&reset.stdout);
    assert!(
        reset.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(
        stdout.contains("two-factor authentication is off for alice"),
        "{stdout}"
    );
    // Every session ended; the password alone signs in again; a second reset has nothing to do.
    assert_eq!(app.current_username(&session).await, None);
    assert!(!app.stored_user("alice").await.unwrap().two_factor_enabled);
    let res = app.login("alice", PASSWORD).await;
    assert!(session_token_from(&res, app.cookie_name).is_some());
    assert_eq!(run("alice").status.code(), Some(1));
    let mails: Vec<String> = std::fs::read_dir(mail_dir.path())
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Two-factor authentication was reset"),
        "{}",
        mails[0]
    );
}
