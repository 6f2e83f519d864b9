//! The worker's logs: the error log on stderr and the access log where
//! `RG_ACCESS_LOG` says, both through `tracing`.
//!
//! Access lines are ordinary `tracing` events with the target
//! [`ACCESS_TARGET`]; a layer of ours writes their message alone, one per
//! line, so the file reads like Apache's or Gunicorn's. Everything else is
//! the error log, formatted `[time] [pid] [LEVEL] message` like Gunicorn's,
//! or as JSON. [`AccessSink::reopen`] is what SIGUSR1 calls after logrotate.

use std::fs::{File, OpenOptions};
use std::io::{self, LineWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{AccessLogTarget, LogFormat, Settings};
use crate::{Error, access_log};

/// The `tracing` target of access log events.
pub const ACCESS_TARGET: &str = "rg::access";

/// Where access lines are written; reopenable for log rotation.
pub struct AccessSink {
    target: AccessLogTarget,
    out: Mutex<Option<LineWriter<Box<dyn Write + Send>>>>,
}

impl AccessSink {
    /// Opens the destination.
    pub fn open(target: AccessLogTarget) -> Result<AccessSink, Error> {
        let out = Self::open_writer(&target)?;
        Ok(AccessSink {
            target,
            out: Mutex::new(out),
        })
    }

    fn open_writer(target: &AccessLogTarget) -> Result<Option<LineWriter<Box<dyn Write + Send>>>, Error> {
        Ok(match target {
            AccessLogTarget::Off => None,
            AccessLogTarget::Stdout => Some(LineWriter::new(Box::new(io::stdout()))),
            AccessLogTarget::File(path) => {
                let file: File =
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|source| Error::LogFile {
                            path: path.display().to_string(),
                            source,
                        })?;
                Some(LineWriter::new(Box::new(file)))
            }
        })
    }

    /// Closes and reopens a log file (after rotation); stdout is kept.
    pub fn reopen(&self) -> Result<(), Error> {
        if let AccessLogTarget::File(_) = self.target {
            let fresh = Self::open_writer(&self.target)?;
            if let Ok(mut out) = self.out.lock() {
                *out = fresh;
            }
        }
        Ok(())
    }

    fn write_line(&self, line: &str) {
        if let Ok(mut guard) = self.out.lock()
            && let Some(out) = guard.as_mut()
        {
            // A full disk or a closed stdout must not take requests down.
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
        }
    }
}

impl std::fmt::Debug for AccessSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessSink")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

struct AccessLayer(Arc<AccessSink>);

impl<S: Subscriber> Layer<S> for AccessLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        self.0.write_line(&message.0);
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// Gunicorn's error log line: `[2000-10-10T13:55:36.000Z] [1234] [INFO] message key=value`.
struct GunicornFormat;

impl<S, N> FormatEvent<S, N> for GunicornFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = event.metadata().level().as_str();
        write!(
            w,
            "[{}] [{}] [{level}] ",
            access_log::rfc3339(SystemTime::now()),
            std::process::id()
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Installs the process's logging. Returns the access sink (for reopening),
/// or `None` if the application had already installed a subscriber of its
/// own, which then receives everything, access events included.
pub fn init(settings: &Settings) -> Result<Option<Arc<AccessSink>>, Error> {
    let sink = Arc::new(AccessSink::open(settings.access_log.clone())?);
    let level: LevelFilter = settings.log_level.parse().unwrap_or(LevelFilter::INFO);
    let errors = Targets::new()
        .with_default(level)
        .with_target(ACCESS_TARGET, LevelFilter::OFF);
    let access = AccessLayer(sink.clone()).with_filter(filter_fn(|m| m.target() == ACCESS_TARGET));
    let registry = tracing_subscriber::registry().with(access);
    let installed = match settings.log_format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(io::stderr)
                    .event_format(GunicornFormat)
                    .with_filter(errors),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(io::stderr)
                    .with_filter(errors),
            )
            .try_init(),
    };
    Ok(installed.ok().map(|()| sink))
}
