//! `rg serve`: the production server. A master binds the sockets, starts
//! `workers` processes of the application, and supervises them (see
//! `master/driver.rs`), the way `gunicorn project.wsgi:application` does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rg_runtime::settings::LogTarget;

use crate::config::{self, Sources};
use crate::dev::cargo::{self, Profile};
use crate::master::driver::Arbiter;
use crate::master::owner::Owner;
use crate::master::pidfile::Pidfile;
use crate::master::sockets::Sockets;

/// Serve an application in production: a master process and its workers.
///
/// Settings come from defaults < rg.toml < RG_* environment variables < these
/// flags. Signals: TERM stops gracefully, INT/QUIT stop now, HUP reloads the
/// configuration and rolls the workers onto the binary on disk, TTIN/TTOU add
/// or remove a worker, USR1 reopens the log files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A project directory (built with `cargo build --release` first) or an
    /// executable built with the rg runtime [default: .]
    app: Option<PathBuf>,

    /// An address to listen on (repeatable): HOST:PORT, [V6]:PORT, unix:PATH, fd://N [default: 127.0.0.1:8000]
    #[arg(short = 'b', long = "bind", value_name = "ADDRESS")]
    bind: Vec<String>,

    /// Worker processes: a number or an expression like "cpu_count * 2 + 1" [default: cpu_count]
    #[arg(short = 'w', long, value_name = "N")]
    workers: Option<String>,

    /// Threads of each worker's async runtime [default: 1]
    #[arg(long, value_name = "N")]
    threads: Option<String>,

    /// Most connections each worker serves at once; more wait [default: 1000]
    #[arg(long, value_name = "N")]
    worker_connections: Option<String>,

    /// The config file [default: rg.toml in the project directory]
    #[arg(short = 'c', long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Seconds without a heartbeat before a worker is killed (0: never) [default: 30]
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<String>,

    /// Seconds workers get to finish requests on stop, reload and recycle [default: 30]
    #[arg(long, value_name = "SECONDS")]
    graceful_timeout: Option<String>,

    /// Seconds to receive a request's headers, idle keep-alive included [default: 5]
    #[arg(long, value_name = "SECONDS")]
    keepalive: Option<String>,

    /// Length of the listen queue [default: 2048]
    #[arg(long, value_name = "N")]
    backlog: Option<String>,

    /// Requests after which a worker is replaced; 0 never [default: 0]
    #[arg(long, value_name = "N")]
    max_requests: Option<String>,

    /// A random 0..=N added to max_requests per worker [default: 0]
    #[arg(long, value_name = "N")]
    max_requests_jitter: Option<String>,

    /// Longest request line in bytes, else 414; 0: no limit [default: 4094]
    #[arg(long, value_name = "BYTES")]
    limit_request_line: Option<String>,

    /// Most header fields in a request, else 431 [default: 100]
    #[arg(long, value_name = "N")]
    limit_request_fields: Option<String>,

    /// Longest header field in bytes, else 431; 0: no limit [default: 8190]
    #[arg(long, value_name = "BYTES", alias = "limit-request-field_size")]
    limit_request_field_size: Option<String>,

    /// Write the master's pid to this file
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pidfile: Option<String>,

    /// Run the workers as this user, a name or uid (rg serve must run as root)
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,

    /// Run the workers in this group, a name or gid [default: the user's group]
    #[arg(short = 'g', long, value_name = "GROUP")]
    group: Option<String>,

    /// Permissions of unix socket files, in octal [default: 0666]
    #[arg(long, value_name = "MODE")]
    unix_socket_mode: Option<String>,

    /// Access log: - for stdout, a file, or off [default: -]
    #[arg(long = "access-logfile", value_name = "FILE")]
    access_log: Option<String>,

    /// Access log format: combined, common, json, or Apache-style [default: combined]
    #[arg(long = "access-logformat", value_name = "FORMAT")]
    access_log_format: Option<String>,

    /// Error log: - for stderr, or a file [default: -]
    #[arg(long = "error-logfile", value_name = "FILE")]
    error_log: Option<String>,

    /// error, warn, info, debug or trace [default: info]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,

    /// Error log format: text or json [default: text]
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,

    /// Proxies trusted for X-Forwarded-For/-Proto, comma-separated, or * [default: 127.0.0.1,::1]
    #[arg(long, value_name = "IPS")]
    forwarded_allow_ips: Option<String>,

    /// The path prefix the application is mounted under [default: none]
    #[arg(long, value_name = "PATH")]
    script_name: Option<String>,

    /// Check the configuration and exit
    #[arg(long)]
    check_config: bool,

    /// Print the effective configuration, with where each value came from, and exit
    #[arg(long)]
    print_config: bool,
}

impl Args {
    fn flags(&self) -> Vec<(&'static str, String)> {
        let mut flags: Vec<(&'static str, String)> = self.bind.iter().map(|b| ("bind", b.clone())).collect();
        let single = [
            ("workers", &self.workers),
            ("threads", &self.threads),
            ("worker_connections", &self.worker_connections),
            ("timeout", &self.timeout),
            ("graceful_timeout", &self.graceful_timeout),
            ("keepalive", &self.keepalive),
            ("backlog", &self.backlog),
            ("max_requests", &self.max_requests),
            ("max_requests_jitter", &self.max_requests_jitter),
            ("limit_request_line", &self.limit_request_line),
            ("limit_request_fields", &self.limit_request_fields),
            ("limit_request_field_size", &self.limit_request_field_size),
            ("pidfile", &self.pidfile),
            ("user", &self.user),
            ("group", &self.group),
            ("unix_socket_mode", &self.unix_socket_mode),
            ("access_log", &self.access_log),
            ("access_log_format", &self.access_log_format),
            ("error_log", &self.error_log),
            ("log_level", &self.log_level),
            ("log_format", &self.log_format),
            ("forwarded_allow_ips", &self.forwarded_allow_ips),
            ("script_name", &self.script_name),
        ];
        flags.extend(single.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))));
        flags
    }
}

/// What APP names.
enum App {
    Project(PathBuf),
    Executable(PathBuf),
}

pub fn run(args: Args) -> Result<ExitCode> {
    let given = args.app.clone().unwrap_or_else(|| PathBuf::from("."));
    let app = if given.is_dir() {
        App::Project(given.clone())
    } else if given.is_file() {
        App::Executable(given.clone())
    } else {
        bail!(
            "`{}` does not exist: give a project directory or an executable",
            given.display()
        );
    };
    let default_file = match &app {
        App::Project(dir) => dir.join("rg.toml"),
        App::Executable(_) => PathBuf::from("rg.toml"),
    };
    let sources = Sources {
        explicit_file: args.config.clone(),
        default_file: Some(default_file),
        flags: args.flags(),
    };
    let settings = config::load(&sources, |k| std::env::var(k).ok())?;
    if args.print_config {
        print!("{}", settings.render());
        return Ok(ExitCode::SUCCESS);
    }
    let owner = Owner::from_settings(&settings)?;
    if args.check_config {
        let file = settings
            .config_file
            .as_ref()
            .map_or("no config file, defaults".to_string(), |f| {
                f.display().to_string()
            });
        println!("Configuration OK ({file}; environment and flags included)");
        return Ok(ExitCode::SUCCESS);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the master's event loop")?;
    let program = match &app {
        App::Project(dir) => match runtime.block_on(cargo::build(dir, Profile::Release, false))? {
            cargo::Outcome::Built(exe) => exe,
            cargo::Outcome::Failed(diagnostics) => {
                bail!(
                    "the build of `{}` failed ({} above)",
                    dir.display(),
                    cargo::error_summary(&diagnostics)
                )
            }
        },
        App::Executable(path) => check_executable(path)?,
    };
    let program = std::fs::canonicalize(&program).with_context(|| format!("`{}`", program.display()))?;

    let logs = rg_runtime::logging::init(
        &settings.log_level,
        settings.log_format,
        settings.error_log.clone(),
        LogTarget::Off,
        false,
    )?;
    let _pidfile = settings.pidfile.as_deref().map(Pidfile::create).transpose()?;
    let sockets = Sockets::open(
        &settings.bind,
        settings.backlog,
        settings.unix_socket_mode,
        owner.as_ref(),
    )?;
    runtime.block_on(async move {
        Arbiter::new(settings, owner, sources, program, sockets, logs)?
            .run()
            .await
    })
}

fn check_executable(path: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(path).with_context(|| format!("`{}`", path.display()))?;
    if meta.permissions().mode() & 0o111 == 0 {
        bail!(
            "`{}` is not executable: give a project directory or a binary built with the rg runtime",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}
