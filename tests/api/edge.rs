//! The HTTP edge: security headers, CSP, CSRF, CORS, limits, error bodies, static files.

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, ORIGIN};
use reqwest::{Method, StatusCode};

use crate::helpers::*;

const ORIGIN_OK: &str = "https://trusted.example";

fn assert_security_headers(res: &reqwest::Response, what: &str) {
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
    let csp =
        header(res, "content-security-policy").unwrap_or_else(|| panic!("CSP missing on {what}"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(header(res, "x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let huge = "a".repeat(64 * 1024);
    let responses = vec![
        ("page", app.get_page("/register", None).await),
        ("asset", app.get("/pkg/gatehouse.js").await),
        ("favicon", app.get("/favicon.ico").await),
        (
            "server fn error",
            app.login("nobody", "nothing at all").await,
        ),
        ("404 page", app.get_page("/nowhere", None).await),
        ("api 404", app.get("/api/v1/nowhere").await),
        (
            "413",
            app.call("login", &[("username", "x"), ("password", &huge)], None)
                .await,
        ),
        (
            "405",
            app.client
                .request(Method::TRACE, app.url("/"))
                .send()
                .await
                .unwrap(),
        ),
        ("health", app.get("/healthz").await),
        ("panic 500", app.get("/test/panic").await),
        ("timeout 408", app.get("/test/hang").await),
    ];
    for (what, res) in &responses {
        assert_security_headers(res, what);
    }
    let statuses: Vec<u16> = responses.iter().map(|(_, r)| r.status().as_u16()).collect();
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
    for path in ["/", "/healthz", "/pkg/gatehouse.js"] {
        let res = tls.get(path).await;
        let hsts = header(&res, "strict-transport-security").expect("HSTS");
        let max_age: u64 = hsts
            .trim_start_matches("max-age=")
            .split(';')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age >= 31_536_000, "{hsts}");
        assert!(hsts.contains("includeSubDomains"));
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
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap()
            .to_string();
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
/// not compressed again per request; a client that accepts neither gets the file itself.
#[tokio::test]
async fn hashed_files_are_sent_from_their_precompressed_twins() {
    let app = spawn_app().await;
    let path = "/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css";
    let file = std::path::Path::new(&app.site_root).join(&path[1..]);
    // The twins, as `gatehouse precompress` writes them after a release build (here only: a
    // brotli-11 run at every app start would slow every test).
    gatehouse::server::http::static_files::precompress(file.parent().unwrap()).unwrap();
    for (accept, encoding, twin) in [
        ("br, gzip", Some("br"), "css.br"),
        ("gzip", Some("gzip"), "css.gz"),
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
    assert_eq!(header(&page, "access-control-allow-origin"), None);
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
