//! The messages Gatehouse sends: each is a plain-text and an HTML template in `templates/mail/`
//! on a shared layout. askama compiles them in and checks them at build time (a missing field
//! does not build), and escapes every value in the `.html` templates; the `.txt` ones are not
//! HTML and are left as they are.
//!
//! The values come from the services, already chosen: links are made from `PUBLIC_URL` by
//! `PublicUrl::link`, never from a request.

use askama::Template;

/// A message ready to be addressed and queued.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The one link the message is about, which the development mailbox logs so that a
    /// developer can follow it without opening the file.
    pub link: Option<String>,
}

/// A change to an account's second factor (turned on or off, new recovery codes, a recovery
/// code used): sent to the account's address every time (ASVS 4.0.3 2.5.5).
#[derive(Debug, Clone)]
pub struct TwoFactorChanged {
    pub subject: String,
    pub username: String,
    /// "Two-factor authentication was turned on for your Gatehouse account"…
    pub what_happened: String,
    /// What followed from it, in a sentence.
    pub consequence: String,
    /// When and from where, in words (`utc_date_time`, `device_and_address`).
    pub at: String,
    pub from: String,
    pub login_link: String,
    pub site: String,
}

#[derive(Template)]
#[template(path = "mail/two_factor_changed.txt")]
struct TwoFactorChangedText<'a> {
    mail: &'a TwoFactorChanged,
}

#[derive(Template)]
#[template(path = "mail/two_factor_changed.html")]
struct TwoFactorChangedHtml<'a> {
    mail: &'a TwoFactorChanged,
}

impl TwoFactorChanged {
    pub fn render(&self) -> Result<RenderedMail, askama::Error> {
        Ok(RenderedMail {
            subject: self.subject.clone(),
            text: TwoFactorChangedText { mail: self }.render()?,
            html: TwoFactorChangedHtml { mail: self }.render()?,
            link: Some(self.login_link.clone()),
        })
    }
}

/// "Your password was changed": sent to the account's address after every change.
#[derive(Debug, Clone)]
pub struct PasswordChanged {
    pub username: String,
    /// When, in words: `utc_date_time`.
    pub changed_at: String,
    /// From where, in words: `device_and_address`.
    pub changed_from: String,
    /// `false` when the person kept their other devices signed in.
    pub other_sessions_ended: bool,
    pub login_link: String,
    /// `PUBLIC_URL`, named in the footer.
    pub site: String,
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct PasswordChangedText<'a> {
    mail: &'a PasswordChanged,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct PasswordChangedHtml<'a> {
    mail: &'a PasswordChanged,
}

impl PasswordChanged {
    pub const SUBJECT: &'static str = "Your Gatehouse password was changed";

    pub fn render(&self) -> Result<RenderedMail, askama::Error> {
        Ok(RenderedMail {
            subject: Self::SUBJECT.to_string(),
            text: PasswordChangedText { mail: self }.render()?,
            html: PasswordChangedHtml { mail: self }.render()?,
            link: Some(self.login_link.clone()),
        })
    }
}

/// The messages about an account's address and password that carry one link: what each says
/// is in its templates; the values are the same kinds of thing for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMailKind {
    /// "Confirm your email address": at sign-up, and on request.
    VerifyEmail,
    /// "Reset your password": the link to choose a new one.
    PasswordReset,
    /// To the new address of a change: the link that makes it the sign-in address.
    ConfirmNewEmail,
    /// To the owner of an address someone tried to sign up with (required verification):
    /// sign in, or reset (`link`).
    SignUpAttempt,
    /// To the old address, after a change: what the account signs in with now.
    EmailChanged,
}

/// One message of a `LinkMailKind`.
#[derive(Debug, Clone)]
pub struct LinkMail {
    pub kind: LinkMailKind,
    pub username: String,
    /// The address the message is about (the new one, for a change).
    pub address: String,
    /// The link the message is about: to confirm, to reset, or to sign in.
    pub link: String,
    /// The sign-in page (the sign-up attempt offers both).
    pub login_link: String,
    /// How long the link works, in words (`24 hours`).
    pub valid_for: String,
    /// When and from where the request came, in words (`utc_date_time`,
    /// `device_and_address`).
    pub requested_at: String,
    pub requested_from: String,
    /// `PUBLIC_URL`, named in the footer.
    pub site: String,
}

/// A text and an HTML template over the same `LinkMail`.
macro_rules! link_mail_templates {
    ($($text:ident = $text_path:tt, $html:ident = $html_path:tt;)*) => {$(
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            mail: &'a LinkMail,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            mail: &'a LinkMail,
        }
    )*};
}

link_mail_templates! {
    VerifyEmailText = "mail/verify_email.txt", VerifyEmailHtml = "mail/verify_email.html";
    PasswordResetText = "mail/password_reset.txt", PasswordResetHtml = "mail/password_reset.html";
    ConfirmNewEmailText = "mail/confirm_new_email.txt",
        ConfirmNewEmailHtml = "mail/confirm_new_email.html";
    SignUpAttemptText = "mail/signup_attempt.txt", SignUpAttemptHtml = "mail/signup_attempt.html";
    EmailChangedText = "mail/email_changed.txt", EmailChangedHtml = "mail/email_changed.html";
}

impl LinkMailKind {
    pub fn subject(self) -> &'static str {
        match self {
            Self::VerifyEmail => "Confirm your email address for Gatehouse",
            Self::PasswordReset => "Reset your Gatehouse password",
            Self::ConfirmNewEmail => "Confirm your new email address for Gatehouse",
            Self::SignUpAttempt => "Someone tried to sign up with your email address",
            Self::EmailChanged => "Your Gatehouse email address was changed",
        }
    }

    /// The name log lines give the message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::ConfirmNewEmail => "confirm_new_email",
            Self::SignUpAttempt => "signup_attempt",
            Self::EmailChanged => "email_changed",
        }
    }
}

impl LinkMail {
    pub fn render(&self) -> Result<RenderedMail, askama::Error> {
        let mail = self;
        let (text, html) = match self.kind {
            LinkMailKind::VerifyEmail => (
                VerifyEmailText { mail }.render()?,
                VerifyEmailHtml { mail }.render()?,
            ),
            LinkMailKind::PasswordReset => (
                PasswordResetText { mail }.render()?,
                PasswordResetHtml { mail }.render()?,
            ),
            LinkMailKind::ConfirmNewEmail => (
                ConfirmNewEmailText { mail }.render()?,
                ConfirmNewEmailHtml { mail }.render()?,
            ),
            LinkMailKind::SignUpAttempt => (
                SignUpAttemptText { mail }.render()?,
                SignUpAttemptHtml { mail }.render()?,
            ),
            LinkMailKind::EmailChanged => (
                EmailChangedText { mail }.render()?,
                EmailChangedHtml { mail }.render()?,
            ),
        };
        Ok(RenderedMail {
            subject: self.kind.subject().to_string(),
            text,
            html,
            link: Some(self.link.clone()),
        })
    }
}

/// `15 January 2027 at 08:00 UTC`: unambiguous wherever the reader lives.
pub fn utc_date_time(epoch_secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(epoch_secs) {
        Ok(at) => format!(
            "{} {} {} at {:02}:{:02} UTC",
            at.day(),
            at.month(),
            at.year(),
            at.hour(),
            at.minute()
        ),
        Err(_) => "an unknown time".to_string(),
    }
}

/// `Firefox on Linux (192.0.2.1)`, or as much of it as is known.
pub fn device_and_address(device: Option<&str>, ip: Option<&str>) -> String {
    match (device, ip) {
        (Some(device), Some(ip)) => format!("{device} ({ip})"),
        (Some(device), None) => device.to_string(),
        (None, Some(ip)) => format!("the address {ip}"),
        (None, None) => "an unknown device".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(username: &str, other_sessions_ended: bool) -> PasswordChanged {
        PasswordChanged {
            username: username.into(),
            changed_at: utc_date_time(1_800_000_000),
            changed_from: device_and_address(Some("Firefox on Linux"), Some("192.0.2.1")),
            other_sessions_ended,
            login_link: "https://auth.example.com/login?a=1&b=2".into(),
            site: "https://auth.example.com".into(),
        }
    }

    #[test]
    fn the_password_notice_says_when_where_and_what_to_do_in_both_parts() {
        let mail = notice("alice", true).render().unwrap();
        assert_eq!(mail.subject, "Your Gatehouse password was changed");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("Hello alice,"), "{part}");
            assert!(part.contains("15 January 2027 at 08:00 UTC"), "{part}");
            assert!(part.contains("Firefox on Linux (192.0.2.1)"), "{part}");
            assert!(part.contains("other devices were signed out"), "{part}");
            assert!(part.contains("https://auth.example.com"), "{part}");
            assert!(!part.contains("{{") && !part.contains("{%"), "{part}");
        }
        assert!(mail
            .text
            .contains("  https://auth.example.com/login?a=1&b=2\n"));
        assert!(mail
            .html
            .contains(r#"<a href="https://auth.example.com/login?a=1&#38;b=2""#));
        assert_eq!(
            mail.link.as_deref(),
            Some("https://auth.example.com/login?a=1&b=2")
        );
        let kept = notice("alice", false).render().unwrap();
        assert!(kept.text.contains("your other devices stayed signed in"));
    }

    #[test]
    fn values_are_escaped_in_html_and_left_alone_in_text() {
        let mail = notice("<b>eve</b>", true).render().unwrap();
        assert!(mail.html.contains("Hello &#60;b&#62;eve&#60;/b&#62;,"));
        assert!(!mail.html.contains("<b>eve"));
        assert!(mail.text.contains("Hello <b>eve</b>,"));
    }

    #[test]
    fn times_and_places_read_as_words() {
        assert_eq!(utc_date_time(0), "1 January 1970 at 00:00 UTC");
        assert_eq!(utc_date_time(i64::MAX), "an unknown time");
        assert_eq!(device_and_address(None, None), "an unknown device");
        assert_eq!(
            device_and_address(None, Some("2001:db8::1")),
            "the address 2001:db8::1"
        );
        assert_eq!(
            device_and_address(Some("Safari on iPhone"), None),
            "Safari on iPhone"
        );
    }

    #[test]
    fn every_link_mail_carries_its_link_address_and_expiry_in_both_parts() {
        for kind in [
            LinkMailKind::VerifyEmail,
            LinkMailKind::PasswordReset,
            LinkMailKind::ConfirmNewEmail,
            LinkMailKind::SignUpAttempt,
            LinkMailKind::EmailChanged,
        ] {
            let mail = LinkMail {
                kind,
                username: "alice".into(),
                address: "alice@new.example".into(),
                link: "https://auth.example.com/verify-email?token=abc&x=1".into(),
                login_link: "https://auth.example.com/login".into(),
                valid_for: "24 hours".into(),
                requested_at: utc_date_time(1_800_000_000),
                requested_from: device_and_address(Some("Firefox on Linux"), None),
                site: "https://auth.example.com".into(),
            }
            .render()
            .unwrap();
            assert_eq!(mail.subject, kind.subject());
            assert_eq!(
                mail.link.as_deref(),
                Some("https://auth.example.com/verify-email?token=abc&x=1")
            );
            assert!(mail
                .text
                .contains("https://auth.example.com/verify-email?token=abc&x=1"));
            assert!(mail
                .html
                .contains(r#"href="https://auth.example.com/verify-email?token=abc&#38;x=1""#));
            for part in [&mail.text, &mail.html] {
                assert!(part.contains("Hello alice,"), "{kind:?}: {part}");
                assert!(part.contains("15 January 2027 at 08:00 UTC"), "{part}");
                assert!(part.contains("Firefox on Linux"), "{part}");
                assert!(part.contains("https://auth.example.com"), "{part}");
                assert!(!part.contains("{{") && !part.contains("{%"), "{part}");
            }
            let expires = matches!(
                kind,
                LinkMailKind::VerifyEmail
                    | LinkMailKind::PasswordReset
                    | LinkMailKind::ConfirmNewEmail
            );
            assert_eq!(mail.text.contains("within 24 hours"), expires, "{kind:?}");
            let names_address = !matches!(
                kind,
                LinkMailKind::PasswordReset | LinkMailKind::SignUpAttempt
            );
            assert_eq!(
                mail.text.contains("alice@new.example"),
                names_address,
                "{kind:?}"
            );
        }
    }
}
