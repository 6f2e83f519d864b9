//! `rg status`: the workers of a running `rg serve`, as a table, the way
//! `systemctl status` or Puma's `pumactl stats` show a running server.
//!
//! It finds the server through its metrics port (`metrics_bind`, from the
//! flag, `RG_METRICS_BIND` or `rg.toml`), whose `/status` page the master
//! writes from its own view: pid, age, requests served, in flight, memory,
//! last heartbeat and state of each worker, and the totals. Without a
//! metrics port it falls back to the pid file and `/proc`, which know the
//! processes but not their requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rg_contract::Bind;
use rg_contract::settings::{METRICS_BIND, PIDFILE};

use crate::config::{self, Origin, Settings, Sources};
use crate::master::metrics::render::human;

/// Show the workers of a running `rg serve`: pid, age, requests served, in
/// flight, memory, last heartbeat and state, and the totals.
///
/// The server is found through its metrics port (metrics_bind), else its pid
/// file, as given here or in rg.toml or the environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project directory whose rg.toml to read [default: .]
    dir: Option<PathBuf>,

    /// The config file [default: rg.toml in the project directory]
    #[arg(short = 'c', long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// The running server's metrics port: HOST:PORT or unix:PATH
    #[arg(long, value_name = "ADDRESS")]
    metrics_bind: Option<String>,

    /// The running server's pid file
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pidfile: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut flags = Vec::new();
    if let Some(bind) = &args.metrics_bind {
        flags.push((METRICS_BIND.key, bind.clone()));
    }
    if let Some(pidfile) = &args.pidfile {
        flags.push((PIDFILE.key, pidfile.display().to_string()));
    }
    let sources = Sources {
        explicit_file: args.config.clone(),
        default_file: Some(
            args.dir
                .as_ref()
                .map_or_else(|| PathBuf::from("rg.toml"), |d| d.join("rg.toml")),
        ),
        flags,
    };
    let settings = config::load(&sources, |k| std::env::var(k).ok())?;
    if let Some(bind) = &settings.master.metrics_bind {
        let table = fetch(bind, "/status").with_context(|| {
            format!(
                "nothing answers at {bind} (metrics_bind, from {}): is rg serve running with it?",
                origin(&settings, METRICS_BIND.key)
            )
        })?;
        print!("{table}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(pidfile) = &settings.master.pidfile {
        print!("{}", from_proc(pidfile, &settings)?);
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "rg status finds a running rg serve through its metrics port or its pid file, and neither is set: \
         set metrics_bind (or pidfile) in rg.toml, or pass --metrics-bind ADDRESS or --pid FILE"
    )
}

fn origin(settings: &Settings, key: &str) -> String {
    settings.values.get(key).map_or_else(
        || "default".into(),
        |(_, origin): &(String, Origin)| origin.to_string(),
    )
}

/// `GET path` on the metrics port; the body of a 200.
fn fetch(bind: &Bind, path: &str) -> Result<String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: rg\r\nConnection: close\r\n\r\n");
    let timeout = Some(Duration::from_secs(5));
    let mut raw = Vec::new();
    match bind {
        Bind::Tcp(addr) => {
            let mut stream = TcpStream::connect_timeout(addr, Duration::from_secs(5))?;
            stream.set_read_timeout(timeout)?;
            stream.write_all(request.as_bytes())?;
            stream.read_to_end(&mut raw)?;
        }
        Bind::Unix(path) => {
            let mut stream = UnixStream::connect(path)?;
            stream.set_read_timeout(timeout)?;
            stream.write_all(request.as_bytes())?;
            stream.read_to_end(&mut raw)?;
        }
        Bind::Fd(_) => bail!("fd:// is not an address rg status can reach"),
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("not an HTTP answer: {text:?}"))?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        bail!("{bind}{path} answered {status}: {}", body.trim());
    }
    Ok(body.to_string())
}

/// What the pid file and /proc tell without the master's help.
fn from_proc(pidfile: &Path, settings: &Settings) -> Result<String> {
    let from = origin(settings, PIDFILE.key);
    let text = std::fs::read_to_string(pidfile).map_err(|e| {
        anyhow!(
            "rg serve is not running: no pid file at {} (pidfile, from {from}): {e}",
            pidfile.display()
        )
    })?;
    let pid: u32 = text
        .trim()
        .parse()
        .map_err(|_| anyhow!("{} does not hold a pid: {:?}", pidfile.display(), text.trim()))?;
    let Some(master) = Process::read(pid) else {
        bail!(
            "rg serve is not running: {} names pid {pid}, which is gone",
            pidfile.display()
        );
    };
    let mut out = format!(
        "rg serve: master pid {pid}, up {}\n\n{:>8}  {:>8}  {:>9}  STATE\n",
        human(master.age),
        "PID",
        "AGE",
        "RSS"
    );
    for child in children(pid).into_iter().filter_map(Process::read) {
        out.push_str(&format!(
            "{:>8}  {:>8}  {:>9}  {}\n",
            child.pid,
            human(child.age),
            format!("{:.1} MB", child.rss as f64 / (1024.0 * 1024.0)),
            child.state
        ));
    }
    out.push_str("\nRequests, heartbeats and restarts are shown with a metrics port: set metrics_bind.\n");
    Ok(out)
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

struct Process {
    pid: u32,
    age: Duration,
    rss: u64,
    state: &'static str,
}

impl Process {
    /// From `/proc/PID/stat` and `statm`; `None` when it is gone (or a
    /// zombie, which no longer serves).
    fn read(pid: u32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let state = match *fields.first()? {
            "R" => "running",
            "S" | "D" | "I" => "sleeping",
            "T" | "t" => "stopped",
            _ => return None,
        };
        // starttime is field 22 of stat, the 20th after the name and state.
        let started: u64 = fields.get(19)?.parse().ok()?;
        // SAFETY: sysconf(3) has no preconditions.
        let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let age = Duration::from_secs_f64((uptime - started as f64 / ticks as f64).max(0.0));
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: as above.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        Some(Process {
            pid,
            age,
            rss: pages * page,
            state,
        })
    }
}
