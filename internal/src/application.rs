//! The application interface: what a project hands to [`crate::run`].
//!
//! WSGI's answer was "a callable". Ours is "anything that turns a request
//! into a response": a plain `async fn(Request) -> impl IntoResponse`, an
//! axum `Router`, or any `tower::Service<Request>`; or, for applications
//! that must build themselves first (open a database pool, read
//! templates), an `async fn() -> Router` or `async fn() -> Result<Router, E>`
//! that runs inside each worker's runtime before the worker says it is
//! ready. [`IntoApplication`] accepts all of them and turns each into one
//! [`Application`], so the server has a single type to drive.

use std::any::Any;
use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use tower::Service;

use crate::served::{Call, ResponseFuture, Served};
use crate::state::{Kept, Stateful};

type SetupFuture = Pin<Box<dyn Future<Output = Result<Router, String>> + Send>>;

/// An application: ready to serve, or a setup that builds it.
pub struct Application {
    build: Build,
}

enum Build {
    Ready(Router),
    Handler(Call),
    Setup(Box<dyn FnOnce() -> SetupFuture + Send>),
    State(Stateful),
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.build {
            Build::Ready(router) => f.debug_tuple("Application").field(router).finish(),
            Build::Handler(_) => f.write_str("Application(handler)"),
            Build::Setup(_) => f.write_str("Application(setup)"),
            Build::State(_) => f.write_str("Application(with_state)"),
        }
    }
}

impl Application {
    /// Runs the setup, if there is one, and returns the application as an
    /// axum router (a `tower::Service`), e.g. to test it with `oneshot`.
    /// `Err` holds the setup's error in words.
    pub async fn build(self) -> Result<Router, String> {
        self.start().await.map(|(served, _)| served.into_router())
    }

    /// What to serve, built, keeping the state of [`crate::with_state`].
    pub(crate) async fn start(self) -> Result<(Served, Option<Kept>), String> {
        match self.build {
            Build::Ready(router) => Ok((Served::Router(router), None)),
            Build::Handler(call) => Ok((Served::Handler(call), None)),
            Build::Setup(setup) => setup().await.map(|router| (Served::Router(router), None)),
            Build::State(stateful) => {
                (stateful.start().await).map(|(router, kept)| (Served::Router(router), Some(kept)))
            }
        }
    }

    /// Whether building it runs a setup.
    pub(crate) fn has_setup(&self) -> bool {
        matches!(self.build, Build::Setup(_))
    }

    /// The router of a patch's application: its routes around the running
    /// application's state, if it keeps one. `Err`: why it cannot be.
    pub(crate) fn rebuild(self, kept: Option<&Kept>) -> Result<Router, String> {
        match (self.build, kept) {
            (Build::Ready(router), _) => Ok(router),
            (Build::Handler(call), _) => Ok(Served::Handler(call).into_router()),
            (Build::Setup(_), _) => {
                Err("the new main hands rg::run a setup, which a patch does not rerun".into())
            }
            (Build::State(stateful), Some(kept)) => stateful.around(kept),
            (Build::State(_), None) => Err("the new main sets up a state, which only a restart does".into()),
        }
    }
}

/// The application that `setup` builds a state for, once per worker inside
/// its runtime, and that `routes` serves with it; an `Err` from the setup
/// stops the worker with that error, as an `async fn() -> Result<Router, E>`
/// does.
///
/// Under `rg runserver`, a save that can be patched rebuilds the routes
/// around the state the application already has: a pool stays open and the
/// setup does not run again. The state's type must then not be one of the
/// binary crate's own (a patch could change its layout under the running
/// value): a dependency's type, or a tuple or an `Arc` of them, patches.
///
/// ```no_run
/// # extern crate rg_internal as rg;
/// use rg::axum::{Router, extract::State, routing::get};
///
/// async fn setup() -> Result<String, std::io::Error> {
///     std::fs::read_to_string("greeting.txt")
/// }
///
/// fn routes(greeting: String) -> Router {
///     Router::new()
///         .route("/", get(|State(greeting): State<String>| async move { greeting }))
///         .with_state(greeting)
/// }
///
/// fn main() -> std::process::ExitCode {
///     rg::run(rg::with_state(setup, routes))
/// }
/// ```
pub fn with_state<S, E, F, Fut, R>(setup: F, routes: R) -> Application
where
    S: Clone + Send + Sync + 'static,
    E: Display,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    R: Fn(S) -> Router + Send + Sync + 'static,
{
    Application {
        build: Build::State(Stateful::new(setup, routes)),
    }
}

/// Conversion into an [`Application`]: implemented for
///
/// - handlers: `async fn(Request) -> impl IntoResponse`, or any axum
///   handler with extractors (`async fn(env: rg::Environ) -> String`);
/// - `tower::Service`s whose error is `Infallible`, axum `Router`s among
///   them;
/// - setups run in each worker before it says it is ready: `async fn() ->
///   Router`, or `async fn() -> Result<Router, E>` whose error `E:
///   Display` says why the application cannot start;
/// - an [`Application`], such as [`with_state`] makes, or a function
///   that returns one.
///
/// `M` tells those implementations apart. Its types are the runtime's own:
/// callers let it be inferred (`rg::run<M>(app: impl IntoApplication<M>)`)
/// and cannot name or implement them.
pub trait IntoApplication<M> {
    /// Converts `self`.
    fn into_application(self) -> Application;
}

/// The markers and the setup's output, `pub` as the blanket implementations
/// need, in a module no one outside the crate can reach: users cannot name
/// or implement them, so the runtime may change them without breaking anyone.
mod sealed {
    use std::marker::PhantomData;

    use axum::Router;

    /// What an application's setup may return: a `Router`, or a `Result`
    /// whose error says in words why the application cannot start.
    pub trait SetupOutput: Send + 'static {
        /// The router, or the error's `Display`.
        fn into_router(self) -> Result<Router, String>;
    }

    /// Marker for setups: `async fn() -> Router` or `async fn() -> Result<Router, E>`.
    #[derive(Debug)]
    pub struct ViaSetup<O>(PhantomData<fn() -> O>);

    /// Marker for handlers: `async fn(Request) -> impl IntoResponse`, or any
    /// axum handler with extractors.
    #[derive(Debug)]
    pub struct ViaHandler<T>(PhantomData<fn() -> T>);

    /// Marker for `tower::Service`s, axum `Router`s among them.
    #[derive(Debug)]
    pub struct ViaService;

    /// Marker for an `Application`, or a function that returns one.
    #[derive(Debug)]
    pub struct ViaApplication<const CALLED: bool>;
}

use sealed::{SetupOutput, ViaApplication, ViaHandler, ViaService, ViaSetup};

#[doc(hidden)]
impl IntoApplication<ViaApplication<false>> for Application {
    fn into_application(self) -> Application {
        self
    }
}

#[doc(hidden)]
impl<F: FnOnce() -> Application> IntoApplication<ViaApplication<true>> for F {
    fn into_application(self) -> Application {
        self()
    }
}

impl SetupOutput for Router {
    fn into_router(self) -> Result<Router, String> {
        Ok(self)
    }
}

impl<E: Display + Send + 'static> SetupOutput for Result<Router, E> {
    fn into_router(self) -> Result<Router, String> {
        self.map_err(|e| e.to_string())
    }
}

// The implementations are hidden from the docs, which would show the
// sealed markers; the trait's doc lists what converts.
#[doc(hidden)]
impl<F, Fut> IntoApplication<ViaSetup<Fut::Output>> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: SetupOutput,
{
    fn into_application(self) -> Application {
        Application {
            build: Build::Setup(Box::new(move || {
                Box::pin(async move { self().await.into_router() })
            })),
        }
    }
}

#[doc(hidden)]
impl<H, T> IntoApplication<ViaHandler<T>> for H
where
    H: Handler<T, ()>,
    T: 'static,
{
    fn into_application(self) -> Application {
        // Only the call is generic: what serves it is compiled once in the
        // runtime, not into each application at every save.
        let call: Call = Arc::new(move |request| boxed(self.clone().call(request, ())));
        Application {
            build: Build::Handler(call),
        }
    }
}

/// `future` as a `ResponseFuture`, boxed once: a handler function's future
/// is one already.
fn boxed<F: Future<Output = Response> + Send + 'static>(future: F) -> ResponseFuture {
    let mut future = Some(future);
    let any = &mut future as &mut dyn Any;
    if let Some(boxed) = any
        .downcast_mut::<Option<ResponseFuture>>()
        .and_then(Option::take)
    {
        return boxed;
    }
    match future {
        Some(future) => Box::pin(future),
        None => unreachable!("taken only when it was boxed"),
    }
}

#[doc(hidden)]
impl<S> IntoApplication<ViaService> for S
where
    S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse + 'static,
    S::Future: Send + 'static,
{
    fn into_application(self) -> Application {
        // A `Router` is served as it is: behind a second router, every
        // request would be routed twice.
        let mut service = Some(self);
        let router = match (&mut service as &mut dyn Any).downcast_mut::<Option<Router>>() {
            Some(router) => router.take(),
            None => service.map(|s| Router::new().fallback_service(s)),
        };
        Application {
            build: Build::Ready(router.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call<M>(app: impl IntoApplication<M>, path: &str) -> (u16, String) {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = app
            .into_application()
            .build()
            .await
            .unwrap()
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn hello(request: Request) -> impl IntoResponse {
        format!("Hello from {}", request.uri().path())
    }

    #[tokio::test]
    async fn a_plain_async_fn_is_an_application() {
        assert_eq!(call(hello, "/x").await, (200, "Hello from /x".into()));
    }

    #[tokio::test]
    async fn a_router_is_an_application() {
        let router = Router::new().route("/", get(|| async { "root" }));
        assert_eq!(call(router.clone(), "/").await, (200, "root".into()));
        assert_eq!(call(router, "/missing").await.0, 404);
    }

    #[tokio::test]
    async fn a_tower_service_is_an_application() {
        let service = tower::service_fn(|request: Request| async move {
            Ok::<_, Infallible>(format!("service saw {}", request.method()))
        });
        assert_eq!(call(service, "/").await, (200, "service saw GET".into()));
    }

    #[tokio::test]
    async fn an_async_setup_is_an_application() {
        async fn setup() -> Router {
            let greeting = tokio::task::yield_now().await;
            Router::new().route("/", get(move || async move { format!("set up{greeting:?}") }))
        }
        assert_eq!(call(setup, "/").await, (200, "set up()".into()));

        async fn fallible() -> Result<Router, std::io::Error> {
            Ok(Router::new().route("/", get(|| async { "ok" })))
        }
        assert_eq!(call(fallible, "/").await, (200, "ok".into()));
    }

    #[tokio::test]
    async fn a_failing_setup_says_why() {
        async fn broken() -> Result<Router, std::io::Error> {
            Err(std::io::Error::other("unable to open database file"))
        }
        let err = broken.into_application().build().await.unwrap_err();
        assert_eq!(err, "unable to open database file");
    }

    #[tokio::test]
    async fn handlers_can_take_the_environ() {
        async fn scheme(env: crate::Environ) -> &'static str {
            env.scheme().as_str()
        }
        assert_eq!(call(scheme, "/").await, (200, "http".into()));
    }
}
