#!/usr/bin/env python3
"""Checks docs/security-tests.md, the matrix of security claims and the tests that fail without
them, against the tree, so it cannot drift silently (issue #19). Fails (exit 1, naming the row)
when:
- a named Rust test is not a function carrying a test attribute (`#[test]`, `#[tokio::test]`,
  `#[sqlx::test]`, ...) in that file, nor a name listed in an invocation of a test-generating
  macro there (a `macro_rules!` whose body holds a test attribute, such as `contract!` in
  src/server/limits/contract.rs); or it is `#[ignore]`d; or its file is not compiled (no `mod`
  declaring it);
- a Playwright title is not a `test("...")` in that spec, or the spec is outside every
  Playwright config's testDir;
- a row names no test and is not in the "Gaps allowed for now" list (with a reason), or a gap
  listed there has tests by now, or names no row;
- a row of the README's "Security" table has no group in the matrix, or a group under the
  matrix's "Security" has no README row; another section of the matrix names no README heading.

Usage: scripts/check-claims.py [--self-test] [--root DIR]
--self-test runs the checks on small built-in broken inputs (a renamed function, a missing
title, an unmapped README row, ...) and fails if any of them goes uncaught. Part of
scripts/test.sh, which runs both. Python 3 standard library only.
"""
import argparse
import os
import re
import sys
import tempfile

MATRIX = "docs/security-tests.md"
README = "README.md"
# The matrix section that mirrors the README's "Security" table, group for row.
SECURITY_SECTION = "Security"
ALLOW_SECTION = "Gaps allowed for now"
MISSING = "MISSING"

TEST_ATTR = re.compile(r"#\[\s*(?:[A-Za-z_][\w]*::)*test\b")
IGNORE_ATTR = re.compile(r"#\[\s*ignore\b")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROW_ID = re.compile(r"^[A-Z]+\d+$")


# ---- Markdown ----

def split_row(line):
    """The cells of a Markdown table row; `|` inside backticks or escaped does not split."""
    cells, cell, in_code, i = [], "", False, 0
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] == "|":
            cell += "|"
            i += 2
            continue
        if c == "`":
            in_code = not in_code
        if c == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += c
        i += 1
    cells.append(cell.strip())
    return cells


def is_separator(cells):
    return all(re.fullmatch(r":?-{3,}:?", c) for c in cells)


def readme_security_rows(readme_text):
    """First-column texts of the table under README's `## Security`."""
    lines = readme_text.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == "## Security")
    except StopIteration:
        return None
    rows, in_table = [], False
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.lstrip().startswith("|"):
            in_table = True
            cells = split_row(line)
            if is_separator(cells):
                continue
            rows.append(cells[0])
        elif in_table:
            break
    return rows[1:]  # without the header row


def readme_headings(readme_text):
    return {m.group(2).strip() for m in re.finditer(r"^(#{2,6})\s+(.+?)\s*$", readme_text, re.M)
            if not m.group(0).startswith("# ")}


class Row:
    def __init__(self, line_no, section, group, row_id, claim, refs, missing):
        self.line_no, self.section, self.group = line_no, section, group
        self.row_id, self.claim, self.refs, self.missing = row_id, claim, refs, missing

    def name(self):
        claim = self.claim if len(self.claim) <= 70 else self.claim[:67] + "..."
        return f"{MATRIX}:{self.line_no}: row {self.row_id} \"{claim}\" (group \"{self.group}\")"


def parse_matrix(text, errors):
    """Rows, the groups of each section, and the allow-list ({id: (line, reason)})."""
    rows, groups, allowed = [], {}, {}
    section = group = None
    header_seen = False
    for no, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            section, group, header_seen = line[3:].strip(), None, False
            continue
        if line.startswith("### "):
            group, header_seen = line[4:].strip(), False
            if section is None:
                errors.append(f"{MATRIX}:{no}: group {group!r} outside any section")
            else:
                groups.setdefault(section, []).append((no, group))
            continue
        if section == ALLOW_SECTION:
            m = re.match(r"^\s*[-*]\s+\**([A-Z]+\d+)\**\s*[:\u2014-]+\s*(.*)$", line)
            if m:
                if m.group(1) in allowed:
                    errors.append(f"{MATRIX}:{no}: gap {m.group(1)} is listed twice")
                allowed[m.group(1)] = (no, m.group(2).strip())
            continue
        if not line.lstrip().startswith("|"):
            header_seen = False
            continue
        cells = split_row(line)
        if not header_seen:
            header_seen = True  # the header row
            continue
        if is_separator(cells):
            continue
        where = f"{MATRIX}:{no}"
        if group is None:
            errors.append(f"{where}: a table row outside a ### group")
            continue
        if len(cells) != 4:
            errors.append(f"{where}: expected 4 cells (id | claim | ASVS | tests), found {len(cells)}")
            continue
        row_id, claim, _asvs, tests = cells
        if not ROW_ID.match(row_id):
            errors.append(f"{where}: row id {row_id!r} is not like S12")
            continue
        refs = re.findall(r"`([^`]+)`", tests)
        missing = MISSING in refs
        refs = [r for r in refs if r != MISSING]
        rows.append(Row(no, section, group, row_id, claim, refs, missing))
    return rows, groups, allowed


# ---- Rust ----

# Comments, and the literals that may hold comment-like text (kept as they are).
RUST_TOKENS = re.compile(
    r"//[^\n]*"
    r"|/\*.*?\*/"
    r'|\bb?r(#*)".*?"\1'
    r'|b?"(?:\\.|[^"\\])*"'
    r"|b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'",
    re.S,
)


def strip_rust_comments(src):
    """`src` without comments; strings, chars and line breaks are kept, so line numbers hold.
    (Nested block comments end at their first `*/`: rare, and only ever in prose.)"""
    def keep(m):
        token = m.group(0)
        return "\n" * token.count("\n") if token.startswith("/") else token
    return RUST_TOKENS.sub(keep, src)


def balanced(src, open_at):
    """The text between the bracket at `open_at` and its match (strings already harmless)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opener = src[open_at]
    closer, depth = pairs[opener], 0
    for j in range(open_at, len(src)):
        if src[j] == opener:
            depth += 1
        elif src[j] == closer:
            depth -= 1
            if depth == 0:
                return src[open_at + 1:j], j
    return src[open_at + 1:], len(src)


def rust_tests(src):
    """{name: ignored?} of the tests a Rust file defines, written out or by its macros."""
    code = strip_rust_comments(src)
    tests = {}
    fn = re.compile(r"((?:\s*#\[[^\]]*\])*)\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?"
                    r"(?:unsafe\s+)?fn\s+([A-Za-z_]\w*)")
    for m in fn.finditer(code):
        attrs = m.group(1)
        if TEST_ATTR.search(attrs):
            tests[m.group(2)] = tests.get(m.group(2), False) or bool(IGNORE_ATTR.search(attrs))
    # Test-generating macros: each name listed in an invocation is a test (if its fn exists).
    defined = set(re.findall(r"\bfn\s+([A-Za-z_]\w*)", code))
    bodies = []
    for m in re.finditer(r"\bmacro_rules!\s*([A-Za-z_]\w*)\s*([({\[])", code):
        body, end = balanced(code, m.end() - 1)
        bodies.append((m.start(), end))
        if not TEST_ATTR.search(body):
            continue
        for call in re.finditer(r"\b" + re.escape(m.group(1)) + r"!\s*([({\[])", code):
            if any(s <= call.start() <= e for s, e in bodies) or call.start() < m.start():
                continue
            args, _ = balanced(code, call.end() - 1)
            for name in re.findall(r"(?<![@\w])([A-Za-z_]\w*)", args):
                if name in defined:
                    tests.setdefault(name, False)
    return tests


def declared(root, rel):
    """None if the file at `rel` is compiled as a module, else why not."""
    parts = rel.split("/")
    if parts[-1] in ("lib.rs", "main.rs", "mod.rs"):
        if len(parts) == 2 or parts[-1] != "mod.rs":
            return None
        name, parent_dir = parts[-2], parts[:-2]
    else:
        name, parent_dir = parts[-1][:-3], parts[:-1]
    if not parent_dir or (parent_dir == ["tests"] and not os.path.exists(os.path.join(root, "tests", "main.rs"))):
        return None  # tests/<file>.rs is a test binary of its own
    candidates = [os.path.join(*parent_dir, f) for f in ("lib.rs", "main.rs", "mod.rs")]
    if len(parent_dir) > 1:
        candidates.append(os.path.join(*parent_dir[:-1], parent_dir[-1] + ".rs"))
    decl = re.compile(r"\bmod\s+" + re.escape(name) + r"\s*;")
    for cand in candidates:
        path = os.path.join(root, cand)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                if decl.search(strip_rust_comments(f.read())):
                    parent = os.path.relpath(path, root).replace(os.sep, "/")
                    return declared(root, parent)
    return f"no `mod {name};` in {' or '.join(c.replace(os.sep, '/') for c in candidates)}"


# ---- Playwright ----

def playwright_test_dirs(root):
    dirs = set()
    e2e = os.path.join(root, "end2end")
    if os.path.isdir(e2e):
        for name in os.listdir(e2e):
            if re.fullmatch(r"playwright(\.[\w-]+)?\.config\.ts", name):
                with open(os.path.join(e2e, name), encoding="utf-8") as f:
                    for m in re.finditer(r"testDir:\s*[\"']\.?/?([^\"']+)[\"']", f.read()):
                        dirs.add("end2end/" + m.group(1).strip("/"))
    return dirs


def strip_ts_comments(src):
    src = re.sub(r"^\s*/\*.*?\*/", "", src, flags=re.S | re.M)
    return re.sub(r"^\s*//[^\n]*", "", src, flags=re.M)


def has_playwright_test(src, title):
    code = strip_ts_comments(src)
    for q in ('"', "'", "`"):
        written = title.replace("\\", "\\\\").replace(q, "\\" + q)
        if re.search(r"(?<![\w.$])test\(\s*" + re.escape(q + written + q) + r"\s*,", code):
            return True
    return False


# ---- the check ----

def check(root):
    """Every problem found, as lines naming the row; and a summary."""
    errors = []

    def read(rel):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            return f.read()

    try:
        matrix, readme = read(MATRIX), read(README)
    except OSError as e:
        return [f"cannot read {e.filename}"], ""
    rows, groups, allowed = parse_matrix(matrix, errors)
    test_dirs = playwright_test_dirs(root)
    rust_cache, spec_cache = {}, {}
    seen_ids, refs_checked = {}, 0

    for row in rows:
        if row.row_id in seen_ids:
            errors.append(f"{row.name()}: id {row.row_id} is used by line {seen_ids[row.row_id]} too")
        seen_ids.setdefault(row.row_id, row.line_no)
        if row.missing and row.refs:
            errors.append(f"{row.name()}: names tests and {MISSING}; drop one")
        if not row.refs:
            if row.row_id not in allowed:
                errors.append(f"{row.name()}: no test fails without this claim, and it is not under "
                              f"\"{ALLOW_SECTION}\" with a reason")
            elif not allowed[row.row_id][1]:
                errors.append(f"{row.name()}: its entry under \"{ALLOW_SECTION}\" gives no reason")
        elif row.row_id in allowed:
            errors.append(f"{row.name()}: has tests now; remove it from \"{ALLOW_SECTION}\" "
                          f"(line {allowed[row.row_id][0]})")
        for ref in row.refs:
            refs_checked += 1
            path, sep, name = ref.partition("::")
            if not sep or not name:
                errors.append(f"{row.name()}: `{ref}` is not `path::test`")
                continue
            if not os.path.isfile(os.path.join(root, path)):
                errors.append(f"{row.name()}: {path} does not exist")
                continue
            if path.endswith(".rs"):
                if not (path.startswith("tests/") or path.startswith("src/")):
                    errors.append(f"{row.name()}: {path}: Rust tests live under tests/ or src/")
                    continue
                if not IDENT.match(name):
                    errors.append(f"{row.name()}: `{name}` is not a function name")
                    continue
                if path not in rust_cache:
                    rust_cache[path] = (rust_tests(read(path)), declared(root, path))
                tests, undeclared = rust_cache[path]
                if name not in tests:
                    errors.append(f"{row.name()}: {path} has no test `{name}` (a fn with a test "
                                  f"attribute, or a name in a test-generating macro's invocation)")
                elif tests[name]:
                    errors.append(f"{row.name()}: {path}::{name} is #[ignore]d: it fails nothing")
                elif undeclared:
                    errors.append(f"{row.name()}: {path} is not compiled: {undeclared}")
            elif path.endswith(".spec.ts"):
                if not any(path.startswith(d + "/") for d in test_dirs):
                    errors.append(f"{row.name()}: {path} is in no Playwright config's testDir "
                                  f"({', '.join(sorted(test_dirs)) or 'none found'})")
                    continue
                if path not in spec_cache:
                    spec_cache[path] = read(path)
                if not has_playwright_test(spec_cache[path], name):
                    errors.append(f"{row.name()}: {path} has no test(\"{name}\", ...)")
            else:
                errors.append(f"{row.name()}: {path}: neither a .rs nor a .spec.ts file")

    for gap, (no, _) in sorted(allowed.items()):
        if gap not in seen_ids:
            errors.append(f"{MATRIX}:{no}: \"{ALLOW_SECTION}\" lists {gap}, which is no row")

    # The README side: every row of its Security table is a group here, and back.
    readme_rows = readme_security_rows(readme)
    if readme_rows is None:
        errors.append(f"{README} has no \"## Security\" section")
        readme_rows = []
    security_groups = {g for _, g in groups.get(SECURITY_SECTION, [])}
    for readme_row in readme_rows:
        if readme_row not in security_groups:
            errors.append(f"{README}: the Security table's row {readme_row!r} has no group "
                          f"(### {readme_row}) under \"## {SECURITY_SECTION}\" in {MATRIX}")
    for no, group in groups.get(SECURITY_SECTION, []):
        if group not in readme_rows:
            errors.append(f"{MATRIX}:{no}: group {group!r} is no row of the README's Security table")
    headings = readme_headings(readme)
    sections = {r.section for r in rows} | set(groups)
    for section in sorted(sections - {SECURITY_SECTION, ALLOW_SECTION}):
        if section not in headings:
            errors.append(f"{MATRIX}: section \"## {section}\" names no heading of {README}")
    for section, section_groups in groups.items():
        for no, group in section_groups:
            if not any(r.section == section and r.group == group for r in rows):
                errors.append(f"{MATRIX}:{no}: group {group!r} has no rows")

    gaps = sum(1 for r in rows if not r.refs)
    summary = (f"{len(rows)} claims in {sum(len(g) for g in groups.values())} groups, "
               f"{refs_checked} test references found; {gaps} gaps allowed (\"{ALLOW_SECTION}\" "
               f"in {MATRIX})")
    return errors, summary


# ---- self-test ----

GOOD = {
    "README.md": """# App
## Security
| seed | app |
|---|---|
| Hash passwords | argon2 |
| `X-Frame` | DENY |
## Mail
Links.
""",
    "tests/api/main.rs": "mod helpers;\nmod login;\n",
    "tests/api/helpers.rs": "pub fn help() {}\n",
    "tests/api/login.rs": """use crate::helpers::*;
/// Doc comment.
#[tokio::test(flavor = "multi_thread",
              worker_threads = 2)]
async fn wrong_password_is_refused() {
    let s = "fn not_a_test() {} // not a comment";
}
#[test]
#[ignore]
fn ignored_one() {}
fn helper_not_a_test() {}
// #[test]
// fn commented_out() {}
""",
    "src/lib.rs": "pub mod limits;\n",
    "src/limits/mod.rs": "#[cfg(test)]\nmod contract;\n",
    "src/limits/contract.rs": """macro_rules! contract {
    ($($t:ident),+) => { mod local { $( #[tokio::test] async fn $t() { super::$t(1).await } )+ } };
}
contract!(
    // first
    bursts_are_refused,
    slots_refill,
);
async fn bursts_are_refused(_: u8) {}
async fn slots_refill(_: u8) {}
""",
    "end2end/playwright.config.ts": 'export default { testDir: "./tests" };\n',
    "end2end/tests/a.spec.ts": """test("a user's title, with \\"quotes\\"", async () => {});
test.skip("a skipped title", async () => {});
test(
  'a wrapped title',
  async () => {},
);
""",
    MATRIX: """# Matrix
## Security
### Hash passwords
| id | claim | ASVS | tests |
|---|---|---|---|
| S1 | argon2id | 11.4.2 | `tests/api/login.rs::wrong_password_is_refused`<br>`src/limits/contract.rs::slots_refill` |
| S2 | in the browser | — | `end2end/tests/a.spec.ts::a user's title, with "quotes"`<br>`end2end/tests/a.spec.ts::a wrapped title` |
### `X-Frame`
| id | claim | ASVS | tests |
|---|---|---|---|
| S3 | DENY | 3.4 | `MISSING` |
## Mail
### Links
| id | claim | ASVS | tests |
|---|---|---|---|
| M1 | single use | 6.4 | `src/limits/contract.rs::bursts_are_refused` |
## Gaps allowed for now
- **S3**: not asserted yet.
## Notes
Free text.
""",
}


def mutate(files, path, old, new):
    assert old in files[path], f"self-test fixture: {old!r} not in {path}"
    changed = dict(files)
    changed[path] = files[path].replace(old, new, 1)
    return changed


# (what, files, text an error must contain)
BROKEN = [
    ("a renamed Rust test", lambda f: mutate(f, "tests/api/login.rs", "fn wrong_password_is_refused", "fn wrong_password_is_rejected"), "row S1"),
    ("a missing Playwright title", lambda f: mutate(f, "end2end/tests/a.spec.ts", "a wrapped title", "a rewrapped title"), "row S2"),
    ("an unmapped README row", lambda f: mutate(f, "README.md", "| `X-Frame` | DENY |\n", "| `X-Frame` | DENY |\n| Cookie sessions | server-side |\n"), "'Cookie sessions'"),
    ("a README row gone, its group left", lambda f: mutate(f, "README.md", "| `X-Frame` | DENY |\n", ""), "'`X-Frame`'"),
    ("a MISSING row not allowed", lambda f: mutate(f, MATRIX, "- **S3**: not asserted yet.\n", ""), "row S3"),
    ("a gap without a reason", lambda f: mutate(f, MATRIX, "- **S3**: not asserted yet.", "- **S3**:"), "row S3"),
    ("an allowed gap that has tests", lambda f: mutate(f, MATRIX, "- **S3**: not asserted yet.\n", "- **S3**: not asserted yet.\n- **M1**: stale.\n"), "row M1"),
    ("a row with no test at all", lambda f: mutate(f, MATRIX, "`src/limits/contract.rs::bursts_are_refused`", "to do"), "row M1"),
    ("a helper that is no test", lambda f: mutate(f, MATRIX, "login.rs::wrong_password_is_refused", "login.rs::helper_not_a_test"), "row S1"),
    ("a commented-out test", lambda f: mutate(f, MATRIX, "login.rs::wrong_password_is_refused", "login.rs::commented_out"), "row S1"),
    ("a function inside a string", lambda f: mutate(f, MATRIX, "login.rs::wrong_password_is_refused", "login.rs::not_a_test"), "row S1"),
    ("an ignored test", lambda f: mutate(f, MATRIX, "login.rs::wrong_password_is_refused", "login.rs::ignored_one"), "row S1"),
    ("a name dropped from the test macro", lambda f: mutate(f, "src/limits/contract.rs", "    slots_refill,\n);", ");"), "row S1"),
    ("a skipped Playwright test", lambda f: mutate(f, MATRIX, "a.spec.ts::a wrapped title", "a.spec.ts::a skipped title"), "row S2"),
    ("a spec outside every testDir", lambda f: mutate(f, "end2end/playwright.config.ts", "./tests", "./other"), "row S2"),
    ("a test file no mod declares", lambda f: mutate(f, "tests/api/main.rs", "mod login;\n", ""), "row S1"),
    ("a duplicate row id", lambda f: mutate(f, MATRIX, "| M1 |", "| S1 |"), "row S1"),
    ("a section the README lacks", lambda f: mutate(f, "README.md", "## Mail\n", "## Post\n"), '"## Mail"'),
]


def run_on(files):
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return check(root)


def self_test():
    failures = []
    errors, _ = run_on(GOOD)
    if errors:
        failures.append("the sound fixture was refused:\n    " + "\n    ".join(errors))
    for what, breaking, expected in BROKEN:
        errors, _ = run_on(breaking(GOOD))
        if not any(expected in e for e in errors):
            got = "\n    ".join(errors) or "no error at all"
            failures.append(f"{what} went uncaught (wanted an error with {expected}):\n    {got}")
    if failures:
        for f in failures:
            print(f"check-claims self-test: {f}", file=sys.stderr)
        return 1
    print(f"check-claims self-test: the sound fixture passes, and all {len(BROKEN)} broken ones are caught")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check the checker on broken inputs")
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="the repository (default: this script's)")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    errors, summary = check(os.path.abspath(args.root))
    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"check-claims: {len(errors)} problem(s) between {MATRIX}, {README} and the tests; "
              "see above", file=sys.stderr)
        return 1
    print(f"check-claims: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
