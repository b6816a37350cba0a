#!/usr/bin/env bash
# Development check: `cargo leptos watch` gets edits to the browser (README, "Development").
#
# Copies the working tree (tracked and untracked-but-not-ignored files, so uncommitted work is
# what gets checked) to a scratch directory, runs `LEPTOS_HASH_FILES=false cargo leptos watch`
# there on free ports, and runs end2end/watch/ in Chromium: a stylesheet edit must be swapped
# into the open page without a reload, a component edit must rebuild and reload the page, which
# then shows the new HTML, runs the new wasm, hydrates, validates, and logs no console error.
# The repository's own files are never edited. Called near the end of scripts/test.sh.
#
# Bounded: every wait has a deadline (minutes, overridable): WATCH_CHECK_BUILD_MINUTES for the
# first build (default 30: a cold debug build of both halves is ~10 min on 2 idle cores),
# WATCH_CHECK_REBUILD_MINUTES for the rebuild after the Rust edit (15), WATCH_CHECK_TEST_MINUTES
# for the whole browser part (20). The watcher and its children are stopped and the scratch copy
# is deleted on any exit. Logs stay in target/watch-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
scripts/setup.sh
export PATH="$REPO/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "watch-check: Chromium is missing at $CHROMIUM (scripts/setup.sh --test installs it)" >&2; exit 1; }

BUILD_MINUTES="${WATCH_CHECK_BUILD_MINUTES:-30}"
export WATCH_CHECK_REBUILD_MINUTES="${WATCH_CHECK_REBUILD_MINUTES:-15}"
export WATCH_CHECK_TEST_MINUTES="${WATCH_CHECK_TEST_MINUTES:-20}"
LOG_DIR="$REPO/target/watch-check"
LOG="$LOG_DIR/watch.log"
mkdir -p "$LOG_DIR"
say() { printf 'watch-check: %s\n' "$*"; }
started=$(date +%s)

SCRATCH=""
WATCH_PID=""
cleanup() {
  local status=$?
  if [ -n "$WATCH_PID" ]; then
    # The watcher runs in its own session (setsid below): cargo-leptos, cargo, rustc and the
    # served app. SIGINT first (cargo-leptos shuts down on Ctrl-C), then SIGKILL what is left.
    kill -INT -- "-$WATCH_PID" 2>/dev/null || kill -INT "$WATCH_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(pgrep -s "$WATCH_PID" 2>/dev/null)" ] && break
      sleep 0.1
    done
    for pid in $(pgrep -s "$WATCH_PID" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    wait "$WATCH_PID" 2>/dev/null || true
  fi
  [ -n "$SCRATCH" ] && rm -rf "$SCRATCH"
  if [ "$status" -ne 0 ]; then
    say "FAILED after $(( $(date +%s) - started ))s; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2 2>/dev/null || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the scratch copy -------------------------------------------------------------------------
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-watch-check.XXXXXX")"
# Extracted with the current time as mtime (-m): a copy keeping the files' own, older mtimes
# would let cargo take the previous run's build (made from the edited files) for fresh.
git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -T - -cf - 2>/dev/null \
  | tar -xmf - -C "$SCRATCH"
# Builds go to this checkout's target directory, so every dependency an earlier
# `cargo leptos watch` compiled here is reused (a debug cargo-leptos build compiles with
# `--cfg erase_components`, so `cargo test`'s builds are not): only the gatehouse crate itself
# is compiled for the scratch copy. Cargo keys build outputs by package id, and for a path
# package that id is relative to the workspace root, so the copy would otherwise share (and
# overwrite) this checkout's gatehouse artifacts and fingerprints, leaving the edited code in
# them while they still look fresh here. A different version gives the copy artifacts of its
# own, and a different binary name keeps target/debug/gatehouse this checkout's.
sed -i '0,/^version = "\(.*\)"$/s//version = "\1-watch-check"/' "$SCRATCH/Cargo.toml"
sed -i '/^\[\[bin\]\]$/{n;s/^name = "gatehouse"$/name = "gatehouse-watch-check"/}' "$SCRATCH/Cargo.toml"
sed -i '/^name = "gatehouse"$/{n;s/^version = "\(.*\)"$/version = "\1-watch-check"/}' "$SCRATCH/Cargo.lock"
[ "$(grep -c -- '-watch-check"$' "$SCRATCH/Cargo.toml")" = 2 ] && grep -q -- '-watch-check"$' "$SCRATCH/Cargo.lock" \
  || { say "could not give the scratch copy its own package version and binary name" >&2; exit 1; }
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac

# --- free ports for the app and the live-reload socket ----------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if [ "$p" != "${1:-}" ] && port_free "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
SITE_PORT="${WATCH_CHECK_PORT:-$(free_port)}"
RELOAD_PORT="${WATCH_CHECK_RELOAD_PORT:-$(free_port "$SITE_PORT")}"
ADDR="127.0.0.1:$SITE_PORT"

# --- the watcher ------------------------------------------------------------------------------
say "cargo leptos watch in $SCRATCH on $ADDR (live reload on $RELOAD_PORT), target dir $TARGET_DIR"
# Development settings, as README "Development" gives them (LEPTOS_HASH_FILES=false), and an
# environment of its own: a SQLite file in the scratch copy, no Redis, no inherited .env
# (cargo-leptos and the app look for .env from the scratch copy upwards only).
(
  cd "$SCRATCH"
  exec env -u REDIS_URL -u SECRET_KEY -u TRUSTED_PROXIES \
    APP_ENV=development \
    DATABASE_URL="sqlite://$SCRATCH/watch-check.db?mode=rwc" \
    RUST_LOG="${RUST_LOG:-warn,gatehouse=info}" \
    CARGO_TARGET_DIR="$TARGET_DIR" \
    LEPTOS_BIN_TARGET=gatehouse-watch-check \
    LEPTOS_BIN_EXE_NAME=gatehouse-watch-check \
    LEPTOS_HASH_FILES=false \
    LEPTOS_SITE_ADDR="$ADDR" \
    LEPTOS_RELOAD_PORT="$RELOAD_PORT" \
    setsid cargo leptos watch
) > "$LOG" 2>&1 < /dev/null &
WATCH_PID=$!

deadline=$(( $(date +%s) + BUILD_MINUTES * 60 ))
until curl -fsS -o /dev/null --max-time 5 "http://$ADDR/healthz" 2>/dev/null; do
  if ! kill -0 "$WATCH_PID" 2>/dev/null; then say "cargo leptos watch exited" >&2; exit 1; fi
  if grep -qE '^error(\[E[0-9]+\])?: ' "$LOG"; then say "the first build failed" >&2; exit 1; fi
  if grep -q 'Address already in use' "$LOG"; then say "port $SITE_PORT was taken meanwhile; run again" >&2; exit 1; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then say "no answer on $ADDR after $BUILD_MINUTES min" >&2; exit 1; fi
  sleep 1
done
ready=$(date +%s)
say "first build and start: $(( ready - started ))s"

# The page links the unhashed names the watcher rewrites on every change.
page="$(curl -fsS --max-time 10 "http://$ADDR/register")"
for asset in gatehouse.css gatehouse.js gatehouse.wasm; do
  grep -q "/pkg/$asset\"" <<<"$page" || { say "the page does not link /pkg/$asset (is hashing on?)" >&2; exit 1; }
  curl -fsS -o /dev/null --max-time 10 "http://$ADDR/pkg/$asset" || { say "/pkg/$asset is not served" >&2; exit 1; }
done

# --- the browser ------------------------------------------------------------------------------
(
  cd end2end
  WATCH_BASE_URL="http://$ADDR" WATCH_CHECK_DIR="$SCRATCH" \
    timeout --kill-after=30 "$(( WATCH_CHECK_TEST_MINUTES * 60 + 60 ))" \
    npx playwright test --config playwright.watch.config.ts
)
done_at=$(date +%s)
say "passed: first build and start $(( ready - started ))s, browser checks (style swap, rebuild, reload) $(( done_at - ready ))s, total $(( done_at - started ))s"
say "screenshot after the reload: end2end/screenshots/watch-after-reload.png"
