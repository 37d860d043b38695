//! `docs/config-reference.md` is generated from the config types: every `broker.conf` key (from
//! `BrokerConfig`'s field docs, defaults and the `NOT_HONOURED` table), every `namesrv.conf` key
//! and the logging keys. This test fails when the file and the code disagree; regenerate with
//! `UPDATE_DOCS=1 cargo test -p broker --test config_reference`.

#![allow(clippy::unwrap_used)] // test code

use std::path::Path;

use broker::config::{BrokerConfig, NotHonoured, not_honoured};

/// `(key, doc)` pairs of a config source file: a field's `///` lines, then the line naming it.
/// `key_of` picks the key out of the doc and field lines.
fn field_docs(src: &str, key_of: impl Fn(&str, &str) -> Option<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_string());
            continue;
        }
        if !doc.is_empty() {
            let text = doc.join(" ");
            if let Some(k) = key_of(&text, t) {
                out.push((k, text));
            }
        }
        doc.clear();
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn render() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut md = String::from(
        "# Configuration reference\n\n\
         Generated from the config types by `broker/tests/config_reference.rs`; do not edit \
         (regenerate with `UPDATE_DOCS=1 cargo test -p broker --test config_reference`).\n\n\
         Files are Java properties (`key=value`), as in the Java distribution. `broker -c FILE -p` \
         and `namesrv -c FILE -p` print the effective configuration without starting. Unknown \
         keys are warned about and ignored; a value that does not parse is an error naming the \
         key.\n\n\
         **Honoured** says whether the broker acts on the key. A key marked *no effect* is \
         accepted (Java's files have it) but changes nothing here: a non-default value is \
         logged as a warning at start (by `broker` and `operator local`); *refused* means a \
         non-default value stops the broker, because believing it works would be unsafe.\n\n\
         ## broker.conf\n\n| key | default | honoured | meaning |\n|---|---|---|---|\n",
    );
    let src = std::fs::read_to_string(root.join("broker/src/config.rs")).unwrap();
    let docs = field_docs(&src, |_, field| {
        let start = field.find("= \"")? + 3;
        let end = start + field[start..].find('"')?;
        let key = &field[start..end];
        BrokerConfig::KEYS.contains(&key).then(|| key.to_string())
    });
    let defaults = BrokerConfig::default();
    // Defaults that depend on the machine are described, not printed.
    let machine = [
        "brokerName",
        "storePathRootDir",
        "sendMessageThreadPoolNums",
        "pullMessageThreadPoolNums",
    ];
    for key in BrokerConfig::KEYS {
        let doc = docs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no doc comment for {key}"));
        let default = if machine.contains(key) {
            "(see meaning)".to_string()
        } else {
            defaults
                .get(key)
                .map(|v| format!("`{v}`"))
                .unwrap_or_else(|| "unset".into())
        };
        let honoured = match not_honoured(key) {
            None => "yes".to_string(),
            Some((NotHonoured::Refused, why)) => format!("**refused**: {why}"),
            Some((NotHonoured::Warned, why)) => format!("no effect: {why}"),
        };
        md.push_str(&format!(
            "| `{key}` | {} | {} | {} |\n",
            cell(&default),
            cell(&honoured),
            cell(&doc)
        ));
    }

    md.push_str(
        "\n### Changing broker keys at run time\n\n\
         `mqadmin updateBrokerConfig` (UPDATE_BROKER_CONFIG) changes keys of a running broker \
         (`broker/src/state/runtime_config.rs`). The keys below take effect at once; the refused ones \
         never change remotely (NO_PERMISSION with the reason); every other key of the table \
         above is written to the config file (`brokerConfigPath`: the `-c` file, else \
         `<storePathRootDir>/config/broker.properties`) and takes effect at the next start. \
         Accepted keys are always written to that file, other lines kept; an update is all or \
         nothing. `getBrokerConfig` shows the values in effect.\n\n\
         | key | applied at once to |\n|---|---|\n",
    );
    for (k, where_) in broker::state::runtime_config::RUN_TIME_KEYS {
        md.push_str(&format!("| `{k}` | {} |\n", cell(where_)));
    }
    md.push_str("\n| key | refused remotely: |\n|---|---|\n");
    for (k, why) in broker::state::runtime_config::REFUSED_KEYS {
        md.push_str(&format!("| `{k}` | {} |\n", cell(why)));
    }

    md.push_str("\n## namesrv.conf\n\n| key | default | meaning |\n|---|---|---|\n");
    let src = std::fs::read_to_string(root.join("namesrv/src/config.rs")).unwrap();
    let docs = field_docs(&src, |doc, field| {
        if !field.starts_with("pub ") {
            return None;
        }
        let k = doc.strip_prefix('`')?;
        Some(k[..k.find('`')?].to_string())
    });
    let ns_defaults = namesrv::NamesrvConfig::default().to_properties();
    for (key, doc) in &docs {
        let default = if key.ends_with("Path") || key == "rocketmqHome" {
            "(see meaning)".to_string()
        } else {
            ns_defaults
                .get(key)
                .map(|v| format!("`{v}`"))
                .unwrap_or_else(|| "unset".into())
        };
        let meaning = doc
            .split_once(": ")
            .map(|(_, m)| m.to_string())
            .unwrap_or_else(|| doc.clone());
        md.push_str(&format!("| `{key}` | {default} | {} |\n", cell(&meaning)));
    }

    md.push_str(
        "\n## Logging keys (both files)\n\n\
         Taken out of the file before the server's own keys are read (see `docs/logging.md`). \
         The environment wins over the file: `RUST_LOG` over `logLevel`, `ROCKETMQ_LOG_DIR` over \
         `logDir`, `ROCKETMQ_LOG_FORMAT` over `logFormat`.\n\n\
         | key | default | meaning |\n|---|---|---|\n",
    );
    let src = std::fs::read_to_string(root.join("logging/src/lib.rs")).unwrap();
    let log_docs = field_docs(&src, |_, field| {
        let name = field.strip_prefix("pub ")?.split(':').next()?.to_string();
        Some(name)
    });
    let log_default = logging::LogSettings::default();
    for key in logging::KEYS {
        let (field, default) = match key {
            "logDir" => (
                "dir",
                "`~/logs/rocketmqlogs` (`none` or empty: no file)".to_string(),
            ),
            "logLevel" => ("level", format!("`{}`", log_default.level)),
            "logFormat" => ("format", "`text` (or `json`)".to_string()),
            "logMaxFileSize" => ("max_file_size", format!("`{}`", log_default.max_file_size)),
            "logMaxFiles" => ("max_files", format!("`{}`", log_default.max_files)),
            other => panic!("undocumented logging key {other}"),
        };
        let doc = log_docs
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        md.push_str(&format!("| `{key}` | {default} | {} |\n", cell(&doc)));
    }
    md
}

#[test]
fn config_reference_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config-reference.md");
    let want = render();
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date: run UPDATE_DOCS=1 cargo test -p broker --test config_reference",
        path.display()
    );
}

#[test]
fn every_not_honoured_key_is_a_real_key() {
    for (k, _, _) in broker::config::NOT_HONOURED {
        assert!(BrokerConfig::KEYS.contains(k), "{k}");
    }
}
