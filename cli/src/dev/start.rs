//! `rg runserver`'s start: bind the address once, say where it serves,
//! start watching, and hand over to the loop (`server.rs`).

use super::tls::DevTls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use console::style;
use rg_contract::Bind;
use rg_contract::listeners::Listener;

use crate::build::direct::Direct;
use crate::build::project::{Choice, Project};
use crate::dev::patches::HotPatches;
use crate::dev::server::Dev;
use crate::dev::watch::Watcher;
use crate::process::notifications::Receiver;
use crate::process::sockets::Sockets;

/// What `rg runserver` was asked to do, settings already read.
#[derive(Debug)]
pub struct Options {
    /// Where rg runserver was started.
    pub cwd: PathBuf,
    /// `-p` / `--bin`.
    pub choice: Choice,
    /// The project as first found there, or why cargo could not read it.
    pub project: Result<Project, String>,
    /// The address to serve (TCP).
    pub addr: SocketAddr,
    /// The addresses to bind (the address above).
    pub bind: Vec<Bind>,
    /// The listen queue length.
    pub backlog: i32,
    /// The application process's `RG_*` environment.
    pub env: Vec<(String, String)>,
    /// Rebuild on save.
    pub watch: bool,
    /// Poll the file system instead of native events.
    pub poll: bool,
    /// How long an application may take to say READY before rg explains
    /// what it waits for (the `timeout` setting; zero: never).
    pub ready_timeout: Duration,
    /// Serve HTTPS with a development certificate.
    pub tls: bool,
    /// Apply saves of the binary crate's code to the running application.
    pub hot_patch: bool,
}

/// Binds the address, then builds, serves and rebuilds until Ctrl-C.
pub fn run(options: Options) -> Result<ExitCode> {
    let Options {
        cwd,
        choice,
        project,
        addr,
        bind,
        backlog,
        env,
        watch,
        poll,
        ready_timeout,
        tls,
        hot_patch,
    } = options;
    // The development server runs as whoever starts it: `user` and `group`
    // are for rg serve.
    let sockets = Sockets::open(&bind, &[], backlog, 0o666, None)?;
    let listener = match sockets.listeners.first() {
        Some(Listener::Tcp(l, _)) => l.try_clone().context("duplicating the listening socket")?,
        _ => bail!("rg runserver needs a TCP address"),
    };
    let name = match &project {
        Ok(project) => project.package.clone(),
        Err(_) => cwd
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let watched = match &project {
        Ok(project) => project.sources.clone(),
        Err(_) => vec![cwd.clone()],
    };
    let tls = if tls {
        let target = match &project {
            Ok(project) => project.target_dir.clone(),
            Err(_) => cwd.join("target"),
        };
        Some(DevTls::load_or_make(&target.join("rg-runserver").join("tls"))?)
    } else {
        None
    };
    let url = Bind::Tcp(addr).url().unwrap_or_default();
    let url = match &tls {
        Some(_) => url.replacen("http://", "https://", 1),
        None => url,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the event loop")?;
    runtime.block_on(async move {
        let watcher = if !watch { None } else { Some(Watcher::start(&watched, poll)?) };
        println!(
            "rg {} runserver: project `{name}`, {}",
            env!("CARGO_PKG_VERSION"),
            watcher.as_ref().map_or("not watching for changes".to_string(), |w| format!("watching for changes ({})", w.mode))
        );
        println!("Starting development server at {}", style(&url).bold().underlined());
        if let Some(tls) = &tls {
            println!("Serving HTTPS with a development certificate for localhost: {}", tls.cert.display());
        }
        println!("Quit the server with CONTROL-C.");
        println!(
            "{}",
            style("WARNING: This is a development server. Do not use it in a production deployment. Use `rg serve` instead.")
                .yellow()
        );
        let mut dev = Dev {
            cwd,
            choice,
            ready_timeout,
            project,
            stale: false,
            inputs: None,
            name,
            url,
            sockets,
            listener,
            receiver: Receiver::bind()?,
            env,
            app: None,
            leaving: Vec::new(),
            page: None,
            builds: 0,
            tls,
            direct: Direct::new()?,
            hot: hot_patch.then(HotPatches::default),
        };
        // Linked for patches from the first build: else the first save
        // could not call what the binary links statically.
        dev.direct.export_symbols(hot_patch);
        dev.run(watcher).await
    })
}
