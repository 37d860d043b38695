//! The Apache RocketMQ 4.9.7 Java client and `mqadmin`, built outside the repository (see
//! `e2e/README.md`, "Java 4.9.7 client"): where they live, compiling the test programs of
//! `e2e/java/` against them, and running those programs and `mqadmin` with a deadline.
//!
//! Nothing here downloads or builds the Java client: a machine without it (or without `javac`)
//! gets `None` from [`JavaTools::find`] and the suites print SKIPPED.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Default install directory of the Java 4.9.7 client and tools (`lib/*.jar`, `bin/mqadmin`).
pub const DEFAULT_HOME: &str = "/opt/rocketmq-4.9.7";

/// Environment variable overriding [`DEFAULT_HOME`].
pub const HOME_ENV: &str = "ROCKETMQ_JAVA_HOME";

/// JVM options for short runs on a busy machine: the C1 compiler only and the serial collector
/// start faster than the defaults and make no difference to what is tested.
const FAST_START: &[&str] = &["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

/// Errors of the Java helpers.
#[derive(Debug, thiserror::Error)]
pub enum JavaError {
    /// A process could not be started.
    #[error("start {what}: {source}")]
    Spawn {
        /// What was started.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `javac` rejected the test programs.
    #[error("javac failed:\n{0}")]
    Compile(String),
    /// Waiting for the process failed.
    #[error("wait for {what}: {source}")]
    Wait {
        /// What was run.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Output of a finished process.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The process ran past its deadline and was killed (the output is what it printed until
    /// then).
    pub timed_out: bool,
}

impl Output {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

/// The Java client install plus the JDK tools to use it.
#[derive(Debug, Clone)]
pub struct JavaTools {
    /// The install directory (`lib/`, `bin/mqadmin`).
    pub home: PathBuf,
    /// `javac`.
    pub javac: PathBuf,
    /// `java`.
    pub java: PathBuf,
}

impl JavaTools {
    /// Finds the install (`ROCKETMQ_JAVA_HOME` or [`DEFAULT_HOME`], with the client jar and
    /// `bin/mqadmin`) and `javac`/`java` on the PATH; `None` when any is missing.
    pub fn find() -> Option<JavaTools> {
        let home = std::env::var_os(HOME_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        if !home.join("lib/rocketmq-client-4.9.7.jar").is_file()
            || !home.join("lib/rocketmq-tools-4.9.7.jar").is_file()
            || !home.join("bin/mqadmin").is_file()
        {
            return None;
        }
        let javac = which("javac")?;
        let java = which("java")?;
        Some(JavaTools { home, javac, java })
    }

    /// `lib/*` of the install, as a class path entry.
    pub fn class_path(&self) -> String {
        format!("{}/lib/*", self.home.display())
    }

    /// Compiles `sources` into `out` against the client jars.
    pub fn compile(&self, sources: &[PathBuf], out: &Path) -> Result<(), JavaError> {
        std::fs::create_dir_all(out).map_err(|source| JavaError::Spawn {
            what: format!("create {}", out.display()),
            source,
        })?;
        let mut cmd = Command::new(&self.javac);
        cmd.arg("-nowarn")
            .arg("-encoding")
            .arg("UTF-8")
            .arg("-cp")
            .arg(self.class_path())
            .arg("-d")
            .arg(out)
            .args(sources);
        let output = run(cmd, "javac", Duration::from_secs(300))?;
        if !output.success() {
            return Err(JavaError::Compile(format!(
                "{}{}",
                output.stdout, output.stderr
            )));
        }
        Ok(())
    }

    /// A `java` command running `main_class` from `classes` with the client jars; logs of the
    /// Java client go under `log_home` (its `user.home`).
    pub fn java_command(&self, classes: &Path, main_class: &str, log_home: &Path) -> Command {
        let mut cmd = Command::new(&self.java);
        cmd.args(FAST_START)
            .arg("-Xms64m")
            .arg("-Xmx256m")
            .arg(format!("-Duser.home={}", log_home.display()))
            .arg("-cp")
            .arg(format!("{}:{}", classes.display(), self.class_path()))
            .arg(main_class);
        cmd
    }

    /// A command running the install's `bin/mqadmin`, with its logs under `log_home`, which is
    /// also its working directory (`consumerStatus` writes each member's running info to
    /// `<now>/<clientId>` there).
    pub fn mqadmin_command(&self, log_home: &Path) -> Command {
        let mut cmd = Command::new(self.home.join("bin/mqadmin"));
        cmd.current_dir(log_home);
        cmd.env(
            "JAVA_OPT",
            format!(
                "{} -Duser.home={}",
                FAST_START.join(" "),
                log_home.display()
            ),
        )
        .env("ROCKETMQ_HOME", &self.home);
        cmd
    }
}

/// The directory of the Java test programs (`e2e/java`).
pub fn sources_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java")
}

/// Runs `cmd` to completion, or kills it at `deadline` (then [`Output::timed_out`]).
pub fn run(mut cmd: Command, what: &str, deadline: Duration) -> Result<Output, JavaError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| JavaError::Spawn {
        what: what.to_string(),
        source,
    })?;
    // Read both pipes on threads so a chatty process never blocks on a full pipe.
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let start = std::time::Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > deadline => {
                timed_out = true;
                let _ = child.kill();
                match child.wait() {
                    Ok(status) => break status,
                    Err(source) => {
                        return Err(JavaError::Wait {
                            what: what.to_string(),
                            source,
                        });
                    }
                }
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(source) => {
                let _ = child.kill();
                return Err(JavaError::Wait {
                    what: what.to_string(),
                    source,
                });
            }
        }
    };
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        code: status.code(),
        stdout: join(stdout),
        stderr: join(stderr),
        timed_out,
    })
}

fn read_all(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A port P whose P − 2 was free a moment ago, for a broker whose VIP channel Java clients reach
/// at listenPort − 2 (the broker start fails if either was taken meanwhile: call again).
pub fn port_pair() -> u16 {
    loop {
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        let p = addr.port();
        if p > 1024 && std::net::TcpListener::bind(("127.0.0.1", p - 2)).is_ok() {
            return p;
        }
    }
}

/// One command line for [`JavaTools::run_mqadmin_batch`].
#[derive(Debug, Clone)]
pub struct BatchCommand {
    /// The arguments, as given to `bin/mqadmin`.
    pub args: Vec<String>,
    /// Given up on (reported as [`Output::timed_out`]) after this long.
    pub deadline: Duration,
}

/// Frame marker of `e2e/java/MqadminBatch.java`'s output.
const BATCH_MARK: &str = "@@MQA-";

impl JavaTools {
    /// Runs `commands` through `e2e/java/MqadminBatch.java` (compiled into `classes`) in one JVM:
    /// the JVM start-up is paid once, not once per command. Each command gets an [`Output`] as if
    /// it had been its own `bin/mqadmin` run: exit code 0, or the code it passed to
    /// `System.exit`, or `timed_out` when it ran past its deadline. `home` is the working
    /// directory and `user.home` (logs, `consumerStatus` files), as for
    /// [`JavaTools::mqadmin_command`].
    pub fn run_mqadmin_batch(
        &self,
        classes: &Path,
        home: &Path,
        commands: &[BatchCommand],
    ) -> Result<Vec<Output>, JavaError> {
        let list = home.join(format!("mqadmin-batch-{}.txt", std::process::id()));
        let mut text = String::new();
        for (i, c) in commands.iter().enumerate() {
            text.push_str(&format!("{i}\t{}", c.deadline.as_secs().max(1)));
            for a in &c.args {
                text.push('\t');
                text.push_str(a);
            }
            text.push('\n');
        }
        std::fs::write(&list, text).map_err(|source| JavaError::Spawn {
            what: format!("write {}", list.display()),
            source,
        })?;
        let mut cmd = Command::new(&self.java);
        cmd.current_dir(home)
            .args(FAST_START)
            .arg("-Xms128m")
            .arg("-Xmx256m")
            // The driver turns mqadmin's System.exit into an exception with a security manager.
            .arg("-Djava.security.manager=allow")
            .arg(format!("-Duser.home={}", home.display()))
            .arg("-cp")
            .arg(format!(
                "{}:{}/conf:{}",
                classes.display(),
                self.home.display(),
                self.class_path()
            ))
            .arg("MqadminBatch")
            .arg(&list)
            .env("ROCKETMQ_HOME", &self.home);
        // The whole batch: every deadline plus start-up.
        let overall =
            commands.iter().map(|c| c.deadline).sum::<Duration>() + Duration::from_secs(60);
        let out = run(cmd, "mqadmin batch", overall)?;
        let _ = std::fs::remove_file(&list);
        Ok(parse_batch(&out, commands.len()))
    }
}

/// Splits the framed output of `MqadminBatch` into one [`Output`] per command; a command the
/// output does not reach (the batch JVM died or ran out of time) gets a `timed_out` output that
/// carries the batch's own stderr, so the failure shows.
fn parse_batch(out: &Output, n: usize) -> Vec<Output> {
    let mut results: Vec<Option<Output>> = vec![None; n];
    let (mut cur_out, mut cur_err) = (String::new(), String::new());
    let mut in_err = false;
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix(BATCH_MARK) {
            let mut words = rest.split_whitespace();
            match words.next() {
                Some("OUT") => {
                    cur_out.clear();
                    cur_err.clear();
                    in_err = false;
                    continue;
                }
                Some("ERR") => {
                    in_err = true;
                    continue;
                }
                Some("END") => {
                    let id = words.next().and_then(|w| w.parse::<usize>().ok());
                    let status = words.next().unwrap_or("");
                    let (code, timed_out) = match status {
                        "ok" => (Some(0), false),
                        "timeout" => (None, true),
                        s => (s.strip_prefix("exit=").and_then(|c| c.parse().ok()), false),
                    };
                    if let Some(slot) = id.and_then(|i| results.get_mut(i)) {
                        *slot = Some(Output {
                            code,
                            stdout: std::mem::take(&mut cur_out),
                            stderr: std::mem::take(&mut cur_err),
                            timed_out,
                        });
                    }
                    continue;
                }
                _ => {}
            }
        }
        let buf = if in_err { &mut cur_err } else { &mut cur_out };
        buf.push_str(line);
        buf.push('\n');
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Output {
                code: out.code,
                stdout: String::new(),
                stderr: format!(
                    "the mqadmin batch ended before this command (exit {:?}, timed out {}):\n{}",
                    out.code, out.timed_out, out.stderr
                ),
                timed_out: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_output_is_split_per_command() {
        let out = Output {
            code: Some(0),
            stdout: "@@MQA-OUT 0\n#Cluster Name\nrow\n@@MQA-ERR 0\n@@MQA-END 0 ok 12\n\
                     @@MQA-OUT 1\nusage: x\n@@MQA-ERR 1\nboom\n@@MQA-END 1 exit=1 3\n\
                     @@MQA-OUT 2\npartial\n@@MQA-ERR 2\n@@MQA-END 2 timeout 5000\n"
                .into(),
            stderr: "jvm says".into(),
            timed_out: false,
        };
        let r = parse_batch(&out, 4);
        assert_eq!(r[0].code, Some(0));
        assert_eq!(r[0].stdout, "#Cluster Name\nrow\n");
        assert!(r[0].success());
        assert_eq!(r[1].code, Some(1));
        assert_eq!(r[1].stdout, "usage: x\n");
        assert_eq!(r[1].stderr, "boom\n");
        assert!(r[2].timed_out);
        assert_eq!(r[2].stdout, "partial\n");
        // Never reached: reported as not finished, with the JVM's own stderr.
        assert!(r[3].timed_out);
        assert!(r[3].stderr.contains("jvm says"));
    }
}
