//! Logs: the error log and the access log, both through `tracing`.
//!
//! Access lines are ordinary `tracing` events with the target
//! [`ACCESS_TARGET`]; a layer of ours writes their message alone, one per
//! line, so the file reads like Apache's or Gunicorn's. Everything else is
//! the error log, formatted `[time] [pid] [LEVEL] message` like Gunicorn's,
//! or as JSON. Both go to a [`Sink`] that SIGUSR1 can reopen after logrotate.
//! `rg serve`'s master uses the same error log format through [`init`].

mod events;
mod health;
mod out;
mod sink;
mod writer_thread;

use std::sync::Arc;

use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::Error;
use crate::settings::{LogFormat, LogTarget};
use events::{AccessLayer, GunicornFormat, SinkWriter};
pub use sink::Sink;

/// The `tracing` target of access log events.
pub const ACCESS_TARGET: &str = "rg::access";

/// The process's log sinks, for reopening on SIGUSR1.
#[derive(Debug, Clone)]
pub struct Logs {
    /// The error log.
    pub errors: Arc<Sink>,
    /// The access log.
    pub access: Arc<Sink>,
    /// Whether rg's own subscriber is installed, so access lines may go
    /// straight to [`Logs::access`]; when the application installed one of
    /// its own first, they go to it as `tracing` events instead.
    pub ours: bool,
}

impl Logs {
    /// Reopens both log files.
    pub fn reopen(&self) -> Result<(), Error> {
        self.errors.reopen()?;
        self.access.reopen()
    }
}

/// Installs the process's logging: the error log at `level` (a tracing
/// level name) in `format` to `errors`, access lines to `access`, buffered
/// when `buffer_access` (the caller then flushes it).
///
/// If the application had already installed a subscriber of its own, that
/// one stays and receives everything, access events included; the sinks are
/// still returned (and unused).
pub fn init(
    level: &str,
    format: LogFormat,
    errors: LogTarget,
    access: LogTarget,
    buffer_access: bool,
) -> Result<Logs, Error> {
    let mut logs = Logs {
        errors: Arc::new(Sink::open(errors, false)?),
        access: Arc::new(Sink::open(access, buffer_access)?),
        ours: false,
    };
    let level: LevelFilter = level.parse().unwrap_or(LevelFilter::INFO);
    // What a client can make h2 say at will (a flood of reset streams) is
    // not the operator's warning: under `debug` only.
    let clients = if level >= LevelFilter::DEBUG {
        level
    } else {
        LevelFilter::ERROR
    };
    let error_filter = Targets::new()
        .with_default(level)
        .with_target("h2", clients)
        .with_target(ACCESS_TARGET, LevelFilter::OFF);
    let access = AccessLayer(logs.access.clone()).with_filter(filter_fn(|m| m.target() == ACCESS_TARGET));
    let registry = tracing_subscriber::registry().with(access);
    let writer = SinkWriter(logs.errors.clone());
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .event_format(GunicornFormat)
                    .with_filter(error_filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .with_filter(error_filter),
            )
            .try_init(),
    };
    logs.ours = installed.is_ok();
    Ok(logs)
}
