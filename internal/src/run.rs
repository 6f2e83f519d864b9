//! [`run`]: the worker's side of the contract. It reads the environment
//! (settings, inherited sockets, the notify socket), sets up the logs,
//! builds the async runtime, runs the application's setup in it, turns
//! signals into a [`Stop`], and hands all of that to the serving loop,
//! which reads none of it itself; after the loop, the application's
//! cleanups run and the application is dropped, inside the runtime.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rg_contract::listeners::{self, Activation, Listener};
use rg_contract::logging::{self, Logs};
use rg_contract::notify::{self, Notification, Notifier};
use rg_contract::open_files;
use rg_contract::settings::{HttpVersions, LogTarget, WorkerSettings, unknown_variables};
use rg_contract::tls::{Identity, PLAIN_LISTENERS, TLS_FD};
use rg_contract::{EXIT_RUNTIME_FAILURE, Error};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use futures_util::FutureExt as _;

use crate::application::{Application, IntoApplication};
use crate::layers::Layers;
use crate::served::Served;
use crate::server;
use crate::shutdown;
use crate::state::Kept;
use crate::stop::{self, Reason, Stop};

/// Polls between the one-thread runtime's looks at tasks woken from other
/// threads (a database driver's): tokio's 31 kept a query's answer waiting
/// behind the connections ready meanwhile, the guestbook's p99 with it.
const REMOTE_WAKES_EVERY: u32 = 8;

/// Serves `app` until the process is told to stop, and returns the exit
/// code for `main`: 0 after a clean stop, 3 when the application could not
/// start (the reason is printed on stderr, and sent as `STATUS=` to a
/// supervisor), 1 when serving failed later.
///
/// Call it from `main` before starting threads of your own: it reads and
/// then clears the socket-activation variables, which is only sound while
/// the process has one thread.
pub fn run<M>(app: impl IntoApplication<M>) -> ExitCode {
    serve(app.into_application())
}

/// `run`'s body, compiled once in the runtime rather than into each
/// application at every save.
#[inline(never)]
fn serve(app: Application) -> ExitCode {
    // A hot patch's `main` builds the new application and ends here.
    let Some(app) = crate::hot_patch::offer(app) else {
        return ExitCode::SUCCESS;
    };
    let notifier = Arc::new(Notifier::from_env().unwrap_or_default());
    match start(app, notifier.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(e)) => {
            eprintln!("error: {e}");
            let _ = notifier.send(&Notification::start_failed(&e));
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
    let settings = WorkerSettings::from_env().map_err(Failure::Start)?;
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
        // batched (flushed every 200 ms and on exit).
        !settings.dev,
    )
    .map_err(Failure::Start)?;
    crate::panics::install();
    // Under `rg serve` the master raised the limit for its workers and
    // said so once; in development a reload must not repeat it.
    let opened = open_files::ensure(settings.worker_connections);
    if settings.master_pid.is_none() && !settings.dev {
        opened.log(settings.worker_connections);
    }
    let env_keys: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    for var in unknown_variables(env_keys.iter().map(String::as_str)) {
        warn!("ignoring {var}: a setting of rg serve or rg new, not of the application");
    }
    let listeners = listeners(activation.as_ref(), &settings).map_err(Failure::Start)?;
    let tls = tls(settings.http).map_err(Failure::Start)?;
    let plain_listeners = plain_listeners().map_err(Failure::Start)?;

    let runtime = if settings.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .global_queue_interval(REMOTE_WAKES_EVERY)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| Failure::Start(Error::Runtime(e)))?;

    let config = server::Config {
        layers: Layers {
            limits: settings.limits,
            strict_http1: settings.strict_http,
            live_reload: settings.dev.then(|| {
                std::env::var("RG_INTERNAL_BUILD_ID")
                    .unwrap_or_else(|_| format!("pid-{}", std::process::id()))
                    .into()
            }),
        },
        worker_connections: settings.worker_connections,
        keepalive: settings.keepalive,
        request_fields: settings.limits.request_fields,
        strict: settings.strict_http.then_some(settings.limits),
        body_read_timeout: (!settings.body_read_timeout.is_zero()).then_some(settings.body_read_timeout),
        body_min_rate: (settings.body_min_rate > 0).then_some(settings.body_min_rate),
        send_timeout: (!settings.send_timeout.is_zero()).then_some(settings.send_timeout),
        access_log: (settings.access_log != LogTarget::Off).then(|| {
            // Lines go to the sink directly, unless the application
            // installed a subscriber of its own: then as `tracing` events.
            server::access_log::AccessLog::new(
                settings.access_log_format.clone(),
                logs.ours.then(|| logs.access.clone()),
            )
        }),
        graceful_timeout: settings.graceful_timeout,
        recycle_after: settings.recycle_after(),
        supervised: settings.master_pid.is_some(),
        notifier: notifier.clone(),
        script_name: settings.script_name.as_str().into(),
        forwarded_allow_ips: settings.forwarded_allow_ips.clone(),
        proxy_protocol: settings.proxy_protocol,
        proxy_allow_ips: settings.proxy_allow_ips.clone(),
        announce: settings.master_pid.is_none(),
        drain_queue: !settings.dev,
        stats: settings.metrics.then(Arc::default),
        tls,
        plain_listeners,
        http: settings.http,
        http2: settings.http2,
        show_panics: settings.dev,
    };
    let stats = config.stats.clone();
    let graceful_timeout = settings.graceful_timeout;
    let setup_timeout = settings.timeout;
    let had_setup = app.has_setup();
    let outcome = runtime.block_on(async {
        let shutdown =
            stops(settings.master_pid, &notifier, &logs, &settings.access_log).map_err(Failure::Serve)?;
        if settings.dev {
            reload_on_request().map_err(Failure::Serve)?;
        }
        let (app, kept) = set_up(app, setup_timeout).await.map_err(Failure::Start)?;
        let app = crate::hot_patch::accept_patches(app, kept, had_setup, settings.dev, &notifier)
            .map_err(Failure::Serve)?;
        if let Some(stats) = &stats {
            stats.clone().report_every_second(notifier.clone());
        }
        let served = server::serve(app, listeners, config, stop::stopping().clone(), shutdown).await;
        logs.access.sync();
        let (stop, stopped_at) = served.map_err(Failure::Serve)?;
        // What is left of the graceful timeout, and at least half a second.
        let left = graceful_timeout.saturating_sub(stopped_at.elapsed());
        clean_up(left.max(Duration::from_millis(500))).await;
        // The last counts, so the master's totals include every request.
        if let Some(stats) = &stats {
            stats.report(&notifier);
        }
        Ok(stop)
    });
    let stop = outcome?;
    tracing::debug!(?stop, "stopped");
    // The application and its state were dropped with the serving loop;
    // connections still open after an immediate stop or the graceful
    // timeout are dropped here, inside the runtime, not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Runs the application's setup, bounded by `timeout` (zero: unbounded),
/// inside the worker's runtime; an error, a panic and a timeout are all one
/// line saying why.
async fn set_up(app: Application, timeout: Duration) -> Result<(Served, Option<Kept>), Error> {
    let setup = std::panic::AssertUnwindSafe(app.start()).catch_unwind();
    let built = if timeout.is_zero() {
        setup.await
    } else {
        match tokio::time::timeout(timeout, setup).await {
            Ok(built) => built,
            Err(_) => {
                return Err(Error::Setup(format!(
                    "it did not finish within {:.1}s (the `timeout` setting)",
                    timeout.as_secs_f64()
                )));
            }
        }
    };
    match built {
        Ok(result) => result.map_err(Error::Setup),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(Error::Setup(format!("it panicked: {what}")))
        }
    }
}

/// Runs the cleanups the application registered, together, for at most
/// `within`.
async fn clean_up(within: Duration) {
    let cleanups = shutdown::take_cleanups();
    if cleanups.is_empty() {
        return;
    }
    if tokio::time::timeout(within, futures_util::future::join_all(cleanups))
        .await
        .is_err()
    {
        warn!(
            "Shutdown cleanup did not finish within {:.1}s; exiting without it",
            within.as_secs_f64()
        );
    }
}

/// The TLS configuration of the identity `rg serve` handed over, if any.
/// ALPN offers only the versions `http` allows.
fn tls(http: HttpVersions) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, Error> {
    let Ok(value) = std::env::var(TLS_FD) else {
        return Ok(None);
    };
    let fd = Identity::fd_from_env(&value).ok_or_else(|| Error::Setting {
        var: TLS_FD.to_string(),
        value: value.clone(),
        reason: "not a descriptor number".to_string(),
    })?;
    let identity = Identity::from_fd(fd).map_err(|e| Error::InheritedFd {
        fd,
        reason: format!("cannot read the TLS identity: {e}"),
    })?;
    let mut config = identity
        .server_config()
        .map_err(|reason| Error::InheritedFd { fd, reason })?;
    if let Some(config) = Arc::get_mut(&mut config) {
        config.alpn_protocols.retain(|protocol| match http {
            HttpVersions::Auto => true,
            HttpVersions::One => protocol.as_slice() != b"h2",
            HttpVersions::Two => protocol.as_slice() == b"h2",
        });
    }
    Ok(Some(config))
}

/// The listeners `rg serve` asked to serve plain HTTP beside TLS.
fn plain_listeners() -> Result<Vec<usize>, Error> {
    let Ok(value) = std::env::var(PLAIN_LISTENERS) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|n| n.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| Error::Setting {
            var: PLAIN_LISTENERS.to_string(),
            value: value.clone(),
            reason: "not a list of listener positions".to_string(),
        })
}

/// The sockets to serve: those passed in, or those `RG_BIND` names.
fn listeners(activation: Option<&Activation>, settings: &WorkerSettings) -> Result<Vec<Listener>, Error> {
    let listeners: Vec<Listener> = match activation {
        // SAFETY: LISTEN_FDS/LISTEN_PID say these descriptors were passed to
        // this very process, and nothing else in it has claimed them.
        Some(activation) => unsafe { activation.take() }?,
        None => settings
            .bind
            .iter()
            .map(|b| listeners::bind(b, settings.backlog))
            .collect::<Result<_, _>>()?,
    };
    if listeners.is_empty() {
        return Err(Error::Setting {
            var: "LISTEN_FDS".into(),
            value: "0".into(),
            reason: "no sockets were passed".into(),
        });
    }
    Ok(listeners)
}

/// Starts what runs beside the serving loop (the watchdog ping, the access
/// log's flush, log reopening on USR1, the orphan check) and returns the
/// future that says when and how to stop. Signal handlers are installed
/// here, before the loop says READY.
fn stops(
    master: Option<u32>,
    notifier: &Arc<Notifier>,
    logs: &Logs,
    access_target: &LogTarget,
) -> std::io::Result<impl Future<Output = Stop> + use<>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    if let Some(interval) = notify::watchdog_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    ) {
        let notifier = notifier.clone();
        tokio::spawn(every(interval, move || {
            let _ = notifier.send(&Notification::watchdog());
        }));
    }
    let access = logs.access.clone();
    let place = match &access_target {
        LogTarget::File(path) => path.display().to_string(),
        LogTarget::Stdout => "stdout".into(),
        LogTarget::Stderr => "stderr".into(),
        LogTarget::Off => "nowhere".into(),
    };
    tokio::spawn(every(Duration::from_millis(200), move || {
        access.flush();
        // Requests go on being served; the error log says once that their
        // lines are lost, and once that they are written again.
        match access.news() {
            Some(Err(error)) => {
                tracing::error!(
                    "cannot write the access log to {place} ({error}); its lines are lost until it can be written again"
                );
            }
            Some(Ok(())) => tracing::info!("the access log is written to {place} again"),
            None => {}
        }
    }));
    let logs = logs.clone();
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            match logs.reopen() {
                Ok(()) => info!("Reopened the log files"),
                Err(e) => warn!("{e}"),
            }
        }
    });
    Ok(async move {
        tokio::select! {
            _ = term.recv() => Stop::Graceful(Reason::Signal("SIGTERM")),
            _ = int.recv() => Stop::Immediate(Reason::Signal("SIGINT")),
            _ = quit.recv() => Stop::Immediate(Reason::Signal("SIGQUIT")),
            () = orphaned(master) => Stop::Graceful(Reason::Orphaned),
        }
    })
}

/// In dev mode, `rg runserver` asks for a browser reload with a signal
/// when a file the binary reads at run time was saved.
fn reload_on_request() -> std::io::Result<()> {
    let mut asked = signal(SignalKind::from_raw(rg_contract::live_reload::RELOAD_SIGNAL))?;
    tokio::spawn(async move {
        while asked.recv().await.is_some() {
            crate::layers::live_reload::reload_browsers();
        }
    });
    Ok(())
}

/// Completes when the `rg serve` master that started this worker is gone.
/// The master sets a parent-death signal too; this also covers a master
/// that died before the worker could arm it. Never completes without one.
async fn orphaned(master: Option<u32>) {
    let Some(master) = master else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        // SAFETY: getppid(2) has no preconditions.
        if unsafe { libc::getppid() } as u32 != master {
            return;
        }
    }
}

async fn every(period: Duration, mut action: impl FnMut()) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        action();
    }
}
