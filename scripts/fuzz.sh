#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time each (cargo-fuzz, libFuzzer, nightly).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 minutes per target
#   scripts/fuzz.sh 30 forms   # one target
#
# Installs cargo-fuzz when missing (crates.io, about 30 s); needs the nightly toolchain
# (`rustup toolchain install nightly`). The first build compiles the app with AddressSanitizer
# (about 9 minutes on 2 cores); later runs reuse it (target/fuzz). Inputs that crash are saved
# under fuzz/artifacts/<target>/: fix the bug, then copy the input to fuzz/regressions/<target>/,
# which every run replays first, so it stays fixed. Exit status: non-zero when a target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(edge_parsers credentials forms cross_site)

rustup toolchain list | grep -q '^nightly' || {
  echo "fuzz: the nightly toolchain is missing; run: rustup toolchain install nightly" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
# Out of the source tree, beside the app's own builds (never shared with them: its own dir).
export CARGO_TARGET_DIR="$PWD/target/fuzz"
cd fuzz
for target in "${TARGETS[@]}"; do
  echo "== fuzz: $target for ${SECONDS_EACH}s =="
  mkdir -p "corpus/$target" "regressions/$target"
  # The regression inputs are replayed first, as part of the starting corpus.
  cargo +nightly fuzz run "$target" "corpus/$target" "regressions/$target" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 2>&1 | tail -n 12
done
