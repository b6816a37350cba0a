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
}
