//! Which page each form lives on: where a form posted without JavaScript comes back to, with
//! its error, whatever the request's `Referer` says (or whether it sent one).

use leptos::server_fn::ServerFn;

use crate::api::{
    CancelEmailChange, CancelTwoFactor, ChangeEmail, ChangePassword, ConfirmEmail,
    ConfirmTwoFactor, CreateApiKey, DeleteAccount, DisableTwoFactor, Login, Logout,
    LogoutEverywhere, RegenerateRecoveryCodes, Register, RemovePasskey, RenamePasskey,
    RequestPasswordReset, RequestVerificationLink, ResendVerification, ResetPassword, RevokeApiKey,
    RevokeOtherSessions, RevokeSession, StartTwoFactor, TwoFactorSignIn,
};

/// The page holding the form that posts to the server function at `path` (`/rpc/…`), or
/// `None` for a path no form posts to.
pub fn form_page(path: &str) -> Option<&'static str> {
    let pages: [(&str, &'static str); 25] = [
        (Login::PATH, "/login"),
        (TwoFactorSignIn::PATH, "/login/two-factor"),
        (StartTwoFactor::PATH, "/account/two-factor"),
        (ConfirmTwoFactor::PATH, "/account/two-factor"),
        (CancelTwoFactor::PATH, "/account"),
        (RegenerateRecoveryCodes::PATH, "/account"),
        (DisableTwoFactor::PATH, "/account"),
        (RenamePasskey::PATH, "/account"),
        (RemovePasskey::PATH, "/account"),
        (Register::PATH, "/register"),
        (RequestPasswordReset::PATH, "/forgot-password"),
        (ResetPassword::PATH, "/reset-password"),
        (ConfirmEmail::PATH, "/verify-email"),
        (RequestVerificationLink::PATH, "/verify-email"),
        (ChangeEmail::PATH, "/account"),
        (CancelEmailChange::PATH, "/account"),
        // The banner asking to confirm an address is on every page; its errors go to the
        // account page, which has it too.
        (ResendVerification::PATH, "/account"),
        (ChangePassword::PATH, "/account"),
        (DeleteAccount::PATH, "/account"),
        (RevokeSession::PATH, "/account"),
        (RevokeOtherSessions::PATH, "/account"),
        (CreateApiKey::PATH, "/account"),
        (RevokeApiKey::PATH, "/account"),
        (LogoutEverywhere::PATH, "/account"),
        // The sign-out button is in the header of every page; its errors go home.
        (Logout::PATH, "/"),
    ];
    pages
        .into_iter()
        .find_map(|(fn_path, page)| (fn_path == path).then_some(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_on_a_page_comes_back_to_it() {
        assert_eq!(form_page("/rpc/login"), Some("/login"));
        assert_eq!(form_page("/rpc/register"), Some("/register"));
        assert_eq!(form_page("/rpc/change_password"), Some("/account"));
        assert_eq!(form_page("/rpc/current_user"), None);
    }
}
