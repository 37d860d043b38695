//! Automatic failover on a real kube-apiserver, kube-controller-manager and etcd (see
//! `support/control_plane.rs`), with the operator binary as its own ServiceAccount and real
//! in-process name servers and brokers behind the pod IPs of a stand-in kubelet.
//!
//! The test plays the container runtime too: a broker pod's broker is started by running the
//! operator's real entrypoint script (`/bin/sh`, paths moved into a tempdir) against the
//! ConfigMap its StatefulSet mounts and the group's roles ConfigMap as the API server has them,
//! so "the pod reads its role at start" is what is exercised, not a copy of it.
//!
//! One scenario, in order: a 1m-1s group with failover on comes up (roles ConfigMap written,
//! ordinal 0 master, epoch 1); its master broker stops → the slave is promoted (roles
//! ConfigMap, status, `Failover` condition and Event show it); the old master's pod is
//! re-created and its broker started from the entrypoint comes back as slave of the new master;
//! an image roll with the master at ordinal 1 replaces ordinal 0 first and the master last; a
//! switchover annotation moves the master back to ordinal 0 (Events, `status.switchover`,
//! annotation removed); a switchover to a pod that does not exist is refused.
//!
//! The test is `#[ignore]`d; `.ci/run` runs it with `--include-ignored` where the binaries are
//! (`$KUBE_TEST_BIN` or /opt/kube-test/bin). Run that way without them, it prints
//! `SKIPPED (...)` and passes.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use broker::failover_proto::{FAILOVER_GET_STATE, FailoverState};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use operator::crd::{RocketMQCluster, SWITCHOVER_ANNOTATION};
use operator::names;
use remoting::{ExtFields, RemotingClient, RemotingCommand, RequestCode};
use support::*;

const SETTLE: Duration = Duration::from_secs(90);
const NET: u8 = 9;

/// Runs the entrypoint of `pod` as the container would: the StatefulSet's config ConfigMap and
/// the roles ConfigMap (when it exists) written into a tempdir, the script's `broker` replaced
/// by `cat`; returns the broker.conf it would start the broker with and its stderr.
async fn entrypoint_conf(
    client: &kube::Client,
    ns: &str,
    group: &str,
    pod: &str,
    ip: &str,
    dir: &Path,
) -> (broker::BrokerConfig, String) {
    let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get(group)
        .await
        .expect("statefulset");
    let cm_name = sts
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.volumes)
        .and_then(|v| {
            v.into_iter()
                .find(|v| v.name == names::CONFIG_VOLUME)?
                .config_map
        })
        .map(|c| c.name)
        .expect("config volume");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let config = cms.get(&cm_name).await.expect("config map");
    let roles = cms
        .get_opt(&names::broker_roles(group))
        .await
        .expect("get roles");
    let root = dir.join(format!("entrypoint-{pod}"));
    let _ = std::fs::remove_dir_all(&root);
    let (conf_dir, roles_dir, run_dir, bin_dir) = (
        root.join("conf"),
        root.join("roles"),
        root.join("run"),
        root.join("bin"),
    );
    for d in [&conf_dir, &roles_dir, &bin_dir] {
        std::fs::create_dir_all(d).expect("dir");
    }
    for (k, v) in config.data.unwrap_or_default() {
        std::fs::write(conf_dir.join(k), v).expect("write conf");
    }
    if let Some(r) = roles {
        for (k, v) in r.data.unwrap_or_default() {
            std::fs::write(roles_dir.join(k), v).expect("write roles");
        }
    }
    std::fs::write(
        bin_dir.join("broker"),
        "#!/bin/sh\n[ \"$1\" = -c ] && cat \"$2\"\n",
    )
    .expect("fake broker");
    let script = std::fs::read_to_string(conf_dir.join(names::ENTRYPOINT_KEY))
        .expect("entrypoint")
        .replace(names::ROLES_DIR, roles_dir.to_str().expect("utf-8"))
        .replace(names::CONFIG_DIR, conf_dir.to_str().expect("utf-8"))
        .replace(names::RUN_DIR, run_dir.to_str().expect("utf-8"))
        .replace(names::BIN_DIR, bin_dir.to_str().expect("utf-8"))
        .replace("exec ", "exec /bin/sh ");
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env("POD_NAME", pod)
        .env("POD_NAMESPACE", ns)
        .env("POD_IP", ip)
        .env("GROUP_SERVICE", group)
        .env("ADVERTISE", "podIP")
        .output()
        .expect("run entrypoint");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "entrypoint of {pod} failed: {stderr}");
    let body: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("starting broker"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (conf, _) = broker::BrokerConfig::from_properties_text(&body).expect("broker.conf");
    (conf, stderr)
}

/// Starts the broker of `pod` from what its entrypoint renders, on the pod IP, registering with
/// the test's name servers (the rendered namesrvAddr is the cluster DNS name, which does not
/// resolve here), its store under `dir` (kept across restarts, as a claim would be).
async fn start_pod_broker(
    conf: broker::BrokerConfig,
    ip: &str,
    namesrv: &str,
    dir: &Path,
) -> broker::BrokerHandle {
    let config = broker::BrokerConfig {
        bind_address: ip.to_string(),
        namesrv_addr: Some(namesrv.to_string()),
        store_path_root_dir: dir.join(format!("store-{ip}")).display().to_string(),
        mapped_file_size_commit_log: 4 << 20,
        mapped_file_size_consume_queue: 20 * 10_000,
        max_message_size: 64 * 1024,
        // Every pod has its own network namespace for the metrics port; here they share one.
        metrics_exporter_type: broker::MetricsExporterType::Disable,
        ..conf
    };
    broker::Broker::start(config)
        .await
        .unwrap_or_else(|e| panic!("broker on {ip}: {e}"))
}

async fn state(client: &RemotingClient, addr: &str) -> Result<FailoverState, String> {
    let req = RemotingCommand::request(RequestCode(FAILOVER_GET_STATE), ExtFields::default());
    let resp = client
        .invoke(addr, req, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&resp.body).map_err(|e| e.to_string())
}

async fn roles_text(client: &kube::Client, ns: &str, group: &str) -> Result<String, String> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get(&names::broker_roles(group))
        .await
        .map_err(|e| e.to_string())?
        .data
        .and_then(|d| d.get(names::ROLES_KEY).cloned())
        .ok_or_else(|| "no roles key".to_string())
}

async fn event_reasons(client: &kube::Client, ns: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, kube-controller-manager and etcd (/opt/kube-test/bin or $KUBE_TEST_BIN): .ci/run runs these with --include-ignored where they exist"]
async fn failover_roles_roll_and_switchover_with_a_stand_in_kubelet() {
    let cp = control_plane_or_skip!();
    let client = cp.admin_client().await;
    let ns = namespace(cp, "failover");
    let dir = tempfile::tempdir().expect("tempdir");
    // Name servers on 127.77.9.1..=4 (the Deployment's pods draw from them), scanning every
    // second as the operator renders for failover clusters.
    let servers = NameServers::start(NET, 4, dir.path(), Duration::from_secs(1)).await;
    let (namesrv_ips, namesrv_port, namesrv_addr) =
        (servers.ips.clone(), servers.port, servers.addr.clone());
    let (pod0, pod1) = (names::broker_pod("fo", 0, 0), names::broker_pod("fo", 0, 1));
    let group = names::broker_group("fo", 0);
    let (ip0, ip1) = (format!("127.77.{NET}.100"), format!("127.77.{NET}.101"));
    let broker_port = free_port(&ip0);
    let (addr0, addr1) = (
        format!("{ip0}:{broker_port}"),
        format!("{ip1}:{broker_port}"),
    );
    let _op = Operator::start(cp, &ns, "op-failover", &[]);
    let kubelet = Kubelet::start_with_addresses(
        client.clone(),
        &ns,
        Duration::from_secs(1),
        BTreeMap::from([(pod0.clone(), ip0.clone()), (pod1.clone(), ip1.clone())]),
        vec![(format!("{}-", names::namesrv("fo")), namesrv_ips.clone())],
    )
    .await;
    let mut cr: RocketMQCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1",
        "kind": "RocketMQCluster",
        "metadata": {"name": "fo"},
        "spec": {
            "image": "rocketmq-rs:1",
            "nameServer": {"replicas": 2, "port": namesrv_port},
            "broker": {
                "groups": 1, "replicasPerGroup": 1, "replication": "async",
                "port": broker_port,
                "failover": {"enabled": true, "lostAfterSeconds": 4, "leaseMillis": 3000}
            }
        }
    }))
    .expect("cluster");
    cr.metadata.namespace = Some(ns.clone());
    apply_cluster(&client, &ns, &cr).await;
    let api: Api<RocketMQCluster> = Api::namespaced(client.clone(), &ns);
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for("the broker StatefulSet", SETTLE, || async {
        sts.get(&group).await.map_err(|e| e.to_string())
    })
    .await;
    let s = sts.get(&group).await.expect("sts");
    assert_eq!(
        s.spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.type_.as_deref()),
        Some("OnDelete"),
        "failover groups are rolled by the operator"
    );
    // The initial roles: ordinal 0 master, epoch 1.
    let roles = wait_for("the roles ConfigMap", SETTLE, || {
        roles_text(&client, &ns, &group)
    })
    .await;
    assert!(roles.contains("epoch=1\n"), "{roles}");
    assert!(roles.contains(&format!("{pod0}=0\n")), "{roles}");
    assert!(roles.contains(&format!("{pod1}=1\n")), "{roles}");

    // The pods start their brokers from the entrypoint.
    let (c0, _) = entrypoint_conf(&client, &ns, &group, &pod0, &ip0, dir.path()).await;
    let (c1, _) = entrypoint_conf(&client, &ns, &group, &pod1, &ip1, dir.path()).await;
    assert_eq!((c0.broker_id, c1.broker_id), (0, 1));
    assert!(c0.epoch_fencing_enable && c1.epoch_fencing_enable);
    assert_eq!(c0.fencing_lease_millis, 3000);
    let master0 = start_pod_broker(c0, &ip0, &namesrv_addr, dir.path()).await;
    let slave1 = start_pod_broker(c1, &ip1, &namesrv_addr, dir.path()).await;
    let rc = RemotingClient::new(remoting::ClientConfig::default());
    wait_for("the slave following its master", SETTLE, || async {
        let s = state(&rc, &addr1).await?;
        if s.ha_connected {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let ready = |api: Api<RocketMQCluster>| async move {
        let cr = api.get("fo").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        match condition(&cr, "Ready") {
            Some((r, _)) if r == "True" => Ok(st),
            other => Err(format!("{other:?}")),
        }
    };
    let st = wait_for("the cluster Ready", SETTLE, || ready(api.clone())).await;
    assert_eq!(
        st.groups[0].master.as_ref().map(|m| m.pod.as_str()),
        Some(pod0.as_str())
    );

    // 1. The master is lost: its broker stops.
    let lost = std::time::Instant::now();
    master0.shutdown().await;
    let st = wait_for("the slave promoted in the status", SETTLE, || async {
        let cr = api.get("fo").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        let g = st.groups.first().ok_or("no group")?;
        match (&g.master, condition(&cr, "Failover")) {
            (Some(m), Some((s, r))) if m.pod == pod1 && s == "True" && r == "MasterLost" => Ok(st),
            other => Err(format!("{other:?} epoch {:?}", g.epoch)),
        }
    })
    .await;
    eprintln!(
        "master stopped -> promoted slave in the status after {:.1}s (lostAfterSeconds 4, lease 3 s)",
        lost.elapsed().as_secs_f64()
    );
    assert_eq!(st.groups[0].epoch, Some(2));
    assert_eq!(st.groups[0].slaves[0].pod, pod0);
    let roles = roles_text(&client, &ns, &group).await.expect("roles");
    assert!(roles.contains(&format!("master={pod1}\n")), "{roles}");
    assert!(roles.contains(&format!("{pod0}=1\n")), "{roles}");
    let promoted = state(&rc, &addr1).await.expect("promoted state");
    assert_eq!(
        (promoted.role.as_str(), promoted.epoch),
        ("ASYNC_MASTER", 2)
    );
    let events = event_reasons(&client, &ns).await;
    let failover = events
        .iter()
        .find(|(r, n)| r == "Failover" && n.contains(&pod1))
        .unwrap_or_else(|| panic!("no Failover Event: {events:?}"));
    eprintln!("Failover Event: {}", failover.1);

    // 2. The old master's pod is re-created; its entrypoint reads the roles: a slave.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let old_uid = pods.get(&pod0).await.expect("pod").metadata.uid;
    pods.delete(&pod0, &DeleteParams::default())
        .await
        .expect("delete the old master's pod");
    wait_for("the old master's pod re-created", SETTLE, || async {
        let p = pods.get(&pod0).await.map_err(|e| e.to_string())?;
        if p.metadata.uid != old_uid && operator::read::pod_ready(&p) {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;
    // The kubelet refreshes a ConfigMap volume within its sync period; the file the test mounts
    // is the ConfigMap as it is now.
    let (c0, stderr) = entrypoint_conf(&client, &ns, &group, &pod0, &ip0, dir.path()).await;
    assert_eq!(
        (c0.broker_id, c0.broker_role),
        (1, broker::BrokerRole::Slave),
        "the restarted old master must start as slave ({stderr})"
    );
    let slave0 = start_pod_broker(c0, &ip0, &namesrv_addr, dir.path()).await;
    wait_for("the old master following the new one", SETTLE, || async {
        let s = state(&rc, &addr0).await?;
        if s.role == "SLAVE" && s.ha_connected && s.known_epoch == 2 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;

    // 3. A roll with the master at ordinal 1: ordinal 0 (the slave) first, the master last.
    wait_for("Ready before the roll", SETTLE, || ready(api.clone())).await;
    api.patch(
        "fo",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"image": "rocketmq-rs:2"}})),
    )
    .await
    .expect("image change");
    let both = [&pod0, &pod1];
    wait_for("the roll to finish", SETTLE * 2, || {
        pods_on_image(&pods, &both, "rocketmq-rs:2")
    })
    .await;
    let journal: Vec<String> = kubelet.journal.lock().expect("journal").clone();
    let at = |entry: String| {
        journal
            .iter()
            .rposition(|e| *e == entry)
            .unwrap_or_else(|| panic!("{entry:?} not in {journal:?}"))
    };
    assert!(
        at(format!("ready {pod0}")) < at(format!("terminating {pod1}")),
        "the master (ordinal 1) was replaced before its slave was back: {journal:?}"
    );
    let deletions = kubelet.deletions.lock().expect("deletions").clone();
    // pod0: once for the restart in step 2, once for the roll; pod1 once for the roll.
    assert_eq!(
        (deletions.get(&pod0), deletions.get(&pod1)),
        (Some(&2), Some(&1)),
        "{journal:?}"
    );

    // 4. Switchover back to ordinal 0 (in sync: it follows the master).
    wait_for("in sync before the switchover", SETTLE, || async {
        let s = state(&rc, &addr0).await?;
        if s.ha_connected {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let annotate = |value: String| {
        let api = api.clone();
        async move {
            api.patch(
                "fo",
                &PatchParams::default(),
                &Patch::Merge(
                    &serde_json::json!({"metadata": {"annotations": {SWITCHOVER_ANNOTATION: value}}}),
                ),
            )
            .await
            .expect("annotate")
        }
    };
    let request = format!("{group}={pod0}");
    let asked = std::time::Instant::now();
    annotate(request.clone()).await;
    let st = wait_for("the switchover done", SETTLE, || async {
        let cr = api.get("fo").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        let done = st
            .switchover
            .as_ref()
            .is_some_and(|s| s.request == request && s.result == "Done");
        let master = st.groups[0].master.as_ref().map(|m| m.pod.clone());
        if done
            && master.as_deref() == Some(pod0.as_str())
            && !cr.annotations().contains_key(SWITCHOVER_ANNOTATION)
        {
            Ok(st)
        } else {
            Err(format!("{:?} master {master:?}", st.switchover))
        }
    })
    .await;
    eprintln!(
        "switchover annotation -> Done in the status after {:.1}s",
        asked.elapsed().as_secs_f64()
    );
    assert_eq!(st.groups[0].epoch, Some(3));
    let s0 = state(&rc, &addr0).await.expect("state");
    assert_eq!((s0.role.as_str(), s0.epoch), ("ASYNC_MASTER", 3));
    wait_for("the former master re-pointed", SETTLE, || async {
        let s = state(&rc, &addr1).await?;
        if s.role == "SLAVE" && s.known_epoch == 3 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let events = event_reasons(&client, &ns).await;
    for reason in [
        "SwitchoverStarted",
        "MasterFenced",
        "SlavePromoted",
        "SwitchoverDone",
    ] {
        assert!(
            events.iter().any(|(r, _)| r == reason),
            "{reason} missing: {events:?}"
        );
    }

    // 5. A switchover to a pod that is not in the group is refused, with a Warning.
    let bad = format!("{group}=fo-broker-0-7");
    annotate(bad.clone()).await;
    wait_for("the refusal", SETTLE, || async {
        let cr = api.get("fo").await.map_err(|e| e.to_string())?;
        let st = cr.status.clone().ok_or("no status")?;
        match (&st.switchover, condition(&cr, "Failover")) {
            (Some(s), Some((_, r)))
                if s.request == bad && s.result == "Refused" && r == "SwitchoverRefused" =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        event_reasons(&client, &ns)
            .await
            .iter()
            .any(|(r, _)| r == "SwitchoverRefused")
    );

    kubelet.stop().await;
    rc.shutdown();
    for b in [slave0, slave1] {
        b.shutdown().await;
    }
    for n in servers.handles {
        n.shutdown().await;
    }
}
