//! A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager
//! started on 127.0.0.1, one per test binary.
//!
//! Why: only a real API server checks CEL rule cost and admission, RBAC, server-side-apply field
//! ownership and garbage collection (see `/work/shared/k8s-testing.md`, README "Real control plane
//! tests"). The binaries are never built or downloaded here: they are looked up in `$KUBE_TEST_BIN`
//! or `/opt/kube-test/bin` (`kube-apiserver`, `kube-controller-manager`; `etcd` there or on
//! `PATH`). When one is missing, [`shared`] returns `None` after printing `SKIPPED (...)` once, and the tests return.
//!
//! Shape:
//! - Certificates come from the `openssl` CLI into a temporary directory: a CA, the API server's
//!   serving certificate (127.0.0.1), an admin client certificate in `system:masters`, a client
//!   certificate for the controller-manager, and the service-account signing key pair.
//! - Ports: each is found by binding `127.0.0.1:0`; a process that then fails to bind its port (a
//!   race with another program) makes the whole start retry with fresh ports, never reuse them.
//! - Every process runs under a tiny `sh` supervisor whose stdin is a pipe from this test process:
//!   when the test binary exits for any reason (end of run, panic, SIGKILL) the kernel closes the
//!   pipe, the supervisor kills its child, and the last one removes the temporary directory.
//!   [`Process`] values (used for operators a test starts) also kill their child on drop.
//! - The controller-manager runs with `--use-service-account-credentials`, so garbage collection
//!   and the StatefulSet controller are the real ones; there is no kubelet and no scheduler: tests
//!   that need running pods play both (bind, set status, finish deletions).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the control-plane binaries are looked up.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("KUBE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kube-test/bin"))
}

/// A child process under a supervisor that kills it when this test process goes away.
pub struct Process {
    /// PID of the supervised program itself (not of the supervisor).
    pub pid: u32,
    /// Its combined stdout/stderr.
    pub log: PathBuf,
    supervisor: Child,
    // Dropping this closes the pipe: the supervisor then kills the program.
    stdin: Option<ChildStdin>,
    name: String,
}

/// The supervisor: starts the program (stdin from /dev/null, output to the log), prints its PID,
/// then waits for EOF on its own stdin; EOF (the test process closed the pipe or died) kills the
/// program, TERM first, KILL after 2 s. `$1` is a directory to remove afterwards ("" for none).
const SUPERVISOR: &str = r#"
cleanup_dir="$1"; log="$2"; shift 2
"$@" </dev/null >>"$log" 2>&1 &
child=$!
echo "$child"
cat >/dev/null
kill -TERM "$child" 2>/dev/null
i=0
while kill -0 "$child" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$child" 2>/dev/null
wait "$child" 2>/dev/null
[ -n "$cleanup_dir" ] && rm -rf "$cleanup_dir"
exit 0
"#;

impl Process {
    /// Starts `program args` with `env`, output appended to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: &Path,
        cleanup_dir: Option<&Path>,
    ) -> std::io::Result<Process> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SUPERVISOR)
            .arg("supervisor")
            .arg(cleanup_dir.map(|d| d.as_os_str()).unwrap_or_default())
            .arg(log)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut supervisor = cmd.spawn()?;
        let stdin = supervisor.stdin.take();
        let stdout = supervisor
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("supervisor has no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let pid = line
            .trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("supervisor of {name} said {line:?}")))?;
        Ok(Process {
            pid,
            log: log.to_path_buf(),
            supervisor,
            stdin,
            name: name.to_string(),
        })
    }

    /// Whether the program still runs.
    pub fn alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Sends `signal` (e.g. `KILL`, `TERM`) to the program.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// The program's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the program (TERM, then KILL) and waits for the supervisor.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.stdin.take().is_some() {
            let _ = self.supervisor.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Process({} pid {})", self.name, self.pid)
    }
}

/// A running control plane.
pub struct ControlPlane {
    /// Temporary directory with certificates, kubeconfigs, etcd data and logs.
    pub dir: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// Kubeconfig of a `system:masters` user.
    pub admin_kubeconfig: PathBuf,
    /// CA certificate of the API server.
    pub ca: PathBuf,
    /// How long the start took.
    pub started_in: Duration,
    // Kept alive for the life of the test binary (a static is never dropped: the supervisors'
    // pipes close at process exit). Order: controller-manager, apiserver, etcd.
    _processes: Vec<Process>,
}

static SHARED: OnceLock<Option<ControlPlane>> = OnceLock::new();

/// The control plane of this test binary, started on first use; `None` (after printing why) when
/// the binaries or `openssl` are missing here.
pub fn shared() -> Option<&'static ControlPlane> {
    SHARED
        .get_or_init(|| {
            let dir = bin_dir();
            for b in ["kube-apiserver", "kube-controller-manager"] {
                if !dir.join(b).is_file() {
                    eprintln!("SKIPPED (no {b} at {})", dir.join(b).display());
                    return None;
                }
            }
            let Some(etcd) = etcd_binary(&dir) else {
                eprintln!(
                    "SKIPPED (no etcd at {} nor on PATH; Debian: apt-get install etcd-server)",
                    dir.join("etcd").display()
                );
                return None;
            };
            if Command::new("openssl").arg("version").output().is_err() {
                eprintln!("SKIPPED (no openssl to make the control plane's certificates)");
                return None;
            }
            if Command::new("kubectl")
                .args(["version", "--client"])
                .output()
                .is_err()
            {
                eprintln!("SKIPPED (no kubectl)");
                return None;
            }
            let mut last = String::new();
            for attempt in 1..=3 {
                match ControlPlane::start(&dir, &etcd) {
                    Ok(cp) => {
                        eprintln!(
                            "control plane up at {} in {:.1}s (attempt {attempt}), files in {}",
                            cp.server,
                            cp.started_in.as_secs_f64(),
                            cp.dir.display()
                        );
                        return Some(cp);
                    }
                    Err(e) => {
                        eprintln!("control plane start attempt {attempt} failed: {e}");
                        last = e;
                    }
                }
            }
            panic!("the control plane binaries exist but did not start: {last}");
        })
        .as_ref()
}

/// `etcd` from the binary directory, else from `PATH` (Debian's `etcd-server` puts it in
/// /usr/bin).
fn etcd_binary(dir: &Path) -> Option<PathBuf> {
    let local = dir.join("etcd");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("etcd"))
            .find(|p| p.is_file())
    })
}

/// `N` distinct free ports on 127.0.0.1: all listeners are held until every port is known, so
/// the kernel cannot hand out one twice. A program that later loses its port to a race fails to
/// start, and the whole control plane start is retried with new ports.
fn free_ports<const N: usize>() -> Result<[u16; N], String> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for p in &mut ports {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
        *p = l
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| format!("local_addr: {e}"))?;
        listeners.push(l);
    }
    Ok(ports)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?}: {}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    run(Command::new("openssl").current_dir(dir).args(args)).map(|_| ())
}

/// Makes the CA, serving and client certificates and the service-account key pair in `pki`.
fn make_pki(pki: &Path) -> Result<(), String> {
    std::fs::create_dir_all(pki).map_err(|e| e.to_string())?;
    let days = ["-days", "30", "-sha256"];
    openssl(
        pki,
        &[
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            ][..],
            &["-out", "ca.crt", "-subj", "/CN=kube-test-ca"],
            &days,
        ]
        .concat(),
    )?;
    std::fs::write(
        pki.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        pki.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .map_err(|e| e.to_string())?;
    for (name, subject, ext) in [
        ("apiserver", "/CN=kube-apiserver", "server.ext"),
        (
            "admin",
            "/O=system:masters/CN=kube-test-admin",
            "client.ext",
        ),
        (
            "controller-manager",
            "/CN=system:kube-controller-manager",
            "client.ext",
        ),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        openssl(
            pki,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                subject,
            ],
        )?;
        openssl(
            pki,
            &[
                &[
                    "x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key",
                ][..],
                &["-CAcreateserial", "-extfile", ext, "-out", &crt],
                &days,
            ]
            .concat(),
        )?;
    }
    openssl(pki, &["genrsa", "-out", "sa.key", "2048"])?;
    openssl(pki, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
    Ok(())
}

/// A kubeconfig for `server` with either a client certificate or a bearer token.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    user: KubeconfigUser<'_>,
) -> std::io::Result<()> {
    let user = match user {
        KubeconfigUser::Cert { cert, key } => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        ),
        KubeconfigUser::Token(t) => format!("    token: {t}\n"),
    };
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n{user}contexts:\n- name: test\n  context: {{cluster: test, user: u}}\ncurrent-context: test\n",
            ca.display()
        ),
    )
}

/// The credentials of a kubeconfig.
pub enum KubeconfigUser<'a> {
    /// A client certificate and its key.
    Cert {
        /// Certificate PEM file.
        cert: &'a Path,
        /// Key PEM file.
        key: &'a Path,
    },
    /// A bearer token (e.g. from a TokenRequest).
    Token(&'a str),
}

fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200")
}

fn wait_until(
    what: &str,
    p: &Process,
    timeout: Duration,
    mut ok: impl FnMut() -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if ok() {
            return Ok(());
        }
        if !p.alive() {
            let log = p.log_text();
            let tail: String = log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!("{what} exited early:\n{tail}"));
        }
        if start.elapsed() > timeout {
            return Err(format!("{what} not ready after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

impl ControlPlane {
    fn start(bin: &Path, etcd_bin: &Path) -> Result<ControlPlane, String> {
        let t0 = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("kube-test-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let pki = dir.join("pki");
        if let Err(e) = make_pki(&pki) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let ports = free_ports::<3>();
        let [etcd_client, etcd_peer, api_port] = match ports {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let log = |n: &str| dir.join(format!("{n}.log"));
        let s = |x: &str| x.to_string();
        let p = |f: &str| pki.join(f).display().to_string();

        // The etcd supervisor is started first and so holds the pipe the longest: it removes the
        // directory when the test binary ends.
        let etcd = Process::spawn(
            "etcd",
            etcd_bin,
            &[
                s("--name=kube-test"),
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-cluster=kube-test=http://127.0.0.1:{etcd_peer}"),
                s("--initial-cluster-state=new"),
            ],
            &[],
            &log("etcd"),
            Some(&dir),
        )
        .map_err(|e| e.to_string())?;
        wait_until("etcd", &etcd, Duration::from_secs(30), || {
            http_get_ok(etcd_client, "/health")
        })?;

        let apiserver = Process::spawn(
            "kube-apiserver",
            &bin.join("kube-apiserver"),
            &[
                s("--bind-address=127.0.0.1"),
                s("--advertise-address=127.0.0.1"),
                format!("--secure-port={api_port}"),
                format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
                s("--service-cluster-ip-range=10.0.0.0/24"),
                s("--service-account-issuer=https://kubernetes.default.svc"),
                format!("--service-account-key-file={}", p("sa.pub")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                s("--authorization-mode=Node,RBAC"),
                format!("--client-ca-file={}", p("ca.crt")),
                format!("--tls-cert-file={}", p("apiserver.crt")),
                format!("--tls-private-key-file={}", p("apiserver.key")),
                s("--profiling=false"),
            ],
            &[],
            &log("kube-apiserver"),
            None,
        )
        .map_err(|e| e.to_string())?;
        let server = format!("https://127.0.0.1:{api_port}");
        let ca = pki.join("ca.crt");
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            &server,
            &ca,
            KubeconfigUser::Cert {
                cert: &pki.join("admin.crt"),
                key: &pki.join("admin.key"),
            },
        )
        .map_err(|e| e.to_string())?;
        let kcm_kubeconfig = dir.join("controller-manager.kubeconfig");
        write_kubeconfig(
            &kcm_kubeconfig,
            &server,
            &ca,
            KubeconfigUser::Cert {
                cert: &pki.join("controller-manager.crt"),
                key: &pki.join("controller-manager.key"),
            },
        )
        .map_err(|e| e.to_string())?;
        let kubectl = |args: &[&str]| {
            Command::new("kubectl")
                .arg(format!("--kubeconfig={}", admin_kubeconfig.display()))
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"ok"))
        };
        wait_until(
            "kube-apiserver",
            &apiserver,
            Duration::from_secs(120),
            || kubectl(&["get", "--raw", "/readyz"]),
        )?;

        let kcm = Process::spawn(
            "kube-controller-manager",
            &bin.join("kube-controller-manager"),
            &[
                format!("--kubeconfig={}", kcm_kubeconfig.display()),
                format!("--authentication-kubeconfig={}", kcm_kubeconfig.display()),
                format!("--authorization-kubeconfig={}", kcm_kubeconfig.display()),
                // No kubelet heartbeats here: node lifecycle would taint and evict test pods.
                s("--controllers=*,-nodelifecycle"),
                s("--use-service-account-credentials"),
                format!("--service-account-private-key-file={}", p("sa.key")),
                format!("--root-ca-file={}", p("ca.crt")),
                s("--service-cluster-ip-range=10.0.0.0/24"),
                s("--leader-elect=false"),
                s("--bind-address=127.0.0.1"),
                s("--secure-port=0"),
            ],
            &[],
            &log("kube-controller-manager"),
            None,
        )
        .map_err(|e| e.to_string())?;
        // The service-account controller creating `default` shows the controllers run.
        wait_until(
            "kube-controller-manager",
            &kcm,
            Duration::from_secs(90),
            || {
                Command::new("kubectl")
                    .arg(format!("--kubeconfig={}", admin_kubeconfig.display()))
                    .args(["-n", "default", "get", "serviceaccount", "default"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            },
        )?;
        Ok(ControlPlane {
            dir,
            server,
            admin_kubeconfig,
            ca,
            started_in: t0.elapsed(),
            _processes: vec![kcm, apiserver, etcd],
        })
    }

    /// `kubectl --kubeconfig=<admin> args...` with `stdin`; stdout on success, else the error.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, String> {
        let mut child = Command::new("kubectl")
            .arg(format!("--kubeconfig={}", self.admin_kubeconfig.display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("kubectl: {e}"))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A kube client as the admin (its own connection pool: build one per test runtime).
    pub async fn admin_client(&self) -> kube::Client {
        client_from(&self.admin_kubeconfig).await
    }

    /// A kubeconfig authenticating as ServiceAccount `namespace/name`, with a token from the
    /// TokenRequest API (so RBAC bound to that account is what the holder gets).
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let token = self
            .kubectl(
                &["-n", namespace, "create", "token", name, "--duration=2h"],
                None,
            )
            .expect("TokenRequest for the service account");
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self.dir.join(format!(
            "sa-{namespace}-{name}-{}.kubeconfig",
            N.fetch_add(1, Ordering::Relaxed)
        ));
        write_kubeconfig(
            &path,
            &self.server,
            &self.ca,
            KubeconfigUser::Token(token.trim()),
        )
        .expect("writing the kubeconfig");
        path
    }
}

/// A kube client from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("reading the kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kubeconfig to config");
    kube::Client::try_from(cfg).expect("building the client")
}
