//! The server binary as a real process: its command line and its start-up checks.

use crate::helpers::{run_gatehouse, unused_port};

fn refused(env: &[(&str, &str)], expected: &str) {
    let out = run_gatehouse(&[], env);
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
fn production_refuses_to_start_without_a_mail_relay_or_a_public_url() {
    let key = ("SECRET_KEY", "a-production-secret-key-of-enough-bytes");
    let relay = ("SMTP_URL", "smtps://mailer:hunter2@smtp.example.com:465");
    let public = ("PUBLIC_URL", "https://auth.example.com");
    refused(
        &[("APP_ENV", "production"), key, public],
        "SMTP_URL is not set",
    );
    refused(
        &[("APP_ENV", "production"), key, relay],
        "PUBLIC_URL is not set",
    );
    let out = run_gatehouse(
        &[],
        &[
            ("APP_ENV", "production"),
            key,
            public,
            ("SMTP_URL", "smtp://mailer:hunter2@smtp.example.com:25"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("without TLS"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn help_lists_the_three_commands_and_where_the_settings_are_described() {
    // Help needs no valid configuration: this one would refuse to serve.
    let out = run_gatehouse(&["--help"], &[("APP_ENV", "production")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for command in ["serve", "import-users", "audit"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("README.md") && stdout.contains("\"Configuration\""),
        "{stdout}"
    );
}

#[test]
fn version_names_the_package_version() {
    let out = run_gatehouse(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    for args in [&["bogus"][..], &["import-users"], &["audit"]] {
        let out = run_gatehouse(args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: gatehouse"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn without_app_env_the_binary_refuses_to_listen_beyond_loopback() {
    // A database nobody answers for: should the check ever go, the binary stops there
    // (quickly, with another message) instead of serving on 0.0.0.0 and hanging the test.
    let database = format!("postgres://nobody@127.0.0.1:{}/none", unused_port());
    refused(
        &[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:0"),
            ("DATABASE_URL", &database),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
        ],
        "APP_ENV is not set and 0.0.0.0:0 is not a loopback address",
    );
}
