//! The pages behind mailed links: `/reset-password?token=…` and `/verify-email?token=…`.
//!
//! The first request moves the token out of the URL: it is answered with a redirect to the
//! bare page and the token in a cookie of that page's own (HttpOnly, SameSite=Lax, `__Host-`
//! when cookies are Secure). So the token is not left in the address bar, the history, a
//! bookmark or a screenshot, and the page's forms work without JavaScript: a form error comes
//! back to the bare page (`form_errors`), and the server function finds the token in the
//! cookie. The server deletes the cookie when the link has done its work.
//!
//! These pages also answer `Referrer-Policy: no-referrer` (the redirect included), so not even
//! their bare address leaves with a request to another site.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, REFERRER_POLICY, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};

use crate::server::auth::email_links::LinkToken;
use crate::server::auth::SessionSettings;
use crate::server::state::AppState;

/// A page that a mailed link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPage {
    ResetPassword,
    VerifyEmail,
}

impl LinkPage {
    pub const ALL: [LinkPage; 2] = [Self::ResetPassword, Self::VerifyEmail];

    pub fn path(self) -> &'static str {
        match self {
            Self::ResetPassword => "/reset-password",
            Self::VerifyEmail => "/verify-email",
        }
    }

    fn of_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|page| page.path() == path)
    }

    /// With Secure cookies, `__Host-`: only this origin, over https, can set it.
    pub fn cookie_name(self, settings: &SessionSettings) -> &'static str {
        match (self, settings.cookie_secure) {
            (Self::ResetPassword, true) => "__Host-gatehouse_reset_link",
            (Self::ResetPassword, false) => "gatehouse_reset_link",
            (Self::VerifyEmail, true) => "__Host-gatehouse_email_link",
            (Self::VerifyEmail, false) => "gatehouse_email_link",
        }
    }

    /// The cookie holding a link's token. No `Max-Age`: it ends with the browser session, and
    /// the server enforces the link's own lifetime anyway.
    fn cookie(self, settings: &SessionSettings, value: String) -> Cookie<'static> {
        Cookie::build((self.cookie_name(settings), value))
            // `/`: the forms post to `/rpc/…`, which must see it.
            .path("/")
            .http_only(true)
            // Lax, not Strict: the link is followed from a mail program, a navigation from
            // another site, and the redirect that sets the cookie is part of it.
            .same_site(SameSite::Lax)
            .secure(settings.cookie_secure)
            .build()
    }

    /// `Set-Cookie` that makes the browser drop this page's token.
    pub fn removal_cookie(self, settings: &SessionSettings) -> Cookie<'static> {
        let mut cookie = self.cookie(settings, String::new());
        cookie.make_removal();
        cookie
    }

    /// This page's token in a `Cookie` request header, if a well-formed one is there.
    pub fn token_from_cookie_header(
        self,
        settings: &SessionSettings,
        header: &str,
    ) -> Option<String> {
        let name = self.cookie_name(settings);
        Cookie::split_parse(header)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_string())
            .filter(|value| LinkToken::parse(value).is_some())
    }
}

/// Middleware on the pages: moves a link's token from the URL into its cookie, and sets
/// `Referrer-Policy: no-referrer` on these pages' answers.
pub async fn move_token_to_cookie(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(page) = LinkPage::of_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let token = (request.method() == Method::GET)
        .then(|| request.uri().query())
        .flatten()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
        });
    let mut response = match token {
        Some(token) => {
            let settings = &state.settings.session;
            // A token of the wrong shape is dropped here; the page then says the link does
            // not work, as it would for a well-formed one the database does not know.
            let cookie = match LinkToken::parse(&token) {
                Some(_) => page.cookie(settings, token),
                None => page.removal_cookie(settings),
            };
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(LOCATION, HeaderValue::from_static(page.path()));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
                headers.insert(SET_COOKIE, value);
            }
            response
        }
        None => next.run(request).await,
    };
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(secure: bool) -> SessionSettings {
        SessionSettings {
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            cookie_secure: secure,
        }
    }

    #[test]
    fn the_cookie_is_host_only_http_only_and_lax() {
        let cookie = LinkPage::ResetPassword
            .cookie(&settings(true), "x".repeat(43))
            .to_string();
        assert!(
            cookie.starts_with("__Host-gatehouse_reset_link="),
            "{cookie}"
        );
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert!(!cookie.contains("Max-Age"), "{cookie}");
    }

    #[test]
    fn each_page_reads_only_its_own_well_formed_token() {
        let s = settings(false);
        let token = "A".repeat(43);
        let header = format!("gatehouse_email_link={token}; gatehouse_reset_link=short");
        assert_eq!(
            LinkPage::VerifyEmail.token_from_cookie_header(&s, &header),
            Some(token)
        );
        assert_eq!(
            LinkPage::ResetPassword.token_from_cookie_header(&s, &header),
            None
        );
    }
}
