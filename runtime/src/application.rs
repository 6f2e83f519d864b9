//! The application interface: what a project hands to [`crate::run`].
//!
//! WSGI's answer was "a callable". Ours is "anything that turns a request
//! into a response": a plain `async fn(Request) -> impl IntoResponse`, an
//! axum `Router`, or any `tower::Service<Request>`. [`IntoApplication`]
//! accepts all three and turns each into one [`Application`], so the server
//! has a single type to drive.

use std::convert::Infallible;
use std::marker::PhantomData;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::IntoResponse;
use tower::Service;

/// An application, ready to serve.
#[derive(Debug, Clone)]
pub struct Application {
    router: Router,
}

impl Application {
    /// The application as an axum router (a `tower::Service`), e.g. to test
    /// it with `oneshot`.
    pub fn into_router(self) -> Router {
        self.router
    }
}

/// Conversion into an [`Application`].
///
/// `M` is a marker that tells the blanket implementations apart; callers
/// never name it.
pub trait IntoApplication<M> {
    /// Converts `self`.
    fn into_application(self) -> Application;
}

/// Marker for handlers: `async fn(Request) -> impl IntoResponse`, or any
/// axum handler with extractors.
#[derive(Debug)]
pub struct ViaHandler<T>(PhantomData<fn() -> T>);

/// Marker for `tower::Service`s, axum `Router`s among them.
#[derive(Debug)]
pub struct ViaService;

impl<H, T> IntoApplication<ViaHandler<T>> for H
where
    H: Handler<T, ()>,
    T: 'static,
{
    fn into_application(self) -> Application {
        Application {
            router: Router::new().fallback(self),
        }
    }
}

impl<S> IntoApplication<ViaService> for S
where
    S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse + 'static,
    S::Future: Send + 'static,
{
    fn into_application(self) -> Application {
        Application {
            router: Router::new().fallback_service(self),
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
            .into_router()
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
    async fn handlers_can_take_the_environ() {
        async fn scheme(env: crate::Environ) -> &'static str {
            env.scheme.as_str()
        }
        assert_eq!(call(scheme, "/").await, (200, "http".into()));
    }
}
