#!/usr/bin/env bash
# Builds Gatehouse (release) and serves it on SQLite. No other service is needed.
#   LEPTOS_SITE_ADDR=127.0.0.1:3000 by default; DATABASE_URL defaults to data/gatehouse.db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
# The bundle's brotli and gzip twins, sent instead of compressing it per request.
target/release/gatehouse precompress
exec target/release/gatehouse
