//! Properties of the parsers and validators that stand between the outside world and the
//! services, checked on generated input (proptest): the redirect target, addresses and names,
//! passwords, API keys, session cookies and forwarded client addresses. Each property is a
//! promise the code makes whatever it is given, not an example.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use gatehouse::model::email::{canonical_email, normalize_email, validate_email};
use gatehouse::model::forms::local_redirect_target;
use gatehouse::model::password::{
    is_common, normalize_password, validate_login_password, validate_new_password,
    validate_password_not_identity,
};
use gatehouse::model::username::{canonical_username, validate_username};
use gatehouse::model::PasswordPolicy;
use gatehouse::server::auth::session::token_from_cookie_header;
use gatehouse::server::auth::{api_key_secret, SessionSettings};
use gatehouse::server::limits::client_ip::{
    limit_key, ClientIpHeader, ClientIpSource, TrustedProxies,
};
use proptest::prelude::*;

/// Any text, with the characters that matter to these parsers made likely.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[/\\\\:@?#%. a-zA-Z0-9\t\n\r\u{0}\u{3000}\u{ff0f}-]{0,40}",
    ]
}

/// Something shaped like an address (local part, `@`, labels), with hostile characters in
/// every part, or anything at all.
fn email_like() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_text(),
        (
            "[ a-zA-Z0-9.+@\\\"<>\t\u{0}\u{e9}-]{0,20}",
            "[a-zA-Z0-9.\u{e9}-]{0,12}",
            "[a-zA-Z0-9-]{0,8}",
        )
            .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}")),
    ]
}

/// A `next=` value: how open redirects start (`//`, `/\`, a scheme, spaces and controls a
/// browser skips), then anything.
fn redirect_target() -> impl Strategy<Value = String> {
    let starts = prop::sample::select(vec![
        "",
        "/",
        "//",
        "/\\",
        "\\",
        "/\t/",
        " /",
        "/ /",
        "https:",
        "https://",
        "javascript:",
        "/%2F",
        "/\u{3000}/",
    ]);
    (starts, hostile_text()).prop_map(|(start, rest)| format!("{start}{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever `next=` holds, a target that is followed stays on this site, as a browser
    /// resolves it (the WHATWG URL parser, which the `url` crate implements).
    #[test]
    fn a_followed_redirect_target_never_leaves_the_site(next in redirect_target()) {
        if let Some(target) = local_redirect_target(Some(&next)) {
            let base = url::Url::parse("https://auth.example/login").unwrap();
            let resolved = base.join(target).expect("a followed target resolves");
            prop_assert_eq!(resolved.scheme(), "https");
            prop_assert_eq!(resolved.host_str(), Some("auth.example"), "{:?}", target);
        }
    }

    /// Canonical forms are fixed points, so a lookup by the canonical form of a canonical
    /// form finds the same account; validation never panics.
    #[test]
    fn canonical_names_and_addresses_are_stable(raw in hostile_text()) {
        let email = canonical_email(&raw);
        prop_assert_eq!(canonical_email(&email), email.clone());
        prop_assert_eq!(normalize_email(&normalize_email(&raw)), normalize_email(&raw));
        let name = canonical_username(&raw);
        prop_assert_eq!(canonical_username(&name), name);
        let _ = validate_email(&raw);
        let _ = validate_username(&raw);
    }

    /// An address that passes has one `@` between a non-empty local part and a dotted domain,
    /// no space or control character, and stays valid once canonicalised (lookups use it).
    #[test]
    fn accepted_addresses_are_well_formed(raw in email_like()) {
        if validate_email(&raw).is_ok() {
            let email = raw.trim();
            prop_assert!(email.len() <= 254, "{:?}", raw);
            let (local, domain) = email.rsplit_once('@').unwrap();
            prop_assert!(!local.is_empty() && !local.contains('@'), "{:?}", raw);
            prop_assert!(domain.contains('.') && !domain.starts_with('.'), "{:?}", raw);
            prop_assert!(!email.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(validate_email(&canonical_email(&raw)).is_ok(), "{:?}", raw);
        }
    }

    /// Under the default policy a password that passes is 8–128 characters after NFC and not
    /// a common one, and the verdict does not depend on which Unicode form was typed.
    #[test]
    fn accepted_passwords_follow_the_policy(raw in any::<String>()) {
        let policy = PasswordPolicy::default();
        let verdict = validate_new_password(&raw, &policy).is_ok();
        prop_assert_eq!(validate_new_password(&normalize_password(&raw), &policy).is_ok(), verdict);
        if verdict {
            let chars = normalize_password(&raw).chars().count();
            prop_assert!((8..=128).contains(&chars), "{} characters", chars);
            prop_assert!(!is_common(&raw));
        }
    }

    /// A password containing the username, in any case and anywhere, is refused.
    #[test]
    fn a_password_containing_the_username_is_refused(
        name in "[a-zA-Z0-9_]{4,20}",
        before in "[ -~]{0,10}",
        after in "[ -~]{0,10}",
        upper in any::<bool>(),
    ) {
        let shown = if upper { name.to_uppercase() } else { name.to_lowercase() };
        let password = format!("{before}{shown}{after}");
        prop_assert!(validate_password_not_identity(&password, &name, "x@example.com").is_err());
    }

    /// A username that passes is 3–50 ASCII letters, digits or underscores: nothing that
    /// could look like another name once rendered.
    #[test]
    fn accepted_usernames_are_plain_ascii(raw in hostile_text()) {
        if validate_username(&raw).is_ok() {
            let name = raw.trim();
            prop_assert!((3..=50).contains(&name.len()), "{:?}", raw);
            prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }

    /// NFC normalisation is idempotent (a password typed in either form verifies), and the
    /// sign-in check accepts or refuses without panicking.
    #[test]
    fn password_normalisation_is_idempotent(raw in any::<String>()) {
        let once = normalize_password(&raw);
        prop_assert_eq!(normalize_password(&once), once);
        let _ = validate_login_password(&raw);
    }

    /// A presented API key is parsed without panicking, and every key Gatehouse makes parses
    /// back to its own prefix and matches its stored hash.
    #[test]
    fn api_keys_parse_safely_and_round_trip(presented in hostile_text()) {
        let _ = api_key_secret::parse(&presented);
        let key = api_key_secret::generate();
        let (prefix, secret) = api_key_secret::parse(&key.full).expect("our own key parses");
        prop_assert_eq!(prefix, key.prefix.as_str());
        prop_assert!(api_key_secret::secret_matches(secret, &key.secret_hash));
    }

    /// Any `Cookie` header is read without panicking.
    #[test]
    fn cookie_headers_parse_safely(header in hostile_text()) {
        let settings = SessionSettings {
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            cookie_secure: true,
        };
        let _ = token_from_cookie_header(&settings, &header);
    }

    /// Two IPv6 addresses share a limit key exactly when they share a /64; an IPv4 address
    /// and its IPv4-mapped IPv6 form share one.
    #[test]
    fn limit_keys_group_ipv6_by_64(a in any::<u128>(), b in any::<u128>(), v4 in any::<u32>()) {
        let (x, y) = (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)));
        if x.to_canonical().is_ipv6() && y.to_canonical().is_ipv6() {
            prop_assert_eq!(limit_key(x) == limit_key(y), a >> 64 == b >> 64);
        }
        let v4 = Ipv4Addr::from(v4);
        prop_assert_eq!(limit_key(IpAddr::V4(v4)), limit_key(IpAddr::V6(v4.to_ipv6_mapped())));
    }
}

/// One hop a client may write into the forwarding header: an address, or anything.
fn spoofed_hop() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|v| Ipv4Addr::from(v).to_string()),
        any::<u128>().prop_map(|v| Ipv6Addr::from(v).to_string()),
        Just("10.0.0.7".to_string()),
        Just("unknown".to_string()),
        "[a-z0-9:.\\[\\]_ =\";-]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Behind trusted proxies (10.0.0.0/8) the client is the address the first of them saw,
    /// whatever the client itself prepended to the header; and a request that did not come
    /// through a trusted proxy is its TCP peer, whatever it says.
    #[test]
    fn the_client_address_cannot_be_chosen_by_the_client(
        spoofed in prop::collection::vec(spoofed_hop(), 0..5),
        client in any::<u32>().prop_map(|v| Ipv4Addr::new(198, 51, (v >> 8) as u8, v as u8)),
        proxies in 0usize..3,
    ) {
        let source = ClientIpSource::new(
            TrustedProxies::parse("10.0.0.0/8").unwrap(),
            ClientIpHeader::XForwardedFor,
        );
        let mut hops = spoofed.clone();
        hops.push(client.to_string());
        hops.extend((0..proxies).map(|i| format!("10.0.0.{}", i + 2)));
        let Ok(value) = HeaderValue::from_str(&hops.join(", ")) else {
            return Ok(());
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value);
        let behind_proxy = source.client_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), &headers);
        prop_assert_eq!(behind_proxy, IpAddr::V4(client), "{:?}", hops);
        let direct = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
        prop_assert_eq!(source.client_ip(direct, &headers), direct);
    }
}
