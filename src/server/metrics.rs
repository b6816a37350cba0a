//! Metrics an operator watches, in the Prometheus text format, on a listen address of their
//! own (`METRICS_ADDR`, off by default): never on the public port, so nobody outside scrapes
//! how many sign-ins fail.
//!
//! Recorded with the `metrics` facade where things happen (HTTP requests, sign-ins,
//! registrations, the hashing queue, rate-limit refusals, the Redis fallback), and sampled
//! every few seconds for what is a level rather than an event (active sessions, the database
//! pool, mail counters). No label carries a username, an address, an IP or a token: labels are
//! route templates, outcomes, rules and status classes only.
//!
//! The recorder is process-wide (the `metrics` macros write to one global recorder), so it is
//! installed once, whatever number of applications a process builds (the integration tests
//! build many).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::server::db::PoolSample;
use crate::server::env::{invalid, ConfigError, Env};

/// How often the levels (sessions, pool, mail) are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);

/// Request latency buckets, in seconds: page renders and JSON answers take milliseconds; a
/// sign-in takes an argon2 verification (tens of ms) or the failure floor (hundreds).
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The metrics' names, one place for the code, the docs and the dashboards.
pub mod name {
    pub const HTTP_REQUESTS: &str = "gatehouse_http_requests_total";
    pub const HTTP_DURATION: &str = "gatehouse_http_request_duration_seconds";
    pub const SIGN_INS: &str = "gatehouse_sign_ins_total";
    pub const REGISTRATIONS: &str = "gatehouse_registrations_total";
    pub const HASH_WAITING: &str = "gatehouse_password_hash_waiting";
    pub const HASH_WAIT: &str = "gatehouse_password_hash_wait_seconds";
    pub const HASH_REJECTED: &str = "gatehouse_password_hash_rejected_total";
    pub const RATE_LIMITED: &str = "gatehouse_rate_limited_total";
    pub const REDIS_FALLBACK: &str = "gatehouse_redis_fallback";
    pub const ACTIVE_SESSIONS: &str = "gatehouse_active_sessions";
    pub const DB_CONNECTIONS: &str = "gatehouse_db_connections";
    pub const DB_ACQUIRE: &str = "gatehouse_db_acquire_seconds";
    pub const MAIL: &str = "gatehouse_mail_messages_total";
    pub const BUILD_INFO: &str = "gatehouse_build_info";
}

/// `METRICS_ADDR`: where `/metrics` is served; `None` (the default) serves it nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub addr: Option<SocketAddr>,
}

impl MetricsSettings {
    /// `public` is the site's own address: the metrics may not share its port.
    pub fn from_env(env: &Env, public: Option<SocketAddr>) -> Result<Self, ConfigError> {
        let Some(raw) = env.text("METRICS_ADDR") else {
            return Ok(Self { addr: None });
        };
        let addr: SocketAddr = raw.parse().map_err(|_| {
            invalid(
                "METRICS_ADDR",
                format!("`{raw}`: expected host:port, e.g. 127.0.0.1:9100"),
            )
        })?;
        if addr.port() != 0 && public.is_some_and(|public| public.port() == addr.port()) {
            return Err(invalid(
                "METRICS_ADDR",
                "must not be the site's own port: metrics are for operators only",
            ));
        }
        Ok(Self { addr: Some(addr) })
    }
}

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(name::HTTP_DURATION.into()), &LATENCY_BUCKETS)
            .and_then(|builder| {
                builder
                    .set_buckets_for_metric(Matcher::Full(name::HASH_WAIT.into()), &LATENCY_BUCKETS)
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(name::DB_ACQUIRE.into()),
                    &LATENCY_BUCKETS,
                )
            })
            .map(PrometheusBuilder::build_recorder);
        let handle = match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                // Fails only when another recorder is installed (a fork that brings its own):
                // then these metrics are recorded there, and this handle renders nothing.
                if metrics::set_global_recorder(recorder).is_err() {
                    tracing::warn!(
                        "a metrics recorder was already installed; /metrics uses its own"
                    );
                }
                handle
            }
            Err(error) => {
                tracing::error!(%error, "metrics recorder could not be built");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        name::HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status class"
    );
    describe_histogram!(
        name::HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route template and method"
    );
    describe_counter!(
        name::SIGN_INS,
        "Sign-in attempts (browser and password grant), by outcome"
    );
    describe_counter!(name::REGISTRATIONS, "Sign-ups, by outcome");
    describe_gauge!(
        name::HASH_WAITING,
        "Password hashes waiting for a hashing slot"
    );
    describe_histogram!(
        name::HASH_WAIT,
        Unit::Seconds,
        "Time a password hash waited for a slot"
    );
    describe_counter!(
        name::HASH_REJECTED,
        "Password hashes refused because the queue was full (answered 503)"
    );
    describe_counter!(
        name::RATE_LIMITED,
        "Requests refused by a per-client or per-recipient rate limit, by rule"
    );
    describe_gauge!(
        name::REDIS_FALLBACK,
        "1 while Redis does not answer and limits fall back to this process's counters"
    );
    describe_gauge!(name::ACTIVE_SESSIONS, "Sessions not yet expired (sampled)");
    describe_gauge!(
        name::DB_CONNECTIONS,
        "Database pool connections, by state (in_use, idle; sampled)"
    );
    describe_histogram!(
        name::DB_ACQUIRE,
        Unit::Seconds,
        "Time to get a connection from the database pool (sampled)"
    );
    describe_counter!(
        name::MAIL,
        "Mail messages, by outcome (sent, failed, dropped)"
    );
    describe_gauge!(
        name::BUILD_INFO,
        "Always 1; the labels say which build is running"
    );
    gauge!(name::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// The route template a request matched (`/api/v1/keys/{id}`), carried from the routing
/// layer to `track_http`, which runs outside it.
#[derive(Clone)]
struct RouteTemplate(String);

/// Inside the router (a route layer): notes which route template answered.
pub async fn note_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response
            .extensions_mut()
            .insert(RouteTemplate(matched.as_str().to_string()));
    }
    response
}

/// Outside the router: counts and times every request, by route template (or `other` for
/// static files and unknown paths: a path itself could carry anything), method and status class.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| "other".to_string(), |r| r.0.clone());
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!(name::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    histogram!(name::HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Known methods by name; anything else is one label, so a client cannot mint label values.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A sign-in attempt's outcome (`gatehouse_sign_ins_total{outcome}`).
pub fn sign_in(outcome: &'static str) {
    counter!(name::SIGN_INS, "outcome" => outcome).increment(1);
}

/// A sign-up's outcome (`gatehouse_registrations_total{outcome}`).
pub fn registration(outcome: &'static str) {
    counter!(name::REGISTRATIONS, "outcome" => outcome).increment(1);
}

/// A refusal by the rate-limit rule `rule`.
pub fn rate_limited(rule: &'static str) {
    counter!(name::RATE_LIMITED, "rule" => rule).increment(1);
}

/// The levels sampled every `SAMPLE_INTERVAL` (by `startup`, which has the state to read).
pub struct Levels {
    pub active_sessions: Option<u64>,
    pub pool: PoolSample,
    /// The mailer's running totals: sent, failed, dropped.
    pub mail: [u64; 3],
}

pub fn record_levels(levels: &Levels) {
    if let Some(count) = levels.active_sessions {
        gauge!(name::ACTIVE_SESSIONS).set(count as f64);
    }
    gauge!(name::DB_CONNECTIONS, "state" => "in_use").set(f64::from(levels.pool.in_use));
    gauge!(name::DB_CONNECTIONS, "state" => "idle").set(f64::from(levels.pool.idle));
    if let Some(acquire) = levels.pool.acquire {
        histogram!(name::DB_ACQUIRE).record(acquire.as_secs_f64());
    }
    for (outcome, total) in ["sent", "failed", "dropped"].into_iter().zip(levels.mail) {
        counter!(name::MAIL, "outcome" => outcome).absolute(total);
    }
}

/// The operators' listener: `GET /metrics` and nothing else.
pub fn router() -> Router {
    Router::new().route("/metrics", get(render))
}

async fn render() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle().render(),
    )
}
