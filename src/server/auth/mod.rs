//! Authentication: password hashing, sessions, and the service both doors (server functions
//! and the JSON API) call.

pub mod import;
pub mod password;
pub mod service;
pub mod session;

pub use password::PasswordHasher;
pub use service::{AuthService, ClientMeta};
pub use session::SessionToken;
