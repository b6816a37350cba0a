//! What handlers and server functions read from a request, as extractors: the request id the
//! edge assigned, and the client (address through trusted proxies, User-Agent, request id)
//! that sessions and security events record.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::header::USER_AGENT;
use http::request::Parts;
use http::HeaderMap;

use crate::server::auth::client::MAX_USER_AGENT_CHARS;
use crate::server::auth::ClientMeta;
use crate::server::limits::client_ip::ClientIp;

use super::request_id::REQUEST_ID_HEADER;

/// The id the request-id layer gave this request (also in every log line of its span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn of(headers: &HeaderMap) -> Self {
        Self(
            headers
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("unknown")
                .to_string(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers))
    }
}

/// Address (through trusted proxies, see `limits::client_ip`), User-Agent (truncated) and
/// request id.
pub fn client_meta(parts: &Parts) -> ClientMeta {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    ClientMeta {
        ip: parts
            .extensions
            .get::<ClientIp>()
            .map(|ClientIp(ip)| ip.to_string()),
        user_agent: header(USER_AGENT.as_str())
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        request_id: header(REQUEST_ID_HEADER).map(str::to_string),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(client_meta(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, String)]) -> Parts {
        let mut request = http::Request::builder();
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn long_user_agents_are_truncated() {
        let meta = client_meta(&parts(&[("user-agent", "a".repeat(5000))]));
        assert_eq!(
            meta.user_agent.as_ref().unwrap().len(),
            MAX_USER_AGENT_CHARS
        );
        assert_eq!(meta.ip_key(), "unknown");
    }

    #[test]
    fn the_request_id_and_client_address_come_from_the_edge() {
        let mut parts = parts(&[(REQUEST_ID_HEADER, "req-1".into())]);
        parts
            .extensions
            .insert(ClientIp("192.0.2.7".parse().unwrap()));
        let meta = client_meta(&parts);
        assert_eq!(meta.ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(meta.request_id.as_deref(), Some("req-1"));
        assert_eq!(RequestId::of(&parts.headers).as_str(), "req-1");
        assert_eq!(RequestId::of(&HeaderMap::new()).as_str(), "unknown");
    }

    #[test]
    fn the_limit_key_groups_an_ipv6_client_by_its_64() {
        let key = |ip: &str| {
            let mut parts = parts(&[]);
            parts.extensions.insert(ClientIp(ip.parse().unwrap()));
            client_meta(&parts).ip_key()
        };
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:aaaa::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }
}
