//! Where a log's lines go: stdout, stderr or a file that SIGUSR1 reopens
//! after logrotate, buffered for the access log and line by line otherwise.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use super::health::{Health, Watched};
use super::out::{BATCH, Out};
use crate::Error;
use crate::settings::LogTarget;

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
    health: Arc<Health>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Opens the destination; a file is created if missing and appended to.
    pub fn open(target: LogTarget, buffered: bool) -> Result<Sink, Error> {
        let health = Arc::new(Health::default());
        let out = Self::open_destination(&target, &health)?.map(|writer| Out::new(writer, buffered));
        Ok(Sink {
            target,
            buffered,
            out: Mutex::new(out),
            health,
        })
    }

    fn open_destination(
        target: &LogTarget,
        health: &Arc<Health>,
    ) -> Result<Option<Box<dyn Write + Send>>, Error> {
        let inner: Box<dyn Write + Send> = match target {
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
        let health = health.clone();
        Ok(Some(Box::new(Watched { inner, health })))
    }

    /// Whether writes began to fail (`Err` with the error) or work again
    /// since the last call: each change told once. Asked outside the lock,
    /// so telling it in the error log cannot wait on this sink.
    pub fn news(&self) -> Option<Result<(), String>> {
        self.health.news()
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
            && let Some(fresh) = Self::open_destination(&self.target, &self.health)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

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
