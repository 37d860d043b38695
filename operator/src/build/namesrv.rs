//! Name server objects: ConfigMap, Deployment, headless and client Services, PDB.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec,
    Probe, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{container_security_context, empty_dir, meta, pod_annotations};
use crate::names::{self, Component};
use crate::plan::ClusterPlan;

/// The name server config file: only the listen port (everything else keeps its default).
pub fn namesrv_conf(plan: &ClusterPlan) -> String {
    // The metrics endpoint is always on in pods (the container declares its port).
    let mut conf = format!(
        "listenPort={}\nmetricsExporterType=PROM\nmetricsPromExporterPort={}\n",
        plan.namesrv.port,
        names::METRICS_PORT
    );
    for (k, v) in super::security::namesrv_conf_entries(plan) {
        conf.push_str(&format!("{k}={v}\n"));
    }
    if plan.failover_on() {
        // A lost master must leave the route table within 1.5 lease + 1 s (docs/failover.md
        // "Timing"); Java's 10 s scan would add up to 9 s to every partition failover.
        conf.push_str("scanNotActiveBrokerInterval=1000\n");
    }
    conf
}

pub(super) fn config_map(plan: &ClusterPlan, owner: &OwnerReference) -> ConfigMap {
    ConfigMap {
        metadata: meta(
            plan,
            names::namesrv(&plan.name),
            Component::NameServer,
            None,
            owner,
        ),
        data: Some([(names::NAMESRV_CONF_KEY.to_string(), namesrv_conf(plan))].into()),
        ..ConfigMap::default()
    }
}

fn ports(plan: &ClusterPlan) -> Vec<ServicePort> {
    vec![ServicePort {
        name: Some(names::NAMESRV_PORT_NAME.to_string()),
        port: i32::from(plan.namesrv.port),
        target_port: Some(IntOrString::String(names::NAMESRV_PORT_NAME.to_string())),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    }]
}

/// Headless: its DNS name resolves to every ready name server pod, and brokers register with each
/// address it resolves to.
pub(super) fn headless_service(plan: &ClusterPlan, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(
            plan,
            names::namesrv_headless(&plan.name),
            Component::NameServer,
            None,
            owner,
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            selector: Some(names::selector_labels(
                &plan.name,
                Component::NameServer,
                None,
            )),
            ports: Some(ports(plan)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The address clients use (any name server answers the same routes).
pub(super) fn client_service(plan: &ClusterPlan, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(
            plan,
            names::namesrv_service(&plan.name),
            Component::NameServer,
            None,
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(names::selector_labels(
                &plan.name,
                Component::NameServer,
                None,
            )),
            ports: Some(ports(plan)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

pub(super) fn pdb(plan: &ClusterPlan, owner: &OwnerReference) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(
            plan,
            names::namesrv(&plan.name),
            Component::NameServer,
            None,
            owner,
        ),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(plan.namesrv_pdb.max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(names::selector_labels(
                    &plan.name,
                    Component::NameServer,
                    None,
                )),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

pub(super) fn deployment(plan: &ClusterPlan, owner: &OwnerReference) -> Deployment {
    let conf = namesrv_conf(plan);
    let hash = names::stable_hash(&[&conf, &plan.image]);
    let mut annotations = pod_annotations(plan);
    annotations.insert(names::CONFIG_HASH_ANNOTATION.to_string(), hash);
    let probe = |initial: i32| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(names::NAMESRV_PORT_NAME.to_string()),
            ..TCPSocketAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let (secret_volumes, secret_mounts) = super::security::namesrv_volumes(plan);
    let container = Container {
        name: names::NAMESRV_CONTAINER.to_string(),
        image: Some(plan.image.clone()),
        image_pull_policy: Some(plan.pull_policy.as_str().to_string()),
        command: Some(vec![
            format!("{}/namesrv", names::BIN_DIR),
            "-c".to_string(),
            format!("{}/{}", names::CONFIG_DIR, names::NAMESRV_CONF_KEY),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some(names::NAMESRV_PORT_NAME.to_string()),
                container_port: i32::from(plan.namesrv.port),
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(names::METRICS_PORT_NAME.to_string()),
                container_port: i32::from(names::METRICS_PORT),
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(probe(2)),
        liveness_probe: Some(probe(15)),
        resources: plan.namesrv.resources.clone(),
        // The name server writes kvConfig.json under $HOME/namesrv: HOME is a writable emptyDir
        // (the root filesystem is read-only).
        env: Some(vec![EnvVar {
            name: "HOME".to_string(),
            value: Some(names::HOME_DIR.to_string()),
            ..EnvVar::default()
        }]),
        volume_mounts: Some(
            [
                VolumeMount {
                    name: names::CONFIG_VOLUME.to_string(),
                    mount_path: names::CONFIG_DIR.to_string(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: names::HOME_VOLUME.to_string(),
                    mount_path: names::HOME_DIR.to_string(),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: names::TMP_VOLUME.to_string(),
                    mount_path: names::TMP_DIR.to_string(),
                    ..VolumeMount::default()
                },
            ]
            .into_iter()
            .chain(secret_mounts)
            .collect(),
        ),
        security_context: Some(container_security_context()),
        ..Container::default()
    };
    let selector = names::selector_labels(&plan.name, Component::NameServer, None);
    Deployment {
        metadata: meta(
            plan,
            names::namesrv(&plan.name),
            Component::NameServer,
            None,
            owner,
        ),
        spec: Some(DeploymentSpec {
            replicas: Some(plan.namesrv.replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                // One name server at a time: brokers and clients keep at least the others.
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(if plan.namesrv.replicas > 1 {
                        1
                    } else {
                        0
                    })),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(names::labels(
                        &plan.name,
                        Component::NameServer,
                        None,
                        &plan.version,
                    )),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(
                        [
                            Volume {
                                name: names::CONFIG_VOLUME.to_string(),
                                config_map: Some(ConfigMapVolumeSource {
                                    name: names::namesrv(&plan.name),
                                    ..ConfigMapVolumeSource::default()
                                }),
                                ..Volume::default()
                            },
                            empty_dir(names::HOME_VOLUME),
                            empty_dir(names::TMP_VOLUME),
                        ]
                        .into_iter()
                        .chain(secret_volumes)
                        .collect(),
                    ),
                    termination_grace_period_seconds: Some(30),
                    affinity: plan.overrides.affinity.clone(),
                    tolerations: non_empty(plan.overrides.tolerations.clone()),
                    node_selector: non_empty_map(plan.overrides.node_selector.clone()),
                    priority_class_name: plan.overrides.priority_class_name.clone(),
                    security_context: Some(pod_security_context(plan)),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

pub(super) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

pub(super) fn non_empty_map(
    m: std::collections::BTreeMap<String, String>,
) -> Option<std::collections::BTreeMap<String, String>> {
    if m.is_empty() { None } else { Some(m) }
}

/// The spec's pod security context, or by default the image's unprivileged user with `fsGroup`
/// so the store volume is writable.
pub(super) fn pod_security_context(
    plan: &ClusterPlan,
) -> k8s_openapi::api::core::v1::PodSecurityContext {
    plan.overrides.security_context.clone().unwrap_or_else(|| {
        k8s_openapi::api::core::v1::PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(names::RUN_AS),
            run_as_group: Some(names::RUN_AS),
            fs_group: Some(names::RUN_AS),
            seccomp_profile: Some(k8s_openapi::api::core::v1::SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }
    })
}
