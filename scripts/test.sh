#!/usr/bin/env bash
# Runs every test: shared-model unit tests, server unit + integration tests (on SQLite, then
# the integration tests on PostgreSQL), and the Playwright end-to-end tests against a release
# build (two instances, one per EMAIL_VERIFICATION mode, sending to a local SMTP server whose
# Maildir the tests read). Installs what is missing first.
#
# PostgreSQL and Redis: TEST_POSTGRES_URL / TEST_REDIS_URL when set; else the servers on the
# default ports when usable; else throwaway servers started here and removed on exit
# (TEST_SERVICES=own skips the default ports). See scripts/lib/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/test-services.sh
source scripts/lib/test-services.sh
scripts/setup.sh --test
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# Each step's wall time, printed as a table when the run ends (however it ends), so a slow CI
# run says where its minutes went: the cold run must stay well under 45 min.
STEP_TIMES=()
STEP_NAME="setup (scripts/setup.sh --test)"
STEP_START=0
step_close() {
  [ -n "$STEP_NAME" ] && STEP_TIMES+=("$(printf '%6d s  %s' $((SECONDS - STEP_START)) "$STEP_NAME")")
  STEP_NAME=""
}
step() {
  step_close
  STEP_NAME="$*"
  STEP_START=$SECONDS
  printf '\n\033[1m== %s ==\033[0m\n' "$*"
}
step_report() {
  step_close
  printf '\n\033[1m== time per step (%d s in all) ==\033[0m\n' "$SECONDS"
  printf '%s\n' "${STEP_TIMES[@]}"
}
at_exit step_report

# First, as it takes a second and needs nothing built: the claim -> test matrix
# (docs/security-tests.md) must name tests that exist, and cover every row of the README's
# Security table. The self-test first: a checker that stopped catching a renamed test would
# pass anything.
step "security claims: every README claim names tests that exist (docs/security-tests.md)"
scripts/check-claims.py --self-test
scripts/check-claims.py

# Before the builds, so a missing server package stops the run at once, not after them.
step "PostgreSQL and Redis for the tests"
test_services_start

step "supply chain: licences, bans, duplicate versions, sources (cargo deny, deny.toml)"
scripts/deny.sh

step "unit tests of the shared models (browser side: no ssr feature)"
cargo test --lib --no-default-features --features hydrate

# Compiled with `--cfg erase_components`, exactly as `cargo leptos watch` compiles its debug
# server (cargo-leptos adds it to RUSTFLAGS there): with the same flags and feature set
# (Cargo.toml lines up the dev-dependencies' features), the watch check at the end reuses every
# dependency compiled here instead of building the web stack again; Leptos views also compile
# faster this way. The pages render the same HTML but for more hydration markers (`<!>`) after
# dynamic text; the release build, which the end-to-end tests drive, has no such cfg.
TEST_RUSTFLAGS="--cfg erase_components"

step "unit and integration tests (server)"
RUSTFLAGS="$TEST_RUSTFLAGS" cargo test --features ssr

# The same integration tests on PostgreSQL: each test makes and drops its own database on
# TEST_POSTGRES_URL (set above). The test binary is already built, so this costs run time only.
step "integration tests again, on PostgreSQL"
RUSTFLAGS="$TEST_RUSTFLAGS" GATEHOUSE_TEST_BACKEND=postgres cargo test --features ssr --test api

step "release build (server + wasm, wasm-opt $(wasm-opt --version | grep -o 'version [0-9]*'))"
cargo leptos build --release

# The bundle's brotli and gzip twins, which the end-to-end servers then send, and the sizes,
# held to the budget in Cargo.toml: more than 10 % over it fails the run.
BUNDLE_BUDGET=$(awk -F' *= *' '/^bundle-brotli-budget/ {gsub(/_/, "", $2); print $2}' Cargo.toml)
target/release/gatehouse precompress --brotli-budget "$BUNDLE_BUDGET"

step "starting an SMTP server and two release binaries for the end-to-end tests"
E2E_DIR="target/e2e"
rm -rf "$E2E_DIR" && mkdir -p "$E2E_DIR" end2end/screenshots
E2E_ADDR="127.0.0.1:${E2E_PORT:-3100}"
E2E_REQUIRED_ADDR="127.0.0.1:${E2E_REQUIRED_PORT:-3101}"
E2E_SMTP_PORT="${E2E_SMTP_PORT:-3126}"
# Absolute: Playwright reads it from end2end/.
E2E_MAILDIR="$PWD/$E2E_DIR/maildir"

# A real SMTP server, so the tests see what a relay would receive (the SMTP conversation, MIME,
# encodings), not a development side file. aiosmtpd's Mailbox handler files every message it
# accepts in a Maildir (created at start), which end2end/tests/mailbox.ts reads.
python3 -c 'import aiosmtpd' 2>/dev/null || {
  echo "aiosmtpd is missing; run scripts/setup.sh --test" >&2; exit 1; }
python3 -m aiosmtpd -n -l "127.0.0.1:$E2E_SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$E2E_MAILDIR" \
  > "$E2E_DIR/smtp.log" 2>&1 &
SMTP_PID=$!
stop_smtp() { kill "$SMTP_PID" 2>/dev/null || true; }
# Not `trap … EXIT`: that would replace the clean-up of the test servers (at_exit runs them all).
at_exit stop_smtp
smtp_up=false
for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$E2E_SMTP_PORT") 2>/dev/null; then smtp_up=true; break; fi
  kill -0 "$SMTP_PID" 2>/dev/null || break
  sleep 0.1
done
$smtp_up || { cat "$E2E_DIR/smtp.log"; echo "the SMTP server did not come up on port $E2E_SMTP_PORT" >&2; exit 1; }

# The binary is started exactly as a deployment would: from the repository root, configured
# by environment variables only.
# Playwright sends a made-up X-Forwarded-For per test and the server trusts 127.0.0.1 as a
# proxy, so each test is its own client for the per-IP limits (5 sign-ins a minute).
# Links in mail are built from PUBLIC_URL, so each instance names its own address, as
# `localhost` (the same listener): WebAuthn refuses an IP address as a passkey's
# relying-party id, and the browser must be on the origin passkeys are made for.
start_server() { # log-name address email-verification database-file
  APP_ENV=development \
  TRUSTED_PROXIES=127.0.0.1 \
  DATABASE_URL="sqlite://$E2E_DIR/$4?mode=rwc" \
  SMTP_URL="smtp://127.0.0.1:$E2E_SMTP_PORT" \
  PUBLIC_URL="http://${2/127.0.0.1/localhost}" \
  EMAIL_VERIFICATION="$3" \
  LEPTOS_SITE_ADDR="$2" \
  RUST_LOG="${RUST_LOG:-warn,gatehouse=info}" \
    target/release/gatehouse > "$E2E_DIR/$1.log" 2>&1 &
  SERVER_PIDS+=($!)
}
SERVER_PIDS=()
stop_servers() { for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
at_exit stop_servers
# Sign-up signs in at once (the flow most tests build on) …
start_server server "$E2E_ADDR" optional gatehouse.db
# … and, on a database of its own, the production default: sign-in waits for the mailed link.
start_server server-required "$E2E_REQUIRED_ADDR" required required.db

# Two binaries migrating and starting at once on two busy cores: allow them 30 s.
wait_for_server() { # pid address log-name
  for _ in $(seq 1 300); do
    if curl -fsS "http://$2/healthz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$1" 2>/dev/null; then cat "$E2E_DIR/$3.log"; echo "server $3 exited" >&2; exit 1; fi
    sleep 0.1
  done
  cat "$E2E_DIR/$3.log"; echo "server $3 did not answer on $2" >&2; exit 1
}
wait_for_server "${SERVER_PIDS[0]}" "$E2E_ADDR" server
wait_for_server "${SERVER_PIDS[1]}" "$E2E_REQUIRED_ADDR" server-required
# The port check above would also have passed for another program already on the port, while
# ours failed to bind and exited: by now, that exit has happened.
kill -0 "$SMTP_PID" 2>/dev/null || { cat "$E2E_DIR/smtp.log"; echo "the SMTP server exited" >&2; exit 1; }

step "API fuzzing (schemathesis from the OpenAPI document: no 5xx allowed)"
scripts/schemathesis.sh "http://$E2E_ADDR"

step "end-to-end tests (Playwright, Chromium) against the release binary"
(cd end2end && BASE_URL="http://${E2E_ADDR/127.0.0.1/localhost}" \
  BASE_URL_REQUIRED="http://${E2E_REQUIRED_ADDR/127.0.0.1/localhost}" \
  MAILDIR="$E2E_MAILDIR" npx playwright test)
echo "screenshots: end2end/screenshots/"

# Its own server, on the same release binary, a database of its own and a free port.
step "crash consistency: kill -9 in the middle of sign-ups and password changes (SQLite)"
scripts/crash-check.py --rounds 3

step "two instances on PostgreSQL + Redis behind nginx with TLS (docs/deploy.md)"
# Inherits TEST_POSTGRES_URL / TEST_REDIS_URL, so it uses the same servers and starts none.
scripts/multi-instance.sh

step "development: cargo leptos watch gets style and Rust edits to the browser"
scripts/watch-check.sh
