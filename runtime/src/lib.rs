//! The application interface of rg: one call that serves a Rust web
//! application the same way under `rg runserver`, `rg serve`, systemd, or
//! started by hand.
//!
//! ```no_run
//! # extern crate rg_runtime as rg;
//! use rg::{IntoResponse, Request};
//!
//! async fn application(_request: Request) -> impl IntoResponse {
//!     "Hello, world!\n"
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     rg::run(application)
//! }
//! ```
//!
//! (Projects depend on this crate under the name `rg`; `rg new` writes that
//! dependency.) [`run`] takes a plain `async fn`, an axum `Router`, or any
//! `tower::Service` (see [`IntoApplication`]) and reads everything else from
//! the environment: which sockets to serve (inherited through `LISTEN_FDS`,
//! or bound from `RG_BIND`), the `RG_*` settings in [`VARIABLES`], whom to
//! notify (`NOTIFY_SOCKET`). That environment is the worker contract; it is
//! described in the project's `ARCHITECTURE.md`.

pub mod access_log;
mod application;
mod bind;
pub mod dev;
mod environ;
mod error;
mod limits;
pub mod listeners;
pub mod logging;
pub mod notify;
mod server;
pub mod settings;

use std::process::ExitCode;
use std::sync::Arc;

pub use application::{Application, IntoApplication, ViaHandler, ViaService};
pub use axum;
pub use axum::extract::Request;
pub use axum::response::{IntoResponse, Response};
pub use bind::{Bind, DEFAULT_BIND};
pub use environ::{Environ, Scheme};
pub use error::{EXIT_RUNTIME_FAILURE, EXIT_START_FAILURE, Error, describe_io};
pub use limits::Limits;
pub use server::{Reason, Stop};
pub use settings::{Settings, VARIABLES};
pub use tokio;

use listeners::{Activation, Listener};
use notify::Notifier;

/// Serves `app` until the process is told to stop, and returns the exit
/// code for `main`: 0 after a clean stop, [`EXIT_START_FAILURE`] (3) when
/// the application could not start (the reason is printed on stderr, and
/// sent as `STATUS=` to a supervisor), [`EXIT_RUNTIME_FAILURE`] (1) when
/// serving failed later.
///
/// Call it from `main` before starting threads of your own: it reads and
/// then clears the socket-activation variables, which is only sound while
/// the process has one thread.
pub fn run<M>(app: impl IntoApplication<M>) -> ExitCode {
    let app = app.into_application();
    let notifier = Arc::new(Notifier::from_env().unwrap_or_default());
    match start(app, notifier.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(e)) => {
            eprintln!("error: {e}");
            let _ = notifier.notify(&format!("STATUS=error: {e}"));
            ExitCode::from(e.exit_code())
        }
        Err(Failure::Serve(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME_FAILURE)
        }
    }
}

enum Failure {
    Start(Error),
    Serve(std::io::Error),
}

fn start(app: Application, notifier: Arc<Notifier>) -> Result<(), Failure> {
    let settings = Settings::from_env().map_err(Failure::Start)?;
    let activation =
        Activation::from_lookup(|k| std::env::var(k).ok(), std::process::id()).map_err(Failure::Start)?;
    for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        // SAFETY: `run` documents that it must be called while the process
        // is single-threaded; no thread of ours exists yet.
        unsafe { std::env::remove_var(var) };
    }
    let logs = logging::init(
        &settings.log_level,
        settings.log_format,
        settings.error_log.clone(),
        settings.access_log.clone(),
        // In development every line shows at once; in production lines are
        // batched (the server flushes them every 200 ms and on exit).
        !settings.dev,
    )
    .map_err(Failure::Start)?;
    let env_keys: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    for var in settings::unknown_variables(env_keys.iter().map(String::as_str)) {
        tracing::warn!("ignoring unknown setting {var} (see the RG_* table in the rg book)");
    }

    let listeners: Vec<Listener> = match &activation {
        // SAFETY: LISTEN_FDS/LISTEN_PID say these descriptors were passed to
        // this very process, and nothing else in it has claimed them.
        Some(activation) => unsafe { activation.take() }.map_err(Failure::Start)?,
        None => settings
            .bind
            .iter()
            .map(|b| listeners::bind(b, settings.backlog))
            .collect::<Result<_, _>>()
            .map_err(Failure::Start)?,
    };
    if listeners.is_empty() {
        return Err(Failure::Start(Error::Setting {
            var: "LISTEN_FDS",
            value: "0".into(),
            reason: "no sockets were passed".into(),
        }));
    }

    let runtime = if settings.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| Failure::Start(Error::Runtime(e)))?;

    let stop = runtime
        .block_on(server::serve(
            app.into_router(),
            listeners,
            settings,
            notifier,
            logs,
        ))
        .map_err(Failure::Serve)?;
    tracing::debug!(?stop, "stopped");
    // Connections still open after an immediate stop or the graceful timeout
    // are abandoned here, not waited for.
    runtime.shutdown_background();
    Ok(())
}
