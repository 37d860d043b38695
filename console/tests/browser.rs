//! The console in a real browser: Debian's chromium driven by npm `playwright-core`
//! (`console/tests/browser/run.mjs`) against a real name server and broker. The script checks
//! that every page loads without an error and without horizontal overflow at 1280x800, clicks
//! through a topic creation and a DLQ resend, and prints what the pages show; this test
//! compares those figures with `mqadmin` and checks the clicked changes with `mqadmin` too.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`), `node`, and `npm ci` run in
//! `console/tests/browser`; without them it prints SKIPPED and passes, unless
//! `CONSOLE_BROWSER_REQUIRED=1` (as `.ci/run` sets) makes that a failure. Screenshots are left
//! in `target/tmp/console-screenshots/`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

const TOKEN: &str = "browser-token-5678";

fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} not found (apt-get install chromium)"));
    }
    let modules = browser_dir().join("node_modules/playwright-core");
    if !modules.exists() {
        return Some(format!(
            "{} missing (run `npm ci` in console/tests/browser)",
            modules.display()
        ));
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node not found".into());
    }
    None
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_chromium() {
    if let Some(why) = missing() {
        assert!(
            std::env::var("CONSOLE_BROWSER_REQUIRED").as_deref() != Ok("1"),
            "CONSOLE_BROWSER_REQUIRED=1 but {why}"
        );
        println!("SKIPPED: console browser test: {why}");
        return;
    }
    let c = Cluster::start().await;
    let s = populate(&c).await;
    let con = start_console(&c.ns_addr, Some(TOKEN), false).await;
    let ns = c.ns_addr.clone();
    let retry = format!("%RETRY%{}", s.group);
    let retry_before: i64 = mqadmin_topic_offsets(&ns, &retry)
        .await
        .values()
        .map(|(_, max)| max)
        .sum();
    // Figures to compare, read before the script changes anything.
    let offsets = mqadmin_topic_offsets(&ns, &s.topic).await;
    let (lag_rows, lag_total) = mqadmin_lag(&ns, &s.group).await;
    let cluster_list = mqadmin(&ns, &["clusterList"]).await.unwrap();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let out = tokio::process::Command::new("node")
        .arg("run.mjs")
        .current_dir(browser_dir())
        .env("CONSOLE_URL", format!("http://{}", con.addr()))
        .env("CONSOLE_TOKEN", TOKEN)
        .env("TOPIC", &s.topic)
        .env("GROUP", &s.group)
        .env("DLQ", &s.dlq)
        .env("NEW_TOPIC", "BrowserT")
        .env("SCREENSHOT_DIR", &shots)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed ({}); screenshots in {}\n{stdout}\n{stderr}",
        out.status,
        shots.display()
    );
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap();

    // Cluster page = clusterList: each broker's address and version.
    let brokers = result["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 1, "{result}");
    let line = cluster_list
        .lines()
        .find(|l| l.contains("broker-a"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(brokers[0]["broker"], "broker-a:0");
    assert_eq!(brokers[0]["addr"], f[3], "{line}");
    assert_eq!(brokers[0]["version"], f[4], "{line}");

    // Topic page = topicStatus: every queue's min and max offset.
    let shown: std::collections::BTreeMap<(String, i64), (i64, i64)> = result["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let (b, id) = q["queue"].as_str().unwrap().rsplit_once(':').unwrap();
            (
                (b.to_string(), id.parse().unwrap()),
                (q["min"].as_i64().unwrap(), q["max"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(shown, offsets);

    // Group pages = consumerProgress: the total in the list and the detail, and per queue.
    assert_eq!(result["groupLagInList"], lag_total);
    assert_eq!(result["groupLag"], lag_total);
    assert_eq!(lag_total, s.sent - s.consumed);
    let progress: std::collections::BTreeMap<(String, String, i64), i64> = result["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let key = q["queue"].as_str().unwrap();
            let mut parts = key.rsplitn(3, ':');
            let id = parts.next().unwrap().parse().unwrap();
            let broker = parts.next().unwrap().to_string();
            let topic = parts.next().unwrap().to_string();
            ((topic, broker, id), q["lag"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(progress, lag_rows);

    // What was clicked happened: the topic exists with 2 queues, holding the test message;
    // the DLQ message went to the retry topic.
    let created = mqadmin_topic_offsets(&ns, "BrowserT").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created.values().map(|(min, max)| max - min).sum::<i64>(), 1);
    let retry_after: i64 = mqadmin_topic_offsets(&ns, &retry)
        .await
        .values()
        .map(|(_, max)| max)
        .sum();
    assert_eq!(retry_after, retry_before + 1);

    con.shutdown().await;
    c.shutdown().await;
}
