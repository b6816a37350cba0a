//! Authentication: password hashing, sessions, and the service both doors (server functions
//! and the JSON API) call.

pub mod api_keys;
pub mod client;
pub mod import;
pub mod jwt;
pub mod password;
pub mod service;
pub mod session;

pub use client::ClientMeta;
pub use password::PasswordHasher;
pub use service::{AuthService, Credential, Principal};
pub use session::SessionToken;
