//! Whether a log's writes fail: a full disk, a closed pipe. The failure and
//! the recovery are each told once, from outside the sink's lock.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

const WRITING: u8 = 0;
const FAILED: u8 = 1;
const FAILING: u8 = 2;
const RECOVERED: u8 = 3;

/// A destination's state, shared by its writer and whoever tells of it.
#[derive(Debug, Default)]
pub(super) struct Health {
    state: AtomicU8,
    error: Mutex<String>,
}

impl Health {
    fn failed(&self, error: &io::Error) {
        let was = self.state.load(Ordering::Acquire);
        if was == WRITING || was == RECOVERED {
            *self
                .error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = error.to_string();
            self.state.store(FAILED, Ordering::Release);
        }
    }

    fn wrote(&self) {
        let was = self.state.load(Ordering::Acquire);
        if was == FAILED || was == FAILING {
            // Told as recovered only if the failure was told.
            let next = if was == FAILING { RECOVERED } else { WRITING };
            self.state.store(next, Ordering::Release);
        }
    }

    /// What changed since last asked: `Err(error)` when writes began to
    /// fail, `Ok(())` when they work again after a failure that was told.
    pub(super) fn news(&self) -> Option<Result<(), String>> {
        match self.state.load(Ordering::Acquire) {
            FAILED => {
                self.state.store(FAILING, Ordering::Release);
                let error = self
                    .error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Some(Err(error.clone()))
            }
            RECOVERED => {
                self.state.store(WRITING, Ordering::Release);
                Some(Ok(()))
            }
            _ => None,
        }
    }
}

/// A destination whose writes report to its [`Health`].
pub(super) struct Watched {
    pub(super) inner: Box<dyn Write + Send>,
    pub(super) health: Arc<Health>,
}

impl Write for Watched {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes);
        match &written {
            Ok(_) => self.health.wrote(),
            Err(e) => self.health.failed(e),
        }
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.flush();
        if let Err(e) = &flushed {
            self.health.failed(e);
        }
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_and_its_recovery_are_each_told_once() {
        let health = Health::default();
        assert_eq!(health.news(), None);
        health.failed(&io::Error::other("disk full"));
        health.failed(&io::Error::other("disk full again"));
        assert_eq!(health.news(), Some(Err("disk full".into())));
        health.failed(&io::Error::other("still full"));
        assert_eq!(health.news(), None, "told once");
        health.wrote();
        assert_eq!(health.news(), Some(Ok(())));
        assert_eq!(health.news(), None);
        health.wrote();
        assert_eq!(health.news(), None);
    }

    #[test]
    fn a_failure_mended_before_anyone_asked_is_not_told() {
        let health = Health::default();
        health.failed(&io::Error::other("a blip"));
        health.wrote();
        assert_eq!(health.news(), None);
    }
}
