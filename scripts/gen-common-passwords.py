#!/usr/bin/env python3
"""Regenerates src/model/common_passwords.txt, the password blocklist.

Source: the password frequency list shipped in the `zxcvbn` crate (MIT licence,
src/frequency_lists.rs, `PASSWORDS`: 30,000 passwords from leaked-password corpora, most
common first). We take the 10,000 most common. Those shorter than 8 characters are not
stored: the length rule already refuses them, so storing them would only grow the browser
bundle. Entries are lower-cased (the check is case-insensitive, so `Password1` is caught by
`password1`), de-duplicated and sorted for binary search.

Usage: scripts/gen-common-passwords.py [path/to/zxcvbn-3.x/src/frequency_lists.rs]
Without a path, the newest zxcvbn 3.x in the cargo registry is used (`cargo fetch` a project
that depends on zxcvbn = "3" first).
"""
import glob
import os
import re
import sys

TOP = 10_000
MIN_LEN = 8
MAX_LEN = 128


def main() -> None:
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
        candidates = sorted(glob.glob(f"{home}/registry/src/*/zxcvbn-3.*/src/frequency_lists.rs"))
        if not candidates:
            sys.exit("zxcvbn 3.x not found in the cargo registry; pass the path to frequency_lists.rs")
        path = candidates[-1]
    text = open(path, encoding="utf-8").read()
    match = re.search(r'const PASSWORDS: &str = "([^"]*)";', text)
    if not match:
        sys.exit(f"no PASSWORDS list in {path}")
    top = match.group(1).split(",")[:TOP]
    kept = sorted({p.lower() for p in top if MIN_LEN <= len(p) <= MAX_LEN})
    out = os.path.join(os.path.dirname(__file__), "..", "src", "model", "common_passwords.txt")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    print(f"{len(kept)} passwords of {MIN_LEN}+ characters from the top {TOP} of {path}")


if __name__ == "__main__":
    main()
