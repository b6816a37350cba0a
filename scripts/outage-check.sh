#!/usr/bin/env bash
# Outages under load: two release instances on a PostgreSQL and a Redis of their own, under the
# soak workload, while the PostgreSQL is stopped (immediate) and restarted, then the Redis.
# Checks that requests fail fast (503 + Retry-After, never a hang past the timeouts), that the
# processes survive, that they recover with no restart, and reports how long recovery took.
#
# Throwaway servers only (TEST_SERVICES=own): the shared ones are never stopped. Needs the
# release binary (`cargo leptos build --release`) and what scripts/lib/test-services.sh needs
# to start servers (initdb, pg_ctl, psql, redis-server). Options go to scripts/outage-check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_SERVICES=own
# shellcheck source=scripts/lib/test-services.sh
source scripts/lib/test-services.sh
test_services_start
# The stop and start commands reuse the library's helpers on this run's directory.
export OUTAGE_SERVICES_DIR="$TS_DIR"
python3 scripts/outage-check.py "$@"
