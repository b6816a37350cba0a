#!/usr/bin/env bash
# Mutation testing of the security code (cargo-mutants): each mutant is a small bug put into
# one function (a condition inverted, a body replaced by a default, an operator swapped); a
# mutant no test catches ("missed") is behaviour the suite does not defend. docs/mutants.md
# holds the last run's figures and explains every survivor.
#
#   scripts/mutants.sh                       # every group, one after the other
#   scripts/mutants.sh jwt csrf              # some groups (names below)
#   scripts/mutants.sh --list                # the mutants, without running them
#   scripts/mutants.sh --shard 0/4 limits    # a quarter of a group (same args on every shard)
#   scripts/mutants.sh --re 'floor.rs:48' sign_in  # only the mutants whose names match (a
#                                            # survivor again, once a test should catch it)
#   MUTANTS_TIMEOUT=300 scripts/mutants.sh … # seconds one mutant's tests may take
#
# Not part of the test command: a full run takes hours on 2 cores. Each group pairs files with
# the tests meant to defend them (a nextest filter), so a mutant costs one incremental build and
# the tests of its own module, not the whole suite; nextest stops at the first failure, so a
# caught mutant costs seconds. A mutant missed by its group's tests counts as missed even if
# some other test would catch it: the filter says which tests should.
#
# It runs on the committed tree (HEAD), in a throwaway worktree, mutating in place there
# (`--in-place`, which means one job: two cores do not build two mutants at once usefully), with
# the test command's flags and a target directory of its own, target/mutants. Not target/
# itself: Cargo names a path package's artifacts the same from any checkout, so a build here and
# one in the worktree would overwrite each other's test binaries, and a mutant could be tested
# with unmutated code (or your tests run against a mutant). Its builds carry no debug info
# (CARGO_PROFILE_DEV_DEBUG=0): each mutant is one incremental build and its test binaries
# linked again, and debug info is much of that work (docs/mutants.md has the figures). The first run compiles the
# dependencies into target/mutants once (~15 min on 2 cores); later runs reuse them.
# Results: target/mutants-out/<group>/mutants.out/ (missed.txt, caught.txt, …).
# Each whole group's figures and survivors are written into docs/mutants.md (between markers;
# the explanations around them are kept). Needs Redis and PostgreSQL as the test command does (the limits' contract tests use Redis).
# Exit status: non-zero when a mutant was missed or timed out.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_MUTANTS_VERSION=27.0.0

# group: files (cargo-mutants globs, from the crate root) | nextest filterset of its tests
declare -A FILES FILTER
FILES[password]="src/server/auth/password.rs src/model/password.rs"
FILTER[password]="test(/password/) | test(/enumeration|identical|verification|hash/)"
FILES[jwt]="src/server/auth/jwt.rs src/server/auth/tokens.rs"
FILTER[jwt]="test(/jwt|token/)"
FILES[api_keys]="src/server/auth/api_keys.rs src/server/auth/api_key_secret.rs src/server/http/api/principal.rs"
FILTER[api_keys]="test(/api_key|key|scope|principal/)"
FILES[sessions]="src/server/auth/session.rs src/server/auth/sessions.rs"
FILTER[sessions]="test(/session|logout|cookie|sign_out|idle|absolute/)"
FILES[sign_in]="src/server/auth/sign_in.rs src/server/auth/failure_floor.rs"
FILTER[sign_in]="test(/sign_in|login|floor|throttle|enumeration|identical/)"
FILES[limits]="src/server/limits/client_ip.rs src/server/limits/throttle.rs src/server/limits/local.rs src/server/limits/redis.rs src/server/limits/mod.rs"
FILTER[limits]="test(/limits::|abuse::|redis_limits::|rate|throttle|forwarded|proxy|client/)"
FILES[csrf]="src/server/http/csrf.rs"
FILTER[csrf]="test(/csrf|cross_site|origin|fetch_metadata/)"
FILES[headers]="src/server/http/headers.rs src/server/http/csp.rs src/server/http/methods.rs src/server/http/rate_limit.rs"
FILTER[headers]="test(/header|csp|nonce|method|trace|connect|global|edge::|hardening::/)"
FILES[error_page]="src/server/http/error_page.rs"
FILTER[error_page]="test(/error|panic|request_id|not_found|404|500|leak/)"
FILES[audit]="src/server/audit.rs"
FILTER[audit]="test(/audit|chain|tamper|thousand_rows/)"
FILES[redirect]="src/model/forms.rs"
FILTER[redirect]="test(/model::forms|redirect|next|register::|login::/)"
GROUPS_ALL=(password jwt api_keys sessions sign_in limits csrf headers error_page audit redirect)

LIST=false SHARD=() RE=() SELECTED=()
while [ $# -gt 0 ]; do
  case "$1" in
    --list) LIST=true ;;
    --shard) SHARD=(--shard "$2"); shift ;;
    --re) RE=(--re "$2"); shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) [ -n "${FILES[$1]+x}" ] || { echo "mutants: no group '$1' (${GROUPS_ALL[*]})" >&2; exit 2; }
       SELECTED+=("$1") ;;
  esac
  shift
done
[ "${#SELECTED[@]}" -gt 0 ] || SELECTED=("${GROUPS_ALL[@]}")

if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $CARGO_MUTANTS_VERSION" ]; then
  echo "mutants: installing cargo-mutants $CARGO_MUTANTS_VERSION (crates.io, ~3 min)"
  cargo install "cargo-mutants@$CARGO_MUTANTS_VERSION" --locked
fi
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  echo "mutants: note: uncommitted changes are not tested; this runs on HEAD ($(git rev-parse --short HEAD))"

ROOT="$PWD"
export CARGO_TARGET_DIR="$ROOT/target/mutants"
export CARGO_PROFILE_DEV_DEBUG=0
# The test command's cfg (scripts/test.sh): the code under test is the code the suite builds.
export RUSTFLAGS="--cfg erase_components"
OUT="$ROOT/target/mutants-out"
mkdir -p "$OUT"
TREE=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-mutants.XXXX")
COMMIT=$(git rev-parse --short HEAD)
git worktree add --detach --quiet "$TREE" "$COMMIT"
cleanup() { git -C "$ROOT" worktree remove --force "$TREE" 2>/dev/null || rm -rf "$TREE"; }
trap cleanup EXIT

status=0
for group in "${SELECTED[@]}"; do
  args=()
  for file in ${FILES[$group]}; do args+=(--file "$file"); done
  printf '\n\033[1m== mutants: %s (%s) ==\033[0m\n' "$group" "${FILES[$group]}"
  if $LIST; then
    (cd "$TREE" && cargo mutants --list --features ssr "${args[@]}" "${SHARD[@]}" "${RE[@]}")
    continue
  fi
  out="$OUT/$group${SHARD:+-${SHARD[1]//\//of}}${RE:+-re}"
  mkdir -p "$out"
  (cd "$TREE" && cargo mutants --in-place --features ssr \
    --test-tool nextest \
    --timeout "${MUTANTS_TIMEOUT:-240}" --build-timeout 900 \
    --output "$out" "${args[@]}" "${SHARD[@]}" "${RE[@]}" \
    -- -E "${FILTER[$group]}" --no-tests warn) || status=1
  # A whole group's run is recorded in docs/mutants.md; a shard or a --re run is a part, so
  # it is not (say what it showed in the hand-written part).
  if [ "${#SHARD[@]}" -eq 0 ] && [ "${#RE[@]}" -eq 0 ] && [ -f "$out/mutants.out/outcomes.json" ]; then
    python3 scripts/lib/mutants_report.py docs/mutants.md "$group" \
      "$out/mutants.out/outcomes.json" "$COMMIT" "${FILTER[$group]}"
  fi
done
exit "$status"
