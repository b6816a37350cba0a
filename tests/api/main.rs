//! Integration tests: one binary, each test with its own app, port and database: a SQLite
//! file, or with `GATEHOUSE_TEST_BACKEND=postgres` a PostgreSQL database of its own (see
//! `helpers::TestDatabase`).

// Test code may panic on the unexpected: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod helpers;
mod smtp;

// The fuzz targets' properties, shared with fuzz/fuzz_targets (see fuzz_smoke.rs).
#[path = "../../fuzz/checks/mod.rs"]
mod fuzz_checks;

mod abuse;
mod account;
mod api_v1;
mod architecture;
mod binary;
mod config_and_health;
mod edge;
mod fuzz_smoke;
mod hardening;
mod import;
mod login;
mod logs;
mod mail;
mod mail_links;
mod metrics;
mod outage;
mod pages;
mod passkeys;
mod payloads;
mod properties;
mod redis_limits;
mod register;
mod rpc_fuzz;
mod sessions;
mod shutdown;
mod two_factor;
