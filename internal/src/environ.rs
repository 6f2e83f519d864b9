//! What WSGI's `environ` carried beside the request itself: who is on the
//! other end, which address they reached, the scheme, the mount prefix.
//!
//! The runtime puts an [`Environ`] into every request's extensions (and, for
//! TCP, axum's `ConnectInfo<SocketAddr>` too, so existing axum code works).
//! Handlers take it as an extractor: `async fn h(env: rg::Environ)`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;

use rg_contract::settings::ForwardedAllow;

// Named once: looking a header up by a string parses the name every time.
static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");

/// The connection-level facts about a request, read through its methods.
///
/// ```
/// # extern crate rg_internal as rg;
/// async fn whoami(env: rg::Environ) -> String {
///     format!("{:?} via {} ({})", env.client_addr(), env.server_addr(), env.scheme().as_str())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Environ {
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) client_addr: Option<IpAddr>,
    pub(crate) server_addr: Arc<str>,
    pub(crate) scheme: Scheme,
    pub(crate) script_name: Arc<str>,
    pub(crate) client_cert_subject: Option<Arc<str>>,
}

/// The URL scheme the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS: TLS terminated by rg itself (`certfile`), or by a proxy in
    /// front of it that says so (`X-Forwarded-Proto`).
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl Environ {
    /// The peer of the connection: `None` on a unix socket (`REMOTE_ADDR`
    /// before any proxy headers).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The client's address: the peer, or the address a trusted proxy gave
    /// in `X-Forwarded-For` (its last entry, the one the proxy itself added).
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.client_addr
    }

    /// The listening address that accepted the connection, as users write
    /// it (`127.0.0.1:8000`, `unix:/run/app.sock`).
    pub fn server_addr(&self) -> &str {
        &self.server_addr
    }

    /// `http`, or what a trusted proxy said in `X-Forwarded-Proto`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The prefix the application is mounted under (`RG_SCRIPT_NAME`), empty
    /// at the root.
    pub fn script_name(&self) -> &str {
        &self.script_name
    }

    /// The subject of the certificate the client showed, as RFC 4514 text
    /// (`CN=alice,O=Example`), under `rg serve` with `cert_reqs`; `None`
    /// when it showed none.
    pub fn client_cert_subject(&self) -> Option<&str> {
        self.client_cert_subject.as_deref()
    }

    /// Builds the environ of one request from its connection and headers.
    pub(crate) fn new(
        peer: Option<SocketAddr>,
        server_addr: Arc<str>,
        script_name: Arc<str>,
        headers: &HeaderMap,
        trusted: &ForwardedAllow,
    ) -> Environ {
        let mut environ = Environ {
            peer_addr: peer,
            client_addr: peer.map(|p| p.ip()),
            server_addr,
            scheme: Scheme::Http,
            script_name,
            client_cert_subject: None,
        };
        // Unix socket peers are on this machine (nginx, typically): trusted.
        let trust = peer.is_none_or(|p| trusted.trusts(p.ip()));
        if trust {
            if let Some(ip) = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|part| part.trim().parse::<IpAddr>().ok())
                .next_back()
            {
                environ.client_addr = Some(ip);
            }
            if let Some(proto) = headers.get(&X_FORWARDED_PROTO).and_then(|v| v.to_str().ok())
                && proto.trim().eq_ignore_ascii_case("https")
            {
                environ.scheme = Scheme::Https;
            }
        }
        environ
    }
}

impl Environ {
    /// The environ of a request that came over TLS (`secure`): `https`,
    /// whatever a proxy's header said, and the client certificate's subject.
    pub(crate) fn over_tls(mut self, secure: bool, client_cert_subject: Option<Arc<str>>) -> Environ {
        if secure {
            self.scheme = Scheme::Https;
        }
        self.client_cert_subject = client_cert_subject;
        self
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Environ {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Requests served by the runtime always carry one; a request built by
        // hand (a unit test with `oneshot`) gets a neutral one.
        Ok(parts
            .extensions
            .get::<Environ>()
            .cloned()
            .unwrap_or_else(|| Environ {
                peer_addr: None,
                client_addr: None,
                server_addr: Arc::from(""),
                scheme: Scheme::Http,
                script_name: Arc::from(""),
                client_cert_subject: None,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_peers() {
        let trusted = ForwardedAllow::Ips(vec!["127.0.0.1".parse().unwrap()]);
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-proto", "https"),
        ]);
        let local = Environ::new(
            Some("127.0.0.1:5000".parse().unwrap()),
            "a".into(),
            "".into(),
            &h,
            &trusted,
        );
        assert_eq!(local.client_addr(), Some("2.2.2.2".parse().unwrap()));
        assert_eq!(local.scheme(), Scheme::Https);
        let stranger = Environ::new(
            Some("9.9.9.9:5000".parse().unwrap()),
            "a".into(),
            "".into(),
            &h,
            &trusted,
        );
        assert_eq!(stranger.client_addr(), Some("9.9.9.9".parse().unwrap()));
        assert_eq!(stranger.scheme(), Scheme::Http);
        let unix = Environ::new(None, "unix:/x".into(), "".into(), &h, &trusted);
        assert_eq!(unix.client_addr(), Some("2.2.2.2".parse().unwrap()));
    }
}
