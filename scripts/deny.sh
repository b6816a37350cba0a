#!/usr/bin/env bash
# Supply-chain checks with cargo-deny, configured in deny.toml: licences, banned crates,
# duplicate versions, sources (crates.io only) and, when the RustSec advisory database can be
# fetched (it lives on github.com), vulnerabilities, unmaintained and yanked crates.
# Without that database the other checks still run, and the output says what was skipped.
# Part of scripts/test.sh; scripts/setup.sh --test installs cargo-deny.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Warnings fail too: a skip or licence in deny.toml that nothing matches any more is stale and
# should go, so the lists only ever describe the build as it is.
ADVISORY_DB=https://github.com/rustsec/advisory-db
if timeout 20 git ls-remote "$ADVISORY_DB" HEAD >/dev/null 2>&1; then
  cargo deny --locked check --deny warnings
else
  printf '\033[1mdeny: %s cannot be reached from this machine: advisories and yanked crates NOT checked\033[0m\n' "$ADVISORY_DB"
  cargo deny --locked check --deny warnings bans licenses sources
fi
