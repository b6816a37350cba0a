//! The import rules of the source tree, checked from the code itself (no app is started):
//!
//! - no cycle between files (a child using its parent `mod.rs`'s items is the one loop Rust's
//!   module tree makes natural, so that edge alone is left out);
//! - the browser's code (`model`, `app`) never names `crate::server`, and the shared models
//!   import nothing of the UI or the doors;
//! - services, storage and limits never import the HTTP edge, and storage never imports the
//!   services or the audit verifier built on it;
//! - mail knows nothing of accounts, storage or requests: the services decide who gets what;
//! - the doors (server functions, JSON handlers) never import storage types.
//!
//! Paths are read as text: every `crate::…`, `super::…` and `self::…` path (including the
//! items of a `{…}` group) is resolved to the deepest module file it names. Test modules at
//! the end of a file (`#[cfg(test)]`) are not part of the layering and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::server::auth::sessions`) → file, for every module under `src/`.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|file| {
            let relative = file.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let module = std::iter::once("crate".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            (module, file)
        })
        .collect()
}

/// The code of a file without comments and without its trailing test modules.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            // `://` is a URL inside a string, not a comment.
            Some(at) if !line[..at].ends_with(':') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path the code names that starts at `crate`, `super` or `self`, resolved to absolute
/// module paths (as many segments as were written; the caller finds the module among them).
fn paths_named(module: &str, code: &str) -> Vec<String> {
    // The module `self` means in this file, and the one `super` means. (A `mod.rs` is its
    // directory's module, which `module` already says.)
    let here: Vec<&str> = module.split("::").collect();
    let parent = &here[..here.len().saturating_sub(1)];
    let mut found = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let base: Vec<String> = match start {
                "crate::" => vec!["crate".into()],
                "super::" => parent.iter().map(|s| s.to_string()).collect(),
                _ => here.iter().map(|s| s.to_string()).collect(),
            };
            expand(&base, &code[at + start.len()..], &mut found);
        }
    }
    found
}

/// Reads `a::b::c` or `a::{b, c::d}` after `base` and pushes each full path.
fn expand(base: &[String], rest: &str, found: &mut Vec<String>) {
    let mut path = base.to_vec();
    let mut rest = rest;
    loop {
        let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .map_or(group.len(), |(i, _)| i);
                for item in split_top_level(&group[..end]) {
                    expand(&path, item.trim_start(), found);
                }
                return;
            }
            break;
        }
        rest = &rest[ident.len()..];
        if ident != "self" {
            path.push(ident);
        }
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    found.push(path.join("::"));
}

fn split_top_level(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// The deepest known module a path names.
fn module_of<'m>(path: &str, modules: &'m BTreeMap<String, PathBuf>) -> Option<&'m str> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find_map(|candidate| modules.get_key_value(&candidate).map(|(k, _)| k.as_str()))
}

/// File module → the modules it imports (itself and its own ancestors left out).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    modules
        .iter()
        .map(|(module, file)| {
            let imports = paths_named(module, &code_of(file))
                .iter()
                .filter_map(|path| module_of(path, &modules))
                .filter(|target| {
                    let ancestor = module.starts_with(&format!("{target}::"));
                    *target != module && !ancestor
                })
                .map(str::to_string)
                .collect();
            (module.clone(), imports)
        })
        .collect()
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Every import from a module under `from` into a module under `to`, as "a -> b".
fn imports_between(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
) -> Vec<String> {
    let under =
        |module: &str, zone: &str| module == zone || module.starts_with(&format!("{zone}::"));
    graph
        .iter()
        .filter(|(module, _)| under(module, from))
        .flat_map(|(module, imports)| {
            imports
                .iter()
                .filter(|target| under(target, to))
                .map(move |target| format!("{module} -> {target}"))
        })
        .collect()
}

#[test]
fn the_reader_resolves_groups_and_relative_paths() {
    let found = paths_named(
        "crate::server::auth::sessions",
        "use super::{activity::ActivityLog, views::{public_user, session_view}};\n\
         use crate::server::db::Store; let x = self::helper();",
    );
    for expected in [
        "crate::server::auth::activity::ActivityLog",
        "crate::server::auth::views::public_user",
        "crate::server::db::Store",
        "crate::server::auth::sessions::helper",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "{expected} in {found:?}"
        );
    }
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let graph = import_graph();
    assert!(
        graph.len() > 50,
        "the tree was not read: {} modules",
        graph.len()
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// Fails with every offending import when a module under `from` imports one under `to`.
fn assert_no_imports(rules: &[(&str, &str)], why: &str) {
    let graph = import_graph();
    let found: Vec<String> = rules
        .iter()
        .flat_map(|(from, to)| imports_between(&graph, from, to))
        .collect();
    assert!(found.is_empty(), "{why}: {found:#?}");
}

#[test]
fn the_browser_code_never_reaches_into_the_server() {
    assert_no_imports(
        &[
            ("crate::app", "crate::server"),
            ("crate::model", "crate::server"),
            ("crate::model", "crate::app"),
            ("crate::model", "crate::api"),
        ],
        "the browser's code compiles without the server",
    );
}

#[test]
fn services_and_storage_never_import_the_http_edge() {
    assert_no_imports(
        &[
            ("crate::server::auth", "crate::server::http"),
            ("crate::server::db", "crate::server::http"),
            ("crate::server::limits", "crate::server::http"),
            ("crate::server::db", "crate::server::auth"),
            ("crate::server::db", "crate::server::audit"),
            ("crate::server::limits", "crate::server::config"),
        ],
        "arrows must run downhill",
    );
}

#[test]
fn mail_is_infrastructure_that_knows_no_accounts_storage_or_requests() {
    assert_no_imports(
        &[
            ("crate::server::mail", "crate::server::auth"),
            ("crate::server::mail", "crate::server::db"),
            ("crate::server::mail", "crate::server::http"),
            ("crate::server::mail", "crate::server::limits"),
            ("crate::server::mail", "crate::server::config"),
            ("crate::server::mail", "crate::model"),
            ("crate::server::db", "crate::server::mail"),
            ("crate::server::limits", "crate::server::mail"),
        ],
        "mail sits below the services",
    );
}

#[test]
fn the_doors_never_import_storage_types() {
    assert_no_imports(
        &[
            ("crate::api", "crate::server::db"),
            ("crate::server::http::api", "crate::server::db"),
        ],
        "the doors speak view types",
    );
}

/// The text after `open` (an opening bracket's index) up to its matching close bracket.
fn bracketed(code: &str, open: usize) -> &str {
    let bytes = code.as_bytes();
    let (mut depth, mut in_string, mut i) = (0usize, false, open);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'(' if !in_string => depth += 1,
            b')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &code[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!(
        "unbalanced brackets after {}",
        &code[open..(open + 80).min(code.len())]
    );
}

/// The `macro_rules!` of the source tree that make a statement at compile time: every
/// fragment they take is a `literal`, and they expand to a `concat!`.
fn statement_macros() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in modules().values() {
        let code = code_of(file);
        for (at, _) in code.match_indices("macro_rules!") {
            let rest = code[at + "macro_rules!".len()..].trim_start();
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            let body = &rest[..rest.find("\n}").unwrap_or(rest.len())];
            // `$name:kind` for every fragment the macro takes.
            let kinds: Vec<&str> = body
                .split('$')
                .skip(1)
                .filter_map(|after| {
                    let name_end = after.find(|c: char| !is_ident(c))?;
                    let kind = after[name_end..].strip_prefix(':')?;
                    Some(&kind[..kind.find(|c: char| !is_ident(c)).unwrap_or(kind.len())])
                })
                .collect();
            // Literals only, or no fragments at all (a whole statement written out).
            if kinds.iter().all(|k| *k == "literal") && body.contains("concat!(") {
                found.insert(name);
            }
        }
    }
    found
}

/// What is wrong with the SQL statements in `code`: each `sqlx::query…` call whose statement
/// is not one string literal or one of `macros` called with literals, the escape hatches, and
/// executor calls handed an assembled string. Answers the problems and the number of calls.
fn statement_problems(code: &str, macros: &BTreeSet<String>) -> (Vec<String>, usize) {
    let mut bad = Vec::new();
    let mut calls = 0;
    // The query functions under other names, or the escape hatches, are not used at all.
    for banned in [
        "raw_sql",
        "QueryBuilder",
        "AssertSqlSafe",
        "use sqlx::query",
        "sqlx::{query",
    ] {
        if code.contains(banned) {
            bad.push(format!("uses {banned}"));
        }
    }
    for (at, _) in code.match_indices("sqlx::query") {
        let rest = &code[at + "sqlx::query".len()..];
        let name_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after_name = &rest[name_len..];
        // `sqlx::query!` and friends check their literal at compile time themselves.
        if after_name.starts_with('!') {
            continue;
        }
        // A turbofish (`query_as::<_, Row>`) may come before the bracket.
        let Some(open) = after_name.find('(') else {
            bad.push(format!("sqlx::query{name} without a call"));
            continue;
        };
        calls += 1;
        let argument = bracketed(code, at + "sqlx::query".len() + name_len + open)
            .trim()
            .trim_end_matches(',')
            .trim_end();
        let one_literal = if argument.starts_with("r\"") || argument.starts_with("r#") {
            argument.ends_with('"') || argument.ends_with('#')
        } else {
            // One "…" and nothing after it: no unescaped quote inside.
            argument.len() >= 2
                && argument.starts_with('"')
                && argument.ends_with('"')
                && !argument[1..argument.len() - 1]
                    .replace("\\\\", "")
                    .replace("\\\"", "")
                    .contains('"')
        };
        let by_macro = argument.split_once("!(").is_some_and(|(name, args)| {
            macros.contains(name.trim()) && args.trim_start().starts_with(['"', 'r', ')'])
        });
        if !(one_literal || by_macro) {
            let shown: String = argument.chars().take(80).collect();
            bad.push(format!("sqlx::query{name}({shown}…)"));
        }
    }
    // The executor methods take a statement too: never an assembled one.
    for method in [
        ".execute(",
        ".fetch_one(",
        ".fetch_optional(",
        ".fetch_all(",
        ".fetch(",
    ] {
        for (at, _) in code.match_indices(method) {
            let argument = bracketed(code, at + method.len() - 1);
            if argument.contains("format!") || argument.contains("String") {
                bad.push(format!("{method}{argument})"));
            }
        }
    }
    (bad, calls)
}

/// Every SQL statement the product runs is text fixed at compile time: the first argument of
/// each `sqlx::query…` call is a string literal or one of the `concat!` macros of `db`, never a
/// `format!`, a `String` or a variable (values are bound, never spliced). sqlx 0.8 takes any
/// `&str`, so the compiler does not hold this; this reading of the source does. Test modules
/// are left out (tests may assemble their own SQL: `CREATE DATABASE` in the test helpers).
#[test]
fn every_sql_statement_is_a_compile_time_string() {
    let macros = statement_macros();
    assert!(
        macros.contains("select_user"),
        "the column-list macros were not recognised: {macros:?}"
    );
    let mut calls = 0;
    let mut bad = Vec::new();
    for (module, file) in modules() {
        let (problems, found) = statement_problems(&code_of(&file), &macros);
        calls += found;
        bad.extend(problems.into_iter().map(|p| format!("{module}: {p}")));
    }
    // The reader found the statements (both backends have dozens).
    assert!(calls > 100, "only {calls} sqlx::query calls found");
    assert!(
        bad.is_empty(),
        "SQL not fixed at compile time:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_statement_reader_refuses_assembled_sql_and_accepts_literals() {
    let macros: BTreeSet<String> = ["select_user".to_string(), "select_all".to_string()].into();
    let ok = r#"sqlx::query("SELECT 1 WHERE a = ?").bind(x); sqlx::query_as::<_, R>(select_user!("WHERE id = ?")); sqlx::query_scalar(
            "SELECT (1)",
        ); sqlx::query!("SELECT 1"); conn.execute(&self.pool); sqlx::query_as(select_all!())"#;
    assert_eq!(statement_problems(ok, &macros), (vec![], 4));
    for bad in [
        r#"sqlx::query(&format!("SELECT {x}"))"#,
        r#"sqlx::query_as::<_, R>(sql)"#,
        r#"sqlx::query_scalar(&statement)"#,
        r#"sqlx::query(select_other!("x"))"#,
        r#"sqlx::query(select_other!())"#,
        r#"sqlx::query(select_all!(name))"#,
        r#"sqlx::query("SELECT " .to_owned() + name)"#,
        r#"sqlx::query("SELECT " .to_owned() + "1")"#,
        r#"sqlx::raw_sql("x")"#,
        r#"conn.execute(format!("DROP {t}").as_str())"#,
    ] {
        assert!(
            !statement_problems(bad, &macros).0.is_empty(),
            "{bad} accepted"
        );
    }
}
