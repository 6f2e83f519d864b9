//! `rg runserver`'s loop: one application process, rebuilt and restarted
//! on every save, on a socket rg holds for its whole life, so no request
//! ever meets a refused connection.
//!
//! The loop: build (cancelled and restarted if another save arrives); on
//! success start the application with the socket (LISTEN_FDS) and wait for
//! READY; on failure serve the compiler's errors as a page. At the next
//! save, SIGTERM the application first: it stops accepting at once and
//! finishes what it was doing, while new connections wait in the socket's
//! backlog for the next process (or the error page) to take them.

use super::tls::DevTls;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use console::style;
use rg_contract::hot_patch::News;
use rg_contract::live_reload;
use rg_contract::notify::Notification;
use tokio::signal::unix::{SignalKind, signal};

use crate::build::cargo::{self, Executable, Outcome, Profile};
use crate::build::depinfo::Inputs;
use crate::build::direct::Direct;
use crate::build::project::{Choice, Project};
use crate::dev::app::{App, app_exit, describe_status, sleep_until, unready_at};
use crate::dev::error_page::{self, ErrorPage};
use crate::dev::patches::{Hot, HotPatches};
use crate::dev::watch::{Watcher, next_save};
use crate::process::notifications::{Message, Receiver};
use crate::process::sockets::Sockets;
use crate::process::spawn::{self, WorkerSpec};

/// The project in `cwd`, asked of cargo off the event loop (it runs
/// `cargo metadata`); an error is cargo's words, for the terminal and the
/// error page.
async fn find(cwd: &Path, choice: &Choice) -> Result<Project, String> {
    let (cwd, choice) = (cwd.to_path_buf(), choice.clone());
    tokio::task::spawn_blocking(move || Project::find(&cwd, &choice).map_err(|e| format!("{e:#}")))
        .await
        .unwrap_or_else(|e| Err(format!("looking for the project failed: {e}")))
}

/// The loop's state: what it builds, what runs, what is shown.
pub(super) struct Dev {
    pub(super) cwd: PathBuf,
    pub(super) choice: Choice,
    /// How long to wait for READY before explaining.
    pub(super) ready_timeout: Duration,
    /// What to build, or why cargo could not say.
    pub(super) project: Result<Project, String>,
    /// A manifest changed: ask cargo again before the next build.
    pub(super) stale: bool,
    /// What the running build read, to tell a save that needs a rebuild
    /// from one that needs a browser reload.
    pub(super) inputs: Option<Inputs>,
    pub(super) name: String,
    pub(super) url: String,
    pub(super) sockets: Sockets,
    pub(super) listener: std::net::TcpListener,
    pub(super) receiver: Receiver,
    pub(super) env: Vec<(String, String)>,
    pub(super) app: Option<App>,
    /// Processes told to stop that may still be finishing requests.
    pub(super) leaving: Vec<tokio::process::Child>,
    pub(super) page: Option<ErrorPage>,
    pub(super) builds: u64,
    /// With `--tls`: the development certificate.
    pub(super) tls: Option<DevTls>,
    /// Rebuilds by rustc alone, when a save allows it.
    pub(super) direct: Direct,
    /// Hot patches, unless `--no-hot-patch`.
    pub(super) hot: Option<HotPatches>,
}

/// Builds by rustc alone when `direct` allows it, else with cargo
/// (recording its command); says which.
async fn build(direct: &Direct, project: &Project) -> Result<(Outcome, bool)> {
    let (outcome, alone) = match direct.build(project).await? {
        Some(outcome) => (outcome, true),
        None => (
            cargo::build_with(project, Profile::Dev, true, &direct.cargo_env()?).await?,
            false,
        ),
    };
    if matches!(outcome, Outcome::Built(_)) {
        direct.prune_debug_info(project);
    }
    Ok((outcome, alone))
}

impl Dev {
    /// Builds, serves and rebuilds until Ctrl-C (or, without a watcher,
    /// until the application stops).
    pub(super) async fn run(mut self, mut watcher: Option<Watcher>) -> Result<ExitCode> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let started = Instant::now();
        let mut since: Option<Instant> = None;
        loop {
            // Build; a save during the build cancels it and starts again.
            let outcome = loop {
                self.builds += 1;
                let started = Instant::now();
                if self.stale || self.project.is_err() {
                    self.project = find(&self.cwd, &self.choice).await;
                    self.stale = false;
                }
                let project = match &self.project {
                    Ok(project) => project.clone(),
                    Err(why) => {
                        eprintln!("{why}");
                        break Outcome::Failed(vec![cargo::Diagnostic::cargo(why)]);
                    }
                };
                tokio::select! {
                    built = build(&self.direct, &project) => {
                        let (outcome, alone) = built?;
                        if !alone {
                            self.direct.cargo_built(&outcome);
                        }
                        if matches!(outcome, Outcome::Built(_)) {
                            let how = if alone { " (rustc alone: only the binary's own files changed)" } else { "" };
                            println!("Built in {:.2}s{how}", started.elapsed().as_secs_f64());
                        }
                        break outcome;
                    }
                    (paths, seen) = next_save(&mut watcher) => {
                        since = Some(seen);
                        self.note_save(&paths);
                        println!("{} changed during the build; building again", self.describe(&paths));
                    }
                    _ = int.recv() => return Ok(self.shutdown().await),
                    _ = term.recv() => return Ok(self.shutdown().await),
                }
            };
            if let Err(e) = self.after_build(outcome, since, watcher.is_some()).await {
                self.shutdown().await;
                return Err(e);
            }

            // Serve until the next save.
            loop {
                let unready_at = unready_at(&self.app, self.ready_timeout);
                tokio::select! {
                    (mut paths, seen) = next_save(&mut watcher) => {
                        if self.reload_only(&paths) {
                            continue;
                        }
                        since = Some(seen);
                        self.note_save(&paths);
                        // Ctrl-C during a patch stops its compile (and rustc) too.
                        let hot = tokio::select! {
                            hot = self.hot_patch(&mut paths, started, &mut watcher) => hot?,
                            _ = int.recv() => return Ok(self.shutdown().await),
                            _ = term.recv() => return Ok(self.shutdown().await),
                        };
                        match hot {
                            Hot::Applied => continue,
                            Hot::Failed(diagnostics) => {
                                println!("{} changed", self.describe(&paths));
                                self.stop_app();
                                self.after_build(Outcome::Failed(diagnostics), since, true).await?;
                                continue;
                            }
                            Hot::Restart => println!("{} changed, rebuilding", self.describe(&paths)),
                        }
                        self.stop_app();
                        break;
                    }
                    message = self.receiver.recv() => self.on_message(&message?, started),
                    () = sleep_until(unready_at) => self.warn_unready(),
                    status = app_exit(&mut self.app) => {
                        // Its last words (why its setup failed) were sent
                        // before it exited, but `select!` may see the exit
                        // first: read them before saying how it ended, as
                        // the master does before it reaps a worker.
                        for message in self.receiver.drain() {
                            self.on_message(&message, started);
                        }
                        if !self.on_app_exit(status, watcher.is_some()).await? {
                            self.shutdown().await;
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                    _ = int.recv() => return Ok(self.shutdown().await),
                    _ = term.recv() => return Ok(self.shutdown().await),
                }
            }
        }
    }

    /// Starts the application a build made, or shows why there is none.
    async fn after_build(&mut self, outcome: Outcome, since: Option<Instant>, watching: bool) -> Result<()> {
        match outcome {
            Outcome::Built(exe) => {
                if let Some(page) = self.page.take() {
                    page.stop();
                }
                self.inputs = Inputs::of(&exe.path);
                self.start_app(&exe, since)
            }
            Outcome::Failed(diagnostics) => {
                let errors = cargo::error_summary(&diagnostics);
                if !watching {
                    bail!("the build failed ({errors} above)");
                }
                eprintln!(
                    "{} {errors}; the browser shows them at {} until the next save",
                    style("Build failed:").red().bold(),
                    self.url
                );
                self.show_page(error_page::build_failed(&self.name, &diagnostics))
                    .await
            }
        }
    }

    /// A notification: the application's READY, or why it cannot start.
    pub(super) fn on_message(&mut self, message: &Message, started: Instant) {
        let Some(app) = self.app.as_mut().filter(|app| app.pid == message.pid) else {
            return;
        };
        let told = message.notification();
        if let Some(error) = told.status.as_deref().and_then(Notification::start_failure) {
            app.error = Some(error.to_string());
        }
        match (&told.hot_patch, &mut self.hot, &self.project) {
            (Some(News::Ready(state)), Some(hot), Ok(project)) => {
                app.patches = hot.ready(state.as_deref(), &project.bin);
            }
            (Some(News::Declined(why)), Some(hot), _) => hot.declined(why),
            _ => {}
        }
        let prime = told.ready && app.patches;
        if told.ready {
            app.ready = true;
            self.direct.export_symbols(app.patches);
            let when = match app.since {
                Some(save) => format!("{} ms after the save", save.elapsed().as_millis()),
                None => format!("{:.2}s after rg started", started.elapsed().as_secs_f64()),
            };
            println!("{} (pid {}), {when}", style("Application ready").green(), app.pid);
        }
        if prime {
            self.prime();
        }
    }

    /// Says, once, what rg waits for from an application that serves
    /// without ever saying READY.
    fn warn_unready(&mut self) {
        if let Some(app) = &mut self.app {
            app.warned = true;
            eprintln!(
                "{} the application (pid {}) has run for {:.0}s without saying it is ready. \
                 rg waits for READY=1 on NOTIFY_SOCKET (sd_notify), which the rg runtime sends. \
                 An application that serves the inherited socket (LISTEN_FDS, e.g. with the listenfd \
                 crate) without it works, but rg cannot tell when it is up, nor reload its pages \
                 without a rebuild.",
                style("Note:").yellow().bold(),
                app.pid,
                self.ready_timeout.as_secs_f64()
            );
        }
    }

    /// The application exited by itself: say how (or why it could not
    /// start) and show it in the browser. Returns false when there is no
    /// save to wait for (`--noreload`).
    async fn on_app_exit(
        &mut self,
        status: std::io::Result<std::process::ExitStatus>,
        watching: bool,
    ) -> Result<bool> {
        let how = match status {
            Ok(s) => describe_status(s),
            Err(e) => format!("could not be waited for ({e})"),
        };
        let error = self.app.take().and_then(|app| app.error);
        let stopped = style("Stopped:").red().bold();
        match &error {
            // The application said why (its setup failed, say).
            Some(error) => eprintln!("{stopped} the application could not start: {error}"),
            None => eprintln!("{stopped} the application {how}"),
        }
        if !watching {
            return Ok(false);
        }
        eprintln!("Waiting for a change; {} explains meanwhile.", self.url);
        let page = match &error {
            Some(error) => error_page::app_failed(&self.name, error),
            None => error_page::app_exited(&self.name, &how),
        };
        self.show_page(page).await?;
        Ok(true)
    }

    /// A save of files the build did not read (templates, static files),
    /// with the application up: its pages reload, nothing is rebuilt.
    /// Returns whether that was all the save needed.
    pub(super) fn reload_only(&self, paths: &[PathBuf]) -> bool {
        let (Some(app), None, Some(inputs)) = (&self.app, &self.page, &self.inputs) else {
            return false;
        };
        // Before READY the signal's handler may not be installed yet.
        if !app.ready {
            return false;
        }
        if !inputs.runtime_only(paths) {
            return false;
        }
        println!(
            "{} changed; reloading the browser (the build does not read it)",
            self.describe(paths)
        );
        // SAFETY: kill(2) on our own child, with a signal it handles.
        unsafe { libc::kill(app.pid as i32, live_reload::RELOAD_SIGNAL) };
        true
    }

    /// A save: past one that is not the binary's own, cargo rebuilds; a
    /// manifest may change what it builds, so ask it again first.
    pub(super) fn note_save(&mut self, paths: &[PathBuf]) {
        match &self.project {
            Ok(project) => self.direct.saved(project, paths),
            Err(_) => self.direct.cargo_built(&Outcome::Failed(Vec::new())),
        }
        if paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == "Cargo.toml"))
        {
            self.stale = true;
        }
    }

    pub(super) fn describe(&self, paths: &[PathBuf]) -> String {
        let first = paths
            .first()
            .map(|p| p.strip_prefix(&self.cwd).unwrap_or(p).display().to_string())
            .unwrap_or_default();
        match paths.len() {
            0 | 1 => first,
            n => format!("{first} and {} more", n - 1),
        }
    }

    fn start_app(&mut self, exe: &Executable, since: Option<Instant>) -> Result<()> {
        let fds = self.sockets.fds();
        let names = self.sockets.names();
        let spec = WorkerSpec {
            program: &exe.path,
            fds: &fds,
            names: &names,
            env: &self.env,
            notify_socket: self.receiver.path(),
            watchdog_usec: 0,
            owner: None,
            tls: self.tls.as_ref().map(DevTls::fd),
        };
        let mut cmd = spawn::command(&spec, self.builds);
        // Its own process group: Ctrl-C is rg's to handle, and rg stops it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.env(
            "RG_INTERNAL_BUILD_ID",
            format!("build-{}-{}", std::process::id(), self.builds),
        );
        if let Some(path) = &exe.library_path {
            cmd.env("LD_LIBRARY_PATH", path);
            // Patches link against the shared runtime, so only with it.
            if let (Some(hot), Ok(project)) = (&mut self.hot, &self.project) {
                let (key, dir) = hot.env(project)?;
                cmd.env(key, dir);
            }
        }
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .with_context(|| format!("could not start `{}`", exe.path.display()))?;
        let pid = child.id().unwrap_or_default();
        self.app = Some(App {
            child,
            pid,
            since,
            error: None,
            ready: false,
            started: Instant::now(),
            warned: false,
            patches: false,
            library_path: exe.library_path.clone(),
        });
        Ok(())
    }

    /// SIGTERM: the process stops accepting now and finishes what it has.
    fn stop_app(&mut self) {
        self.hot.iter_mut().for_each(HotPatches::stop_priming);
        if let Some(app) = self.app.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(app.pid as i32, libc::SIGTERM) };
            self.leaving.push(app.child);
        }
        self.leaving.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    async fn show_page(&mut self, html: String) -> Result<()> {
        if let Some(page) = self.page.take() {
            page.stop();
        }
        self.page = Some(ErrorPage::start(
            &self.listener,
            self.tls.as_ref().map(|tls| tls.config.clone()),
            html,
            format!("error-{}", self.builds),
        )?);
        Ok(())
    }

    /// Ctrl-C: everything stops now, nothing is left running, the port is
    /// free when rg exits.
    async fn shutdown(mut self) -> ExitCode {
        self.sockets.close(false);
        if let Some(page) = self.page.take() {
            page.stop();
        }
        let mut children: Vec<tokio::process::Child> = self.leaving.drain(..).collect();
        if let Some(app) = self.app.take() {
            children.push(app.child);
        }
        for child in &mut children {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on our own child: SIGQUIT stops it at once.
                unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
            }
        }
        for child in &mut children {
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        ExitCode::SUCCESS
    }
}
