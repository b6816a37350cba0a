#!/usr/bin/env python3
"""Outages under load (run through scripts/outage-check.sh, which starts the throwaway
PostgreSQL and Redis this stops and starts).

Two instances share the database and Redis; the soak workload (`soak.py`) runs against them.
Ten seconds in, PostgreSQL is stopped (`pg_ctl -m immediate`: as a crash) and started again
ten seconds later; then the same for Redis. Throughout, a probe signs in once a second and
times the answer. Afterwards:

  - no answer took longer than the server's timeouts, and no request got no answer at all;
  - during the database outage the probe's sign-ins were answered 503 with Retry-After;
  - every 5xx was a 503 (back-pressure), never a 500;
  - both processes are still running, and `/readyz` came back to 200 without a restart
    (the time from the restart of each service to that is reported);
  - every sign-up answered 200 signs in at the end.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gatehouse_proc import PASSWORD, Client, Server, require_binary, sign_in_works  # noqa: E402
from soak import SLOWEST_ALLOWED, Tally, client_loop  # noqa: E402

LIBRARY = "scripts/lib/test-services.sh"


def services(command):
    """Runs a test-services.sh helper on this run's servers (their directory comes from the
    calling shell as OUTAGE_SERVICES_DIR: sourcing the library resets its own TS_DIR)."""
    subprocess.run(["bash", "-c", f'source {LIBRARY}; TS_DIR="$OUTAGE_SERVICES_DIR"; {command}'],
                   check=True, stdout=subprocess.DEVNULL)


def stop_postgres():
    services("ts_stop_postgres")


def start_postgres(port):
    services(f'ts_as_service_user "$(ts_pg_bindir)/pg_ctl" -D "$TS_DIR/postgres" '
             f'-l "$TS_DIR/postgres.log" -o "-p {port}" -w -t 60 start')


def stop_redis():
    services("ts_stop_redis")


def start_redis():
    services('ts_as_service_user redis-server "$TS_DIR/redis.conf"')


def ready(base):
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(bases, since, limit=120):
    """Seconds from `since` until every instance answers /readyz 200, or None."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(ready(base) for base in bases):
            return time.monotonic() - since
        time.sleep(0.1)
    return None


def probe(base, name, stop, answers):
    """Signs in once a second; records (time, status, seconds taken, Retry-After)."""
    while not stop.is_set():
        data = urllib.parse.urlencode({"username": name, "password": PASSWORD}).encode()
        request = urllib.request.Request(base + "/rpc/login", data=data)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, retry = response.status, response.headers.get("Retry-After")
        except urllib.error.HTTPError as error:
            status, retry = error.code, error.headers.get("Retry-After")
        except OSError:
            status, retry = 599, None
        answers.append((started, status, time.monotonic() - started, retry))
        stop.wait(1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--down-for", type=float, default=10.0)
    args = parser.parse_args()
    require_binary()
    admin = os.environ["TEST_POSTGRES_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]
    pg_port = urllib.parse.urlparse(admin).port
    database = f"gh_outage_{os.getpid()}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {database}"], check=True)
    database_url = admin.rsplit("/", 1)[0] + "/" + database
    workdir = tempfile.mkdtemp(prefix="gatehouse-outage-")
    extra = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": f"gh-outage-{os.getpid()}",
             "SECRET_KEY": "outage-check-secret-key-of-at-least-32-bytes",
             # Fail fast while the database is away (the default is 5 s).
             "DATABASE_ACQUIRE_TIMEOUT_SECS": "2"}
    servers = [Server(database_url, workdir, extra) for _ in range(2)]
    bases = [server.base for server in servers]
    Client(bases[0]).post("register", {"email": "probe@example.com", "username": "probe",
                                       "password": PASSWORD, "password_confirm": PASSWORD})

    tally, stop, answers = Tally(), threading.Event(), []
    total = 10 + 2 * args.down_for + 12 + args.down_for + 10
    deadline = time.monotonic() + total
    rng = random.Random(7)
    threads = [threading.Thread(target=client_loop,
                                args=(bases, i, 1, deadline, tally, random.Random(rng.random())))
               for i in range(args.clients)]
    threads.append(threading.Thread(target=probe, args=(bases[1], "probe", stop, answers)))
    for thread in threads:
        thread.start()

    time.sleep(10)
    pg_down = time.monotonic()
    stop_postgres()
    print(f"outage-check: PostgreSQL stopped (immediate) for {args.down_for:.0f} s")
    time.sleep(args.down_for)
    start_postgres(pg_port)
    pg_up = time.monotonic()
    pg_recovery = wait_ready(bases, pg_up)
    print(f"  ready again {pg_recovery:.2f} s after PostgreSQL came back"
          if pg_recovery is not None else "  NOT ready again within 120 s")
    time.sleep(10)
    redis_down = time.monotonic()
    stop_redis()
    print(f"outage-check: Redis stopped for {args.down_for:.0f} s")
    time.sleep(args.down_for)
    start_redis()
    redis_up = time.monotonic()
    redis_recovery = wait_ready(bases, redis_up)
    print(f"  ready again {redis_recovery:.2f} s after Redis came back"
          if redis_recovery is not None else "  NOT ready again within 120 s")
    for thread in threads[:-1]:
        thread.join()
    stop.set()
    threads[-1].join()

    problems = []
    for i, server in enumerate(servers):
        if server.process.poll() is not None:
            problems.append(f"instance {i + 1} exited during the outages")
    if pg_recovery is None or redis_recovery is None:
        problems.append("an instance did not become ready again without a restart")
    problems += [f"{step} answered {status}" for step, status in tally.server_errors[:10]]
    if tally.slowest > SLOWEST_ALLOWED:
        problems.append(f"an answer took {tally.slowest:.1f} s")
    during_pg = [a for a in answers if pg_down + 1 <= a[0] <= pg_up - 1]
    refused = [a for a in during_pg if a[1] == 503 and a[3]]
    if not during_pg or len(refused) != len(during_pg):
        problems.append(f"during the database outage the probe got "
                        f"{[(a[1], a[3]) for a in during_pg]} (expected 503 with Retry-After)")
    during_redis = [a for a in answers if redis_down + 1 <= a[0] <= redis_up - 1]
    if any(a[1] != 200 for a in during_redis):
        problems.append(f"during the Redis outage the probe got {[a[1] for a in during_redis]} "
                        "(expected sign-ins to go on, limits per instance)")
    slowest_refusal = max((a[2] for a in during_pg), default=0.0)
    lost = [name for i, name in enumerate(tally.accounts)
            if not sign_in_works(bases[i % 2], name, PASSWORD)]
    problems += [f"{name} was acknowledged but cannot sign in" for name in lost]
    for server in servers:
        if server.process.poll() is None:
            server.stop()
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                   check=False)

    print()
    print("| event | figure |")
    print("|---|---|")
    print(f"| requests during the run | {sum(tally.steps.values())} "
          f"({dict(sorted(tally.statuses.items()))}) |")
    print(f"| probe sign-ins during the database outage | {len(during_pg)}, "
          f"{len(refused)} answered 503 + Retry-After, slowest {slowest_refusal:.2f} s |")
    print(f"| probe sign-ins during the Redis outage | {len(during_redis)}, "
          f"{sum(1 for a in during_redis if a[1] == 200)} answered 200 |")
    print(f"| slowest answer of the workload | {tally.slowest:.2f} s |")
    print(f"| ready again after PostgreSQL came back | {pg_recovery if pg_recovery is None else round(pg_recovery, 2)} s |")
    print(f"| ready again after Redis came back | {redis_recovery if redis_recovery is None else round(redis_recovery, 2)} s |")
    print(f"| sign-ups acknowledged, all signing in afterwards | {len(tally.accounts) - len(lost)} of {len(tally.accounts)} |")
    if problems:
        print("outage-check: FAILED")
        for problem in problems[:30]:
            print("  - " + problem)
        return 1
    print("outage-check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
