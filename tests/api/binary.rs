//! The server binary's start-up checks, run as a real process.

use std::process::Command;

fn gatehouse(env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    // Nothing from the developer's shell or a local .env may leak into the check: an empty
    // variable counts as unset, and dotenvy never overrides a variable that is present.
    for var in [
        "APP_ENV",
        "SECRET_KEY",
        "SESSION_COOKIE_SECURE",
        "ALLOWED_ORIGINS",
        "HSTS",
    ] {
        cmd.env(var, "");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

fn refused(env: &[(&str, &str)], expected: &str) {
    let out = gatehouse(env);
    assert!(!out.status.success(), "started with {env:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(expected),
        "stderr lacks {expected:?}: {stderr}"
    );
}

#[test]
fn production_refuses_to_start_without_a_proper_secret_key() {
    refused(&[("APP_ENV", "production")], "SECRET_KEY is not set");
    refused(
        &[("APP_ENV", "production"), ("SECRET_KEY", "too-short")],
        "SECRET_KEY must be at least 32 bytes",
    );
}

#[test]
fn production_refuses_insecure_cookies_and_wildcard_origins() {
    let key = ("SECRET_KEY", "a-production-secret-key-of-enough-bytes");
    refused(
        &[
            ("APP_ENV", "production"),
            key,
            ("SESSION_COOKIE_SECURE", "false"),
        ],
        "SESSION_COOKIE_SECURE=false",
    );
    refused(
        &[("APP_ENV", "production"), key, ("ALLOWED_ORIGINS", "*")],
        "wildcard origin",
    );
}

#[test]
fn without_app_env_the_binary_refuses_to_listen_beyond_loopback() {
    refused(
        &[("LEPTOS_SITE_ADDR", "0.0.0.0:0")],
        "APP_ENV is not set and 0.0.0.0:0 is not a loopback address",
    );
}
