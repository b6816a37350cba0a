//! The forms people fill in. Each derives `validator::Validate`; `check()` turns the result into
//! the per-field messages shown in the page (browser) and returned by the server.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidateArgs, ValidationError};

use super::email::{canonical_email, normalize_email, validate_email, MAX_EMAIL_LEN};
use super::error::FieldErrors;
use super::password::{
    validate_login_password, validate_new_password, validate_password_not_identity, Password,
    PasswordPolicy,
};
use super::username::{canonical_username, validate_username};

/// Registration refused because the name or address belongs to another account. (Checked on
/// the server only: the browser cannot know.)
pub const USERNAME_TAKEN: &str = "That username is already taken.";
pub const EMAIL_TAKEN: &str = "An account with this email already exists.";
/// The account page asked for the current password and got another one.
pub const WRONG_CURRENT_PASSWORD: &str = "That is not your current password.";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[validate(
    context = PasswordPolicy,
    schema(function = "register_password_not_identity", skip_on_field_errors = false)
)]
pub struct RegisterForm {
    #[validate(custom(function = "validate_email"))]
    pub email: String,
    #[validate(custom(function = "validate_username"))]
    pub username: String,
    #[validate(custom(function = "new_password_rules", use_context))]
    pub password: Password,
    #[validate(
        custom(function = "validate_confirmation_present"),
        must_match(other = "password", message = "The passwords do not match.")
    )]
    pub password_confirm: Password,
}

/// An empty confirmation deserves its own message, not "do not match". (`FieldErrors` keeps
/// the first message by code, and `confirmation_required` sorts before `must_match`.)
fn validate_confirmation_present(value: &Password) -> Result<(), ValidationError> {
    if value.is_empty() {
        Err(ValidationError::new("confirmation_required")
            .with_message("Repeat your password to confirm it.".into()))
    } else {
        Ok(())
    }
}

fn register_password_not_identity(form: &RegisterForm) -> Result<(), ValidationError> {
    validate_password_not_identity(form.password.expose(), &form.username, &form.email)
}

/// The policy's rules for a new password (validator's `use_context` hook).
fn new_password_rules(value: &Password, policy: &PasswordPolicy) -> Result<(), ValidationError> {
    validate_new_password(value.expose(), policy)
}

fn login_password_rules(value: &Password) -> Result<(), ValidationError> {
    validate_login_password(value.expose())
}

impl RegisterForm {
    /// Every rule at once under the configured password policy, as field → message.
    pub fn check(&self, policy: &PasswordPolicy) -> Result<(), FieldErrors> {
        self.validate_with_args(policy)
            .map_err(|e| FieldErrors::from(&e))
    }

    /// The email as it will be stored: trimmed, domain lower-cased.
    pub fn normalized_email(&self) -> String {
        normalize_email(&self.email)
    }

    pub fn canonical_email(&self) -> String {
        canonical_email(&self.email)
    }

    /// The username as typed (trimmed); uniqueness uses `canonical_username`.
    pub fn display_username(&self) -> String {
        self.username.trim().to_string()
    }

    pub fn canonical_username(&self) -> String {
        canonical_username(&self.username)
    }
}

/// Sign-in with a username or an email address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct LoginForm {
    #[validate(custom(function = "validate_login_identifier"))]
    pub username: String,
    #[validate(custom(function = "login_password_rules"))]
    pub password: Password,
}

fn validate_login_identifier(value: &str) -> Result<(), ValidationError> {
    let value = value.trim();
    if value.is_empty() {
        Err(ValidationError::new("identifier_required")
            .with_message("Enter your username or email.".into()))
    } else if value.len() > MAX_EMAIL_LEN {
        Err(ValidationError::new("identifier_too_long")
            .with_message("That is longer than any username or email we accept.".into()))
    } else {
        Ok(())
    }
}

/// How a sign-in identifier is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    Email(String),
    Username(String),
}

impl LoginForm {
    pub fn check(&self) -> Result<(), FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))
    }

    /// Usernames cannot contain `@`, so an `@` means an email address.
    pub fn identifier(&self) -> LoginIdentifier {
        if self.username.contains('@') {
            LoginIdentifier::Email(canonical_email(&self.username))
        } else {
            LoginIdentifier::Username(canonical_username(&self.username))
        }
    }
}

/// Changing the password of a signed-in account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[validate(context = PasswordPolicy)]
pub struct ChangePasswordForm {
    #[validate(custom(function = "validate_current_password"))]
    pub current_password: Password,
    #[validate(custom(function = "new_password_rules", use_context))]
    pub new_password: Password,
    #[validate(
        custom(function = "validate_confirmation_present"),
        must_match(other = "new_password", message = "The passwords do not match.")
    )]
    pub new_password_confirm: Password,
}

/// The current password, typed again to confirm a sensitive change: present and of a length
/// that could be a password (checked against the hash by the server only).
pub(crate) fn validate_current_password(value: &Password) -> Result<(), ValidationError> {
    validate_login_password(value.expose()).map_err(|e| {
        if e.code == "password_required" {
            ValidationError::new("password_required")
                .with_message("Enter your current password.".into())
        } else {
            e
        }
    })
}

impl ChangePasswordForm {
    /// The policy's rules, plus two that need the account: the new password must not
    /// contain the username or email name, and must differ from the current one.
    pub fn check(
        &self,
        policy: &PasswordPolicy,
        username: &str,
        email: &str,
    ) -> Result<(), FieldErrors> {
        let mut errors = new_password_errors(
            self.validate_with_args(policy),
            &self.new_password,
            username,
            email,
        );
        if !self.new_password.is_empty() && self.new_password == self.current_password {
            errors.insert(
                "new_password",
                "Choose a password different from your current one.",
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Deleting an account: the password again, and a deliberate confirmation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct DeleteAccountForm {
    #[validate(custom(function = "validate_current_password"))]
    pub password: Password,
    /// The username, typed again, so a stray click cannot delete an account.
    pub confirm_username: String,
}

impl DeleteAccountForm {
    pub fn check(&self, username: &str) -> Result<(), FieldErrors> {
        let mut errors = match self.validate() {
            Ok(()) => FieldErrors::default(),
            Err(e) => FieldErrors::from(&e),
        };
        if canonical_username(&self.confirm_username) != canonical_username(username) {
            errors.insert("confirm_username", "Type your username exactly to confirm.");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Asking for a link by mail with nothing but an address: a password reset, or a new
/// confirmation link. The answer never says whether an account has the address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct EmailAddressForm {
    #[validate(custom(function = "validate_email"))]
    pub email: String,
}

impl EmailAddressForm {
    pub fn check(&self) -> Result<(), FieldErrors> {
        self.validate().map_err(|e| FieldErrors::from(&e))
    }

    pub fn canonical_email(&self) -> String {
        canonical_email(&self.email)
    }
}

/// Choosing a new password behind a reset link: the policy's rules, and not the account's
/// username or email name (the link tells the server which account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[validate(context = PasswordPolicy)]
pub struct ResetPasswordForm {
    #[validate(custom(function = "new_password_rules", use_context))]
    pub new_password: Password,
    #[validate(
        custom(function = "validate_confirmation_present"),
        must_match(other = "new_password", message = "The passwords do not match.")
    )]
    pub new_password_confirm: Password,
}

impl ResetPasswordForm {
    pub fn check(
        &self,
        policy: &PasswordPolicy,
        username: &str,
        email: &str,
    ) -> Result<(), FieldErrors> {
        let errors = new_password_errors(
            self.validate_with_args(policy),
            &self.new_password,
            username,
            email,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The field errors of a form choosing a new password for a known account (a change, a
/// reset): its own rules' outcome, plus the rule that needs the account, that `new_password`
/// must not contain the username or the email's name.
fn new_password_errors(
    rules: Result<(), validator::ValidationErrors>,
    new_password: &Password,
    username: &str,
    email: &str,
) -> FieldErrors {
    let mut errors = match rules {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from(&e),
    };
    if let Err(e) = validate_password_not_identity(new_password.expose(), username, email) {
        let message = e.message.as_deref().unwrap_or("Choose another password.");
        errors.insert("new_password", message);
    }
    errors
}

/// Moving the account to another address: the new address, and the current password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct ChangeEmailForm {
    #[validate(custom(function = "validate_email"))]
    pub new_email: String,
    #[validate(custom(function = "validate_current_password"))]
    pub password: Password,
}

/// Asked to move an account to the address it already has.
pub const SAME_EMAIL: &str = "That is already your email address.";

impl ChangeEmailForm {
    /// The rules, plus one that needs the account: the new address must be another one (as
    /// addresses are compared: `canonical_email`).
    pub fn check(&self, current_email: &str) -> Result<(), FieldErrors> {
        let mut errors = match self.validate() {
            Ok(()) => FieldErrors::default(),
            Err(e) => FieldErrors::from(&e),
        };
        if !self.new_email.trim().is_empty()
            && canonical_email(&self.new_email) == canonical_email(current_email)
        {
            errors.insert("new_email", SAME_EMAIL);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn normalized_email(&self) -> String {
        normalize_email(&self.new_email)
    }

    pub fn canonical_email(&self) -> String {
        canonical_email(&self.new_email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PasswordPolicy;

    fn change(current: &str, new: &str, confirm: &str) -> ChangePasswordForm {
        ChangePasswordForm {
            current_password: current.into(),
            new_password: new.into(),
            new_password_confirm: confirm.into(),
        }
    }

    #[test]
    fn a_valid_password_change_passes() {
        let form = change(
            "old password 1",
            "a brand new passphrase",
            "a brand new passphrase",
        );
        assert_eq!(
            form.check(&PasswordPolicy::Nist, "alice", "alice@example.com"),
            Ok(())
        );
    }

    #[test]
    fn password_change_reports_each_rule_on_its_field() {
        let errors = change("", "short", "other")
            .check(&PasswordPolicy::Nist, "alice", "alice@example.com")
            .unwrap_err();
        assert_eq!(
            errors.get("current_password"),
            Some("Enter your current password.")
        );
        assert_eq!(
            errors.get("new_password"),
            Some("Use at least 8 characters.")
        );
        assert_eq!(
            errors.get("new_password_confirm"),
            Some("The passwords do not match.")
        );

        let same = change(
            "the same passphrase",
            "the same passphrase",
            "the same passphrase",
        );
        assert_eq!(
            same.check(&PasswordPolicy::Nist, "alice", "alice@example.com")
                .unwrap_err()
                .get("new_password"),
            Some("Choose a password different from your current one.")
        );
        let identity = change(
            "old password 1",
            "alice forever and ever",
            "alice forever and ever",
        );
        assert_eq!(
            identity
                .check(&PasswordPolicy::Nist, "alice", "alice@example.com")
                .unwrap_err()
                .get("new_password"),
            Some("Your password must not contain your username or email name.")
        );
    }

    #[test]
    fn deleting_needs_the_password_and_the_username() {
        let form = DeleteAccountForm {
            password: Password::default(),
            confirm_username: "bob".into(),
        };
        let errors = form.check("Alice").unwrap_err();
        assert_eq!(errors.get("password"), Some("Enter your current password."));
        assert_eq!(
            errors.get("confirm_username"),
            Some("Type your username exactly to confirm.")
        );
        let ok = DeleteAccountForm {
            password: "whatever it was".into(),
            confirm_username: "alice".into(),
        };
        assert_eq!(ok.check("Alice"), Ok(()));
    }

    fn valid() -> RegisterForm {
        RegisterForm {
            email: "alice@example.com".into(),
            username: "alice".into(),
            password: "correct horse battery staple".into(),
            password_confirm: "correct horse battery staple".into(),
        }
    }

    #[test]
    fn a_valid_registration_passes() {
        assert_eq!(valid().check(&PasswordPolicy::Nist), Ok(()));
    }

    #[test]
    fn the_policy_decides_composition_rules() {
        assert_eq!(
            valid()
                .check(&PasswordPolicy::Seed)
                .unwrap_err()
                .get("password"),
            Some("Include an upper-case letter, a lower-case letter and a digit.")
        );
    }

    #[test]
    fn each_field_reports_its_own_error() {
        let form = RegisterForm {
            email: "nope".into(),
            username: "a!".into(),
            password: "short".into(),
            password_confirm: "different".into(),
        };
        let errors = form.check(&PasswordPolicy::Nist).unwrap_err();
        assert!(errors.get("email").is_some());
        assert_eq!(
            errors.get("username"),
            Some("Use only letters, digits and underscores.")
        );
        assert_eq!(errors.get("password"), Some("Use at least 8 characters."));
        assert_eq!(
            errors.get("password_confirm"),
            Some("The passwords do not match.")
        );
    }

    #[test]
    fn an_empty_confirmation_asks_for_it() {
        let form = RegisterForm {
            password_confirm: Password::default(),
            ..valid()
        };
        assert_eq!(
            form.check(&PasswordPolicy::Nist)
                .unwrap_err()
                .get("password_confirm"),
            Some("Repeat your password to confirm it.")
        );
    }

    #[test]
    fn password_containing_the_username_is_reported_on_the_password_field() {
        let form = RegisterForm {
            password: "alice-in-wonderland".into(),
            password_confirm: "alice-in-wonderland".into(),
            ..valid()
        };
        let errors = form.check(&PasswordPolicy::Nist).unwrap_err();
        assert_eq!(
            errors.get("password"),
            Some("Your password must not contain your username or email name.")
        );
        assert_eq!(errors.0.len(), 1, "{errors:?}");
    }

    #[test]
    fn normalises_email_and_username_for_storage_and_lookup() {
        let form = RegisterForm {
            email: "  Alice@Example.COM ".into(),
            username: " Alice ".into(),
            ..valid()
        };
        assert_eq!(form.normalized_email(), "Alice@example.com");
        assert_eq!(form.canonical_email(), "alice@example.com");
        assert_eq!(form.display_username(), "Alice");
        assert_eq!(form.canonical_username(), "alice");
    }

    #[test]
    fn login_identifier_is_email_when_it_has_an_at_sign() {
        let by_email = LoginForm {
            username: "Bob@Example.com".into(),
            password: "x".into(),
        };
        assert_eq!(
            by_email.identifier(),
            LoginIdentifier::Email("bob@example.com".into())
        );
        let by_name = LoginForm {
            username: "Bob".into(),
            password: "x".into(),
        };
        assert_eq!(
            by_name.identifier(),
            LoginIdentifier::Username("bob".into())
        );
    }

    #[test]
    fn login_requires_both_fields() {
        let errors = LoginForm::default().check().unwrap_err();
        assert!(errors.get("username").is_some());
        assert!(errors.get("password").is_some());
    }

    #[test]
    fn a_sign_in_name_may_be_as_long_as_the_longest_address_and_no_longer() {
        let form = |username: String| LoginForm {
            username,
            password: "any password".into(),
        };
        let longest = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 12));
        assert_eq!(longest.len(), MAX_EMAIL_LEN);
        assert_eq!(form(longest.clone()).check(), Ok(()));
        let errors = form(format!("a{longest}")).check().unwrap_err();
        assert_eq!(
            errors.get("username"),
            Some("That is longer than any username or email we accept.")
        );
        // Surrounding spaces are not counted: they are not part of the name.
        assert_eq!(form(format!("  {longest}  ")).check(), Ok(()));
    }
}

/// The `next=` target after sign-in, when it is a path on this site. Everything that a browser
/// could resolve to another origin is refused: absolute URLs, protocol-relative `//host`, and
/// `/\host` (browsers read the backslash as a slash).
pub fn local_redirect_target(next: Option<&str>) -> Option<&str> {
    let next = next?;
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    local.then_some(next)
}

#[cfg(test)]
mod redirect_tests {
    use super::local_redirect_target;

    #[test]
    fn follows_local_paths_only() {
        assert_eq!(local_redirect_target(Some("/account")), Some("/account"));
        assert_eq!(
            local_redirect_target(Some("/account?tab=2")),
            Some("/account?tab=2")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "account",
            "",
            "/\naccount",
        ] {
            assert_eq!(local_redirect_target(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(local_redirect_target(None), None);
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn forms_that_hold_a_password_never_print_it() {
        let secret = "correct horse battery staple";
        let printed = [
            format!(
                "{:?}",
                LoginForm {
                    username: "alice".into(),
                    password: secret.into(),
                }
            ),
            format!(
                "{:?}",
                RegisterForm {
                    email: "alice@example.com".into(),
                    username: "alice".into(),
                    password: secret.into(),
                    password_confirm: secret.into(),
                }
            ),
            format!(
                "{:?}",
                ChangePasswordForm {
                    current_password: secret.into(),
                    new_password: secret.into(),
                    new_password_confirm: secret.into(),
                }
            ),
            format!(
                "{:?}",
                DeleteAccountForm {
                    password: secret.into(),
                    confirm_username: "alice".into(),
                }
            ),
        ];
        for printed in printed {
            assert!(!printed.contains("horse"), "{printed}");
            assert!(printed.contains("Password(***)"), "{printed}");
        }
    }

    #[test]
    fn a_reset_password_follows_the_policy_and_avoids_the_identity() {
        let form = |new: &str, confirm: &str| ResetPasswordForm {
            new_password: new.into(),
            new_password_confirm: confirm.into(),
        };
        let policy = PasswordPolicy::Nist;
        assert_eq!(
            form("a brand new passphrase", "a brand new passphrase").check(
                &policy,
                "alice",
                "alice@example.com"
            ),
            Ok(())
        );
        let errors = form("short", "").check(&policy, "alice", "alice@example.com");
        let errors = errors.unwrap_err();
        assert_eq!(
            errors.get("new_password"),
            Some("Use at least 8 characters.")
        );
        assert_eq!(
            errors.get("new_password_confirm"),
            Some("Repeat your password to confirm it.")
        );
        let identity = form("alice forever and ever", "alice forever and ever")
            .check(&policy, "alice", "alice@example.com")
            .unwrap_err();
        assert_eq!(
            identity.get("new_password"),
            Some("Your password must not contain your username or email name.")
        );
    }

    #[test]
    fn a_change_of_email_needs_another_valid_address_and_the_password() {
        let form = |email: &str, password: &str| ChangeEmailForm {
            new_email: email.into(),
            password: password.into(),
        };
        assert_eq!(
            form("alice@new.example", "whatever it was").check("alice@example.com"),
            Ok(())
        );
        let errors = form("not an address", "")
            .check("alice@example.com")
            .unwrap_err();
        assert!(errors.get("new_email").is_some());
        assert_eq!(errors.get("password"), Some("Enter your current password."));
        // The same address, as addresses are compared (the domain's case does not count).
        assert_eq!(
            form(" alice@EXAMPLE.com", "whatever it was")
                .check("alice@example.com")
                .unwrap_err()
                .get("new_email"),
            Some(SAME_EMAIL)
        );
        // Stored as typed (trimmed, the domain lower-cased); compared in canonical form.
        let moving = form("  Alice@New.EXAMPLE ", "whatever it was");
        assert_eq!(moving.normalized_email(), "Alice@new.example");
        assert_eq!(moving.canonical_email(), "alice@new.example");
    }

    #[test]
    fn an_address_form_checks_the_address() {
        let form = EmailAddressForm {
            email: "alice@".into(),
        };
        assert!(form.check().unwrap_err().get("email").is_some());
        let form = EmailAddressForm {
            email: " Alice@Example.COM ".into(),
        };
        assert_eq!(form.check(), Ok(()));
        assert_eq!(form.canonical_email(), canonical_email("alice@example.com"));
    }
}
