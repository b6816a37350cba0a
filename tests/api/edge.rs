//! The HTTP edge: security headers, CSP, CSRF, CORS, limits, error bodies, static files.

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, COOKIE, ORIGIN};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const ORIGIN_OK: &str = "https://trusted.example";

/// The Content-Security-Policy of everything that is not a server-rendered page (README,
/// "CSP"): nothing may load, frame, or be submitted.
const FALLBACK_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Which CSP a response should carry.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Csp {
    /// A page: its own policy, with this response's nonce.
    Page,
    /// Anything else: exactly `FALLBACK_CSP`.
    Fallback,
}

fn assert_security_headers(res: &reqwest::Response, what: &str, kind: Csp) {
    assert_eq!(
        header(res, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(res, "referrer-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert_eq!(header(res, "x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(header(res, "x-xss-protection"), Some("0"), "{what}");
    assert_eq!(
        header(res, "cross-origin-opener-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert_eq!(
        header(res, "permissions-policy"),
        Some("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        "{what}"
    );
    let csp =
        header(res, "content-security-policy").unwrap_or_else(|| panic!("CSP missing on {what}"));
    match kind {
        Csp::Page => {
            assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
            assert!(csp.contains("'nonce-"), "{what}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        }
        Csp::Fallback => assert_eq!(csp, FALLBACK_CSP, "{what}"),
    }
    assert!(header(res, "x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let huge = "a".repeat(64 * 1024);
    let responses = vec![
        ("page", Csp::Page, app.get_page("/register", None).await),
        ("asset", Csp::Fallback, app.get("/pkg/gatehouse.js").await),
        ("favicon", Csp::Fallback, app.get("/favicon.ico").await),
        (
            "server fn error",
            Csp::Fallback,
            app.login("nobody", "nothing at all").await,
        ),
        ("404 page", Csp::Page, app.get_page("/nowhere", None).await),
        ("api 404", Csp::Fallback, app.get("/api/v1/nowhere").await),
        (
            "413",
            Csp::Fallback,
            app.call("login", &[("username", "x"), ("password", &huge)], None)
                .await,
        ),
        (
            "405",
            Csp::Fallback,
            app.client
                .request(Method::TRACE, app.url("/"))
                .send()
                .await
                .unwrap(),
        ),
        ("health", Csp::Fallback, app.get("/healthz").await),
        ("panic 500", Csp::Fallback, app.get("/test/panic").await),
        ("timeout 408", Csp::Fallback, app.get("/test/hang").await),
    ];
    for (what, csp, res) in &responses {
        assert_security_headers(res, what, *csp);
    }
    let statuses: Vec<u16> = responses
        .iter()
        .map(|(_, _, r)| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 401, 404, 404, 413, 405, 200, 500, 408]
    );
}

#[tokio::test]
async fn hsts_is_sent_only_when_enabled() {
    let dev = spawn_app().await;
    assert_eq!(
        header(&dev.get_page("/", None).await, "strict-transport-security"),
        None
    );
    let tls = spawn_app_with(&[("HSTS", "true")]).await;
    for path in ["/", "/healthz", "/pkg/gatehouse.js", "/nowhere"] {
        let res = tls.get(path).await;
        // Two years (past the one year preload lists ask for), with sub-domains.
        assert_eq!(
            header(&res, "strict-transport-security"),
            Some("max-age=63072000; includeSubDomains"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn pages_get_a_fresh_nonce_that_matches_their_scripts() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let res = app.get_page("/login", None).await;
        let csp = header(&res, "content-security-policy").unwrap().to_string();
        assert!(csp.contains("'strict-dynamic' 'wasm-unsafe-eval'"), "{csp}");
        assert!(
            csp.contains("object-src 'none'")
                && csp.contains("base-uri 'none'")
                && csp.contains("form-action 'self'")
        );
        let nonce = page_nonce(&res);
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
            "hydration script carries the nonce"
        );
        // Every script tag on the page carries this response's nonce.
        for tag in html
            .split("<script")
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap_or(""))
        {
            assert!(
                tag.contains(&format!(r#"nonce="{nonce}""#)),
                "script without nonce: <script{tag}>"
            );
        }
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce is never reused");
}

/// A nonce is read by the browser from a `nonce` attribute only, which it hides from the page's
/// CSS and scripts. Leptos 0.8.23's `HydrationScripts` also wrote it into the preload links'
/// `crossorigin`, where an injected CSS selector could read it (leptos#4843): on a page from
/// its copy, a rendered one, and the not-found page, the nonce now appears in `nonce`
/// attributes only, and the links ask for the bundle as anonymous requests.
#[tokio::test]
async fn the_nonce_is_written_on_the_script_and_nowhere_else() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    for (path, session) in [
        ("/login", None),
        ("/login", None),
        ("/account", Some(token.as_str())),
        ("/no/such/page", Some(token.as_str())),
    ] {
        let res = app.get_page(path, session).await;
        let nonce = page_nonce(&res);
        let html = res.text().await.unwrap();
        let in_nonce_attributes = html.matches(&format!(r#" nonce="{nonce}""#)).count();
        assert_eq!(
            html.matches(nonce.as_str()).count(),
            in_nonce_attributes,
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
            "{path}: {html}"
        );
        for link in ["modulepreload", "preload"] {
            let tag = html
                .split(&format!(r#"<link rel="{link}""#))
                .nth(1)
                .and_then(|rest| rest.split('>').next())
                .unwrap_or_else(|| panic!("{path}: no {link} link"));
            assert!(
                !tag.contains("crossorigin=") || tag.contains(r#"crossorigin="""#),
                "{path}: <link rel=\"{link}\"{tag}>"
            );
        }
    }
}

#[tokio::test]
async fn pages_and_user_data_are_not_cached_but_hashed_assets_are() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    assert_eq!(
        header(
            &app.get_page("/account", Some(&token)).await,
            "cache-control"
        ),
        Some("no-store")
    );
    assert_eq!(
        header(
            &app.call("current_user", &[], Some(&token)).await,
            "cache-control"
        ),
        Some("no-store")
    );
    assert_eq!(
        header(&app.get_page("/nowhere", None).await, "cache-control"),
        Some("no-store")
    );
    let asset = app.get("/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css").await;
    assert_eq!(
        header(&asset, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // Without a hash in the name (`cargo leptos watch`), each rebuild reuses it: revalidate.
    let asset = app.get("/pkg/gatehouse.js").await;
    assert_eq!(header(&asset, "cache-control"), Some("no-cache"));
}

/// `GET path` from a client that accepts the given content encodings.
async fn get_accepting(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT_ENCODING, accept)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn text_and_wasm_are_compressed() {
    let app = spawn_app().await;
    for (path, encoding) in [
        ("/pkg/gatehouse.js", "br"),
        ("/pkg/gatehouse_bg.wasm", "gzip"),
        ("/register", "br"),
    ] {
        let res = get_accepting(&app, path, encoding).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, "content-encoding"), Some(encoding), "{path}");
    }
}

/// The bundle is compressed once, at release time: its twin is sent as it is, byte for byte,
/// not compressed again per request; a client that accepts neither gets the file itself. The
/// client's preferences (`q`) decide between the twins.
#[tokio::test]
async fn hashed_files_are_sent_from_their_precompressed_twins() {
    let app = spawn_app().await;
    let path = "/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css";
    let file = std::path::Path::new(&app.site_root).join(&path[1..]);
    // The helper's site has the twins `gatehouse precompress` makes, written before the start.
    for (accept, encoding, twin) in [
        ("br, gzip", Some("br"), "css.br"),
        ("gzip", Some("gzip"), "css.gz"),
        ("gzip;q=1, br;q=0.5", Some("gzip"), "css.gz"),
        ("br;q=0, gzip;q=0.1", Some("gzip"), "css.gz"),
        ("*", Some("br"), "css.br"),
        ("identity", None, "css"),
    ] {
        let res = get_accepting(&app, path, accept).await;
        assert_eq!(res.status(), StatusCode::OK, "{accept}");
        assert_eq!(header(&res, "content-encoding"), encoding, "{accept}");
        assert_eq!(header(&res, "content-type"), Some("text/css"), "{accept}");
        assert_eq!(
            header(&res, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        // A shared cache must not hand the brotli bytes to a client that did not ask for them.
        assert!(
            header(&res, "vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{accept}: {:?}",
            header(&res, "vary")
        );
        let sent = res.bytes().await.unwrap();
        let expected = std::fs::read(file.with_extension(twin)).unwrap();
        assert_eq!(sent.as_ref(), expected.as_slice(), "{accept}");
    }
}

/// A content-hashed file never changes under its name, so the server reads it (and its twins)
/// once at start-up and answers from memory: with the files gone from disk, they are still
/// served. Unhashed names (`cargo leptos watch` rewrites them on every rebuild) are read from
/// disk each time, and so are ranges.
#[tokio::test]
async fn hashed_files_are_served_from_memory_and_the_rest_from_disk() {
    let app = spawn_app().await;
    // Once the app answers, it has read the folder (it builds its routes as it starts serving).
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let hashed = "/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css";
    let pkg = std::path::Path::new(&app.site_root).join("pkg");
    let on_disk: Vec<Vec<u8>> = ["css", "css.br", "css.gz"]
        .iter()
        .map(|extension| {
            let file = pkg.join(format!("gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.{extension}"));
            let bytes = std::fs::read(&file).unwrap();
            std::fs::remove_file(&file).unwrap();
            bytes
        })
        .collect();
    for (accept, expected) in ["identity", "br", "gzip"].iter().zip(&on_disk) {
        let res = get_accepting(&app, hashed, accept).await;
        assert_eq!(res.status(), StatusCode::OK, "{accept}");
        assert_eq!(header(&res, "content-type"), Some("text/css"), "{accept}");
        assert_eq!(
            header(&res, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        let length = header(&res, "content-length").map(str::to_owned);
        assert_eq!(length, Some(expected.len().to_string()), "{accept}");
        assert_eq!(res.bytes().await.unwrap().as_ref(), expected.as_slice());
    }
    // HEAD: the same headers, no body.
    let res = app
        .client
        .head(app.url(hashed))
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), Some("br"));
    assert_eq!(
        header(&res, "content-length").map(str::to_owned),
        Some(on_disk[1].len().to_string())
    );
    assert!(res.bytes().await.unwrap().is_empty());
    // A range is the disk's business, and the file is no longer there.
    let res = app
        .client
        .get(app.url(hashed))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // An unhashed file is read again: a rebuild's new bytes are what the next request gets.
    std::fs::write(pkg.join("gatehouse.js"), "export const rebuilt = 2;\n").unwrap();
    let res = get_accepting(&app, "/pkg/gatehouse.js", "identity").await;
    assert_eq!(res.text().await.unwrap(), "export const rebuilt = 2;\n");
    // Other methods get the disk's answer: refused.
    let res = app.client.post(app.url(hashed)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn dotfiles_directories_and_trace_are_refused() {
    let app = spawn_app().await;
    for path in [
        "/.env",
        "/.git/config",
        "/pkg/",
        "/pkg",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("[package]") && !body.contains("Index of"),
            "{path} leaked: {body}"
        );
    }
    for method in [Method::TRACE, Method::from_bytes(b"TRACK").unwrap()] {
        let res = app
            .client
            .request(method.clone(), app.url("/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&res, "allow"), Some("GET, HEAD, POST, OPTIONS"));
    }
}

/// The status line and headers of the answer to `request`, written to the app's socket as
/// they are (for what an HTTP client library will not send as asked).
async fn raw_response_head(app: &TestApp, request: &str) -> String {
    let address = app.address.trim_start_matches("http://").to_string();
    within("a raw request's answer", async {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the headers: {head:?}");
            head.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&head).into_owned()
    })
    .await
}

#[tokio::test]
async fn connect_is_refused_with_405() {
    let app = spawn_app().await;
    let authority = app.address.trim_start_matches("http://").to_string();
    // CONNECT names an authority, not a path (RFC 9110 §9.3.6): a request a proxy would
    // tunnel. An app server has nothing to tunnel to.
    for target in [authority.as_str(), "example.com:443"] {
        let head = raw_response_head(
            &app,
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        )
        .await;
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.starts_with("http/1.1 405 "),
            "CONNECT {target}: {head}"
        );
        assert!(
            lower.contains("\r\nallow: get, head, post, options\r\n"),
            "{head}"
        );
        assert!(
            lower.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{head}"
        );
    }
}

// ---- CSRF ----

#[tokio::test]
async fn a_cross_site_post_with_a_valid_cookie_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.register_ok("alice", "alice@example.com").await;
    for endpoint in ["logout", "current_user"] {
        let res = app
            .rpc(endpoint, &[("x", "1")], Some(&token))
            .header("sec-fetch-site", "cross-site")
            .header(ORIGIN, "https://evil.example")
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{endpoint}");
        assert!(set_cookie_headers(res.headers()).is_empty());
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("This request is not allowed."));
    }
    // The session survived the forged logout.
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn login_and_registration_csrf_are_refused() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let forged = |endpoint: &str, form: Vec<(&'static str, &'static str)>| {
        app.rpc(endpoint, &form, None)
            .header(ORIGIN, "https://evil.example")
            .send()
    };
    let res = forged("login", vec![("username", "alice"), ("password", PASSWORD)])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        set_cookie_headers(res.headers()).is_empty(),
        "no session planted in the victim's browser"
    );
    let res = forged(
        "register",
        registration_form("eve", "e@example.com", PASSWORD).to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(app.stored_user("eve").await.is_none());
}

#[tokio::test]
async fn same_origin_and_allowed_origin_posts_are_accepted() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", ORIGIN_OK)]).await;
    let token = app.register_ok("alice", "alice@example.com").await;
    let own_origin = app.address.clone();
    for (fetch_site, origin) in [
        (Some("same-origin"), own_origin.as_str()),
        (None, own_origin.as_str()),
        (Some("cross-site"), ORIGIN_OK),
    ] {
        let mut req = app
            .rpc("current_user", &[], Some(&token))
            .header(ORIGIN, origin);
        if let Some(site) = fetch_site {
            req = req.header("sec-fetch-site", site);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{fetch_site:?} {origin}");
    }
}

// ---- CORS ----

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins_with_credentials() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", ORIGIN_OK)]).await;
    let get = |origin: &'static str| {
        app.client
            .get(app.url("/api/v1/anything"))
            .header(ORIGIN, origin)
            .send()
    };

    let allowed = get(ORIGIN_OK).await.unwrap();
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some(ORIGIN_OK)
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        Some("true")
    );

    for foreign in [
        "https://evil.example",
        "null",
        "https://trusted.example.evil.example",
    ] {
        let res = get(foreign).await.unwrap();
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            None,
            "{foreign}"
        );
    }

    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/users/me"))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight(ORIGIN_OK).await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(ORIGIN_OK));
    assert!(header(&ok, "access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert!(header(&ok, "access-control-allow-headers")
        .unwrap()
        .to_lowercase()
        .contains("authorization"));
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn pages_and_server_functions_send_no_cors_headers() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", ORIGIN_OK)]).await;
    let page = app
        .client
        .get(app.url("/"))
        .header(ORIGIN, ORIGIN_OK)
        .send()
        .await
        .unwrap();

    // A server function called from the allowed origin works (CSRF lets it through)…
    let token = app.register_ok("alice", "alice@example.com").await;
    let call = app
        .rpc("current_user", &[], Some(&token))
        .header(ORIGIN, ORIGIN_OK)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), StatusCode::OK);
    // …but its answer is not readable there, and a preflight is not granted either.
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/rpc/current_user"))
        .header(ORIGIN, ORIGIN_OK)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    for (what, res) in [("call", &call), ("preflight", &preflight), ("page", &page)] {
        let cors: Vec<&str> = res
            .headers()
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{what}: {cors:?}");
    }
    // The same origin does get CORS headers from the JSON API, so the check above can fail.
    let api = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .header(ORIGIN, ORIGIN_OK)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&api, "access-control-allow-origin"), Some(ORIGIN_OK));
}

/// README, "CSRF": the check covers every method but GET, HEAD and OPTIONS, so those must
/// not change anything. Every server function is sent a GET with its session cookie and the
/// arguments its form would post (as a link or an image on another site would make it), and
/// nothing changes: sessions, tokens, keys, the account, its activity log.
#[tokio::test]
async fn get_never_changes_state() {
    let app = spawn_app().await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let other = app.login_ok("alice").await;
    let jwt = app.access_token("alice").await;
    let key = app.create_key(&jwt, "ci").await;
    let user = app.stored_user("alice").await.unwrap();
    let store = app.store().clone();
    let session_ids = async || {
        let mut ids: Vec<String> = store
            .sessions_of(user.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    };
    let sessions_before = session_ids().await;
    assert_eq!(sessions_before.len(), 2);
    let activity_before = store.audit_events_of(user.id, None, 1000).await.unwrap();

    let new_password = "a completely new passphrase";
    let key_id = key["id"].to_string();
    let form = [
        ("username", "alice"),
        ("email", "mallory@example.com"),
        ("new_email", "mallory@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("current_password", PASSWORD),
        ("new_password", new_password),
        ("new_password_confirm", new_password),
        ("confirm_username", "alice"),
        ("id", key_id.as_str()),
        ("name", "planted"),
    ];
    let paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    assert!(
        paths.contains(&"/rpc/logout") && paths.contains(&"/rpc/delete_account"),
        "{paths:?}"
    );
    for path in &paths {
        let res = app
            .client
            .get(app.url(path))
            .query(&form)
            .header(COOKIE, session_header(app.cookie_name, &session))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .unwrap();
        assert!(
            set_cookie_headers(res.headers()).is_empty(),
            "GET {path} set a cookie: {:?}",
            set_cookie_headers(res.headers())
        );
    }

    assert_eq!(
        app.current_username(&session).await.as_deref(),
        Some("alice")
    );
    assert_eq!(app.current_username(&other).await.as_deref(), Some("alice"));
    assert_eq!(session_ids().await, sessions_before);
    assert_eq!(app.me(&jwt).await.status(), StatusCode::OK);
    assert_eq!(
        app.me(key["secret"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    assert_eq!(store.api_keys_of(user.id).await.unwrap().len(), 1);
    assert!(
        app.stored_user("alice").await.unwrap() == user,
        "the account changed"
    );
    assert!(app.stored_user("mallory").await.is_none());
    let activity_after = store.audit_events_of(user.id, None, 1000).await.unwrap();
    assert_eq!(
        activity_after.len(),
        activity_before.len(),
        "{:?}",
        activity_after
            .iter()
            .map(|e| &e.event.kind)
            .collect::<Vec<_>>()
    );
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

/// A 429 tells the client when to come back twice over: `Retry-After` (RFC 9110) and the
/// draft's `RateLimit-Reset`, the same number of seconds, within the rule's window.
#[tokio::test]
async fn a_429_carries_ratelimit_reset_equal_to_retry_after() {
    // Through a server function and through the JSON API (their errors are written apart),
    // each from a fresh app at the sixth attempt of the minute.
    for what in ["server function", "token endpoint"] {
        let app = spawn_app().await;
        let attempt = async |i: usize| match what {
            "server function" => app.login(&format!("nobody{i}"), "wrong password").await,
            _ => {
                app.password_grant(&format!("nobody{i}"), "wrong password")
                    .await
            }
        };
        for i in 0..5 {
            let res = attempt(i).await;
            assert!(
                res.status().is_client_error(),
                "{what} {i}: {}",
                res.status()
            );
            assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{what} {i}");
        }
        let res = attempt(9).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
        let number = |name: &str| -> u64 {
            header(&res, name)
                .unwrap_or_else(|| panic!("{what}: no {name}"))
                .parse()
                .unwrap_or_else(|e| panic!("{what}: {name}: {e}"))
        };
        let (reset, retry_after) = (number("ratelimit-reset"), number("retry-after"));
        assert_eq!(reset, retry_after, "{what}");
        // 5 a minute: the next attempt frees up within 12 s (60 / 5), never later than 60.
        assert!((1..=12).contains(&reset), "{what}: {reset}");
        assert_eq!(header(&res, "ratelimit-policy"), Some("5;w=60"), "{what}");
    }
}

// ---- limits and errors ----

#[tokio::test]
async fn an_oversized_body_gets_a_clear_413_in_json_or_html() {
    let app = spawn_app().await;
    let huge = "a".repeat(64 * 1024);
    let json = app
        .call("login", &[("username", "x"), ("password", &huge)], None)
        .await;
    assert_eq!(json.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(body["message"], "The request is too large.");

    let html = app
        .post_plain_form(
            "login",
            &[("username", "x"), ("password", &huge)],
            "/login",
            None,
        )
        .await;
    assert_eq!(html.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(header(&html, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(html
        .text()
        .await
        .unwrap()
        .contains("The request is too large."));
}

#[tokio::test]
async fn a_request_that_never_completes_times_out_with_408() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let res = app.get("/test/hang").await;
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "timeout");
}

#[tokio::test]
async fn a_panic_becomes_a_generic_500_naming_the_request_id() {
    let app = spawn_app().await;
    for accept in ["application/json", "text/html"] {
        let res = app
            .client
            .get(app.url("/test/panic"))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = header(&res, "x-request-id").unwrap().to_string();
        let body = res.text().await.unwrap();
        assert!(body.contains(&id), "{accept}: {body}");
        assert!(body.contains("Something went wrong on our side."));
        assert!(!body.contains("secret panic detail"), "{body}");
        assert!(!body.contains(".rs"), "{body}");
    }
}

#[tokio::test]
async fn a_database_failure_reaches_the_client_as_a_reference_only() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    // A fault, not an outage (that is 503, see config_and_health): the schema is broken.
    app.execute_sql("DROP TABLE sessions").await.unwrap();
    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = header(&res, "x-request-id").unwrap().to_string();
    let body = res.text().await.unwrap();
    assert!(body.contains(&id), "{body}");
    for leak in [
        "sqlite",
        "postgres",
        "relation",
        "no such table",
        "sessions",
        "database",
        "sqlx",
    ] {
        assert!(!body.to_lowercase().contains(leak), "{leak} leaked: {body}");
    }
}

#[tokio::test]
async fn a_well_formed_request_id_is_kept_and_a_malformed_one_replaced() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "x-request-id"), Some("proxy-abc.123"));
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let id = header(&res, "x-request-id").unwrap();
    assert_eq!(id.len(), 36, "{id}");
}
