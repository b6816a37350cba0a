#!/usr/bin/env python3
"""Soak: a mixed workload from N parallel clients for a fixed time, several runs back to back
on the same server(s), with the operators' metrics scraped during each run.

Each client loops over: sign up (a new account), sign in, a wrong password, page loads (home,
sign-in, account), `GET /api/v1/users/me` with an access token and with an API key, and sign
out. After each run it checks that every account whose sign-up was answered 200 signs in, that
no answer was a 5xx other than deliberate 503 back-pressure, and it reads the server's resident
memory; after the last run, that memory did not keep growing from run to run.

Usage (from the repository root, after `cargo leptos build --release`):

  scripts/soak.py                                  # SQLite, 3 runs of 60 s, 8 clients
  scripts/soak.py --seconds 20 --runs 2 --clients 4
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/soakdb REDIS_URL=redis://127.0.0.1:6379 \\
    scripts/soak.py --instances 2                  # two instances sharing PostgreSQL + Redis

Standard library only; loopback only; bounded by --seconds, --runs and --clients. Prints a
table for docs/benchmarks.md. Exit status 0 when every check passed, 1 otherwise.
"""

import argparse
import collections
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from gatehouse_proc import PASSWORD, Client, Server, require_binary, sign_in_works  # noqa: E402

# How a client picks its next step: sign-ups are rarer than the rest, as in real traffic.
STEPS = ["sign_up"] * 1 + ["sign_in"] * 3 + ["wrong_password"] * 2 + ["page"] * 6 + \
    ["me_token"] * 3 + ["me_key"] * 3 + ["sign_out"] * 1
# No answer may take longer than the server's request timeout (30 s) and a margin: a request
# stuck on a dead database must be answered 503, not hang.
SLOWEST_ALLOWED = 35.0
# Memory may settle a little higher after the first run (caches, pool connections); growth
# beyond this from the first run to the last counts as a leak.
RSS_GROWTH_ALLOWED = 1.15


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = collections.Counter()
        self.steps = collections.Counter()
        self.accounts = []
        self.server_errors = []
        self.slowest = 0.0

    def note(self, step, status, took):
        with self.lock:
            self.steps[step] += 1
            self.statuses[status] += 1
            self.slowest = max(self.slowest, took)
            if status >= 500 and status != 503:
                self.server_errors.append((step, status))


def client_loop(bases, index, run, deadline, tally, rng):
    """One client until the deadline, on the instances in turn (a load balancer's round
    robin: sessions and tokens are shared through the database)."""
    mine = []  # (name, token, key) of accounts this client made
    browser = None
    step_count = 0
    while time.monotonic() < deadline:
        base = bases[step_count % len(bases)]
        step_count += 1
        step = "sign_up" if not mine else rng.choice(STEPS)
        client = Client(base)
        if browser is not None:
            client.opener = browser
        started = time.monotonic()
        try:
            if step == "sign_up":
                name = f"soak{run}_{index}_{len(mine)}_{rng.randrange(1 << 20)}"
                status = client.post("register", {
                    "email": f"{name}@example.com", "username": name,
                    "password": PASSWORD, "password_confirm": PASSWORD})
                if status == 200:
                    token = client.token(name)
                    key = client.api_key(token, "soak") if token else None
                    mine.append((name, token, key))
                    with tally.lock:
                        tally.accounts.append(name)
                    browser = client.opener
            elif step == "sign_in":
                name = rng.choice(mine)[0]
                status = client.post("login", {"username": name, "password": PASSWORD})
                browser = client.opener
            elif step == "wrong_password":
                # A name with no account: real accounts would be slowed down by their throttle.
                status = Client(base).post("login", {"username": f"ghost{rng.randrange(1 << 30)}",
                                                     "password": "not the password"})
                status = 200 if status == 401 else status
            elif step == "page":
                status = client.get(rng.choice(["/", "/login", "/account", "/register"]))[0]
            elif step == "me_token":
                status = client.get("/api/v1/users/me", bearer=rng.choice(mine)[1])[0]
            elif step == "me_key":
                status = client.get("/api/v1/users/me", bearer=rng.choice(mine)[2])[0]
            else:
                status = client.post("logout", {})
                browser = None
        except OSError:
            status = 599  # no answer at all: counted as a server error
        tally.note(step, status, time.monotonic() - started)


def metric_sum(text, name, label_filter=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if label_filter in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    require_binary()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = tempfile.mkdtemp(prefix="gatehouse-soak-")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite://{workdir}/soak.db?mode=rwc"
    backend = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    extra = {"SECRET_KEY": "soak-test-secret-key-of-at-least-32-bytes!"}
    if os.environ.get("REDIS_URL"):
        extra["REDIS_URL"] = os.environ["REDIS_URL"]
        extra["REDIS_KEY_PREFIX"] = f"gatehouse-soak-{seed}"
        backend += " + Redis"
    servers = [Server(database_url, workdir, extra, metrics=True) for _ in range(args.instances)]
    bases = [server.base for server in servers]
    print(f"soak: {args.runs} × {args.seconds:.0f} s, {args.clients} clients, "
          f"{args.instances} instance(s) on {backend}, seed {seed}")
    # One page load each first, so the baseline includes what every process allocates once.
    for base in bases:
        Client(base).get("/")
    baseline = [server.rss_kib() for server in servers]

    problems = []
    rows = []
    rss_after = []
    for run in range(1, args.runs + 1):
        tally = Tally()
        deadline = time.monotonic() + args.seconds
        rng = random.Random(seed * 1000 + run)
        threads = [threading.Thread(target=client_loop,
                                    args=(bases, i, run, deadline, tally, random.Random(rng.random())))
                   for i in range(args.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds / 2)
        mid_run = servers[0].scrape()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        # Every acknowledged sign-up of this run signs in (spread over the instances).
        lost = [name for i, name in enumerate(tally.accounts)
                if not sign_in_works(bases[i % len(bases)], name, PASSWORD)]
        problems += [f"run {run}: {name} was acknowledged but cannot sign in" for name in lost]
        problems += [f"run {run}: {step} answered {status}" for step, status in
                     tally.server_errors[:10]]
        if tally.slowest > SLOWEST_ALLOWED:
            problems.append(f"run {run}: an answer took {tally.slowest:.1f} s")
        rss = [server.rss_kib() for server in servers]
        rss_after.append(rss)
        requests = sum(tally.steps.values())
        rows.append((run, requests, requests / elapsed, len(tally.accounts),
                     tally.statuses.get(503, 0), len(tally.server_errors), rss))
        in_flight = metric_sum(mid_run, "gatehouse_password_hash_waiting")
        print(f"  run {run}: {requests} requests ({requests / elapsed:.0f}/s), "
              f"{len(tally.accounts)} sign-ups, statuses {dict(sorted(tally.statuses.items()))}, "
              f"slowest answer {tally.slowest:.2f} s, "
              f"RSS {', '.join(f'{r // 1024} MiB' for r in rss)}; mid-run scrape: "
              f"{metric_sum(mid_run, 'gatehouse_http_requests_total'):.0f} requests counted, "
              f"{metric_sum(mid_run, 'gatehouse_active_sessions'):.0f} active sessions, "
              f"{in_flight:.0f} hashes waiting")

    final = servers[0].scrape()
    for server in servers:
        server.stop()
    for i in range(len(servers)):
        first, last = rss_after[0][i], rss_after[-1][i]
        if args.runs >= 2 and last > first * RSS_GROWTH_ALLOWED:
            problems.append(f"instance {i + 1}: RSS grew from {first // 1024} MiB after run 1 "
                            f"to {last // 1024} MiB after run {args.runs}")

    print()
    print("| run | requests | per second | sign-ups | 503 | other 5xx | RSS after (MiB) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| baseline | | | | | | {', '.join(str(r // 1024) for r in baseline)} |")
    for run, requests, rate, signups, busy, errors, rss in rows:
        print(f"| {run} | {requests} | {rate:.0f} | {signups} | {busy} | {errors} | "
              f"{', '.join(str(r // 1024) for r in rss)} |")
    print()
    outcomes = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'gatehouse_sign_ins_total\{outcome="([a-z_]+)"\} ([0-9.e+]+)', final)}
    server_errors = metric_sum(final, "gatehouse_http_requests_total", 'status="5xx"')
    refusals = metric_sum(final, "gatehouse_password_hash_rejected_total")
    print(f"instance 1's /metrics at the end: sign-ins by outcome {outcomes}; "
          f"5xx counted {server_errors:.0f}; hashing refusals {refusals:.0f}")

    if problems:
        print(f"soak: FAILED (kept {workdir}; rerun with --seed {seed})")
        for problem in problems[:30]:
            print("  - " + problem)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("soak: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
