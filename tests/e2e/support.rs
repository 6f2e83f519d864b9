//! What the end-to-end tests share: the real `rg` binary, generated projects
//! built by cargo into one shared target directory, processes that are
//! always cleaned up, and a tiny HTTP client over real sockets.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A command running the `rg` binary under test. The projects it makes
/// depend on this checkout's runtime (as a contributor's do), so the suite
/// builds the runtime once; `portable.rs` tests the vendored copy.
pub fn rg() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rg"));
    cmd.env("RG_RUNTIME_PATH", workspace().join("runtime"));
    cmd
}

/// Runs `rg` with `args` in `dir` and returns what it printed.
pub fn rg_in(dir: &Path, args: &[&str]) -> Output {
    rg().args(args).current_dir(dir).output().expect("run rg")
}

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where generated projects are written and built: one target directory
/// shared by all of them, so dependencies are compiled once per suite.
pub fn e2e_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("e2e")
}

/// Generates project `name` with `rg new`, lets `customize` change it,
/// builds it, and returns its binary. Done once per test process; a file
/// lock keeps parallel test processes from building over each other.
fn build_project(name: &str, customize: impl FnOnce(&Path)) -> PathBuf {
    let root = e2e_dir();
    let projects = root.join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    let lock = File::create(projects.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    let dir = projects.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let out = rg_in(&projects, &["new", name]);
    assert!(
        out.status.success(),
        "rg new {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The workspace's lock file pins the versions rg was tested with, and
    // lets every project share the dependencies already built.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    customize(&dir);
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo build of the generated project {name} failed"
    );
    root.join("target").join("debug").join(name)
}

/// The binary of a freshly generated, unmodified project.
pub fn hello_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_project("hello", |_| {}))
}

/// The guestbook of the book's database chapter (`tests/e2e/guestbook/`):
/// SQLite or PostgreSQL through sqlx, set up asynchronously in each worker.
pub fn guestbook_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    // Not named `guestbook`: the book's tutorial builds a project of that
    // name into the same target directory.
    BIN.get_or_init(|| build_project("guestbook_serve", make_guestbook))
}

/// Generates project `name` with the guestbook's code, unbuilt, for
/// `rg runserver` to build.
pub fn guestbook_project(name: &str) -> PathBuf {
    let dir = dev_project(name);
    make_guestbook(&dir);
    dir
}

fn make_guestbook(dir: &Path) {
    let source = workspace().join("tests/e2e/guestbook/application.rs");
    std::fs::copy(source, dir.join("src/application.rs")).unwrap();
    let fixture_main = workspace().join("templates/project/src/main.rs");
    let main = std::fs::read_to_string(fixture_main)
        .unwrap()
        .replace("{{name}}", "the guestbook");
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(
        "\n[profile.release]",
        &format!("{GUESTBOOK_DEPENDENCIES}\n[profile.release]"),
    );
    std::fs::write(&manifest, text).unwrap();
}

/// What the book's database chapter adds with `cargo add`.
pub const GUESTBOOK_DEPENDENCIES: &str = r#"sqlx = { version = "0.9", default-features = false, features = ["runtime-tokio", "any", "sqlite", "postgres", "derive"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tower-http = { version = "0.6", features = ["fs"] }
"#;

/// The directory of the `hello` project (generated and built on first use).
pub fn hello_project() -> PathBuf {
    hello_binary();
    e2e_dir().join("projects").join("hello")
}

/// The target directory generated projects build into.
pub fn e2e_target() -> PathBuf {
    e2e_dir().join("target")
}

/// Generates project `name` with the fixture application, unbuilt, for
/// `rg runserver` to build (into the shared target directory).
pub fn dev_project(name: &str) -> PathBuf {
    let projects = e2e_dir().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    let dir = projects.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let out = rg_in(&projects, &["new", name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let fixture = workspace().join("tests/e2e/fixture");
    for file in ["main.rs", "application.rs"] {
        std::fs::copy(fixture.join(file), dir.join("src").join(file)).unwrap();
    }
    dir
}

/// A generated project whose application is `tests/e2e/fixture/`: slow
/// requests, the environ, the pid, HTML and JSON.
pub fn fixture_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        build_project("fixture", |dir| {
            let fixture = workspace().join("tests/e2e/fixture");
            for file in ["main.rs", "application.rs"] {
                std::fs::copy(fixture.join(file), dir.join("src").join(file)).unwrap();
            }
        })
    })
}

/// How long a master may take to boot its workers in the tests.
pub const BOOT: Duration = Duration::from_secs(15);

/// Starts `rg serve FIXTURE ARGS` in `dir` and waits for "Booted".
pub fn serve_fixture(dir: &Path, args: &[&str]) -> Running {
    let mut cmd = rg();
    cmd.arg("serve").arg(fixture_binary()).args(args).current_dir(dir);
    let master = Running::spawn(&mut cmd);
    assert!(
        master.wait_for_output("Booted", BOOT),
        "rg serve did not boot: {}",
        master.stderr()
    );
    master
}

/// `rg serve FIXTURE ARGS` in `dir` on a free port with its metrics port on another;
/// (master, serving address, metrics address).
pub fn serve_with_metrics(dir: &Path, args: &[&str]) -> (Running, Addr, Addr) {
    let (port, metrics) = (free_port(), free_port());
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{port}")])
        .args(["--metrics-bind", &format!("127.0.0.1:{metrics}")])
        .args(args)
        .current_dir(dir);
    let master = Running::spawn(&mut cmd);
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    (master, Addr::tcp(port), Addr::tcp(metrics))
}

/// The value of one sample line of `/metrics` (`name{labels}` exactly).
pub fn sample(metrics: &Addr, series: &str) -> f64 {
    let page = get(metrics, "/metrics").unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{}", page.body))
}

/// The worker processes of a master.
pub fn workers(master: &Running) -> Vec<i32> {
    children(master.pid())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process under test, killed with its whole process group when dropped
/// (so a failing test leaves nothing running), with its output collected.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Starts `cmd` in a process group of its own, capturing its output.
    pub fn spawn(cmd: &mut Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        cmd.process_group(0);
        let mut child = cmd.spawn().expect("spawn");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a child we have not reaped.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until stdout or stderr contains `needle`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stdout().contains(needle) || self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: the group was created for this child by process_group(0).
        unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    buffer
}

/// Where a server listens.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Addr {
    pub fn tcp(port: u16) -> Addr {
        Addr::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends one `GET path` with `Connection: close` and reads the response.
pub fn get(addr: &Addr, path: &str) -> std::io::Result<Response> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends raw request bytes and reads the response until the server closes.
pub fn request(addr: &Addr, raw: &str) -> std::io::Result<Response> {
    let mut bytes = Vec::new();
    match addr {
        Addr::Tcp(a) => {
            let mut s = TcpStream::connect_timeout(a, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(raw.as_bytes())?;
            s.read_to_end(&mut bytes)?;
        }
        Addr::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(raw.as_bytes())?;
            s.read_to_end(&mut bytes)?;
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response in {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok(Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Polls `GET /` until the server answers, for at most `timeout`.
pub fn wait_until_serving(addr: &Addr, timeout: Duration) -> Response {
    let deadline = Instant::now() + timeout;
    loop {
        match get(addr, "/") {
            Ok(r) => return r,
            Err(e) if Instant::now() > deadline => panic!("{addr:?} did not answer within {timeout:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The pids of `parent`'s child processes, from /proc.
pub fn children(parent: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fields after the command name, which is in parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) && state != Some("Z") {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
}

/// Polls `condition` every 20 ms for at most `timeout`.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// A steady request load: `clients` threads each sending `GET path` on a
/// new connection, back to back, until stopped. Bounded: each client stops
/// by itself after 60 seconds.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<LoadReport>>,
}

/// What a load saw.
#[derive(Debug)]
pub struct LoadReport {
    pub ok: u64,
    pub failures: Vec<String>,
    /// Distinct response bodies (the fixture's /pid answers with the worker's pid).
    pub bodies: std::collections::BTreeSet<String>,
}

impl LoadReport {
    /// Fails the test, showing the first failures, if any request failed.
    pub fn assert_none_failed(&self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} requests failed: {:?}",
            self.failures.len(),
            self.ok + self.failures.len() as u64,
            &self.failures[..self.failures.len().min(5)]
        );
    }
}

impl Load {
    pub fn start(addr: &Addr, path: &str, clients: usize) -> Load {
        let path = path.to_string();
        Load::each(addr, clients, move |addr| get(addr, &path))
    }

    /// A load of `send`'s requests; 2xx answers count as served.
    pub fn each(
        addr: &Addr,
        clients: usize,
        send: impl Fn(&Addr) -> std::io::Result<Response> + Clone + Send + 'static,
    ) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let (addr, send, stop) = (addr.clone(), send.clone(), stop.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut report = LoadReport {
                        ok: 0,
                        failures: Vec::new(),
                        bodies: Default::default(),
                    };
                    while !stop.load(std::sync::atomic::Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(60)
                    {
                        match send(&addr) {
                            Ok(r) if (200..300).contains(&r.status) => {
                                report.ok += 1;
                                report.bodies.insert(r.body);
                            }
                            Ok(r) => report.failures.push(format!("status {}", r.status)),
                            Err(e) => report.failures.push(e.to_string()),
                        }
                    }
                    report
                })
            })
            .collect();
        Load { stop, threads }
    }

    pub fn stop(self) -> LoadReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut report = LoadReport {
            ok: 0,
            failures: Vec::new(),
            bodies: Default::default(),
        };
        for t in self.threads {
            let part = t.join().unwrap();
            report.ok += part.ok;
            report.failures.extend(part.failures);
            report.bodies.extend(part.bodies);
        }
        report
    }
}

/// `rg` one patch version ahead: this source tree with only its version
/// changed, built once per test process (a lock keeps processes apart) into
/// a target directory of its own; its binary and its version.
pub fn next_rg() -> &'static (PathBuf, String) {
    static NEXT: OnceLock<(PathBuf, String)> = OnceLock::new();
    NEXT.get_or_init(|| {
        let version = env!("CARGO_PKG_VERSION");
        let mut parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap()).collect();
        parts[2] += 1;
        let next = format!("{}.{}.{}", parts[0], parts[1], parts[2]);
        let root = e2e_dir().join("rg-next");
        std::fs::create_dir_all(&root).unwrap();
        let lock = File::create(root.join("build.lock")).unwrap();
        lock.lock().unwrap();
        let tree = root.join("tree");
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::create_dir_all(&tree).unwrap();
        let mut copy = Command::new("cp");
        copy.arg("-a");
        for item in [
            "Cargo.toml",
            "Cargo.lock",
            "cli",
            "contract",
            "dylib",
            "internal",
            "runtime",
            "templates",
            "tests",
        ] {
            copy.arg(workspace().join(item));
        }
        assert!(
            copy.arg(&tree).status().unwrap().success(),
            "copying the source tree"
        );
        let manifest = tree.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let bumped = text.replace(
            &format!("version = \"{version}\""),
            &format!("version = \"{next}\""),
        );
        assert_eq!(
            bumped.matches(&next).count(),
            5,
            "the workspace's version and its 4 rg crates"
        );
        std::fs::write(&manifest, bumped).unwrap();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "-p", "rg-cli", "--bin", "rg"])
            .current_dir(&tree)
            .env("CARGO_TARGET_DIR", root.join("target"))
            .status()
            .unwrap();
        assert!(status.success(), "building rg {next}");
        (root.join("target/debug/rg"), next)
    })
}
