mod account;
mod forgot_password;
mod home;
mod login;
mod not_found;
mod register;
mod reset_password;
mod two_factor;
mod verify_email;

pub use account::AccountPage;
pub use forgot_password::ForgotPasswordPage;
pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use register::RegisterPage;
pub use reset_password::ResetPasswordPage;
pub use two_factor::{RecoveryCodesPage, TwoFactorSetupPage, TwoFactorSignInPage};
pub use verify_email::VerifyEmailPage;
