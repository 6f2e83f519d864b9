//! The worker's stop as one value, [`Stopping`]: why and how it stops, and
//! how far it got. Accept loops, slots, connections, live reload and
//! `rg::shutdown()` all read this one value; nothing keeps a copy.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

/// Why and how the worker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Stop accepting, let in-flight requests finish within the graceful
    /// timeout, exit 0.
    Graceful(Reason),
    /// Exit now.
    Immediate(Reason),
}

/// What asked the worker to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A signal, by name.
    Signal(&'static str),
    /// The worker served its `max_requests`.
    MaxRequests,
    /// The `rg serve` master that started the worker is gone.
    Orphaned,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Signal(name) => write!(f, "{name}"),
            Reason::MaxRequests => write!(f, "served max_requests"),
            Reason::Orphaned => write!(f, "the master process is gone"),
        }
    }
}

/// Where the worker is in its stop; it only moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Serving.
    Serving,
    /// No longer accepting; finishing what is open.
    Draining,
    /// The graceful timeout is up (or the stop is immediate): close what
    /// is left.
    Closing,
}

/// The stop as it stands: the phase, and once it began, the stop itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) stop: Option<Stop>,
}

/// The worker's stop. Clones share it; awaiting goes through a watch
/// channel, and a connection's check on every wake is one atomic load.
#[derive(Debug, Clone)]
pub(crate) struct Stopping {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: watch::Sender<State>,
    /// [`Stopping::how`], kept beside the channel for reads without a lock.
    how: AtomicU8,
}

/// How a connection must end, as [`Stopping::how`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Not stopping.
    Serving,
    /// Finish what is in flight, then close.
    Graceful,
    /// Close now.
    Immediate,
}

/// The process's stop: the one `rg::shutdown()` reads, and the one the
/// worker's serving loop moves on.
pub(crate) fn stopping() -> &'static Stopping {
    static STOPPING: OnceLock<Stopping> = OnceLock::new();
    STOPPING.get_or_init(Stopping::new)
}

impl Stopping {
    pub(crate) fn new() -> Stopping {
        let (state, _) = watch::channel(State {
            phase: Phase::Serving,
            stop: None,
        });
        Stopping {
            inner: Arc::new(Inner {
                state,
                how: AtomicU8::new(How::Serving as u8),
            }),
        }
    }

    /// Begins the stop with `stop`, unless it began already (an immediate
    /// stop still overrides a graceful one); true if this call changed it.
    pub(crate) fn begin(&self, stop: Stop) -> bool {
        let begun = self.inner.state.send_if_modified(|state| {
            let first = match state.stop {
                None => true,
                Some(Stop::Graceful(_)) => matches!(stop, Stop::Immediate(_)),
                Some(Stop::Immediate(_)) => false,
            };
            if first {
                state.stop = Some(stop);
                state.phase = match stop {
                    Stop::Graceful(_) => Phase::Draining,
                    Stop::Immediate(_) => Phase::Closing,
                };
            }
            first
        });
        if begun {
            let how = match stop {
                Stop::Graceful(_) => How::Graceful,
                Stop::Immediate(_) => How::Immediate,
            };
            self.inner.how.store(how as u8, Ordering::Release);
        }
        begun
    }

    /// Moves the stop on to `phase` (never back).
    pub(crate) fn advance(&self, phase: Phase) {
        self.inner.state.send_if_modified(|state| {
            let later = phase > state.phase;
            if later {
                state.phase = phase;
            }
            later
        });
    }

    /// The stop as it stands.
    pub(crate) fn state(&self) -> State {
        *self.inner.state.borrow()
    }

    /// How connections must end now: one atomic load.
    pub(crate) fn how(&self) -> How {
        match self.inner.how.load(Ordering::Acquire) {
            1 => How::Graceful,
            2 => How::Immediate,
            _ => How::Serving,
        }
    }

    /// Completes when the stop has begun, with it.
    pub(crate) async fn begun(&self) -> Stop {
        let mut watch = self.inner.state.subscribe();
        let stop = watch
            .wait_for(|state| state.stop.is_some())
            .await
            .map(|state| state.stop);
        match stop {
            Ok(Some(stop)) => stop,
            // The sender lives as long as `self`, and the stop is set.
            _ => std::future::pending().await,
        }
    }

    /// Completes when the stop has reached `phase`.
    pub(crate) async fn reached(&self, phase: Phase) {
        let mut watch = self.inner.state.subscribe();
        if watch.wait_for(|state| state.phase >= phase).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_wins_and_the_phase_only_moves_on() {
        let stopping = Stopping::new();
        assert_eq!(stopping.how(), How::Serving);
        assert!(stopping.begin(Stop::Graceful(Reason::MaxRequests)));
        assert!(!stopping.begin(Stop::Graceful(Reason::Signal("SIGTERM"))));
        assert_eq!(stopping.how(), How::Graceful);
        assert_eq!(
            stopping.state(),
            State {
                phase: Phase::Draining,
                stop: Some(Stop::Graceful(Reason::MaxRequests))
            }
        );
        stopping.advance(Phase::Closing);
        stopping.advance(Phase::Draining);
        assert_eq!(stopping.state().phase, Phase::Closing);
        // A graceful stop may become immediate, never the other way.
        assert!(stopping.begin(Stop::Immediate(Reason::Signal("SIGINT"))));
        assert!(!stopping.begin(Stop::Graceful(Reason::Signal("SIGTERM"))));
        assert_eq!(stopping.how(), How::Immediate);
    }

    #[tokio::test]
    async fn an_immediate_stop_is_closing_at_once() {
        let stopping = Stopping::new();
        let waiting = tokio::spawn({
            let stopping = stopping.clone();
            async move { stopping.reached(Phase::Closing).await }
        });
        stopping.begin(Stop::Immediate(Reason::Signal("SIGQUIT")));
        waiting.await.unwrap();
        assert_eq!(stopping.how(), How::Immediate);
        assert_eq!(stopping.begun().await, Stop::Immediate(Reason::Signal("SIGQUIT")));
    }
}
