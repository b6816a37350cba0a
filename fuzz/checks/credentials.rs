//! Every credential a request can carry, as the server parses it before any lookup: API keys
//! (`gk_<prefix>_<secret>`), access tokens (JWT), session and link tokens.

use gatehouse::server::auth::api_key_secret;
use gatehouse::server::auth::email_links::LinkToken;
use gatehouse::server::auth::{JwtKeys, SessionToken};
use secrecy::SecretString;

pub fn check(data: &[u8]) {
    // The parsers take text: what is not UTF-8 never reaches them.
    let Ok(data) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((prefix, secret)) = api_key_secret::parse(data) {
        assert!(data.contains(prefix) && data.contains(secret));
        let hash = api_key_secret::hash_secret(secret);
        assert!(api_key_secret::secret_matches(secret, &hash));
    }
    let keys = JwtKeys::new(
        &SecretString::from("0123456789abcdef0123456789abcdef"),
        "gatehouse",
        "gatehouse-api",
        1800,
    );
    // Without the key nothing verifies: a forged token is refused, never accepted or a panic.
    assert!(keys.verify(data, 1_800_000_000).is_err());
    if let Some(token) = SessionToken::parse(data) {
        assert_eq!(token.expose(), data);
        assert_eq!(token.hash().len(), 32);
    }
    let _ = LinkToken::parse(data);
}
