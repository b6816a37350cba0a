#!/usr/bin/env bash
# Fuzzes the JSON API from its own OpenAPI document with schemathesis (PyPI) and fails on any
# 5xx. Usage: scripts/schemathesis.sh BASE_URL   (a running Gatehouse, e.g. the e2e server)
set -euo pipefail
BASE="${1:?usage: scripts/schemathesis.sh http://127.0.0.1:3100}"
if ! command -v schemathesis >/dev/null 2>&1; then
  command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || {
    echo "schemathesis: pip is missing; install Python 3 with pip, then run this again" >&2; exit 1; }
  "$(command -v pip || command -v pip3)" install --quiet "schemathesis==4.32.5"
fi
# An account and an access token, so the authenticated operations are exercised too.
user="st_$(date +%s)_$RANDOM"
curl -fsS -X POST "$BASE/api/v1/users" -H 'Content-Type: application/json' -H "X-Forwarded-For: 198.19.0.1" \
  -d "{\"email\":\"$user@example.com\",\"username\":\"$user\",\"password\":\"correct horse battery staple\"}" >/dev/null
token=$(curl -fsS -X POST "$BASE/api/v1/token" -H "X-Forwarded-For: 198.19.0.1" -d grant_type=password -d "username=$user" \
  --data-urlencode 'password=correct horse battery staple' | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
schemathesis run "$BASE/api/v1/openapi.json" \
  --checks not_a_server_error \
  --max-examples 30 \
  -H "Authorization: Bearer $token"
