//! How `tracing` events become lines in a [`Sink`]: access events as
//! their message alone, the rest of the error log in Gunicorn's format.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::Sink;
use crate::access_log;

/// The writer `tracing_subscriber::fmt` writes the error log through.
#[derive(Debug, Clone)]
pub(super) struct SinkWriter(pub(super) Arc<Sink>);

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

/// Writes an access event's message, alone on its line, to the access log.
pub(super) struct AccessLayer(pub(super) Arc<Sink>);

impl<S: Subscriber> Layer<S> for AccessLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        message.0.push('\n');
        self.0.write_all(message.0.as_bytes());
    }
}

/// Collects an event's `message` field.
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
pub(super) struct GunicornFormat;

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
