//! A worker's connection slots (`worker_connections`) and who holds them.
//!
//! Each connection served takes a slot and gives it back when its socket
//! closes. When every slot is taken and a new client waits in the listen
//! queue, the accept loop makes room by closing an idle connection: one
//! that has read nothing since its last response (an idle keep-alive
//! connection), or nothing since it was accepted, for at least
//! [`QUIET_ENOUGH`]. The one quiet the longest goes first, as nginx reuses
//! its idle keep-alive connections when `worker_connections` runs out.
//!
//! Closing goes through hyper's graceful shutdown, so it never cuts a
//! response: an idle connection closes at once, one that turns out to be
//! busy finishes its response first. A connection in the middle of a
//! request (its head or its body still arriving, its response being
//! computed) is never chosen; the header and body timeouts bound those.
//!
//! The per-request cost is what the connection's stream does on each read
//! and write: a relaxed atomic load, and a store when the connection turns
//! from reading to answering or back (plus the time, when it turns to
//! answering).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::coarse;
use crate::stop::{How, Stopping};

/// How long a connection must have been quiet to count as idle: a
/// keep-alive client usually sends its next request right after the last
/// response, and closing under it would make it retry.
pub(super) const QUIET_ENOUGH: Duration = Duration::from_millis(100);

/// How often, at most, a worker says that its slots ran out.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Accepted, nothing read yet.
const FRESH: u8 = 0;
/// Bytes read since the last write: a request arriving or being served.
const READING: u8 = 1;
/// Written since the last read: a response sent, nothing new asked yet.
const ANSWERED: u8 = 2;
/// Asked to close while idle.
const CLOSING: u8 = 3;

/// What a connection is asked to do, through [`Listed::close_requested`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseRequest {
    /// Close while idle: a new client needs the slot, or an HTTP/2
    /// connection went `keepalive` without a stream.
    Idle,
    /// The worker stops: finish what is in flight, then close.
    Graceful,
    /// The worker stops now.
    Now,
}

/// The slots of one worker, for all its listeners together.
pub(super) struct Slots {
    free: Arc<Semaphore>,
    size: usize,
    /// When the slots were made ([`coarse::millis`]).
    epoch: u64,
    roster: Mutex<Roster>,
    /// When the worker last said its slots ran out (ms since `epoch`, plus one).
    warned: AtomicU64,
    /// The worker's stop, which every connection hears through its slot.
    stopping: Stopping,
}

#[derive(Default)]
struct Roster {
    next: u64,
    connections: HashMap<u64, Arc<Activity>>,
}

impl Slots {
    pub(super) fn new(size: usize, stopping: Stopping) -> Arc<Slots> {
        Arc::new(Slots {
            free: Arc::new(Semaphore::new(size)),
            size,
            epoch: coarse::millis(),
            roster: Mutex::new(Roster::default()),
            warned: AtomicU64::new(0),
            stopping,
        })
    }

    /// Wakes every connection to hear that the worker stops (connections
    /// taken from here on hear it at once). They hear it through the waker
    /// they already poll for [`Slots::make_room`]: no channel for each
    /// connection to poll on every wake.
    pub(super) fn wake_all(&self) {
        let held = self.roster.lock().unwrap_or_else(|e| e.into_inner());
        for activity in held.connections.values() {
            activity.told.wake();
        }
    }

    /// Whether every slot is taken.
    pub(super) fn full(&self) -> bool {
        self.free.available_permits() == 0
    }

    /// Waits until a slot is free (without taking it).
    pub(super) async fn freed(&self) {
        drop(self.free.acquire().await);
    }

    /// A slot for a connection just accepted. Another listener may have
    /// taken the last one since this one's loop saw it free: the worker
    /// then goes over by that connection, which holds no slot.
    pub(super) fn take(self: &Arc<Self>) -> Place {
        let permit = self.free.clone().try_acquire_owned().ok();
        let activity = Arc::new(Activity {
            state: AtomicU8::new(FRESH),
            quiet_since: AtomicU64::new(self.now()),
            epoch: self.epoch,
            told: AtomicWaker::new(),
        });
        let id = {
            let mut held = self.roster.lock().unwrap_or_else(|e| e.into_inner());
            let id = held.next;
            held.next += 1;
            held.connections.insert(id, activity.clone());
            id
        };
        Place {
            permit,
            activity: activity.clone(),
            listed: Listed {
                slots: self.clone(),
                id,
                activity,
            },
        }
    }

    /// Tells the connection quiet the longest (at least [`QUIET_ENOUGH`])
    /// to close; false if none is.
    pub(super) fn make_room(&self) -> bool {
        let now = self.now();
        let chosen = {
            let held = self.roster.lock().unwrap_or_else(|e| e.into_inner());
            let quiet = held.connections.values().filter_map(|a| {
                let state = a.state.load(Ordering::Relaxed);
                let since = a.quiet_since.load(Ordering::Relaxed);
                ((state == FRESH || state == ANSWERED) && idle_enough(since, now)).then_some((since, a))
            });
            quiet.min_by_key(|(since, _)| *since).map(|(_, a)| a.clone())
        };
        let Some(activity) = chosen else {
            return false;
        };
        activity.ask_to_close();
        self.say_full(now);
        true
    }

    /// Says, once a minute at most, that the slots ran out.
    fn say_full(&self, now: u64) {
        let last = self.warned.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last - 1) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .warned
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            warn!(
                "All {} worker_connections are in use: closing idle keep-alive connections to serve new clients",
                self.size
            );
        }
    }

    fn now(&self) -> u64 {
        millis(self.epoch)
    }
}

/// Milliseconds since `epoch` (a reading of [`coarse::millis`]): to the
/// kernel's tick, which is all that picking connections quiet for seconds
/// needs, and a reading in every response.
fn millis(epoch: u64) -> u64 {
    coarse::millis().saturating_sub(epoch)
}

fn idle_enough(since: u64, now: u64) -> bool {
    now.saturating_sub(since) >= QUIET_ENOUGH.as_millis() as u64
}

/// What a connection takes: its slot (if one was free), the activity its
/// stream reports, and its place on the list of connections that may be
/// asked to close.
pub(super) struct Place {
    pub(super) permit: Option<OwnedSemaphorePermit>,
    pub(super) activity: Arc<Activity>,
    pub(super) listed: Listed,
}

/// A connection's place on the list; it leaves the list when dropped (when
/// hyper is done with the connection, even if its socket lives on as a
/// WebSocket, which is never closed to make room).
pub(super) struct Listed {
    slots: Arc<Slots>,
    id: u64,
    activity: Arc<Activity>,
}

impl Listed {
    /// Resolves when the worker stops or the accept loop chose this
    /// connection to close; a stop comes first. It is polled each time the
    /// connection's task wakes, so it is two atomic loads and a waker
    /// check, not a lock.
    pub(super) fn close_requested(&self) -> impl Future<Output = CloseRequest> + '_ {
        std::future::poll_fn(|cx| {
            if let Some(told) = self.check() {
                return Poll::Ready(told);
            }
            self.activity.told.register(cx.waker());
            // CloseRequest between the check and the registration: seen now.
            self.check().map_or(Poll::Pending, Poll::Ready)
        })
    }

    fn check(&self) -> Option<CloseRequest> {
        match self.slots.stopping.how() {
            How::Immediate => return Some(CloseRequest::Now),
            How::Graceful => return Some(CloseRequest::Graceful),
            How::Serving => {}
        }
        (self.activity.state.load(Ordering::Acquire) == CLOSING).then_some(CloseRequest::Idle)
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut held = self.slots.roster.lock().unwrap_or_else(|e| e.into_inner());
        held.connections.remove(&self.id);
    }
}

/// What a connection's stream last did, as the accept loop reads it.
pub(super) struct Activity {
    state: AtomicU8,
    /// Since when it has read nothing (ms since the slots' epoch).
    quiet_since: AtomicU64,
    epoch: u64,
    /// The connection's task, waiting to be told to close or stop.
    told: AtomicWaker,
}

impl Activity {
    /// Asks the connection to close once it is idle (hyper's graceful shutdown).
    pub(super) fn ask_to_close(&self) {
        self.state.store(CLOSING, Ordering::Release);
        self.told.wake();
    }

    /// The stream read some bytes.
    #[inline]
    pub(super) fn read(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state == FRESH || state == ANSWERED {
            self.state.store(READING, Ordering::Relaxed);
        }
    }

    /// The stream wrote some bytes.
    #[inline]
    pub(super) fn wrote(&self) {
        if self.state.load(Ordering::Relaxed) == READING {
            self.quiet_since.store(millis(self.epoch), Ordering::Relaxed);
            self.state.store(ANSWERED, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
