//! What the edge reads from a request before anyone is authenticated: the `next=` redirect
//! target, the client address behind trusted proxies (both header kinds), the proxy list.

use std::net::{IpAddr, Ipv4Addr};

use gatehouse::model::forms::local_redirect_target;
use gatehouse::server::limits::client_ip::{ClientIpHeader, ClientIpSource, TrustedProxies};
use http::{HeaderMap, HeaderValue};

pub fn check(data: &[u8]) {
    // The parsers take text: what is not UTF-8 never reaches them.
    let Ok(data) = std::str::from_utf8(data) else {
        return;
    };
    // A redirect target is followed only when it stays on the site, as a browser resolves it.
    if let Some(target) = local_redirect_target(Some(data)) {
        assert!(target.starts_with('/'), "{target:?}");
        assert!(
            !target.starts_with("//") && !target.starts_with("/\\"),
            "{target:?}"
        );
    }
    let _ = TrustedProxies::parse(data);

    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Ok(value) = HeaderValue::from_str(data) else {
        return;
    };
    for (kind, name) in [
        (ClientIpHeader::XForwardedFor, "x-forwarded-for"),
        (ClientIpHeader::Forwarded, "forwarded"),
    ] {
        let proxies = TrustedProxies::parse("127.0.0.0/8, 10.0.0.0/8").unwrap();
        let source = ClientIpSource::new(proxies, kind);
        let mut headers = HeaderMap::new();
        headers.insert(name, value.clone());
        let seen = source.client_ip(peer, &headers);
        // Nothing a client writes can make it look like one of the trusted proxies.
        let trusted = TrustedProxies::parse("127.0.0.0/8, 10.0.0.0/8").unwrap();
        assert!(seen == peer || !trusted.contains(&seen) || data.contains(&seen.to_string()));
        // An untrusted peer's header is never read.
        let outsider = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(source.client_ip(outsider, &headers), outsider);
    }
}
