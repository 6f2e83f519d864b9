//! What a worker serves: the application's router, or its lone handler
//! called directly. A router in front of a handler that takes every
//! request would match each path twice to find its fallback.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use futures_util::future::Either;
use tower::Service;

pub(crate) type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A handler, its generic call compiled in the application.
pub(crate) type Call = Arc<dyn Fn(Request) -> ResponseFuture + Send + Sync>;

/// The application as the server calls it.
#[derive(Clone)]
pub(crate) enum Served {
    Router(Router),
    Handler(Call),
}

impl Served {
    /// As a router, for what needs one (tests, hot patches).
    pub(crate) fn into_router(self) -> Router {
        match self {
            Served::Router(router) => router,
            Served::Handler(call) => Router::new().fallback_service(tower::service_fn(move |request| {
                let answer = call(request);
                async move { Ok::<_, Infallible>(answer.await) }
            })),
        }
    }
}

impl Service<Request> for Served {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<RouteFuture<Infallible>, Answer>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready, and so is a function.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Served::Router(router) => Either::Left(router.call(request)),
            Served::Handler(call) => Either::Right(Answer(call(request))),
        }
    }
}

/// A handler's response, as the router's fallback gives it: untouched.
pub(crate) struct Answer(ResponseFuture);

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::IntoApplication;
    use axum::body::Body;
    use http::Method;

    async fn hello(_: Request) -> &'static str {
        "Hello, world!\n"
    }

    /// The head and body of `method /` from `service`.
    async fn ask<S>(service: S, method: Method) -> (String, String)
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let request = Request::builder()
            .method(method)
            .uri("/any")
            .body(Body::empty())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let head = format!("{} {:?}", response.status(), response.headers());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (head, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_handler_called_directly_answers_as_behind_a_router() {
        let (served, _) = hello.into_application().start().await.unwrap();
        assert!(matches!(served, Served::Handler(_)));
        for method in [Method::GET, Method::HEAD, Method::POST] {
            let direct = ask(served.clone(), method.clone()).await;
            assert_eq!(direct, ask(served.clone().into_router(), method.clone()).await);
            // hyper leaves a HEAD's body unsent.
            assert_eq!(direct.1, "Hello, world!\n", "{method}");
        }
    }
}
