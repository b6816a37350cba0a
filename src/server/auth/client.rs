//! Who is on the other end of a request: address, browser, request id. Recorded with each
//! session and each security event. The HTTP edge builds it from the request
//! (`server::http::extract`), the same way for server functions and API handlers.

use crate::server::limits::client_ip::limit_key_of;

/// Enough of a User-Agent to tell devices apart, without letting a client store kilobytes.
pub const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    /// The client address (through trusted proxies, see `limits::client_ip`).
    pub ip: Option<String>,
    /// Truncated to `MAX_USER_AGENT_CHARS`.
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl ClientMeta {
    /// The per-IP rate-limit key (`limits::client_ip::limit_key`: the IPv4 address, or the
    /// IPv6 /64). Requests without a known address share one bucket.
    pub fn ip_key(&self) -> String {
        limit_key_of(self.ip.as_deref().and_then(|ip| ip.parse().ok()))
    }

    pub fn device(&self) -> Option<String> {
        self.user_agent.as_deref().and_then(device_summary)
    }
}

/// "Firefox on Linux", "Safari on iPhone", or `None` when the User-Agent says nothing a
/// person would recognise.
pub fn device_summary(user_agent: &str) -> Option<String> {
    let parsed = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
    match (known(parsed.name), known(parsed.os)) {
        (true, true) => Some(format!("{} on {}", parsed.name, parsed.os)),
        (true, false) => Some(parsed.name.to_string()),
        (false, true) => Some(parsed.os.to_string()),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_common_browsers() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(device_summary(firefox).as_deref(), Some("Firefox on Linux"));
        let chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(
            device_summary(chrome_mac).as_deref(),
            Some("Chrome on Mac OSX")
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        assert_eq!(device_summary(iphone).as_deref(), Some("Safari on iPhone"));
        assert_eq!(
            device_summary("curl/8.5.0").as_deref(),
            Some("HTTP Library")
        );
        assert_eq!(device_summary("x"), None);
    }
}
