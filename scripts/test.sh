#!/usr/bin/env bash
# Runs every test: shared-model unit tests, server unit + integration tests (on SQLite, then
# the integration tests on PostgreSQL), and the Playwright end-to-end tests against a release
# build. Installs what is missing first.
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

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

# Before the builds, so a missing server package stops the run at once, not after them.
step "PostgreSQL and Redis for the tests"
test_services_start

step "unit tests of the shared models (browser side: no ssr feature)"
cargo test --lib --no-default-features --features hydrate

step "unit and integration tests (server)"
cargo test --features ssr

# The same integration tests on PostgreSQL: each test makes and drops its own database on
# TEST_POSTGRES_URL (set above). The test binary is already built, so this costs run time only.
step "integration tests again, on PostgreSQL"
GATEHOUSE_TEST_BACKEND=postgres cargo test --features ssr --test api

step "release build (server + wasm, wasm-opt $(wasm-opt --version | grep -o 'version [0-9]*'))"
cargo leptos build --release

for wasm in target/site/pkg/*.wasm; do
  echo "browser bundle: $(basename "$wasm"): $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip -9"
done

step "starting the release binary for the end-to-end tests"
E2E_DIR="target/e2e"
rm -rf "$E2E_DIR" && mkdir -p "$E2E_DIR" end2end/screenshots
E2E_ADDR="127.0.0.1:${E2E_PORT:-3100}"
# The binary is started exactly as a deployment would: from the repository root, configured
# by environment variables only.
# Playwright sends a made-up X-Forwarded-For per test and the server trusts 127.0.0.1 as a
# proxy, so each test is its own client for the per-IP limits (5 sign-ins a minute).
# No SMTP_URL: development writes each message to a file, kept with the run's other files.
APP_ENV=development \
TRUSTED_PROXIES=127.0.0.1 \
DATABASE_URL="sqlite://$E2E_DIR/gatehouse.db?mode=rwc" \
MAIL_DIR="$E2E_DIR/mail" \
LEPTOS_SITE_ADDR="$E2E_ADDR" \
RUST_LOG="${RUST_LOG:-warn,gatehouse=info}" \
  target/release/gatehouse > "$E2E_DIR/server.log" 2>&1 &
SERVER_PID=$!
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; }
# Not `trap … EXIT`: that would replace the clean-up of the test servers (at_exit runs both).
at_exit stop_server
for _ in $(seq 1 100); do
  if curl -fsS "http://$E2E_ADDR/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$E2E_DIR/server.log"; echo "server exited" >&2; exit 1; fi
  sleep 0.1
done
step "API fuzzing (schemathesis from the OpenAPI document: no 5xx allowed)"
scripts/schemathesis.sh "http://$E2E_ADDR"

step "end-to-end tests (Playwright, Chromium) against the release binary"
(cd end2end && BASE_URL="http://$E2E_ADDR" npx playwright test)
echo "screenshots: end2end/screenshots/"

step "two instances on PostgreSQL + Redis behind nginx with TLS (docs/deploy.md)"
# Inherits TEST_POSTGRES_URL / TEST_REDIS_URL, so it uses the same servers and starts none.
scripts/multi-instance.sh

step "development: cargo leptos watch gets style and Rust edits to the browser"
scripts/watch-check.sh
