//! Web console objects (`spec.console`): one Deployment running `console` against the name
//! server Service, and a ClusterIP Service on port 8180. The token comes from a Secret mounted
//! read-only; without one the console runs read-only.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, KeyToPath, PodSpec, PodTemplateSpec, Probe,
    SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::namesrv::{non_empty, non_empty_map, pod_security_context};
use super::{container_security_context, empty_dir, meta, pod_annotations};
use crate::names::{self, Component};
use crate::plan::ClusterPlan;

/// The console's port, as RocketMQ's dashboard.
pub const CONSOLE_PORT: i32 = 8180;

const TOKEN_VOLUME: &str = "console-token";

/// The console's command line.
pub fn console_command(plan: &ClusterPlan) -> Vec<String> {
    let mut cmd = vec![
        format!("{}/console", names::BIN_DIR),
        "-n".to_string(),
        format!(
            "{}:{}",
            names::namesrv_service(&plan.name),
            plan.namesrv.port
        ),
        "--port".to_string(),
        CONSOLE_PORT.to_string(),
    ];
    if plan.console.token_secret.is_some() {
        cmd.push("--token-file".to_string());
        cmd.push(format!(
            "{}/{}",
            names::CONSOLE_TOKEN_DIR,
            names::CONSOLE_TOKEN_KEY
        ));
    }
    if plan.console.read_only {
        cmd.push("--read-only".to_string());
    }
    cmd
}

pub(super) fn service(plan: &ClusterPlan, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(
            plan,
            names::console(&plan.name),
            Component::Console,
            None,
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(names::selector_labels(&plan.name, Component::Console, None)),
            ports: Some(vec![ServicePort {
                name: Some(names::CONSOLE_PORT_NAME.to_string()),
                port: CONSOLE_PORT,
                target_port: Some(IntOrString::String(names::CONSOLE_PORT_NAME.to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

pub(super) fn deployment(plan: &ClusterPlan, owner: &OwnerReference) -> Deployment {
    let probe = |initial: i32| Probe {
        // The page itself: served from the binary, so it answers even while the cluster does not.
        http_get: Some(HTTPGetAction {
            path: Some("/".to_string()),
            port: IntOrString::String(names::CONSOLE_PORT_NAME.to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let mut mounts = vec![VolumeMount {
        name: names::TMP_VOLUME.to_string(),
        mount_path: names::TMP_DIR.to_string(),
        ..VolumeMount::default()
    }];
    let mut volumes = vec![empty_dir(names::TMP_VOLUME)];
    if let Some(secret) = &plan.console.token_secret {
        mounts.push(VolumeMount {
            name: TOKEN_VOLUME.to_string(),
            mount_path: names::CONSOLE_TOKEN_DIR.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: TOKEN_VOLUME.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(vec![KeyToPath {
                    key: names::CONSOLE_TOKEN_KEY.to_string(),
                    path: names::CONSOLE_TOKEN_KEY.to_string(),
                    mode: Some(0o400),
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    let command = console_command(plan);
    let mut annotations = pod_annotations(plan);
    annotations.insert(
        names::CONFIG_HASH_ANNOTATION.to_string(),
        names::stable_hash(&[&command.join(" "), &plan.image]),
    );
    let container = Container {
        name: names::CONSOLE_CONTAINER.to_string(),
        image: Some(plan.image.clone()),
        image_pull_policy: Some(plan.pull_policy.as_str().to_string()),
        command: Some(command),
        ports: Some(vec![ContainerPort {
            name: Some(names::CONSOLE_PORT_NAME.to_string()),
            container_port: CONSOLE_PORT,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe(2)),
        liveness_probe: Some(probe(15)),
        volume_mounts: Some(mounts),
        security_context: Some(container_security_context()),
        ..Container::default()
    };
    Deployment {
        metadata: meta(
            plan,
            names::console(&plan.name),
            Component::Console,
            None,
            owner,
        ),
        spec: Some(DeploymentSpec {
            // One: the charts' history is in memory, per console.
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(names::selector_labels(&plan.name, Component::Console, None)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(names::labels(
                        &plan.name,
                        Component::Console,
                        None,
                        &plan.version,
                    )),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    termination_grace_period_seconds: Some(10),
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
