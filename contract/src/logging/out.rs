//! A sink's open destination and the bytes not yet on their way to it:
//! written line by line, or a batch at a time and, once a write stalled,
//! by a writer thread.

use std::io::{self, Write};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use super::writer_thread::{Job, WriterThread};

/// A buffered sink writes its lines, or hands them to its writer thread,
/// when this much is pending.
pub(super) const BATCH: usize = 64 * 1024;

/// A batch's write that takes this long (a page-cache write of 64 KiB
/// takes tens of microseconds) means the destination stalls: a buffered
/// sink moves its writes to a thread of its own from then on.
const STALL: Duration = Duration::from_millis(10);

/// An open destination and the bytes not yet on their way to it.
pub(super) struct Out {
    pub(super) pending: Vec<u8>,
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

impl Out {
    pub(super) fn new(writer: Box<dyn Write + Send>, buffered: bool) -> Out {
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
    pub(super) fn hand_off(&mut self, whole_lines: bool) {
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
    pub(super) fn switch(&mut self, fresh: Box<dyn Write + Send>) {
        self.hand_off(false);
        match &mut self.dest {
            Dest::Direct(writer) => *writer = fresh,
            Dest::Thread(thread) => {
                let _ = thread.jobs.send(Job::Switch(fresh));
            }
        }
    }

    /// Hands off what is pending and waits until it is written.
    pub(super) fn sync(&mut self) {
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
