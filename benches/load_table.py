#!/usr/bin/env python3
"""Turns benches/load.sh's rows into the Markdown table of docs/benchmarks.md.

    load_table.py ROWS CORES GATEHOUSE_PEAK_RSS_MIB [FASTAPI_PEAK_RSS_MIB]

Each row: target scenario req/s p50_ms p99_ms answers>=400 socket_errors.
"""
import sys

LABELS = {
    "me_jwt": "`GET /api/v1/users/me` with a JWT",
    "me_jwt_during_flood": "same, while 32 clients flood the token endpoint",
    "token_one_client": "token endpoint, right password, 1 client (one argon2 run each)",
    "token": "token endpoint, right password, 32 clients",
    "login_page": "`/login` (SSR)",
    "home_signed_out": "`/` signed out (SSR)",
    "home_signed_in": "`/` signed in (session cookie)",
    "account": "`/account` signed in",
    "css_asset": "hashed CSS asset (brotli twin)",
    "not_found": "404 page",
    "healthz": "`/healthz`",
}


def main() -> None:
    rows_file, cores = sys.argv[1], int(sys.argv[2])
    rss = {"gatehouse": sys.argv[3], "fastapi": sys.argv[4] if len(sys.argv) > 4 else ""}
    results: dict[tuple[str, str], list[float]] = {}
    with open(rows_file) as rows:
        for line in rows:
            target, scenario, *numbers = line.split()
            results[(target, scenario)] = [float(n) for n in numbers]
    has_peer = any(target == "fastapi" for target, _ in results)

    def cell(target: str, scenario: str) -> str:
        found = results.get((target, scenario))
        if found is None:
            return "—"
        rps, p50, p99, failed, errors = found
        text = f"{rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        if scenario == "not_found":
            failed = 0  # every answer is the expected 404
        if failed or errors:
            text += f" ({failed:.0f} answers ≥ 400, {errors:.0f} socket errors)"
        return text

    header = "| scenario | Gatehouse |"
    rule = "|---|---|"
    if has_peer:
        header += " FastAPI seed app | Gatehouse ÷ FastAPI |"
        rule += "---|---|"
    print(header)
    print(rule)
    for scenario, label in LABELS.items():
        if ("gatehouse", scenario) not in results:
            continue
        line = f"| {label} | {cell('gatehouse', scenario)} |"
        if has_peer:
            ours, theirs = results.get(("gatehouse", scenario)), results.get(("fastapi", scenario))
            ratio = f"{ours[0] / theirs[0]:.1f}×" if ours and theirs and theirs[0] else "—"
            line += f" {cell('fastapi', scenario)} | {ratio} |"
        print(line)
    print()
    print(f"Peak RSS: Gatehouse {rss['gatehouse']} MiB" + (f", FastAPI {rss['fastapi']} MiB (all its processes)" if has_peer else "") + ".")

    # With one client, each answer waits for exactly one argon2 run, so 1 / its rate is the
    # hash's cost on this machine, now; the cores can run at most `cores` of them at once.
    one, many = results.get(("gatehouse", "token_one_client")), results.get(("gatehouse", "token"))
    if one and many:
        limit = cores * one[0]
        print(
            f"Sign-in ceiling: one argon2 run takes {1000 / one[0]:.1f} ms here, so {cores} cores allow "
            f"{limit:,.0f} sign-ins/s; 32 clients got {many[0]:,.0f}/s = {100 * many[0] / limit:.0f} % of it."
        )


if __name__ == "__main__":
    main()
