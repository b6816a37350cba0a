//! The cross-site request decision (`server::http::csrf`): which state-changing requests a
//! browser could have been tricked into sending are refused, whatever bytes the headers hold.
//!
//! Input: up to five lines: method, `Sec-Fetch-Site`, `Origin`, `Host`, one allowed origin. An
//! empty line leaves that header out (or allows no origin); bytes a header cannot hold drop it.

use gatehouse::server::http::csrf::cross_site_allowed;
use http::{HeaderMap, HeaderValue, Method};

pub fn check(data: &[u8]) {
    let mut lines = data.splitn(5, |b| *b == b'\n');
    let Ok(method) = Method::from_bytes(lines.next().unwrap_or_default()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let mut read = |name: &'static str, line: Option<&[u8]>| {
        let value = line.filter(|l| !l.is_empty())?;
        let value = HeaderValue::from_bytes(value).ok()?;
        headers.insert(name, value.clone());
        Some(value)
    };
    let fetch_site = read("sec-fetch-site", lines.next());
    let origin = read("origin", lines.next());
    let host = read("host", lines.next());
    let allowed: Vec<String> = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .filter(|l| !l.is_empty())
        .map(|l| vec![l.to_string()])
        .unwrap_or_default();

    let decision = cross_site_allowed(&method, &headers, &allowed);
    // An allowed origin only ever lets more through.
    if decision {
        assert!(cross_site_allowed(&method, &headers, &[]) || !allowed.is_empty());
    }
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        assert!(decision, "a safe method is never refused");
        return;
    }
    fn text(value: &Option<HeaderValue>) -> Option<Option<&str>> {
        value.as_ref().map(|v| v.to_str().ok())
    }
    let origin_is_allowed = matches!(text(&origin), Some(Some(o))
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
    match text(&fetch_site) {
        // The browser says the request is its own page's, or typed by the user.
        Some(Some("same-origin" | "none")) => assert!(decision),
        // Any other label (cross-site, same-site, garbage): only a configured origin passes.
        Some(_) => assert_eq!(decision, origin_is_allowed, "{fetch_site:?} {origin:?}"),
        None => match (text(&origin), text(&host)) {
            // Neither header: not a browser, so not a forgery.
            (None, _) => assert!(decision),
            // An old browser: its Origin must name this host, or be configured.
            (Some(Some(o)), Some(Some(h))) if !h.is_empty() => {
                let same = o
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(h));
                assert_eq!(decision, same || origin_is_allowed, "{o:?} {h:?}");
            }
            _ => assert_eq!(decision, origin_is_allowed, "{origin:?} {host:?}"),
        },
    }
}
