//! Build tests from the example cluster files in `deploy/`.

use std::collections::BTreeMap;

use ::broker::{BrokerConfig, BrokerRole, FlushDiskType};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;
use crate::local::parse_cluster;
use crate::validate::validate;

fn example(file: &str) -> (ClusterPlan, Children) {
    let path = format!("{}/../deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let cr = parse_cluster(&text).unwrap();
    let plan = validate(cr.metadata.name.as_deref().unwrap(), "rmq", &cr.spec).unwrap();
    let children = build(&plan, &owner(), &Partitions::new()).unwrap();
    (plan, children)
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "rocketmq.rocketmq-rs.io/v1alpha1".into(),
        kind: "RocketMQCluster".into(),
        name: "x".into(),
        uid: "uid-1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn container(sts: &StatefulSet) -> &Container {
    &sts.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

/// The config revision of broker group `name` (or the ConfigMap called `name`).
fn cm<'a>(c: &'a Children, name: &str) -> &'a ConfigMap {
    c.config_maps
        .iter()
        .find(|m| m.metadata.name.as_deref() == Some(name))
        .or_else(|| {
            c.config_maps.iter().find(|m| {
                m.metadata.name.as_deref().is_some_and(|n| {
                    n.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|h| h.len() == 10 && h.chars().all(|c| c.is_ascii_hexdigit()))
                })
            })
        })
        .unwrap()
}

/// What a pod's broker.conf becomes after the entrypoint appended brokerIP1, parsed by the
/// broker's own config type.
fn pod_conf(c: &Children, group: &str, ordinal: u32, ip1: &str) -> BrokerConfig {
    let text = &cm(c, group).data.as_ref().unwrap()[&names::broker_conf_key(ordinal)];
    // The entrypoint sets brokerId to the ordinal.
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("brokerId=") {
                format!("brokerId={ordinal}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let full = format!("{text}brokerIP1={ip1}\n");
    let (conf, unknown) = BrokerConfig::from_properties_text(&full).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    conf
}

struct Expect {
    file: &'static str,
    name: &'static str,
    groups: usize,
    slaves: u32,
    master_role: BrokerRole,
    flush: FlushDiskType,
    dns: bool,
    namesrv_replicas: i32,
}

const EXAMPLES: &[Expect] = &[
    Expect {
        file: "cluster-single-master.yaml",
        name: "single",
        groups: 1,
        slaves: 0,
        master_role: BrokerRole::AsyncMaster,
        flush: FlushDiskType::AsyncFlush,
        dns: false,
        namesrv_replicas: 1,
    },
    Expect {
        file: "cluster-2m-noslave.yaml",
        name: "noslave",
        groups: 2,
        slaves: 0,
        master_role: BrokerRole::AsyncMaster,
        flush: FlushDiskType::AsyncFlush,
        dns: false,
        namesrv_replicas: 2,
    },
    Expect {
        file: "cluster-2m-2s-async.yaml",
        name: "async",
        groups: 2,
        slaves: 1,
        master_role: BrokerRole::AsyncMaster,
        flush: FlushDiskType::AsyncFlush,
        dns: false,
        namesrv_replicas: 2,
    },
    Expect {
        file: "cluster-2m-2s-sync.yaml",
        name: "sync",
        groups: 2,
        slaves: 1,
        master_role: BrokerRole::SyncMaster,
        flush: FlushDiskType::SyncFlush,
        dns: true,
        namesrv_replicas: 2,
    },
];

#[test]
fn every_example_builds_a_correctly_wired_cluster() {
    for e in EXAMPLES {
        let (plan, c) = example(e.file);
        let ctx = e.file;
        assert_eq!(c.stateful_sets.len(), e.groups, "{ctx}");
        assert_eq!(c.deployments.len(), 1, "{ctx}");
        assert_eq!(c.services.len(), 2 + e.groups, "{ctx}");
        let broker_pdbs = if e.slaves == 0 { 1 } else { e.groups };
        assert_eq!(c.pdbs.len(), 1 + broker_pdbs, "{ctx}");
        assert_eq!(c.config_maps.len(), 1 + e.groups, "{ctx}");

        // Owner references and recommended labels on everything.
        let metas = c
            .config_maps
            .iter()
            .map(|o| &o.metadata)
            .chain(c.services.iter().map(|o| &o.metadata))
            .chain(c.pdbs.iter().map(|o| &o.metadata))
            .chain(c.deployments.iter().map(|o| &o.metadata))
            .chain(c.stateful_sets.iter().map(|o| &o.metadata));
        for m in metas {
            assert_eq!(
                m.owner_references.as_deref(),
                Some(&[owner()][..]),
                "{ctx} {:?}",
                m.name
            );
            assert_eq!(m.namespace.as_deref(), Some("rmq"));
            let l = m.labels.as_ref().unwrap();
            for k in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/version",
            ] {
                assert!(l.contains_key(k), "{ctx} {:?} lacks {k}", m.name);
            }
        }

        // Name server: Deployment with replicas, headless + client Service.
        let d = c.deployments[0].spec.as_ref().unwrap();
        assert_eq!(d.replicas, Some(e.namesrv_replicas));
        let hl = c
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&*format!("{}-namesrv-hl", e.name)))
            .unwrap();
        assert_eq!(
            hl.spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some("None")
        );
        let nsc = &d.template.spec.as_ref().unwrap().containers[0];
        assert!(nsc.readiness_probe.is_some() && nsc.liveness_probe.is_some());
        assert_eq!(nsc.ports.as_ref().unwrap()[0].container_port, 9876);

        for g in 0..e.groups {
            let gname = format!("{}-broker-{g}", e.name);
            let sts = c
                .stateful_sets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(&*gname))
                .unwrap();
            let spec = sts.spec.as_ref().unwrap();
            assert_eq!(spec.replicas, Some(1 + e.slaves as i32), "{ctx}");
            assert_eq!(spec.service_name.as_deref(), Some(&*gname));
            assert_eq!(
                spec.update_strategy
                    .as_ref()
                    .unwrap()
                    .rolling_update
                    .as_ref()
                    .unwrap()
                    .partition,
                Some(0)
            );
            // PVCs: a claim template of the spec's size, kept on deletion by default.
            let claims = spec.volume_claim_templates.as_ref().unwrap();
            assert_eq!(
                claims[0].metadata.name.as_deref(),
                Some(names::STORE_VOLUME)
            );
            let req = claims[0]
                .spec
                .as_ref()
                .unwrap()
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap();
            assert_eq!(req["storage"].0, plan.storage.size);
            let ret = spec
                .persistent_volume_claim_retention_policy
                .as_ref()
                .unwrap();
            assert_eq!(ret.when_deleted.as_deref(), Some("Retain"));
            // PDB maxUnavailable 1: per group when groups have slaves; one over every master
            // of a masters-only cluster (a drain never stops two groups at once).
            let pdb_name = if e.slaves == 0 {
                names::broker_pdb_all(e.name)
            } else {
                gname.clone()
            };
            let pdb = c
                .pdbs
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(&*pdb_name))
                .unwrap()
                .spec
                .as_ref()
                .unwrap();
            assert_eq!(
                pdb.max_unavailable,
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
            );
            let sel = pdb
                .selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap();
            if e.slaves == 0 {
                assert!(!sel.contains_key(names::GROUP_LABEL));
                assert_eq!(sel["app.kubernetes.io/component"], "broker");
                assert!(
                    !c.pdbs
                        .iter()
                        .any(|p| p.metadata.name.as_deref() == Some(&*gname))
                );
            } else {
                assert_eq!(sel[names::GROUP_LABEL], g.to_string());
            }
            // Container: ports, probes, brokerIP1 source, graceful termination.
            let ct = container(sts);
            let ports: BTreeMap<_, _> = ct
                .ports
                .as_ref()
                .unwrap()
                .iter()
                .map(|p| (p.name.clone().unwrap(), p.container_port))
                .collect();
            assert_eq!(
                ports,
                [
                    ("remoting".into(), 10911),
                    ("ha".into(), 10912),
                    ("metrics".into(), 5557)
                ]
                .into()
            );
            assert!(ct.readiness_probe.as_ref().unwrap().tcp_socket.is_some());
            assert!(ct.liveness_probe.as_ref().unwrap().tcp_socket.is_some());
            let env: BTreeMap<_, _> = ct
                .env
                .as_ref()
                .unwrap()
                .iter()
                .map(|v| (v.name.clone(), v.clone()))
                .collect();
            let pod_ip = env["POD_IP"]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap();
            assert_eq!(pod_ip.field_path, "status.podIP");
            assert_eq!(
                env["ADVERTISE"].value.as_deref(),
                Some(if e.dns { "podDNS" } else { "podIP" })
            );
            assert_eq!(
                spec.template
                    .spec
                    .as_ref()
                    .unwrap()
                    .termination_grace_period_seconds,
                Some(60)
            );
            assert!(
                spec.template
                    .metadata
                    .as_ref()
                    .unwrap()
                    .annotations
                    .as_ref()
                    .unwrap()
                    .contains_key(names::CONFIG_HASH_ANNOTATION)
            );

            // Per pod: brokerId, brokerRole, namesrvAddr, ports, parsed back by the broker.
            for ord in 0..=e.slaves {
                let conf = pod_conf(&c, &gname, ord, "10.1.2.3");
                assert_eq!(conf.broker_id, i64::from(ord), "{ctx} {gname}-{ord}");
                assert_eq!(
                    conf.broker_role,
                    if ord == 0 {
                        e.master_role
                    } else {
                        BrokerRole::Slave
                    }
                );
                assert_eq!(conf.broker_name, gname);
                assert_eq!(conf.broker_ip1.as_deref(), Some("10.1.2.3"));
                assert_eq!(
                    conf.namesrv_addr.as_deref(),
                    Some(&*format!("{}-namesrv-hl.rmq.svc:9876", e.name))
                );
                assert_eq!(conf.listen_port, 10911);
                assert_eq!(conf.ha_listen_port(), 10912);
                assert_eq!(conf.flush_disk_type, e.flush);
                assert_eq!(conf.store_path_root_dir, names::STORE_DIR);
            }
            // The same keys whatever the slave count: adding a slave changes no config revision.
            let keys: Vec<&String> = cm(&c, &gname).data.as_ref().unwrap().keys().collect();
            assert_eq!(
                keys,
                vec!["broker-master.conf", "broker-slave.conf", "entrypoint.sh"]
            );
        }
    }
}

#[test]
fn extra_config_keys_reach_broker_conf() {
    let (_, c) = example("cluster-2m-2s-async.yaml");
    let conf = pod_conf(&c, "async-broker-1", 1, "10.0.0.9");
    assert_eq!(conf.file_reserved_time, 48);
    assert!(!conf.auto_create_topic_enable);
}

#[test]
fn building_twice_gives_identical_objects_and_changes_roll_the_hash() {
    let (plan, a) = example("cluster-2m-2s-async.yaml");
    let b = build(&plan, &owner(), &Partitions::new()).unwrap();
    assert_eq!(a, b);
    let hash = |c: &Children| {
        c.stateful_sets[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[names::CONFIG_HASH_ANNOTATION]
            .clone()
    };
    let mut p2 = plan.clone();
    p2.extra_config
        .insert("fileReservedTime".into(), "24".into());
    assert_ne!(
        hash(&a),
        hash(&build(&p2, &owner(), &Partitions::new()).unwrap())
    );
    let mut p3 = plan;
    p3.image = "rocketmq-rs:0.2".into();
    assert_ne!(
        hash(&a),
        hash(&build(&p3, &owner(), &Partitions::new()).unwrap())
    );
}

#[test]
fn ephemeral_storage_and_claim_deletion() {
    let (mut plan, _) = example("cluster-single-master.yaml");
    plan.storage.ephemeral = true;
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let spec = c.stateful_sets[0].spec.as_ref().unwrap();
    assert!(spec.volume_claim_templates.is_none());
    let vols = spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .as_ref()
        .unwrap();
    assert!(
        vols.iter()
            .any(|v| v.name == names::STORE_VOLUME && v.empty_dir.is_some())
    );
    plan.storage.ephemeral = false;
    plan.storage.delete_claims_on_deletion = true;
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let ret = c.stateful_sets[0]
        .spec
        .as_ref()
        .unwrap()
        .persistent_volume_claim_retention_policy
        .clone()
        .unwrap();
    assert_eq!(ret.when_deleted.as_deref(), Some("Delete"));
}

/// A group ConfigMap's entrypoint made runnable here: its files in `dir/conf`, the roles
/// directory at `dir/roles`, the container paths moved into `dir`, `broker` replaced by `cat`.
fn sandbox(data: &BTreeMap<String, String>, dir: &std::path::Path) -> String {
    let (conf_dir, roles_dir, run_dir, bin_dir) = (
        dir.join("conf"),
        dir.join("roles"),
        dir.join("run"),
        dir.join("bin"),
    );
    for d in [&conf_dir, &roles_dir, &bin_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    for (k, v) in data {
        std::fs::write(conf_dir.join(k), v).unwrap();
    }
    std::fs::write(
        bin_dir.join("broker"),
        "#!/bin/sh\n[ \"$1\" = -c ] && cat \"$2\"\n",
    )
    .unwrap();
    data[names::ENTRYPOINT_KEY]
        .replace(names::ROLES_DIR, roles_dir.to_str().unwrap())
        .replace(names::CONFIG_DIR, conf_dir.to_str().unwrap())
        .replace(names::RUN_DIR, run_dir.to_str().unwrap())
        .replace(names::BIN_DIR, bin_dir.to_str().unwrap())
        .replace("exec ", "exec /bin/sh ")
}

/// Runs a [`sandbox`]ed entrypoint as pod `pod` of group `group`: the broker.conf it would
/// start the broker with, and its stderr.
fn run_entrypoint(script: &str, pod: &str, group: &str, adv: &str) -> (BrokerConfig, String) {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env("POD_NAME", pod)
        .env("POD_NAMESPACE", "rmq")
        .env("POD_IP", "10.244.1.7")
        .env("GROUP_SERVICE", group)
        .env("ADVERTISE", adv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let body: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("starting broker"))
        .map(|l| format!("{l}\n"))
        .collect();
    (BrokerConfig::from_properties_text(&body).unwrap().0, stderr)
}

/// Runs the real entrypoint script with /bin/sh against the rendered ConfigMap (paths moved into a
/// tempdir, `broker` replaced by `cat`): the ordinal in the pod name picks the id and role, and
/// brokerIP1 comes from POD_IP or the pod DNS name.
#[test]
fn entrypoint_picks_config_by_ordinal_and_appends_broker_ip1() {
    let (_, c) = example("cluster-2m-2s-sync.yaml");
    let dir = tempfile::tempdir().unwrap();
    let script = sandbox(cm(&c, "sync-broker-1").data.as_ref().unwrap(), dir.path());
    let run = |pod: &str, adv: &str| run_entrypoint(&script, pod, "sync-broker-1", adv).0;
    let slave = run("sync-broker-1-1", "podDNS");
    assert_eq!((slave.broker_id, slave.broker_role), (1, BrokerRole::Slave));
    assert_eq!(
        slave.broker_ip1.as_deref(),
        Some("sync-broker-1-1.sync-broker-1.rmq.svc")
    );
    let master = run("sync-broker-1-0", "podIP");
    assert_eq!(
        (master.broker_id, master.broker_role),
        (0, BrokerRole::SyncMaster)
    );
    assert_eq!(master.broker_ip1.as_deref(), Some("10.244.1.7"));
    // A slave with any ordinal gets the slave config with its own brokerId (adding slaves
    // needs no new config revision).
    let third = run("sync-broker-1-5", "podIP");
    assert_eq!((third.broker_id, third.broker_role), (5, BrokerRole::Slave));
    // A pod name without an ordinal fails loudly instead of starting a mis-identified broker.
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env("POD_NAME", "sync-broker-x")
        .env("POD_IP", "1.2.3.4")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Pod Security Standards "restricted" (v1.32) rules that a pod spec can break, plus the
/// read-only root filesystem this project asks for. Returns every violation.
pub(crate) fn restricted_violations(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<String> {
    let mut v = Vec::new();
    let psc = spec.security_context.clone().unwrap_or_default();
    if spec.host_network == Some(true) || spec.host_pid == Some(true) || spec.host_ipc == Some(true)
    {
        v.push("host namespaces".to_string());
    }
    for vol in spec.volumes.iter().flatten() {
        let allowed = vol.config_map.is_some()
            || vol.csi.is_some()
            || vol.downward_api.is_some()
            || vol.empty_dir.is_some()
            || vol.ephemeral.is_some()
            || vol.persistent_volume_claim.is_some()
            || vol.projected.is_some()
            || vol.secret.is_some();
        if !allowed {
            v.push(format!("volume {} has a restricted type", vol.name));
        }
    }
    let pod_seccomp_ok = psc
        .seccomp_profile
        .as_ref()
        .is_some_and(|s| s.type_ == "RuntimeDefault" || s.type_ == "Localhost");
    if psc.run_as_user == Some(0) {
        v.push("pod runAsUser 0".to_string());
    }
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        let sc = c.security_context.clone().unwrap_or_default();
        let n = &c.name;
        if sc.privileged == Some(true) {
            v.push(format!("{n}: privileged"));
        }
        if sc.allow_privilege_escalation != Some(false) {
            v.push(format!("{n}: allowPrivilegeEscalation must be false"));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            v.push(format!("{n}: capabilities must drop ALL"));
        }
        if caps.add.iter().flatten().any(|a| a != "NET_BIND_SERVICE") {
            v.push(format!("{n}: adds capabilities"));
        }
        if sc.run_as_non_root != Some(true) && psc.run_as_non_root != Some(true) {
            v.push(format!("{n}: runAsNonRoot must be true"));
        }
        if sc.run_as_user == Some(0) {
            v.push(format!("{n}: runAsUser 0"));
        }
        let seccomp_ok = match &sc.seccomp_profile {
            Some(s) => s.type_ == "RuntimeDefault" || s.type_ == "Localhost",
            None => pod_seccomp_ok,
        };
        if !seccomp_ok {
            v.push(format!(
                "{n}: seccompProfile must be RuntimeDefault or Localhost"
            ));
        }
        if sc.read_only_root_filesystem != Some(true) {
            v.push(format!("{n}: readOnlyRootFilesystem must be true"));
        }
        for p in c.ports.iter().flatten() {
            if p.host_port.is_some_and(|h| h != 0) {
                v.push(format!("{n}: hostPort"));
            }
        }
    }
    v
}

#[test]
fn broker_and_name_server_pods_pass_pod_security_restricted() {
    for e in EXAMPLES {
        let (_, c) = example(e.file);
        for sts in &c.stateful_sets {
            let spec = sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
            assert_eq!(
                restricted_violations(spec),
                Vec::<String>::new(),
                "{}",
                e.file
            );
        }
        for d in &c.deployments {
            let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
            assert_eq!(
                restricted_violations(spec),
                Vec::<String>::new(),
                "{}",
                e.file
            );
        }
    }
    // The checker itself refuses a default (unhardened) pod.
    let bare = k8s_openapi::api::core::v1::PodSpec {
        containers: vec![Container {
            name: "x".into(),
            ..Container::default()
        }],
        ..Default::default()
    };
    assert_eq!(restricted_violations(&bare).len(), 5);
}

/// With a read-only root filesystem every path the processes write must be a volume: the
/// broker's store, the entrypoint's run dir, `$HOME` (the name server's kvConfig.json, any
/// `~/` default) and `/tmp`.
#[test]
fn every_written_path_is_a_writable_volume() {
    let (plan, c) = example("cluster-2m-2s-async.yaml");
    let writable = |ct: &Container| -> Vec<String> {
        ct.volume_mounts
            .iter()
            .flatten()
            .filter(|m| m.read_only != Some(true))
            .map(|m| m.mount_path.clone())
            .collect()
    };
    let home = |ct: &Container| {
        ct.env
            .iter()
            .flatten()
            .find(|e| e.name == "HOME")
            .and_then(|e| e.value.clone())
    };
    let broker = container(&c.stateful_sets[0]);
    let w = writable(broker);
    for path in [
        names::STORE_DIR,
        names::RUN_DIR,
        names::HOME_DIR,
        names::TMP_DIR,
    ] {
        assert!(w.iter().any(|m| m == path), "{path} not writable: {w:?}");
    }
    assert_eq!(home(broker).as_deref(), Some(names::HOME_DIR));
    // The broker's store root is on the store volume.
    let conf = pod_conf(&c, &plan.groups[0].broker_name, 0, "10.0.0.1");
    assert!(conf.store_path_root_dir.starts_with(names::STORE_DIR));
    let ns = &c.deployments[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let w = writable(ns);
    assert!(w.iter().any(|m| m == names::HOME_DIR), "{w:?}");
    assert_eq!(home(ns).as_deref(), Some(names::HOME_DIR));
}

/// Every declared container port is one the process listens on: the broker binds listenPort,
/// haListenPort (no fast channel) and its metrics port, the name server its listenPort and its
/// metrics port; the broker Service names the first two.
#[test]
fn declared_ports_are_the_ports_the_processes_serve() {
    for e in EXAMPLES {
        let (plan, c) = example(e.file);
        let conf = pod_conf(&c, &plan.groups[0].broker_name, 0, "10.0.0.1");
        let mut served = vec![
            i32::from(conf.listen_port),
            i32::from(conf.ha_listen_port()),
        ];
        served.sort();
        assert_eq!(
            conf.metrics_exporter_type,
            ::broker::MetricsExporterType::Prom
        );
        let mut served_by_pod = served.clone();
        served_by_pod.push(i32::from(conf.metrics_prom_exporter_port));
        served_by_pod.sort();
        let mut declared: Vec<i32> = container(&c.stateful_sets[0])
            .ports
            .iter()
            .flatten()
            .map(|p| p.container_port)
            .collect();
        declared.sort();
        assert_eq!(declared, served_by_pod, "{}", e.file);
        for s in c
            .services
            .iter()
            .filter(|s| s.metadata.name.as_deref() == Some(plan.groups[0].broker_name.as_str()))
        {
            let mut ports: Vec<i32> = s
                .spec
                .as_ref()
                .unwrap()
                .ports
                .iter()
                .flatten()
                .map(|p| p.port)
                .collect();
            ports.sort();
            assert_eq!(ports, served, "{}", e.file);
        }
        let ns = &c.deployments[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        let ns_conf =
            &cm(&c, &names::namesrv(&plan.name)).data.as_ref().unwrap()[names::NAMESRV_CONF_KEY];
        let port: Vec<i32> = ns
            .ports
            .iter()
            .flatten()
            .map(|p| p.container_port)
            .collect();
        let ns_keys = remoting::properties::parse(ns_conf);
        assert_eq!(ns_keys["listenPort"], port[0].to_string());
        assert_eq!(ns_keys["metricsExporterType"], "PROM");
        assert_eq!(ns_keys["metricsPromExporterPort"], port[1].to_string());
        assert_eq!(port.len(), 2);
    }
}

/// A change of one role restarts only that role: name server settings leave every broker
/// template alone, broker settings leave the name server template alone, and adding a slave
/// changes no broker template.
#[test]
fn a_change_of_one_role_restarts_only_that_role() {
    let (plan, base) = example("cluster-2m-2s-async.yaml");
    let build_with = |f: &dyn Fn(&mut ClusterPlan)| {
        let mut p = plan.clone();
        f(&mut p);
        build(&p, &owner(), &Partitions::new()).unwrap()
    };
    let broker_tpls = |c: &Children| -> Vec<String> {
        c.stateful_sets
            .iter()
            .map(|s| serde_json::to_string(&s.spec.as_ref().unwrap().template).unwrap())
            .collect()
    };
    let ns_tpl = |c: &Children| {
        serde_json::to_string(&c.deployments[0].spec.as_ref().unwrap().template).unwrap()
    };
    // Name server replicas and resources.
    let c = build_with(&|p| {
        p.namesrv.replicas = 5;
        p.namesrv.resources = Some(Default::default());
    });
    assert_eq!(broker_tpls(&c), broker_tpls(&base));
    // Broker config and resources.
    let c = build_with(&|p| {
        p.extra_config.insert("deleteWhen".into(), "03".into());
        p.broker_resources = Some(Default::default());
    });
    assert_eq!(ns_tpl(&c), ns_tpl(&base));
    assert_ne!(broker_tpls(&c), broker_tpls(&base));
    // Adding a slave: same templates, same config revisions, one more replica.
    let c = build_with(&|p| {
        for g in &mut p.groups {
            g.members.push(crate::plan::MemberPlan {
                ordinal: 2,
                broker_id: 2,
                role: BrokerRole::Slave,
            });
        }
    });
    assert_eq!(broker_tpls(&c), broker_tpls(&base));
    assert_eq!(c.config_maps, base.config_maps);
    assert_eq!(c.stateful_sets[0].spec.as_ref().unwrap().replicas, Some(3));
}

/// The default image is the operator's own version, which is the chart's appVersion; no example
/// or default uses `latest`.
#[test]
fn image_defaults_are_pinned_to_the_chart_app_version() {
    let chart = std::fs::read_to_string(format!(
        "{}/../charts/rocketmq-operator/Chart.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let app: serde_yaml::Value = serde_yaml::from_str(&chart).unwrap();
    let app = app["appVersion"].as_str().unwrap();
    assert_eq!(crate::crd::DEFAULT_IMAGE, format!("rocketmq-rs:{app}"));
    let spec: crate::crd::RocketMQClusterSpec = serde_json::from_str("{}").unwrap();
    assert_eq!(spec.image, crate::crd::DEFAULT_IMAGE);
    for e in EXAMPLES {
        let (plan, _) = example(e.file);
        assert!(
            !plan.image.ends_with(":latest"),
            "{}: {}",
            e.file,
            plan.image
        );
        assert_eq!(plan.version, app, "{}", e.file);
    }
}

/// The operator Deployment of `deploy/operator.yaml` (rendered from the chart) passes the same
/// restricted check.
#[test]
fn the_operator_deployment_passes_pod_security_restricted() {
    let text = std::fs::read_to_string(format!(
        "{}/../deploy/operator.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut found = 0;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"].as_str() != Some("Deployment") {
            continue;
        }
        let d: k8s_openapi::api::apps::v1::Deployment = serde_yaml::from_value(v).unwrap();
        let spec = d.spec.unwrap().template.spec.unwrap();
        assert_eq!(restricted_violations(&spec), Vec::<String>::new());
        found += 1;
    }
    assert_eq!(found, 1);
}

#[test]
fn console_is_off_by_default_and_built_when_enabled() {
    let (mut plan, children) = example("cluster-2m-2s-async.yaml");
    let named = |c: &Children, n: &str| {
        (
            c.deployments
                .iter()
                .find(|d| d.metadata.name.as_deref() == Some(n))
                .cloned(),
            c.services
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(n))
                .cloned(),
        )
    };
    let console_name = names::console(&plan.name);
    assert_eq!(named(&children, &console_name), (None, None));

    plan.console = crate::crd::ConsoleSpec {
        enabled: true,
        token_secret: Some("console-token".into()),
        read_only: false,
    };
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let (dep, svc) = named(&c, &console_name);
    let (dep, svc) = (dep.unwrap(), svc.unwrap());
    let pod = dep.spec.unwrap().template.spec.unwrap();
    let ct = &pod.containers[0];
    let ns = format!(
        "{}:{}",
        names::namesrv_service(&plan.name),
        plan.namesrv.port
    );
    assert_eq!(
        ct.command.clone().unwrap(),
        [
            "/usr/local/bin/console",
            "-n",
            &ns,
            "--port",
            "8180",
            "--token-file",
            "/etc/rocketmq-console/token"
        ]
    );
    assert_eq!(
        ct.security_context
            .as_ref()
            .unwrap()
            .read_only_root_filesystem,
        Some(true)
    );
    let secret = pod
        .volumes
        .unwrap()
        .into_iter()
        .find_map(|v| v.secret)
        .unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("console-token"));
    let spec = svc.spec.unwrap();
    assert_eq!(spec.ports.unwrap()[0].port, 8180);
    assert_eq!(
        spec.selector.unwrap()["app.kubernetes.io/component"],
        "console"
    );

    // Read-only, without a Secret: no token flag, no secret volume.
    plan.console = crate::crd::ConsoleSpec {
        enabled: true,
        token_secret: None,
        read_only: true,
    };
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let pod = named(&c, &console_name)
        .0
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let cmd = pod.containers[0].command.clone().unwrap();
    assert!(cmd.contains(&"--read-only".to_string()), "{cmd:?}");
    assert!(!cmd.contains(&"--token-file".to_string()), "{cmd:?}");
    assert!(pod.volumes.unwrap().iter().all(|v| v.secret.is_none()));
}

#[test]
fn a_cluster_file_with_a_console_parses() {
    let text = "apiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQCluster\nmetadata:\n  name: web\nspec:\n  console:\n    enabled: true\n    tokenSecret: web-console\n";
    let cr = parse_cluster(text).unwrap();
    assert!(cr.spec.console.enabled);
    assert_eq!(cr.spec.console.token_secret.as_deref(), Some("web-console"));
    let typo = text.replace("tokenSecret", "tokenSecrt");
    assert!(
        parse_cluster(&typo)
            .unwrap_err()
            .contains("spec.console.tokenSecrt")
    );
}

/// The broker's metrics port follows `spec.broker.config`: another port is declared as such,
/// and `metricsExporterType=DISABLE` declares none (a monitor would scrape a closed port).
#[test]
fn the_metrics_port_follows_the_broker_config() {
    let (plan, _) = example("cluster-2m-2s-async.yaml");
    let ports = |p: &ClusterPlan| -> BTreeMap<String, i32> {
        let c = build(p, &owner(), &Partitions::new()).unwrap();
        container(&c.stateful_sets[0])
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.container_port))
            .collect()
    };
    let mut other = plan.clone();
    other
        .extra_config
        .insert("metricsPromExporterPort".into(), "9100".into());
    assert_eq!(ports(&other).get("metrics"), Some(&9100));
    let c = build(&other, &owner(), &Partitions::new()).unwrap();
    let conf = pod_conf(&c, &other.groups[0].broker_name, 0, "10.0.0.1");
    assert_eq!(conf.metrics_prom_exporter_port, 9100);
    let mut off = plan.clone();
    off.extra_config
        .insert("metricsExporterType".into(), "DISABLE".into());
    assert_eq!(ports(&off).get("metrics"), None);
    let c = build(&off, &owner(), &Partitions::new()).unwrap();
    let conf = pod_conf(&c, &off.groups[0].broker_name, 0, "10.0.0.1");
    assert_eq!(
        conf.metrics_exporter_type,
        ::broker::MetricsExporterType::Disable
    );
}

/// `spec.security`: each Secret is mounted read-only (whole directory, so updates reach the
/// pod), the keys it owns point at the mounted files, and the name servers get TLS only.
#[test]
fn security_secrets_are_mounted_and_the_conf_points_at_them() {
    let text = "apiVersion: rocketmq.rocketmq-rs.io/v1alpha1\nkind: RocketMQCluster\nmetadata:\n  name: sec\nspec:\n  broker:\n    replicasPerGroup: 1\n  security:\n    tls:\n      secretName: sec-tls\n      clientAuth: Require\n    acl:\n      secretName: sec-acl\n    haAuth:\n      secretName: sec-ha\n      key: password\n";
    let cr = parse_cluster(text).unwrap();
    let plan = validate("sec", "ns", &cr.spec).unwrap();
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let sts = &c.stateful_sets[0];
    let pod = sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let secret_of = |vol: &str| {
        let v = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == vol)
            .unwrap_or_else(|| panic!("no volume {vol}"));
        assert!(v.config_map.is_none());
        let s = v.secret.clone().unwrap();
        let items: Vec<(String, String)> = s
            .items
            .unwrap()
            .into_iter()
            .map(|i| (i.key, i.path))
            .collect();
        (s.secret_name.unwrap(), items)
    };
    assert_eq!(
        secret_of("tls"),
        (
            "sec-tls".to_string(),
            vec![
                ("tls.crt".into(), "tls.crt".into()),
                ("tls.key".into(), "tls.key".into()),
                ("ca.crt".into(), "ca.crt".into())
            ]
        )
    );
    assert_eq!(
        secret_of("acl"),
        (
            "sec-acl".to_string(),
            vec![("plain_acl.yml".into(), "plain_acl.yml".into())]
        )
    );
    assert_eq!(
        secret_of("ha-auth"),
        (
            "sec-ha".to_string(),
            vec![("password".into(), "secret".into())]
        )
    );
    let mounts: BTreeMap<String, (String, Option<bool>, Option<String>)> = container(sts)
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            (
                m.name.clone(),
                (m.mount_path.clone(), m.read_only, m.sub_path.clone()),
            )
        })
        .collect();
    assert_eq!(mounts["tls"], (names::TLS_DIR.into(), Some(true), None));
    assert_eq!(mounts["acl"], (names::ACL_DIR.into(), Some(true), None));
    assert_eq!(
        mounts["ha-auth"],
        (names::HA_AUTH_DIR.into(), Some(true), None)
    );
    for ordinal in [0, 1] {
        let conf = pod_conf(&c, &plan.groups[0].broker_name, ordinal, "10.0.0.1");
        assert!(conf.acl_enable);
        assert_eq!(
            conf.acl_plain_file.as_deref(),
            Some("/etc/rocketmq-acl/plain_acl.yml")
        );
        assert_eq!(
            conf.ha_auth_secret_file.as_deref(),
            Some("/etc/rocketmq-ha-auth/secret")
        );
        let tls = conf.tls_properties();
        assert_eq!(tls["tls.server.mode"], "permissive");
        assert_eq!(tls["tls.server.certPath"], "/etc/rocketmq-tls/tls.crt");
        assert_eq!(tls["tls.server.keyPath"], "/etc/rocketmq-tls/tls.key");
        assert_eq!(tls["tls.server.trustCertPath"], "/etc/rocketmq-tls/ca.crt");
        assert_eq!(tls["tls.server.need.client.auth"], "require");
    }
    // Name servers: the TLS Secret only, and namesrv.conf points at it.
    let dep = &c.deployments[0];
    let npod = dep.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let nvols: Vec<&str> = npod
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.secret.is_some())
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(nvols, ["tls"]);
    let nconf = &c.config_maps[0].data.as_ref().unwrap()[names::NAMESRV_CONF_KEY];
    assert!(nconf.contains("tls.server.mode=permissive\n"), "{nconf}");
    assert!(nconf.contains("tls.server.certPath=/etc/rocketmq-tls/tls.crt\n"));
    assert!(!nconf.contains("acl"));
    // The name server parses what the operator writes.
    let mut ns = ::namesrv::NamesrvConfig::default();
    for line in nconf.lines() {
        let (k, v) = line.split_once('=').unwrap();
        assert_eq!(ns.set(k, v).ok(), Some(true), "{line}");
    }

    // Without client certificates no ca.crt is asked of the Secret (kubernetes.io/tls
    // Secrets need not have one) and no trust path is set.
    let mut plain = plan.clone();
    plain.security.tls.as_mut().unwrap().client_auth = crate::crd::ClientAuth::None;
    let c = build(&plain, &owner(), &Partitions::new()).unwrap();
    let conf = pod_conf(&c, &plain.groups[0].broker_name, 0, "10.0.0.1");
    assert!(
        !conf
            .tls_properties()
            .contains_key("tls.server.trustCertPath")
    );
    // Without spec.security nothing is mounted from a Secret.
    let (bare, _) = example("cluster-2m-2s-async.yaml");
    let c = build(&bare, &owner(), &Partitions::new()).unwrap();
    for sts in &c.stateful_sets {
        let pod = sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert!(pod.volumes.iter().flatten().all(|v| v.secret.is_none()));
    }
    let conf = pod_conf(&c, &bare.groups[0].broker_name, 0, "10.0.0.1");
    assert!(!conf.acl_enable);
    assert!(!conf.tls_properties().contains_key("tls.server.mode"));
}

/// `spec.broker.failover`: epoch fencing in every broker.conf, the name servers' 1 s scan, the
/// roles ConfigMap mounted (optional), an `OnDelete` StatefulSet (the operator rolls), and an
/// entrypoint that takes the brokerId from the roles file — falling back to the ordinal, with
/// a line on stderr, when the file is missing or damaged. Runs the real script with /bin/sh.
#[test]
fn failover_renders_fencing_roles_volume_on_delete_and_a_roles_reading_entrypoint() {
    let spec: crate::crd::RocketMQClusterSpec = serde_yaml::from_str(
        "broker: {groups: 1, replicasPerGroup: 2, replication: sync, failover: {enabled: true, lostAfterSeconds: 5, leaseMillis: 3000}}",
    )
    .unwrap();
    let plan = validate("fo", "rmq", &spec).unwrap();
    let c = build(&plan, &owner(), &Partitions::new()).unwrap();
    let group = cm(&c, "fo-broker-0");
    let data = group.data.as_ref().unwrap();
    for key in ["broker-master.conf", "broker-slave.conf"] {
        assert!(data[key].contains("epochFencingEnable=true"), "{key}");
        assert!(data[key].contains("fencingLeaseMillis=3000"), "{key}");
    }
    let ns = cm(&c, "fo-namesrv");
    assert!(
        ns.data.as_ref().unwrap()[names::NAMESRV_CONF_KEY]
            .contains("scanNotActiveBrokerInterval=1000")
    );
    let sts = &c.stateful_sets[0];
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(
        spec.update_strategy.as_ref().unwrap().type_.as_deref(),
        Some("OnDelete")
    );
    let pod = spec.template.spec.as_ref().unwrap();
    let roles = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == names::ROLES_VOLUME)
        .and_then(|v| v.config_map.clone())
        .unwrap();
    assert_eq!(
        (roles.name.as_str(), roles.optional),
        ("fo-broker-0-roles", Some(true))
    );
    assert!(
        container(sts)
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.mount_path == names::ROLES_DIR)
    );
    // Without failover the script is the ordinal one, byte for byte.
    assert!(!entrypoint_script(false).contains("ROLES"));
    assert_ne!(entrypoint_script(false), entrypoint_script(true));

    let dir = tempfile::tempdir().unwrap();
    let script = sandbox(data, dir.path());
    let roles_dir = dir.path().join("roles");
    let run = |pod: &str| {
        let (c, err) = run_entrypoint(&script, pod, "fo-broker-0", "podIP");
        (c.broker_id, c.broker_role, err)
    };
    // No roles file yet: the ordinal rule, said on stderr.
    let (id, role, err) = run("fo-broker-0-0");
    assert_eq!((id, role), (0, BrokerRole::SyncMaster));
    assert!(err.contains("no roles file"), "{err}");
    // After a failover to ordinal 2: ordinal 2 is master, ordinal 0 the slave with id 2.
    let mut roles = crate::failover::Roles::initial(&plan, &plan.groups[0]);
    roles.promote("fo-broker-0-2", 2);
    std::fs::write(roles_dir.join(names::ROLES_KEY), roles.render()).unwrap();
    assert_eq!(run("fo-broker-0-2").0, 0);
    assert_eq!(run("fo-broker-0-2").1, BrokerRole::SyncMaster);
    assert_eq!(run("fo-broker-0-0").0, 2);
    assert_eq!(run("fo-broker-0-0").1, BrokerRole::Slave);
    assert_eq!(run("fo-broker-0-1").0, 1);
    // A pod the file does not name (scale-out before the operator wrote it): its ordinal.
    let (id, role, err) = run("fo-broker-0-5");
    assert_eq!((id, role), (5, BrokerRole::Slave));
    assert!(err.contains("names no brokerId"), "{err}");
    // A damaged file (no epoch line): the ordinal rule, said on stderr.
    std::fs::write(roles_dir.join(names::ROLES_KEY), "fo-broker-0-2=0\n").unwrap();
    let (id, _, err) = run("fo-broker-0-0");
    assert_eq!(id, 0);
    assert!(err.contains("no epoch line"), "{err}");
}
