//! `spec.security`: the Secret volumes of the broker and name server pods and the conf keys
//! pointing at them. Secrets only (never ConfigMaps): they hold keys and passwords.
//!
//! Each Secret is mounted as a whole directory (no `subPath`), so the kubelet's atomic
//! `..data` symlink swap reaches the pod when the Secret changes: the broker re-reads the ACL
//! file when its text changes and the HA secret at each connection; the TLS certificate is
//! loaded once at start (see docs/security.md).

use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use crate::crd::ClientAuth;
use crate::names;
use crate::plan::ClusterPlan;

/// Files are readable by the pod's group (`fsGroup`) only.
const MODE: i32 = 0o440;

/// The broker.conf keys `spec.security` sets, in a fixed order.
pub fn broker_conf_entries(plan: &ClusterPlan) -> Vec<(&'static str, String)> {
    let sec = &plan.security;
    let mut e = Vec::new();
    if sec.acl.is_some() {
        e.push(("aclEnable", "true".to_string()));
        e.push((
            "aclPlainFile",
            format!("{}/{}", names::ACL_DIR, names::ACL_FILE),
        ));
    }
    if sec.ha_auth.is_some() {
        e.push((
            "haAuthSecretFile",
            format!("{}/{}", names::HA_AUTH_DIR, names::HA_AUTH_FILE),
        ));
    }
    e.extend(tls_server_entries(plan));
    e
}

/// The namesrv.conf keys `spec.security` sets (TLS only: the name server has no ACL).
pub fn namesrv_conf_entries(plan: &ClusterPlan) -> Vec<(&'static str, String)> {
    tls_server_entries(plan)
}

/// `tls.server.*`: permissive, so plain clients (the operator's own admin calls, the console,
/// brokers registering with the name servers) keep working while clients move to TLS.
fn tls_server_entries(plan: &ClusterPlan) -> Vec<(&'static str, String)> {
    let Some(tls) = &plan.security.tls else {
        return Vec::new();
    };
    let mut e = vec![
        ("tls.server.mode", "permissive".to_string()),
        ("tls.server.certPath", format!("{}/tls.crt", names::TLS_DIR)),
        ("tls.server.keyPath", format!("{}/tls.key", names::TLS_DIR)),
        (
            "tls.server.need.client.auth",
            tls.client_auth.as_conf().to_string(),
        ),
    ];
    if tls.client_auth != ClientAuth::None {
        e.push((
            "tls.server.trustCertPath",
            format!("{}/ca.crt", names::TLS_DIR),
        ));
    }
    e
}

fn secret_volume(name: &str, secret: &str, items: Vec<(String, &str)>) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            items: Some(
                items
                    .into_iter()
                    .map(|(key, path)| KeyToPath {
                        key,
                        path: path.to_string(),
                        mode: None,
                    })
                    .collect(),
            ),
            default_mode: Some(MODE),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn ro_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

fn tls_volume(plan: &ClusterPlan) -> Option<(Volume, VolumeMount)> {
    let tls = plan.security.tls.as_ref()?;
    let mut items = vec![
        ("tls.crt".to_string(), "tls.crt"),
        ("tls.key".to_string(), "tls.key"),
    ];
    if tls.client_auth != ClientAuth::None {
        items.push(("ca.crt".to_string(), "ca.crt"));
    }
    Some((
        secret_volume(names::TLS_VOLUME, &tls.secret_name, items),
        ro_mount(names::TLS_VOLUME, names::TLS_DIR),
    ))
}

/// Secret volumes and read-only mounts of a broker pod.
pub fn broker_volumes(plan: &ClusterPlan) -> (Vec<Volume>, Vec<VolumeMount>) {
    let sec = &plan.security;
    let mut out: Vec<(Volume, VolumeMount)> = Vec::new();
    out.extend(tls_volume(plan));
    if let Some(acl) = &sec.acl {
        let key = acl
            .key
            .clone()
            .unwrap_or_else(|| names::ACL_FILE.to_string());
        out.push((
            secret_volume(
                names::ACL_VOLUME,
                &acl.secret_name,
                vec![(key, names::ACL_FILE)],
            ),
            ro_mount(names::ACL_VOLUME, names::ACL_DIR),
        ));
    }
    if let Some(ha) = &sec.ha_auth {
        let key = ha
            .key
            .clone()
            .unwrap_or_else(|| names::HA_AUTH_FILE.to_string());
        out.push((
            secret_volume(
                names::HA_AUTH_VOLUME,
                &ha.secret_name,
                vec![(key, names::HA_AUTH_FILE)],
            ),
            ro_mount(names::HA_AUTH_VOLUME, names::HA_AUTH_DIR),
        ));
    }
    out.into_iter().unzip()
}

/// Secret volumes and read-only mounts of a name server pod (TLS only).
pub fn namesrv_volumes(plan: &ClusterPlan) -> (Vec<Volume>, Vec<VolumeMount>) {
    tls_volume(plan).into_iter().unzip()
}
