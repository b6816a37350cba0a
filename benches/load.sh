#!/usr/bin/env bash
# Load benchmark: Gatehouse's release binary against the seed's FastAPI app, one after the other
# in one run, on loopback, with wrk (Debian: apt-get install wrk). Bounded: every scenario runs
# LOAD_SECONDS (default 10 s); the whole run takes about 4 minutes.
#
#   benches/load.sh                      # SQLite
#   benches/load.sh --postgres           # PostgreSQL + Redis (TEST_POSTGRES_URL, TEST_REDIS_URL)
#   PEER=/path/to/peer-fastapi benches/load.sh
#
# Expects `target/release/gatehouse` and the built site (`cargo leptos build --release` and
# `target/release/gatehouse precompress`, as scripts/run.sh does); --build makes them first.
# The FastAPI app is copied from PEER (default ../shared/peer-fastapi) to a scratch directory,
# where it makes its own virtualenv; LOAD_PEER=0 skips it. Prints a Markdown table, also kept
# in target/load/results.md, then the time to interactive of /login (end2end/bench/), in
# target/load/time-to-interactive.md. Nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

SECONDS_PER_RUN="${LOAD_SECONDS:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-32}"
PEER="${PEER:-../shared/peer-fastapi}"
PEER_WORKERS="${PEER_WORKERS:-2}"
GATEHOUSE_PORT="${GATEHOUSE_PORT:-18180}"
PEER_PORT="${PEER_PORT:-18181}"
OUT=target/load
PASSWORD="correct horse battery staple"

BACKEND=sqlite
for arg in "$@"; do
  case "$arg" in
    --build)
      cargo leptos build --release
      target/release/gatehouse precompress >/dev/null ;;
    --postgres) BACKEND=postgres ;;
    *) echo "usage: benches/load.sh [--build] [--postgres]" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing (Debian: apt-get install wrk)" >&2; exit 1; }
[ -x target/release/gatehouse ] || { echo "no release build: run with --build" >&2; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

wait_for() { # url pid log
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  cat "$3" >&2; echo "no answer from $1" >&2; exit 1
}

# One wrk run: name target-label url [connections [method [header [form]]]] -> a row in
# $OUT/rows (label, scenario, req/s, p50, p99, answers >= 400, socket errors).
measure() {
  local name=$1 label=$2 url=$3 connections=${4:-$CONNECTIONS}
  local result
  result=$(LOAD_METHOD="${5:-GET}" LOAD_HEADER="${6:-}" LOAD_FORM="${7:-}" \
    wrk -t"$(( connections < 2 ? 1 : 2 ))" -c"$connections" -d"${SECONDS_PER_RUN}s" --timeout 30s --latency \
      -s benches/load.lua "$url" | tee "$OUT/$label-$name.wrk" | awk '/^RESULT/ {$1=""; print}')
  echo "$label $name$result" >> "$OUT/rows"
  printf '  %-10s %-28s %s\n' "$label" "$name" "$result"
}

# The scenarios both apps answer: label me-url token-url access-token token-form.
api_scenarios() {
  local label=$1 me=$2 token_url=$3 bearer="Authorization: Bearer $4" form=$5 flood
  measure me_jwt "$label" "$me" "" GET "$bearer"
  # The same read while 32 more clients sign in with the right password as fast as they can.
  LOAD_METHOD=POST LOAD_FORM="$form" wrk -t1 -c32 -d"$((SECONDS_PER_RUN + 2))s" --timeout 30s \
    -s benches/load.lua "$token_url" > "$OUT/$label-flood.wrk" &
  flood=$!
  sleep 1 # the flood is up before the measured read starts
  measure me_jwt_during_flood "$label" "$me" "" GET "$bearer"
  wait "$flood"
  # One client at a time: each answer is one argon2 (or bcrypt) run, so its mean is the hash's
  # cost here.
  measure token_one_client "$label" "$token_url" 1 POST "" "$form"
  measure token "$label" "$token_url" "" POST "" "$form"
}

# The access token a password grant (url form) answers with.
access_token() {
  curl -fsS "$1" -d "$2" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

peak_rss_mib() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# uvicorn with workers is a supervisor process and one process per worker (run.sh's shell
# above them): the sum of their peaks.
tree_peak_rss_mib() {
  local total=0 child
  total=$(peak_rss_mib "$1" 2>/dev/null || echo 0)
  for child in $(pgrep -P "$1"); do total=$((total + $(tree_peak_rss_mib "$child"))); done
  echo "$total"
}

# --- Gatehouse -------------------------------------------------------------------------------
if [ "$BACKEND" = postgres ]; then
  PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
  DB="gatehouse_load_$$"
  psql "$PG" -qc "CREATE DATABASE $DB" >/dev/null
  DATABASE_URL="${PG%/*}/$DB"
  export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  drop_db() { psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true; }
else
  DATABASE_URL="sqlite://$SCRATCH/gatehouse.db?mode=rwc"
  drop_db() { :; }
fi

GATEHOUSE="http://127.0.0.1:$GATEHOUSE_PORT"
# Development mode (no SMTP relay needed; mail goes to the scratch directory), with the rate
# limits lifted: this measures the request path, not the limits in front of it.
APP_ENV=development DATABASE_URL="$DATABASE_URL" LEPTOS_SITE_ADDR="127.0.0.1:$GATEHOUSE_PORT" \
  PUBLIC_URL="$GATEHOUSE" MAIL_DIR="$SCRATCH/mail" RUST_LOG=error \
  RATE_LIMIT_LOGIN=1000000/minute RATE_LIMIT_REGISTER=1000000/minute \
  RATE_LIMIT_GLOBAL=1000000/minute RATE_LIMIT_MAIL=1000000/minute \
  target/release/gatehouse > "$OUT/gatehouse.log" 2>&1 &
GATEHOUSE_PID=$!
PIDS+=("$GATEHOUSE_PID")
wait_for "$GATEHOUSE/healthz" "$GATEHOUSE_PID" "$OUT/gatehouse.log"

# Sign-in scenarios take the accounts in turn: the per-account throttle counts an attempt as a
# failure until its password is verified, so many parallel sign-ins to one account are
# (rightly) throttled, and that is not what the scenario measures.
export LOAD_ACCOUNTS=32
for n in $(seq 0 $((LOAD_ACCOUNTS - 1))); do
  curl -fsS -o /dev/null -H 'content-type: application/json' "$GATEHOUSE/api/v1/users" \
    -d "{\"email\":\"load$n@example.com\",\"username\":\"load$n\",\"password\":\"$PASSWORD\"}"
done
PASSWORD_FIELD="password=$(printf %s "$PASSWORD" | sed 's/ /+/g')"
FORM="username=load0&$PASSWORD_FIELD"
TOKEN_FORM="grant_type=password&username=load{n}&$PASSWORD_FIELD"
TOKEN=$(access_token "$GATEHOUSE/api/v1/token" "grant_type=password&$FORM")
# The browser's sign-in (a form post to the server function): keep its session cookie.
curl -fsS -o /dev/null -c "$SCRATCH/cookies" "$GATEHOUSE/rpc/login" -d "$FORM"
# (curl writes an HttpOnly cookie's line with a `#HttpOnly_` prefix.)
COOKIE=$(awk '(/^#HttpOnly_/ || !/^#/) && NF == 7 {print $6 "=" $7}' "$SCRATCH/cookies" | head -1)
[ -n "$COOKIE" ] || { echo "sign-in set no cookie" >&2; exit 1; }
CSS=$(curl -fsS "$GATEHOUSE/login" | grep -o '/pkg/[^"]*\.css' | head -1)

echo "Gatehouse ($BACKEND), $CONNECTIONS connections, ${SECONDS_PER_RUN} s per scenario:"
api_scenarios gatehouse "$GATEHOUSE/api/v1/users/me" "$GATEHOUSE/api/v1/token" "$TOKEN" "$TOKEN_FORM"
measure login_page gatehouse "$GATEHOUSE/login"
measure home_signed_out gatehouse "$GATEHOUSE/"
measure home_signed_in gatehouse "$GATEHOUSE/" "" GET "Cookie: $COOKIE"
measure account gatehouse "$GATEHOUSE/account" "" GET "Cookie: $COOKIE"
measure css_asset gatehouse "$GATEHOUSE$CSS" "" GET "Accept-Encoding: br"
measure not_found gatehouse "$GATEHOUSE/no/such/path"
measure healthz gatehouse "$GATEHOUSE/healthz"
GATEHOUSE_RSS=$(peak_rss_mib "$GATEHOUSE_PID")
# Time to interactive of /login in Chromium (the end-to-end tests' Playwright and browser).
if [ -d end2end/node_modules/@playwright/test ] && [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo
  (cd end2end && node bench/time-to-interactive.mjs "$GATEHOUSE/login" "${LOAD_TTI_RUNS:-10}") \
    | tee "$OUT/time-to-interactive.md"
  echo
else
  echo "(time to interactive skipped: run scripts/setup.sh --test for Playwright and Chromium)"
fi
kill "$GATEHOUSE_PID"; wait "$GATEHOUSE_PID" 2>/dev/null || true
drop_db

# --- the seed's FastAPI app ------------------------------------------------------------------
PEER_RSS=""
if [ "${LOAD_PEER:-1}" = 1 ]; then
  [ -d "$PEER" ] || { echo "no FastAPI app at $PEER (set PEER, or LOAD_PEER=0)" >&2; exit 1; }
  cp -r "$PEER" "$SCRATCH/peer" && rm -rf "$SCRATCH/peer/.venv" "$SCRATCH/peer/results" "$SCRATCH/peer/.env"
  SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
  export SECRET_KEY
  FASTAPI="http://127.0.0.1:$PEER_PORT"
  (cd "$SCRATCH/peer" && ./setup_venv.sh >/dev/null &&
    DATABASE_URL="sqlite:///$SCRATCH/peer/bench.db" .venv/bin/python seed_users.py "$LOAD_ACCOUNTS" \
      --prefix load_ --password "BenchPass123" >/dev/null)
  (cd "$SCRATCH/peer" && DATABASE_URL="sqlite:///$SCRATCH/peer/bench.db" PORT=$PEER_PORT \
    WORKERS=$PEER_WORKERS ACCESS_LOG=0 exec ./run.sh) > "$OUT/fastapi.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  wait_for "$FASTAPI/docs" "$PEER_PID" "$OUT/fastapi.log"
  PEER_FORM="grant_type=password&username=load_{n}&password=BenchPass123"
  PEER_TOKEN=$(access_token "$FASTAPI/token" "${PEER_FORM/\{n\}/0}")

  echo "FastAPI (uvicorn, $PEER_WORKERS workers, SQLite):"
  api_scenarios fastapi "$FASTAPI/users/me" "$FASTAPI/token" "$PEER_TOKEN" "$PEER_FORM"
  measure not_found fastapi "$FASTAPI/no/such/path"
  PEER_RSS=$(tree_peak_rss_mib "$PEER_PID")
fi

python3 benches/load_table.py "$OUT/rows" "$(nproc)" "$GATEHOUSE_RSS" "$PEER_RSS" \
  | tee "$OUT/results.md"
