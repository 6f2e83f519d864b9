//! hyper's timer for one connection, which hyper uses for the header read
//! timeout (`keepalive`), re-armed lazily. Only with `strict_http` off: on,
//! the strict layer keeps the header timeout itself, cheaper still (hyper
//! then makes no sleep per request at all; see `strict/mod.rs`).
//!
//! hyper makes a new sleep for each request head it waits for and drops it
//! when the head is in; with tokio's timer, each one enters the timer wheel
//! under the driver's lock and leaves it again. Measured side by side on
//! one core, that was 4-5% of a hello-world request. Here the connection
//! keeps one tokio sleep: each of hyper's sleeps only says its deadline,
//! and the tokio sleep, when it fires before the deadline now in force, is
//! re-armed to it. A keep-alive connection then touches the wheel about
//! once per `keepalive`, however many requests it carries, and a client
//! that takes too long is still cut at its deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// The timer of one connection.
#[derive(Clone, Default)]
pub(super) struct HeadTimer {
    shared: Arc<Mutex<Armed>>,
}

/// The connection's tokio sleep, and whether one of hyper's sleeps is
/// using it.
#[derive(Default)]
struct Armed {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    in_use: bool,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// tokio's clock (the same as std's, but for tests with paused time).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(Lazy {
            deadline: tokio::time::Instant::from_std(deadline),
            shared: self.shared.clone(),
            holds: false,
            own: None,
        })
    }
}

/// One of hyper's sleeps.
struct Lazy {
    deadline: tokio::time::Instant,
    shared: Arc<Mutex<Armed>>,
    /// Whether this one uses the connection's tokio sleep.
    holds: bool,
    /// A sleep of its own, when another is using the connection's (hyper
    /// keeps one at a time for HTTP/1; this keeps any other use right).
    own: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Sleep for Lazy {}

impl Future for Lazy {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(own) = &mut this.own {
            return own.as_mut().poll(cx);
        }
        let mut armed = this.shared.lock().unwrap_or_else(|e| e.into_inner());
        if armed.in_use && !this.holds {
            drop(armed);
            return this
                .own
                .insert(Box::pin(tokio::time::sleep_until(this.deadline)))
                .as_mut()
                .poll(cx);
        }
        armed.in_use = true;
        this.holds = true;
        let deadline = this.deadline;
        let sleep = armed
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        poll_lazily(sleep, deadline, cx)
    }
}

/// Polls `sleep` for `deadline`, re-arming it lazily: only set earlier when
/// it is later than the deadline, and moved on when it fires for an earlier
/// deadline since passed over. A sleep a connection keeps for deadlines
/// that keep moving later (one per request) so touches tokio's timer about
/// once per timeout, not once per deadline.
pub(super) fn poll_lazily(
    sleep: &mut Pin<Box<tokio::time::Sleep>>,
    deadline: tokio::time::Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if sleep.deadline() > deadline {
        sleep.as_mut().reset(deadline);
    }
    loop {
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) if sleep.deadline() >= deadline => return Poll::Ready(()),
            // It fired for an earlier deadline, since moved on.
            Poll::Ready(()) => sleep.as_mut().reset(deadline),
            Poll::Pending => return Poll::Pending,
        }
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        if self.holds {
            self.shared.lock().unwrap_or_else(|e| e.into_inner()).in_use = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long `timer.sleep(after)` took, in whole milliseconds (tokio's
    /// timer rounds deadlines up to the next one).
    async fn elapsed(timer: &HeadTimer, after: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        timer.sleep(after).await;
        ms(start.elapsed())
    }

    fn ms(d: Duration) -> Duration {
        Duration::from_millis(d.as_millis() as u64)
    }

    #[tokio::test(start_paused = true)]
    async fn each_sleep_ends_at_its_own_deadline_though_they_share_one_tokio_sleep() {
        let timer = HeadTimer::default();
        assert_eq!(
            elapsed(&timer, Duration::from_secs(5)).await,
            Duration::from_secs(5)
        );

        // A head that came in time: its sleep dropped unfired, the tokio
        // sleep still armed for it.
        let mut early = timer.sleep(Duration::from_secs(5));
        assert!(
            tokio::time::timeout(Duration::ZERO, early.as_mut())
                .await
                .is_err()
        );
        drop(early);
        tokio::time::advance(Duration::from_secs(2)).await;

        // The next one must not end at the old deadline (3 s from now).
        assert_eq!(
            elapsed(&timer, Duration::from_secs(5)).await,
            Duration::from_secs(5)
        );
        // Nor at a later one than its own, armed by a sleep before it.
        let mut late = timer.sleep(Duration::from_secs(5));
        assert!(tokio::time::timeout(Duration::ZERO, late.as_mut()).await.is_err());
        drop(late);
        assert_eq!(
            elapsed(&timer, Duration::from_millis(10)).await,
            Duration::from_millis(10)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn two_sleeps_at_once_each_get_their_own_end() {
        let timer = HeadTimer::default();
        let start = tokio::time::Instant::now();
        let long = timer.sleep(Duration::from_secs(4));
        let short = timer.sleep(Duration::from_secs(1));
        let (long_done, short_done) = tokio::join!(
            async {
                long.await;
                ms(start.elapsed())
            },
            async {
                short.await;
                ms(start.elapsed())
            }
        );
        assert_eq!(short_done, Duration::from_secs(1));
        assert_eq!(long_done, Duration::from_secs(4));
    }
}
