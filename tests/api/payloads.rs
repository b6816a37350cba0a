//! A corpus of hostile payloads (SQL, markup and script, CRLF, path traversal, overlong and
//! invalid UTF-8, NUL, very long text) sent to every form field of every server function, to
//! every JSON API parameter and to the query parameters the pages read. Every answer must be a
//! 4xx with a clear error or a normal result: never a 5xx, never a database message, never the
//! payload's markup reflected unescaped, never a header of the payload's making.
//!
//! `rpc_fuzz` throws random bodies at the same functions; this sends the named payloads that
//! attacks actually use, in well-formed requests, so they reach the validators and the queries.

use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Each payload as text (for JSON and percent-encoded forms), with a name for the failure
/// message.
fn corpus() -> Vec<(&'static str, String)> {
    vec![
        ("sql quote", "' OR '1'='1' --".into()),
        ("sql stacked", "alice'; DROP TABLE users; --".into()),
        (
            "sql union",
            "x\" UNION SELECT password_hash FROM users --".into(),
        ),
        ("script", "<script>alert(1)</script>".into()),
        (
            "attribute breakout",
            "\"><img src=x onerror=alert(1)>".into(),
        ),
        (
            "crlf header",
            "x\r\nX-Injected: yes\r\nSet-Cookie: injected=1".into(),
        ),
        ("path traversal", "../../../../etc/passwd".into()),
        ("encoded traversal", "%2e%2e%2f%2e%2e%2fetc%2fpasswd".into()),
        ("nul", "alice\u{0}admin".into()),
        ("control characters", "\u{1b}[31m\u{7}\u{8}red".into()),
        ("right-to-left override", "admin\u{202e}gnp.exe".into()),
        ("long", "a".repeat(8_000)),
    ]
}

/// Byte strings no text encoder would produce, written raw into a form body.
const RAW_FORM_VALUES: [(&str, &str); 3] = [
    ("overlong utf-8", "%C0%AF%C0%AE%E0%80%AF"),
    ("invalid utf-8", "%FF%FE%FD"),
    ("lone surrogate (CESU)", "%ED%A0%80"),
];

/// Every field name any form posts.
const FIELDS: [&str; 18] = [
    "username",
    "email",
    "password",
    "password_confirm",
    "next",
    "name",
    "expires_in_days",
    "current_password",
    "new_password",
    "new_password_confirm",
    "confirm_username",
    "new_email",
    "id",
    "remember",
    "keep_other_sessions",
    "scopes",
    "code",
    "credential",
];

/// What no answer may contain: database and library messages, or a file the traversal
/// reached.
const FORBIDDEN: [&str; 8] = [
    "sqlx",
    "SQLITE",
    "syntax error",
    "violates",
    "constraint",
    "pg_",
    "panicked",
    "root:x:0:0",
];

/// What no HTML answer may contain: the payloads' markup as it was sent. (Escaped copies are
/// text, and so is JSON, which is never sniffed as HTML: `nosniff` on every answer.)
const FORBIDDEN_IN_HTML: [&str; 2] = ["<script>alert(1)</script>", "<img src=x onerror"];

async fn check(res: Response, what: &str) {
    let status = res.status();
    let injected = res.headers().get("x-injected").is_some()
        || set_cookie_headers(res.headers())
            .iter()
            .any(|c| c.starts_with("injected="));
    let html = header(&res, "content-type").is_some_and(|t| t.starts_with("text/html"));
    let body = res.text().await.unwrap_or_default();
    assert!(!status.is_server_error(), "{what}: {status}: {body}");
    assert!(!injected, "{what}: a header of the payload's making");
    let html_only: &[&str] = if html { &FORBIDDEN_IN_HTML } else { &[] };
    let searched = without_random_credentials(&body);
    for forbidden in FORBIDDEN.iter().chain(html_only) {
        assert!(
            !searched.contains(forbidden),
            "{what}: the answer contains {forbidden:?}: {body}"
        );
    }
}

/// `body` without the random values a successful answer carries (a new key's secret and
/// prefix, an access token, a passkey challenge or user handle, a form's CSRF token): random
/// text can spell anything, "pg_" included (a key prefix ending in `pg` failed one run, a
/// passkey challenge holding `pg_` another), so only what the app wrote itself is searched.
fn without_random_credentials(body: &str) -> String {
    without_opaque_tokens(&without_credential_fields(body))
}

/// Drops every run of URL-safe base64 characters at least 16 long that mixes lower case, upper
/// case and digits: what random tokens look like, and what no database or library message does
/// (`pg_stat_activity`, `SQLITE_CONSTRAINT` and `syntax error` all stay and are searched).
fn without_opaque_tokens(text: &str) -> String {
    fn is_token_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    }
    fn is_random(run: &str) -> bool {
        run.len() >= 16
            && run.chars().any(|c| c.is_ascii_lowercase())
            && run.chars().any(|c| c.is_ascii_uppercase())
            && run.chars().any(|c| c.is_ascii_digit())
    }
    // Each piece is a run of token characters and the one separator after it (none at the end).
    text.split_inclusive(|c: char| !is_token_char(c))
        .map(|piece| {
            let run = piece.trim_end_matches(|c: char| !is_token_char(c));
            if is_random(run) {
                &piece[run.len()..]
            } else {
                piece
            }
        })
        .collect()
}

/// `body` without the credential fields of a JSON answer (a key's prefix is only 8 characters
/// of lower case and digits, too short for [`without_opaque_tokens`] to know it).
fn without_credential_fields(body: &str) -> String {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(fields) => {
                for key in ["secret", "prefix", "access_token"] {
                    fields.remove(key);
                }
                fields.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut json) => {
            strip(&mut json);
            json.to_string()
        }
        Err(_) => body.to_string(),
    }
}

fn form_body(value: &str) -> String {
    FIELDS
        .iter()
        .map(|field| format!("{field}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

async fn lifted_limits_app() -> TestApp {
    spawn_app_with(&[
        ("RATE_LIMIT_GLOBAL", "1000000/minute"),
        ("RATE_LIMIT_LOGIN", "1000000/minute"),
        ("RATE_LIMIT_REGISTER", "1000000/minute"),
        ("RATE_LIMIT_MAIL", "1000000/minute"),
    ])
    .await
}

#[tokio::test]
async fn every_server_function_answers_every_payload_in_every_field_cleanly() {
    let app = lifted_limits_app().await;
    app.register_ok("target", "target@example.com").await;
    let mut paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    paths.sort_unstable();
    let encoded: Vec<(&str, String)> = corpus()
        .into_iter()
        .map(|(name, text)| (name, form_urlencoded(&text)))
        .chain(RAW_FORM_VALUES.iter().map(|(n, v)| (*n, v.to_string())))
        .collect();
    for path in &paths {
        for (name, value) in &encoded {
            // Signed in (a fresh session: a payload may have signed the last one out) and
            // not; as the hydrated page and as a form without JavaScript.
            for (signed_in, plain) in [(true, false), (false, true)] {
                let mut req = app
                    .client
                    .post(app.url(path))
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form_body(value));
                if signed_in {
                    let token = app.login_ok("target").await;
                    req = req.header(COOKIE, session_header(app.cookie_name, &token));
                }
                if plain {
                    req = req.header(ACCEPT, "text/html");
                }
                let res = req.send().await.expect("request");
                check(res, &format!("{path} with {name} (signed in: {signed_in})")).await;
            }
        }
    }
}

#[tokio::test]
async fn every_api_parameter_answers_every_payload_cleanly() {
    let app = lifted_limits_app().await;
    app.register_ok("target", "target@example.com").await;
    let jwt = app.access_token("target").await;
    for (name, payload) in corpus() {
        for field in ["username", "email", "password"] {
            let mut body = json!({"username": "someone", "email": "someone@example.com", "password": PASSWORD});
            body[field] = json!(payload);
            let res = app.post_json("/api/v1/users", &body).await;
            check(res, &format!("POST /api/v1/users {field}={name}")).await;
        }
        let res = app
            .post_json("/api/v1/password-reset", &json!({ "email": payload }))
            .await;
        check(res, &format!("POST /api/v1/password-reset {name}")).await;
        for (field, value) in [
            ("username", payload.as_str()),
            ("password", payload.as_str()),
            ("client_id", payload.as_str()),
        ] {
            let mut form = vec![
                ("grant_type", "password"),
                ("username", "target"),
                ("password", PASSWORD),
            ];
            form.retain(|(k, _)| *k != field);
            form.push((field, value));
            let res = app.token(&form).await;
            check(res, &format!("POST /api/v1/token {field}={name}")).await;
        }
        let res = app
            .post_json_with_bearer(
                "/api/v1/keys",
                &jwt,
                &json!({"name": payload, "password": PASSWORD}),
            )
            .await;
        check(res, &format!("POST /api/v1/keys name={name}")).await;
        let res = app
            .client
            .delete(app.url(&format!("/api/v1/keys/{}", form_urlencoded(&payload))))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap();
        check(res, &format!("DELETE /api/v1/keys/{name}")).await;
        // As a credential: a bearer value with markup or CRLF is refused, not echoed.
        if !payload.contains(['\r', '\n', '\u{0}', '\u{1b}', '\u{7}', '\u{8}'])
            && payload.is_ascii()
        {
            let res = app.get_with_bearer("/api/v1/users/me", &payload).await;
            check(res, &format!("GET /api/v1/users/me bearer {name}")).await;
        }
    }
}

#[tokio::test]
async fn the_query_parameters_pages_read_answer_every_payload_cleanly() {
    let app = lifted_limits_app().await;
    for (name, payload) in corpus() {
        let value = form_urlencoded(&payload);
        for path in [
            format!("/login?next={value}"),
            format!("/login/two-factor?next={value}&method={value}"),
            format!("/account/recovery-codes?notice={value}"),
            format!("/?notice={value}"),
            format!("/register?sent={value}"),
            format!("/forgot-password?sent={value}"),
            format!("/verify-email?token={value}"),
            format!("/reset-password?token={value}"),
            format!("/account?notice={value}"),
        ] {
            let res = app.get_page(&path, None).await;
            let status = res.status();
            assert!(
                status.is_success() || status.is_redirection() || status == StatusCode::NOT_FOUND,
                "{path} ({name}): {status}"
            );
            check(res, &format!("GET {path} ({name})")).await;
        }
    }
}

/// An API key's name is the person's text, and the account page hands the key list to its
/// island as JSON in an attribute (`data-props`): every payload the key API accepts must come
/// back escaped, never as markup.
#[tokio::test]
async fn hostile_key_names_reach_the_account_page_island_as_text() {
    let app = lifted_limits_app().await;
    let session = app.register_ok("target", "target@example.com").await;
    let jwt = app.access_token("target").await;
    let mut accepted = Vec::new();
    for (name, payload) in corpus() {
        let res = app
            .post_json_with_bearer(
                "/api/v1/keys",
                &jwt,
                &json!({"name": payload, "password": PASSWORD}),
            )
            .await;
        if res.status() == StatusCode::CREATED {
            accepted.push(name);
        }
    }
    assert!(
        accepted.contains(&"script") && accepted.contains(&"attribute breakout"),
        "the markup payloads must reach the page: {accepted:?}"
    );
    let res = app.get_page("/account", Some(&session)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<leptos-island data-component="ApiKeys_"#),
        "{html}"
    );
    for forbidden in FORBIDDEN_IN_HTML {
        assert!(
            !html.contains(forbidden),
            "{forbidden:?} unescaped in {html}"
        );
    }
}

/// `application/x-www-form-urlencoded` encoding of `text`.
fn form_urlencoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The leak search must not trip on random text, and must still see real messages.
#[test]
fn the_leak_search_skips_random_tokens_and_keeps_messages() {
    let passkey_options = r#"{"challenge":"YkQrlwnIEWpg_rcppR6TnMAWBGn7ZKnmd7CkeySxgBc","user":{"id":"GrWDD-czV6Qr80423_VgQQ"}}"#;
    assert!(!without_random_credentials(passkey_options).contains("pg_"));
    let key = r#"{"prefix":"abcdefpg","secret":"gh_abcdefpg_xyz"}"#;
    assert!(!without_random_credentials(key).contains("pg"));
    for message in [
        "error returned from database: relation \"pg_stat_activity\" does not exist",
        "SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: users.username",
        "<p>syntax error at or near \"'\"</p>",
    ] {
        assert_eq!(without_random_credentials(message), message);
    }
}
