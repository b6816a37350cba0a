//! What answers a path no route has: a file of the site root (what cargo-leptos copies from
//! `public/`: `favicon.ico`, `robots.txt`), else the not-found page.
//!
//! Written here instead of using leptos_axum's `file_and_error_handler`, which builds its
//! `ServeDir` per request and renders the not-found page for every visitor: this one asks
//! `AnonymousPages` first, so a visitor with no cookie and no query gets the page's copy
//! (`docs/benchmarks.md`: the 404 page had a fifth of `/login`'s copy's throughput), and asks
//! the disk only for paths it knows to be files (`SiteRootFiles`).

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::ACCEPT_ENCODING;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, IntoView};
use percent_encoding::percent_decode_str;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;
use walkdir::WalkDir;

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
    let files = SiteRootFiles::new(&options);
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
            // (The request is not `Sync`: only what is asked of the disk is held across it.)
            if let Some(file_request) = files.disk_request(&request) {
                if let Some(file) = files.answer(file_request).await {
                    return file;
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

/// The files of the site root, served from disk (with their `.br` and `.gz` twins, if any).
///
/// Every question to the disk is a round trip to tokio's blocking pool (its file open), and
/// it was asked of every path no route has: the not-found page, even from its copy, paid for
/// a file open that found nothing (docs/benchmarks.md). So a build that hashes its file names
/// (a release build, shipped with the site it was built with, as `static_files::pkg_files`
/// also assumes) lists the site root's files once, at start, and asks the disk only for
/// those; a file added to a running release server's site root is served after a restart.
/// `cargo leptos watch` (unhashed names) copies `public/` again while the app runs, so there
/// every path is asked of the disk.
#[derive(Clone)]
struct SiteRootFiles {
    disk: SetResponseHeader<ServeDir, HeaderValue>,
    /// The request paths of the files found at start; `None`: ask the disk for every path.
    listed: Option<Arc<HashSet<String>>>,
}

impl SiteRootFiles {
    fn new(options: &LeptosOptions) -> Self {
        let root = Path::new(&*options.site_root);
        let listed = options.hash_files.then(|| {
            let files = list_files(root, &root.join(&*options.site_pkg_dir));
            tracing::debug!(files = files.len(), "site root files listed");
            Arc::new(files)
        });
        Self {
            disk: serve_precompressed(root),
            listed,
        }
    }

    /// What to ask the disk for `request`; `None` when the site root has no file there
    /// (or, unlisted, may have one: then only the disk can tell).
    fn disk_request(&self, request: &Request) -> Option<Request> {
        if let Some(listed) = &self.listed {
            // Decoded as `ServeDir` decodes it, so `/%72obots.txt` still finds `robots.txt`.
            // A path it would also normalise (`/./robots.txt`, `//robots.txt`) is not listed
            // and gets the not-found page: stricter, never a file it would not serve.
            let path = percent_decode_str(request.uri().path())
                .decode_utf8()
                .ok()?;
            if !listed.contains(path.as_ref()) {
                return None;
            }
        }
        file_request(request)
    }

    /// The file `file_request` asks for, if the disk has it.
    async fn answer(&self, file_request: Request) -> Option<Response> {
        let file = match self.disk.clone().oneshot(file_request).await {
            Ok(file) => file,
            Err(never) => match never {},
        };
        (file.status() == StatusCode::OK).then(|| file.into_response())
    }
}

/// Every file under `root`, by the path a request names it with (`/robots.txt`,
/// `/.well-known/security.txt`), those under `pkg_dir` aside: its own route serves them.
/// Links are followed, as `ServeDir` follows them (walkdir stops at a loop).
fn list_files(root: &Path, pkg_dir: &Path) -> HashSet<String> {
    WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| entry.path() != pkg_dir)
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(root).ok()?;
            let parts = relative
                .components()
                .map(|part| part.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()?;
            Some(format!("/{}", parts.join("/")))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn site_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("robots.txt"), "User-agent: *\n").unwrap();
        std::fs::create_dir_all(root.path().join(".well-known")).unwrap();
        std::fs::write(root.path().join(".well-known/security.txt"), "Contact: x\n").unwrap();
        std::fs::create_dir_all(root.path().join("pkg")).unwrap();
        std::fs::write(root.path().join("pkg/gatehouse.js"), "export {}\n").unwrap();
        root
    }

    fn files(root: &Path, hash_files: bool) -> SiteRootFiles {
        let options = LeptosOptions::builder()
            .output_name("gatehouse")
            .site_root(root.to_str().unwrap())
            .hash_files(hash_files)
            .build();
        SiteRootFiles::new(&options)
    }

    async fn body_at(files: &SiteRootFiles, path: &str) -> Option<String> {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = files.answer(files.disk_request(&request)?).await?;
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        Some(String::from_utf8(bytes.unwrap().to_vec()).unwrap())
    }

    #[test]
    fn the_listing_names_files_by_their_request_paths_without_the_bundle() {
        let root = site_root();
        let listed = list_files(root.path(), &root.path().join("pkg"));
        let expected = ["/robots.txt", "/.well-known/security.txt"];
        assert_eq!(listed, expected.map(String::from).into(), "{listed:?}");
    }

    #[tokio::test]
    async fn a_release_build_asks_the_disk_only_for_the_files_it_started_with() {
        let root = site_root();
        let files = files(root.path(), true);
        std::fs::write(root.path().join("late.txt"), "added later").unwrap();

        let robots = body_at(&files, "/robots.txt").await;
        assert_eq!(robots.as_deref(), Some("User-agent: *\n"));
        assert_eq!(body_at(&files, "/%72obots.txt").await, robots);
        let security = body_at(&files, "/.well-known/security.txt").await;
        assert_eq!(security.as_deref(), Some("Contact: x\n"));
        // On disk, but not there at start (or not the site root's to serve here).
        assert_eq!(body_at(&files, "/late.txt").await, None);
        assert_eq!(body_at(&files, "/pkg/gatehouse.js").await, None);
        assert_eq!(body_at(&files, "/no/such/file").await, None);
        assert_eq!(body_at(&files, "/.well-known").await, None);
        let post = Request::post("/robots.txt").body(Body::empty()).unwrap();
        assert!(files.disk_request(&post).is_none());
    }

    #[tokio::test]
    async fn with_unhashed_names_every_path_is_asked_of_the_disk() {
        let root = site_root();
        let files = files(root.path(), false);
        std::fs::write(root.path().join("late.txt"), "added later").unwrap();

        assert_eq!(
            body_at(&files, "/late.txt").await.as_deref(),
            Some("added later")
        );
        assert_eq!(body_at(&files, "/no/such/file").await, None);
        assert_eq!(body_at(&files, "/.well-known").await, None);
    }
}
