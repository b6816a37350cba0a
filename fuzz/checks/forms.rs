//! Form bodies as the server functions decode them, and every rule the shared models run on
//! them (the same code runs in the browser): email syntax and canonical forms, the password
//! policies with their Unicode normalisation and common-password lookup, the strength meter.

use gatehouse::model::email::{canonical_email, normalize_email, validate_email};
use gatehouse::model::strength::estimate;
use gatehouse::model::{
    ChangeEmailForm, EmailAddressForm, LoginForm, PasswordPolicy, RegisterForm, ResetPasswordForm,
};

pub fn check(data: &[u8]) {
    if let Ok(form) = serde_urlencoded::from_bytes::<RegisterForm>(data) {
        for policy in [PasswordPolicy::Nist, PasswordPolicy::Seed] {
            let _ = form.check(&policy);
        }
        let canonical = form.canonical_email();
        // Canonical forms are fixed points: the key an address is stored under is stable.
        assert_eq!(canonical_email(&canonical), canonical);
        assert_eq!(
            normalize_email(&form.normalized_email()),
            form.normalized_email()
        );
        let _ = validate_email(&form.email);
        let _ = estimate(form.password.expose(), &form.username, &form.email);
    }
    if let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(data) {
        let _ = form.check();
        let _ = form.identifier();
    }
    if let Ok(form) = serde_urlencoded::from_bytes::<ResetPasswordForm>(data) {
        let _ = form.check(&PasswordPolicy::Nist, "alice", "alice@example.com");
    }
    if let Ok(form) = serde_urlencoded::from_bytes::<ChangeEmailForm>(data) {
        let _ = form.check("alice@example.com");
    }
    if let Ok(form) = serde_urlencoded::from_bytes::<EmailAddressForm>(data) {
        let _ = form.check();
    }
}
