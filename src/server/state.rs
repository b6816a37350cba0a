use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::auth::{Auth, JwtKeys, PasswordHasher};
use super::config::Settings;
use super::db::Store;
use super::limits::throttle::AccountThrottle;
use super::limits::Limits;
use super::mail::Mailer;

/// Everything a handler or server function needs. Leptos provides it as context to server
/// functions and to the server render (see `startup`).
///
/// One `Arc` around the parts: axum clones the state for every middleware and handler that
/// takes it, several times per request, and cloning the parts themselves (the Leptos options'
/// strings, the mailer's handles) was the largest single cost of a `/healthz` answer in a
/// profile (docs/benchmarks.md, "Load").
#[derive(Clone)]
pub struct AppState(Arc<AppStateParts>);

/// The infrastructure (store, hasher, limits, throttle, JWT keys, mailer) is built once in
/// `startup` and held here; the auth services hold the same handles. The edge (the global rate
/// limit, readiness, shutdown) takes what it needs from here, never through a service.
pub struct AppStateParts {
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub limits: Arc<Limits>,
    pub throttle: Arc<AccountThrottle>,
    pub jwt: Arc<JwtKeys>,
    pub mailer: Mailer,
    pub auth: Arc<Auth>,
}

impl AppState {
    pub fn new(parts: AppStateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = AppStateParts;

    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
