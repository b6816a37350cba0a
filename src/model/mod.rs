//! Shared with the browser: everything here compiles for wasm32 and for the server, so the
//! browser shows the same field errors, from the same code, that the server enforces.

pub mod account;
pub mod activity;
pub mod api_key;
pub mod email;
pub mod error;
pub mod forms;
pub mod nfc;
pub mod passkey;
pub mod password;
pub mod strength;
pub mod two_factor;
pub mod user;
pub mod username;

pub use api_key::{CreateApiKeyForm, KeyExpiry};
pub use error::{AppError, FieldErrors};
pub use forms::{
    ChangeEmailForm, ChangePasswordForm, DeleteAccountForm, EmailAddressForm, LoginForm,
    RegisterForm, ResetPasswordForm,
};
pub use password::{Password, PasswordPolicy};
pub use user::PublicUser;
