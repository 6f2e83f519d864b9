//! `rg serve` started one way in every test: on a free loopback port, in a
//! directory of its own unless the test names one, waited for until it
//! says "Booted", and killed with its workers when the test ends, passed
//! or failed.

use std::ffi::{OsStr, OsString};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use super::{Addr, Running, fixture_binary, free_port, rg};

/// How long a master may take to boot its workers in the tests.
pub const BOOT: Duration = Duration::from_secs(15);

/// `rg serve` to start, built up like a `Command`:
///
/// ```ignore
/// let master = Serve::fixture().args(["-w", "2"]).metrics().start();
/// assert_eq!(get(&master.addr(), "/").unwrap().status, 200);
/// ```
///
/// It binds a free loopback port (`-b 127.0.0.1:PORT`) unless told
/// [`bind_unix`](Serve::bind_unix), and runs in a fresh temporary
/// directory unless given one with [`current_dir`](Serve::current_dir).
pub struct Serve {
    rg: Option<PathBuf>,
    app: Option<OsString>,
    dir: Option<PathBuf>,
    unix: Option<PathBuf>,
    metrics: bool,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    boot: Duration,
    changes: Vec<Change>,
}

/// A change to the command that the builder has no word for.
type Change = Box<dyn FnOnce(&mut Command)>;

impl Serve {
    /// `rg serve APP`: a binary, or a project directory rg builds first.
    pub fn new(app: impl AsRef<OsStr>) -> Serve {
        Serve {
            app: Some(app.as_ref().to_owned()),
            ..Serve::project()
        }
    }

    /// `rg serve` of the fixture application (`tests/e2e/fixture/`).
    pub fn fixture() -> Serve {
        Serve::new(fixture_binary())
    }

    /// `rg serve` with no APP: rg builds the project of its directory,
    /// which [`current_dir`](Serve::current_dir) names.
    pub fn project() -> Serve {
        Serve {
            rg: None,
            app: None,
            dir: None,
            unix: None,
            metrics: false,
            args: Vec::new(),
            envs: Vec::new(),
            boot: BOOT,
            changes: Vec::new(),
        }
    }

    /// Runs this `rg` binary instead of the one under test.
    pub fn rg(mut self, program: impl AsRef<Path>) -> Serve {
        self.rg = Some(program.as_ref().to_owned());
        self
    }

    /// Runs in `dir` (where rg reads `rg.toml` and makes `rg.ctl`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Serve {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Serves on the unix socket `path` instead of a TCP port.
    pub fn bind_unix(mut self, path: impl AsRef<Path>) -> Serve {
        self.unix = Some(path.as_ref().to_owned());
        self
    }

    /// Opens the metrics port too (`--metrics-bind`), on another free port.
    pub fn metrics(mut self) -> Serve {
        self.metrics = true;
        self
    }

    /// Adds one argument after rg's own.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Serve {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments after rg's own.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Serve {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Serve {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// How long [`start`](Serve::start) waits for "Booted" (default [`BOOT`]).
    pub fn boot_timeout(mut self, timeout: Duration) -> Serve {
        self.boot = timeout;
        self
    }

    /// Changes the command last, for what this builder has no word for
    /// (`pre_exec`, `env_remove`).
    pub fn command(mut self, change: impl FnOnce(&mut Command) + 'static) -> Serve {
        self.changes.push(Box::new(change));
        self
    }

    /// Starts rg and waits for "Booted"; fails the test, showing what rg
    /// said, if it does not boot in time.
    pub fn start(self) -> Master {
        let boot = self.boot;
        let master = self.spawn();
        assert!(
            master.wait_for_output("Booted", boot),
            "rg serve did not boot within {boot:?}:\n{}",
            master.stderr()
        );
        master
    }

    /// Starts rg without waiting, for a test that watches it boot or fail.
    pub fn spawn(self) -> Master {
        let (mut cmd, place) = self.prepare();
        Master {
            running: Running::spawn(&mut cmd),
            place,
        }
    }

    /// Runs rg to its end and returns what it printed, for an `rg serve`
    /// expected to refuse to start.
    pub fn output(self) -> Output {
        let (mut cmd, _place) = self.prepare();
        cmd.output().expect("run rg serve")
    }

    /// The command, and where it will serve.
    fn prepare(self) -> (Command, Place) {
        let mut cmd = match &self.rg {
            Some(program) => Command::new(program),
            None => rg(),
        };
        cmd.arg("serve");
        if let Some(app) = &self.app {
            cmd.arg(app);
        }
        let tmp = match &self.dir {
            Some(dir) => {
                cmd.current_dir(dir);
                None
            }
            None => {
                let tmp = tempfile::tempdir().expect("a temporary directory");
                cmd.current_dir(tmp.path());
                Some(tmp)
            }
        };
        let port = match &self.unix {
            Some(path) => {
                cmd.arg("-b").arg(format!("unix:{}", path.display()));
                None
            }
            None => {
                let port = free_port();
                cmd.args(["-b", &format!("127.0.0.1:{port}")]);
                Some(port)
            }
        };
        let metrics = self.metrics.then(|| {
            let port = free_port();
            cmd.args(["--metrics-bind", &format!("127.0.0.1:{port}")]);
            port
        });
        cmd.args(&self.args);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        for change in self.changes {
            change(&mut cmd);
        }
        let place = Place {
            port,
            unix: self.unix,
            metrics,
            _tmp: tmp,
        };
        (cmd, place)
    }
}

/// A running `rg serve` master: where it serves, and the process itself
/// (a [`Running`], through `Deref`: pid, signals, output). Dropping it
/// kills the master's process group, its workers with it, then removes
/// the temporary directory it ran in, if the builder made one.
pub struct Master {
    // Declared first, so dropped first: the processes go before their
    // directory does.
    running: Running,
    place: Place,
}

/// Where a master serves, and the temporary directory it runs in.
struct Place {
    port: Option<u16>,
    unix: Option<PathBuf>,
    metrics: Option<u16>,
    _tmp: Option<TempDir>,
}

impl Master {
    /// The loopback port it serves on.
    pub fn port(&self) -> u16 {
        self.place
            .port
            .expect("rg serve was bound to a unix socket, not a port")
    }

    /// Where it serves: the loopback port, or the unix socket.
    pub fn addr(&self) -> Addr {
        match &self.place.unix {
            Some(path) => Addr::Unix(path.clone()),
            None => Addr::tcp(self.port()),
        }
    }

    /// The port of its metrics (`Serve::metrics`).
    pub fn metrics_port(&self) -> u16 {
        self.place.metrics.expect("started without Serve::metrics")
    }

    /// Where its metrics are served (`Serve::metrics`).
    pub fn metrics(&self) -> Addr {
        Addr::tcp(self.metrics_port())
    }
}

impl Deref for Master {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}

impl DerefMut for Master {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.running
    }
}
