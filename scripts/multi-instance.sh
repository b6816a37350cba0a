#!/usr/bin/env bash
# Two Gatehouse processes on one PostgreSQL database and one Redis, behind nginx with TLS
# configured by docs/nginx/gatehouse.conf, then end2end/multi/*.spec.ts against all three
# addresses. Called by scripts/test.sh after the release build; expects target/release/gatehouse
# and aiosmtpd (PyPI, installed by scripts/setup.sh --test) for their mail relay.
#
# PostgreSQL and Redis come from TEST_POSTGRES_URL / TEST_REDIS_URL, which scripts/test.sh
# exports, so both runs share its servers. Run alone, it finds or starts them the same way
# (scripts/lib/test-services.sh: the default ports when usable, else throwaway servers).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/test-services.sh
source scripts/lib/test-services.sh
test_services_start

WORK="$PWD/target/multi"
rm -rf "$WORK" && mkdir -p "$WORK/logs"
PG_ADMIN="$TEST_POSTGRES_URL"
PG_BASE="${PG_ADMIN%/*}"
DB="gh_multi_$(date +%s)_$$"
# Free loopback ports, picked at run time rather than fixed, so a run does not collide with
# another program (or another run) holding fixed ones: the kernel picks a free port for each bind
# to port 0, and the five sockets are held open together, so the five ports are distinct. They are
# released before use, so another program could take one in between: a short window, where fixed
# ports clash for as long as the other program runs.
PORTS="$(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')" || { echo "multi-instance: could not pick free ports" >&2; exit 1; }
read -r PORT_A PORT_B PORT_HTTP PORT_TLS PORT_SMTP <<<"$PORTS"
echo "multi-instance: ports A $PORT_A, B $PORT_B, nginx http $PORT_HTTP / https $PORT_TLS, smtp $PORT_SMTP"
PIDS=()

# Only our own processes and our own database: the servers may be shared, or someone else's.
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ "${#PIDS[@]}" -eq 0 ] || wait "${PIDS[@]}" 2>/dev/null || true
  ts_psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
# Not `trap … EXIT`: that would replace the lib's clean-up; at_exit runs both (ours first).
at_exit cleanup

wait_for() { # url what
  for _ in $(seq 1 150); do
    if curl -fsSk "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "multi-instance: $2 did not come up; logs in $WORK/logs" >&2
  tail -n 20 "$WORK"/logs/* >&2
  exit 1
}

ts_psql "$PG_ADMIN" -qc "CREATE DATABASE $DB"

# Production refuses to start without a mail relay: aiosmtpd on loopback, which accepts every
# message and discards it (the instances send a notice at each password change).
python3 -c 'import aiosmtpd' 2>/dev/null || {
  echo "multi-instance: aiosmtpd is missing; run scripts/setup.sh --test" >&2; exit 1; }
python3 -m aiosmtpd -n -l "127.0.0.1:$PORT_SMTP" -c aiosmtpd.handlers.Sink \
  > "$WORK/logs/smtp.log" 2>&1 &
PIDS+=($!)
smtp_up=false
for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT_SMTP") 2>/dev/null; then smtp_up=true; break; fi
  sleep 0.1
done
$smtp_up || { echo "multi-instance: the SMTP relay did not come up; logs in $WORK/logs" >&2
  tail -n 20 "$WORK/logs/smtp.log" >&2; exit 1; }

# Production settings, as a real deployment would run them: one SECRET_KEY for all instances
# (tokens issued by one are checked by the others), shared database and Redis, one relay, and
# nginx's https address as the base of the links in mail.
SECRET_KEY="$(openssl rand -base64 48)"
start_instance() { # name port
  # EMAIL_VERIFICATION: production's default is `required`; this test is about shared state, not mail.
  APP_ENV=production \
  SECRET_KEY="$SECRET_KEY" \
  DATABASE_URL="$PG_BASE/$DB" \
  REDIS_URL="$TEST_REDIS_URL" \
  REDIS_KEY_PREFIX="gh-multi-$$" \
  TRUSTED_PROXIES=127.0.0.1 \
  SMTP_URL="smtp://127.0.0.1:$PORT_SMTP" \
  EMAIL_VERIFICATION=optional \
  PUBLIC_URL="https://127.0.0.1:$PORT_TLS" \
  LEPTOS_SITE_ADDR="127.0.0.1:$2" \
  RUST_LOG="${RUST_LOG:-warn,gatehouse=info}" \
    target/release/gatehouse > "$WORK/logs/instance-$1.log" 2>&1 &
  PIDS+=($!)
}
# Both at once: they race to migrate the new database (sqlx serialises that with a lock).
start_instance a "$PORT_A"
start_instance b "$PORT_B"
wait_for "http://127.0.0.1:$PORT_A/readyz" "instance A"
wait_for "http://127.0.0.1:$PORT_B/readyz" "instance B"

# A throw-away certificate for 127.0.0.1, and the documented nginx config with local ports.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
sed -e "s#listen 80;#listen 127.0.0.1:$PORT_HTTP;#" \
    -e "s#listen 443 ssl http2;#listen 127.0.0.1:$PORT_TLS ssl http2;#" \
    -e "s#server 127.0.0.1:3001 #server 127.0.0.1:$PORT_A #" \
    -e "s#server 127.0.0.1:3002 #server 127.0.0.1:$PORT_B #" \
    -e "s#/etc/letsencrypt/live/auth.example.com/fullchain.pem#$WORK/cert.pem#" \
    -e "s#/etc/letsencrypt/live/auth.example.com/privkey.pem#$WORK/key.pem#" \
    docs/nginx/gatehouse.conf > "$WORK/gatehouse.conf"
for port in "$PORT_A" "$PORT_B" "$PORT_HTTP" "$PORT_TLS"; do
  grep -qw "127.0.0.1:$port" "$WORK/gatehouse.conf" || { echo "multi-instance: config substitution failed ($port)" >&2; exit 1; }
done
cat > "$WORK/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/nginx-error.log warn;
events { worker_connections 256; }
http {
    log_format upstream '\$status \$request_method \$uri -> \$upstream_addr';
    access_log $WORK/logs/nginx-access.log upstream;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    include $WORK/gatehouse.conf;
}
NGINX
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
"$NGINX_BIN" -t -q -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/logs/nginx-error.log"
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/logs/nginx-error.log" &
PIDS+=($!)
# (/readyz is not served publicly by the documented config; /healthz is.)
wait_for "https://127.0.0.1:$PORT_TLS/healthz" "nginx"

(cd end2end && A_URL="http://127.0.0.1:$PORT_A" B_URL="http://127.0.0.1:$PORT_B" \
  PROXY_URL="https://127.0.0.1:$PORT_TLS" PROXY_HTTP_URL="http://127.0.0.1:$PORT_HTTP" \
  npx playwright test --config playwright.multi.config.ts)

# nginx spread the requests over both instances.
for port in "$PORT_A" "$PORT_B"; do
  # -w: port 4123 must not count the lines of port 41234.
  served=$(grep -cw -- "-> 127.0.0.1:$port" "$WORK/logs/nginx-access.log" || true)
  echo "multi-instance: instance on port $port answered $served request(s) through nginx"
  [ "$served" -gt 0 ] || { echo "multi-instance: nginx sent nothing to port $port" >&2; exit 1; }
done
