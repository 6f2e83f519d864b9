//! `rg runserver`: the development server, as Django's `manage.py
//! runserver` takes its arguments. The loop itself is `dev::server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use rg_contract::Bind;

use rg_contract::settings::MAX_REQUESTS;

use crate::build::project::{Choice, Project, Unreadable};
use crate::config::{self, Origin, Sources};
use crate::dev;
use crate::scaffold::runtime;

/// Run the development server: rebuild and restart on every save.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Optional port number, or ipaddr:port (as Django takes it) [default: 127.0.0.1:8000]
    addrport: Option<String>,

    /// Do not watch for changes: build once and serve
    #[arg(long)]
    noreload: bool,

    /// Poll for changes instead of using native file events (for network or
    /// container file systems that send none)
    #[arg(long)]
    poll: bool,

    /// Serve HTTPS with a development certificate for localhost, made once
    /// and kept in the target directory (rg-runserver/tls/cert.pem)
    #[arg(long)]
    tls: bool,

    /// Restart the application on every save; without it, a save of only
    /// the binary crate's code is patched into the running application
    #[arg(long)]
    no_hot_patch: bool,

    /// The config file [default: rg.toml in the package's directory, else the workspace's]
    #[arg(short = 'c', long, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(flatten)]
    choice: Choice,
}

/// Parses ADDRPORT: `8080`, `0.0.0.0:8080`, `[::1]:8080`, `localhost:8080`.
pub fn parse_addrport(text: &str) -> Result<SocketAddr, String> {
    let refuse = || format!("\"{text}\" is not a valid port number or address:port pair");
    if text.starts_with("unix:") || text.starts_with("fd://") {
        return Err(format!(
            "{}; rg runserver listens on TCP (rg serve binds unix sockets)",
            refuse()
        ));
    }
    match text.parse::<Bind>() {
        Ok(Bind::Tcp(addr)) => Ok(addr),
        _ => Err(refuse()),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("the current directory")?;
    if !cwd.ancestors().any(|d| d.join("Cargo.toml").is_file()) {
        bail!(
            "no Cargo.toml in `{}`: run rg runserver in a project directory (`rg new NAME` makes one)",
            cwd.display()
        );
    }
    // A project cargo cannot read yet (a broken Cargo.toml) is a build
    // error: shown in the terminal and the browser until a save fixes it.
    // A choice that names nothing is the user's to fix now.
    let project = match Project::find(&cwd, &args.choice) {
        Ok(project) => {
            runtime::say_if_out_of_step(project.runtime_version.as_ref());
            Ok(project)
        }
        Err(e) if e.downcast_ref::<Unreadable>().is_some() => Err(format!("{e:#}")),
        Err(e) => return Err(e),
    };
    let config_file = match &project {
        Ok(project) => project.config_file(),
        Err(_) => cwd.join("rg.toml"),
    };
    let addr = match &args.addrport {
        None => SocketAddr::from(([127, 0, 0, 1], 8000)),
        Some(text) => parse_addrport(text).map_err(|e| anyhow!(e))?,
    };
    let sources = Sources {
        explicit_file: args.config.clone(),
        default_file: Some(config_file),
        flags: vec![("bind", addr.to_string())],
    };
    let settings = config::load(&sources, |k| std::env::var(k).ok())?;
    config::warn_unknown_variables();
    // Recycling is for production's slow leaks; in development every save
    // starts a fresh process anyway, and no master would start the
    // replacement a recycling worker waits for.
    let mut env: Vec<(String, String)> = settings
        .worker_env()
        .into_iter()
        .filter(|(k, _)| k != &MAX_REQUESTS.var())
        .collect();
    env.push(("RG_DEV".into(), "1".into()));
    if settings.values["access_log_format"].1 == Origin::Default {
        env.retain(|(k, _)| k != "RG_ACCESS_LOG_FORMAT");
        env.push(("RG_ACCESS_LOG_FORMAT".into(), "dev".into()));
    }
    dev::start::run(dev::start::Options {
        cwd,
        choice: args.choice,
        project,
        addr,
        bind: settings.worker.bind,
        backlog: settings.worker.backlog,
        env,
        watch: !args.noreload,
        poll: args.poll,
        ready_timeout: settings.worker.timeout,
        tls: args.tls,
        hot_patch: !args.no_hot_patch,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_addrport;

    #[test]
    fn addrport_forms_as_django_takes_them() {
        assert_eq!(parse_addrport("8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(
            parse_addrport("0.0.0.0:8080").unwrap().to_string(),
            "0.0.0.0:8080"
        );
        assert_eq!(parse_addrport("[::1]:8080").unwrap().to_string(), "[::1]:8080");
        assert!(parse_addrport("localhost:8080").unwrap().ip().is_loopback());
        for bad in ["80a", "1.2.3.4", "::1:80", "99999", "unix:/tmp/x.sock", ""] {
            let err = parse_addrport(bad).unwrap_err();
            assert!(
                err.contains("is not a valid port number or address:port pair"),
                "{bad}: {err}"
            );
        }
    }
}
