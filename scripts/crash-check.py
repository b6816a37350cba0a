#!/usr/bin/env python3
"""Crash consistency: kill -9 the server in the middle of sign-ups and password changes,
restart it, and check that nothing acknowledged was lost and nothing was half-written.

Each round starts the release binary on the same database, runs a burst of clients (each signs
up, then changes its password once), kills the server with SIGKILL at a random moment of the
burst, and restarts it. After the last round it checks, against the restarted server and the
database itself:

  - every sign-up that was answered 200 exists and signs in, with the new password when the
    change was answered 200, and with either password when the change was in flight;
  - every stored account has a real argon2id hash and a well-formed public id; no session
    belongs to a missing account;
  - `gatehouse audit verify` passes (every activity-log hash chain is intact);
  - SQLite: `PRAGMA integrity_check` is `ok`, and no foreign key is broken.

Usage (from the repository root, after `cargo leptos build --release`):

  scripts/crash-check.py                        # SQLite, 5 rounds
  scripts/crash-check.py --rounds 10 --clients 8
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/crashdb scripts/crash-check.py
        # PostgreSQL: an empty database that exists (its tables are made on first start)

Standard library only. Exit status 0 when every check passed, 1 otherwise. Loopback only;
bounded by --rounds and --clients.
"""

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from gatehouse_proc import BINARY, PASSWORD, Client, Server, require_binary, sign_in_works  # noqa: E402

NEW_PASSWORD = "a completely new passphrase"


def burst(base, prefix, clients, stop, results, lock):
    """Each client signs up, then changes its password; records what was acknowledged."""

    def run(index):
        n = 0
        while not stop.is_set():
            name = f"{prefix}_{index}_{n}"
            n += 1
            browser = Client(base)
            fields = {"email": f"{name}@example.com", "username": name,
                      "password": PASSWORD, "password_confirm": PASSWORD}
            try:
                status = browser.post("register", fields)
            except OSError:
                return  # the server is gone: whatever was in flight is unknown
            if status != 200:
                with lock:
                    results["refused"].append((name, status))
                continue
            # Acknowledged; its password change is about to be in flight.
            with lock:
                results["accounts"][name] = "change in flight"
            try:
                status = browser.post("change_password", {
                    "current_password": PASSWORD, "new_password": NEW_PASSWORD,
                    "new_password_confirm": NEW_PASSWORD})
            except OSError:
                return
            with lock:
                results["accounts"][name] = "changed" if status == 200 else "signed up"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    require_binary()

    workdir = tempfile.mkdtemp(prefix="gatehouse-crash-")
    database_url = os.environ.get("DATABASE_URL") or \
        f"sqlite://{workdir}/crash.db?mode=rwc"
    sqlite_path = database_url[len("sqlite://"):].split("?")[0] \
        if database_url.startswith("sqlite://") else None
    print(f"crash-check: {args.rounds} rounds, {args.clients} clients, seed {seed}, "
          f"database {'SQLite' if sqlite_path else 'PostgreSQL'}, work dir {workdir}")

    results = {"accounts": {}, "refused": []}
    lock = threading.Lock()
    for round_number in range(1, args.rounds + 1):
        server = Server(database_url, workdir)
        stop = threading.Event()
        threads = burst(server.base, f"r{round_number}", args.clients, stop, results, lock)
        # Long enough for a few sign-ups (argon2 ≈ 15-60 ms each on two cores), short enough
        # that the kill lands in the middle of the burst.
        time.sleep(rng.uniform(0.5, 2.5))
        server.kill()
        stop.set()
        for thread in threads:
            thread.join()
        with lock:
            acked = len(results["accounts"])
        print(f"  round {round_number}: killed (SIGKILL); {acked} sign-ups acknowledged so far")

    server = Server(database_url, workdir)
    problems = []
    accounts = dict(results["accounts"])
    for name, state in sorted(accounts.items()):
        if state == "changed":
            ok = sign_in_works(server.base, name, NEW_PASSWORD)
        elif state == "signed up":
            ok = sign_in_works(server.base, name, PASSWORD)
        else:  # the change was in flight at the kill: either password, never neither
            ok = sign_in_works(server.base, name, PASSWORD) or \
                sign_in_works(server.base, name, NEW_PASSWORD)
        if not ok:
            problems.append(f"{name} ({state}) cannot sign in after the restart")
    for name, status in results["refused"]:
        problems.append(f"{name}: sign-up answered {status} (expected 200 or a dropped connection)")
    server.stop()

    audit = subprocess.run([BINARY, "audit", "verify"], capture_output=True, text=True,
                           env=dict(os.environ, DATABASE_URL=database_url, RUST_LOG="error"))
    print("  " + (audit.stdout.strip() or audit.stderr.strip()))
    if audit.returncode != 0:
        problems.append("gatehouse audit verify failed")

    if sqlite_path:
        db = sqlite3.connect(sqlite_path)
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        print(f"  PRAGMA integrity_check: {integrity}")
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        broken = db.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            problems.append(f"{len(broken)} rows with a broken foreign key")
        for (name, password_hash, public_id) in db.execute(
                "SELECT username, password_hash, public_id FROM users"):
            if not password_hash.startswith("$argon2id$") or len(public_id) != 32:
                problems.append(f"half-written account {name}")
        stored = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        orphans = db.execute(
            "SELECT COUNT(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)").fetchone()[0]
        if orphans:
            problems.append(f"{orphans} sessions of missing accounts")
        print(f"  stored accounts: {stored}; sign-ups acknowledged: {len(accounts)}; "
              f"password changes acknowledged: "
              f"{sum(1 for s in accounts.values() if s == 'changed')}; in flight at a kill: "
              f"{sum(1 for s in accounts.values() if s == 'change in flight')}")
        db.close()

    if problems:
        print(f"crash-check: FAILED (kept {workdir} for a look; rerun with --seed {seed})")
        for problem in problems:
            print("  - " + problem)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"crash-check: passed ({len(accounts)} acknowledged accounts sign in as acknowledged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
