//! Access log lines: Apache's combined format by default, any Apache-style
//! format string, or one JSON object per request.
//!
//! The format is parsed once at start-up into [`AccessFormat`]; each request
//! then only fills in an [`AccessRecord`], rendered straight into the
//! buffer of the access log's [`crate::logging::Sink`] (or, when the
//! application installed a `tracing` subscriber of its own, sent as an
//! event with the target [`crate::logging::ACCESS_TARGET`]).

use std::io::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, Method, StatusCode, Version};

mod time;

use time::civil;
pub use time::{clf_time, push_clf_time, rfc3339};

/// Apache's "combined" format, Gunicorn's default.
pub const COMBINED: &str = r#"%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i""#;
/// Apache's "common" format.
pub const COMMON: &str = r#"%h %l %u %t "%r" %s %b"#;

/// A parsed access log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessFormat {
    /// One JSON object per line.
    Json,
    /// `rg runserver`'s request log, like Django's, in colour on a terminal.
    Dev {
        /// Whether to colour the status.
        color: bool,
    },
    /// Apache's combined format (`referer_and_agent`) or its common one:
    /// the default. The same fields as the pattern, rendered by
    /// straight-line code instead of a loop over pieces: 84-98 ns a line
    /// instead of 155-165 ns in a loop of its own, about half a percent of
    /// a hello-world request in the server.
    Apache {
        /// Whether the referer and user agent end the line (`combined`).
        referer_and_agent: bool,
    },
    /// An Apache-style pattern.
    Pattern(Vec<Piece>),
}

/// One element of an Apache-style pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text copied as is.
    Literal(String),
    /// `%h`, `%s`, ...: a property of the request or response.
    Field(char),
    /// `%{Name}i`: a request header.
    RequestHeader(HeaderName),
    /// `%{Name}o`: a response header.
    ResponseHeader(HeaderName),
}

/// The single-letter directives understood, with their meaning (for docs).
pub const DIRECTIVES: &[(char, &str)] = &[
    (
        'h',
        "remote address (the forwarded client address from a trusted proxy)",
    ),
    ('l', "always -"),
    ('u', "always - (no authenticated user)"),
    ('t', "time the request arrived, [10/Oct/2000:13:55:36 +0000]"),
    ('r', "request line, GET /path?q HTTP/1.1"),
    ('m', "method"),
    ('U', "path without the query"),
    ('q', "query string with its ?, or nothing"),
    ('H', "protocol, HTTP/1.1"),
    ('s', "status code"),
    ('b', "response body bytes, - when unknown or zero"),
    ('B', "response body bytes, 0 when unknown"),
    ('D', "time taken in microseconds"),
    ('M', "time taken in milliseconds"),
    ('T', "time taken in whole seconds"),
    ('p', "worker process id"),
];

impl AccessFormat {
    /// The default format.
    pub fn combined() -> AccessFormat {
        // The constant is known to parse; the test below proves it.
        AccessFormat::parse(COMBINED).unwrap_or(AccessFormat::Json)
    }

    /// Parses `combined`, `common`, `json` or an Apache-style pattern.
    pub fn parse(s: &str) -> Result<AccessFormat, String> {
        match s.trim() {
            "json" => return Ok(AccessFormat::Json),
            "dev" => {
                use std::io::IsTerminal;
                return Ok(AccessFormat::Dev {
                    color: std::io::stdout().is_terminal(),
                });
            }
            "combined" => return AccessFormat::parse_pattern(COMBINED),
            "common" => return AccessFormat::parse_pattern(COMMON),
            _ => {}
        }
        AccessFormat::parse_pattern(s)
    }

    /// A pattern, or [`AccessFormat::Apache`] for the combined and common
    /// formats spelt out.
    fn parse_pattern(s: &str) -> Result<AccessFormat, String> {
        let pieces = Self::pieces(s)?;
        for (apache, referer_and_agent) in [(COMBINED, true), (COMMON, false)] {
            if Self::pieces(apache).is_ok_and(|p| p == pieces) {
                return Ok(AccessFormat::Apache { referer_and_agent });
            }
        }
        Ok(AccessFormat::Pattern(pieces))
    }

    fn pieces(s: &str) -> Result<Vec<Piece>, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let directive = match chars.next() {
                None => return Err("the format ends with a lone %".into()),
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                // Apache's %>s is the final status, the only one we have.
                Some('>') => match chars.next() {
                    Some('s') => Piece::Field('s'),
                    _ => return Err("%> must be followed by s".into()),
                },
                Some('{') => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    let kind = chars.next();
                    let header = HeaderName::try_from(name.as_str())
                        .map_err(|_| format!("{name:?} is not a header name, or unclosed %{{"))?;
                    match kind {
                        Some('i') => Piece::RequestHeader(header),
                        Some('o') => Piece::ResponseHeader(header),
                        _ => {
                            return Err(format!(
                                "%{{{name}}} must be followed by i or o (unclosed or unknown)"
                            ));
                        }
                    }
                }
                // Constant text is folded into the literals around it, so
                // a line dispatches on fewer pieces: `%l` and `%u` are
                // always `-`, and `%t`'s brackets never change.
                Some('l' | 'u') => {
                    literal.push('-');
                    continue;
                }
                Some('t') => {
                    literal.push('[');
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    pieces.push(Piece::Field('t'));
                    literal.push(']');
                    continue;
                }
                Some(d) if DIRECTIVES.iter().any(|(c, _)| *c == d) => Piece::Field(d),
                Some(d) => return Err(format!("unknown directive %{d}")),
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(directive);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(pieces)
    }

    /// The request headers a line will need, to be kept before the request
    /// is handed to the application; [`AccessRecord::request_headers`] has
    /// their values in this order.
    pub fn request_headers(&self) -> Vec<HeaderName> {
        match self {
            AccessFormat::Json => vec![http::header::REFERER, http::header::USER_AGENT],
            AccessFormat::Dev { .. } => Vec::new(),
            AccessFormat::Apache { referer_and_agent } => match referer_and_agent {
                true => vec![http::header::REFERER, http::header::USER_AGENT],
                false => Vec::new(),
            },
            AccessFormat::Pattern(pieces) => pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::RequestHeader(h) => Some(h.clone()),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Whether a line shows how long the request took: if not, the time
    /// it started need not be taken.
    pub fn times_requests(&self) -> bool {
        match self {
            AccessFormat::Json | AccessFormat::Dev { .. } => true,
            AccessFormat::Apache { .. } => false,
            AccessFormat::Pattern(pieces) => {
                pieces.iter().any(|p| matches!(p, Piece::Field('D' | 'M' | 'T')))
            }
        }
    }

    /// Whether a line shows the time the request arrived to the
    /// millisecond (JSON's `time`): if not, whole seconds at most, and a
    /// clock to the kernel's tick will do.
    pub fn shows_milliseconds(&self) -> bool {
        matches!(self, AccessFormat::Json)
    }

    /// Renders one line (without the newline).
    pub fn render(&self, r: &AccessRecord<'_>) -> String {
        let mut out = Vec::with_capacity(128);
        self.render_into(&mut out, r);
        // Every piece appended is a `&str`, so the bytes are UTF-8.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends one line (without the newline) to `out`, UTF-8 encoded: the
    /// server renders straight into its log's pending buffer.
    pub fn render_into(&self, out: &mut Vec<u8>, r: &AccessRecord<'_>) {
        match self {
            AccessFormat::Json => out.extend_from_slice(render_json(r).as_bytes()),
            AccessFormat::Dev { color } => render_dev(out, r, *color),
            AccessFormat::Apache { referer_and_agent } => render_apache(out, r, *referer_and_agent),
            AccessFormat::Pattern(pieces) => {
                let mut request_headers = 0..;
                for piece in pieces {
                    match piece {
                        Piece::Literal(s) => out.extend_from_slice(s.as_bytes()),
                        Piece::Field(c) => field(out, *c, r),
                        Piece::RequestHeader(_) => {
                            let i = request_headers.next().unwrap_or(usize::MAX);
                            escaped(out, r.request_header_bytes(i).unwrap_or(b"-"));
                        }
                        Piece::ResponseHeader(h) => {
                            let v = r.response_headers.get(h).map(http::HeaderValue::as_bytes);
                            escaped(out, v.unwrap_or(b"-"));
                        }
                    }
                }
            }
        }
    }
}

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
    /// order of [`AccessFormat::request_headers`] (missing at the end: `-`).
    pub request_headers: &'a [Option<http::HeaderValue>],
    /// The response headers.
    pub response_headers: &'a HeaderMap,
}

impl AccessRecord<'_> {
    /// A request header's value as text (JSON), if it is visible ASCII.
    fn request_header(&self, i: usize) -> Option<&str> {
        self.request_headers.get(i)?.as_ref()?.to_str().ok()
    }

    /// A request header's value as sent, for the line formats, which
    /// escape what is not printable ASCII (as nginx does) instead of
    /// checking it is text first: one pass over the value, not two.
    fn request_header_bytes(&self, i: usize) -> Option<&[u8]> {
        Some(self.request_headers.get(i)?.as_ref()?.as_bytes())
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// [`version_str`] as the eight bytes it always is, for a copy of a known
/// length.
fn version_bytes(v: Version) -> &'static [u8; 8] {
    match v {
        Version::HTTP_09 => b"HTTP/0.9",
        Version::HTTP_10 => b"HTTP/1.0",
        Version::HTTP_2 => b"HTTP/2.0",
        Version::HTTP_3 => b"HTTP/3.0",
        _ => b"HTTP/1.1",
    }
}

/// Appends the method, the common ones as literals (a copy of a known
/// length: a few moves, where a copy of a length the compiler does not
/// know is a call to `memcpy`).
fn push_method(out: &mut Vec<u8>, method: &Method) {
    match *method {
        Method::GET => out.extend_from_slice(b"GET"),
        Method::POST => out.extend_from_slice(b"POST"),
        Method::HEAD => out.extend_from_slice(b"HEAD"),
        Method::PUT => out.extend_from_slice(b"PUT"),
        Method::DELETE => out.extend_from_slice(b"DELETE"),
        _ => out.extend_from_slice(method.as_str().as_bytes()),
    }
}

/// Appends the first `len` bytes of `buf` with one copy of all of it: a
/// copy of a known length, then the end cut off. For the short fields of
/// a line (an address, a number), which would otherwise each cost a call
/// to `memcpy`.
#[inline(always)]
fn push_prefix<const N: usize>(out: &mut Vec<u8>, buf: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(buf);
    out.truncate(at + len.min(N));
}

/// `%h - - [%t] "%r" %s %b`, then ` "%{Referer}i" "%{User-Agent}i"` for
/// the combined format: each field as a pattern renders it, in a fixed
/// order with no loop to dispatch on.
fn render_apache(out: &mut Vec<u8>, r: &AccessRecord<'_>, referer_and_agent: bool) {
    field(out, 'h', r);
    out.extend_from_slice(b" - - [");
    field(out, 't', r);
    out.extend_from_slice(b"] \"");
    field(out, 'r', r);
    out.extend_from_slice(b"\" ");
    field(out, 's', r);
    out.push(b' ');
    field(out, 'b', r);
    if referer_and_agent {
        out.extend_from_slice(b" \"");
        header_or_dash(out, r.request_header_bytes(0));
        out.extend_from_slice(b"\" \"");
        header_or_dash(out, r.request_header_bytes(1));
        out.push(b'"');
    }
}

/// A request header's value, escaped, or `-` when the request had none.
fn header_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => escaped(out, value),
        None => out.push(b'-'),
    }
}

/// One `%` directive; inlined into [`render_apache`], where each `c` is a
/// constant and the match goes.
#[inline(always)]
fn field(out: &mut Vec<u8>, c: char, r: &AccessRecord<'_>) {
    let query = || r.path_and_query.split_once('?');
    match c {
        'h' => match r.remote {
            Some(ip) => push_ip(out, ip),
            None => out.push(b'-'),
        },
        't' => push_clf_time(out, r.time),
        'r' => {
            push_method(out, r.method);
            out.push(b' ');
            escaped(out, r.path_and_query.as_bytes());
            out.push(b' ');
            out.extend_from_slice(version_bytes(r.version));
        }
        'm' => push_method(out, r.method),
        'U' => escaped(out, query().map_or(r.path_and_query, |(path, _)| path).as_bytes()),
        'q' => {
            if let Some((_, q)) = query() {
                out.push(b'?');
                escaped(out, q.as_bytes());
            }
        }
        'H' => out.extend_from_slice(version_bytes(r.version)),
        's' => match <&[u8; 3]>::try_from(r.status.as_str().as_bytes()) {
            // A status code is three digits.
            Ok(three) => out.extend_from_slice(three),
            Err(_) => out.extend_from_slice(r.status.as_str().as_bytes()),
        },
        'b' => match r.bytes {
            Some(n) if n > 0 => push_u64(out, n),
            _ => out.push(b'-'),
        },
        'B' => push_u64(out, r.bytes.unwrap_or(0)),
        'D' => push_u64(out, u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX)),
        'M' => push_u64(out, u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX)),
        'T' => push_u64(out, r.duration.as_secs()),
        'p' => push_u64(out, u64::from(std::process::id())),
        _ => {}
    }
}

/// Appends `n` in decimal, without the formatting machinery (a line is
/// written for every request). The digits are gathered in a register, not
/// in memory: bytes stored one at a time and then loaded as one block
/// stall the load until every store is done.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    if len > 16 {
        return out.extend_from_slice(n.to_string().as_bytes());
    }
    // From the last digit to the first, each shifted in below the ones
    // after it: the first digit ends in the lowest byte.
    let mut text = 0u128;
    for _ in 0..len {
        text = text << 8 | u128::from(b'0' + (n % 10) as u8);
        n /= 10;
    }
    push_prefix(out, &text.to_le_bytes(), len);
}

/// Appends an address as `Display` would: IPv4 by hand, IPv6 formatted.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Each octet's text and its dot, four bytes whatever the
            // octet's length, gathered in a register (see `push_u64`);
            // then the whole address is copied without the last dot.
            let mut text = 0u128;
            let mut at = 0;
            for octet in v4.octets() {
                let (len, digits) = OCTETS[usize::from(octet)];
                text |= u128::from(u32::from_le_bytes(digits)) << (at * 8);
                at += u32::from(len);
            }
            push_prefix(out, &text.to_le_bytes(), at as usize - 1);
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Each octet (0-255) in decimal followed by a dot, in four bytes (the
/// rest zero), with the length of the digits and the dot: an address is
/// rendered by four table reads instead of divisions.
static OCTETS: [(u8, [u8; 4]); 256] = {
    let mut table = [(0, [0; 4]); 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = (
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        );
        table[n] = match n {
            100.. => (4, [h, t, o, b'.']),
            10.. => (3, [t, o, b'.', 0]),
            _ => (2, [o, b'.', 0, 0]),
        };
        n += 1;
    }
    table
};

/// Copies `bytes`, escaping quotes, backslashes and every byte outside
/// printable ASCII (`\xe9`) as nginx does, so a hostile header cannot
/// forge a log line and a line is always ASCII.
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Most values need no escaping: copy them whole.
    if plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..0x7f => out.push(b),
            _ => out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

/// Whether `bytes` go into a line as they are: printable ASCII without
/// `"` or `\`. Checked sixteen bytes at a time with no early exit inside
/// a chunk, which the compiler turns into vector compares: a browser's
/// User-Agent is over a hundred bytes, and this runs on every request.
fn plain(bytes: &[u8]) -> bool {
    let needs_escape = |b: u8| !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\');
    let any = |chunk: &[u8]| chunk.iter().fold(false, |any, &b| any | needs_escape(b));
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if any(chunk) {
            return false;
        }
    }
    match chunks.remainder() {
        [] => true,
        // The tail as the last sixteen bytes, overlapping the chunk before
        // it: one more vector compare instead of a loop over each byte.
        _ if bytes.len() >= 16 => !any(&bytes[bytes.len() - 16..]),
        tail => !tail.iter().any(|&b| needs_escape(b)),
    }
}

fn render_dev(out: &mut Vec<u8>, r: &AccessRecord<'_>, color: bool) {
    let (y, mo, d, h, mi, s) = civil(r.time);
    let status = r.status.as_u16();
    let (start, end) = match (color, status) {
        (false, _) => ("", ""),
        (true, 500..) => ("\x1b[1;31m", "\x1b[0m"),
        (true, 400..) => ("\x1b[33m", "\x1b[0m"),
        (true, 300..) => ("\x1b[36m", "\x1b[0m"),
        (true, _) => ("\x1b[32m", "\x1b[0m"),
    };
    let _ = write!(
        out,
        "[{d:02}/{mo:02}/{y} {h:02}:{mi:02}:{s:02}] {start}\"{} ",
        r.method
    );
    escaped(out, r.path_and_query.as_bytes());
    let _ = write!(
        out,
        " {}\" {status}{end} {} {:.1}ms",
        version_str(r.version),
        r.bytes.map_or("-".to_string(), |b| b.to_string()),
        r.duration.as_secs_f64() * 1000.0
    );
}

fn render_json(r: &AccessRecord<'_>) -> String {
    let (path, query) = match r.path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (r.path_and_query, ""),
    };
    serde_json::json!({
        "time": rfc3339(r.time),
        "remote_addr": r.remote.map(|ip| ip.to_string()),
        "method": r.method.as_str(),
        "path": path,
        "query": query,
        "protocol": version_str(r.version),
        "status": r.status.as_u16(),
        "bytes": r.bytes,
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
        "referer": r.request_header(0),
        "user_agent": r.request_header(1),
        "pid": std::process::id(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn record<'a>(
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

    #[test]
    fn combined_is_apaches() {
        let format = AccessFormat::combined();
        assert_eq!(format, AccessFormat::parse("combined").unwrap());
        assert_eq!(
            format.request_headers(),
            [http::header::REFERER, http::header::USER_AGENT]
        );
        let req = [None, Some(http::HeaderValue::from_static("curl/8"))];
        let resp = HeaderMap::new();
        let line = format.render(&record(&req, &resp, &Method::GET));
        assert_eq!(
            line,
            r#"10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET /a b?x=\"1\" HTTP/1.1" 200 13 "-" "curl/8""#
        );
    }

    #[test]
    fn the_apache_formats_render_as_their_patterns_do() {
        let combined = AccessFormat::Pattern(AccessFormat::pieces(COMBINED).unwrap());
        let common = AccessFormat::Pattern(AccessFormat::pieces(COMMON).unwrap());
        assert_eq!(
            AccessFormat::combined(),
            AccessFormat::Apache {
                referer_and_agent: true
            }
        );
        assert_eq!(
            AccessFormat::parse(COMMON).unwrap(),
            AccessFormat::Apache {
                referer_and_agent: false
            }
        );
        assert_eq!(
            AccessFormat::parse(r#"%h %l %u %t "%r" %>s %b"#).unwrap(),
            AccessFormat::Apache {
                referer_and_agent: false
            },
            "spelt out, with %>s"
        );
        assert_eq!(
            combined.request_headers(),
            AccessFormat::combined().request_headers()
        );
        assert_eq!(common.request_headers(), Vec::<HeaderName>::new());

        let resp = HeaderMap::new();
        let hostile = http::HeaderValue::from_bytes(b"a\"b\\c\td").unwrap();
        let values = [
            [None, None],
            [Some(http::HeaderValue::from_static("https://x/")), Some(hostile)],
            [http::HeaderValue::from_bytes(b"caf\xe9").ok(), None],
        ];
        let remotes: [Option<IpAddr>; 4] = [
            Some("10.1.2.3".parse().unwrap()),
            Some("255.0.99.100".parse().unwrap()),
            Some("2001:db8::1".parse().unwrap()),
            None,
        ];
        for req in &values {
            for remote in remotes {
                for (bytes, version, method) in [
                    (Some(13), Version::HTTP_11, Method::GET),
                    (Some(0), Version::HTTP_10, Method::POST),
                    (None, Version::HTTP_2, Method::from_bytes(b"PURGE").unwrap()),
                ] {
                    let mut r = record(req, &resp, &method);
                    (r.remote, r.bytes, r.version) = (remote, bytes, version);
                    for (fast, slow) in [
                        (AccessFormat::combined(), &combined),
                        (AccessFormat::parse("common").unwrap(), &common),
                    ] {
                        assert_eq!(fast.render(&r), slow.render(&r));
                    }
                }
            }
        }
    }

    #[test]
    fn custom_patterns_and_errors() {
        let format = AccessFormat::parse("%m %U%q %>s %D %{X-Id}o 100%%").unwrap();
        let mut resp = HeaderMap::new();
        resp.insert("x-id", "abc".parse().unwrap());
        let line = format.render(&record(&[], &resp, &Method::POST));
        assert_eq!(line, r#"POST /a b?x=\"1\" 200 1500 abc 100%"#);
        assert!(
            AccessFormat::parse("%Z")
                .unwrap_err()
                .contains("unknown directive %Z")
        );
        assert!(AccessFormat::parse("50%").unwrap_err().contains("lone %"));
        assert!(AccessFormat::parse("%{Referer").is_err());
    }

    #[test]
    fn numbers_addresses_and_headers_render_as_apache_writes_them() {
        let format = AccessFormat::parse("%h|%b|%B|%D|%M|%T|%p|%{A}i|%{B}i|%{C}i").unwrap();
        assert!(format.times_requests());
        assert!(!AccessFormat::combined().times_requests());
        assert!(AccessFormat::Json.shows_milliseconds());
        assert!(!AccessFormat::combined().shows_milliseconds());
        assert_eq!(format.request_headers().len(), 3);
        let resp = HeaderMap::new();
        // Values in the format's order; one missing at the end.
        let req = [Some(http::HeaderValue::from_static("a")), None];
        let mut r = record(&req, &resp, &Method::GET);
        r.remote = Some("255.0.10.1".parse().unwrap());
        r.bytes = Some(0);
        r.duration = Duration::from_millis(12_345);
        let pid = std::process::id();
        assert_eq!(
            format.render(&r),
            format!("255.0.10.1|-|0|12345000|12345|12|{pid}|a|-|-")
        );
        r.remote = Some("::1".parse().unwrap());
        r.bytes = Some(u64::MAX);
        r.duration = Duration::ZERO;
        assert_eq!(
            format.render(&r),
            format!("::1|{0}|{0}|0|0|0|{pid}|a|-|-", u64::MAX)
        );
    }

    #[test]
    fn every_octet_and_every_length_of_number_match_display() {
        let format = AccessFormat::parse("%h %B").unwrap();
        let resp = HeaderMap::new();
        let mut numbers: Vec<u64> = (0..20).flat_map(|k| [10u64.pow(k), 10u64.pow(k) - 1]).collect();
        numbers.extend([7, 13, 4_096, u64::MAX]);
        for (i, n) in (0..=255u8).zip(numbers.iter().cycle()) {
            let ip = std::net::Ipv4Addr::new(i, 255 - i, i / 2, i % 10);
            let mut r = record(&[], &resp, &Method::GET);
            r.remote = Some(ip.into());
            r.bytes = Some(*n);
            let mut out = Vec::new();
            format.render_into(&mut out, &r);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{ip} {n}"));
        }
    }

    #[test]
    fn fields_copied_at_a_fixed_length_match_display() {
        let format = AccessFormat::parse("%h %B %m %s %H").unwrap();
        let resp = HeaderMap::new();
        let post = Method::POST;
        let patch = Method::PATCH;
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        let cases = [
            ("0.0.0.0", 0, &Method::GET, 200, Version::HTTP_11),
            ("9.10.99.100", 9, &post, 404, Version::HTTP_10),
            ("255.255.255.255", 10, &patch, 101, Version::HTTP_2),
            ("10.0.100.9", 12_345, &custom, 599, Version::HTTP_09),
            ("1.22.203.4", u64::MAX, &Method::DELETE, 302, Version::HTTP_3),
        ];
        for (ip, bytes, method, status, version) in cases {
            let mut r = record(&[], &resp, method);
            r.remote = Some(ip.parse().unwrap());
            r.bytes = Some(bytes);
            r.status = StatusCode::from_u16(status).unwrap();
            r.version = version;
            let mut out = b"before ".to_vec();
            format.render_into(&mut out, &r);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("before {ip} {bytes} {method} {status} {version:?}")
            );
        }
    }

    #[test]
    fn values_are_escaped_as_nginx_does_wherever_the_byte_falls() {
        // A value the whole-chunk check must catch in any of its chunks,
        // or in the tail after them.
        for len in 1..40 {
            for at in 0..len {
                for (byte, written) in [
                    (b'"', "\\\""),
                    (b'\\', "\\\\"),
                    (b'\t', "\\x09"),
                    (0x7f, "\\x7f"),
                    (0xe9, "\\xe9"),
                    (0x00, "\\x00"),
                ] {
                    let mut value = vec![b'a'; len];
                    value[at] = byte;
                    let mut out = Vec::new();
                    escaped(&mut out, &value);
                    let expected = format!("{}{written}{}", "a".repeat(at), "a".repeat(len - at - 1));
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        expected,
                        "{len} bytes, {byte:#x} at {at}"
                    );
                }
            }
            let mut out = Vec::new();
            escaped(&mut out, "a~ ".repeat(len).as_bytes());
            assert_eq!(out, "a~ ".repeat(len).as_bytes());
        }
        // A header that is not text (Latin-1) is written, escaped, not dropped.
        let req = [None, http::HeaderValue::from_bytes(b"caf\xe9 \"x\"").ok()];
        let resp = HeaderMap::new();
        let line = AccessFormat::combined().render(&record(&req, &resp, &Method::GET));
        assert!(line.ends_with(r#" "-" "caf\xe9 \"x\"""#), "{line}");
    }

    #[test]
    fn json_lines_parse_back() {
        let resp = HeaderMap::new();
        let line = AccessFormat::Json.render(&record(&[], &resp, &Method::GET));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["path"], "/a b");
        assert_eq!(v["time"], "2000-10-10T13:55:36.000Z");
    }
}
