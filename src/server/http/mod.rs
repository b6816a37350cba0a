//! HTTP plumbing: the edge layers (headers, CSP, CSRF, caching, errors), what server functions
//! read from the request, health endpoints, and the JSON API router.

pub mod anonymous_pages;
pub mod api;
pub mod cache;
pub mod csp;
pub mod csrf;
pub mod error_page;
pub mod extract;
pub mod fallback;
pub mod form_errors;
pub mod headers;
pub mod health;
pub mod link_pages;
pub mod methods;
pub mod page_scripts;
pub mod rate_limit;
pub mod request_id;
pub mod server_fn_status;
pub mod settings;
pub mod static_files;
