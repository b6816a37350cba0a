#!/usr/bin/env bash
# Installs what Gatehouse needs to build (and, with --test, to test), skipping anything
# already present at the right version. Called by scripts/run.sh and scripts/test.sh.
#
# Pinned tools (see docs/toolchain.md for why these versions):
#   - wasm32-unknown-unknown target (rustup)
#   - cargo-leptos 0.3.10 (newer releases need a newer rustc than 1.95)
#   - wasm-bindgen-cli, exactly the wasm-bindgen version in Cargo.lock
#   - npm packages in end2end/: wasm-opt (binaryen 132) and Playwright
#   - with --test: Debian's Chromium (Playwright's own browser download is not used), nginx,
#     aiosmtpd 1.4.6 (PyPI), the SMTP server of the end-to-end and multi-instance tests, and
#     cargo-deny 0.20.2 (scripts/deny.sh)
# PostgreSQL and Redis (with psql) are not installed here: scripts/lib/test-services.sh does
# that, and only when the tests will not use servers that are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
CARGO_DENY_VERSION=0.20.2
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
WITH_TEST_TOOLS=false
[ "${1:-}" = "--test" ] && WITH_TEST_TOOLS=true

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

have cargo || die "Rust is missing. Install it with rustup (https://rustup.rs), Rust 1.88 or newer, then run this again."
have rustup || die "rustup is missing: it is needed to add the wasm32-unknown-unknown target. Install Rust through rustup (https://rustup.rs)."
have npm || die "Node.js and npm are missing. Install Node.js 20 or newer (Debian: apt-get install nodejs npm), then run this again."
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes on 2 cores, once per machine)"
  # LTO off and more codegen units: a third faster to build, the tool works the same.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes, once per machine)"
  # Without --locked: the locked dependency set of this release is no longer all on crates.io.
  cargo install "wasm-bindgen-cli@=$WASM_BINDGEN_VERSION"
fi

# wasm-opt (binaryen 132) and Playwright live in end2end/node_modules. Debian's older wasm-opt
# produces a bundle that fails to hydrate, so ours must come first on PATH (scripts do that).
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -d end2end/node_modules/@playwright/test ] \
   || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages in end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
fi

if $WITH_TEST_TOOLS; then
  CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
  if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
      say "installing Chromium from Debian"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      die "Chromium is missing at $CHROMIUM. Install it (Debian: sudo apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary, then run this again."
    fi
  fi
  # nginx, for the multi-instance test (docs/nginx/gatehouse.conf in front of two instances).
  # Debian's package; its service is not needed (the test runs its own nginx process).
  if ! have nginx && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
      say "installing nginx from Debian"
      [ -n "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    else
      die "nginx is missing. Install it (Debian: sudo apt-get install nginx), then run this again."
    fi
  fi
  # aiosmtpd: the SMTP server on loopback that the end-to-end tests read mail from (its
  # Maildir) and the multi-instance test's production instances send to (production refuses
  # to start without a relay).
  AIOSMTPD_VERSION=1.4.6
  if ! python3 -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
    have python3 || die "Python 3 is missing (the multi-instance test's mail relay, aiosmtpd, runs on it). Install it (Debian: sudo apt-get install python3 python3-pip), then run this again."
    python3 -m pip --version >/dev/null 2>&1 || die "pip is missing. Install it (Debian: sudo apt-get install python3-pip), then run this again."
    say "installing aiosmtpd $AIOSMTPD_VERSION (PyPI)"
    python3 -m pip install --quiet "aiosmtpd==$AIOSMTPD_VERSION"
  fi
  if [ "$(cargo deny --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DENY_VERSION" ]; then
    say "installing cargo-deny $CARGO_DENY_VERSION (about 4 minutes on 2 cores, once per machine)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install "cargo-deny@$CARGO_DENY_VERSION" --locked
  fi
fi
