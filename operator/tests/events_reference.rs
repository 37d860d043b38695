//! docs/operator-events.md against the source: every Event reason the operator publishes with a
//! literal (`EventType::…, "Reason"`), every refusal reason of `validate`, and every roll state is
//! listed on the page; every reason the page lists in backticks occurs in the operator's source.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read operator/src").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `"Word"` literals that look like reasons (CamelCase, at least two capitals).
fn camel_literals(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in text.split('"').skip(1).step_by(2) {
        let caps = part.chars().filter(char::is_ascii_uppercase).count();
        if part.len() > 3
            && part.chars().all(|c| c.is_ascii_alphabetic())
            && part.starts_with(|c: char| c.is_ascii_uppercase())
            && caps >= 1
        {
            out.insert(part.to_string());
        }
    }
    out
}

#[test]
fn the_events_page_lists_what_the_operator_publishes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("../docs/operator-events.md"))
        .expect("docs/operator-events.md");
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut source = String::new();
    for f in &files {
        source.push_str(&std::fs::read_to_string(f).expect("read a source file"));
    }
    let literals = camel_literals(&source);

    // Reasons published with a literal: `EventType::Normal,\n "Reason"`.
    let mut published = BTreeSet::new();
    let flat: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
    for ty in ["EventType::Normal, \"", "EventType::Warning, \""] {
        for rest in flat.split(ty).skip(1) {
            if let Some(r) = rest.split('"').next() {
                published.insert(r.to_string());
            }
        }
    }
    assert!(published.len() >= 8, "found too few: {published:?}");
    // Refusal reasons of validate and the roll states become Degraded / Progressing reasons.
    let validate = std::fs::read_to_string(root.join("src/validate.rs")).expect("validate.rs");
    let roll = std::fs::read_to_string(root.join("src/roll.rs")).expect("roll.rs");
    let mut wanted = published.clone();
    for text in [&validate, &roll] {
        for r in camel_literals(text) {
            // "Invalid" alone is only the fallback of an empty refusal.
            if (r.starts_with("Invalid") && r != "Invalid")
                || r.ends_with("ConfigKey")
                || r.starts_with("Rolling")
                || r.starts_with("Waiting")
                || ["StorageTooSmall", "SyncWithoutSlave", "Held", "Settled"].contains(&r.as_str())
            {
                wanted.insert(r);
            }
        }
    }
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|r| !page.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "reasons missing from docs/operator-events.md: {missing:?}"
    );

    // Every backticked CamelCase word in the reason tables exists in the source.
    let invented: Vec<String> = page
        .lines()
        .filter(|l| l.starts_with('|'))
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && w.len() > 3)
        .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|w| !literals.contains(w))
        .collect();
    assert!(
        invented.is_empty(),
        "reasons on the page but not in the source: {invented:?}"
    );
}
