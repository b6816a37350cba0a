//! The fuzz targets' own properties (`fuzz/checks/`), run by the ordinary test build in every
//! CI run: every saved finding in `fuzz/regressions/` (and a local `fuzz/corpus/` when one
//! exists), then generated inputs shaped like what each target parses.
//!
//! This is the smoke run; the coverage-guided search is `scripts/fuzz.sh` (libFuzzer under
//! AddressSanitizer). That build takes ~9 minutes on 2 cores before the first input, more than a
//! CI run can spare, while these checks reuse the test build already made.

use std::path::Path;

use proptest::prelude::*;

use crate::fuzz_checks;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 4] = [
    ("credentials", fuzz_checks::credentials::check),
    ("cross_site", fuzz_checks::cross_site::check),
    ("edge_parsers", fuzz_checks::edge_parsers::check),
    ("forms", fuzz_checks::forms::check),
];

/// Runs `check` on every file under `dir`; the number of files.
fn replay(dir: &Path, check: Check) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        // A failing check panics; say which input did it.
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "fuzz input {} fails", path.display());
        count += 1;
    }
    count
}

#[test]
fn every_saved_finding_stays_fixed() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, check) in TARGETS {
        let saved = replay(&fuzz.join("regressions").join(target), check);
        assert!(
            saved > 0,
            "{target}: fuzz/regressions/{target}/ holds no input"
        );
        replay(&fuzz.join("corpus").join(target), check);
    }
}

/// Bytes with the separators and escapes these parsers split on made likely.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[=&%+.:/\\\\@_a-zA-Z0-9 \t\r\n\u{0}\u{e9}\u{fb01}\u{3000}-]{0,120}"
            .prop_map(String::into_bytes),
    ]
}

/// A form body: known field names with hostile values.
fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec![
        "username",
        "email",
        "password",
        "password_confirm",
        "identifier",
        "current_password",
        "new_password",
        "new_email",
        "next",
    ]);
    prop::collection::vec((field, "[^&]{0,40}"), 0..6)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap().into_bytes())
}

/// Lines for the cross-site decision: a method, then headers browsers really send, or bytes.
fn cross_site_request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "post",
    ]);
    let fetch_site = prop::sample::select(vec![
        "",
        "same-origin",
        "none",
        "same-site",
        "cross-site",
        "SAME-ORIGIN",
        "same-origin, none",
    ]);
    let origin = prop::sample::select(vec![
        "",
        "null",
        "http://app.example",
        "HTTP://APP.EXAMPLE",
        "http://app.example.evil",
        "https://admin.example",
        "app.example",
        "http://",
        "://app.example",
    ]);
    let host = prop::sample::select(vec![
        "",
        "app.example",
        "APP.example",
        "evil.example",
        "app.example:443",
    ]);
    let allowed = prop::sample::select(vec![
        "",
        "https://admin.example",
        "null",
        "http://app.example",
    ]);
    (
        method,
        fetch_site,
        origin,
        host,
        allowed,
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(m, f, o, h, a, noise)| {
            let mut bytes = format!("{m}\n{f}\n{o}\n{h}\n{a}").into_bytes();
            // Now and then a stray byte, so malformed headers are tried too.
            if let Some(at) = noise.first() {
                let at = usize::from(*at) % bytes.len();
                bytes.insert(at, noise.get(1).copied().unwrap_or(0xff));
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn generated_inputs_hold_every_property(bytes in hostile_bytes()) {
        for (_, check) in TARGETS {
            check(&bytes);
        }
    }

    #[test]
    fn generated_form_bodies_hold(body in form_body()) {
        fuzz_checks::forms::check(&body);
    }

    #[test]
    fn generated_requests_hold_the_cross_site_decision(request in cross_site_request()) {
        fuzz_checks::cross_site::check(&request);
    }
}
