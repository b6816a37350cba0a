use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::auth::AuthService;
use super::config::Settings;

/// Everything a handler or server function needs, cheap to clone. Leptos provides it as
/// context to server functions and to the server render (see `startup`).
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    pub auth: Arc<AuthService>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
