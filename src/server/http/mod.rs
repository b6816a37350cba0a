//! HTTP plumbing: what server functions read from the request, health endpoints.

pub mod context;
pub mod health;
pub mod server_fn_status;
