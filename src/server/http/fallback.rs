//! What answers a path no route has: a file of the site root (what cargo-leptos copies from
//! `public/`: `favicon.ico`, `robots.txt`), else the not-found page.
//!
//! Written here instead of using leptos_axum's `file_and_error_handler`, which builds its
//! `ServeDir` per request and renders the not-found page for every visitor: this one asks
//! `AnonymousPages` first, so a visitor with no cookie and no query gets the page's copy
//! (`docs/benchmarks.md`: the 404 page had a fifth of `/login`'s copy's throughput).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::ACCEPT_ENCODING;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, IntoView};
use tower::ServiceExt;

use crate::server::http::anonymous_pages::AnonymousPages;
use crate::server::http::static_files::serve_precompressed;
use crate::server::state::AppState;

type Answer = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The router's fallback. `context` and `shell` are the page routes' own, so the not-found
/// page renders as every other page does.
pub fn handler<IV>(
    state: AppState,
    pages: Arc<AnonymousPages>,
    context: impl Fn() + Clone + Send + Sync + 'static,
    shell: impl Fn(LeptosOptions) -> IV + Clone + Send + Sync + 'static,
) -> impl Fn(Request) -> Answer + Clone + Send + Sync + 'static
where
    IV: IntoView + 'static,
{
    let options = state.leptos_options.clone();
    let files = serve_precompressed(&*options.site_root);
    let render = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(state.clone());
            context();
        },
        move || shell(options.clone()),
    );
    move |request: Request| {
        let files = files.clone();
        let render = render.clone();
        let pages = pages.clone();
        Box::pin(async move {
            if let Some(file_request) = file_request(&request) {
                let file = match files.oneshot(file_request).await {
                    Ok(file) => file,
                    Err(never) => match never {},
                };
                if file.status() == StatusCode::OK {
                    return file.into_response();
                }
            }
            // The app's router answers an unknown path with `NotFound`, which sets 404 itself,
            // and only that page may become the copy. A path the app's router matches but
            // axum's routes do not (`/login/`: the router ignores the trailing slash) renders
            // that page, which is not at this address: it is sent as a 404 too, after the copy
            // has declined it (kept, it would answer every unknown path).
            let mut response = pages.not_found(request, render).await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            response
        })
    }
}

/// What is asked of the site root for `request`: only reads are, and with only the request's
/// `Accept-Encoding` (to pick a `.br` or `.gz` twin). Its conditional headers stay out: a
/// `304` for a file is not a `200`, and would be taken for a path that has no file.
fn file_request(request: &Request) -> Option<Request> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return None;
    }
    let mut file_request = Request::new(Body::empty());
    *file_request.method_mut() = request.method().clone();
    *file_request.uri_mut() = request.uri().clone();
    if let Some(accepted) = request.headers().get(ACCEPT_ENCODING) {
        file_request
            .headers_mut()
            .insert(ACCEPT_ENCODING, accepted.clone());
    }
    Some(file_request)
}
