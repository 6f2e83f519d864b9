//! What the runtime wraps around every application, as tower layers, from
//! the outside in: Gunicorn's request limits, and in dev mode live reload.
//! Each is a layer of its own, so the serving loop knows nothing of them
//! and each can be tested alone. (The access log is written around this
//! stack by the serving loop: `server/access_log.rs`.)

pub(crate) mod limits;
pub(crate) mod live_reload;

use std::sync::Arc;

use rg_contract::settings::Limits;
use tower::ServiceBuilder;
use tower::util::Either;

use crate::stop::Stopping;

/// The layers around the application, as the serving loop's caller chose.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    /// Limits on a request's head.
    pub(crate) limits: Limits,
    /// `strict_http`: HTTP/1 heads are held to the limits before hyper.
    pub(crate) strict_http1: bool,
    /// Live reload's build id, in dev mode.
    pub(crate) live_reload: Option<Arc<str>>,
}

/// The stack's type, for the serving loop to name.
pub(crate) type Stacked<S> = limits::WithLimits<Either<live_reload::LiveReload<S>, S>>;

impl Layers {
    /// Wraps `app`; `stop` ends live reload's event streams.
    pub(crate) fn around<S: Clone>(&self, app: S, stop: Stopping) -> Stacked<S> {
        ServiceBuilder::new()
            .layer(limits::LimitsLayer {
                limits: self.limits,
                strict_http1: self.strict_http1,
            })
            .option_layer(
                self.live_reload
                    .clone()
                    .map(|build_id| live_reload::LiveReloadLayer { build_id, stop }),
            )
            .service(app)
    }
}
