//! The mailed links, followed as a browser and an API client do, with the messages read from
//! a real SMTP server on loopback (`crate::smtp`): password reset, email verification in both
//! modes, change of address; the same-answer rules, single use, expiry (on the app's manual
//! clock), the limits, and what the link pages send back.

use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::*;
use crate::smtp::Received;

const PUBLIC_URL: &str = "https://gatehouse.links-test.example";
const NEW_PASSWORD: &str = "a completely new passphrase";
const RESET_SUBJECT: &str = "Reset your Gatehouse password";
const VERIFY_SUBJECT: &str = "Confirm your email address for Gatehouse";

async fn app_in(mode: &str) -> TestApp {
    spawn_app_with(&[("PUBLIC_URL", PUBLIC_URL), ("EMAIL_VERIFICATION", mode)]).await
}

/// The link in `mail`'s text part that opens `page`, as a path and query on the test app.
fn link_in(mail: &Received, page: &str) -> String {
    let text = mail.text();
    let prefix = format!("{PUBLIC_URL}{page}?");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {page} link in: {text}"));
    let link = text[start..].split_whitespace().next().unwrap();
    link.trim_start_matches(PUBLIC_URL).to_string()
}

impl TestApp {
    /// Follows a mailed link as a browser does: the page moves the token into a cookie and
    /// redirects to itself without it. Returns the `Cookie` header the browser then sends.
    async fn open_link(&self, link: &str) -> String {
        let res = self.get_page(link, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{link}");
        let page = link.split('?').next().unwrap();
        assert_eq!(header(&res, "location"), Some(page));
        assert_eq!(header(&res, "referrer-policy"), Some("no-referrer"));
        assert_eq!(header(&res, "cache-control"), Some("no-store"));
        let cookie = set_cookie_headers(res.headers())
            .into_iter()
            .find(|c| c.starts_with("gatehouse_"))
            .expect("a link cookie");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        cookie.split(';').next().unwrap().to_string()
    }

    /// A server function called from a link's page (its cookie), plus a session if any.
    async fn call_with_link(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        link_cookie: &str,
        session: Option<&str>,
    ) -> Response {
        let cookies = match session {
            Some(token) => format!("{link_cookie}; {}", session_header(self.cookie_name, token)),
            None => link_cookie.to_string(),
        };
        self.rpc(endpoint, form, None)
            .header(COOKIE, cookies)
            .send()
            .await
            .expect("request")
    }

    async fn request_reset(&self, email: &str) -> Response {
        self.call("request_password_reset", &[("email", email)], None)
            .await
    }

    async fn reset_with(&self, link_cookie: &str, password: &str) -> Response {
        let form = [
            ("new_password", password),
            ("new_password_confirm", password),
        ];
        self.call_with_link("reset_password", &form, link_cookie, None)
            .await
    }

    /// Asks for a reset link for `email` and returns its cookie, once the mail is in.
    async fn reset_link_cookie(&self, email: &str) -> String {
        let res = self.request_reset(email).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mail = self.mailbox.next_for(email).await;
        assert_eq!(mail.subject(), RESET_SUBJECT);
        self.open_link(&link_in(&mail, "/reset-password")).await
    }

    async fn verification_mail(&self, email: &str) -> Received {
        let mail = self.mailbox.next_for(email).await;
        assert_eq!(mail.subject(), VERIFY_SUBJECT);
        mail
    }

    async fn email_verified(&self, username: &str) -> bool {
        self.stored_user(username)
            .await
            .unwrap()
            .email_verified_at
            .is_some()
    }
}

/// Everything of an answer that could tell two cases apart: status, the headers but the
/// request id, and the body.
async fn fingerprint(res: Response) -> (StatusCode, Vec<(String, String)>, String) {
    let status = res.status();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    headers.sort();
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_ends_every_session_and_token_and_tells_the_owner() {
    let app = app_in("optional").await;
    let session = app.register_ok("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;
    let jwt = app.access_token("alice").await;

    let cookie = app.reset_link_cookie("alice@example.com").await;
    // The page behind the link knows the account and says nothing to other sites.
    let page = app
        .client
        .get(app.url("/reset-password"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&page, "referrer-policy"), Some("no-referrer"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Choose a new password"), "{html}");
    assert!(html.contains("alice"), "{html}");

    // A password the policy refuses leaves the link working for the next try.
    let refused = app.reset_with(&cookie, "short").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app_error(refused).await.field("new_password").is_some());

    let res = app.reset_with(&cookie, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "location"),
        Some("/login?notice=password-reset")
    );
    // The link's cookie is dropped with the work done.
    let dropped = set_cookie(&res, "gatehouse_reset_link").expect("a removal");
    assert!(dropped.contains("Max-Age=0"), "{dropped}");

    // Every session and access token of the account has ended.
    assert_eq!(app.current_username(&session).await, None);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // The link reached the address: it counts as confirmed.
    assert!(app.email_verified("alice").await);

    let notice = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(notice.subject(), "Your Gatehouse password was changed");
    assert!(notice.text().contains("other devices were signed out"));

    // Used once, the link is dead.
    let again = app.reset_with(&cookie, "yet another passphrase").await;
    assert_eq!(
        app_error(again).await,
        gatehouse::model::AppError::LinkInvalid
    );
    let user_id = app.stored_user("alice").await.unwrap().id;
    let activity: Vec<String> = app
        .store()
        .audit_events_of(user_id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.event.kind)
        .collect();
    assert!(activity.contains(&"password_reset.requested".to_string()));
    assert!(activity.contains(&"password_reset.completed".to_string()));
}

#[tokio::test]
async fn a_reset_request_answers_the_same_for_a_known_and_an_unknown_address() {
    let app = app_in("optional").await;
    app.register_ok("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;

    let known = fingerprint(app.request_reset("alice@example.com").await).await;
    let unknown = fingerprint(app.request_reset("nobody@example.com").await).await;
    assert_eq!(known.0, StatusCode::OK);
    assert_eq!(known, unknown);
    // The same through the API, and without JavaScript.
    let api_known = fingerprint(
        app.post_json(
            "/api/v1/password-reset",
            &json!({"email": "alice@example.com"}),
        )
        .await,
    )
    .await;
    let api_unknown = fingerprint(
        app.post_json(
            "/api/v1/password-reset",
            &json!({"email": "nobody@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(api_known.0, StatusCode::ACCEPTED);
    assert_eq!(api_known, api_unknown);
    let app = &app;
    let plain = |email: &'static str| async move {
        app.post_plain_form(
            "request_password_reset",
            &[("email", email)],
            "/forgot-password",
            None,
        )
        .await
    };
    let (plain_known, plain_unknown) = (
        plain("alice@example.com").await,
        plain("x@example.com").await,
    );
    assert!(plain_known.status().is_redirection());
    assert_eq!(
        header(&plain_known, "location"),
        Some("/forgot-password?sent=1")
    );
    assert_eq!(
        fingerprint(plain_known).await,
        fingerprint(plain_unknown).await
    );

    // Only the known address got mail: three requests, three links, and the per-address
    // limit (3/hour) has taken the fourth without a word.
    for _ in 0..3 {
        assert_eq!(
            app.mailbox.next_for("alice@example.com").await.subject(),
            RESET_SUBJECT
        );
    }
    let fourth = app.request_reset("alice@example.com").await;
    assert_eq!(fourth.status(), StatusCode::OK);
    // A bad address is a field error, said as such.
    let bad = app.request_reset("not an address").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app_error(bad).await.field("email").is_some());
    let api_bad = app
        .post_json("/api/v1/password-reset", &json!({"email": "@"}))
        .await;
    assert_eq!(api_bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.mailbox.waiting_for("nobody@example.com"), 0);
    assert_eq!(app.mailbox.waiting_for("x@example.com"), 0);
}

#[tokio::test]
async fn a_reset_link_dies_after_thirty_minutes_a_newer_link_or_a_password_change() {
    let app = app_in("optional").await;
    app.register_ok("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;

    // Expiry, on the app's clock.
    let cookie = app.reset_link_cookie("alice@example.com").await;
    app.clock.advance(30 * 60);
    let expired = app.reset_with(&cookie, NEW_PASSWORD).await;
    assert_eq!(expired.status(), StatusCode::GONE);
    let page = app
        .client
        .get(app.url("/reset-password"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("This link no longer works"));

    // A newer link replaces an older one.
    let older = app.reset_link_cookie("alice@example.com").await;
    let newer = app.reset_link_cookie("alice@example.com").await;
    assert_eq!(
        app.reset_with(&older, NEW_PASSWORD).await.status(),
        StatusCode::GONE
    );

    // A password changed by another route kills the link. (A fresh session: the first one
    // idled out while the clock moved on.)
    let session = app.login_ok("alice").await;
    let res = app
        .call(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
            Some(&session),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.reset_with(&newer, "yet another passphrase")
            .await
            .status(),
        StatusCode::GONE
    );
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_link_page_takes_only_well_formed_tokens_and_never_logs_them() {
    let logs = crate::logs::capture_logs();
    let app = app_in("optional").await;
    app.register_ok("alice", "alice@example.com").await;
    let mail = app.verification_mail("alice@example.com").await;
    let link = link_in(&mail, "/verify-email");
    let token = link.split("token=").nth(1).unwrap().to_string();
    app.open_link(&link).await;

    // A token of the wrong shape gets no cookie, and the page says the link does not work.
    let junk = app.get_page("/verify-email?token=junk", None).await;
    assert_eq!(junk.status(), StatusCode::SEE_OTHER);
    let removal = set_cookie(&junk, "gatehouse_email_link").unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // The other pages keep the site's policy.
    assert_eq!(
        header(&app.get_page("/login", None).await, "referrer-policy"),
        Some("same-origin")
    );
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("/verify-email"), "the requests were logged");
    assert!(!logged.contains(&token), "a link token reached the logs");
}

#[tokio::test]
async fn optional_verification_signs_in_at_once_and_confirms_with_a_post_once() {
    let app = app_in("optional").await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let me: serde_json::Value = app.me(&jwt).await.json().await.unwrap();
    assert_eq!(me["email_verified"], false);

    let mail = app.verification_mail("alice@example.com").await;
    assert!(mail.text().contains("within 24 hours"));
    let cookie = app.open_link(&link_in(&mail, "/verify-email")).await;
    // Opening the page confirms nothing (mail scanners open links).
    let page = app
        .client
        .get(app.url("/verify-email"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Confirm your email address"), "{html}");
    assert!(html.contains("alice@example.com"), "{html}");
    assert!(!app.email_verified("alice").await);

    let res = app
        .call_with_link("confirm_email", &[], &cookie, Some(&session))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "location"),
        Some("/account?notice=email-confirmed")
    );
    assert!(app.email_verified("alice").await);
    let me: serde_json::Value = app.me(&jwt).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    // Once only.
    let again = app
        .call_with_link("confirm_email", &[], &cookie, None)
        .await;
    assert_eq!(again.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_resend_replaces_the_link_and_is_limited_per_account() {
    let app = spawn_app_with(&[
        ("PUBLIC_URL", PUBLIC_URL),
        ("RATE_LIMIT_MAIL_RECIPIENT", "2/hour"),
    ])
    .await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let first = link_in(
        &app.verification_mail("alice@example.com").await,
        "/verify-email",
    );
    let res = app.call("resend_verification", &[], Some(&session)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = link_in(
        &app.verification_mail("alice@example.com").await,
        "/verify-email",
    );
    assert_ne!(first, second);
    let old = app.open_link(&first).await;
    assert_eq!(
        app.call_with_link("confirm_email", &[], &old, None)
            .await
            .status(),
        StatusCode::GONE
    );
    // The account's own limit says so (it is the person's own account).
    app.call("resend_verification", &[], Some(&session)).await;
    let limited = app.call("resend_verification", &[], Some(&session)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn required_verification_answers_alike_for_a_taken_address_and_tells_its_owner() {
    let app = app_in("required").await;
    let new = app.register("alice", "alice@example.com").await;
    assert_eq!(new.status(), StatusCode::OK);
    assert_eq!(header(&new, "location"), Some("/register?sent=1"));
    assert!(
        session_token_from(&new, app.cookie_name).is_none(),
        "no session"
    );
    let verification = app.verification_mail("alice@example.com").await;

    // The same address again (another username): the same answer, byte for byte.
    let new_fp = fingerprint(app.register("carol", "carol@example.com").await).await;
    let taken_fp = fingerprint(app.register("mallory", "Alice@Example.com").await).await;
    assert_eq!(new_fp, taken_fp);
    let owner_mail = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(
        owner_mail.subject(),
        "Someone tried to sign up with your email address"
    );
    assert!(owner_mail
        .text()
        .contains(&format!("{PUBLIC_URL}/forgot-password")));
    assert!(app.stored_user("mallory").await.is_none());
    // The API's answer is alike too.
    let body =
        |name: &str, email: &str| json!({"username": name, "email": email, "password": PASSWORD});
    let api_new = fingerprint(
        app.post_json("/api/v1/users", &body("dave", "dave@example.com"))
            .await,
    )
    .await;
    let api_taken = fingerprint(
        app.post_json("/api/v1/users", &body("eve", "alice@example.com"))
            .await,
    )
    .await;
    assert_eq!(api_new.0, StatusCode::ACCEPTED);
    assert_eq!(api_new, api_taken);
    // A taken username may still be said.
    let name_taken = app.register("alice", "other@example.com").await;
    assert_eq!(name_taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app_error(name_taken).await.field("username").is_some());

    // Signing in waits for the confirmation (the right password is told so; a wrong one
    // is just wrong), and so does the password grant.
    let early = app.login("alice", PASSWORD).await;
    assert_eq!(early.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app_error(early).await,
        gatehouse::model::AppError::EmailNotVerified
    );
    assert_eq!(
        app.login("alice", "not the password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(
        app.password_grant("alice", PASSWORD).await.status(),
        StatusCode::OK
    );

    // Following the link signs the new account in.
    let cookie = app
        .open_link(&link_in(&verification, "/verify-email"))
        .await;
    let res = app
        .call_with_link("confirm_email", &[], &cookie, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "location"),
        Some("/account?notice=email-confirmed")
    );
    let session = session_token_from(&res, app.cookie_name).expect("signed in");
    assert_eq!(
        app.current_username(&session).await.as_deref(),
        Some("alice")
    );
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_link_by_address_answers_alike_and_goes_only_to_an_unconfirmed_account() {
    let app = app_in("required").await;
    app.register("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;
    let app = &app;
    let ask = |email: &'static str| async move {
        app.call("request_verification_link", &[("email", email)], None)
            .await
    };
    let known = fingerprint(ask("alice@example.com").await).await;
    let unknown = fingerprint(ask("nobody@example.com").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::OK);
    let mail = app.verification_mail("alice@example.com").await;
    let cookie = app.open_link(&link_in(&mail, "/verify-email")).await;
    assert_eq!(
        app.call_with_link("confirm_email", &[], &cookie, None)
            .await
            .status(),
        StatusCode::OK
    );
    // Confirmed now: no more links for it.
    ask("alice@example.com").await;
    app.request_reset("alice@example.com").await;
    assert_eq!(
        app.mailbox.next_for("alice@example.com").await.subject(),
        RESET_SUBJECT,
        "the confirmed account got no new confirmation link"
    );
}

#[tokio::test]
async fn a_change_of_address_needs_the_password_waits_for_the_new_address_and_tells_the_old() {
    let app = app_in("optional").await;
    let session = app.register_ok("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;
    app.register_ok("bob", "bob@example.com").await;
    app.verification_mail("bob@example.com").await;
    let change = |email: &'static str, password: &'static str| {
        let session = session.clone();
        let app = &app;
        async move {
            app.call(
                "change_email",
                &[("new_email", email), ("password", password)],
                Some(&session),
            )
            .await
        }
    };

    let wrong = change("alice@new.example", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app_error(wrong).await.field("password").is_some());
    let same = change("ALICE@example.com", PASSWORD).await;
    assert_eq!(
        app_error(same).await.field("new_email").as_deref(),
        Some(gatehouse::model::forms::SAME_EMAIL)
    );

    // Bob's address: the same answer as a free one, and no mail to anybody.
    let taken = fingerprint(change("bob@example.com", PASSWORD).await).await;
    let free = change("alice@new.example", PASSWORD).await;
    assert_eq!(
        header(&free, "location"),
        Some("/account?notice=email-change-sent")
    );
    assert_eq!(taken, fingerprint(free).await);

    let mail = app.mailbox.next_for("alice@new.example").await;
    assert_eq!(
        mail.subject(),
        "Confirm your new email address for Gatehouse"
    );
    assert_eq!(app.mailbox.waiting_for("bob@example.com"), 0);
    // Nothing changes until the link is followed.
    assert_eq!(
        app.stored_user("alice").await.unwrap().email,
        "alice@example.com"
    );
    let cookie = app.open_link(&link_in(&mail, "/verify-email")).await;
    let page = app
        .client
        .get(app.url("/verify-email"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Confirm your new email address"));
    let res = app
        .call_with_link("confirm_email", &[], &cookie, Some(&session))
        .await;
    assert_eq!(
        header(&res, "location"),
        Some("/account?notice=email-changed")
    );
    let user = app.stored_user("alice").await.unwrap();
    assert_eq!(user.email, "alice@new.example");
    assert!(user.email_verified_at.is_some());

    let told = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(told.subject(), "Your Gatehouse email address was changed");
    assert!(told.text().contains("alice@new.example"));
    assert_eq!(
        app.login("alice@new.example", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn mail_requests_are_limited_per_client_address() {
    let app = spawn_app_with(&[("RATE_LIMIT_MAIL", "2/hour")]).await;
    for _ in 0..2 {
        assert_eq!(
            app.request_reset("someone@example.com").await.status(),
            StatusCode::OK
        );
    }
    let limited = app.request_reset("someone.else@example.com").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let api = app
        .post_json(
            "/api/v1/password-reset",
            &json!({"email": "third@example.com"}),
        )
        .await;
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_reset_form_posted_without_javascript_comes_back_to_its_page_with_the_link() {
    let app = app_in("optional").await;
    app.register_ok("alice", "alice@example.com").await;
    app.verification_mail("alice@example.com").await;
    let cookie = app.reset_link_cookie("alice@example.com").await;
    let plain = |password: &'static str| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            app.rpc(
                "reset_password",
                &[
                    ("new_password", password),
                    ("new_password_confirm", password),
                ],
                None,
            )
            .header(COOKIE, cookie)
            .header(reqwest::header::ACCEPT, "text/html")
            .header(reqwest::header::REFERER, app.url("/reset-password"))
            .send()
            .await
            .unwrap()
        }
    };
    let refused = plain("short").await;
    assert!(refused.status().is_redirection());
    let back = header(&refused, "location").unwrap().to_string();
    assert!(back.starts_with("/reset-password?"), "{back}");
    // The page it comes back to still has the link (in the cookie) and shows the error.
    let page = app
        .client
        .get(app.url(&back))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Use at least 8 characters."), "{html}");
    let done = plain(NEW_PASSWORD).await;
    assert!(done.status().is_redirection());
    assert_eq!(
        done.headers().get(LOCATION).unwrap(),
        "/login?notice=password-reset"
    );
}

#[tokio::test]
async fn a_confirmation_posted_without_javascript_signs_in_and_redirects_to_the_account() {
    let app = app_in("required").await;
    app.register("alice", "alice@example.com").await;
    let mail = app.verification_mail("alice@example.com").await;
    let cookie = app.open_link(&link_in(&mail, "/verify-email")).await;
    let res = app
        .rpc("confirm_email", &[], None)
        .header(COOKIE, &cookie)
        .header(reqwest::header::ACCEPT, "text/html")
        .header(reqwest::header::REFERER, app.url("/verify-email"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        header(&res, "location"),
        Some("/account?notice=email-confirmed")
    );
    let session = session_token_from(&res, app.cookie_name).expect("signed in");
    let dropped = set_cookie(&res, "gatehouse_email_link").expect("the link cookie dropped");
    assert!(dropped.contains("Max-Age=0"), "{dropped}");
    let account = app.get_page("/account", Some(&session)).await;
    assert_eq!(account.status(), StatusCode::OK);
    // A second plain post finds the link gone and comes back to its page with the error.
    let again = app
        .rpc("confirm_email", &[], None)
        .header(COOKIE, &cookie)
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert!(again.status().is_redirection());
    assert!(header(&again, "location")
        .unwrap()
        .starts_with("/verify-email?"));
}

#[tokio::test]
async fn recipient_limit_keys_in_redis_and_the_logs_never_name_the_address() {
    let captured = crate::logs::capture_logs();
    let (redis, prefix) = (redis_url(), unique_prefix());
    let app = spawn_app_with(&[
        ("PUBLIC_URL", PUBLIC_URL),
        ("EMAIL_VERIFICATION", "optional"),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("RATE_LIMIT_MAIL_RECIPIENT", "1/hour"),
    ])
    .await;
    assert_eq!(
        app.limits().ping().await,
        Some(Ok(())),
        "this test needs Redis at {redis}"
    );
    // The username has nothing of the address: it may be logged, the address may not.
    app.register_ok("bob", "Alice.Smith@example.com").await;
    app.verification_mail("Alice.Smith@example.com").await;
    // A link for a known and for an unknown address, then the known one past its limit.
    for email in [
        "Alice.Smith@example.com",
        "carol.jones@example.org",
        "alice.smith@example.com",
    ] {
        assert_eq!(app.request_reset(email).await.status(), StatusCode::OK);
    }
    assert_eq!(
        app.mailbox
            .next_for("Alice.Smith@example.com")
            .await
            .subject(),
        RESET_SUBJECT
    );
    // The limiter runs after the answer: wait until both recipients have their key.
    let client = ::redis::Client::open(redis.as_str()).unwrap();
    let mut conn = within(
        "a Redis connection",
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap();
    let keys = within("both recipient keys in Redis", async {
        loop {
            let keys: Vec<String> = ::redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            if keys.iter().filter(|k| k.contains("to:")).count() >= 2 {
                break keys;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    for part in ["alice", "smith", "carol", "jones", "example.org"] {
        for key in &keys {
            assert!(
                !key.to_lowercase().contains(part),
                "{part} in Redis key {key}"
            );
        }
        for line in logs.lines() {
            assert!(!line.to_lowercase().contains(part), "{part} logged: {line}");
        }
    }
    // The capture works: the reset requests were logged.
    assert!(logs.contains("password_reset"), "{logs}");
}
