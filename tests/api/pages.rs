use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use gatehouse::model::{AppError, FieldErrors};
use gatehouse::server::clock::{Clock as _, SystemClock};
use gatehouse::server::http::form_errors::FormErrorSigner;
use reqwest::StatusCode;

use crate::helpers::*;

/// Opens the page a redirect without JavaScript points to: a path on this app (the form's
/// own page, plus the outcome).
async fn open_location(app: &TestApp, location: &str) -> reqwest::Response {
    assert!(
        location.starts_with('/'),
        "{location} is not a path on this app"
    );
    app.get_page(location, None).await
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn pages_render_on_the_server() {
    let app = spawn_app().await;
    for (path, text) in [
        ("/", "The secure front door"),
        ("/register", "Create your account"),
        ("/login", "Sign in"),
    ] {
        let res = app.get_page(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(text), "{path} lacks {text:?}");
    }
}

#[tokio::test]
async fn pages_and_the_not_found_page_link_the_stylesheet() {
    let app = spawn_app().await;
    // Unhashed in tests (no `hash-files`); `id="leptos"` is what `cargo leptos watch` swaps.
    let link = r#"<link rel="stylesheet" id="leptos" href="/pkg/gatehouse.css">"#;
    for path in ["/login", "/no/such/page"] {
        let html = app.get_page(path, None).await.text().await.unwrap();
        assert!(html.contains(link), "{path} lacks {link}");
    }
}

#[tokio::test]
async fn form_fields_are_labelled_and_described() {
    let app = spawn_app().await;
    let html = app.get_page("/register", None).await.text().await.unwrap();
    for name in ["email", "username", "password", "password_confirm"] {
        assert!(
            html.contains(&format!(r#"for="field-{name}""#)),
            "label for {name}"
        );
        assert!(
            html.contains(&format!(r#"id="field-{name}""#)),
            "input {name}"
        );
        assert!(
            html.contains(&format!(r#"id="field-{name}-error""#)),
            "error slot {name}"
        );
    }
    assert!(html.contains(r#"autocomplete="new-password""#));
    assert!(html.contains(r#"type="password""#));
    assert!(html.contains(r#"aria-live="polite""#));
}

#[tokio::test]
async fn account_redirects_to_login_when_signed_out() {
    let app = spawn_app().await;
    let res = app.get_page("/account", None).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/login?next=/account");
}

#[tokio::test]
async fn account_shows_the_profile_when_signed_in() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app.get_page("/account", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("alice@example.com"));
    assert!(html.contains("Member since"));
}

#[tokio::test]
async fn home_says_who_is_signed_in() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let html = app.get_page("/", Some(&token)).await.text().await.unwrap();
    let text = without_hydration_markers(&html);
    assert!(
        text.contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );
}

/// A cookie-less visit to `path`, expecting `status`: the page's nonce, and its HTML with the
/// nonce written as `NONCE`.
async fn visit_anonymously(app: &TestApp, path: &str, status: StatusCode) -> (String, String) {
    let res = app.get_page(path, None).await;
    assert_eq!(res.status(), status, "{path}");
    let nonce = page_nonce(&res);
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!(r#"nonce="{nonce}""#)), "{path}");
    let html = html.replace(&nonce, "NONCE");
    (nonce, html)
}

/// The page at `path` rendered for this request (an unrelated cookie keeps the copy out),
/// with its nonce written as `NONCE`.
async fn render_with_unrelated_cookie(app: &TestApp, path: &str, status: StatusCode) -> String {
    let res = app
        .client
        .get(app.url(path))
        .header("accept", "text/html")
        .header("cookie", "unrelated=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), status, "{path}");
    let nonce = page_nonce(&res);
    res.text().await.unwrap().replace(&nonce, "NONCE")
}

/// Every visit got the rendered page, each with a nonce no other visit got.
fn assert_copies_of(rendered: &str, seen: &[(String, String)], what: &str) {
    for (i, (nonce, html)) in seen.iter().enumerate() {
        assert_eq!(html, rendered, "{what}, request {i}");
        let sent = seen.iter().filter(|(n, _)| n == nonce).count();
        assert_eq!(sent, 1, "{what}: a nonce was sent twice");
    }
}

/// The public pages a cookie-less visitor gets from their copies (`anonymous_pages`) are the
/// pages a render gives, nonce aside: here against renders forced by an unrelated cookie.
#[tokio::test]
async fn the_signed_out_copies_are_the_rendered_pages_with_their_own_nonce() {
    let app = spawn_app().await;
    for path in ["/", "/login", "/register", "/forgot-password"] {
        let mut seen = Vec::new();
        // The first request renders and keeps the copy; the next two are answered from it.
        for _ in 0..3 {
            seen.push(visit_anonymously(&app, path, StatusCode::OK).await);
        }
        let rendered = render_with_unrelated_cookie(&app, path, StatusCode::OK).await;
        assert_copies_of(&rendered, &seen, path);
    }
}

/// Whatever a request carries in a cookie or the query is rendered for it, even once the
/// signed-out copy of the page exists.
#[tokio::test]
async fn a_session_or_a_query_is_never_answered_from_the_signed_out_copy() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let html = app.get_page("/", None).await.text().await.unwrap();
        assert!(!without_hydration_markers(&html).contains("Signed in as"));
        app.get_page("/login", None).await;
    }
    let token = app.register_ok("alice", "alice@example.com").await;
    let html = app.get_page("/", Some(&token)).await.text().await.unwrap();
    assert!(
        without_hydration_markers(&html).contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );
    let html = app
        .get_page("/login?next=/account", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"value="/account""#), "{html}");
}

#[tokio::test]
async fn unknown_paths_get_a_404_page() {
    let app = spawn_app().await;
    let res = app.get_page("/no/such/page", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

/// The not-found page names nothing of the path, so a cookie-less visitor gets it from its
/// copy whatever the unknown path: the page a render gives, with a 404 and a nonce of its
/// own. A file of the site root is still the file, and a session still gets its own render.
#[tokio::test]
async fn the_not_found_copy_is_the_rendered_page_for_every_unknown_path() {
    let app = spawn_app().await;
    // First, paths the app's router takes for a page although no route of this address has
    // them: each is a 404 showing that page, and none of them becomes the not-found copy.
    for (path, heading) in [
        ("/login/", "Sign in"),
        ("/register/", "Create your account"),
    ] {
        let res = app.get_page(path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.text().await.unwrap().contains(heading), "{path}");
    }
    let mut seen = Vec::new();
    for path in ["/no/such/page", "/other", "/a/b/c.html", "/login/nowhere"] {
        seen.push(visit_anonymously(&app, path, StatusCode::NOT_FOUND).await);
    }
    let rendered = render_with_unrelated_cookie(&app, "/else", StatusCode::NOT_FOUND).await;
    assert!(rendered.contains("Page not found"), "{rendered}");
    assert_copies_of(&rendered, &seen, "the not-found page");

    let favicon = app.get("/favicon.ico").await;
    assert_eq!(favicon.status(), StatusCode::OK);
    assert_eq!(favicon.bytes().await.unwrap().as_ref(), [0u8; 64]);

    let token = app.register_ok("alice", "alice@example.com").await;
    let res = app.get_page("/no/such/page", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains("Sign out"), "the signed-in header: {html}");
}

#[tokio::test]
async fn without_javascript_a_successful_sign_up_redirects_home_with_a_session() {
    let app = spawn_app().await;
    let res = app
        .post_plain_form(
            "register",
            &registration_form("nojs", "nojs@example.com", PASSWORD),
            "/register",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/");
    let token = session_token_from(&res, app.cookie_name).expect("session cookie");
    let html = app.get_page("/", Some(&token)).await.text().await.unwrap();
    assert!(
        without_hydration_markers(&html).contains("Signed in as <strong>nojs</strong>"),
        "{html}"
    );
}

#[tokio::test]
async fn without_javascript_errors_come_back_on_the_page_next_to_their_field() {
    let app = spawn_app().await;
    app.register_ok("taken", "taken@example.com").await;
    let res = app
        .post_plain_form(
            "register",
            &registration_form("taken", "new@example.com", PASSWORD),
            "/register",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = location(&res);
    assert!(
        location.starts_with("/register?") && location.contains("__err="),
        "{location}"
    );
    let html = open_location(&app, &location).await.text().await.unwrap();
    assert!(
        html.contains("That username is already taken."),
        "error shown on the page: {location}\n{html}"
    );
    assert!(html.contains(r#"aria-invalid="true""#));
}

#[tokio::test]
async fn without_javascript_a_failed_sign_in_shows_the_one_message() {
    let app = spawn_app().await;
    let res = app
        .post_plain_form(
            "login",
            &[
                ("username", "ghost"),
                ("password", "whatever it is"),
                ("next", ""),
            ],
            "/login",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = location(&res);
    let html = open_location(&app, &location).await.text().await.unwrap();
    assert!(
        html.contains("Incorrect username or password"),
        "{location}\n{html}"
    );
}

#[tokio::test]
async fn without_javascript_sign_in_returns_to_next() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let res = app
        .post_plain_form(
            "login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
            "/login?next=/account",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/account");
    assert!(session_token_from(&res, app.cookie_name).is_some());
}

const GHOST_LOGIN: [(&str, &str); 3] = [
    ("username", "ghost"),
    ("password", "whatever it is"),
    ("next", ""),
];

#[tokio::test]
async fn without_javascript_errors_come_back_to_the_form_page_with_or_without_a_referer() {
    let app = spawn_app().await;
    for referer in [
        None,
        Some("https://evil.example/phish?next=/x"),
        Some("not a url"),
    ] {
        let res = app
            .post_plain_form_from("login", &GHOST_LOGIN, referer)
            .await;
        assert_eq!(res.status(), StatusCode::FOUND, "{referer:?}");
        let location = location(&res);
        assert!(
            location.starts_with("/login?__path=%2Frpc%2Flogin&__err=")
                && location.contains("&__sig="),
            "{referer:?}: {location}"
        );
        let html = open_location(&app, &location).await.text().await.unwrap();
        assert!(
            html.contains("Incorrect username or password"),
            "{referer:?}: {location}"
        );
    }
}

#[tokio::test]
async fn without_javascript_the_sign_in_page_keeps_its_own_query_only() {
    let app = spawn_app().await;
    let own_page = app.url("/login?next=%2Faccount");
    let res = app
        .post_plain_form_from("login", &GHOST_LOGIN, Some(&own_page))
        .await;
    assert!(
        location(&res).starts_with("/login?next=%2Faccount&__path="),
        "{}",
        location(&res)
    );
}

#[tokio::test]
async fn error_text_in_a_url_the_server_did_not_sign_is_never_shown() {
    let app = spawn_app().await;
    // A message of the attacker's choosing, in the runtime's own encoding.
    let bait = "Your account is locked: call +1 555 0100";
    let phishing = AppError::Validation(FieldErrors::single("username", bait));
    let forged_error = URL_SAFE.encode(serde_json::to_string(&phishing).unwrap());
    let signer = FormErrorSigner::new(&app.state.settings.secret_key);
    let now = SystemClock.now();
    let other_signature = signer.sign("/rpc/login", "another error", now);
    for forged in [
        format!("/login?__path=%2Frpc%2Flogin&__err={forged_error}"),
        // A real signature, moved onto other text.
        format!("/login?__path=%2Frpc%2Flogin&__err={forged_error}&__sig={other_signature}"),
        format!("/login?next=%2Faccount&__err={forged_error}"),
    ] {
        let res = app.get_page(&forged, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{forged}");
        let clean = location(&res);
        assert!(
            clean == "/login" || clean == "/login?next=%2Faccount",
            "{forged} -> {clean}"
        );
        let html = app.get_page(&clean, None).await.text().await.unwrap();
        assert!(!html.contains(bait));
    }
    // The same text, signed with the server's key, is shown: the refusal above is the
    // signature check, not a payload the page could not read anyway.
    let signature = signer.sign("/rpc/login", &forged_error, now);
    let signed = format!("/login?__path=%2Frpc%2Flogin&__err={forged_error}&__sig={signature}");
    let res = app.get_page(&signed, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(bait));
}

/// The page without the empty comments (`<!>`) Leptos puts after dynamic text for hydration
/// (more of them in the `erase_components` build the tests use: see scripts/test.sh).
fn without_hydration_markers(html: &str) -> String {
    html.replace("<!>", "")
}

/// The island of each page named by `data-component` (the function's name, then a hash).
fn islands(html: &str) -> Vec<&str> {
    html.split(r#"<leptos-island data-component=""#)
        .skip(1)
        .map(|rest| rest.split('_').next().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn only_the_interactive_parts_of_a_page_are_islands() {
    let app = spawn_app().await;
    // Islands mode: the bundle hydrates islands, not the page.
    let home = app.get_page("/", None).await.text().await.unwrap();
    assert!(home.contains("hydrateIslands"), "{home}");
    assert!(
        islands(&home).is_empty(),
        "the home page has nothing to hydrate: {home}"
    );

    let login = app
        .get_page("/login?next=/account", None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(islands(&login), ["SignInForm"], "{login}");
    // The island gets `next` as a prop: it has no router in the browser to ask.
    assert!(login.contains("data-props="), "{login}");
    assert!(login.contains("/account"), "{login}");

    let token = app.register_ok("alice", "alice@example.com").await;
    let account = app
        .get_page("/account", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    let found = islands(&account);
    for island in [
        "ChangeEmailForm",
        "ChangePasswordForm",
        "AddPasskey",
        "ApiKeys",
        "DeleteAccountCard",
    ] {
        assert!(found.contains(&island), "{island} missing from {found:?}");
    }
    // Plain buttons stay plain forms: signing out and the session list need no wasm.
    let outside = account.split("<leptos-island").next().unwrap_or_default();
    assert!(outside.contains(r#"action="/rpc/logout""#), "{account}");
}
