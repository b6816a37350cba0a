use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use gatehouse::model::AppError;
use gatehouse::server::auth::{PasswordHasher, SessionToken};
use gatehouse::server::clock::ManualClock;
use gatehouse::server::db::{SessionRecord, Store, UserRecord};
use gatehouse::server::limits::Limits;
use gatehouse::server::{AppState, Application, Settings};
use leptos::config::LeptosOptions;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::redirect::Policy;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::smtp::SmtpSink;

/// 2027-01-15: an arbitrary fixed start for the manual clock.
pub const START_TIME: i64 = 1_800_000_000;
pub const PASSWORD: &str = "correct horse battery staple";
pub const DEV_COOKIE: &str = "gatehouse_session";

pub struct TestApp {
    pub address: String,
    /// `http://host:port` of the operators' `/metrics` listener, when `METRICS_ADDR` was set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: ManualClock,
    pub cookie_name: &'static str,
    pub database_url: String,
    /// Holds `/test/wait` requests in flight.
    pub gate: Arc<Gate>,
    /// The SMTP server the app sends its mail to (unless the test set `SMTP_URL` itself).
    pub mailbox: SmtpSink,
    /// The stand-in `target/site` the app serves its files from.
    pub site_root: String,
    /// Stops the server (as SIGTERM would); `None` once used.
    shutdown: std::sync::Mutex<Option<(tokio::sync::oneshot::Sender<()>, ServerTask)>>,
    /// The database this app made for itself (dropped with it); `None` when the test passed
    /// its own `DATABASE_URL`.
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

/// The environment variable that picks the database the integration tests run against:
/// unset or `sqlite` (a temporary file per test), or `postgres`.
pub const BACKEND_VAR: &str = "GATEHOUSE_TEST_BACKEND";

/// The PostgreSQL server to make test databases on: `TEST_POSTGRES_URL`, a URL of a role that
/// may create databases, else the local server as the CI machine runs it.
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

pub fn test_backend() -> TestBackend {
    match std::env::var(BACKEND_VAR).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => TestBackend::Sqlite,
        Ok("postgres") => TestBackend::Postgres,
        Ok(other) => panic!("{BACKEND_VAR}={other}: expected `sqlite` or `postgres`"),
    }
}

/// A fresh, empty database for one test, on the backend under test, removed when dropped:
/// a SQLite file in its own temporary directory, or a PostgreSQL database of its own
/// (`gh_test_<random>`), so tests running at once (even from several `cargo test` processes on
/// one server) never share rows.
pub struct TestDatabase {
    pub url: String,
    /// PostgreSQL: the database's name, dropped in `Drop`.
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// On the backend under test.
    pub async fn new() -> Self {
        Self::on(test_backend()).await
    }

    /// On `backend`, whichever the run is testing: for tests of what only one backend has
    /// (a database reached over the network can lose its connection).
    pub async fn on(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    url: format!("sqlite://{}/gatehouse.db?mode=rwc", dir.path().display()),
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            TestBackend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{BACKEND_VAR}=postgres needs PostgreSQL at {admin}: {e}")
                    });
                // An identifier cannot be a bound parameter; this one is `gh_test_` and hex.
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                conn.close().await.ok();
                let mut url = reqwest::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the PostgreSQL database, also when the test failed. `Drop` cannot await and runs
    /// inside the test's runtime, so a thread with a runtime of its own does it while this one
    /// waits. `WITH (FORCE)` ends the connections the app's pool still holds (the app task
    /// lives until the test's runtime shuts down). Failures are reported, never raised: a
    /// panic while a failed test unwinds would abort the whole test binary.
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| format!("{name}: {e}"))?;
                conn.close().await.ok();
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop the test database: {error}"),
            Err(_) => eprintln!("could not drop the test database: the thread panicked"),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app on port 0 with a fresh database of the backend under test (see
/// `TestDatabase`), unless `vars` name a `DATABASE_URL`, and its mail going to an SMTP server
/// of its own (`TestApp::mailbox`), unless they name an `SMTP_URL`; `vars` are settings as
/// environment variables would give them.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    // TEST_LOG=1 shows the server's logs while debugging a test.
    if std::env::var_os("TEST_LOG").is_some() {
        gatehouse::server::telemetry::init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let database = if env.contains_key("DATABASE_URL") {
        None
    } else {
        let database = TestDatabase::new().await;
        env.insert("DATABASE_URL".into(), database.url.clone());
        Some(database)
    };
    let mailbox = SmtpSink::start().await;
    env.entry("SMTP_URL".into())
        .or_insert_with(|| mailbox.url());
    // Tests hash many passwords; two at a time is plenty and keeps parallel tests civil.
    env.entry("PASSWORD_HASH_CONCURRENCY".into())
        .or_insert_with(|| "2".into());
    // Failed sign-ins answer at once (tests of the floor set it themselves).
    env.entry("SIGN_IN_FAILURE_FLOOR_MS".into())
        .or_insert_with(|| "0".into());
    let database_url = env["DATABASE_URL"].clone();
    let settings =
        Settings::from_lookup(|name| env.get(name).cloned()).expect("valid test settings");
    let cookie_name = settings.session.cookie_name();
    let site_root = make_site_root(dir.path());
    let leptos_options = LeptosOptions::builder()
        .output_name("gatehouse")
        .site_root(site_root.as_str())
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let clock = ManualClock::new(START_TIME);
    let gate = Arc::new(Gate::default());
    let app = Application::build_with_clock(settings, leptos_options, Arc::new(clock.clone()))
        .await
        .expect("app builds")
        .with_routes(probe_routes(gate.clone()));
    let address = format!("http://{}", app.local_addr());
    let metrics_address = app.metrics_addr().map(|addr| format!("http://{addr}"));
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        metrics_address,
        client,
        state,
        clock,
        cookie_name,
        database_url,
        gate,
        mailbox,
        shutdown: std::sync::Mutex::new(Some((stop, server))),
        _database: database,
        site_root,
        _dir: dir,
    }
}

/// Lets a test hold a request in flight: `/test/wait` signals `entered`, then waits for
/// `release`.
#[derive(Default)]
pub struct Gate {
    pub entered: tokio::sync::Notify,
    pub release: tokio::sync::Notify,
}

/// Routes that misbehave on purpose, to test what the edge does about it.
fn probe_routes(gate: Arc<Gate>) -> Router<AppState> {
    Router::new()
        .route("/test/panic", get(panicking_handler))
        .route("/test/hang", get(std::future::pending::<&'static str>))
        .route(
            "/test/wait",
            get(move || async move {
                gate.entered.notify_one();
                gate.release.notified().await;
                "released"
            }),
        )
}

pub type ServerTask = tokio::task::JoinHandle<std::io::Result<()>>;

async fn panicking_handler() -> &'static str {
    panic!("secret panic detail at src/server/x.rs:1")
}

/// A small stand-in for `target/site`, so asset tests do not depend on a prior build.
fn make_site_root(dir: &std::path::Path) -> String {
    let root = dir.join("site");
    std::fs::create_dir_all(root.join("pkg")).expect("site dir");
    std::fs::write(
        root.join("pkg/gatehouse.js"),
        "export function hydrate() {}\n".repeat(100),
    )
    .expect("js");
    std::fs::write(root.join("pkg/gatehouse_bg.wasm"), vec![0u8; 4096]).expect("wasm");
    // A release build's name: cargo-leptos `hash-files` puts the content hash in it.
    std::fs::write(
        root.join("pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css"),
        "body { margin: 0 }\n".repeat(50),
    )
    .expect("hashed css");
    // Its twins, as `gatehouse precompress` writes them after a release build, before the
    // server starts (which reads hashed files into memory then).
    gatehouse::server::http::static_files::precompress(&root.join("pkg")).expect("twins");
    std::fs::write(root.join("favicon.ico"), [0u8; 64]).expect("favicon");
    root.display().to_string()
}

/// What a browser would send for a session: just our cookie.
pub fn session_header(name: &str, token: &str) -> String {
    format!("{name}={token}")
}

impl TestApp {
    /// Starts the graceful shutdown; the task ends when the server has stopped.
    pub fn stop(&self) -> ServerTask {
        let (stop, server) = self
            .shutdown
            .lock()
            .unwrap()
            .take()
            .expect("stopped only once");
        stop.send(()).expect("server still running");
        server
    }

    /// Runs one SQL statement on the app's database behind its back (tests that tamper with
    /// the data), over a connection of the backend's own driver.
    pub async fn execute_sql(&self, sql: &str) -> Result<u64, sqlx::Error> {
        use sqlx::Connection;
        let done = if self.database_url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await;
            conn.close().await.ok();
            done?.rows_affected()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await;
            conn.close().await.ok();
            done?.rows_affected()
        };
        Ok(done)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A server function request the way the hydrated page makes it (form-encoded body, no
    /// `text/html` in Accept), with the session cookie if any; add headers, then `send`.
    pub fn rpc(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> RequestBuilder {
        let req = self
            .client
            .post(self.url(&format!("/rpc/{endpoint}")))
            .form(form);
        match session {
            Some(token) => req.header(COOKIE, session_header(self.cookie_name, token)),
            None => req,
        }
    }

    /// Calls a server function the way the hydrated page does.
    pub async fn call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> Response {
        self.rpc(endpoint, form, session)
            .send()
            .await
            .expect("request")
    }

    /// Calls a server function from a particular browser (its User-Agent).
    pub async fn call_from(
        &self,
        user_agent: &str,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> Response {
        self.rpc(endpoint, form, session)
            .header(USER_AGENT, user_agent)
            .send()
            .await
            .expect("request")
    }

    /// Posts a form the way a browser without JavaScript does, from the page at `referer`.
    pub async fn post_plain_form(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        referer: &str,
        session: Option<&str>,
    ) -> Response {
        self.plain_form(endpoint, form, session)
            .header(reqwest::header::REFERER, self.url(referer))
            .send()
            .await
            .expect("request")
    }

    /// A server-function post as a browser without JavaScript sends it (its `Accept`).
    fn plain_form(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        session: Option<&str>,
    ) -> RequestBuilder {
        self.rpc(endpoint, form, session).header(
            ACCEPT,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
    }

    /// A form posted without JavaScript with `referer` sent exactly as given (any URL), or
    /// with no `Referer` at all.
    pub async fn post_plain_form_from(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        referer: Option<&str>,
    ) -> Response {
        let mut req = self.plain_form(endpoint, form, None);
        if let Some(referer) = referer {
            req = req.header(reqwest::header::REFERER, referer);
        }
        req.send().await.expect("request")
    }

    /// A plain GET, as a script or a health checker sends it.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// A plain GET whose answer is JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    pub async fn get_page(&self, path: &str, session: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path)).header(ACCEPT, "text/html");
        if let Some(token) = session {
            req = req.header(COOKIE, session_header(self.cookie_name, token));
        }
        req.send().await.expect("request")
    }

    pub async fn register(&self, username: &str, email: &str) -> Response {
        self.register_with(username, email, PASSWORD).await
    }

    /// Registers with `password` typed twice.
    pub async fn register_with(&self, username: &str, email: &str, password: &str) -> Response {
        self.call(
            "register",
            &registration_form(username, email, password),
            None,
        )
        .await
    }

    /// Registers and returns the new session token.
    pub async fn register_ok(&self, username: &str, email: &str) -> String {
        let res = self.register(username, email).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "registration failed: {:?}",
            res.text().await
        );
        session_token_from(&res, self.cookie_name).expect("a session cookie")
    }

    /// Signs in and returns the new session token.
    pub async fn login_ok(&self, username: &str) -> String {
        let res = self.login(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "sign-in failed");
        session_token_from(&res, self.cookie_name).expect("a session cookie")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.call(
            "login",
            &[("username", username), ("password", password)],
            None,
        )
        .await
    }

    /// Signs in through a proxy that names `forwarded_for` as the client (believed only when
    /// the app trusts the proxy, see `TRUSTED_PROXIES`).
    pub async fn login_from(
        &self,
        forwarded_for: &str,
        username: &str,
        password: &str,
    ) -> Response {
        self.rpc(
            "login",
            &[("username", username), ("password", password)],
            None,
        )
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("request")
    }

    /// The signed-in username for `token`, as `get_current_user` reports it.
    pub async fn current_username(&self, token: &str) -> Option<String> {
        let res = self.call("current_user", &[], Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.expect("json");
        body.get("username")
            .and_then(|u| u.as_str())
            .map(str::to_string)
    }
}

/// What the app holds behind the HTTP surface, for tests that look (or reach) behind it. The
/// only place that knows where the state keeps them.
impl TestApp {
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.state.hasher
    }

    pub fn limits(&self) -> &Limits {
        &self.state.limits
    }

    /// Runs the periodic purge of expired sessions now; how many it removed.
    pub async fn purge_expired_sessions(&self) -> u64 {
        self.state
            .auth
            .sessions
            .purge_expired()
            .await
            .expect("purge")
    }

    /// The stored session behind a session token, if it is still there.
    pub async fn stored_session(&self, token: &str) -> Option<SessionRecord> {
        let hash = SessionToken::parse(token).expect("a session token").hash();
        self.store().session(&hash).await.expect("store")
    }

    /// The stored account with this (canonical) username.
    pub async fn stored_user(&self, username: &str) -> Option<UserRecord> {
        self.store()
            .user_by_username(username)
            .await
            .expect("store")
    }
}

/// The sign-up form, filled in with `password` typed twice.
pub fn registration_form<'a>(
    username: &'a str,
    email: &'a str,
    password: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("email", email),
        ("username", username),
        ("password", password),
        ("password_confirm", password),
    ]
}

/// The token of the cookie named `name` set by this response (empty value = removal).
pub fn session_token_from(res: &Response, name: &str) -> Option<String> {
    set_cookie(res, name)
        .map(|c| {
            c[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|v| !v.is_empty())
}

/// The whole `Set-Cookie` line (value and attributes) for the cookie named `name`.
pub fn set_cookie(res: &Response, name: &str) -> Option<String> {
    set_cookie_headers(res.headers())
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// A response header as text, `None` when absent (or not text).
pub fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A page's CSP nonce, from its policy header.
pub fn page_nonce(res: &Response) -> String {
    let policy = header(res, "content-security-policy").expect("a page policy");
    gatehouse::server::http::csp::nonce_in(policy)
        .expect("a nonce")
        .to_string()
}

pub fn set_cookie_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

/// Decodes a server function's error body.
pub async fn app_error(res: Response) -> AppError {
    let body = res.text().await.expect("body");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not an AppError ({e}): {body}"))
}

/// The JSON API, as an API client uses it.
impl TestApp {
    pub async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/api/v1/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The OAuth2 password grant (RFC 6749 4.3).
    pub async fn password_grant(&self, username: &str, password: &str) -> Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .await
    }

    pub async fn access_token(&self, username: &str) -> String {
        let res = self.password_grant(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A GET with `Authorization: Bearer <bearer>` (an access token or an API key).
    pub async fn get_with_bearer(&self, path: &str, bearer: &str) -> Response {
        self.client
            .get(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .send()
            .await
            .unwrap()
    }

    /// A POST of `body` as JSON, with no credentials.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A POST of `body` as JSON with `Authorization: Bearer <bearer>`.
    pub async fn post_json_with_bearer(&self, path: &str, bearer: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self, bearer: &str) -> Response {
        self.get_with_bearer("/api/v1/users/me", bearer).await
    }

    /// Creates an API key through the JSON API (the password is the one every test account
    /// has), with the default expiry.
    pub async fn create_key(&self, jwt: &str, name: &str) -> Value {
        let res = self
            .post_json_with_bearer(
                "/api/v1/keys",
                jwt,
                &json!({ "name": name, "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Creates an API key and returns its full secret (`gk_…`).
    pub async fn create_key_secret(&self, jwt: &str, name: &str) -> String {
        self.create_key(jwt, name).await["secret"]
            .as_str()
            .expect("the key's secret")
            .to_string()
    }
}

/// The server binary, run as a process from the repository root with `args`. Nothing from
/// the developer's shell or a local .env may leak into a test: an empty variable counts as
/// unset, and dotenvy never overrides a variable that is present. `env` comes on top.
pub fn run_gatehouse(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for var in [
        "APP_ENV",
        "SECRET_KEY",
        "SESSION_COOKIE_SECURE",
        "ALLOWED_ORIGINS",
        "HSTS",
        "SMTP_URL",
        "MAIL_FROM",
        "MAIL_DIR",
        "PUBLIC_URL",
    ] {
        cmd.env(var, "");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

/// A local port where nothing listens (bound, then released at once).
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The Redis the tests use: `TEST_REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix of one test's own, so tests running at once share no counters (and nothing
/// is ever flushed).
pub fn unique_prefix() -> String {
    format!("gatehouse-test-{}", uuid::Uuid::new_v4().simple())
}

/// How long a test waits for something it started (a request reaching a handler, a server
/// stopping, a mail arriving) before failing: a wait without a deadline turns a regression into
/// a hung CI run instead of a red test.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// `future`'s output, or a failed test naming `what` after `DEADLINE`.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {DEADLINE:?}"))
}

/// SHA-256 of `bytes`, computed by the test rather than by the app: what the "only a hash is
/// stored" tests compare a stored value with.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}
