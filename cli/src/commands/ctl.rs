//! `rg ctl`: the client of a running master's control socket, as
//! `gunicornc` and `pumactl` are: one command, one JSON line each way.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::config::{self, Sources};
use crate::master::metrics::render::human;

/// Talk to a running rg serve over its control socket (control_socket in rg.toml, else ./rg.ctl).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Ask,

    /// The control socket [default: control_socket from rg.toml, else rg.ctl]
    #[arg(short = 's', long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,

    /// The config file whose control_socket to use [default: rg.toml]
    #[arg(short = 'c', long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,

    /// Print the master's answer as JSON, for scripts
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Ask {
    /// The workers: pid, age, requests, in flight, memory, state
    Workers,
    /// The master: version, pid, uptime, requests, restarts, failed reloads
    Stats,
    /// The effective settings, and where each came from
    Config,
    /// Start more workers (as TTIN)
    Add {
        /// How many
        #[arg(default_value_t = 1)]
        count: u32,
    },
    /// Stop some workers, never the last one (as TTOU)
    Remove {
        /// How many
        #[arg(default_value_t = 1)]
        count: u32,
    },
    /// Re-read the settings and roll the workers onto the binary on disk (as HUP)
    Reload,
    /// Upgrade the master in place to the rg now on disk, same pid, workers kept (as USR2)
    Upgrade,
    /// Reopen the log files (as USR1)
    ReopenLogs,
    /// Stop rg serve: gracefully, as TERM (the default), or with --now at once
    Stop {
        /// Finish in-flight requests first (the default)
        #[arg(long, conflicts_with = "now")]
        graceful: bool,
        /// Stop at once, as INT
        #[arg(long)]
        now: bool,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    let socket = match &args.socket {
        Some(path) => path.clone(),
        None => {
            let sources = Sources {
                explicit_file: args.config.clone(),
                default_file: Some(PathBuf::from("rg.toml")),
                flags: Vec::new(),
            };
            config::control_socket(&sources, |k| std::env::var(k).ok())?.ok_or_else(|| {
                anyhow!("control_socket is off (\"\"), so rg serve has no control socket to talk to")
            })?
        }
    };
    let request = match &args.command {
        Ask::Workers => json!({ "command": "workers" }),
        Ask::Stats => json!({ "command": "stats" }),
        Ask::Config => json!({ "command": "config" }),
        Ask::Add { count } => json!({ "command": "add", "count": count }),
        Ask::Remove { count } => json!({ "command": "remove", "count": count }),
        Ask::Reload => json!({ "command": "reload" }),
        Ask::Upgrade => json!({ "command": "upgrade" }),
        Ask::ReopenLogs => json!({ "command": "reopen-logs" }),
        Ask::Stop { now, .. } => json!({ "command": "stop", "graceful": !now }),
    };
    let answer = exchange(&socket, &request)?;
    if args.json {
        println!("{answer}");
    }
    if answer["ok"] != true {
        let why = answer["error"].as_str().unwrap_or("no reason given");
        bail!(
            "rg serve refused `{}`: {why}",
            request["command"].as_str().unwrap_or_default()
        );
    }
    if !args.json {
        print!("{}", show(&args.command, &answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends one request line and reads the answer line; errors say what to do.
fn exchange(socket: &std::path::Path, request: &Value) -> Result<Value> {
    let shown = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        ErrorKind::NotFound => anyhow!(
            "no control socket at `{shown}`: is rg serve running here? (rg ctl looks where control_socket says, relative to this directory; -s PATH names it)"
        ),
        ErrorKind::PermissionDenied => anyhow!(
            "permission denied on `{shown}`: the control socket is for the user rg serve runs as (mode 0600); run rg ctl as that user"
        ),
        ErrorKind::ConnectionRefused => {
            anyhow!("nothing answers on `{shown}`: the socket was left by an rg serve that is gone")
        }
        _ => anyhow::Error::new(e).context(format!("could not connect to `{shown}`")),
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream
        .write_all(format!("{request}\n").as_bytes())
        .with_context(|| format!("could not send to `{shown}`"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .with_context(|| format!("no answer on `{shown}`"))?;
    serde_json::from_str(&line).with_context(|| format!("an answer that is not JSON on `{shown}`: {line:?}"))
}

/// The answer in words, for a person.
fn show(ask: &Ask, answer: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let seconds = |v: &Value| human(Duration::from_secs_f64(v.as_f64().unwrap_or(0.0)));
    match ask {
        Ask::Workers => {
            let mut out = format!(
                "{:>6}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  STATE\n",
                "WORKER", "PID", "AGE", "REQUESTS", "IN FLIGHT", "RSS"
            );
            for w in answer["workers"].as_array().into_iter().flatten() {
                let rss = w["rss_bytes"]
                    .as_f64()
                    .map_or("-".into(), |b| format!("{:.1} MB", b / (1024.0 * 1024.0)));
                out.push_str(&format!(
                    "{:>6}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  {}\n",
                    text(&w["id"]),
                    text(&w["pid"]),
                    seconds(&w["age_seconds"]),
                    text(&w["requests"]),
                    text(&w["in_flight"]),
                    rss,
                    text(&w["state"])
                ));
            }
            out
        }
        Ask::Stats => {
            let mut out = format!(
                "rg {}, master pid {}, up {}, {}: {} of {} workers ready\n",
                text(&answer["version"]),
                text(&answer["master_pid"]),
                seconds(&answer["uptime_seconds"]),
                text(&answer["phase"]),
                text(&answer["workers_ready"]),
                text(&answer["workers_desired"]),
            );
            out.push_str(&format!("Application: {}\n", text(&answer["application"])));
            out.push_str(&format!(
                "Requests: {} ({} by workers since replaced), {} in flight, {} connections open\n",
                text(&answer["requests"]),
                text(&answer["requests_by_gone_workers"]),
                text(&answer["in_flight"]),
                text(&answer["connections"]),
            ));
            let restarts: Vec<String> = (answer["restarts"].as_object().into_iter().flatten())
                .map(|(why, n)| format!("{why} {n}"))
                .collect();
            out.push_str(&format!("Restarts: {}\n", restarts.join(", ")));
            out.push_str(&format!("Failed reloads: {}\n", text(&answer["reload_failures"])));
            if let Some(why) = answer["held"].as_str() {
                out.push_str(&format!("Not starting workers until the next HUP: {why}\n"));
            }
            out
        }
        Ask::Config => (answer["settings"].as_array().into_iter().flatten())
            .map(|s| {
                format!(
                    "{} = {:?}  # {}\n",
                    text(&s["key"]),
                    text(&s["value"]),
                    text(&s["origin"])
                )
            })
            .collect(),
        Ask::Add { .. } | Ask::Remove { .. } => format!("Workers wanted: {}\n", text(&answer["target"])),
        Ask::Reload => {
            "Reloading: the workers roll onto the binary on disk (rg ctl stats shows how it went)\n".into()
        }
        Ask::Upgrade => format!(
            "Upgrading: checking the new rg at {} (rg ctl stats shows the version once it is done)\n",
            text(&answer["checking"])
        ),
        Ask::ReopenLogs => "Reopening the log files\n".into(),
        Ask::Stop { .. } => format!("Stopping {}\n", text(&answer["stopping"])),
    }
}
