//! `crate::with_state`: an application whose setup makes a state (a database
//! pool, say) and whose routes are built around it. Kept apart, the state
//! outlives `rg runserver`'s hot patches, which rebuild only the routes.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;

/// What a setup made, its type erased.
pub(crate) type State = Arc<dyn Any + Send + Sync>;

type StateFuture = Pin<Box<dyn Future<Output = Result<State, String>> + Send>>;

/// The routes around a state; `None` when it is not of their type.
type Routes = Box<dyn Fn(&(dyn Any + Send + Sync)) -> Option<Router> + Send + Sync>;

/// The setup and the routes, each behind one call compiled in the
/// application, so that a patch's routes can take the running state.
pub(crate) struct Stateful {
    setup: Box<dyn FnOnce() -> StateFuture + Send>,
    routes: Routes,
    type_name: &'static str,
}

/// A state the running application set up: what a patch's routes take.
pub(crate) struct Kept {
    state: State,
    pub(crate) type_name: &'static str,
}

impl Stateful {
    /// `setup` and `routes`, each behind a call (see `crate::with_state`).
    pub(crate) fn new<S, E, F, Fut, R>(setup: F, routes: R) -> Stateful
    where
        S: Clone + Send + Sync + 'static,
        E: Display,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<S, E>> + Send + 'static,
        R: Fn(S) -> Router + Send + Sync + 'static,
    {
        Stateful {
            setup: Box::new(move || {
                Box::pin(async move {
                    let state = setup().await.map_err(|e| e.to_string())?;
                    Ok(Arc::new(state) as State)
                })
            }),
            routes: Box::new(move |state| state.downcast_ref::<S>().map(|state| routes(state.clone()))),
            type_name: std::any::type_name::<S>(),
        }
    }

    /// Runs the setup, then the routes around what it made.
    pub(crate) async fn start(self) -> Result<(Router, Kept), String> {
        let state = (self.setup)().await?;
        let router = (self.routes)(&*state).ok_or("the setup made a state of another type")?;
        Ok((
            router,
            Kept {
                state,
                type_name: self.type_name,
            },
        ))
    }

    /// The routes around a state set up earlier, by a patch's code.
    pub(crate) fn around(&self, kept: &Kept) -> Result<Router, String> {
        (self.routes)(&*kept.state).ok_or_else(|| {
            format!(
                "the state's type changed (the running application set up a `{}`, the patch's routes take a `{}`)",
                kept.type_name, self.type_name
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IntoApplication, with_state};
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn setup() -> Result<String, std::io::Error> {
        Ok("set up once".into())
    }

    fn routes(said: String) -> Router {
        Router::new()
            .route("/", get(|State(said): State<String>| async move { said }))
            .with_state(said)
    }

    async fn body(router: Router) -> String {
        let request = Request::builder().uri("/").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn routes_serve_with_what_the_setup_made() {
        let app = (|| with_state(setup, routes)).into_application();
        let (served, kept) = app.start().await.unwrap();
        assert_eq!(body(served.into_router()).await, "set up once");
        assert_eq!(kept.unwrap().type_name, "alloc::string::String");
    }

    #[tokio::test]
    async fn new_routes_take_the_kept_state_and_only_of_their_type() {
        let (_, kept) = with_state(setup, routes).start().await.unwrap();
        let kept = kept.unwrap();
        let again = with_state(
            || async { Ok::<_, std::io::Error>("never run".to_string()) },
            routes,
        );
        assert_eq!(body(again.rebuild(Some(&kept)).unwrap()).await, "set up once");

        let other = with_state(|| async { Ok::<u32, std::io::Error>(1) }, |_| Router::new());
        let err = other.rebuild(Some(&kept)).unwrap_err();
        assert!(
            err.contains("`alloc::string::String`") && err.contains("`u32`"),
            "{err}"
        );
        assert!(with_state(setup, routes).rebuild(None).is_err());
    }

    #[tokio::test]
    async fn a_failing_setup_says_why() {
        let broken = || async { Err::<String, _>(std::io::Error::other("unable to open database file")) };
        let err = with_state(broken, routes).build().await.unwrap_err();
        assert_eq!(err, "unable to open database file");
    }
}
