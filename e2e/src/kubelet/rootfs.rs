//! A container's root filesystem: a per-container directory in the kubelet's state directory
//! that becomes `/` (chroot) inside the container's own mount namespace.
//!
//! Why a root of its own: the operator's restricted pods mount volumes over `/tmp`, `/etc/rocketmq`,
//! `/home/rocketmq`, `/data/store` and `/var/run/rocketmq`. Mounting those over the host's own
//! paths (even in a private mount namespace) hides the host's `/tmp` — where the kubelet keeps
//! the sources of every later bind mount — and needs empty mount points created in host
//! directories. Here every mount point lives under the container's root directory instead:
//! nothing is ever created outside the kubelet's state directory.
//!
//! The root holds, read-only, bind mounts of the host's system directories (`/usr`, `/bin`,
//! `/lib`…), `/etc` as a read-only overlay of a layer of the root's own (where mount points such
//! as `/etc/rocketmq` are made) over the host's, with the namespace's `hosts`, `host.conf` and
//! `resolv.conf` bound on top (what `ip netns exec` set up); `/dev`, `/proc` and `/sys`; an empty `/tmp` and `/var/tmp`
//! (mode 1777); then the pod's volumes, shallowest mount path first; then this checkout's
//! binaries at `/usr/local/bin`. With `readOnlyRootFilesystem` the root itself is remounted
//! read-only last, so only volumes are writable, as under a container runtime.
//!
//! Because every host directory is bound read-only before any volume is mounted, a mount path
//! that would need a new directory inside one (say `/usr/share/x` missing on the host) fails
//! with EROFS instead of touching the host; [`plan`] reports it first with a clear message.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::KubeletError;

/// Host directories shared read-only into every root (those that exist; symlinks, as with a
/// merged `/usr`, are copied as symlinks).
const SYSTEM: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr"];

/// Host trees bound read-write (kernel interfaces): a mount path below them must exist there.
const KERNEL: [&str; 3] = ["dev", "proc", "sys"];

/// Where the binaries of this checkout appear in every container.
pub const BIN_DIR: &str = "/usr/local/bin";

/// One bind mount into the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Host path.
    pub src: PathBuf,
    /// Absolute path inside the container.
    pub dst: String,
    /// Remounted read-only.
    pub ro: bool,
    /// A pod volume (its mount point is created with `mkdir -p` inside the namespace, after
    /// the mounts above it, so a volume below another volume gets its directory in the outer
    /// volume, never on the host).
    pub volume: bool,
    /// Not a bind: a read-only overlay of `src` (the root's own `/etc` layer, holding mount
    /// points) over this host directory.
    pub overlay: Option<PathBuf>,
}

/// Who the process runs as (from the pod's and container's securityContext).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `runAsUser` (None: root, as the image's user is unknown here).
    pub uid: Option<i64>,
    /// `runAsGroup` (0 when only the user is given, as the runtimes do).
    pub gid: Option<i64>,
    /// `supplementalGroups` plus `fsGroup`.
    pub groups: Vec<i64>,
    /// `allowPrivilegeEscalation: false` (no_new_privs).
    pub no_new_privs: bool,
}

/// The normalised components of an absolute container path; None if it is relative, `/`
/// itself, or climbs with `..`.
fn components(path: &str) -> Option<Vec<String>> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return None;
    }
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Creates the root's skeleton under `root` (directories, empty placeholder files, symlinks:
/// all inside `root`) and returns the binds, in mount order. `volumes` are (host dir, mount
/// path, read-only). Fails, creating nothing on the host, when a mount path cannot be placed.
pub fn plan(
    root: &Path,
    volumes: &[(PathBuf, String, bool)],
    bin_dir: &Path,
) -> Result<Vec<Bind>, KubeletError> {
    plan_from(Path::new("/"), root, volumes, bin_dir)
}

/// [`plan`] against a host tree at `host` (a test's fake host).
fn plan_from(
    host: &Path,
    root: &Path,
    volumes: &[(PathBuf, String, bool)],
    bin_dir: &Path,
) -> Result<Vec<Bind>, KubeletError> {
    std::fs::create_dir_all(root)?;
    let mut binds = Vec::new();
    // Container paths that are host trees bound read-only (nothing may be created inside).
    let mut bound: BTreeSet<String> = BTreeSet::new();
    let replicate_link = |from: &Path, to: &Path| -> Result<(), KubeletError> {
        let target = std::fs::read_link(from)?;
        if std::fs::symlink_metadata(to).is_err() {
            std::os::unix::fs::symlink(target, to)?;
        }
        Ok(())
    };
    for top in SYSTEM {
        let h = host.join(top);
        let Ok(meta) = std::fs::symlink_metadata(&h) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            replicate_link(&h, &root.join(top))?;
        } else if meta.is_dir() {
            std::fs::create_dir_all(root.join(top))?;
            binds.push(bind(h, format!("/{top}"), true));
            bound.insert(format!("/{top}"));
        }
    }
    // /etc: a read-only overlay of the root's own layer (mount points such as `rocketmq/`)
    // over the host's /etc; then the files `ip netns exec` bound for this network namespace.
    let etc_layer = etc_layer(root);
    std::fs::create_dir_all(&etc_layer)?;
    std::fs::create_dir_all(root.join("etc"))?;
    binds.push(Bind {
        src: etc_layer.clone(),
        dst: "/etc".into(),
        ro: true,
        volume: false,
        overlay: Some(host.join("etc")),
    });
    for f in ["hosts", "host.conf", "resolv.conf"] {
        if host.join("etc").join(f).is_file() {
            binds.push(bind(host.join("etc").join(f), format!("/etc/{f}"), true));
        }
    }
    for e in std::fs::read_dir(host.join("etc"))?.flatten() {
        bound.insert(format!("/etc/{}", e.file_name().to_string_lossy()));
    }
    for k in KERNEL {
        std::fs::create_dir_all(root.join(k))?;
        binds.push(bind(host.join(k), format!("/{k}"), false));
    }
    for d in ["tmp", "var/tmp"] {
        let p = root.join(d);
        std::fs::create_dir_all(&p)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777))?;
    }
    for d in ["run", "home", "root"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    // The pod's volumes, shallowest first (a volume inside another gets its mount point there).
    let mut vols: Vec<(usize, &(PathBuf, String, bool))> = Vec::new();
    for v in volumes {
        let Some(parts) = components(&v.1) else {
            return Err(KubeletError::Pod(format!(
                "mount path {:?}: must be absolute, not `/`, without `..`",
                v.1
            )));
        };
        let path = format!("/{}", parts.join("/"));
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        let in_host_tree =
            bound.iter().any(|b| under(b)) || KERNEL.iter().any(|k| under(&format!("/{k}")));
        if in_host_tree && !host.join(&path[1..]).is_dir() {
            return Err(KubeletError::Pod(format!(
                "mount path {path}: inside the host's read-only {}, where it does not exist \
                 (the test kubelet never creates directories on the host)",
                bound
                    .iter()
                    .chain(KERNEL.map(|k| format!("/{k}")).iter())
                    .find(|b| under(b))
                    .cloned()
                    .unwrap_or_default()
            )));
        }
        // Below /etc (read-only overlay): the mount point is made in the root's own layer.
        if parts[0] == "etc" && parts.len() > 1 && !in_host_tree {
            std::fs::create_dir_all(etc_layer.join(parts[1..].join("/")))?;
        }
        vols.push((parts.len(), v));
    }
    vols.sort_by_key(|(depth, _)| *depth);
    for (_, (src, dst, ro)) in vols {
        binds.push(Bind {
            src: src.clone(),
            dst: format!("/{}", components(dst).unwrap_or_default().join("/")),
            ro: *ro,
            volume: true,
            overlay: None,
        });
    }
    if !host.join(&BIN_DIR[1..]).is_dir() {
        return Err(KubeletError::Pod(format!(
            "the host has no {BIN_DIR} to mount this checkout's binaries on"
        )));
    }
    binds.push(bind(bin_dir.to_path_buf(), BIN_DIR.to_string(), true));
    Ok(binds)
}

fn bind(src: PathBuf, dst: String, ro: bool) -> Bind {
    Bind {
        src,
        dst,
        ro,
        volume: false,
        overlay: None,
    }
}

/// The root's own `/etc` layer (beside the root, so it is not inside what it is mounted on).
fn etc_layer(root: &Path) -> PathBuf {
    let mut name = root.file_name().unwrap_or_default().to_os_string();
    name.push(".etc");
    root.with_file_name(name)
}

/// Single-quoted for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The shell script that, run as root inside the container's fresh mount namespace (`ip netns
/// exec` makes one, slave to the host's: nothing propagates back), mounts `binds` into `root`,
/// makes the root read-only if asked, and execs the container's argv (`"$@"`) chrooted, as
/// `who`, in `workdir`.
pub fn script(
    root: &Path,
    binds: &[Bind],
    read_only_root: bool,
    who: &Identity,
    workdir: &str,
) -> String {
    let r = sh_quote(&root.display().to_string());
    let mut s = format!("set -e\nR={r}\nmount --bind \"$R\" \"$R\"\n");
    for b in binds {
        let dst = format!("\"$R\"{}", sh_quote(&b.dst));
        if let Some(lower) = &b.overlay {
            let opts = format!("ro,lowerdir={}:{}", b.src.display(), lower.display());
            s.push_str(&format!(
                "mount -t overlay overlay -o {} {dst}\n",
                sh_quote(&opts)
            ));
            continue;
        }
        if b.volume {
            s.push_str(&format!("mkdir -p {dst}\n"));
        }
        // Recursive for host trees (/dev/pts, /sys/fs/cgroup… come along); plain for volumes.
        let flag = if b.volume { "--bind" } else { "--rbind" };
        s.push_str(&format!(
            "mount {flag} {} {dst}\n",
            sh_quote(&b.src.display().to_string())
        ));
        if b.ro {
            s.push_str(&format!("mount -o remount,bind,ro {dst}\n"));
        }
    }
    if read_only_root {
        s.push_str("mount -o remount,bind,ro \"$R\"\n");
    }
    let mut priv_args: Vec<String> = Vec::new();
    if let Some(uid) = who.uid {
        priv_args.push(format!("--reuid={uid}"));
        priv_args.push(format!("--regid={}", who.gid.unwrap_or(0)));
        if who.groups.is_empty() {
            priv_args.push("--clear-groups".into());
        } else {
            let g: Vec<String> = who.groups.iter().map(|g| g.to_string()).collect();
            priv_args.push(format!("--groups={}", g.join(",")));
        }
    } else if let Some(gid) = who.gid {
        priv_args.push(format!("--regid={gid}"));
    }
    if who.no_new_privs {
        priv_args.push("--no-new-privs".into());
    }
    s.push_str("exec chroot \"$R\" ");
    if !priv_args.is_empty() {
        s.push_str("setpriv ");
        s.push_str(&priv_args.join(" "));
        s.push(' ');
    }
    s.push_str(&format!("env -C {} -- \"$@\"\n", sh_quote(workdir)));
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fake_host() -> tempfile::TempDir {
        let h = tempfile::tempdir().unwrap();
        for d in ["usr/bin", "usr/local/bin", "etc/ssl", "dev", "proc", "sys"] {
            std::fs::create_dir_all(h.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink("usr/bin", h.path().join("bin")).unwrap();
        std::fs::write(h.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(h.path().join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        h
    }

    #[test]
    fn mount_points_are_made_in_the_root_never_on_the_host() {
        let host = fake_host();
        let state = tempfile::tempdir().unwrap();
        let root = state.path().join("root");
        let vols = vec![
            (PathBuf::from("/v/store"), "/data/store".to_string(), false),
            (PathBuf::from("/v/cfg"), "/etc/rocketmq".to_string(), true),
            (PathBuf::from("/v/tmp"), "/tmp".to_string(), false),
            (PathBuf::from("/v/data"), "/data".to_string(), false),
        ];
        let binds = plan_from(host.path(), &root, &vols, Path::new("/target/debug")).unwrap();
        // Nothing new on the host; placeholders in the root.
        assert!(!host.path().join("etc/rocketmq").exists());
        assert!(!host.path().join("data").exists());
        assert!(root.join("etc").is_dir());
        assert!(state.path().join("root.etc/rocketmq").is_dir());
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            PathBuf::from("usr/bin")
        );
        let order: Vec<&str> = binds.iter().map(|b| b.dst.as_str()).collect();
        // Host trees first, volumes shallowest first, the binaries last.
        let pos = |p: &str| order.iter().position(|d| *d == p).unwrap();
        assert!(pos("/usr") < pos("/data"));
        assert!(pos("/etc") < pos("/etc/hosts"));
        assert!(pos("/etc/hosts") < pos("/etc/rocketmq"));
        assert!(
            !order.contains(&"/etc/passwd"),
            "host /etc comes through the overlay"
        );
        assert!(pos("/data") < pos("/data/store"));
        assert_eq!(*order.last().unwrap(), BIN_DIR);
        assert!(
            binds
                .iter()
                .filter(|b| !b.volume && b.dst != "/dev" && b.dst != "/proc" && b.dst != "/sys")
                .all(|b| b.ro)
        );
        let s = script(
            &root,
            &binds,
            true,
            &Identity {
                uid: Some(65532),
                gid: Some(65532),
                groups: vec![65532],
                no_new_privs: true,
            },
            "/",
        );
        assert!(s.contains("mkdir -p \"$R\"'/data/store'\n"));
        assert!(s.contains(&format!(
            "mount -t overlay overlay -o 'ro,lowerdir={}:{}/etc' \"$R\"'/etc'\n",
            state.path().join("root.etc").display(),
            host.path().display()
        )));
        assert!(s.ends_with(
            "mount -o remount,bind,ro \"$R\"\nexec chroot \"$R\" setpriv --reuid=65532 --regid=65532 --groups=65532 --no-new-privs env -C '/' -- \"$@\"\n"
        ));
    }

    #[test]
    fn a_mount_path_needing_a_host_directory_is_refused() {
        let host = fake_host();
        let state = tempfile::tempdir().unwrap();
        for bad in [
            "/usr/share/x",
            "/etc/ssl/private/x",
            "/dev/x",
            "relative",
            "/",
            "/a/../b",
        ] {
            let vols = vec![(PathBuf::from("/v"), bad.to_string(), false)];
            let e = plan_from(host.path(), &state.path().join("r"), &vols, Path::new("/b"));
            assert!(matches!(e, Err(KubeletError::Pod(_))), "{bad}: {e:?}");
        }
        assert!(!host.path().join("usr/share").exists());
        // Existing host paths may be mounted over (inside the root only).
        let vols = vec![(PathBuf::from("/v"), "/usr/bin".to_string(), true)];
        plan_from(host.path(), &state.path().join("r"), &vols, Path::new("/b")).unwrap();
    }
}
