//! The access log: what a line needs is kept when a request arrives
//! (before the application takes the request), and the line is written
//! when the response is ready. `connection::handle` does both around the
//! layered application, so a response from any layer (a limit's 414 too)
//! has its line, and the stack's type is the same with the log on or off.
//!
//! Per request, only what the format prints is kept: the start time only
//! for a format that shows durations, and the request headers it names in
//! a small inline array (no allocation for up to two, as in `combined`).
//! Lines are rendered straight into the access log's pending buffer,
//! which in production is written at 64 KiB and every 200 ms (by a
//! writer thread once a write stalled): no allocation or copy for the
//! line, no `tracing` dispatch and no `write` per request. Only when
//! the application installed a `tracing` subscriber of its own before
//! rg's do lines go out as events with the target
//! [`rg_contract::logging::ACCESS_TARGET`], for it to route.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use hyper::body::Body as _;
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::{ACCESS_TARGET, Sink};

/// The access log of a worker.
#[derive(Debug)]
pub(crate) struct AccessLog {
    pub(crate) format: Arc<AccessFormat>,
    /// The request headers the format prints, kept per request.
    headers: Box<[HeaderName]>,
    /// Whether the format shows how long a request took.
    timed: bool,
    /// Whether it shows when a request arrived to the millisecond.
    fine_time: bool,
    /// Where lines go; `None`: as `tracing` events.
    sink: Option<Arc<Sink>>,
}

/// What a line needs from the request.
pub(super) struct Kept {
    started: Option<Instant>,
    time: SystemTime,
    remote: Option<IpAddr>,
    method: Method,
    /// The request target (a clone shares its bytes: no copy of the path).
    target: Option<PathAndQuery>,
    version: Version,
    headers: Values,
}

/// The values of the headers a format prints, inline for up to two.
enum Values {
    Inline([Option<HeaderValue>; 2]),
    Heap(Vec<Option<HeaderValue>>),
}

impl Values {
    fn as_slice(&self) -> &[Option<HeaderValue>] {
        match self {
            Values::Inline(values) => values,
            Values::Heap(values) => values,
        }
    }
}

impl AccessLog {
    pub(crate) fn new(format: AccessFormat, sink: Option<Arc<Sink>>) -> AccessLog {
        AccessLog {
            headers: format.request_headers().into(),
            timed: format.times_requests(),
            fine_time: format.shows_milliseconds(),
            format: Arc::new(format),
            sink,
        }
    }

    /// Keeps what the line of `request` needs; `remote` is the client.
    pub(super) fn keep<B>(&self, request: &Request<B>, remote: Option<IpAddr>) -> Kept {
        let value = |name: &HeaderName| request.headers().get(name).cloned();
        let headers = match &*self.headers {
            [] => Values::Inline([None, None]),
            [a] => Values::Inline([value(a), None]),
            [a, b] => Values::Inline([value(a), value(b)]),
            names => Values::Heap(names.iter().map(value).collect()),
        };
        Kept {
            started: self.timed.then(Instant::now),
            time: if self.fine_time {
                SystemTime::now()
            } else {
                super::coarse::wall()
            },
            remote,
            method: request.method().clone(),
            target: request.uri().path_and_query().cloned(),
            version: request.version(),
            headers,
        }
    }

    /// Writes the line of a request kept by [`AccessLog::keep`].
    pub(super) fn write(&self, kept: &Kept, response: &Response<Body>) {
        let record = AccessRecord {
            remote: kept.remote,
            time: kept.time,
            method: &kept.method,
            path_and_query: kept.target.as_ref().map_or("/", PathAndQuery::as_str),
            version: kept.version,
            status: response.status(),
            bytes: response.body().size_hint().exact(),
            duration: kept.started.map(|s| s.elapsed()).unwrap_or_default(),
            request_headers: kept.headers.as_slice(),
            response_headers: response.headers(),
        };
        match &self.sink {
            Some(sink) => sink.write_with(|pending| {
                self.format.render_into(pending, &record);
                pending.push(b'\n');
            }),
            None => {
                let line = self.format.render(&record);
                tracing::info!(target: ACCESS_TARGET, "{line}");
            }
        }
    }
}
