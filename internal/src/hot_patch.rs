//! `rg runserver`'s hot patches, the application's side: the binary
//! crate's new code arrives as a shared library; its `main` runs again up
//! to `rg::run`, which hands the new router here instead of serving, and
//! new requests go to that router while those in flight finish on the old.
//! Nothing is unloaded, so old code stays valid for as long as it runs.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use rg_contract::hot_patch::{self, News};
use rg_contract::notify::{Notification, Notifier};
use tokio::signal::unix::{SignalKind, signal};
use tower::Service;
use tower::util::Oneshot;

use crate::application::Application;
use crate::served::Served;
use crate::state::Kept;

/// While a patch's `main` runs: `Some`, holding what its `rg::run` was
/// given once it is called.
static LOADING: Mutex<Option<Option<Application>>> = Mutex::new(None);

/// Called first by `rg::run`: keeps `app` when a patch is being loaded (and
/// returns `None`), else gives it back to be served.
pub(crate) fn offer(app: Application) -> Option<Application> {
    let mut loading = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    match loading.as_mut() {
        Some(taken @ None) => {
            *taken = Some(app);
            None
        }
        _ => Some(app),
    }
}

/// The application as served when patches may come: one router, replaced
/// whole by each patch.
#[derive(Clone)]
struct Current(Arc<RwLock<Router>>);

impl Service<Request> for Current {
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<Router, Request>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let router = self.0.read().unwrap_or_else(PoisonError::into_inner).clone();
        Oneshot::new(router, request)
    }
}

/// When `rg runserver` hands patches to this process (dev mode, and an
/// application with no setup to rerun): serves `served` as a router that
/// patches can replace, and loads each one asked for, whose routes take
/// `kept` if the application keeps a state. Else `served` as it was.
pub(crate) fn accept_patches(
    served: Served,
    kept: Option<Kept>,
    had_setup: bool,
    dev: bool,
    notifier: &Arc<Notifier>,
) -> std::io::Result<Served> {
    let Some(dir) = std::env::var_os(hot_patch::DIR).map(PathBuf::from) else {
        return Ok(served);
    };
    if !dev {
        return Ok(served);
    }
    if had_setup {
        let why = "its setup (the async fn that builds the router) would run again in a patch; \
                   rg::with_state(setup, routes) keeps what a setup makes across patches";
        let _ = notifier.send(&Notification::hot_patch(News::Declined(why.into())));
        return Ok(served);
    }
    let mut asked = signal(SignalKind::from_raw(hot_patch::signal()))?;
    let current = Current(Arc::new(RwLock::new(served.into_router())));
    let replace = current.0.clone();
    let tell = notifier.clone();
    let state = kept.as_ref().map(|kept| kept.type_name.to_string());
    tokio::spawn(async move {
        while asked.recv().await.is_some() {
            let Some(request) = hot_patch::Request::read(&dir) else {
                continue;
            };
            let news = match load(&request, kept.as_ref()) {
                Ok(router) => {
                    *replace.write().unwrap_or_else(PoisonError::into_inner) = router;
                    crate::layers::live_reload::reload_browsers();
                    News::Applied(request.number)
                }
                Err(why) => News::Failed(request.number, why),
            };
            let _ = tell.send(&Notification::hot_patch(news));
        }
    });
    let _ = notifier.send(&Notification::hot_patch(News::Ready(state)));
    Ok(Served::Router(Router::new().fallback_service(current)))
}

/// Loads the patch's library and runs its `main` to the point where it
/// hands `rg::run` the application; returns that application's router,
/// built around `kept` if it takes the running state.
fn load(request: &hot_patch::Request, kept: Option<&Kept>) -> Result<Router, String> {
    let path = std::ffi::CString::new(request.library.as_os_str().as_encoded_bytes())
        .map_err(|_| "the patch's path holds a NUL byte".to_string())?;
    // SAFETY: the library is the binary crate rebuilt by rg, linked against
    // the libraries this process runs with; it is never closed, so its
    // code stays valid for whatever keeps a pointer into it.
    let main = unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return Err(format!("the patch did not load: {}", dl_error()));
        }
        let exported = libc::dlsym(handle, c"main".as_ptr());
        if exported.is_null() {
            return Err("the patch has no `main`".into());
        }
        (exported as *const u8).offset(request.main_offset as isize)
    };
    *LOADING.lock().unwrap_or_else(PoisonError::into_inner) = Some(None);
    // SAFETY: rg found the binary crate's `fn main()` at that offset and
    // checked its source: it returns nothing or an `ExitCode` (in a
    // register), which this call reads the same way by ignoring it.
    let ran = std::panic::catch_unwind(|| unsafe {
        let main: fn() = std::mem::transmute(main);
        main()
    });
    let app = LOADING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .flatten();
    if ran.is_err() {
        return Err("the patch's main panicked".into());
    }
    let app = app.ok_or("the new main did not call rg::run")?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.rebuild(kept)))
        .unwrap_or_else(|_| Err("the patch's routes panicked".into()))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns a message owned by libc, or null.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "no reason given".into();
    }
    // SAFETY: non-null: a NUL-terminated string, valid until the next dl call.
    unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}
