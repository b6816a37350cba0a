#!/usr/bin/env bash
# The servers the tests talk to: PostgreSQL and Redis. Sourced by scripts/test.sh and
# scripts/multi-instance.sh; call `test_services_start` once, then run the tests.
# Run directly, it runs one command with them, e.g. by hand:
#   GATEHOUSE_TEST_BACKEND=postgres scripts/lib/test-services.sh cargo test --features ssr --test api
#
# For each service, in this order:
#   1. its variable is set (TEST_POSTGRES_URL, TEST_REDIS_URL): use that server, start nothing;
#   2. else, unless TEST_SERVICES=own, a usable server on the default port: use it
#      (PostgreSQL at 127.0.0.1:5432 letting role `postgres` in without a password and create
#      databases; Redis at 127.0.0.1:6379 answering PING without a password);
#   3. else start a throwaway server of our own: loopback only, on a free port, data in a
#      temporary directory, a random password, no persistence. It is stopped and its directory
#      removed when the calling script exits: normally, on failure, on Ctrl-C. (A SIGTERM sent
#      to the script alone, not its process group, is handled once the running step ends:
#      bash runs traps between commands.) Only SIGKILL leaves them behind.
# The chosen URLs are exported as TEST_POSTGRES_URL / TEST_REDIS_URL, which the Rust tests
# (tests/api/helpers.rs, tests/api/redis_limits.rs, src/server/limits/redis.rs) and
# scripts/multi-instance.sh read. A server this file did not start is only ever probed
# (a connection, a PING): never stopped, never flushed. The tests keep to their own databases
# (gh_test_<random>, dropped afterwards) and Redis key prefixes (gatehouse-test-<random>).
#
# What is missing is installed from Debian when running as root (postgresql-client for psql,
# postgresql for initdb/pg_ctl, redis-server); otherwise the script stops and prints the one
# command that installs it all. Only the programs are used; where the machine lets packages
# start services, Debian's packages also set up their own server (we leave it alone: its
# PostgreSQL wants a password over TCP, so it never counts as usable; its Redis on 6379 does).
#
# Exit handling: a sourcing script must not set its own `trap … EXIT` (it would replace ours);
# it registers its clean-up with `at_exit 'command'` instead. Hooks run last-in, first-out.
#
# Adding a service (the SMTP server the mail tests will need) is one small function shaped
# like `ts_redis` below, called from `test_services_start`: honour TEST_<NAME>_URL; probe the
# default port if there is one; else `ts_need` its package, `ts_make_dir`, pick a port with
# `ts_free_port`, start it with `ts_as_service_user` (state in "$TS_DIR"), register its stop
# with `at_exit`, and export the URL.

TS_SERVICE_USER=gatehouse-test # the unprivileged user our servers run as when we are root
TS_DIR=""                      # the temporary directory of our servers (made on first use)
TS_MISSING=()                  # Debian packages that are needed but could not be installed
TS_APT_UPDATED=false
TS_EXIT_HOOKS=()
TS_TRAPPED=false

ts_say() { printf '\033[1mtest-services:\033[0m %s\n' "$*" >&2; }
ts_die() { printf 'test-services: %s\n' "$*" >&2; exit 1; }
ts_is_root() { [ "$(id -u)" = 0 ]; }

# --- exit hooks -----------------------------------------------------------------------------

# Runs a command when the script exits, however it exits. Bash runs the EXIT trap on `exit`
# and on errors under `set -e`; INT/TERM/HUP are turned into an `exit` so it runs for those too
# (by then the foreground command, e.g. cargo, has had the same Ctrl-C and stopped).
at_exit() {
  TS_EXIT_HOOKS+=("$1")
  if ! $TS_TRAPPED; then
    TS_TRAPPED=true
    trap ts_run_exit_hooks EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
  fi
}

ts_run_exit_hooks() {
  local status=$? i
  set +e # every hook runs, even after one fails
  trap '' INT TERM HUP # a second Ctrl-C must not cut the clean-up short
  for ((i = ${#TS_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    eval "${TS_EXIT_HOOKS[i]}"
  done
  TS_EXIT_HOOKS=()
  return "$status"
}

# --- shared helpers for the services --------------------------------------------------------

# Sets TS_DIR: the temporary directory for our servers' data and logs, made on first use
# (call it directly, not in $(…): it must set TS_DIR and register the removal in this shell).
# When root it is owned by the service user, because PostgreSQL refuses to run as root and
# needs its data directory to be its own.
ts_make_dir() {
  [ -z "$TS_DIR" ] || return 0
  TS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test-services.XXXXXX")"
  at_exit ts_remove_dir
  if ts_is_root; then
    ts_ensure_service_user
    chown "$TS_SERVICE_USER:" "$TS_DIR"
  fi
}

ts_remove_dir() {
  [ -n "$TS_DIR" ] && rm -rf "$TS_DIR"
  TS_DIR=""
}

# A system user with no login and no home, made once per machine: our servers run as it when
# the tests run as root.
ts_ensure_service_user() {
  id -u "$TS_SERVICE_USER" >/dev/null 2>&1 && return 0
  ts_say "creating the system user $TS_SERVICE_USER (no login) to run the test servers"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$TS_SERVICE_USER"
}

# Runs a command as the service user when we are root, else as ourselves. setpriv execs the
# command in place (no extra parent process, unlike su/runuser), from our temporary directory
# so that no server starts in a directory it cannot read.
ts_as_service_user() {
  if ts_is_root; then
    (cd "$TS_DIR" && HOME="$TS_DIR" setpriv --reuid="$TS_SERVICE_USER" \
      --regid="$TS_SERVICE_USER" --init-groups -- "$@")
  else
    (cd "$TS_DIR" && "$@")
  fi
}

# A file only the server's user can read (passwords, configuration).
ts_private_file() { # path content
  (umask 077 && printf '%s\n' "$2" >"$1")
  if ts_is_root; then chown "$TS_SERVICE_USER:" "$1"; fi
}

ts_random_password() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# A TCP port nothing on 127.0.0.1 answers on, picked at random below the kernel's ephemeral
# range (where the tests' own port-0 listeners and outgoing connections live). The server
# itself is the real test: the start functions retry with another port when the bind fails,
# so a port taken between this check and the start costs one retry, not a failure.
ts_free_port() {
  local low high port _
  read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  high=$((low - 1)); low=15000
  [ "$high" -gt "$low" ] || high=$((low + 10000))
  for _ in $(seq 1 200); do
    port=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
    if ! (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  ts_die "found no free TCP port between $low and $high on 127.0.0.1"
}

# Makes sure a Debian package's program is there: `ts_need PACKAGE TEST_COMMAND…`. As root
# with apt-get it installs the package; otherwise it notes the package for the final message
# and fails, so the caller skips the service and every missing package is reported at once.
ts_need() {
  local package=$1
  shift
  "$@" >/dev/null 2>&1 && return 0
  if ts_is_root && command -v apt-get >/dev/null 2>&1; then
    if ! $TS_APT_UPDATED; then
      apt-get update -qq
      TS_APT_UPDATED=true
    fi
    ts_say "installing $package from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
    "$@" >/dev/null 2>&1 && return 0
    ts_die "installed $package, but '$*' still fails"
  fi
  TS_MISSING+=("$package")
  return 1
}

# --- PostgreSQL -----------------------------------------------------------------------------

# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH; the newest
# version there wins. Elsewhere they are usually on PATH.
ts_pg_bindir() {
  local dir
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || return 1
  printf '%s\n' "$dir"
}

# psql with the URL's password moved into PGPASSWORD: command lines are visible to every local
# user (ps), a process's environment is not.
ts_psql() { # url psql-argument…
  local url=$1 password
  shift
  if [[ $url =~ ^([a-z]+://[^:/@]*):([^@/]*)@(.*)$ ]]; then
    password="${BASH_REMATCH[2]//%/\\x}" # percent-encoded, as URLs carry it
    PGPASSWORD="$(printf '%b' "$password")" psql "${BASH_REMATCH[1]}@${BASH_REMATCH[3]}" "$@"
  else
    psql "$url" "$@"
  fi
}

# Can this URL's role connect and create databases, on PostgreSQL 13+ (DROP DATABASE … WITH
# (FORCE), which the tests use)?
ts_pg_fits() { # url
  [ "$(PGCONNECT_TIMEOUT=5 ts_psql "$1" -X -w -Atq -c "SELECT (r.rolcreatedb OR r.rolsuper)
         AND current_setting('server_version_num')::int >= 130000
       FROM pg_roles r WHERE r.rolname = current_user" 2>/dev/null)" = t ]
}

ts_postgres() {
  local default=postgres://postgres@127.0.0.1:5432/postgres
  # psql is needed in every case: to probe, and by scripts/multi-instance.sh to create its
  # database. Without root, suggest the server package too when we may have to start one.
  if ! command -v psql >/dev/null 2>&1; then
    if ! ts_is_root || ! command -v apt-get >/dev/null 2>&1; then
      if [ -n "${TEST_POSTGRES_URL:-}" ]; then TS_MISSING+=(postgresql-client); else TS_MISSING+=(postgresql); fi
      return 0
    fi
    ts_need postgresql-client command -v psql
  fi
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    ts_pg_fits "$TEST_POSTGRES_URL" \
      || ts_die "TEST_POSTGRES_URL ($(ts_redact "$TEST_POSTGRES_URL")) does not answer, or its role may not create databases, or the server is older than PostgreSQL 13"
    ts_say "PostgreSQL: TEST_POSTGRES_URL ($(ts_redact "$TEST_POSTGRES_URL"))"
    return 0
  fi
  # Without a password: the probe must not borrow one from ~/.pgpass or PGPASSWORD that the
  # tests (sqlx) would not use the same way.
  if [ "${TEST_SERVICES:-auto}" = auto ] && PGPASSWORD='' PGPASSFILE=/dev/null ts_pg_fits "$default"; then
    TEST_POSTGRES_URL=$default
    ts_say "PostgreSQL: the server on 127.0.0.1:5432 ($default)"
    export TEST_POSTGRES_URL
    return 0
  fi
  ts_need postgresql ts_pg_bindir || return 0
  ts_start_postgres
}

# A throwaway cluster: initdb in our temporary directory, TCP on 127.0.0.1 only (the tests
# connect by IP address) with a random password (with `trust`, any local user could become its
# superuser and run programs as its owner), no Unix socket (its default directory belongs to
# the system's PostgreSQL). Durability is switched off: the data is thrown away, and the tests
# create a database per test, which is much faster without fsync.
# The password is stored as md5, not SCRAM: the test binaries are debug builds, where sqlx's
# SCRAM key derivation (4096 unoptimised SHA-256 rounds per connection) made the PostgreSQL
# suite 2.5x slower (measured: 140 s against 56 s). If a future PostgreSQL refuses md5, the
# ALTER fails quietly and SCRAM stays: slower, still correct.
ts_start_postgres() {
  local bin dir data password port attempt
  bin="$(ts_pg_bindir)"
  ts_make_dir
  dir=$TS_DIR
  data="$dir/postgres"
  password="$(ts_random_password)"
  ts_private_file "$dir/postgres.password" "$password"
  ts_as_service_user "$bin/initdb" -D "$data" -U postgres --pwfile="$dir/postgres.password" \
    --auth=md5 -E UTF8 --locale=C --no-sync --no-instructions \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; ts_die "initdb failed"; }
  rm -f "$dir/postgres.password"
  cat >>"$data/postgresql.conf" <<'CONF'
# gatehouse throwaway test cluster (scripts/lib/test-services.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
# Every test app has a pool of up to 10; leave room for many test threads at once.
max_connections = 300
CONF
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port="$(ts_free_port)"
    rm -f "$dir/postgres.log"
    # pg_ctl -w waits until the server accepts connections; the postmaster detaches into its
    # own session, so a Ctrl-C in the terminal reaches the tests, not the server.
    if ts_as_service_user "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "-p $port" \
      -w -t 60 start >/dev/null 2>&1; then
      at_exit ts_stop_postgres
      TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
      export TEST_POSTGRES_URL
      ts_psql "$TEST_POSTGRES_URL" -X -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL || true
SET password_encryption = 'md5';
ALTER ROLE postgres PASSWORD '$password';
SQL
      ts_say "PostgreSQL: started our own on 127.0.0.1:$port (data in $data)"
      return 0
    fi
    grep -q 'Address already in use' "$dir/postgres.log" 2>/dev/null || break
    ts_say "port $port was taken, trying another (attempt $attempt)"
  done
  tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
  ts_die "could not start the throwaway PostgreSQL"
}

ts_stop_postgres() {
  local data="$TS_DIR/postgres" pid
  [ -f "$data/postmaster.pid" ] || return 0
  # Immediate: nothing in it is worth a shutdown checkpoint.
  ts_as_service_user "$(ts_pg_bindir)/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 && return 0
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null)" || return 0
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  return 0
}

# --- Redis ----------------------------------------------------------------------------------

# Sends commands over /dev/tcp (no redis-cli needed) and prints the replies' first lines.
ts_redis_ask() { # port command…
  local port=$1 reply i
  shift
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf '%s\r\n' "$@" >&3
    for ((i = 0; i < $#; i++)); do
      IFS= read -r -t 3 reply <&3 || exit 1
      printf '%s\n' "${reply%$'\r'}"
    done
  ) 2>/dev/null
}

ts_redis() {
  if [ -n "${TEST_REDIS_URL:-}" ]; then
    ts_say "Redis: TEST_REDIS_URL ($(ts_redact "$TEST_REDIS_URL"))"
    return 0
  fi
  # A Redis that wants a password answers "-NOAUTH …": not usable, so we start our own.
  if [ "${TEST_SERVICES:-auto}" = auto ] && [ "$(ts_redis_ask 6379 PING)" = "+PONG" ]; then
    TEST_REDIS_URL=redis://127.0.0.1:6379
    ts_say "Redis: the server on 127.0.0.1:6379"
    export TEST_REDIS_URL
    return 0
  fi
  ts_need redis-server command -v redis-server || return 0
  ts_start_redis
}

# A throwaway Redis: 127.0.0.1 only, a random password (else any local user could reconfigure
# it), nothing saved to disk. It daemonizes (its own session, so Ctrl-C and a caller's bare
# `wait` leave it alone) and writes a pid file we stop it by.
ts_start_redis() {
  local dir password port attempt i
  ts_make_dir
  dir=$TS_DIR
  password="$(ts_random_password)"
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port="$(ts_free_port)"
    rm -f "$dir/redis.log"
    ts_private_file "$dir/redis.conf" "# gatehouse throwaway test Redis (scripts/lib/test-services.sh)
bind 127.0.0.1
port $port
requirepass $password
save \"\"
appendonly no
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir"
    ts_as_service_user redis-server "$dir/redis.conf" >/dev/null 2>&1 || true
    # The daemon binds after it forks, so success shows only as an answer; failure in its log.
    for i in $(seq 1 100); do
      if [ "$(ts_redis_ask "$port" "AUTH $password" PING | tail -n 1)" = "+PONG" ]; then
        at_exit ts_stop_redis
        TEST_REDIS_URL="redis://:$password@127.0.0.1:$port"
        export TEST_REDIS_URL
        ts_say "Redis: started our own on 127.0.0.1:$port"
        return 0
      fi
      grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null && break
      sleep 0.1
    done
    ts_stop_redis
    grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null || break
    ts_say "port $port was taken, trying another (attempt $attempt)"
  done
  tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
  ts_die "could not start the throwaway Redis"
}

ts_stop_redis() {
  local pidfile="$TS_DIR/redis.pid" pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null)"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

# --- entry point ----------------------------------------------------------------------------

# A URL without its password, for messages.
ts_redact() { printf '%s\n' "$1" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'; }

test_services_start() {
  case "${TEST_SERVICES:-auto}" in
    auto | own) ;;
    *) ts_die "TEST_SERVICES=${TEST_SERVICES}: expected 'auto' (default) or 'own'" ;;
  esac
  ts_postgres
  ts_redis
  # ts_smtp   (the mail tests: one more function shaped like ts_redis)
  if [ "${#TS_MISSING[@]}" -gt 0 ]; then
    local install="Run:
    apt-get install -y ${TS_MISSING[*]}"
    ts_is_root || install="Run:
    sudo apt-get install -y ${TS_MISSING[*]}"
    command -v apt-get >/dev/null 2>&1 \
      || install="Install them with your package manager (PostgreSQL 13+: initdb, pg_ctl, psql; redis-server)."
    ts_die "the tests need PostgreSQL and Redis. Missing (Debian packages): ${TS_MISSING[*]}. $install
Then run this again. Or point the tests at servers you have:
    TEST_POSTGRES_URL=postgres://USER:PASSWORD@HOST:PORT/postgres  (a role that may create databases)
    TEST_REDIS_URL=redis://[:PASSWORD@]HOST:PORT[/DB]"
  fi
}

# Executed rather than sourced: run the given command with the servers, then clean up.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ "$#" -gt 0 ] || ts_die "usage: $0 COMMAND [ARG…]   (runs COMMAND with TEST_POSTGRES_URL and TEST_REDIS_URL set)"
  test_services_start
  "$@"
fi
