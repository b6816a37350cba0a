//! Server functions: the browser's doors onto the services in `crate::server`.
//!
//! Each body is the same three steps: read the request context, call the service, map the
//! outcome to the closed `AppError`. No rule lives here.
//!
//! All are mounted under `/rpc` (each `#[server]` names its own stable endpoint), apart from
//! the JSON API under `/api/v1`, which has its own documented contract for other clients.

pub mod account;
pub mod auth;
pub mod email;
pub mod passkeys;
#[cfg(feature = "ssr")]
pub(crate) mod ssr;
pub mod two_factor;

pub use account::{
    change_password, delete_account, get_account_overview, list_sessions, revoke_other_sessions,
    revoke_session, security_activity, ChangePassword, DeleteAccount, GetAccountOverview,
    ListSessions, RevokeOtherSessions, RevokeSession, SecurityActivity,
};
pub use auth::{
    create_api_key, list_api_keys, logout_everywhere, revoke_api_key, CreateApiKey, ListApiKeys,
    LogoutEverywhere, RevokeApiKey,
};
pub use auth::{
    get_current_user, get_password_policy, login, logout, register, sign_in_waiting,
    two_factor_sign_in, GetCurrentUser, GetPasswordPolicy, Login, Logout, Register, SignInWaiting,
    TwoFactorSignIn,
};
pub use email::{
    cancel_email_change, change_email, confirm_email, email_confirmation, password_reset_link,
    pending_email_change, request_password_reset, request_verification_link, resend_verification,
    reset_password, CancelEmailChange, ChangeEmail, ConfirmEmail, EmailConfirmation,
    PasswordResetLink, PendingEmailChange, RequestPasswordReset, RequestVerificationLink,
    ResendVerification, ResetPassword,
};
pub use passkeys::{
    finish_passkey_registration, finish_passkey_second_factor, finish_passkey_sign_in,
    get_passkey_status, remove_passkey, rename_passkey, start_passkey_registration,
    start_passkey_second_factor, start_passkey_sign_in, FinishPasskeyRegistration,
    FinishPasskeySecondFactor, FinishPasskeySignIn, GetPasskeyStatus, RemovePasskey, RenamePasskey,
    StartPasskeyRegistration, StartPasskeySecondFactor, StartPasskeySignIn,
};
pub use two_factor::{
    cancel_two_factor, confirm_two_factor, disable_two_factor, fresh_recovery_codes,
    get_two_factor_status, regenerate_recovery_codes, start_two_factor, CancelTwoFactor,
    ConfirmTwoFactor, DisableTwoFactor, FreshRecoveryCodes, GetTwoFactorStatus,
    RegenerateRecoveryCodes, StartTwoFactor,
};
