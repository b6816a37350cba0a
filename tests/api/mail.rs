//! Outgoing mail, read from a real SMTP server on loopback (`crate::smtp`): the
//! password-changed notice, links made from `PUBLIC_URL` only, answers that never wait for the
//! relay, retries, shutdown, and logs that name messages but not their recipients.

use std::time::Duration;

use reqwest::header::{HOST, USER_AGENT};
use reqwest::{Response, StatusCode};

use crate::helpers::*;
use crate::logs::capture_logs;

/// Nothing like the address the test app listens on, so a link made from anything else shows.
const PUBLIC_URL: &str = "https://gatehouse.mail-test.example";
const NEW_PASSWORD: &str = "a completely new passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
/// Bounds a request that should never wait on the relay; only a failing test reaches it.
const ANSWER_LIMIT: Duration = Duration::from_secs(30);

impl TestApp {
    /// Signs up (signed in: verification is optional here) and takes the confirmation mail
    /// that sign-up sends, so the tests below see only the mail they cause.
    async fn signed_up(&self, username: &str, email: &str) -> String {
        let token = self.register_ok(username, email).await;
        let confirmation = self.mailbox.next_for(email).await;
        assert_eq!(
            confirmation.subject(),
            "Confirm your email address for Gatehouse"
        );
        token
    }

    /// Changes the password from Firefox, through a request whose `Host` header names another
    /// site (as a forged request, or a misconfigured proxy, would).
    async fn change_password_from_firefox(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> Response {
        self.rpc(
            "change_password",
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_confirm", new),
            ],
            Some(token),
        )
        .header(HOST, "attacker.example")
        .header(USER_AGENT, FIREFOX)
        .send()
        .await
        .expect("request")
    }
}

#[tokio::test]
async fn a_password_change_mails_the_owner_a_notice_whose_link_comes_from_public_url_not_host() {
    let app = spawn_app_with(&[("PUBLIC_URL", PUBLIC_URL)]).await;
    let token = app.signed_up("alice", "alice@example.com").await;
    let res = app
        .change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let mail = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(mail.envelope_to, ["alice@example.com"]);
    assert_eq!(mail.envelope_from, "no-reply@gatehouse.mail-test.example");
    assert_eq!(mail.subject(), "Your Gatehouse password was changed");
    assert_eq!(
        mail.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    let (text, html) = (mail.text(), mail.html());
    for part in [&text, &html] {
        assert!(part.contains("Hello alice,"), "{part}");
        assert!(part.contains("Firefox on Linux (127.0.0.1)"), "{part}");
        // The app's manual clock: 2027-01-15 08:00:00 UTC.
        assert!(part.contains("15 January 2027 at 08:00 UTC"), "{part}");
        assert!(part.contains("other devices were signed out"), "{part}");
    }
    assert!(text.contains(&format!("{PUBLIC_URL}/login")), "{text}");
    assert!(
        html.contains(&format!(r#"href="{PUBLIC_URL}/login""#)),
        "{html}"
    );
    // Nothing in the message comes from the request's Host or the address it reached.
    let raw = String::from_utf8_lossy(&mail.data).into_owned();
    let listening = app.address.trim_start_matches("http://");
    for part in [&text, &html, &raw] {
        assert!(!part.contains("attacker.example"), "{part}");
        assert!(!part.contains(listening), "{part}");
    }
    // Signing up sent its confirmation; the change sent exactly this.
    assert_eq!(app.mailbox.waiting(), 0);
    assert_eq!(app.mailbox.attempts(), 2);
}

#[tokio::test]
async fn the_answer_does_not_wait_for_the_relay() {
    let app = spawn_app().await;
    let token = app.signed_up("alice", "alice@example.com").await;
    // The relay takes the connection and then says nothing until the test lets it.
    let held = app.mailbox.hold_next();
    let res = tokio::time::timeout(
        ANSWER_LIMIT,
        app.change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD),
    )
    .await
    .expect("the answer came while the relay was holding the message");
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = session_token_from(&res, app.cookie_name).expect("a new session");
    assert_eq!(
        app.current_username(&renewed).await.as_deref(),
        Some("alice")
    );
    // The message is on its way, held at the relay; let it go and it arrives.
    within("the message reaches the relay", held.entered.notified()).await;
    assert_eq!(app.mailbox.waiting(), 0);
    held.release.notify_one();
    let mail = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(mail.subject(), "Your Gatehouse password was changed");
}

#[tokio::test]
async fn a_transient_refusal_is_retried_until_the_message_arrives() {
    let app = spawn_app().await;
    let token = app.signed_up("alice", "alice@example.com").await;
    app.mailbox.refuse_next("451 4.3.0 Try again later");
    let res = app
        .change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mail = app.mailbox.next_for("alice@example.com").await;
    assert_eq!(mail.subject(), "Your Gatehouse password was changed");
    // The sign-up's confirmation, then the notice: refused once, accepted once.
    assert_eq!(app.mailbox.attempts(), 3);
    assert_eq!(app.state.mailer.failed(), 0);
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retried_and_changes_nothing_for_the_person() {
    let app = spawn_app().await;
    let token = app.signed_up("alice", "alice@example.com").await;
    app.mailbox.refuse_next("550 5.7.1 Relaying denied");
    let res = app
        .change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD)
        .await;
    // The same answer as when the mail goes out: the page says nothing about mail.
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = session_token_from(&res, app.cookie_name).expect("a new session");
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );

    // A second change's notice arrives; the first was given up after its one refusal.
    let res = app
        .change_password_from_firefox(&renewed, NEW_PASSWORD, "yet another passphrase")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.mailbox.next_for("alice@example.com").await;
    // The sign-up's confirmation, then one attempt per notice.
    assert_eq!(app.mailbox.attempts(), 3);
    assert_eq!(app.state.mailer.failed(), 1);
}

#[tokio::test]
async fn a_shutdown_delivers_the_mail_that_requests_queued_before_it() {
    let app = spawn_app().await;
    let token = app.signed_up("alice", "alice@example.com").await;
    let held = app.mailbox.hold_next();
    let res = app
        .change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    within("the message reaches the relay", held.entered.notified()).await;
    // Stopped while the message is still at the relay's door…
    let server = app.stop();
    held.release.notify_one();
    tokio::time::timeout(ANSWER_LIMIT, server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    // …the server finished only once the message was through.
    assert_eq!(app.mailbox.waiting_for("alice@example.com"), 1);
}

#[tokio::test]
async fn mail_logs_name_the_message_and_request_never_the_recipient() {
    let captured = capture_logs();
    let app = spawn_app().await;
    let token = app.signed_up("alice", "alice@example.com").await;
    // Relays often repeat the address in their replies; that text must not reach the log.
    app.mailbox
        .refuse_next("451 4.2.1 <alice@example.com>: mailbox busy, try again later");
    let res = app
        .change_password_from_firefox(&token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let request_id = header(&res, "x-request-id")
        .expect("a request id")
        .to_string();
    let mail = app.mailbox.next_for("alice@example.com").await;
    let message_id = mail
        .parsed()
        .message_id()
        .expect("a Message-ID")
        .to_string();
    // The delivery logs once the relay has answered, which may be just after the message
    // arrived; a stop waits for every delivery.
    app.stop().await.unwrap().unwrap();

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    let retry = logs
        .lines()
        .find(|line| line.contains("mail.retry"))
        .unwrap_or_else(|| panic!("no retry logged:\n{logs}"));
    assert!(retry.contains("451"), "{retry}");
    let sent = logs
        .lines()
        .find(|line| line.contains("mail.sent") && line.contains("password_changed"))
        .unwrap_or_else(|| panic!("no delivery logged:\n{logs}"));
    for name in [message_id.as_str(), request_id.as_str(), "password_changed"] {
        assert!(sent.contains(name), "{name} missing: {sent}");
    }
    assert!(
        !logs.contains("alice@example.com"),
        "address in logs:\n{logs}"
    );
}
