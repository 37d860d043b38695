//! Local-mode planning tests and a process test with stand-in binaries.

use std::collections::BTreeSet;
use std::time::Duration;

use ::broker::{BrokerConfig, BrokerRole};

use super::*;

fn example_plan(file: &str) -> ClusterPlan {
    let path = format!("{}/../deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let cr = load_cluster_file(Path::new(&path)).unwrap();
    validate::validate(cr.metadata.name.as_deref().unwrap(), "default", &cr.spec).unwrap()
}

#[test]
fn every_example_gets_distinct_ports_dirs_and_a_start_order() {
    for file in [
        "cluster-single-master.yaml",
        "cluster-2m-noslave.yaml",
        "cluster-2m-2s-async.yaml",
        "cluster-2m-2s-sync.yaml",
    ] {
        let plan = example_plan(file);
        let dir = Path::new("/tmp/x");
        let lp = plan_local(&plan, dir, 9876, 10911).unwrap();
        let n_ns = plan.namesrv.replicas as usize;
        let n_brokers: usize = plan.groups.iter().map(|g| g.members.len()).sum();
        assert_eq!(lp.processes.len(), n_ns + n_brokers, "{file}");
        // Every port a process uses (brokers: port-2, port, port+1) is distinct.
        let mut ports = BTreeSet::new();
        for p in &lp.processes {
            let used: Vec<u16> = match p.role {
                Role::NameServer => vec![p.port],
                _ => vec![p.port - 2, p.port, p.port + 1],
            };
            for u in used {
                assert!(ports.insert(u), "{file}: port {u} used twice");
            }
        }
        let dirs: BTreeSet<_> = lp.processes.iter().map(|p| p.dir.clone()).collect();
        assert_eq!(dirs.len(), lp.processes.len());
        // Start order: name servers, masters, slaves.
        let roles: Vec<Role> = lp.processes.iter().map(|p| p.role).collect();
        let mut sorted = roles.clone();
        sorted.sort_by_key(|r| match r {
            Role::NameServer => 0,
            Role::Master => 1,
            Role::Slave => 2,
            Role::Console => 3,
        });
        assert_eq!(roles, sorted, "{file}");
        let expected_addr: Vec<String> = (0..n_ns)
            .map(|i| format!("127.0.0.1:{}", 9876 + i))
            .collect();
        assert_eq!(lp.namesrv_addr, expected_addr.join(";"));
        // Broker configs come from the same plan and parse back with the broker's type.
        for p in lp.processes.iter().filter(|p| p.binary == "broker") {
            let (c, unknown) = BrokerConfig::from_properties_text(&p.config.1).unwrap();
            assert!(unknown.is_empty());
            assert_eq!(c.listen_port, p.port);
            assert_eq!(c.broker_ip1.as_deref(), Some("127.0.0.1"));
            assert_eq!(c.namesrv_addr.as_deref(), Some(lp.namesrv_addr.as_str()));
            assert_eq!(
                c.store_path_root_dir,
                p.dir.join("store").display().to_string()
            );
            let ord: i64 = p.name.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(c.broker_id, ord);
            assert_eq!(c.broker_role == BrokerRole::Slave, p.role == Role::Slave);
            assert_eq!(c.broker_role.is_master(), p.role == Role::Master);
            assert_eq!(
                p.args,
                vec!["-c".to_string(), p.config.0.display().to_string()]
            );
        }
        for p in lp.processes.iter().filter(|p| p.binary == "namesrv") {
            assert!(p.config.1.contains(&format!("listenPort={}", p.port)));
        }
    }
}

#[test]
fn ports_past_65535_are_refused() {
    let plan = example_plan("cluster-2m-2s-async.yaml");
    assert!(plan_local(&plan, Path::new("/tmp/x"), 65535, 10911).is_err());
    assert!(plan_local(&plan, Path::new("/tmp/x"), 9876, 65530).is_err());
}

/// Stand-in for `namesrv` and `broker`: listens on the config's listenPort, records its start in
/// `<bin>/../order.log`, and exits 0 on SIGTERM after recording that too.
const FAKE: &str = r#"#!/usr/bin/env python3
import os, signal, socket, sys
conf = dict(l.split('=', 1) for l in open(sys.argv[2]).read().splitlines() if '=' in l)
log = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))), 'order.log')
def term(*_):
    open(log, 'a').write('term %s\n' % os.getcwd()); sys.exit(0)
# The handler goes in before the port opens: the supervisor may stop a process as soon as its
# port answers, and a SIGTERM before the handler would kill it without the record.
signal.signal(signal.SIGTERM, term)
open(log, 'a').write('start %s\n' % os.getcwd())
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(conf['listenPort']))); s.listen(8)
while True:
    c, _ = s.accept(); c.close()
"#;

#[test]
fn restart_back_off_doubles_to_a_minute() {
    let secs: Vec<u64> = (1..=9).map(|n| restart_delay(n).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

/// A base with 200 free ports above it, below the kernel's ephemeral range (32768 and up by
/// default): a port handed out by the kernel is also where other tests' outgoing connections
/// get their local ports, and one of them took a stand-in's port between this pick and its bind.
fn free_port_base() -> u16 {
    let start = 20_000 + (std::process::id() % 60) as u16 * 200;
    (0..60u16)
        .map(|i| 20_000 + (start - 20_000 + i * 200) % 12_000)
        .find(|&base| {
            (base..base + 200).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .expect("200 free ports below 32000")
}

#[tokio::test]
async fn starts_in_order_and_stops_cleanly_with_sigterm() {
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_err()
    {
        eprintln!("python3 missing: skipping the stand-in process test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for b in ["namesrv", "broker"] {
        let p = bin.join(b);
        std::fs::write(&p, FAKE).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&p)
            .status()
            .unwrap();
    }
    let log = tmp.path().join("order.log");
    let plan = example_plan("cluster-2m-2s-async.yaml");
    let base = free_port_base();
    let lp = plan_local(&plan, &tmp.path().join("data"), base, base + 100).unwrap();
    let mut running = Vec::new();
    for p in &lp.processes {
        running.push(start(p, &bin, Duration::from_secs(20)).await.unwrap());
    }
    let started: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = lp
        .processes
        .iter()
        .map(|p| format!("start {}", p.dir.display()))
        .collect();
    assert_eq!(started, expected);
    stop_all(&mut running, Duration::from_secs(10)).await;
    assert!(running.is_empty());
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let terms: Vec<&String> = lines.iter().filter(|l| l.starts_with("term")).collect();
    // Every process got SIGTERM, in reverse start order (slaves, masters, name servers).
    let expected: Vec<String> = lp
        .processes
        .iter()
        .rev()
        .map(|p| format!("term {}", p.dir.display()))
        .collect();
    assert_eq!(terms, expected.iter().collect::<Vec<_>>());
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let base = std::fs::read_to_string(format!(
        "{}/../deploy/cluster-2m-2s-async.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(parse_cluster(&base).is_ok());
    let typo = base.replace("replicas: 2", "replica: 2");
    let err = parse_cluster(&typo).unwrap_err();
    assert!(err.contains("spec.nameServer.replica"), "{err}");
    let deep = base.replace("size: 20Gi", "size: 20Gi\n      sise: 1Gi");
    let err = parse_cluster(&deep).unwrap_err();
    assert!(err.contains("spec.broker.storage.sise"), "{err}");
    let top = format!("{base}\nspce: {{}}\n");
    let err = parse_cluster(&top).unwrap_err();
    assert!(err.contains("spce"), "{err}");
    // Free-form maps (broker config keys) are not fields.
    let free = base.replace(
        "deleteWhen: \"04\"",
        "deleteWhen: \"04\"\n      anyKey: \"1\"",
    );
    assert!(parse_cluster(&free).is_ok());
}

#[test]
fn local_brokers_get_small_segments_unless_the_file_sets_them() {
    let plan = example_plan("cluster-2m-2s-async.yaml");
    let lp = plan_local(&plan, Path::new("/tmp/x"), 9876, 10911).unwrap();
    for p in lp.processes.iter().filter(|p| p.binary == "broker") {
        let (c, _) = BrokerConfig::from_properties_text(&p.config.1).unwrap();
        let (_, mut all) = (0, c.to_properties());
        all.retain(|ch| ch != ' ');
        assert!(
            all.contains(&format!(
                "mappedFileSizeCommitLog={LOCAL_COMMIT_LOG_SEGMENT}"
            )),
            "{all}"
        );
    }
    let mut plan = plan;
    plan.extra_config
        .insert("mapedFileSizeCommitLog".into(), "1073741824".into());
    let lp = plan_local(&plan, Path::new("/tmp/x"), 9876, 10911).unwrap();
    for p in lp.processes.iter().filter(|p| p.binary == "broker") {
        assert!(
            p.config.1.contains("mappedFileSizeCommitLog=1073741824"),
            "{}",
            p.config.1
        );
    }
}
