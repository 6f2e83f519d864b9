//! Logs: the error log and the access log, both through `tracing`.
//!
//! Access lines are ordinary `tracing` events with the target
//! [`ACCESS_TARGET`]; a layer of ours writes their message alone, one per
//! line, so the file reads like Apache's or Gunicorn's. Everything else is
//! the error log, formatted `[time] [pid] [LEVEL] message` like Gunicorn's,
//! or as JSON. Both go to a [`Sink`] that SIGUSR1 can reopen after logrotate.
//! `rg serve`'s master uses the same error log format through [`init`].

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogFormat, LogTarget};
use crate::{Error, access_log};

/// The `tracing` target of access log events.
pub const ACCESS_TARGET: &str = "rg::access";

/// A buffered sink writes when this much is pending.
const BUFFERED: usize = 64 * 1024;

/// An open destination and the bytes not yet written to it.
struct Out {
    writer: Box<dyn Write + Send>,
    pending: Vec<u8>,
}

/// A log destination that can be reopened (after rotation).
///
/// Lines are appended to a pending buffer, where the access log renders
/// them in place ([`Sink::write_with`]). A buffered sink writes the buffer
/// out when 64 KiB are pending or [`Sink::flush`] is called (the server
/// does every 200 ms and on exit): one write per many requests instead of
/// one per request. An unbuffered sink writes each line as it ends.
pub struct Sink {
    target: LogTarget,
    buffered: bool,
    out: Mutex<Option<Out>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Out {
    /// Writes what is pending, or with `whole_lines` only up to its last
    /// newline. A failed write drops what it could not write: a full disk
    /// or a closed stdout must not take requests down, nor grow the buffer.
    fn write_pending(&mut self, whole_lines: bool) {
        let end = if whole_lines {
            self.pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1)
        } else {
            self.pending.len()
        };
        if end == 0 {
            return;
        }
        let _ = self.writer.write_all(&self.pending[..end]);
        let _ = self.writer.flush();
        self.pending.drain(..end);
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.write_pending(false);
    }
}

impl Sink {
    /// Opens the destination; a file is created if missing and appended to.
    pub fn open(target: LogTarget, buffered: bool) -> Result<Sink, Error> {
        let out = Self::open_writer(&target, buffered)?;
        Ok(Sink {
            target,
            buffered,
            out: Mutex::new(out),
        })
    }

    fn open_writer(target: &LogTarget, buffered: bool) -> Result<Option<Out>, Error> {
        let writer: Box<dyn Write + Send> = match target {
            LogTarget::Off => return Ok(None),
            LogTarget::Stdout => Box::new(io::stdout()),
            LogTarget::Stderr => Box::new(io::stderr()),
            LogTarget::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::LogFile {
                        path: path.display().to_string(),
                        source,
                    })?,
            ),
        };
        let capacity = if buffered { BUFFERED + 4096 } else { 256 };
        Ok(Some(Out {
            writer,
            pending: Vec::with_capacity(capacity),
        }))
    }

    /// The open destination. A panic while it was held (in a line's
    /// rendering) leaves it usable: the log must outlive one bad line.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Out>> {
        self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes and reopens a log file; stdout and stderr are kept.
    pub fn reopen(&self) -> Result<(), Error> {
        if let LogTarget::File(_) = self.target {
            let fresh = Self::open_writer(&self.target, self.buffered)?;
            // The old destination writes what is pending as it is dropped.
            *self.lock() = fresh;
        }
        Ok(())
    }

    /// Whether anything is written at all.
    pub fn is_on(&self) -> bool {
        self.target != LogTarget::Off
    }

    /// Writes out buffered lines.
    pub fn flush(&self) {
        if let Some(out) = self.lock().as_mut() {
            out.write_pending(false);
        }
    }

    /// Writes `bytes` (whole lines): into the buffer when buffered.
    pub fn write_all(&self, bytes: &[u8]) {
        self.write_with(|pending| pending.extend_from_slice(bytes));
    }

    /// Lets `render` append whole lines to the pending buffer, in place:
    /// no copy of a line between its rendering and the buffer.
    pub fn write_with(&self, render: impl FnOnce(&mut Vec<u8>)) {
        if let Some(out) = self.lock().as_mut() {
            render(&mut out.pending);
            if !self.buffered {
                out.write_pending(true);
            } else if out.pending.len() >= BUFFERED {
                out.write_pending(false);
            }
        }
    }
}

/// The writer `tracing_subscriber::fmt` writes the error log through.
#[derive(Debug, Clone)]
struct SinkWriter(Arc<Sink>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = SinkWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

struct AccessLayer(Arc<Sink>);

impl<S: Subscriber> Layer<S> for AccessLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        message.0.push('\n');
        self.0.write_all(message.0.as_bytes());
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
    let error_filter = Targets::new()
        .with_default(level)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &std::path::Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn a_buffered_sink_writes_at_a_flush_when_full_on_reopen_and_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let sink = Sink::open(LogTarget::File(path.clone()), true).unwrap();
        sink.write_with(|pending| pending.extend_from_slice(b"one\n"));
        assert_eq!(read(&path), "", "a buffered line waits for the flush");
        sink.flush();
        assert_eq!(read(&path), "one\n");

        // 64 KiB pending go out without a flush, in whole.
        let line = [b'x'; 1023];
        for _ in 0..64 {
            sink.write_with(|pending| {
                pending.extend_from_slice(&line);
                pending.push(b'\n');
            });
        }
        assert_eq!(read(&path).len(), 4 + 64 * 1024);

        // After a rotation, what was pending goes to the old file and what
        // follows to the new one.
        sink.write_all(b"before\n");
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        sink.reopen().unwrap();
        assert!(read(&rotated).ends_with("x\nbefore\n"));
        sink.write_all(b"after\n");
        drop(sink);
        assert_eq!(read(&path), "after\n", "dropping the sink writes what is pending");
    }

    #[test]
    fn an_unbuffered_sink_writes_each_line_as_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("error.log");
        let sink = Sink::open(LogTarget::File(path.clone()), false).unwrap();
        sink.write_all(b"[INFO] one\n[INFO] tw");
        assert_eq!(read(&path), "[INFO] one\n");
        sink.write_all(b"o\n");
        assert_eq!(read(&path), "[INFO] one\n[INFO] two\n");
    }

    #[test]
    fn a_panic_while_rendering_leaves_the_log_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let sink = Sink::open(LogTarget::File(path.clone()), false).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.write_with(|_| panic!("a bad line"));
        }));
        assert!(panicked.is_err());
        sink.write_all(b"next\n");
        assert_eq!(read(&path), "next\n");
    }
}
