//! Micro-benchmarks (criterion) of what runs on every request or every form submission:
//!
//!   cargo bench --features ssr --bench hot_paths
//!   cargo bench --features ssr --bench hot_paths -- jwt     # one group
//!
//! - `validation`: the shared sign-up and sign-in rules (the code the browser runs too);
//! - `jwt`: issuing and verifying an access token;
//! - `api_key`: splitting a key and checking its secret, then the whole bearer lookup with
//!   its database read;
//! - `session`: reading a session cookie and the lookup behind it (database);
//! - `csrf`: the cross-site decision on a form post.
//!
//! The database paths run on a fresh SQLite file through the real services, as `gatehouse`
//! builds them. Figures go to docs/benchmarks.md; nothing here asserts a speed.

// Benchmark code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, Method};
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::model::{CreateApiKeyForm, KeyExpiry, LoginForm, PasswordPolicy, RegisterForm};
use gatehouse::server::auth::{api_key_secret, session, ClientId, ClientMeta, JwtKeys, Registered};
use gatehouse::server::http::csrf::cross_site_allowed;
use gatehouse::server::{Application, Settings};
use leptos::config::LeptosOptions;
use secrecy::SecretString;

const PASSWORD: &str = "correct horse battery staple";
const NOW: i64 = 1_780_000_000;

fn register_form() -> RegisterForm {
    RegisterForm {
        email: "alice@example.com".into(),
        username: "alice".into(),
        password: PASSWORD.into(),
        password_confirm: PASSWORD.into(),
    }
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validation");
    let valid = register_form();
    group.bench_function("register_form_valid", |b| {
        b.iter(|| black_box(&valid).check(&PasswordPolicy::Nist))
    });
    // Every field wrong at once: each rule runs and writes its message.
    let invalid = RegisterForm {
        email: "not an address".into(),
        username: "a b".into(),
        password: "password".into(),
        password_confirm: "different".into(),
    };
    group.bench_function("register_form_invalid", |b| {
        b.iter(|| black_box(&invalid).check(&PasswordPolicy::Nist))
    });
    let login = LoginForm {
        username: "alice".into(),
        password: PASSWORD.into(),
    };
    group.bench_function("login_form", |b| b.iter(|| black_box(&login).check()));
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt");
    let keys = JwtKeys::new(
        &SecretString::from("0123456789abcdef0123456789abcdef"),
        "gatehouse",
        "gatehouse-api",
        1800,
    );
    let client = ClientId::password_grant();
    group.bench_function("issue", |b| {
        b.iter(|| keys.issue(black_box("u_3f9a1c"), 1, &client, NOW).unwrap())
    });
    let token = keys.issue("u_3f9a1c", 1, &client, NOW).unwrap();
    group.bench_function("verify", |b| {
        b.iter(|| keys.verify(black_box(&token), NOW + 60).unwrap())
    });
    group.finish();
}

/// A running app (no listener needed: the services are called directly) with one account,
/// its session and an API key.
struct Fixture {
    app: Application,
    session: gatehouse::server::auth::SessionToken,
    api_key: String,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("APP_ENV", "development".to_string()),
        (
            "DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
        ),
        ("MAIL_DIR", dir.path().join("mail").display().to_string()),
        ("EMAIL_VERIFICATION", "optional".into()),
    ]);
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).unwrap();
    let options = LeptosOptions::builder()
        .output_name("gatehouse")
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let app = Application::build(settings, options).await.unwrap();
    let auth = &app.state().auth;
    let meta = ClientMeta {
        ip: Some("127.0.0.1".into()),
        user_agent: None,
        request_id: None,
    };
    let Registered::SignedIn(signed_in) = auth
        .registration
        .register(&register_form(), &meta)
        .await
        .unwrap()
    else {
        panic!("verification is optional here");
    };
    let user_id = auth
        .sessions
        .current(&signed_in.token)
        .await
        .unwrap()
        .unwrap()
        .user_id();
    let key_form = CreateApiKeyForm {
        name: "bench".into(),
        expires_in_days: KeyExpiry::Days(30),
        password: PASSWORD.into(),
    };
    let created = auth
        .api_keys
        .create(user_id, &key_form, &meta)
        .await
        .unwrap();
    Fixture {
        session: signed_in.token,
        api_key: created.secret,
        app,
        _dir: dir,
    }
}

fn api_key_and_session(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = runtime.block_on(fixture());
    let auth = &f.app.state().auth;

    let mut group = c.benchmark_group("api_key");
    let (_, secret) = api_key_secret::parse(&f.api_key).unwrap();
    let stored = api_key_secret::hash_secret(secret);
    group.bench_function("parse_and_check_secret", |b| {
        b.iter(|| {
            let (_, secret) = api_key_secret::parse(black_box(&f.api_key)).unwrap();
            assert!(api_key_secret::secret_matches(secret, &stored));
        })
    });
    group.bench_function("bearer_lookup_sqlite", |b| {
        b.to_async(&runtime).iter(|| async {
            let principal = auth.tokens.principal_for_bearer(&f.api_key).await.unwrap();
            assert!(principal.is_some());
        })
    });
    group.finish();

    let mut group = c.benchmark_group("session");
    let cookie = format!(
        "theme=dark; {}={}",
        f.app.state().settings.session.cookie_name(),
        f.session.expose()
    );
    group.bench_function("token_from_cookie_header", |b| {
        b.iter(|| {
            session::token_from_cookie_header(&f.app.state().settings.session, black_box(&cookie))
                .unwrap()
        })
    });
    group.bench_function("lookup_sqlite", |b| {
        b.to_async(&runtime).iter(|| async {
            let current = auth.sessions.current(&f.session).await.unwrap();
            assert!(current.is_some());
        })
    });
    group.finish();
}

fn csrf(c: &mut Criterion) {
    let mut group = c.benchmark_group("csrf");
    let allowed = vec!["https://app.example.com".to_string()];
    let browser_post = |site: &'static str, origin: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("auth.example.com"));
        headers.insert("origin", HeaderValue::from_static(origin));
        headers.insert("sec-fetch-site", HeaderValue::from_static(site));
        headers
    };
    let same_origin = browser_post("same-origin", "https://auth.example.com");
    group.bench_function("same_origin_post", |b| {
        b.iter(|| {
            assert!(cross_site_allowed(
                &Method::POST,
                black_box(&same_origin),
                &allowed
            ))
        })
    });
    let cross_site = browser_post("cross-site", "https://evil.example");
    group.bench_function("cross_site_post", |b| {
        b.iter(|| {
            assert!(!cross_site_allowed(
                &Method::POST,
                black_box(&cross_site),
                &allowed
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, validation, jwt, api_key_and_session, csrf);
criterion_main!(benches);
