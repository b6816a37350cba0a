//! The client's IP address, as rate limits and logs should see it, and the key a per-IP limit
//! counts it under.
//!
//! Behind a reverse proxy every connection comes from the proxy, and the real client is named
//! in a forwarding header. Gatehouse believes exactly one, the one configured
//! (`CLIENT_IP_HEADER`: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`), and only when
//! the TCP peer is a configured proxy (`TRUSTED_PROXIES`); otherwise anyone could send
//! `X-Forwarded-For: <random>` with each request and never hit a limit. The other header is
//! never read: a proxy that overwrites one header passes the other through as the client wrote
//! it, so reading "whichever is present" would let the client choose its own address.
//!
//! The chain is read from the right, through our own proxies: the first address that is not
//! one of them is the client (addresses further left were written by the client and prove
//! nothing). A hop that cannot be read (garbage, `unknown`, an obfuscated `_name`) stops the
//! walk, and the last proxy we trust is taken as the client: skipping it would hand the choice
//! of address to whoever wrote the hops to its left. [ASVS 5.0 6.3.1, 4.0.3 2.2.1]
//!
//! Addresses are canonical (`::ffff:192.0.2.1` is `192.0.2.1`) before they are matched or
//! keyed, and IPv6 clients are limited per /64 (`limit_key`): a single host is routinely
//! given a whole /64, so keying by the full address would hand it 2^64 buckets.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::{IpNet, Ipv4Net};

/// Stored in request extensions by `resolve`. Always canonical (never an IPv4-mapped IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The per-IP limit key of a client address: the address itself for IPv4 (also when written
/// as `::ffff:a.b.c.d`), its /64 network for IPv6 (`2001:db8:1:2::/64`). Every per-IP limit
/// (the global one at the edge, sign-in and registration in the services) counts by this key.
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{network}/64")
        }
    }
}

/// The limit key of requests whose client address is not known (a router served without
/// `ConnectInfo`, which `Application` never does): they share one allowance. Letting them
/// through unlimited would turn a wiring mistake into no limit at all.
pub const UNKNOWN_CLIENT_KEY: &str = "unknown";

/// The per-IP limit key of a request's client, `UNKNOWN_CLIENT_KEY` without one.
pub fn limit_key_of(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| UNKNOWN_CLIENT_KEY.to_string(), limit_key)
}

/// Which forwarding header the trusted proxies write (`CLIENT_IP_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (what nginx, HAProxy and most load
    /// balancers write).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

impl ClientIpHeader {
    /// `x-forwarded-for` or `forwarded`, any case.
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("x-forwarded-for") {
            Some(Self::XForwardedFor)
        } else if value.eq_ignore_ascii_case("forwarded") {
            Some(Self::Forwarded)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 127.0.0.1, ::1`. IPv4-mapped IPv6 entries (`::ffff:10.0.0.0/104`)
    /// are read as the IPv4 addresses they are.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(canonical_net)
                    .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// `::ffff:0:0/96` and narrower, as the IPv4 network it maps; anything else unchanged.
///
/// No separate test of the prefix length: a network address is IPv4-mapped only with a
/// prefix of 96 or more, as a shorter one clears bits of the `::ffff` marker
/// (`::ffff:10.0.0.0/88` is `::ff00:0:0/88`, an IPv6 range).
fn canonical_net(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else {
        return net;
    };
    v6.network()
        .to_ipv4_mapped()
        .and_then(|v4| Ipv4Net::new(v4, v6.prefix_len().checked_sub(96)?).ok())
        .map_or(net, IpNet::V4)
}

/// Where the client address comes from: the trusted proxies, and the one header they write.
#[derive(Debug, Clone, Default)]
pub struct ClientIpSource {
    pub proxies: TrustedProxies,
    pub header: ClientIpHeader,
}

impl ClientIpSource {
    pub fn new(proxies: TrustedProxies, header: ClientIpHeader) -> Self {
        Self { proxies, header }
    }

    /// The client address for a request from `peer` with these headers, canonical.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // The last address we have reason to believe: the peer, then each trusted hop.
        let mut client = peer.to_canonical();
        if !self.proxies.contains(&client) {
            return client;
        }
        for hop in self.hops(headers).into_iter().rev() {
            let Some(hop) = hop else {
                // Unreadable: what lies to its left is anyone's word. Fail closed.
                return client;
            };
            client = hop.to_canonical();
            if !self.proxies.contains(&client) {
                return client;
            }
        }
        // Every hop is one of ours: the leftmost is as close to a client as there is.
        client
    }

    /// The configured header's hops, left to right (several header lines read as one list);
    /// `None` for a hop that names no address.
    fn hops(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let mut hops = Vec::new();
        for value in headers.get_all(self.header.name()) {
            let Ok(value) = value.to_str() else {
                // Not even text: nothing in this header can be relied on.
                hops.push(None);
                continue;
            };
            for element in value.split(',') {
                hops.push(match self.header {
                    ClientIpHeader::XForwardedFor => parse_node(element),
                    ClientIpHeader::Forwarded => forwarded_for(element),
                });
            }
        }
        hops
    }
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=https;by=203.0.113.43`);
/// `None` when it has none, or one that is not an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value))?
    })
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:8080`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim();
    let node = node
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(node);
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    // `[2001:db8::1]` without a port.
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse().ok())
}

/// Middleware: puts `ClientIp` into the request's extensions.
pub async fn resolve(
    State(source): State<Arc<ClientIpSource>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let ip = source.client_ip(peer, request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn source(proxies: &str, header: ClientIpHeader) -> ClientIpSource {
        ClientIpSource::new(TrustedProxies::parse(proxies).unwrap(), header)
    }

    fn xff(proxies: &str) -> ClientIpSource {
        source(proxies, ClientIpHeader::XForwardedFor)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(
            xff("10.0.0.0/8").client_ip(ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            ClientIpSource::default().client_ip(ip("127.0.0.1"), &h),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        // The client wrote a fake first entry; our proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            xff("10.0.0.0/8, 127.0.0.1").client_ip(ip("127.0.0.1"), &h),
            ip("198.51.100.7")
        );
        // Several header lines are one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7, 10.0.0.2"),
        ]);
        assert_eq!(
            xff("10.0.0.0/8, 127.0.0.1").client_ip(ip("127.0.0.1"), &h),
            ip("198.51.100.7")
        );
        // Every hop is ours: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(
            xff("10.0.0.0/8, 127.0.0.1").client_ip(ip("127.0.0.1"), &h),
            ip("10.0.0.3")
        );
        // No header: the peer.
        assert_eq!(
            xff("127.0.0.1").client_ip(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn by_default_a_forwarded_header_is_never_read() {
        // The documented nginx overwrites X-Forwarded-For and passes Forwarded through as the
        // client wrote it: believing it would let the client pick its address.
        let h = headers(&[
            ("forwarded", "for=203.0.113.66"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            xff("127.0.0.1").client_ip(ip("127.0.0.1"), &h),
            ip("198.51.100.7")
        );
        let h = headers(&[("forwarded", "for=203.0.113.66")]);
        assert_eq!(
            xff("127.0.0.1").client_ip(ip("127.0.0.1"), &h),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn configured_for_forwarded_it_reads_rfc7239_and_ignores_x_forwarded_for() {
        let fwd = source("127.0.0.1, 10.0.0.0/8", ClientIpHeader::Forwarded);
        let h = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8::1]:4711";proto=https, For=192.0.2.60;by=10.0.0.1, for="10.0.0.2:80""#,
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(fwd.client_ip(ip("127.0.0.1"), &h), ip("192.0.2.60"));
        let h = headers(&[("forwarded", r#"for="[2001:db8::1]:4711""#)]);
        assert_eq!(fwd.client_ip(ip("127.0.0.1"), &h), ip("2001:db8::1"));
        let h = headers(&[("x-forwarded-for", "9.9.9.9")]);
        assert_eq!(fwd.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_last_trusted_address() {
        let proxies = xff("127.0.0.1, 10.0.0.0/8");
        for chain in [
            "198.51.100.7, garbage, 10.0.0.2",
            "198.51.100.7, unknown, 10.0.0.2",
            "198.51.100.7, , 10.0.0.2",
            "198.51.100.7, 300.1.1.1, 10.0.0.2",
        ] {
            let h = headers(&[("x-forwarded-for", chain)]);
            assert_eq!(
                proxies.client_ip(ip("127.0.0.1"), &h),
                ip("10.0.0.2"),
                "{chain}"
            );
        }
        let h = headers(&[("x-forwarded-for", "198.51.100.7, nonsense")]);
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));

        let fwd = source("127.0.0.1", ClientIpHeader::Forwarded);
        for value in [
            "for=198.51.100.7, for=_hidden",
            "for=198.51.100.7, for=unknown",
            "for=198.51.100.7, proto=https",
        ] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(
                fwd.client_ip(ip("127.0.0.1"), &h),
                ip("127.0.0.1"),
                "{value}"
            );
        }
        // A value that is not text at all.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"198.51.100.7, \xff").unwrap(),
        );
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_canonical_before_matching_and_keying() {
        let proxies = xff("127.0.0.1, 10.0.0.0/8");
        // A dual-stack listener sees an IPv4 proxy as ::ffff:127.0.0.1.
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.7, ::ffff:10.0.0.2")]);
        assert_eq!(
            proxies.client_ip(ip("::ffff:127.0.0.1"), &h),
            ip("198.51.100.7")
        );
        // An untrusted mapped peer comes out plain too.
        assert_eq!(
            proxies.client_ip(ip("::ffff:203.0.113.9"), &HeaderMap::new()),
            ip("203.0.113.9")
        );
        // A mapped range in the configuration is the IPv4 range it names.
        let mapped = TrustedProxies::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(&ip("10.1.2.3")));
        assert!(mapped.contains(&ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(&ip("11.0.0.1")));
        // The widest mapped range, /96, is all of IPv4.
        let every_ipv4 = TrustedProxies::parse("::ffff:0.0.0.0/96").unwrap();
        assert!(every_ipv4.contains(&ip("203.0.113.9")));
        assert!(!every_ipv4.contains(&ip("2001:db8::1")));
        // Wider than /96, the marker itself is cut: an IPv6 range, holding no IPv4 address.
        let wider = TrustedProxies::parse("::ffff:10.0.0.0/88").unwrap();
        assert!(!wider.contains(&ip("10.0.0.1")));
        assert!(wider.contains(&ip("::ff00:1:2")));
    }

    #[test]
    fn limit_keys_group_ipv6_by_64_and_ipv4_by_address() {
        assert_eq!(limit_key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_ne!(limit_key(ip("192.0.2.7")), limit_key(ip("192.0.2.8")));
        let key = limit_key(ip("2001:db8:1:2::1"));
        assert_eq!(key, "2001:db8:1:2::/64");
        assert_eq!(key, limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(key, limit_key(ip("2001:db8:1:3::1")));
        assert_ne!(key, limit_key(ip("2001:db8:2:2::1")));
        assert_eq!(limit_key(ip("::1")), "::/64");
    }

    #[test]
    fn the_header_setting_names_one_of_two_headers() {
        assert_eq!(
            ClientIpHeader::parse("X-Forwarded-For"),
            Some(ClientIpHeader::XForwardedFor)
        );
        assert_eq!(
            ClientIpHeader::parse("forwarded"),
            Some(ClientIpHeader::Forwarded)
        );
        assert_eq!(ClientIpHeader::parse("x-real-ip"), None);
        assert_eq!(ClientIpHeader::default(), ClientIpHeader::XForwardedFor);
    }

    #[test]
    fn refuses_malformed_proxy_lists() {
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense").is_err());
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
    }
}
