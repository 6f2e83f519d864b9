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
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

/// A buffered sink writes its lines, or hands them to its writer thread,
/// when this much is pending.
const BATCH: usize = 64 * 1024;

/// A batch's write that takes this long (a page-cache write of 64 KiB
/// takes tens of microseconds) means the destination stalls: a buffered
/// sink moves its writes to a thread of its own from then on.
const STALL: Duration = Duration::from_millis(10);

/// Batches that may wait for the writer thread before the sink waits too.
const QUEUED: usize = 4;

/// An open destination and the bytes not yet on their way to it.
struct Out {
    pending: Vec<u8>,
    dest: Dest,
    buffered: bool,
}

/// How bytes reach a destination.
enum Dest {
    /// Written by the thread that logs: each line as it ends (the error
    /// log, the access log in development), or a batch at a time (the
    /// access log in production, as nginx's `buffer=` does).
    Direct(Box<dyn Write + Send>),
    /// Written by the sink's own thread, a batch at a time, once a batch's
    /// write stalled: a slow disk or a log reader that stalls (journald, a
    /// container runtime) then no longer holds up the thread serving
    /// requests. Not from the start: a second thread makes every socket
    /// call of the worker dearer (the kernel and libc take the
    /// multithreaded paths), which cost about 1.5% of a hello world.
    Thread(WriterThread),
}

/// The way to a sink's writer thread.
struct WriterThread {
    jobs: SyncSender<Job>,
    /// Batches the thread has written, handed back to be filled again.
    spare: Receiver<Vec<u8>>,
}

enum Job {
    Write(Vec<u8>),
    /// Everything before this went to the old destination; what follows
    /// goes to this one.
    Switch(Box<dyn Write + Send>),
    /// Everything before this is written: say so.
    Done(SyncSender<()>),
}

/// A log destination that can be reopened (after rotation).
///
/// Lines are appended to a pending buffer, where the access log renders
/// them in place ([`Sink::write_with`]). A buffered sink writes the buffer
/// when 64 KiB are pending or [`Sink::flush`] is called (the server does
/// every 200 ms; [`Sink::sync`] at exit also waits for the write): one
/// write per many requests. Once one of those writes stalls (10 ms), a
/// writer thread of its own does them from then on, and the thread that
/// serves requests only hands batches over. An unbuffered sink writes each
/// line as it ends.
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

impl WriterThread {
    /// Starts the thread that writes to `writer`, or gives `writer` back if
    /// no thread can be started.
    fn start(writer: Box<dyn Write + Send>) -> Result<WriterThread, Box<dyn Write + Send>> {
        let (jobs, queue) = sync_channel::<Job>(QUEUED);
        let (give_back, spare) = sync_channel::<Vec<u8>>(QUEUED + 1);
        let spawned = std::thread::Builder::new()
            .name("rg-log-writer".into())
            .spawn(move || write_batches(queue, give_back));
        match spawned {
            Ok(_) => {
                let _ = jobs.send(Job::Switch(writer));
                Ok(WriterThread { jobs, spare })
            }
            Err(_) => Err(writer),
        }
    }
}

/// The writer thread: runs the jobs in order until the sink is gone. A
/// failed write drops its batch: a full disk or a closed stdout must not
/// take requests down.
fn write_batches(queue: Receiver<Job>, give_back: SyncSender<Vec<u8>>) {
    let mut out: Option<Box<dyn Write + Send>> = None;
    for job in queue {
        match job {
            Job::Write(mut batch) => {
                if let Some(out) = out.as_mut() {
                    let _ = out.write_all(&batch);
                    let _ = out.flush();
                }
                batch.clear();
                let _ = give_back.try_send(batch);
            }
            Job::Switch(fresh) => out = Some(fresh),
            Job::Done(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

impl Out {
    fn new(writer: Box<dyn Write + Send>, buffered: bool) -> Out {
        let capacity = if buffered { BATCH + 4096 } else { 256 };
        Out {
            pending: Vec::with_capacity(capacity),
            dest: Dest::Direct(writer),
            buffered,
        }
    }

    /// Sends what is pending on its way, or with `whole_lines` only up to
    /// its last newline (written here; the writer thread only ever gets
    /// whole lines). A failed direct write drops what it could not write.
    fn hand_off(&mut self, whole_lines: bool) {
        match &mut self.dest {
            Dest::Direct(writer) => {
                let end = if whole_lines {
                    self.pending
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |at| at + 1)
                } else {
                    self.pending.len()
                };
                if end > 0 {
                    let began = self.buffered.then(Instant::now);
                    let _ = writer.write_all(&self.pending[..end]);
                    let _ = writer.flush();
                    self.pending.drain(..end);
                    if began.is_some_and(|began| began.elapsed() >= STALL) {
                        self.move_to_thread();
                    }
                }
            }
            Dest::Thread(thread) => {
                if self.pending.is_empty() {
                    return;
                }
                let next = thread
                    .spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH + 4096));
                let batch = std::mem::replace(&mut self.pending, next);
                // This waits only when QUEUED batches are waiting already:
                // a destination that stalls that long holds the server up,
                // as it would with no thread, instead of growing memory.
                let _ = thread.jobs.send(Job::Write(batch));
            }
        }
    }

    /// Hands the destination to a writer thread, for good; with no thread
    /// to spare, keeps writing it here.
    fn move_to_thread(&mut self) {
        let Dest::Direct(writer) = std::mem::replace(&mut self.dest, Dest::Direct(Box::new(io::sink())))
        else {
            return;
        };
        self.dest = WriterThread::start(writer).map_or_else(Dest::Direct, Dest::Thread);
    }

    /// Sends what is pending to the destination it was meant for, and
    /// what follows to `fresh`.
    fn switch(&mut self, fresh: Box<dyn Write + Send>) {
        self.hand_off(false);
        match &mut self.dest {
            Dest::Direct(writer) => *writer = fresh,
            Dest::Thread(thread) => {
                let _ = thread.jobs.send(Job::Switch(fresh));
            }
        }
    }

    /// Hands off what is pending and waits until it is written.
    fn sync(&mut self) {
        self.hand_off(false);
        if let Dest::Thread(thread) = &self.dest {
            let (ack, acked) = sync_channel(1);
            if thread.jobs.send(Job::Done(ack)).is_ok() {
                let _ = acked.recv();
            }
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        // The writer thread ends when its queue closes, after this.
        self.sync();
    }
}

impl Sink {
    /// Opens the destination; a file is created if missing and appended to.
    pub fn open(target: LogTarget, buffered: bool) -> Result<Sink, Error> {
        let out = Self::open_destination(&target)?.map(|writer| Out::new(writer, buffered));
        Ok(Sink {
            target,
            buffered,
            out: Mutex::new(out),
        })
    }

    fn open_destination(target: &LogTarget) -> Result<Option<Box<dyn Write + Send>>, Error> {
        Ok(Some(match target {
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
        }))
    }

    /// The open destination. A panic while it was held (in a line's
    /// rendering) leaves it usable: the log must outlive one bad line.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Out>> {
        self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes and reopens a log file; stdout and stderr are kept. Lines
    /// pending go to the old file, the ones after to the new.
    pub fn reopen(&self) -> Result<(), Error> {
        if let LogTarget::File(_) = self.target
            && let Some(fresh) = Self::open_destination(&self.target)?
            && let Some(out) = self.lock().as_mut()
        {
            out.switch(fresh);
        }
        Ok(())
    }

    /// Whether anything is written at all.
    pub fn is_on(&self) -> bool {
        self.target != LogTarget::Off
    }

    /// Sends buffered lines on their way, without waiting for the write.
    pub fn flush(&self) {
        if let Some(out) = self.lock().as_mut() {
            out.hand_off(false);
        }
    }

    /// Writes buffered lines and waits until they are written (at exit).
    pub fn sync(&self) {
        if let Some(out) = self.lock().as_mut() {
            out.sync();
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
                out.hand_off(true);
            } else if out.pending.len() >= BATCH {
                out.hand_off(false);
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

    /// What `path` holds once it holds `expected`: a buffered sink's
    /// writer thread writes a moment after the hand-off.
    fn eventually(path: &std::path::Path, expected: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = read(path);
            if expected(&text) || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_buffered_sink_writes_at_a_flush_when_full_on_reopen_and_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let sink = Sink::open(LogTarget::File(path.clone()), true).unwrap();
        sink.write_with(|pending| pending.extend_from_slice(b"one\n"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(read(&path), "", "a buffered line waits for the flush");
        sink.flush();
        assert_eq!(eventually(&path, |t| !t.is_empty()), "one\n");

        // 64 KiB pending go out without a flush, in whole.
        let line = [b'x'; 1023];
        for _ in 0..64 {
            sink.write_with(|pending| {
                pending.extend_from_slice(&line);
                pending.push(b'\n');
            });
        }
        let expected = 4 + 64 * 1024;
        assert_eq!(eventually(&path, |t| t.len() >= expected).len(), expected);

        // After a rotation, what was pending goes to the old file and what
        // follows to the new one.
        sink.write_all(b"before\n");
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        sink.reopen().unwrap();
        sink.write_all(b"after\n");
        sink.sync();
        assert!(read(&rotated).ends_with("x\nbefore\n"));
        assert_eq!(read(&path), "after\n");
        sink.write_all(b"last\n");
        drop(sink);
        assert_eq!(
            read(&path),
            "after\nlast\n",
            "dropping the sink writes what is pending"
        );
    }

    #[test]
    fn after_a_stalled_write_a_stalled_reader_no_longer_holds_up_the_thread_that_logs() {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("journal");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let sink = Arc::new(Sink::open(LogTarget::File(fifo), true).unwrap());
        // A reader that lets the pipe fill, stalls for 200 ms more, reads
        // one pipe's worth (64 KiB) and then never reads again.
        let (go, gone) = std::sync::mpsc::channel::<()>();
        let stalling = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let mut queued: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int.
            while unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut queued) } == 0
                && queued < 64 * 1024
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
            let mut left = 64 * 1024;
            let mut buf = [0; 4096];
            while left > 0 {
                match reader.read(&mut buf[..left.min(4096)]) {
                    Ok(n) => left -= n,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            let _ = gone.recv();
        });
        let (done, finished) = std::sync::mpsc::channel();
        let logging = sink.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            // Six batches. The first fills the pipe; the second is written
            // here, in the 200 ms the reader stalls, and moves the writes
            // to the writer thread. That thread waits in the third; the
            // rest wait in its queue, not in this thread.
            let line = [b'x'; 1023];
            for _ in 0..6 * 64 {
                logging.write_with(|pending| {
                    pending.extend_from_slice(&line);
                    pending.push(b'\n');
                });
            }
            logging.flush();
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(10)).is_ok(),
            "logging waited for a reader that stalled again after a stall"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "the first stall was waited for, as nginx would"
        );
        // The reader goes: the writes fail, and the sink still closes.
        drop(go);
        stalling.join().unwrap();
        drop(sink);
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
