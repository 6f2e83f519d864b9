//! The access log's format, parsed once at start-up: what a line holds,
//! and what the server must keep of each request to write it.

use http::HeaderName;

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
    /// is handed to the application;
    /// [`AccessRecord::request_headers`](super::AccessRecord::request_headers)
    /// has their values in this order.
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
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use http::{HeaderMap, HeaderName, Method, Version};

    use super::*;
    use crate::access_log::record::tests::record;

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
}
