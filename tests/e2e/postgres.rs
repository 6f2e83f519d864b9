//! A real PostgreSQL server for the tests that need one, not a mock:
//! Debian's `postgresql` package (installed through `tools` when missing),
//! a throwaway cluster in a temporary directory, listening on 127.0.0.1
//! only, on a free port, with its unix socket in that directory. It is
//! stopped (`pg_ctl stop -m immediate`, then its process group killed) when
//! the guard is dropped, so a failing test leaves no server behind.
//!
//! PostgreSQL refuses to run as root: as root, the cluster belongs to the
//! `postgres` user the package creates, and its programs run as that user.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Running, eventually, free_port};

/// A running PostgreSQL server; dropped, it stops.
pub struct Postgres {
    bin: PathBuf,
    /// Whom the server runs as: `Some((uid, gid))` of `postgres` when the
    /// tests run as root.
    owner: Option<(u32, u32)>,
    data: PathBuf,
    port: u16,
    server: Option<Running>,
    // Last, so the directory goes after the server has stopped.
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates a cluster in a temporary directory and starts it.
    pub fn start() -> Postgres {
        let bin = crate::tools::require_package("postgresql", "PostgreSQL's `initdb`", server_programs);
        // SAFETY: geteuid(2) has no preconditions.
        let owner = (unsafe { libc::geteuid() } == 0).then(|| {
            user("postgres").expect("the `postgres` user, which Debian's postgresql package creates")
        });
        let dir = tempfile::Builder::new().prefix("rg-postgres").tempdir().unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let mut postgres = Postgres {
            bin,
            owner,
            data,
            port: 0,
            server: None,
            dir,
        };
        // Trust on the unix socket (only its owner can reach the directory)
        // for the setup below; passwords over TCP, as in production.
        let out = postgres
            .command("initdb")
            .arg("-D")
            .arg(&postgres.data)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed:\n{}", said(&out));
        // A free port may be taken between the look and the bind: try again.
        for _ in 0..3 {
            postgres.port = free_port();
            let mut cmd = postgres.command("postgres");
            cmd.arg("-D")
                .arg(&postgres.data)
                .args(["-h", "127.0.0.1", "-p", &postgres.port.to_string()])
                .arg("-k")
                .arg(postgres.dir.path())
                // A throwaway cluster needs no durability.
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
            let mut server = Running::spawn(&mut cmd);
            let ready = eventually(Duration::from_secs(30), || {
                server.wait_timeout(Duration::ZERO).is_none()
                    && postgres.psql("postgres", "SELECT 1").status.success()
            });
            if ready {
                postgres.server = Some(server);
                return postgres;
            }
            eprintln!(
                "PostgreSQL did not start; trying another port:\n{}",
                server.stderr()
            );
        }
        panic!("PostgreSQL would not start on 127.0.0.1");
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates `user` (who logs in with `password`) and `database`, owned by
    /// that user, as the book tells a reader to; returns its URL.
    pub fn create_database(&self, user: &str, password: &str, database: &str) -> String {
        for sql in [
            format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE {database} OWNER {user}"),
        ] {
            let out = self.psql("postgres", &sql);
            assert!(out.status.success(), "`{sql}` failed:\n{}", said(&out));
        }
        format!("postgres://{user}:{password}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one SQL statement as the superuser, over the unix socket.
    pub fn psql(&self, database: &str, sql: &str) -> Output {
        self.command("psql")
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", database])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql])
            .output()
            .unwrap()
    }

    /// One of the server's programs, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        // Somewhere its user may be, and no settings from the tests' own
        // environment.
        cmd.current_dir(self.dir.path()).env("HOME", self.dir.path());
        for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGDATA"] {
            cmd.env_remove(var);
        }
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["stop", "-m", "immediate", "-w", "-t", "10"])
                .output();
        }
        // Whatever is left of it goes with its process group.
        drop(self.server.take());
    }
}

/// The directory of PostgreSQL's server programs: Debian keeps them off
/// PATH, in `/usr/lib/postgresql/VERSION/bin`; the newest version wins.
/// Elsewhere, wherever `initdb` is on PATH.
fn server_programs() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
}

/// The uid and gid of `name`, from the password database.
fn user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam(3) with a valid C string; the result is read at once,
    // before any other call could overwrite it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: non-null, so it points at a valid passwd record.
    (!entry.is_null()).then(|| unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
