//! `rg serve`: the production server. A master binds the sockets, starts
//! `workers` processes of the application, and supervises them (see
//! `master/driver.rs`), the way `gunicorn project.wsgi:application` does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rg_contract::settings::{CONTROL_SOCKET, LogTarget, METRICS_BIND};
use rg_contract::{logging, open_files};

use crate::build::cargo::{self, Profile};
use crate::build::project::{Choice, Project, ServeChoice};
use crate::config::flags::SettingFlags;
use crate::config::{self, Origin, Settings, Sources};
use crate::master::control::ControlSocket;
use crate::master::driver::{Arbiter, Questions};
use crate::master::metrics::Port;
use crate::master::pidfile::Pidfile;
use crate::master::tls::Tls;
use crate::master::upgrade::{self, Handover};
use crate::process::owner::Owner;
use crate::process::sockets::Sockets;
use crate::scaffold::runtime;
use tracing::warn;

/// Serve an application in production: a master process and its workers.
///
/// Settings come from defaults < rg.toml < RG_* environment variables < these
/// flags. Signals: TERM stops gracefully, INT/QUIT stop now, HUP reloads the
/// configuration and rolls the workers onto the binary on disk, USR2 upgrades
/// rg itself in place, TTIN/TTOU add or remove a worker, USR1 reopens the log
/// files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A project directory (built with `cargo build --release` first) or an
    /// executable built with the rg runtime [default: .]
    app: Option<PathBuf>,

    /// The config file [default: rg.toml in the project directory]
    #[arg(short = 'c', long, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(flatten)]
    choice: ServeChoice,

    #[command(flatten)]
    settings: SettingFlags,

    /// Check the configuration and exit
    #[arg(long)]
    check_config: bool,

    /// Print the effective configuration, with where each value came from, and exit
    #[arg(long)]
    print_config: bool,
}

/// What APP names.
enum App {
    /// A directory cargo builds (a package or a workspace); `None` when it
    /// has no manifest, which only `--print-config` can still use.
    Project(PathBuf, Option<Box<Project>>),
    Executable(PathBuf),
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Exec'd by a master upgrading in place (USR2): take over from it, and
    // if that cannot be done, give everything back to the rg it was.
    let handover = match upgrade::take() {
        None => return start(args, None),
        Some(Ok(handover)) => handover,
        Some(Err(e)) => return Err(upgrade::roll_back(&format!("{e:#}"))),
    };
    start(args, Some(&handover)).map_err(|e| upgrade::roll_back(&format!("{e:#}")))
}

fn start(args: Args, handover: Option<&Handover>) -> Result<ExitCode> {
    let given = args.app.clone().unwrap_or_else(|| PathBuf::from("."));
    let app = if given.is_dir() {
        let manifest = given
            .canonicalize()?
            .ancestors()
            .any(|d| d.join("Cargo.toml").is_file());
        let choice = Choice::from(args.choice.clone());
        let project = manifest.then(|| Project::find(&given, &choice)).transpose()?;
        runtime::say_if_out_of_step(project.as_ref().and_then(|p| p.runtime_version.as_ref()));
        App::Project(given.clone(), project.map(Box::new))
    } else if given.is_file() {
        App::Executable(given.clone())
    } else {
        bail!(
            "`{}` does not exist: give a project directory or an executable",
            given.display()
        );
    };
    let default_file = match &app {
        App::Project(_, Some(project)) => project.config_file(),
        App::Project(dir, None) => dir.join("rg.toml"),
        App::Executable(_) => PathBuf::from("rg.toml"),
    };
    let sources = Sources {
        explicit_file: args.config.clone(),
        default_file: Some(default_file),
        flags: args.settings.0.clone(),
    };
    let settings = config::load(&sources, |k| std::env::var(k).ok())?;
    config::warn_unknown_variables();
    if args.print_config {
        print!("{}", settings.render());
        return Ok(ExitCode::SUCCESS);
    }
    let owner = Owner::from_settings(&settings)?;
    let tls = Tls::load(&settings)?;
    if args.check_config {
        let file = settings
            .config_file
            .as_ref()
            .map_or("no config file, defaults".to_string(), |f| {
                f.display().to_string()
            });
        println!("Configuration OK ({file}; environment and flags included)");
        if std::env::var_os(upgrade::CHECK).is_some() {
            // What a master upgrading to this rg checks before it execs it.
            println!("handover format {}", upgrade::FORMAT);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the master's event loop")?;
    let program = match (&app, handover) {
        (_, Some(handover)) => handover.program.clone(),
        (App::Project(dir, None), None) => bail!(
            "no Cargo.toml in `{}`: give a project directory or an executable",
            dir.display()
        ),
        (App::Project(dir, Some(project)), None) => {
            match runtime.block_on(cargo::build(project, Profile::Release, false))? {
                cargo::Outcome::Built(exe) => exe.path,
                cargo::Outcome::Failed(diagnostics) => {
                    bail!(
                        "the build of `{}` failed ({} above)",
                        dir.display(),
                        cargo::error_summary(&diagnostics)
                    )
                }
            }
        }
        (App::Executable(path), None) => check_executable(path)?,
    };
    let program = std::fs::canonicalize(&program).with_context(|| format!("`{}`", program.display()))?;

    let logs = logging::init(
        &settings.worker.log_level,
        settings.worker.log_format,
        settings.worker.error_log.clone(),
        LogTarget::Off,
        false,
    )?;
    // Raised here, before the workers start, so they inherit it; the
    // workers check again and stay quiet under a master.
    let connections = settings.worker.worker_connections;
    open_files::ensure(connections).log(connections);
    let _pidfile = settings
        .master
        .pidfile
        .as_deref()
        .map(Pidfile::create)
        .transpose()?;
    let sockets = match handover {
        // SAFETY: the sockets the previous master left open for this one.
        Some(handover) => unsafe {
            Sockets::adopt(
                &handover.sockets,
                &settings.master.insecure_bind,
                handover.created.clone(),
                handover.bound.clone(),
            )
        }?,
        None => Sockets::open(
            &settings.worker.bind,
            &settings.master.insecure_bind,
            settings.worker.backlog,
            settings.master.unix_socket_mode,
            owner.as_ref(),
        )?,
    };
    let metrics = settings
        .master
        .metrics_bind
        .as_ref()
        .map(|bind| Port::bind(bind).map_err(|e| settings.invalid(METRICS_BIND.key, &format!("{e:#}"))))
        .transpose()?;
    let mut control = control_socket(&settings)?;
    runtime.block_on(async move {
        let (questions, _served) = match metrics.map(Port::serve).transpose()? {
            Some((questions, served)) => (Some(questions), Some(served)),
            None => (None, None),
        };
        let questions = Questions {
            metrics: questions,
            control: control.as_mut().map(ControlSocket::serve).transpose()?,
        };
        let arbiter =
            Arbiter::new(settings, owner, sources, program, sockets, logs, questions)?.with_tls(tls);
        let arbiter = match handover {
            Some(handover) => {
                let arbiter = arbiter.adopt(handover)?;
                upgrade::done(handover);
                arbiter
            }
            None => arbiter,
        };
        arbiter.run().await
    })
}

/// The control socket, bound. Where the default place cannot take one
/// (a read-only directory, another master there), rg serves without it
/// and says so; a place the user chose must work.
fn control_socket(settings: &Settings) -> Result<Option<ControlSocket>> {
    let Some(path) = &settings.master.control_socket else {
        return Ok(None);
    };
    match ControlSocket::bind(path) {
        Ok(socket) => Ok(Some(socket)),
        Err(e) if settings.values[CONTROL_SOCKET.key].1 == Origin::Default => {
            warn!("{e:#}; serving without a control socket (rg ctl), set control_socket to choose its place");
            Ok(None)
        }
        Err(e) => Err(settings.invalid(CONTROL_SOCKET.key, &format!("{e:#}"))),
    }
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
