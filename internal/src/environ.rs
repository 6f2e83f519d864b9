//! What WSGI's `environ` carried beside the request itself: who is on the
//! other end, which address they reached, the scheme, the mount prefix.
//!
//! The runtime puts the connection's [`Origin`] into every request's
//! extensions (and, for TCP, axum's `ConnectInfo<SocketAddr>`, so existing
//! axum code works). Handlers take an [`Environ`] as an extractor, `async fn
//! h(env: rg::Environ)`, made then from the origin and the headers.

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

    /// The environ of a request over plain TCP or a unix socket.
    #[cfg(test)]
    fn new(
        peer: Option<SocketAddr>,
        server_addr: Arc<str>,
        script_name: Arc<str>,
        headers: &HeaderMap,
        trusted: &ForwardedAllow,
    ) -> Environ {
        Origin::new(peer, server_addr, script_name, trusted, false, None).environ(headers)
    }
}

/// What a connection's requests share of their environ; what the headers
/// add is read only when a handler asks for it.
#[derive(Debug)]
pub(crate) struct Origin {
    peer: Option<SocketAddr>,
    server_addr: Arc<str>,
    script_name: Arc<str>,
    /// Whether the peer's `X-Forwarded-*` headers count.
    trusted: bool,
    /// Over TLS: the scheme is `https` whatever the headers say.
    secure: bool,
    client_cert_subject: Option<Arc<str>>,
}

impl Origin {
    /// A connection from `peer` (the client a PROXY header named, if one
    /// did) to `server_addr`, over TLS if `secure`.
    pub(crate) fn new(
        peer: Option<SocketAddr>,
        server_addr: Arc<str>,
        script_name: Arc<str>,
        trusted: &ForwardedAllow,
        secure: bool,
        client_cert_subject: Option<Arc<str>>,
    ) -> Origin {
        Origin {
            peer,
            server_addr,
            script_name,
            // Unix socket peers are on this machine (nginx, typically): trusted.
            trusted: peer.is_none_or(|p| trusted.trusts(p.ip())),
            secure,
            client_cert_subject,
        }
    }

    /// The peer: `None` on a unix socket.
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's address: the peer's, or the last a trusted proxy added
    /// to `X-Forwarded-For`.
    pub(crate) fn client_addr(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = || {
            (headers.get_all(&X_FORWARDED_FOR).iter())
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|part| part.trim().parse::<IpAddr>().ok())
                .next_back()
        };
        self.trusted
            .then(forwarded)
            .flatten()
            .or(self.peer.map(|p| p.ip()))
    }

    /// The environ of a request with `headers` on this connection.
    pub(crate) fn environ(&self, headers: &HeaderMap) -> Environ {
        let proxied_https = || {
            (headers.get(&X_FORWARDED_PROTO).and_then(|v| v.to_str().ok()))
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
        };
        let https = self.secure || (self.trusted && proxied_https());
        Environ {
            peer_addr: self.peer,
            client_addr: self.client_addr(headers),
            server_addr: self.server_addr.clone(),
            scheme: if https { Scheme::Https } else { Scheme::Http },
            script_name: self.script_name.clone(),
            client_cert_subject: self.client_cert_subject.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Environ {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Requests served by the runtime always carry an origin; a request
        // built by hand (a unit test with `oneshot`) gets a neutral environ,
        // or the one it was given.
        if let Some(origin) = parts.extensions.get::<Arc<Origin>>() {
            return Ok(origin.environ(&parts.headers));
        }
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

    #[tokio::test]
    async fn the_extractor_reads_the_connection_s_origin_with_the_headers() {
        let trusted = ForwardedAllow::Ips(vec!["127.0.0.1".parse().unwrap()]);
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        let origin = Origin::new(
            peer,
            "127.0.0.1:8000".into(),
            "/app".into(),
            &trusted,
            true,
            Some("CN=a".into()),
        );
        let request = http::Request::builder()
            .header("x-forwarded-for", "3.3.3.3")
            .extension(Arc::new(origin))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let environ = Environ::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(environ.client_addr(), Some("3.3.3.3".parse().unwrap()));
        assert_eq!(environ.peer_addr(), peer);
        assert_eq!(environ.scheme(), Scheme::Https, "over TLS");
        assert_eq!(environ.server_addr(), "127.0.0.1:8000");
        assert_eq!(environ.script_name(), "/app");
        assert_eq!(environ.client_cert_subject(), Some("CN=a"));
    }
}
