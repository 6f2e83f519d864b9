//! Choosing the connection to close for room, and telling every one of a stop.

use futures_util::FutureExt as _;

use super::*;
use crate::stop::{Reason, Stop};

/// Slots whose clock has run for a while, so "quiet for 5 s" exists.
impl Slots {
    /// The worker stops (`now`: without finishing what is in flight).
    fn stop(&self, now: bool) {
        let reason = Reason::Signal("test");
        self.stopping.begin(if now {
            Stop::Immediate(reason)
        } else {
            Stop::Graceful(reason)
        });
        self.wake_all();
    }
}

fn aged(size: usize) -> Arc<Slots> {
    let fresh = Arc::into_inner(Slots::new(size, Stopping::new())).unwrap();
    Arc::new(Slots {
        epoch: coarse::millis().saturating_sub(10_000),
        ..fresh
    })
}

/// Makes a connection look quiet for `ago` (or, with `None`, quiet
/// only from a minute from now: never quiet enough during the test).
fn quiet_for(slots: &Slots, activity: &Activity, ago: Option<Duration>) {
    let now = slots.now();
    let since = match ago {
        Some(ago) => now.saturating_sub(ago.as_millis() as u64),
        None => now + 60_000,
    };
    activity.quiet_since.store(since, Ordering::Relaxed);
}

/// Whether the connection was told to close to make room.
fn told(taken: &Place) -> bool {
    taken.listed.close_requested().now_or_never() == Some(CloseRequest::Idle)
}

fn state(taken: &Place) -> u8 {
    taken.activity.state.load(Ordering::Relaxed)
}

#[test]
fn the_connection_quiet_the_longest_is_closed_first() {
    let slots = aged(3);
    let a = slots.take();
    let b = slots.take();
    let c = slots.take();
    assert!(slots.full());
    for t in [&a, &b, &c] {
        t.activity.read();
        t.activity.wrote();
        assert_eq!(state(t), ANSWERED);
    }
    quiet_for(&slots, &a.activity, Some(Duration::from_secs(1)));
    quiet_for(&slots, &b.activity, Some(Duration::from_secs(5)));
    quiet_for(&slots, &c.activity, Some(Duration::from_secs(3)));

    assert!(slots.make_room());
    assert!(told(&b), "the longest quiet was not told to close");
    assert!(!told(&a));
    assert!(!told(&c));

    // CloseRequest once: the next choice is the next quietest.
    assert!(slots.make_room());
    assert!(told(&c));
    assert!(!told(&a));
}

#[test]
fn connections_mid_request_or_just_answered_are_left_alone() {
    let slots = aged(3);
    // Reading a request (its head trickling in) for a long time.
    let reading = slots.take();
    reading.activity.read();
    quiet_for(&slots, &reading.activity, Some(Duration::from_secs(9)));
    // Answered just now: its client may be sending the next request.
    let answered = slots.take();
    answered.activity.read();
    answered.activity.wrote();
    quiet_for(&slots, &answered.activity, None);
    // Accepted just now, nothing read yet.
    let fresh = slots.take();
    quiet_for(&slots, &fresh.activity, None);
    assert!(!slots.make_room());

    // A fresh connection that stays silent becomes idle.
    quiet_for(&slots, &fresh.activity, Some(QUIET_ENOUGH));
    assert!(slots.make_room());
    assert!(told(&fresh));

    // The one reading is never chosen, however long it takes.
    assert!(!slots.make_room());
    assert_eq!(state(&reading), READING);
    assert!(!told(&reading));

    // Reading again after an answer makes a connection busy again.
    answered.activity.read();
    quiet_for(&slots, &answered.activity, Some(Duration::from_secs(5)));
    assert!(!slots.make_room());
}

#[test]
fn a_connection_leaves_the_list_when_hyper_is_done_and_frees_its_slot_with_its_socket() {
    let slots = aged(1);
    let Place {
        permit,
        activity,
        listed,
    } = slots.take();
    assert!(slots.full());
    quiet_for(&slots, &activity, Some(Duration::from_secs(5)));
    drop(listed);
    assert!(!slots.make_room(), "a connection off the list was chosen");
    // An upgraded connection's socket still holds the slot.
    assert!(slots.full());
    drop(permit);
    assert!(!slots.full());
    // Taking past the size gives no slot rather than waiting.
    let a = slots.take();
    let b = slots.take();
    assert!(a.permit.is_some() && b.permit.is_none());
}

#[derive(Default)]
struct Woken(std::sync::atomic::AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_stop_reaches_every_connection_and_those_taken_after_it() {
    let slots = aged(4);
    let before = slots.take();
    // The connection's task, waiting.
    let woken = Arc::new(Woken::default());
    let waker = std::task::Waker::from(woken.clone());
    let mut told = Box::pin(before.listed.close_requested());
    assert!(
        told.as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    );
    drop(told);
    slots.stop(false);
    assert!(
        woken.0.load(Ordering::Relaxed),
        "a waiting connection was not woken"
    );
    assert_eq!(
        before.listed.close_requested().now_or_never(),
        Some(CloseRequest::Graceful)
    );
    // Place during the drain of the queue: told at once.
    let after = slots.take();
    assert_eq!(
        after.listed.close_requested().now_or_never(),
        Some(CloseRequest::Graceful)
    );
    // A stop comes before making room, and an immediate stop wins.
    quiet_for(&slots, &before.activity, Some(Duration::from_secs(5)));
    assert!(slots.make_room());
    assert_eq!(
        before.listed.close_requested().now_or_never(),
        Some(CloseRequest::Graceful)
    );
    slots.stop(true);
    assert_eq!(
        before.listed.close_requested().now_or_never(),
        Some(CloseRequest::Now)
    );
    slots.stop(false);
    assert_eq!(
        after.listed.close_requested().now_or_never(),
        Some(CloseRequest::Now)
    );
}
