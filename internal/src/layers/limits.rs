//! Gunicorn's limits on a request's head (`limit_request_line`,
//! `limit_request_fields`, `limit_request_field_size`) on what hyper parsed:
//! for HTTP/2 always, and for HTTP/1 with `strict_http` off (on, the strict
//! validator counts the bytes as sent, before hyper). A 414 or 431 goes
//! through the access log like any other response.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::{Either, Ready, ready};
use http::{Request, Response, StatusCode, Version, header};
use rg_contract::settings::Limits;
use tower::{Layer, Service};

/// Holds requests to [`Limits`] before the inner service sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LimitsLayer {
    pub(crate) limits: Limits,
    /// HTTP/1 heads were held to the limits on their bytes already.
    pub(crate) strict_http1: bool,
}

impl<S> Layer<S> for LimitsLayer {
    type Service = WithLimits<S>;
    fn layer(&self, inner: S) -> WithLimits<S> {
        WithLimits { layer: *self, inner }
    }
}

/// The service [`LimitsLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct WithLimits<S> {
    layer: LimitsLayer,
    inner: S,
}

impl<S> Service<Request<Body>> for WithLimits<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response<Body>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let http1 = request.version() <= Version::HTTP_11;
        if http1 && self.layer.strict_http1 {
            return Either::Right(self.inner.call(request));
        }
        match check(&self.layer.limits, &request) {
            Some(refused) => Either::Left(ready(Ok(refused))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// The response for a request over a limit, or `None` when it is within
/// them all.
pub(crate) fn check<B>(limits: &Limits, request: &Request<B>) -> Option<Response<Body>> {
    if limits.request_line > 0 {
        let target = request.uri().path_and_query().map_or(1, |p| p.as_str().len());
        // METHOD SP target SP HTTP/1.1, as it came on the wire.
        let line = request.method().as_str().len() + 1 + target + 1 + "HTTP/1.1".len();
        if line > limits.request_line {
            return Some(refuse(
                StatusCode::URI_TOO_LONG,
                format!(
                    "Request line too long: {line} bytes, the limit is {}\n",
                    limits.request_line
                ),
                request.version() == Version::HTTP_2,
            ));
        }
    }
    // hyper counts HTTP/1's fields itself (answering 431); HTTP/2's are ours.
    let http2 = request.version() == Version::HTTP_2;
    if http2 && limits.request_fields > 0 && request.headers().len() > limits.request_fields {
        return Some(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("More than {} header fields\n", limits.request_fields),
            http2,
        ));
    }
    if limits.request_field_size > 0 {
        let too_long = request
            .headers()
            .iter()
            .map(|(name, value)| (name, name.as_str().len() + 2 + value.len() + 2))
            .find(|(_, size)| *size > limits.request_field_size);
        if let Some((name, size)) = too_long {
            return Some(refuse(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "Header field {name} too long: {size} bytes, the limit is {}\n",
                    limits.request_field_size
                ),
                http2,
            ));
        }
    }
    None
}

fn refuse(status: StatusCode, text: String, http2: bool) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // The client is misbehaving or confused: do not keep its connection
    // (HTTP/2 has no such header; its other streams may go on).
    if !http2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUNICORN: Limits = Limits {
        request_line: 4094,
        request_fields: 100,
        request_field_size: 8190,
    };

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn gunicorns_limits_are_the_schema_defaults() {
        use rg_contract::settings::{LIMIT_REQUEST_FIELD_SIZE, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_LINE};
        assert_eq!(LIMIT_REQUEST_LINE.default, GUNICORN.request_line.to_string());
        assert_eq!(LIMIT_REQUEST_FIELDS.default, GUNICORN.request_fields.to_string());
        assert_eq!(
            LIMIT_REQUEST_FIELD_SIZE.default,
            GUNICORN.request_field_size.to_string()
        );
    }

    #[test]
    fn a_request_within_the_limits_passes() {
        let limits = GUNICORN;
        let path = format!("/{}", "a".repeat(4094 - "GET / HTTP/1.1".len()));
        assert!(check(&limits, &request(&path, &[("x-a", "b")])).is_none());
    }

    #[test]
    fn a_long_request_line_is_414() {
        let limits = GUNICORN;
        let path = format!("/{}", "a".repeat(4095 - "GET / HTTP/1.1".len()));
        let response = check(&limits, &request(&path, &[])).unwrap();
        assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn a_long_header_field_is_431_and_zero_lifts_the_limits() {
        let limits = Limits {
            request_field_size: 20,
            ..GUNICORN
        };
        // "x-long: " is 8 bytes, and the CRLF counts as in Gunicorn.
        assert!(check(&limits, &request("/", &[("x-long", "1234567890")])).is_none());
        let response = check(&limits, &request("/", &[("x-long", "12345678901")])).unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

        let unlimited = Limits {
            request_line: 0,
            request_field_size: 0,
            ..GUNICORN
        };
        let huge = format!("/{}", "a".repeat(60_000));
        let value = "v".repeat(100_000);
        assert!(check(&unlimited, &request(&huge, &[("x-long", &value)])).is_none());
    }
}
