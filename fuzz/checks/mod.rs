//! The properties each fuzz target checks, one module per target, each a `check(&[u8])` that
//! panics when a property fails. Shared by two runners, so they cannot drift apart:
//! - `fuzz/fuzz_targets/*.rs`: libFuzzer, coverage-guided, for minutes (scripts/fuzz.sh);
//! - `tests/api/fuzz_smoke.rs`: every saved finding in `fuzz/regressions/` plus a few thousand
//!   generated inputs, in every CI run, with the ordinary test build.
// Each runner uses the checks it needs.
#![allow(dead_code)]

pub mod credentials;
pub mod cross_site;
pub mod edge_parsers;
pub mod forms;
