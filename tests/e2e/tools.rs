//! The programs some tests drive (nginx, supervisord, systemd-analyze,
//! curl, PostgreSQL) are not part of Rust. A test that needs one calls [`require`]
//! first: a missing program is installed with apt-get when this machine
//! can (root, Debian or Ubuntu), as `.ci/run` used to do before the tests;
//! otherwise the test fails with a message that names the program and how
//! to install it. It never skips: a test that did not run is not a pass.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// What is installed how: program, Debian package.
const PACKAGES: &[(&str, &str)] = &[
    ("nginx", "nginx"),
    ("haproxy", "haproxy"),
    ("supervisord", "supervisor"),
    ("systemd-analyze", "systemd"),
    ("curl", "curl"),
    ("h2load", "nghttp2-client"),
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
];

/// Makes sure `program` is on PATH, installing its package if it can.
pub fn require(program: &str) {
    let package = PACKAGES
        .iter()
        .find(|(p, _)| *p == program)
        .map_or(program, |(_, package)| package);
    require_package(package, &format!("`{program}`"), || {
        on_path(program).then_some(())
    });
}

/// Makes sure `find` finds what `package` installs (`what`, for messages),
/// installing the package if it can: for programs that are not on PATH,
/// such as PostgreSQL's server programs in `/usr/lib/postgresql/*/bin`.
pub fn require_package<T>(package: &str, what: &str, find: impl Fn() -> Option<T>) -> T {
    // One install at a time within this test process; apt-get's own lock
    // serializes it against other processes.
    static INSTALLING: Mutex<()> = Mutex::new(());
    if let Some(found) = find() {
        return found;
    }
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = find() {
        return found;
    }
    let how = format!(
        "{what} is needed by this test and is not installed: install it with \
         `apt-get install {package}` (Debian's package name) and run the tests again"
    );
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !on_path("apt-get") {
        panic!("{how}");
    }
    eprintln!("installing {package} for the tests that need {what} (apt-get)...");
    if let Err(e) = apt_install(package) {
        panic!("{how} (the automatic install failed: {e})");
    }
    find().unwrap_or_else(|| panic!("{how} (apt-get installed {package} but {what} is still missing)"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `apt-get install` without starting the package's service: Debian's
/// `policy-rc.d` convention tells its maintainer scripts not to (nginx would
/// otherwise start on port 80 and outlive the tests).
fn apt_install(package: &str) -> Result<(), String> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    };
    let result = run(&["install", "-y", "-qq", "--no-install-recommends", package]).or_else(|_| {
        // The package lists may be missing or stale on a fresh machine.
        run(&["update", "-qq"])?;
        run(&["install", "-y", "-qq", "--no-install-recommends", package])
    });
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// A directory holding the Python package `package` (for `PYTHONPATH`),
/// installed there with pip from the package registry the first time:
/// tools such as Kubernetes' schema validator come from PyPI, not Debian.
/// Needs `python3` with pip, installed with apt-get when missing.
pub fn require_python_package(package: &str) -> std::path::PathBuf {
    let python = || {
        Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
            .then_some(())
    };
    require_package("python3-pip", "python3 with pip", python);
    let dir = crate::support::e2e_dir().join("python").join(package);
    let done = dir.join(".installed");
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !done.exists() {
        eprintln!("installing {package} for the tests that need it (pip)...");
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg(package)
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "`python3 -m pip install {package}` failed; this test needs it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&done, "").unwrap();
    }
    dir
}
