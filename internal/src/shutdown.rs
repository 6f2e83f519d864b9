//! How an application takes part in its worker's stop: long-lived
//! connections (WebSockets, server-sent events) learn when the worker
//! starts to stop and when its graceful timeout is up, and cleanup that
//! must be awaited (close a pool, flush a queue) is registered once, in the
//! application's setup.
//!
//! The order of a graceful stop (SIGTERM, a HUP roll, a max_requests
//! recycle): the worker stops accepting and [`Shutdown::started`]
//! completes; requests in flight finish; upgraded connections stay open
//! until the graceful timeout, when [`Shutdown::deadline`] completes and
//! they get half a second to send their close frames; the serving loop
//! then lets go of the application; every [`on_shutdown`] future runs
//! (within what is left of the graceful timeout, at least half a second);
//! what is left of the application and its state is dropped inside the
//! worker's runtime, and the process exits 0.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::stop::{self, Phase};

/// The worker's stop, as an application's long-lived connections see it.
/// Get one with [`shutdown`]; clones are cheap.
///
/// ```no_run
/// # extern crate rg_internal as rg;
/// # async fn example(mut socket: rg::axum::extract::ws::WebSocket) {
/// use rg::axum::extract::ws::{CloseFrame, Message};
///
/// let shutdown = rg::shutdown();
/// loop {
///     tokio::select! {
///         message = socket.recv() => match message {
///             Some(Ok(message)) => { let _ = socket.send(message).await; }
///             _ => break,
///         },
///         () = shutdown.deadline() => {
///             let close = CloseFrame { code: 1001, reason: "server restarting".into() };
///             let _ = socket.send(Message::Close(Some(close))).await;
///             break;
///         }
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    stopping: stop::Stopping,
}

/// The worker's [`Shutdown`].
pub fn shutdown() -> Shutdown {
    Shutdown {
        stopping: stop::stopping().clone(),
    }
}

impl Shutdown {
    /// Completes when the worker starts to stop: it accepts no new
    /// connections, and a new replacement is serving them. Start no new
    /// long work after it.
    pub async fn started(&self) {
        self.reached(Phase::Draining).await;
    }

    /// Completes when the graceful timeout is up: close long-lived
    /// connections now (a WebSocket with a close frame); the worker exits
    /// half a second later.
    pub async fn deadline(&self) {
        self.reached(Phase::Closing).await;
    }

    async fn reached(&self, phase: Phase) {
        self.stopping.reached(phase).await;
    }
}

type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

fn cleanups() -> &'static Mutex<Vec<Cleanup>> {
    static CLEANUPS: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());
    &CLEANUPS
}

/// Runs `cleanup` when the worker stops, after its connections are closed
/// and before the application is dropped, inside the worker's runtime
/// (call it from the application's setup). Every registered cleanup runs,
/// concurrently, within what is left of the graceful timeout.
///
/// ```no_run
/// # extern crate rg_internal as rg;
/// # #[derive(Clone)] struct Pool;
/// # impl Pool { async fn close(&self) {} }
/// # let pool = Pool;
/// rg::on_shutdown({
///     let pool = pool.clone();
///     async move { pool.close().await }
/// });
/// ```
pub fn on_shutdown(cleanup: impl Future<Output = ()> + Send + 'static) {
    if let Ok(mut list) = cleanups().lock() {
        list.push(Box::pin(cleanup));
    }
}

/// The registered cleanups, once.
pub(crate) fn take_cleanups() -> Vec<Cleanup> {
    cleanups()
        .lock()
        .map(|mut list| std::mem::take(&mut *list))
        .unwrap_or_default()
}
