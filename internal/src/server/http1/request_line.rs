//! The request line (RFC 9112 §3): a method, a target in the form that
//! method allows, and version 1.0 or 1.1, measured against `limit_request_line`.

use super::Progress;
use super::chars::{is_target_byte, is_tchar, run_of};
use super::flags::Flags;
use super::refusal::Refusal;

/// Longest request method accepted (Gunicorn's bound).
const MAX_METHOD: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line; empty lines are skipped (RFC 9112 §2.2).
    Start,
    /// CR of an empty line before a request, LF expected.
    StartLf,
    Method,
    /// First byte of the target.
    TargetStart,
    /// Origin-form or the rest of an absolute-form target.
    Target,
    /// `*` seen; SP must follow.
    TargetStar,
    /// The scheme of an absolute-form target, then `://` (`slashes`
    /// counts what of `://` has been seen).
    Scheme {
        slashes: u8,
    },
    /// Authority-form (CONNECT only).
    Authority,
    /// `HTTP/1.x` being matched, at position `pos`.
    Version(u8),
    /// CR after the version, LF expected.
    Lf,
}

/// The parser of one request line.
#[derive(Debug)]
pub(super) struct RequestLine {
    state: State,
    /// `limit_request_line`; 0 is none.
    limit: usize,
    /// Bytes of the line so far, CRLF excluded (as Gunicorn counts).
    line: usize,
    /// The method, up to `MAX_METHOD` bytes.
    method: [u8; MAX_METHOD],
    method_len: usize,
    /// The version's two digits.
    version: [u8; 2],
}

impl RequestLine {
    pub(super) fn new(limit: usize) -> RequestLine {
        RequestLine {
            state: State::Start,
            limit,
            line: 0,
            method: [0; MAX_METHOD],
            method_len: 0,
            version: [0; 2],
        }
    }

    /// Ready for the next request's line.
    #[inline]
    pub(super) fn reset(&mut self) {
        self.state = State::Start;
        self.line = 0;
        self.method_len = 0;
    }

    /// Whether no byte of a request line has been read (empty lines aside).
    #[inline]
    pub(super) fn at_start(&self) -> bool {
        self.state == State::Start
    }

    /// The method read so far.
    pub(super) fn method(&self) -> &[u8] {
        &self.method[..self.method_len]
    }

    /// Reads `bytes` from `*i` to the end of the request line (`Done`, `*i`
    /// past its LF), or to the end of `bytes` or of an empty line (`More`).
    /// Records the version and the methods with rules of their own in `flags`.
    #[inline]
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        i: &mut usize,
        flags: &mut Flags,
    ) -> Result<Progress, Refusal> {
        while let Some(&b) = bytes.get(*i) {
            match self.state {
                // The fast path of plain GET heads.
                State::Start if bytes[*i..].starts_with(b"GET /") => {
                    self.method[..3].copy_from_slice(b"GET");
                    self.method_len = 3;
                    self.line = 5;
                    self.state = State::Target;
                    *i += 5;
                    continue;
                }
                State::StartLf => {
                    *i += 1;
                    if b != b'\n' {
                        return Err(Refusal::bad_request("Bare CR before the request line"));
                    }
                    self.state = State::Start;
                    // The request begins after this line, as the caller sees.
                    return Ok(Progress::More);
                }
                State::Target => {
                    // A run of target bytes (none after `GET /`, the most
                    // common target), and the SP after it.
                    let run = if is_target_byte(b) {
                        run_of(&bytes[*i..], 0x21, true, is_target_byte)
                    } else {
                        0
                    };
                    self.line += run;
                    *i += run;
                    if bytes.get(*i) == Some(&b' ') {
                        self.line += 1;
                        self.state = State::Version(0);
                        *i += 1;
                    }
                    self.check_line()?;
                    if run > 0 || self.state != State::Target {
                        continue;
                    }
                }
                // The fast path of a whole `HTTP/1.x CRLF`.
                State::Version(0) if bytes.len() - *i >= 10 && bytes[*i..*i + 7] == *b"HTTP/1." => {
                    let minor = bytes[*i + 7];
                    if matches!(minor, b'0' | b'1') && bytes[*i + 8..*i + 10] == *b"\r\n" {
                        self.line += 8;
                        self.check_line()?;
                        if minor == b'0' {
                            flags.set(Flags::HTTP10);
                        }
                        *i += 10;
                        return Ok(Progress::Done);
                    }
                }
                State::Lf => {
                    *i += 1;
                    if b != b'\n' {
                        return Err(Refusal::bad_request("Bare CR in the request line"));
                    }
                    return Ok(Progress::Done);
                }
                _ => {}
            }
            *i += 1;
            self.byte(b, flags)?;
        }
        Ok(Progress::More)
    }

    /// One byte of the line, its line endings aside.
    fn byte(&mut self, b: u8, flags: &mut Flags) -> Result<(), Refusal> {
        match self.state {
            State::Start => match b {
                b'\r' => {
                    self.state = State::StartLf;
                    Ok(())
                }
                _ if is_tchar(b) => {
                    self.state = State::Method;
                    self.method_byte(b)
                }
                _ => Err(Refusal::bad_request("Invalid request line")),
            },
            State::Method => match b {
                b' ' => {
                    match self.method() {
                        b"OPTIONS" => flags.set(Flags::OPTIONS),
                        b"CONNECT" => flags.set(Flags::CONNECT),
                        _ => {}
                    }
                    self.state = State::TargetStart;
                    self.line_byte()
                }
                _ if is_tchar(b) => self.method_byte(b),
                _ => Err(Refusal::bad_request("Invalid request method")),
            },
            State::TargetStart => {
                self.line_byte()?;
                self.target_starts(b, *flags)
            }
            State::Scheme { slashes } => {
                self.line_byte()?;
                match (slashes, b) {
                    (0, b':') => {
                        self.state = State::Scheme { slashes: 1 };
                        Ok(())
                    }
                    (0, _) if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') => Ok(()),
                    (1 | 2, b'/') => {
                        self.state = if slashes == 2 {
                            State::Target
                        } else {
                            State::Scheme { slashes: 2 }
                        };
                        Ok(())
                    }
                    // `host:80` and the like: authority-form, CONNECT's only.
                    _ => Err(Refusal::bad_request("Authority-form target without CONNECT")),
                }
            }
            State::Target | State::Authority => match b {
                b' ' => {
                    self.state = State::Version(0);
                    self.line_byte()
                }
                _ if is_target_byte(b) => self.line_byte(),
                _ => Err(Refusal::bad_request("Invalid character in the request target")),
            },
            State::TargetStar => match b {
                b' ' => {
                    self.state = State::Version(0);
                    self.line_byte()
                }
                _ => Err(Refusal::bad_request("Invalid request target")),
            },
            State::Version(pos) => self.version_byte(pos, b, flags),
            // Line endings are the caller's.
            State::StartLf | State::Lf => Ok(()),
        }
    }

    /// The first byte of the target decides its form (RFC 9112 §3.2).
    fn target_starts(&mut self, b: u8, flags: Flags) -> Result<(), Refusal> {
        if flags.has(Flags::CONNECT) {
            // RFC 9112 §3.2.3: CONNECT takes authority-form only.
            return match b {
                b'/' | b'*' => Err(Refusal::bad_request("CONNECT needs an authority-form target")),
                _ if is_target_byte(b) => {
                    self.state = State::Authority;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Invalid request target")),
            };
        }
        match b {
            b'/' => {
                self.state = State::Target;
                Ok(())
            }
            // RFC 9112 §3.2.4: asterisk-form is for OPTIONS only.
            b'*' if flags.has(Flags::OPTIONS) => {
                self.state = State::TargetStar;
                Ok(())
            }
            b'*' => Err(Refusal::bad_request("Asterisk-form target without OPTIONS")),
            _ if b.is_ascii_alphabetic() => {
                self.state = State::Scheme { slashes: 0 };
                Ok(())
            }
            // RFC 9112 §3.2.3: authority-form is for CONNECT only.
            _ => Err(Refusal::bad_request("Invalid request target")),
        }
    }

    fn method_byte(&mut self, b: u8) -> Result<(), Refusal> {
        if self.method_len == MAX_METHOD {
            return Err(Refusal::bad_request("Request method too long"));
        }
        self.method[self.method_len] = b;
        self.method_len += 1;
        self.line_byte()
    }

    /// The request line is METHOD SP target SP HTTP/d.d CRLF.
    fn version_byte(&mut self, pos: u8, b: u8, flags: &mut Flags) -> Result<(), Refusal> {
        const VERSION: &[u8] = b"HTTP/1.";
        let pos = usize::from(pos);
        if pos == 8 {
            // The line is measured without its CRLF.
            return match b {
                b'\r' => {
                    self.state = State::Lf;
                    self.version_check(flags)
                }
                b'\n' => Err(Refusal::bad_request("Bare LF line ending")),
                _ => Err(Refusal::bad_request("Invalid HTTP version")),
            };
        }
        self.line_byte()?;
        match pos {
            0..=4 if b == VERSION[pos] => {}
            5 | 7 if b.is_ascii_digit() => {
                self.version[usize::from(pos == 7)] = b;
                // Judged at the digit, where hyper's parser refuses it too:
                // later, hyper would answer a head cut there itself.
                if b != b'1' && (pos == 5 || b != b'0') {
                    return Err(unsupported_version());
                }
            }
            6 if b == b'.' => {}
            _ => return Err(Refusal::bad_request("Invalid HTTP version")),
        }
        self.state = State::Version(pos as u8 + 1);
        Ok(())
    }

    fn version_check(&mut self, flags: &mut Flags) -> Result<(), Refusal> {
        match self.version {
            [b'1', b'1'] => Ok(()),
            [b'1', b'0'] => {
                flags.set(Flags::HTTP10);
                Ok(())
            }
            _ => Err(unsupported_version()),
        }
    }

    /// Counts a byte against `limit_request_line`.
    #[inline]
    fn line_byte(&mut self) -> Result<(), Refusal> {
        self.line += 1;
        self.check_line()
    }

    #[inline]
    fn check_line(&self) -> Result<(), Refusal> {
        if self.limit > 0 && self.line > self.limit {
            return Err(self.line_too_long());
        }
        Ok(())
    }

    #[cold]
    fn line_too_long(&self) -> Refusal {
        Refusal {
            status: 414,
            reason: format!("Request line too long: the limit is {} bytes", self.limit),
        }
    }
}

fn unsupported_version() -> Refusal {
    Refusal {
        status: 505,
        reason: "Only versions 1.0 and 1.1 of HTTP are supported".to_string(),
    }
}
