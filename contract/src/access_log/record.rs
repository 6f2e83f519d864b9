//! What one request leaves behind for the access log: filled in per
//! request, borrowed from the request and response, rendered by the format.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, Version};

/// What one request left behind for the access log.
#[derive(Debug)]
pub struct AccessRecord<'a> {
    /// The client address, if the connection has one.
    pub remote: Option<IpAddr>,
    /// When the request arrived.
    pub time: SystemTime,
    /// The request method.
    pub method: &'a Method,
    /// The path and query as sent.
    pub path_and_query: &'a str,
    /// The protocol version.
    pub version: Version,
    /// The response status.
    pub status: StatusCode,
    /// The body size, when known.
    pub bytes: Option<u64>,
    /// How long the application took to produce the response head.
    pub duration: Duration,
    /// The values of the request headers the format asked for, in the
    /// order of [`AccessFormat::request_headers`](super::AccessFormat::request_headers)
    /// (missing at the end: `-`).
    pub request_headers: &'a [Option<http::HeaderValue>],
    /// The response headers.
    pub response_headers: &'a HeaderMap,
}

impl AccessRecord<'_> {
    /// A request header's value as text (JSON), if it is visible ASCII.
    #[inline]
    pub(super) fn request_header(&self, i: usize) -> Option<&str> {
        self.request_headers.get(i)?.as_ref()?.to_str().ok()
    }

    /// A request header's value as sent, for the line formats, which
    /// escape what is not printable ASCII (as nginx does) instead of
    /// checking it is text first: one pass over the value, not two.
    #[inline]
    pub(super) fn request_header_bytes(&self, i: usize) -> Option<&[u8]> {
        Some(self.request_headers.get(i)?.as_ref()?.as_bytes())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    /// A request as the access log tests write it: `GET /a b?x="1"` from
    /// 10.1.2.3 on 10 October 2000, 200 with 13 bytes, in 1.5 ms.
    pub(in crate::access_log) fn record<'a>(
        req: &'a [Option<http::HeaderValue>],
        resp: &'a HeaderMap,
        method: &'a Method,
    ) -> AccessRecord<'a> {
        AccessRecord {
            remote: Some("10.1.2.3".parse().unwrap()),
            time: UNIX_EPOCH + Duration::from_secs(971_186_136),
            method,
            path_and_query: "/a b?x=\"1\"",
            version: Version::HTTP_11,
            status: StatusCode::OK,
            bytes: Some(13),
            duration: Duration::from_micros(1500),
            request_headers: req,
            response_headers: resp,
        }
    }
}
