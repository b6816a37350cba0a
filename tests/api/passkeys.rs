//! Passkeys over HTTP, on both backends: the server-side state of a WebAuthn ceremony (the
//! options sent, the cookie binding it to one browser, single use, the five-minute lifetime,
//! one purpose per ceremony), the password asked again for a registration that is not fresh,
//! the reach of one account's passkeys, and passkeys off where the site has no domain. The
//! browser's half (a real authenticator signing) is covered by Playwright's virtual
//! authenticator (`end2end/tests/passkeys.spec.ts`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use gatehouse::model::activity::{ActivityKind, ActivityView};
use gatehouse::model::passkey::{
    CEREMONY_EXPIRED, NOT_FOUND, NO_PASSKEYS, PASSWORD_NEEDED, REFUSED,
};
use gatehouse::model::two_factor::WaitingSignIn;
use gatehouse::model::AppError;
use gatehouse::server::clock::Clock;
use gatehouse::server::db::PasskeyRecord;

use crate::helpers::*;

/// The ceremony cookie's name on the test servers (cookies are not Secure there).
const CEREMONY: &str = "gatehouse_passkey";
/// An answer no authenticator made, well-formed enough to reach the signature check.
const FORGED_ASSERTION: &str = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"AAAA","signature":"AAAA","userHandle":"AAAA"},"clientExtensionResults":{}}"#;

impl TestApp {
    /// Calls a passkey server function with the session and ceremony cookies given.
    async fn passkey_call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
        ceremony: Option<&str>,
    ) -> Response {
        let cookies: Vec<String> = [
            session.map(|s| format!("{}={s}", self.cookie_name)),
            ceremony.map(|c| format!("{CEREMONY}={c}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut req = self
            .client
            .post(self.url(&format!("/rpc/{endpoint}")))
            .form(form);
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies.join("; "));
        }
        req.send().await.unwrap()
    }

    /// Starts a ceremony: its options (parsed) and its cookie's token.
    async fn start_ceremony(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> (Value, String) {
        let res = self.passkey_call(endpoint, form, session, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = set_cookie(&res, CEREMONY).expect("a ceremony cookie");
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=300"] {
            assert!(cookie.contains(flag), "{flag} missing in {cookie}");
        }
        let token = session_token_from(&res, CEREMONY).unwrap();
        // A server function's `String` answer is a JSON string holding the options' JSON.
        let text: String = res.json().await.unwrap();
        (serde_json::from_str(&text).unwrap(), token)
    }

    async fn passkey_error(res: Response) -> Option<String> {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        app_error(res).await.field("passkey")
    }

    /// Stores a passkey for `username` as registration would (the credential itself is not
    /// read by renaming, removing or listing).
    async fn stored_passkey(&self, username: &str, credential_id: &[u8], name: &str) -> String {
        let user = self.stored_user(username).await.unwrap();
        let stored = self
            .store()
            .insert_passkey(&PasskeyRecord {
                id: 0,
                user_id: user.id,
                credential_id: credential_id.to_vec(),
                name: name.into(),
                credential: "{}".into(),
                backed_up: true,
                created_at: self.clock.now(),
                last_used_at: None,
            })
            .await
            .unwrap();
        assert!(stored);
        URL_SAFE_NO_PAD.encode(credential_id)
    }
}

#[tokio::test]
async fn registration_options_name_this_site_require_user_verification_and_hide_the_account_id() {
    let app = spawn_app().await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let (options, _) = app
        .start_ceremony("start_passkey_registration", &[], Some(&session))
        .await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "alice");
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "required");
    // Discoverable, or signing in without a username could not find it.
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    let challenge = URL_SAFE_NO_PAD
        .decode(options["challenge"].as_str().unwrap())
        .unwrap();
    assert!(challenge.len() >= 16, "a short challenge");
    // The user handle is the account's random public id, not its sequential one.
    let handle = URL_SAFE_NO_PAD
        .decode(options["user"]["id"].as_str().unwrap())
        .unwrap();
    let user = app.stored_user("alice").await.unwrap();
    assert_eq!(hex(&handle), user.public_id);
    assert_eq!(options["timeout"], 300_000);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_ceremony_answers_once_from_its_own_browser_within_five_minutes() {
    let app = spawn_app().await;
    let answer = [("credential", FORGED_ASSERTION), ("remember", "false")];

    // Without the ceremony's cookie (another browser), nothing is there to answer.
    let (_, token) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
    let other_browser = app
        .passkey_call("finish_passkey_sign_in", &answer, None, None)
        .await;
    assert_eq!(
        TestApp::passkey_error(other_browser).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );
    let forged_cookie = app
        .passkey_call(
            "finish_passkey_sign_in",
            &answer,
            None,
            Some(&"A".repeat(43)),
        )
        .await;
    assert_eq!(
        TestApp::passkey_error(forged_cookie).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );

    // With it: the answer is checked (and this one refused), and the ceremony is spent.
    let first = app
        .passkey_call("finish_passkey_sign_in", &answer, None, Some(&token))
        .await;
    assert!(set_cookie(&first, CEREMONY).unwrap().contains("Max-Age=0"));
    assert!(session_token_from(&first, app.cookie_name).is_none());
    assert_eq!(
        TestApp::passkey_error(first).await.as_deref(),
        Some(REFUSED)
    );
    let replay = app
        .passkey_call("finish_passkey_sign_in", &answer, None, Some(&token))
        .await;
    assert_eq!(
        TestApp::passkey_error(replay).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );

    // Five minutes on, an unanswered ceremony is over.
    let (_, token) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
    app.clock.advance(5 * 60);
    let late = app
        .passkey_call("finish_passkey_sign_in", &answer, None, Some(&token))
        .await;
    assert_eq!(
        TestApp::passkey_error(late).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );
    assert_eq!(app.state.auth.passkeys.purge_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn a_ceremony_serves_only_its_purpose_and_its_account() {
    let app = spawn_app().await;
    let alice = app.register_ok("alice", "alice@example.com").await;
    let mallory = app.register_ok("mallory", "mallory@example.com").await;

    // A sign-in ceremony's token does not finish a registration, and stays usable.
    let (_, sign_in) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
    let registration = [("name", "Laptop"), ("credential", "{}")];
    let wrong_purpose = app
        .passkey_call(
            "finish_passkey_registration",
            &registration,
            Some(&alice),
            Some(&sign_in),
        )
        .await;
    assert_eq!(
        TestApp::passkey_error(wrong_purpose).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );
    let answer = [("credential", FORGED_ASSERTION), ("remember", "false")];
    let still_there = app
        .passkey_call("finish_passkey_sign_in", &answer, None, Some(&sign_in))
        .await;
    assert_eq!(
        TestApp::passkey_error(still_there).await.as_deref(),
        Some(REFUSED)
    );

    // Alice's registration, finished in Mallory's session, is refused and spent.
    let (_, alices) = app
        .start_ceremony("start_passkey_registration", &[], Some(&alice))
        .await;
    let hijack = app
        .passkey_call(
            "finish_passkey_registration",
            &registration,
            Some(&mallory),
            Some(&alices),
        )
        .await;
    assert_eq!(
        TestApp::passkey_error(hijack).await.as_deref(),
        Some(CEREMONY_EXPIRED)
    );
    // Alice's own answer (unreadable here) reaches the check.
    let own = app
        .passkey_call(
            "finish_passkey_registration",
            &registration,
            Some(&alice),
            Some(&alices),
        )
        .await;
    assert_eq!(
        TestApp::passkey_error(own).await.as_deref(),
        Some(CEREMONY_EXPIRED),
        "the hijack attempt spent the ceremony"
    );
}

#[tokio::test]
async fn adding_a_passkey_needs_the_password_again_five_minutes_after_signing_in() {
    let app = spawn_app().await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let status = |session: String| {
        let app = &app;
        async move {
            let res = app.call("passkeys", &[], Some(&session)).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(status(session.clone()).await["password_needed"], false);
    app.clock.advance(5 * 60 + 1);
    assert_eq!(status(session.clone()).await["password_needed"], true);

    let without = app
        .passkey_call("start_passkey_registration", &[], Some(&session), None)
        .await;
    assert_eq!(without.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app_error(without).await.field("password").as_deref(),
        Some(PASSWORD_NEEDED)
    );
    let wrong = app
        .passkey_call(
            "start_passkey_registration",
            &[("password", "not the password")],
            Some(&session),
            None,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(set_cookie(&wrong, CEREMONY).is_none());
    app.start_ceremony(
        "start_passkey_registration",
        &[("password", PASSWORD)],
        Some(&session),
    )
    .await;
}

#[tokio::test]
async fn an_account_renames_and_removes_only_its_own_passkeys_and_is_told() {
    let app = spawn_app().await;
    let alice = app.register_ok("alice", "alice@example.com").await;
    let mallory = app.register_ok("mallory", "mallory@example.com").await;
    let id = app.stored_passkey("alice", b"alice's key", "Phone").await;
    let listed = app.call("passkeys", &[], Some(&alice)).await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["passkeys"][0]["id"], id.as_str());
    assert_eq!(listed["passkeys"][0]["name"], "Phone");
    assert_eq!(listed["passkeys"][0]["synced"], true);
    let mallorys: Value = app
        .call("passkeys", &[], Some(&mallory))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mallorys["passkeys"], Value::Array(vec![]));

    for (endpoint, form) in [
        (
            "rename_passkey",
            vec![("id", id.as_str()), ("name", "Mine")],
        ),
        ("remove_passkey", vec![("id", id.as_str())]),
    ] {
        let res = app.call(endpoint, &form, Some(&mallory)).await;
        assert_eq!(
            TestApp::passkey_error(res).await.as_deref(),
            Some(NOT_FOUND),
            "{endpoint}"
        );
    }

    let renamed = app
        .call(
            "rename_passkey",
            &[("id", &id), ("name", "  Work phone ")],
            Some(&alice),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let blank = app
        .call(
            "rename_passkey",
            &[("id", &id), ("name", " ")],
            Some(&alice),
        )
        .await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let removed = app
        .call("remove_passkey", &[("id", &id)], Some(&alice))
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert!(app
        .store()
        .passkeys_of(app.stored_user("alice").await.unwrap().id)
        .await
        .unwrap()
        .is_empty());

    // After the address's confirmation link, the notice of the removal.
    let welcome = app.mailbox.next_for("alice@example.com").await;
    assert!(welcome.subject().starts_with("Confirm your email"));
    let notice = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(
        notice.subject(),
        "A passkey was removed from your Gatehouse account"
    );
    assert!(notice.parsed().body_text(0).unwrap().contains("Work phone"));
    let activity: Vec<ActivityView> = app
        .call("activity", &[], Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<(ActivityKind, Option<String>)> = activity
        .into_iter()
        .map(|event| (event.kind, event.detail))
        .collect();
    assert!(
        kinds.contains(&(ActivityKind::PasskeyRenamed, Some("Work phone".into()))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(ActivityKind::PasskeyRemoved, Some("Work phone".into()))),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn the_code_step_offers_a_passkey_only_to_an_account_that_has_one() {
    let app = spawn_app().await;
    app.enrol("alice").await;
    let challenge = app.password_step("alice").await;
    let waiting = || async {
        let res = app
            .client
            .post(app.url("/rpc/sign_in_waiting"))
            .header(COOKIE, format!("gatehouse_sign_in={challenge}"))
            .send()
            .await
            .unwrap();
        res.json::<Option<WaitingSignIn>>().await.unwrap()
    };
    assert_eq!(waiting().await, Some(WaitingSignIn { passkey: false }));
    let start = app
        .client
        .post(app.url("/rpc/start_passkey_second_factor"))
        .header(COOKIE, format!("gatehouse_sign_in={challenge}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        TestApp::passkey_error(start).await.as_deref(),
        Some(NO_PASSKEYS)
    );
    app.stored_passkey("alice", b"alice's key", "Phone").await;
    assert_eq!(waiting().await, Some(WaitingSignIn { passkey: true }));

    // Without the waiting sign-in's cookie there is no second step to answer.
    let no_challenge = app
        .passkey_call("start_passkey_second_factor", &[], None, None)
        .await;
    assert_eq!(no_challenge.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app_error(no_challenge).await, AppError::SignInExpired);
}

#[tokio::test]
async fn passkeys_are_off_where_the_site_is_served_from_an_ip_address() {
    let app = spawn_app_with(&[("PUBLIC_URL", "http://127.0.0.1:3000")]).await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let status: Value = app
        .call("passkeys", &[], Some(&session))
        .await
        .json()
        .await
        .unwrap();
    let reason = status["unavailable"].as_str().expect("a reason");
    assert!(reason.contains("localhost"), "{reason}");
    let start = app.call("start_passkey_sign_in", &[], None).await;
    assert_eq!(TestApp::passkey_error(start).await.as_deref(), Some(reason));
}

/// What this proves: the server asks the authenticator for user verification at sign-in, and
/// the ceremony state it keeps (which webauthn-rs checks the answer's UV flag against at the
/// finish) says "required". What it does not: that an answer without the UV flag is refused,
/// which needs an authenticator to sign one (webauthn-rs's own tests cover that check).
#[tokio::test]
async fn sign_in_options_and_the_kept_ceremony_require_user_verification() {
    let app = spawn_app().await;
    let (options, token) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
    assert_eq!(options["userVerification"], "required", "{options}");
    assert_eq!(options["rpId"], "localhost");
    let ceremony = app
        .store()
        .take_passkey_ceremony(&sha256(token.as_bytes()), "sign_in")
        .await
        .unwrap()
        .expect("the ceremony is kept");
    let state: Value = serde_json::from_str(&ceremony.state).unwrap();
    let policies: Vec<&Value> = find_key(&state, "policy");
    assert!(!policies.is_empty(), "no policy in the state: {state}");
    for policy in policies {
        assert_eq!(policy, "required", "{state}");
    }
}

/// Every value under `key` anywhere in `value`.
fn find_key<'v>(value: &'v Value, key: &str) -> Vec<&'v Value> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                let mut found = if k == key { vec![v] } else { vec![] };
                found.extend(find_key(v, key));
                found
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(|v| find_key(v, key)).collect(),
        _ => vec![],
    }
}

#[tokio::test]
async fn passkey_answers_count_against_the_sign_in_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN", "3/minute")]).await;
    app.register_ok("alice", "alice@example.com").await;
    let answer = [("credential", FORGED_ASSERTION), ("remember", "false")];
    // One wrong password and two passkey answers: the per-address allowance of three.
    assert_eq!(
        app.login("alice", "not the password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..2 {
        let (_, token) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
        let refused = app
            .passkey_call("finish_passkey_sign_in", &answer, None, Some(&token))
            .await;
        assert_eq!(
            TestApp::passkey_error(refused).await.as_deref(),
            Some(REFUSED)
        );
    }
    // The next passkey answer is limited, before its ceremony is even looked at...
    let (_, token) = app.start_ceremony("start_passkey_sign_in", &[], None).await;
    let limited = app
        .passkey_call("finish_passkey_sign_in", &answer, None, Some(&token))
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&limited, "retry-after").is_some());
    // ...and so is the password form, drawing on the same allowance.
    let password = app.login("alice", PASSWORD).await;
    assert_eq!(password.status(), StatusCode::TOO_MANY_REQUESTS);
}
