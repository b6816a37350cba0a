//! Hostile requests to every server function (`/rpc/*`): whatever the body, content type,
//! session or `Accept`, no answer may be a server error. The JSON API is fuzzed from its
//! OpenAPI document by schemathesis (`scripts/schemathesis.sh`); server functions have no
//! such document, so they get this generator, run over the list the server-function runtime
//! itself registered (a new server function is covered without being named here).
//!
//! Deterministic per seed: `RPC_FUZZ_SEED=n` replays a run, `RPC_FUZZ_ROUNDS=n` makes it longer.

use futures::stream;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;

use crate::helpers::*;

/// Every field name a form posts, so the generator reaches past "missing argument".
const FIELDS: [&str; 17] = [
    "username",
    "email",
    "password",
    "password_confirm",
    "next",
    "remember",
    "id",
    "name",
    "expires_in_days",
    "current_password",
    "new_password",
    "new_password_confirm",
    "keep_other_sessions",
    "confirm_username",
    "scopes",
    "new_email",
    "__proto__",
];

const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("application/x-www-form-urlencoded"),
    Some("application/x-www-form-urlencoded; charset=latin1"),
    Some("application/json"),
    Some("multipart/form-data"),
    Some("text/plain"),
    None,
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A value no form would send: broken percent-escapes, invalid UTF-8 once decoded, control
/// characters, very long text, or plain random text.
fn hostile_value(rng: &mut StdRng) -> String {
    match rng.gen_range(0..8) {
        0 => "%".into(),
        1 => "%zz%f".into(),
        2 => "%ff%fe%00".into(),
        3 => "a".repeat(rng.gen_range(129..12_000)),
        4 => "\u{0}\u{1b}[31m\r\n".into(),
        5 => "-1".into(),
        6 => "99999999999999999999999".into(),
        _ => (0..rng.gen_range(0..40))
            .map(|_| char::from_u32(rng.gen_range(0x20..0x3000)).unwrap_or('?'))
            .collect::<String>()
            .replace(['&', '='], ""),
    }
}

/// A body no browser would send.
fn hostile_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..5) {
        // Random bytes: invalid UTF-8, NULs, anything.
        0 => (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect(),
        // JSON where a form is expected (and the reverse, through the content type).
        1 => br#"{"username":["a"],"password":{"x":1},"id":null}"#.to_vec(),
        2 => Vec::new(),
        // Fields, some duplicated, with hostile values: written raw, not re-encoded.
        _ => (0..rng.gen_range(1..6))
            .map(|_| {
                let name = FIELDS[rng.gen_range(0..FIELDS.len())];
                format!("{name}={}", hostile_value(rng))
            })
            .collect::<Vec<_>>()
            .join(if rng.gen_bool(0.9) { "&" } else { "&&=&" })
            .into_bytes(),
    }
}

#[tokio::test]
async fn no_server_function_answers_hostile_input_with_a_server_error() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_GLOBAL", "1000000/minute"),
        ("RATE_LIMIT_LOGIN", "1000000/minute"),
        ("RATE_LIMIT_REGISTER", "1000000/minute"),
    ])
    .await;
    app.register_ok("fuzzer", "fuzzer@example.com").await;
    let mut paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    paths.sort_unstable();
    assert!(
        paths.contains(&"/rpc/login") && paths.contains(&"/rpc/delete_account"),
        "the runtime's list of server functions: {paths:?}"
    );
    let seed = env_number("RPC_FUZZ_SEED", 20261130);
    let rounds = env_number("RPC_FUZZ_ROUNDS", 25);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut requests = 0;
    for _ in 0..rounds {
        // A fresh session each round: a fuzzed sign-out (which needs no arguments) must not
        // leave the signed-in paths unexercised for the rest of the run.
        let token = app.login_ok("fuzzer").await;
        for path in &paths {
            let body = hostile_body(&mut rng);
            let mut req = app.client.post(app.url(path)).body(body.clone());
            if let Some(content_type) = CONTENT_TYPES[rng.gen_range(0..CONTENT_TYPES.len())] {
                req = req.header(CONTENT_TYPE, content_type);
            }
            if rng.gen_bool(0.5) {
                req = req.header(COOKIE, session_header(app.cookie_name, &token));
            }
            if rng.gen_bool(0.5) {
                // As a form posted without JavaScript.
                req = req.header(ACCEPT, "text/html");
            }
            let res = req.send().await.expect("request");
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "seed {seed}: {path} answered {status} to {:?}: {text}",
                String::from_utf8_lossy(&body)
            );
            requests += 1;
        }
    }
    assert_eq!(requests, rounds as usize * paths.len());
}

#[tokio::test]
async fn an_oversized_chunked_body_is_refused_as_too_large_on_every_server_function() {
    let app = spawn_app().await;
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        // No Content-Length: the limit must hold while the body streams in.
        let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1024]));
        let res = app
            .client
            .post(app.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
}
