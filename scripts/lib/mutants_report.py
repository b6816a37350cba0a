#!/usr/bin/env python3
"""Writes one group's cargo-mutants result into docs/mutants.md (called by scripts/mutants.sh).

The doc's "Last runs" table has one row per group (the newest run replaces the older one), and
"Missed in the last runs" lists each group's survivors verbatim. Both live between markers, so
the hand-written explanations around them are kept. Usage:
    mutants_report.py DOC GROUP OUTCOMES_JSON COMMIT FILTER
"""
import json
import re
import sys
from datetime import date

doc, group, outcomes_path, commit, test_filter = sys.argv[1:6]
outcomes = json.load(open(outcomes_path))
counts = {k: outcomes.get(k, 0) for k in ("caught", "missed", "timeout", "unviable")}
total = outcomes.get("total_mutants", sum(counts.values()))
seconds = sum(
    phase.get("duration", 0)
    for o in outcomes["outcomes"]
    for phase in o.get("phase_results", [])
)
missed = sorted(
    o["scenario"]["Mutant"]["name"]
    for o in outcomes["outcomes"]
    if o.get("summary") in ("MissedMutant", "Timeout")
)

text = open(doc).read()


def section(text, name, rows_by_key, header):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    before, rest = text.split(start, 1)
    body, after = rest.split(end, 1)
    rows = {}
    for line in body.strip().splitlines():
        m = re.match(r"^\| `?([a-z_]+)`? \|", line)
        if m and not line.startswith("| group"):
            rows[m.group(1)] = line
    rows.update(rows_by_key)
    lines = header + [rows[k] for k in sorted(rows)]
    return f"{before}{start}\n" + "\n".join(lines) + f"\n{end}{after}"


row = (
    f"| `{group}` | {date.today().isoformat()} | `{commit}` | {total} | {counts['caught']} | "
    f"{counts['missed']} | {counts['timeout']} | {counts['unviable']} | {seconds / 60:.0f} min | "
    # A `|` inside a table cell ends the cell, even in code: escaped.
    f"`{test_filter.replace('|', chr(92) + '|')}` |"
)
text = section(
    text,
    "runs",
    {group: row},
    [
        "| group | run | commit | mutants | caught | missed | timeout | unviable | time | tests (nextest filter) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ],
)
survivors = "; ".join(f"`{m}`" for m in missed) if missed else "none"
text = section(
    text,
    "missed",
    {group: f"| `{group}` | {survivors} |"},
    ["| group | missed or timed out |", "|---|---|"],
)
open(doc, "w").write(text)
print(f"mutants: {group}: {counts} -> {doc}")
