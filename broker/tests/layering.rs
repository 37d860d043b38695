//! The broker's module layers point one way (see the map in `src/lib.rs`): handlers → context →
//! services → state. A service or a table that reached back up to the context (as Java's
//! `BrokerController` shape did, and this crate did before issue #24) brings the import circle
//! back; this test names the file and the path that does.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files at `path` (a file, or a directory searched recursively).
fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
        return;
    }
    let entries = std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, line number, module)` of every `crate::<module>` the code (not the comments) of the
/// files at `rel` (under `src/`) names, `use crate::{a, b}` groups included.
fn crate_paths(rel: &str) -> Vec<(String, usize, String)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root.join(rel), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![rest],
                };
                for m in names {
                    let m: String = m
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    found.push((name.clone(), n + 1, m));
                }
            }
        }
    }
    found
}

/// Fails unless the files at `dir` name only the modules of `allowed` (by their first path
/// segment under `crate::`).
fn assert_names_only(dir: &str, allowed: &[&str]) {
    let bad: Vec<String> = crate_paths(dir)
        .into_iter()
        .filter(|(_, _, m)| !allowed.contains(&m.as_str()))
        .map(|(f, n, m)| format!("src/{f}:{n} names crate::{m}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{dir}/ may name only {allowed:?}; what a module needs from above comes in through its \
         handle:\n{}",
        bad.join("\n")
    );
}

/// Services reach the tables and the store, never the context, the handlers or a module that
/// holds the context: each gets a narrow handle from `broker.rs` instead.
#[test]
fn services_name_only_state_and_leaves() {
    assert_names_only(
        "services",
        &[
            "config",
            "error",
            "names",
            "state",
            "services",
            "store_api",
            "store_adapter",
        ],
    );
}

/// The tables sit at the bottom: no service, handler or context.
#[test]
fn state_names_only_leaves() {
    assert_names_only("state", &["config", "error", "names", "state"]);
}

#[test]
fn only_the_processor_dispatches_to_handlers() {
    let entries = std::fs::read_dir(src()).unwrap_or_else(|e| panic!("src: {e}"));
    let bad: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| !["handlers", "processor.rs", "lib.rs"].contains(&name.as_str()))
        .flat_map(|name| crate_paths(&name))
        .filter(|(_, _, m)| m == "handlers")
        .map(|(f, n, _)| format!("src/{f}:{n}"))
        .collect();
    assert!(
        bad.is_empty(),
        "handlers named outside the processor: {bad:?}"
    );
}

/// Every handler takes only what it needs (issue #24): a family's `Deps` of references, or the
/// references themselves, built in `processor.rs`. A handler that named the context again could
/// reach every table and service, and its signature would no longer say what it touches.
#[test]
fn handlers_take_only_what_they_need() {
    let bad: Vec<String> = crate_paths("handlers")
        .into_iter()
        .filter(|(_, _, m)| m == "context" || m == "broker" || m == "processor")
        .map(|(f, n, m)| format!("src/{f}:{n} names crate::{m}"))
        .collect();
    let mut files = Vec::new();
    rust_files(&src().join("handlers"), &mut files);
    let named: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let name = file.display().to_string();
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//") && l.contains("BrokerContext"))
                .map(|(n, _)| format!("{name}:{}", n + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        bad.is_empty() && named.is_empty(),
        "a handler takes the whole context again; give it a narrow `Deps` built in processor.rs \
         instead:\n{}",
        bad.into_iter().chain(named).collect::<Vec<_>>().join("\n")
    );
}
