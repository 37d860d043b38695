//! How much memory the broker counts as its own: the machine's, or its control group's limit
//! when that is lower.
//!
//! Why: RocketMQ's "in memory" rule (`accessMessageInMemoryMaxRatio` percent of the memory,
//! behind the commit log's end) decides when pulls go to a slave and which transfer caps
//! apply. Java 17 reads a container's memory limit as the machine's memory; the node's
//! `MemTotal`, which a pod also sees in `/proc/meminfo`, would size the rule for the whole
//! node, counting as in memory what the pod's page cache cannot hold.

use std::path::{Path, PathBuf};

/// What is assumed when `/proc/meminfo` cannot be read.
const FALLBACK: u64 = 8 << 30;

/// Limits at or above this are "no limit" (cgroup v1 writes `PAGE_COUNTER_MAX` pages there).
const UNLIMITED: u64 = 1 << 60;

/// The broker's memory: `MemTotal`, or the lowest memory limit of the control groups the
/// process is in (its own and every parent), if lower.
pub fn broker_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total(&s))
        .unwrap_or(FALLBACK);
    let limit = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| cgroup_limit(Path::new("/sys/fs/cgroup"), &s));
    limit.map_or(total, |l| l.min(total))
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The lowest memory limit along the process's control-group path (`/proc/self/cgroup`),
/// under a cgroup file system mounted at `root`: cgroup v2 (`0::/path`, `memory.max`) or the
/// v1 memory controller (`N:memory:/path`, `memory/…/memory.limit_in_bytes`). Directories that
/// are not there (a container sees only its own group, at the mount's root) are skipped.
fn cgroup_limit(root: &Path, self_cgroup: &str) -> Option<u64> {
    let mut limit: Option<u64> = None;
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (base, file) = if controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir: PathBuf = base.join(path.trim_start_matches('/'));
        loop {
            if let Some(l) = read_limit(&dir.join(file)) {
                limit = Some(limit.map_or(l, |m| m.min(l)));
            }
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    limit
}

/// A limit file's value; `None` for "max", unlimited, missing or unreadable.
fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: u64 = text.trim().parse().ok()?;
    (v < UNLIMITED).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn meminfo_total_in_bytes() {
        let text = "MemTotal:       24684544 kB\nMemFree:        22838792 kB\n";
        assert_eq!(mem_total(text), Some(24_684_544 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
    }

    /// cgroup v2: the lowest `memory.max` on the way up counts; "max" is no limit.
    #[test]
    fn v2_takes_the_lowest_limit_up_the_path() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "kubepods/pod1/memory.max", "2147483648\n");
        write(root.path(), "kubepods/pod1/c1/memory.max", "max\n");
        write(root.path(), "kubepods/memory.max", "8589934592\n");
        assert_eq!(
            cgroup_limit(root.path(), "0::/kubepods/pod1/c1\n"),
            Some(2 << 30)
        );
        assert_eq!(
            cgroup_limit(root.path(), "0::/kubepods/other\n"),
            Some(8 << 30)
        );
        // In a container's own namespace the group is the mount's root.
        write(root.path(), "memory.max", "1073741824\n");
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), Some(1 << 30));
    }

    /// cgroup v1: the memory controller's line, its `memory.limit_in_bytes`; the "unlimited"
    /// value and other controllers are ignored; a path not mounted here falls back to the
    /// groups that are.
    #[test]
    fn v1_reads_the_memory_controller() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            root.path(),
            "memory/job/memory.limit_in_bytes",
            "3221225472\n",
        );
        write(root.path(), "cpu/job/memory.limit_in_bytes", "1\n");
        let text = "5:cpu,cpuacct:/job\n4:memory:/job\n0::/\n";
        assert_eq!(cgroup_limit(root.path(), text), Some(3 << 30));
        assert_eq!(cgroup_limit(root.path(), "4:memory:/\n"), None, "unlimited");
        // The host's path for a group mounted at the root (a container without a cgroup
        // namespace): the walk up reaches the mount's own limit.
        write(root.path(), "memory/memory.limit_in_bytes", "536870912\n");
        assert_eq!(
            cgroup_limit(root.path(), "4:memory:/kubepods/pod9/abc\n"),
            Some(512 << 20)
        );
    }

    /// On this machine: never more than `MemTotal`, and something sensible.
    #[test]
    fn this_machine_has_some_memory() {
        let m = broker_memory();
        let total = mem_total(&std::fs::read_to_string("/proc/meminfo").unwrap()).unwrap();
        assert!(m <= total && m >= 64 << 20, "{m} of {total}");
    }
}
