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
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use hyper::body::Body as _;
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::{ACCESS_TARGET, Sink};

use crate::environ::{Origin, X_FORWARDED_FOR};

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

    /// Keeps what the line of `request` needs, and its client as `origin`
    /// and the headers name it.
    pub(super) fn keep<B>(&self, request: &Request<B>, origin: &Origin) -> Kept {
        let (headers, remote) = match &*self.headers {
            [] | [_] | [_, _] => self.pick(request.headers(), origin),
            names => {
                let value = |name: &HeaderName| request.headers().get(name).cloned();
                let values = Values::Heap(names.iter().map(value).collect());
                (values, origin.client_addr(request.headers()))
            }
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

    /// The (up to two) headers the format prints and the client, in one
    /// pass over the headers: a request has a few, and a lookup hashes the
    /// name (four lookups were a quarter of the log's cost).
    fn pick(&self, headers: &HeaderMap, origin: &Origin) -> (Values, Option<IpAddr>) {
        let (first, second) = match &*self.headers {
            [a, b] => (Some(a), Some(b)),
            [a] => (Some(a), None),
            _ => (None, None),
        };
        let (mut values, mut forwarded, mut forwarded_lines) = ([None, None], None, 0);
        let proxied = origin.trusts_forwarded();
        for (name, value) in headers {
            // The first value of a name, as `HeaderMap::get` gives.
            // A format may name a header twice, or X-Forwarded-For itself.
            if Some(name) == first {
                values[0].get_or_insert_with(|| value.clone());
            }
            if Some(name) == second {
                values[1].get_or_insert_with(|| value.clone());
            }
            if proxied && *name == X_FORWARDED_FOR {
                forwarded = Some(value);
                forwarded_lines += 1;
            }
        }
        let remote = match forwarded_lines {
            0 | 1 => origin.client_addr_among(|| forwarded.into_iter()),
            _ => origin.client_addr(headers),
        };
        (Values::Inline(values), remote)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rg_contract::settings::ForwardedAllow;

    /// The one pass over the headers finds what lookups by name find.
    #[test]
    fn the_pass_over_the_headers_agrees_with_lookups() {
        let formats = [
            "%h",
            "%h %{User-Agent}i",
            "%h %{Referer}i %{User-Agent}i",
            "%h %{X-Forwarded-For}i %{X-Forwarded-For}i",
            "%h %{Referer}i %{Referer}i %{X-Forwarded-For}i",
        ];
        let heads: [&[(&str, &str)]; 5] = [
            &[],
            &[("user-agent", "a"), ("referer", "r"), ("user-agent", "second")],
            &[("x-forwarded-for", "192.0.2.1, 192.0.2.2"), ("referer", "r")],
            &[
                ("x-forwarded-for", "192.0.2.9, junk"),
                ("x-forwarded-for", "junk"),
            ],
            &[("x-forwarded-for", "unknown"), ("host", "h")],
        ];
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        for format in formats {
            let log = AccessLog::new(AccessFormat::parse(format).unwrap(), None);
            for head in heads {
                let mut request = Request::new(());
                for (name, value) in head {
                    let (name, value) = (HeaderName::from_static(name), HeaderValue::from_static(value));
                    request.headers_mut().append(name, value);
                }
                for trusted in ["127.0.0.1", "192.0.2.200"] {
                    let trusted = ForwardedAllow::Ips(vec![trusted.parse().unwrap()]);
                    let origin = Origin::new(peer, "a".into(), "".into(), &trusted, false, None);
                    let kept = log.keep(&request, &origin);
                    let looked_up: Vec<_> = (log.headers.iter())
                        .map(|name| request.headers().get(name).cloned())
                        .collect();
                    let kept_values = &kept.headers.as_slice()[..looked_up.len()];
                    assert_eq!(kept_values, looked_up, "{format} {head:?}");
                    let client = origin.client_addr(request.headers());
                    assert_eq!(kept.remote, client, "{format} {head:?}");
                }
            }
        }
    }
}
