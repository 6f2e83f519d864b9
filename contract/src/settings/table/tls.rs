//! The protocols `rg serve` speaks: HTTP/1.1 and HTTP/2, and TLS with the
//! certificate and key the master reads (Gunicorn's names), handed to
//! workers so the key may be readable by root only.

use crate::settings::Parse::{Master, Worker};
use crate::settings::values as v;
use crate::settings::{Kind, MASTER, Setting, WORKER};
use crate::tls::ClientAuth;

/// `http`.
pub static HTTP: Setting = Setting::new("http", WORKER)
    .flag("--http")
    .value(Kind::Text, "VERSIONS", "auto")
    .parse(Worker(|w, s| v::http(s).map(|h| w.http = h)))
    .help("HTTP versions served: auto (1.1, and 2 to clients that ask), 1 or 2.")
    .doc(
        "The HTTP versions workers speak: auto, HTTP/1.1 and HTTP/2 to a client\n\
         that asks for it (ALPN over TLS, or h2c with prior knowledge); 1,\n\
         HTTP/1.1 only; 2, HTTP/2 only (gRPC, or h2c behind a load balancer).",
    );

/// `http2_max_concurrent_streams`.
pub static HTTP2_MAX_CONCURRENT_STREAMS: Setting = Setting::new("http2_max_concurrent_streams", WORKER)
    .flag("--http2-max-concurrent-streams")
    .value(Kind::Number, "N", "200")
    .parse(Worker(|w, s| {
        v::http2_limit(s, 1, 10_000, "streams").map(|n| w.http2.max_concurrent_streams = n)
    }))
    .help("Most requests in flight on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).")
    .doc(
        "Most requests a client may have in flight on one HTTP/2 connection,\n\
         told to it in SETTINGS_MAX_CONCURRENT_STREAMS (hyper's default).",
    );

/// `http2_max_header_list_size`.
pub static HTTP2_MAX_HEADER_LIST_SIZE: Setting = Setting::new("http2_max_header_list_size", WORKER)
    .flag("--http2-max-header-list-size")
    .value(Kind::Number, "BYTES", "16384")
    .parse(Worker(|w, s| {
        v::http2_limit(s, 1024, 16 << 20, "bytes").map(|n| w.http2.max_header_list_size = n)
    }))
    .help("Most bytes of decoded header fields in one HTTP/2 request (bounds HPACK bombs, CONTINUATION floods).")
    .doc(
        "The most bytes of header fields one HTTP/2 request may decode to, as\n\
         SETTINGS_MAX_HEADER_LIST_SIZE says; past it the request is refused. It\n\
         bounds what an HPACK bomb or a flood of CONTINUATION frames costs.",
    );

/// `http2_max_reset_streams`.
pub static HTTP2_MAX_RESET_STREAMS: Setting = Setting::new("http2_max_reset_streams", WORKER)
    .flag("--http2-max-reset-streams")
    .value(Kind::Number, "N", "20")
    .parse(Worker(|w, s| {
        v::http2_limit(s, 1, 10_000, "streams").map(|n| w.http2.max_reset_streams = n as usize)
    }))
    .help("HTTP/2 streams a client may reset before they are served; past it, GOAWAY (rapid reset).")
    .doc(
        "How many streams a client may open and reset before the worker has\n\
         served them; past it the connection gets GOAWAY and closes. This is the\n\
         defence against the rapid reset attack (CVE-2023-44487).",
    );

/// `http2_websockets`.
pub static HTTP2_WEBSOCKETS: Setting = Setting::new("http2_websockets", WORKER)
    .flag("--http2-websockets")
    .value(Kind::Switch, "BOOL", "false")
    .parse(Worker(|w, s| v::switch(s).map(|on| w.http2.websockets = on)))
    .help("Offer WebSockets over HTTP/2 (RFC 8441); their routes must take any method: any(handler).")
    .doc(
        "Offers WebSockets over HTTP/2 (RFC 8441, extended CONNECT). Once offered,
         browsers open every WebSocket with CONNECT on their HTTP/2 connection,
         which a route written get(handler) answers 405: turn it on with routes
         that take any(handler).",
    );

/// `certfile`.
pub static CERTFILE: Setting = Setting::new("certfile", MASTER)
    .flag("--certfile")
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.certfile = p)))
    .help(
        "PEM certificate chain (leaf first): with keyfile, every bind serves HTTPS (insecure_bind does not).",
    )
    .doc(
        "A PEM certificate chain, the server's certificate first. With keyfile,\n\
         every bind (not insecure_bind) speaks TLS 1.2 or 1.3 and offers HTTP/2\n\
         and HTTP/1.1 (ALPN).\n\
         The master reads both files, as the user it starts as, and again on HUP;\n\
         a pair that does not load stops the start, or keeps the old pair serving.",
    );

/// `keyfile`.
pub static KEYFILE: Setting = Setting::new("keyfile", MASTER)
    .flag("--keyfile")
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.keyfile = p)))
    .help("PEM private key of certfile's certificate (PKCS#8, PKCS#1 or SEC1).")
    .doc("The PEM private key of certfile's certificate: PKCS#8, PKCS#1 or SEC1.");

/// `ca_certs`.
pub static CA_CERTS: Setting = Setting::new("ca_certs", MASTER)
    .flag("--ca-certs")
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.ca_certs = p)))
    .help("PEM certificates of the authorities that sign client certificates (with cert_reqs).")
    .doc(
        "The PEM certificates of the authorities client certificates must be\n\
         signed by, for cert_reqs optional or required (mutual TLS).",
    );

/// `cert_reqs`.
pub static CERT_REQS: Setting = Setting::new("cert_reqs", MASTER)
    .flag("--cert-reqs")
    .value(Kind::Text, "MODE", "none")
    .parse(Master(|m, s| client_auth(s).map(|auth| m.cert_reqs = auth)))
    .help("Client certificates: none, optional or required (Gunicorn's 0, 1, 2); checked against ca_certs.")
    .doc(
        "Whether clients show a certificate signed by ca_certs: none; optional\n\
         (one shown must be valid); required (no valid certificate, no\n\
         connection). Gunicorn's 0, 1 and 2 mean the same. The subject of the\n\
         client's certificate is `rg::Environ::client_cert_subject()`.",
    );

fn client_auth(s: &str) -> Result<ClientAuth, String> {
    match s.trim() {
        "none" | "0" => Ok(ClientAuth::None),
        "optional" | "1" => Ok(ClientAuth::Optional),
        "required" | "2" => Ok(ClientAuth::Required),
        other => Err(format!("`{other}` is not none, optional or required")),
    }
}
