//! A sink's writer thread: once a batch's write has stalled, it writes the
//! batches in order, so the thread serving requests only hands them over.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Batches that may wait for the writer thread before the sink waits too.
const QUEUED: usize = 4;

/// The way to a sink's writer thread.
pub(super) struct WriterThread {
    pub(super) jobs: SyncSender<Job>,
    /// Batches the thread has written, handed back to be filled again.
    pub(super) spare: Receiver<Vec<u8>>,
}

/// What the writer thread does, in the order sent.
pub(super) enum Job {
    Write(Vec<u8>),
    /// Everything before this went to the old destination; what follows
    /// goes to this one.
    Switch(Box<dyn Write + Send>),
    /// Everything before this is written: say so.
    Done(SyncSender<()>),
}

impl WriterThread {
    /// Starts the thread that writes to `writer`, or gives `writer` back if
    /// no thread can be started.
    pub(super) fn start(writer: Box<dyn Write + Send>) -> Result<WriterThread, Box<dyn Write + Send>> {
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
