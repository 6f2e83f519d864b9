//! Rendering a line in the format parsed at start-up: each format's own
//! writer, or a loop over an Apache-style pattern's pieces.

use super::apache::{field, render_apache};
use super::dev::render_dev;
use super::escape::escaped;
use super::json::render_json;
use super::{AccessFormat, AccessRecord, Piece};

impl AccessFormat {
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
