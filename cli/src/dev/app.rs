//! The application process `rg runserver` runs: what rg knows of it, and
//! the waits on it (its exit, its READY) that the loop selects on.

use std::time::{Duration, Instant};

/// The running application process.
pub struct App {
    pub child: tokio::process::Child,
    pub pid: u32,
    /// When the save that led to this process was seen (None: first start).
    pub since: Option<Instant>,
    /// Why it could not start, as it told rg (`STATUS=error: ...`).
    pub error: Option<String>,
    /// It said READY=1 (so it handles the reload signal).
    pub ready: bool,
    /// When it was started, for the wait for READY.
    pub started: Instant,
    /// It was told about a READY that did not come.
    pub warned: bool,
    /// It said it takes hot patches (`X_RG_HOTPATCH=ready`).
    pub patches: bool,
    /// `LD_LIBRARY_PATH`, when it runs with the shared runtime.
    pub library_path: Option<std::ffi::OsString>,
}

/// When `app` will have run `timeout` without READY, unless it was said.
pub fn unready_at(app: &Option<App>, timeout: Duration) -> Option<Instant> {
    app.as_ref()
        .filter(|app| !app.ready && !app.warned && !timeout.is_zero())
        .map(|app| app.started + timeout)
}

/// Sleeps until `at`, or forever.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The running application's exit, or never.
pub async fn app_exit(app: &mut Option<App>) -> std::io::Result<std::process::ExitStatus> {
    match app {
        Some(app) => app.child.wait().await,
        None => std::future::pending().await,
    }
}

/// How a process ended, in words.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (
        status.code(),
        status
            .signal()
            .and_then(|s| nix::sys::signal::Signal::try_from(s).ok()),
    ) {
        (Some(code), _) => crate::process::exit::Exit::Code(code).to_string(),
        (None, Some(sig)) => crate::process::exit::Exit::Signal(sig).to_string(),
        _ => "exited".into(),
    }
}
