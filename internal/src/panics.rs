//! A panicking handler answered 500, as Gunicorn and Django answer an
//! exception: the hook logs every panic in the log's format with where it
//! happened, and [`Catching`] turns one inside a request into its answer.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::error;

thread_local! {
    /// Set while a [`Catching`] future polls: its panic is told by the
    /// request that caught it, in one line with the request.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<Panicked>> = const { RefCell::new(None) };
}

/// What a panic said, and where.
#[derive(Debug, Clone)]
pub(crate) struct Panicked {
    pub(crate) message: String,
    pub(crate) location: String,
}

/// Sends every panic of the worker to the error log (the default hook
/// writes to stderr, outside the log's format and its file).
pub(crate) fn install() {
    panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(text) => (*text).to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "Box<dyn Any>".into()),
        };
        let location = info
            .location()
            .map_or_else(|| "an unknown place".into(), ToString::to_string);
        if CATCHING.get() {
            CAUGHT.set(Some(Panicked { message, location }));
        } else {
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("a thread");
            error!("{thread} panicked at {location}: {message}");
        }
    }));
}

/// A future whose panic becomes `Err` with what it said, the panic left
/// for the hook to record rather than print.
pub(crate) struct Catching<F> {
    inner: F,
}

impl<F> Catching<F> {
    pub(crate) fn new(inner: F) -> Catching<F> {
        Catching { inner }
    }
}

impl<F: Future> Future for Catching<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is pinned with `self` and never moved out of it.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.inner) };
        let was = CATCHING.replace(true);
        let polled = panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        CATCHING.set(was);
        match polled {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let caught = CAUGHT.take().unwrap_or_else(|| Panicked {
                    message: payload
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_string())
                        .unwrap_or_else(|| "a panic".into()),
                    location: "an unknown place".into(),
                });
                Poll::Ready(Err(caught))
            }
        }
    }
}
