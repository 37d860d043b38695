//! The files local mode keeps in its data directory: the lock/pid file that makes one
//! directory belong to one supervisor and the state file `status` reads.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// Name of the pid/lock file in the data directory.
pub const PID_FILE: &str = "operator.pid";
/// Name of the state file (one line per process: name, role, port, pid).
pub const STATE_FILE: &str = "operator.state";

/// An exclusive `flock` on `<dir>/operator.pid`, held for the supervisor's lifetime. The file
/// holds the supervisor's pid. It is never deleted: deleting a locked file lets a second
/// instance lock a new file of the same name while the first still runs.
pub struct DirLock {
    file: File,
    path: PathBuf,
}

/// Why the data directory cannot be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another supervisor holds it; its pid as recorded in the file (if readable).
    Busy(Option<u32>),
    /// The file could not be opened or locked.
    Io(std::io::Error),
}

fn open_pid_file(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(PID_FILE))
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

impl DirLock {
    /// Takes `dir` (creating it) for this process and writes its pid into the lock file.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        std::fs::create_dir_all(dir).map_err(LockError::Io)?;
        let mut file = open_pid_file(dir).map_err(LockError::Io)?;
        // A `status` probe holds a shared lock for microseconds: try a few times.
        let mut tries = 0;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if tries < 5 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(LockError::Busy(read_pid(&mut file)));
                }
                Err(e) => return Err(LockError::Io(e.into())),
            }
        }
        file.set_len(0).map_err(LockError::Io)?;
        file.rewind().map_err(LockError::Io)?;
        writeln!(file, "{}", std::process::id()).map_err(LockError::Io)?;
        file.flush().map_err(LockError::Io)?;
        Ok(DirLock {
            file,
            path: dir.to_path_buf(),
        })
    }

    /// Rewrites the state file: one `name role port pid` line per running process.
    pub fn write_state(&self, lines: &[String]) -> std::io::Result<()> {
        let _ = &self.file;
        let tmp = self.path.join(format!("{STATE_FILE}.tmp"));
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.path.join(STATE_FILE))
    }
}

/// Who holds `dir`, without taking it: `Some(pid)` while a supervisor runs there (pid 0 when
/// the file is unreadable), `None` otherwise.
pub fn holder(dir: &Path) -> std::io::Result<Option<u32>> {
    let mut file = match OpenOptions::new().read(true).open(dir.join(PID_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            Ok(None)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Some(read_pid(&mut file).unwrap_or(0))),
        Err(e) => Err(e.into()),
    }
}

/// The state file's lines (empty when there is none).
pub fn read_state(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(STATE_FILE))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_held_directory_is_refused_and_reports_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(holder(tmp.path()).unwrap(), None);
        let lock = DirLock::acquire(tmp.path()).unwrap();
        assert_eq!(holder(tmp.path()).unwrap(), Some(std::process::id()));
        // flock locks belong to the open file description: a second open conflicts even in
        // the same process, as a second supervisor's would.
        match DirLock::acquire(tmp.path()) {
            Err(LockError::Busy(Some(pid))) => assert_eq!(pid, std::process::id()),
            other => panic!("{:?}", other.err()),
        }
        drop(lock);
        assert_eq!(holder(tmp.path()).unwrap(), None);
        assert!(DirLock::acquire(tmp.path()).is_ok());
    }
}
