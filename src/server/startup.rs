//! Builds the application: storage, services, router and the layer stack; binds the listener.
//!
//! `Application::build` binds its own listener (port 0 in tests), so each integration test
//! gets its own app, port and database.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, Method, Request, Response, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, use_context, IntoView};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::server::auth::secret_box::SecretBox;
use crate::server::auth::{
    two_factor, Auth, AuthParts, FailureFloor, JwtKeys, PasswordHasher, RelyingParty, RenderSession,
};
use crate::server::clock::{Clock, SystemClock};
use crate::server::config::Settings;
use crate::server::db;
use crate::server::error::ServiceError;
use crate::server::http::request_id::REQUEST_ID_HEADER;
use crate::server::http::{
    anonymous_pages, api, cache, csp, csrf, error_page, fallback, form_errors, headers, health,
    link_pages, methods, page_scripts, rate_limit, request_id, server_fn_status, static_files,
};
use crate::server::limits::{self, client_ip};
use crate::server::mail::Mailer;
use crate::server::metrics;
use crate::server::state::{AppState, AppStateParts};

/// Forms and JSON bodies of an auth app are tiny; anything larger is refused with 413
/// before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How often expired sessions are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Logs what one purge of expired rows did (`what`: the kind of row, as in `session.purged`).
fn purged(what: &'static str, outcome: Result<u64, ServiceError>) {
    match outcome {
        Ok(0) => {}
        Ok(count) => tracing::info!(event = "purged", what, count),
        Err(error) => tracing::warn!(%error, what, "purge of expired rows failed"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] db::StoreError),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::server::auth::password::HashError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("passkeys: {0}")]
    Passkeys(String),
    #[error(
        "APP_ENV is not set and {addr} is not a loopback address: development settings \
         (cookies without Secure, no HSTS, a per-process key) would face the network. \
         Set APP_ENV=production for a deployment, or APP_ENV=development to serve \
         development settings on this address on purpose"
    )]
    ImplicitEnvironment { addr: SocketAddr },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The operators' listener for `/metrics` (`METRICS_ADDR`), when configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    extra_routes: Option<Router<AppState>>,
}

impl Application {
    pub async fn build(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, leptos_options, Arc::new(SystemClock)).await
    }

    /// As `build`, with the clock injected (tests move time by hand).
    pub async fn build_with_clock(
        settings: Settings,
        leptos_options: LeptosOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let addr = leptos_options.site_addr;
        // Development is the default only where nobody else can connect; anywhere else the
        // environment must be chosen. Checked first, before anything is opened or migrated.
        if !settings.environment_is_explicit && !addr.ip().to_canonical().is_loopback() {
            return Err(StartupError::ImplicitEnvironment { addr });
        }
        // The infrastructure, built once: the state holds it for the edge, and the auth
        // services get the pieces each one uses.
        let store = db::CachedStore::connect(&settings.database, clock.clone()).await?;
        let hasher =
            PasswordHasher::with_queue(settings.hasher.concurrency, settings.hasher.queue_limit)?;
        let (rate_limits, throttle) =
            limits::from_settings(&settings.rate_limits, &settings.redis, clock.clone());
        let (limits, throttle) = (Arc::new(rate_limits), Arc::new(throttle));
        let jwt = Arc::new(JwtKeys::new(
            &settings.secret_key,
            &settings.jwt.issuer,
            &settings.jwt.audience,
            settings.jwt.ttl_secs,
        ));
        let mailer = Mailer::start(&settings.mail).map_err(StartupError::Mail)?;
        let auth = Auth::new(AuthParts {
            store: store.clone(),
            clock,
            hasher: hasher.clone(),
            failure_floor: match settings.hasher.failure_floor {
                Some(floor) => FailureFloor::fixed(floor),
                None => FailureFloor::calibrated(hasher.clone()),
            },
            limits: limits.clone(),
            throttle: throttle.clone(),
            jwt: jwt.clone(),
            sessions: settings.session.clone(),
            password_policy: settings.password_policy,
            verification_mode: settings.email_verification,
            mailer: mailer.clone(),
            public_url: settings.mail.public_url.clone(),
            sealer: SecretBox::new(&settings.secret_key, two_factor::SEALING_LABEL),
            relying_party: RelyingParty::new(&settings.passkeys).map_err(StartupError::Passkeys)?,
        });
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        // Bound with the site, so a taken port stops the start, not the first scrape.
        let metrics_listener = match settings.metrics.addr {
            Some(addr) => {
                metrics::handle();
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| StartupError::Bind { addr, source })?,
                )
            }
            None => None,
        };
        let state = AppState::new(AppStateParts {
            leptos_options,
            settings: Arc::new(settings),
            store,
            hasher,
            limits,
            throttle,
            jwt,
            mailer,
            auth: Arc::new(auth),
        });
        Ok(Self {
            listener,
            local_addr,
            metrics_listener,
            state,
            extra_routes: None,
        })
    }

    /// Adds routes of your own (a fork's product pages, or a test's probes). They get the
    /// whole layer stack: headers, CSRF check, limits, request ids.
    pub fn with_routes(mut self, routes: Router<AppState>) -> Self {
        self.extra_routes = Some(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and lets in-flight requests finish
    /// (within `SHUTDOWN_TIMEOUT_SECS`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes; then stops accepting connections, gives in-flight
    /// requests and then the queued mail, together, up to the shutdown timeout to finish, and
    /// closes the database.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.settings.http.shutdown_timeout;
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_INTERVAL);
            loop {
                tick.tick().await;
                // Forget rate-limit and throttle state that has expired.
                state.limits.prune();
                state.throttle.prune().await;
                let auth = &state.auth;
                purged("session", auth.sessions.purge_expired().await);
                purged("email_link", auth.email_links.purge_expired().await);
                purged("two_factor", auth.two_factor.purge_expired().await);
                purged("passkey_ceremony", auth.passkeys.purge_expired().await);
            }
        });
        let store = self.state.store.clone();
        let mailer = self.state.mailer.clone();
        if let Some(listener) = self.metrics_listener {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(metrics::SAMPLE_INTERVAL);
                loop {
                    tick.tick().await;
                    sample_levels(&state).await;
                }
            });
            // Stops with the process; a scrape is one small read, nothing to drain.
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, metrics::router()).await {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            });
        }
        let app = router(self.state, self.extra_routes);
        // Without TCP_NODELAY, streamed bodies (static files) stall ~40 ms on Nagle + delayed
        // ACK (measured in TOOLCHAIN.md: 900 → 16,000 req/s for a CSS file).
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stopping, mut stopped) = tokio::sync::watch::channel(None);
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: no new connections, finishing in-flight requests"
            );
            let _ = stopping.send(Some(tokio::time::Instant::now()));
        });
        // Graceful shutdown alone waits for every open connection, however long: a stuck
        // client would hold the process forever. The grace period bounds it.
        let stop_began = stopped.clone();
        let deadline = async move {
            let _ = stopped.wait_for(Option::is_some).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = server => served?,
            () = deadline => tracing::warn!(
                grace_secs = grace.as_secs(),
                "shutdown grace period over; closing the remaining connections"
            ),
        }
        // Requests in flight may have queued mail: it goes out in what is left of the grace
        // period.
        let began = *stop_began.borrow();
        let left = began.map_or(grace, |began| grace.saturating_sub(began.elapsed()));
        mailer.drain(left).await;
        // Let the database flush and close cleanly.
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Reads the levels the metrics sample (sessions, the database pool, mail totals).
async fn sample_levels(state: &AppState) {
    let active_sessions = match state.auth.sessions.count_active().await {
        Ok(count) => Some(count),
        Err(error) => {
            tracing::debug!(%error, "active sessions not sampled");
            None
        }
    };
    metrics::record_levels(&metrics::Levels {
        active_sessions,
        pool: state.store.pool_sample().await,
        mail: [
            state.mailer.sent(),
            state.mailer.failed(),
            state.mailer.dropped(),
        ],
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// What leptos_axum adds to the context of each page render and server function call, after
/// the request's `Parts`: a page render (`GET`) gets one session lookup for the whole page.
fn render_context() {
    let is_render = use_context::<http::request::Parts>().is_some_and(|p| p.method == Method::GET);
    if is_render {
        provide_context(RenderSession::default());
    }
}

/// The whole HTTP surface. Layers are listed in the order a request passes through them,
/// outermost first; a response passes back through them in reverse.
pub fn router(state: AppState, extra_routes: Option<Router<AppState>>) -> Router {
    let settings = state.settings.clone();
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let leptos_options = state.leptos_options.clone();
    let anonymous_pages = Arc::new(anonymous_pages::AnonymousPages::default());

    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api::router(&settings.http.allowed_origins))
        // Pages and server functions. leptos_axum provides `AppState` as context to both.
        .leptos_routes_with_context(&state, route_list(), render_context, move || {
            page_shell(leptos_options.clone())
        })
        .layer(axum::middleware::map_response(
            server_fn_status::set_error_status,
        ))
        // Forms posted without JavaScript come back to their own page with a signed error;
        // pages refuse error parameters the server did not sign.
        .layer(axum::middleware::from_fn_with_state(
            form_errors::FormErrorSigner::new(&settings.secret_key),
            form_errors::no_js_form_errors,
        ))
        // The pages behind mailed links take their token out of the URL first.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            link_pages::move_token_to_cookie,
        ))
        // A visitor with no cookie and no query gets the public pages from their copies,
        // rendered once (outermost of the page layers: the three above act only on a query,
        // a cookie or a POST, which a copy never answers).
        .layer(axum::middleware::from_fn_with_state(
            anonymous_pages.clone(),
            anonymous_pages::serve,
        ));
    if let Some(extra) = extra_routes {
        app = app.merge(extra);
    }
    // Which route template answered, for the metrics (matched routes only: the file
    // fallback's paths are whatever a client asked for).
    let app = app.route_layer(axum::middleware::from_fn(metrics::note_route));
    let pkg_dir = Path::new(state.leptos_options.site_root.as_ref())
        .join(state.leptos_options.site_pkg_dir.as_ref());
    let app = app
        // The bundle: its content-hashed files from memory (read here, once), from their
        // precompressed twins where `gatehouse precompress` made them; anything else from
        // disk (a file it does not have answers 404 through the error page layer).
        .nest_service(
            &format!("/{}", state.leptos_options.site_pkg_dir),
            static_files::pkg_files(pkg_dir),
        )
        // A file of the site root, else the not-found page (from its copy when it may be).
        .fallback(fallback::handler(
            state.clone(),
            anonymous_pages,
            render_context,
            page_shell,
        ))
        // Innermost: refuse cross-site state changes before any handler runs.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::refuse_cross_site,
        ))
        .with_state(state.clone());

    let edge = ServiceBuilder::new()
        // 1. Cookies and credentials are marked sensitive first, so no later layer (tracing)
        //    can print them.
        .layer(SetSensitiveHeadersLayer::new([
            http::header::COOKIE,
            http::header::AUTHORIZATION,
            http::header::SET_COOKIE,
        ]))
        // 2. Every request gets an id before anything logs (a well-formed incoming one is
        //    kept), and the response carries it back.
        .layer(axum::middleware::map_request(request_id::drop_malformed))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        // 2b. Who the client is: the TCP peer, or what a trusted proxy says it forwarded in
        //     the one configured header.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(client_ip::ClientIpSource::new(
                settings.trusted_proxies.clone(),
                settings.client_ip_header,
            )),
            client_ip::resolve,
        ))
        // 3. One span per request, carrying the id, so every log line below names it.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        // 3a. Every request counted and timed for the operators' metrics, by the route
        //     template the router noted (`metrics::note_route`).
        .layer(axum::middleware::from_fn(metrics::track_http))
        // 3b. The per-IP ceiling on all requests (credential endpoints have tighter ones).
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::global_limit))
        // 4. Bare error responses from the layers below get a proper JSON or HTML body.
        .layer(axum::middleware::from_fn(error_page::render_bare_errors))
        // 5. Caching policy, then compression of whatever is sent (br or gzip).
        .layer(axum::middleware::from_fn(cache::set_cache_policy))
        .layer(CompressionLayer::new())
        // 6. A panic anywhere below becomes a 500, which 4 turns into the generic page.
        .layer(CatchPanicLayer::custom(panic_response))
        // 7. Methods nothing here answers to, before routing (the file fallback takes any).
        .layer(axum::middleware::from_fn(methods::refuse_unsupported))
        // 8. Bounded work per request: big bodies are refused unread, slow requests time out.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.http.request_timeout));

    // The security headers wrap everything, so even a response made by a layer above (a
    // panic, a timeout, a refused method) carries them.
    headers::add_security_headers(app.layer(edge), settings.http.hsts)
}

/// The HTML shell of every server-rendered page, with the page's Content-Security-Policy:
/// it names the nonce leptos_axum made for this response, which the hydration scripts carry.
/// (Set here, at the edge, so the UI never reaches into the server.)
fn page_shell(options: LeptosOptions) -> impl IntoView {
    csp::set_page_policy();
    let stylesheet = static_files::stylesheet_path(&options);
    let nonce = leptos::nonce::use_nonce().map(|nonce| nonce.to_string());
    let scripts = page_scripts::hydration_scripts(&options, nonce.as_deref());
    shell(options, stylesheet, scripts)
}

/// The page routes, generated once per process.
///
/// Generating them renders the app with resource loading suppressed through a process-wide
/// flag; a resource first polled by a concurrent request while that flag is up never
/// resolves (leptos issue #4773). Doing it once, before any server in the process serves,
/// keeps every render clear of that window (it matters when tests start many apps).
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: OnceLock<Vec<leptos_axum::AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    // The payload can hold internal detail: it goes to the log (inside the request's span,
    // so with its id), never to the client. The empty 500 gets its body from `error_page`.
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = detail, "request handler panicked");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
