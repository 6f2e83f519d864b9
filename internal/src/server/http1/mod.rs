//! The strict HTTP/1.x validator: a byte-at-a-time state machine over what
//! a client sends, request heads, bodies (their framing) and trailers,
//! which says whether the bytes so far may go on to hyper.
//!
//! It keeps no copy of the request: a few counters, flags and two small
//! fixed buffers (the start of a field name, a transfer coding), so it
//! allocates nothing, and bytes of a body with a known length are skipped
//! in one step. What it enforces, and why, is listed in the book's
//! operations chapter ("What rg refuses at the door"); each rule names its
//! RFC section where it is checked.

mod chars;
mod flags;
mod refusal;

use rg_contract::settings::Limits;

use self::chars::{hex, is_target_byte, is_tchar, is_value_byte, run_of};
use self::flags::Flags;
pub(crate) use self::refusal::Refusal;

/// The result of feeding bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every byte may go on.
    Pass,
    /// The first `n` bytes may go on, then the validator waits: a request
    /// asked to switch protocols (`Upgrade`, `CONNECT`), and what follows
    /// is HTTP only if the response says no. See [`Validator::switched`].
    Hold(usize),
    /// A violation. `start` is where the refused request began in this
    /// slice (0 when it began in an earlier one): the bytes before it are
    /// complete requests that may still go on.
    Refuse { start: usize, refusal: Refusal },
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Longest chunk-size line (size, extensions) accepted, as hyper's own
/// bound on extensions keeps them from being a way to make a server work.
const MAX_CHUNK_LINE: usize = 4096;

/// Longest request method accepted (Gunicorn's bound).
const MAX_METHOD: usize = 20;

/// Field names the validator recognises (lower case), held in `name`.
const NAME_CAP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The connection's first bytes, while they may be the HTTP/2 preface.
    Preface(u8),
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
    RequestLineLf,
    /// Start of a field line (or of the blank line that ends the head).
    LineStart,
    /// The blank line's CR, LF expected.
    HeadEndLf,
    Name,
    /// After the colon, before the value's first byte.
    ValueStart,
    Value,
    /// CR at the end of a field line, LF expected.
    FieldLf,
    /// A body of known length: bytes left.
    Length(u64),
    ChunkSizeStart,
    ChunkSize,
    /// Whitespace after the size: only more of it or `;` may follow.
    ChunkSizeBws,
    ChunkExt,
    ChunkSizeLf,
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    /// Waiting for the response to a request that asked to switch
    /// protocols.
    Held,
    /// Not HTTP/1 any more (HTTP/2, or after a switch): everything passes.
    Through,
}

/// Which field a line holds, for the rules that need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    ContentType,
    Connection,
    Upgrade,
    /// A name RFC 9110 §6.5.1 keeps out of trailers (framing, routing,
    /// authentication, request modifiers, content handling).
    NotInTrailers,
}

impl Field {
    /// A field whose value the validator does not read.
    fn is_plain(self) -> bool {
        !matches!(
            self,
            Field::ContentLength | Field::TransferEncoding | Field::Connection
        )
    }
}

/// The validator of one connection.
#[derive(Debug)]
pub(crate) struct Validator {
    limits: Limits,
    state: State,
    flags: Flags,
    /// Bytes of the current request line or field line, CRLF excluded.
    line: usize,
    /// Field lines in the current head or trailer section.
    fields: usize,
    /// The current field name, lower-cased, up to `NAME_CAP` bytes.
    name: [u8; NAME_CAP],
    name_len: usize,
    field: Field,
    /// The method, up to `MAX_METHOD` bytes.
    method: [u8; MAX_METHOD],
    method_len: usize,
    content_length: u64,
    /// The transfer coding being read, lower-cased (8 bytes hold "chunked").
    coding: [u8; 8],
    coding_len: usize,
    /// In a Connection value: bytes of the current token matching "upgrade".
    token: usize,
    /// The chunk size being read.
    chunk: u64,
    /// Heads (and trailer sections) seen to their end, wrapping.
    heads: u32,
}

impl Validator {
    /// A validator for a new connection. Zero limits are no limits.
    pub(crate) fn new(limits: Limits) -> Validator {
        Validator {
            limits,
            state: State::Preface(0),
            flags: Flags::default(),
            line: 0,
            fields: 0,
            name: [0; NAME_CAP],
            name_len: 0,
            field: Field::Other,
            method: [0; MAX_METHOD],
            method_len: 0,
            content_length: 0,
            coding: [0; 8],
            coding_len: 0,
            token: 0,
            chunk: 0,
            heads: 0,
        }
    }

    /// A validator that passes everything (`strict_http` off).
    pub(crate) fn off() -> Validator {
        Validator {
            state: State::Through,
            ..Validator::new(Limits {
                request_line: 0,
                request_fields: 0,
                request_field_size: 0,
            })
        }
    }

    /// Whether the validator has stopped looking (HTTP/2 or a switched
    /// protocol): the caller may skip it.
    pub(crate) fn is_through(&self) -> bool {
        self.state == State::Through
    }

    /// Whether the validator waits for the response to a request that
    /// asked to switch protocols.
    pub(crate) fn is_held(&self) -> bool {
        self.state == State::Held
    }

    /// Whether the validator is in a body or its trailers: a refusal
    /// there comes after hyper may have called the application.
    pub(crate) fn in_body(&self) -> bool {
        self.flags.has(Flags::TRAILERS)
            || matches!(
                self.state,
                State::Length(_)
                    | State::ChunkSizeStart
                    | State::ChunkSize
                    | State::ChunkSizeBws
                    | State::ChunkExt
                    | State::ChunkSizeLf
                    | State::ChunkData(_)
                    | State::ChunkDataCr
                    | State::ChunkDataLf
            )
    }

    /// How many heads (and trailer sections) have ended, wrapping: a
    /// change means a request is whole.
    pub(crate) fn heads(&self) -> u32 {
        self.heads
    }

    /// The method of the request being read, for the access log of a
    /// refusal; empty when none was read yet.
    pub(crate) fn method(&self) -> &[u8] {
        &self.method[..self.method_len]
    }

    /// After [`Verdict::Hold`]: the response's status decides what the
    /// following bytes are. A switch (101, or 2xx to CONNECT) makes them
    /// another protocol, passed untouched; anything else means the
    /// connection stays HTTP/1 and they are validated as requests.
    pub(crate) fn switched(&mut self, status: u16) {
        debug_assert!(self.is_held());
        let switch = status == 101 || (self.flags.has(Flags::CONNECT) && (200..300).contains(&status));
        if switch {
            self.state = State::Through;
        } else {
            self.next_message();
        }
    }

    /// Validates `bytes`, the next bytes of the connection.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Verdict {
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Through => return Verdict::Pass,
                State::Held => return Verdict::Hold(i),
                State::Length(left) => {
                    let take = left.min((bytes.len() - i) as u64);
                    i += take as usize;
                    if take == left {
                        self.next_message();
                    } else {
                        self.state = State::Length(left - take);
                    }
                    continue;
                }
                State::ChunkData(left) => {
                    let take = left.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == left {
                        State::ChunkDataCr
                    } else {
                        State::ChunkData(left - take)
                    };
                    continue;
                }
                State::Start | State::Preface(0) => {
                    start = i;
                    // The fast path of plain GET heads.
                    if self.state == State::Start && bytes[i..].starts_with(b"GET /") {
                        self.method[..3].copy_from_slice(b"GET");
                        self.method_len = 3;
                        self.line = 5;
                        self.state = State::Target;
                        i += 5;
                        continue;
                    }
                }
                State::FieldLf if bytes[i] == b'\n' && self.field.is_plain() => {
                    // The end of a field nothing looks into.
                    self.fields += 1;
                    self.state = State::LineStart;
                    i += 1;
                    continue;
                }
                State::Target => {
                    // The fast path of plain heads: a run of target bytes.
                    let run = run_of(&bytes[i..], 0x21, is_target_byte);
                    self.line += run;
                    i += run;
                    if bytes.get(i) == Some(&b' ') {
                        self.line += 1;
                        self.state = State::Version(0);
                        i += 1;
                    }
                    if let Err(refusal) = self.check_line() {
                        return Verdict::Refuse { start, refusal };
                    }
                    if run > 0 || self.state != State::Target {
                        continue;
                    }
                }
                State::LineStart if !self.flags.has(Flags::TRAILERS) => {
                    let before = i;
                    if let Err(refusal) = self.field_lines(bytes, &mut i) {
                        return Verdict::Refuse { start, refusal };
                    }
                    if i > before {
                        continue;
                    }
                }
                // Field values nothing looks into, and names: in runs.
                State::ValueStart | State::Value if self.field.is_plain() => {
                    let run = run_of(&bytes[i..], 0x20, is_value_byte);
                    if run > 0 {
                        self.state = State::Value;
                        self.line += run;
                        i += run;
                        if let Err(refusal) = self.check_field_line() {
                            return Verdict::Refuse { start, refusal };
                        }
                        continue;
                    }
                }
                State::Name => {
                    let run = bytes[i..]
                        .iter()
                        .position(|&b| !is_tchar(b))
                        .unwrap_or(bytes.len() - i);
                    if run > 0 {
                        for &b in &bytes[i..i + run] {
                            if self.name_len < NAME_CAP {
                                self.name[self.name_len] = b.to_ascii_lowercase();
                            }
                            self.name_len += 1;
                        }
                        self.line += run;
                        i += run;
                        if let Err(refusal) = self.check_field_line() {
                            return Verdict::Refuse { start, refusal };
                        }
                        continue;
                    }
                }
                State::Version(0) if bytes.len() - i >= 10 && bytes[i..i + 7] == *b"HTTP/1." => {
                    // The fast path of a whole `HTTP/1.x CRLF`.
                    let minor = bytes[i + 7];
                    if matches!(minor, b'0' | b'1') && bytes[i + 8..i + 10] == *b"\r\n" {
                        self.line += 8;
                        if let Err(refusal) = self.check_line() {
                            return Verdict::Refuse { start, refusal };
                        }
                        if minor == b'0' {
                            self.flags.set(Flags::HTTP10);
                        }
                        self.state = State::LineStart;
                        i += 10;
                        continue;
                    }
                }
                _ => {}
            }
            if let Err(refusal) = self.byte(bytes[i]) {
                return Verdict::Refuse { start, refusal };
            }
            i += 1;
        }
        if self.state == State::Held {
            return Verdict::Hold(bytes.len());
        }
        Verdict::Pass
    }

    /// The fast path of field lines, from the start of one: whole lines
    /// of fields nothing looks into, and the blank line, in runs. Returns
    /// with the state right wherever it stops; the byte-at-a-time path
    /// goes on from there.
    #[inline]
    fn field_lines(&mut self, bytes: &[u8], i: &mut usize) -> Result<(), Refusal> {
        loop {
            let rest = &bytes[*i..];
            if rest.starts_with(b"\r\n") {
                *i += 2;
                return self.head_end();
            }
            match rest.first() {
                Some(&b) if is_tchar(b) => {}
                _ => return Ok(()),
            }
            if self.limits.request_fields > 0 && self.fields >= self.limits.request_fields {
                // The slow path says so.
                return Ok(());
            }
            let name = rest.iter().position(|&b| !is_tchar(b)).unwrap_or(rest.len());
            self.name_len = name;
            let kept = name.min(NAME_CAP);
            for (to, from) in self.name[..kept].iter_mut().zip(&rest[..kept]) {
                *to = from.to_ascii_lowercase();
            }
            self.line = name;
            self.state = State::Name;
            self.check_field_line()?;
            *i += name;
            if bytes.get(*i) != Some(&b':') {
                return Ok(());
            }
            *i += 1;
            self.line += 1;
            self.check_field_line()?;
            self.field_begins()?;
            self.state = State::ValueStart;
            if !self.field.is_plain() {
                return Ok(());
            }
            let run = run_of(&bytes[*i..], 0x20, is_value_byte);
            if run > 0 {
                self.state = State::Value;
                self.line += run;
                *i += run;
                self.check_field_line()?;
            }
            if !bytes[*i..].starts_with(b"\r\n") {
                return Ok(());
            }
            *i += 2;
            self.fields += 1;
            self.state = State::LineStart;
        }
    }

    fn next_message(&mut self) {
        self.state = State::Start;
        self.flags = Flags::default();
        self.line = 0;
        self.fields = 0;
        self.method_len = 0;
        self.content_length = 0;
    }

    /// One byte of a head, a chunk-size line or trailers.
    fn byte(&mut self, b: u8) -> Result<(), Refusal> {
        match self.state {
            State::Preface(pos) => {
                let pos = usize::from(pos);
                if b == H2_PREFACE[pos] {
                    self.state = if pos + 1 == H2_PREFACE.len() {
                        State::Through
                    } else {
                        State::Preface((pos + 1) as u8)
                    };
                    return Ok(());
                }
                // Not HTTP/2 after all: what matched so far is the start of
                // an HTTP/1 request.
                self.state = State::Start;
                for &early in &H2_PREFACE[..pos] {
                    self.byte(early)?;
                }
                self.byte(b)
            }
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
            State::StartLf => match b {
                b'\n' => {
                    self.state = State::Start;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR before the request line")),
            },
            State::Method => match b {
                b' ' => {
                    match self.method() {
                        b"OPTIONS" => self.flags.set(Flags::OPTIONS),
                        b"CONNECT" => self.flags.set(Flags::CONNECT),
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
                if self.flags.has(Flags::CONNECT) {
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
                    b'*' if self.flags.has(Flags::OPTIONS) => {
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
            State::Version(pos) => self.version_byte(pos, b),
            State::RequestLineLf => match b {
                b'\n' => {
                    self.state = State::LineStart;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR in the request line")),
            },
            State::LineStart => match b {
                b'\r' => {
                    self.state = State::HeadEndLf;
                    Ok(())
                }
                // RFC 9112 §5.2: obsolete line folding, refused.
                b' ' | b'\t' if self.fields > 0 => Err(Refusal::bad_request("Obsolete line folding")),
                b' ' | b'\t' => Err(Refusal::bad_request("Whitespace before the first header field")),
                b':' => Err(Refusal::bad_request("Empty header field name")),
                _ if is_tchar(b) => {
                    if self.limits.request_fields > 0 && self.fields >= self.limits.request_fields {
                        return Err(Refusal {
                            status: 431,
                            reason: format!("More than {} header fields", self.limits.request_fields),
                        });
                    }
                    self.state = State::Name;
                    self.line = 0;
                    self.name_len = 0;
                    self.name_byte(b)
                }
                b'\n' => Err(Refusal::bad_request("Bare LF line ending")),
                _ => Err(Refusal::bad_request("Invalid header field name")),
            },
            State::HeadEndLf => match b {
                b'\n' => self.head_end(),
                _ => Err(Refusal::bad_request("Bare CR in the head")),
            },
            State::Name => match b {
                b':' => {
                    self.field_line_byte()?;
                    self.field_begins()?;
                    self.state = State::ValueStart;
                    Ok(())
                }
                // RFC 9112 §5.1: no whitespace between name and colon.
                b' ' | b'\t' => Err(Refusal::bad_request(
                    "Whitespace before the colon of a header field",
                )),
                _ if is_tchar(b) => self.name_byte(b),
                _ => Err(Refusal::bad_request("Invalid header field name")),
            },
            State::ValueStart | State::Value => match b {
                b'\r' => {
                    self.state = State::FieldLf;
                    Ok(())
                }
                b' ' | b'\t' if self.state == State::ValueStart => self.field_line_byte(),
                // RFC 9110 §5.5: field-vchar, SP, HTAB; no other control.
                b'\t' | b' '..=0x7e | 0x80..=0xff => {
                    self.state = State::Value;
                    self.field_line_byte()?;
                    self.value_byte(b)
                }
                _ => Err(Refusal::bad_request("Invalid character in a header field value")),
            },
            State::FieldLf => match b {
                b'\n' => {
                    self.field_ends()?;
                    self.fields += 1;
                    self.state = State::LineStart;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR in a header field")),
            },
            State::ChunkSizeStart => match hex(b) {
                Some(d) => {
                    self.chunk = u64::from(d);
                    self.line = 1;
                    self.state = State::ChunkSize;
                    Ok(())
                }
                None => Err(Refusal::bad_request("Invalid chunk size")),
            },
            State::ChunkSize => {
                self.chunk_line_byte()?;
                match b {
                    b'\r' => {
                        self.state = State::ChunkSizeLf;
                        Ok(())
                    }
                    b';' => {
                        self.state = State::ChunkExt;
                        Ok(())
                    }
                    // BWS before an extension (RFC 9112 §7.1.1); what
                    // follows decides.
                    b' ' | b'\t' => {
                        self.state = State::ChunkSizeBws;
                        Ok(())
                    }
                    _ => match hex(b) {
                        Some(d) if self.chunk >> 60 == 0 => {
                            self.chunk = self.chunk << 4 | u64::from(d);
                            Ok(())
                        }
                        Some(_) => Err(Refusal::bad_request("Chunk size too large")),
                        None => Err(Refusal::bad_request("Invalid chunk size")),
                    },
                }
            }
            State::ChunkSizeBws => {
                self.chunk_line_byte()?;
                match b {
                    b' ' | b'\t' => Ok(()),
                    b';' => {
                        self.state = State::ChunkExt;
                        Ok(())
                    }
                    _ => Err(Refusal::bad_request("Whitespace after a chunk size")),
                }
            }
            State::ChunkExt => {
                self.chunk_line_byte()?;
                match b {
                    b'\r' => {
                        self.state = State::ChunkSizeLf;
                        Ok(())
                    }
                    b'\t' | b' '..=0x7e | 0x80..=0xff => Ok(()),
                    _ => Err(Refusal::bad_request("Invalid character in a chunk extension")),
                }
            }
            State::ChunkSizeLf => match b {
                b'\n' if self.chunk == 0 => {
                    self.flags.set(Flags::TRAILERS);
                    self.fields = 0;
                    self.state = State::LineStart;
                    Ok(())
                }
                b'\n' => {
                    self.state = State::ChunkData(self.chunk);
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR in a chunk size line")),
            },
            State::ChunkDataCr => match b {
                b'\r' => {
                    self.state = State::ChunkDataLf;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Chunk data longer than its size")),
            },
            State::ChunkDataLf => match b {
                b'\n' => {
                    self.state = State::ChunkSizeStart;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR after chunk data")),
            },
            State::Length(_) | State::ChunkData(_) | State::Held | State::Through => Ok(()),
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

    /// Counts a byte of the request line against `limit_request_line`,
    /// counted as Gunicorn does: the line without its CRLF.
    fn line_byte(&mut self) -> Result<(), Refusal> {
        self.line += 1;
        self.check_line()
    }

    fn check_line(&self) -> Result<(), Refusal> {
        let limit = self.limits.request_line;
        if limit > 0 && self.line > limit {
            return Err(Refusal {
                status: 414,
                reason: format!("Request line too long: the limit is {limit} bytes"),
            });
        }
        Ok(())
    }

    fn version_byte(&mut self, pos: u8, b: u8) -> Result<(), Refusal> {
        const VERSION: &[u8] = b"HTTP/1.";
        let pos = usize::from(pos);
        if pos == 8 {
            // The line is measured without its CRLF.
            return match b {
                b'\r' => {
                    self.state = State::RequestLineLf;
                    self.version_check()
                }
                b'\n' => Err(Refusal::bad_request("Bare LF line ending")),
                _ => Err(Refusal::bad_request("Invalid HTTP version")),
            };
        }
        self.line_byte()?;
        // The request line is METHOD SP target SP HTTP/d.d CRLF.
        match pos {
            0..=4 if b == VERSION[pos] => {}
            0..=4 => return Err(Refusal::bad_request("Invalid HTTP version")),
            5 | 7 if b.is_ascii_digit() => {}
            6 if b == b'.' => {}
            _ => return Err(Refusal::bad_request("Invalid HTTP version")),
        }
        // Keep the two digits in `chunk`, unused in a head.
        if pos == 5 || pos == 7 {
            self.chunk = self.chunk << 8 | u64::from(b);
        }
        self.state = State::Version(pos as u8 + 1);
        Ok(())
    }

    fn version_check(&mut self) -> Result<(), Refusal> {
        let version = self.chunk;
        self.chunk = 0;
        match version.to_be_bytes() {
            [.., b'1', b'1'] => Ok(()),
            [.., b'1', b'0'] => {
                self.flags.set(Flags::HTTP10);
                Ok(())
            }
            _ => Err(Refusal {
                status: 505,
                reason: "Only versions 1.0 and 1.1 of HTTP are supported".to_string(),
            }),
        }
    }

    fn name_byte(&mut self, b: u8) -> Result<(), Refusal> {
        if self.name_len < NAME_CAP {
            self.name[self.name_len] = b.to_ascii_lowercase();
        }
        self.name_len += 1;
        self.field_line_byte()
    }

    /// Counts a byte of a field line against `limit_request_field_size`,
    /// counted as Gunicorn does: the line as sent plus its CRLF.
    fn field_line_byte(&mut self) -> Result<(), Refusal> {
        self.line += 1;
        self.check_field_line()
    }

    /// The field line so far against `limit_request_field_size`.
    #[inline]
    fn check_field_line(&self) -> Result<(), Refusal> {
        let limit = self.limits.request_field_size;
        if limit > 0 && self.line + 2 > limit {
            return Err(self.field_too_long());
        }
        Ok(())
    }

    #[cold]
    fn field_too_long(&self) -> Refusal {
        Refusal {
            status: 431,
            reason: format!(
                "Header field {} too long: the limit is {} bytes",
                String::from_utf8_lossy(&self.name[..self.name_len.min(NAME_CAP)]),
                self.limits.request_field_size
            ),
        }
    }

    fn chunk_line_byte(&mut self) -> Result<(), Refusal> {
        self.line += 1;
        if self.line > MAX_CHUNK_LINE {
            return Err(Refusal::bad_request("Chunk extensions too long"));
        }
        Ok(())
    }

    /// The colon: which field this is, and the rules on its name.
    fn field_begins(&mut self) -> Result<(), Refusal> {
        let name = if self.name_len <= NAME_CAP {
            &self.name[..self.name_len]
        } else {
            &[][..]
        };
        self.field = match name {
            b"host" => Field::Host,
            b"content-length" => Field::ContentLength,
            b"transfer-encoding" => Field::TransferEncoding,
            b"content-type" => Field::ContentType,
            b"connection" => Field::Connection,
            b"upgrade" => Field::Upgrade,
            b"authorization"
            | b"proxy-authorization"
            | b"cookie"
            | b"set-cookie"
            | b"trailer"
            | b"te"
            | b"content-encoding"
            | b"content-range"
            | b"content-location"
            | b"cache-control"
            | b"expect"
            | b"max-forwards"
            | b"pragma"
            | b"range"
            | b"if-match"
            | b"if-none-match"
            | b"if-modified-since"
            | b"if-unmodified-since"
            | b"if-range"
            | b"age"
            | b"expires"
            | b"date"
            | b"location"
            | b"retry-after"
            | b"vary"
            | b"warning"
            | b"www-authenticate"
            | b"proxy-authenticate"
            | b"keep-alive"
            | b"proxy-connection" => Field::NotInTrailers,
            _ => Field::Other,
        };
        if self.flags.has(Flags::TRAILERS) && self.field != Field::Other {
            // RFC 9110 §6.5.1: a trailer must not carry what frames,
            // routes or authenticates the message, or modifies the request.
            return Err(Refusal::bad_request("Header field not allowed in trailers"));
        }
        let once = |flags: &mut Flags, fact: Flags, what: &str| {
            if flags.set_once(fact) {
                Ok(())
            } else {
                Err(Refusal::bad_request(what))
            }
        };
        match self.field {
            // RFC 9110 §7.2, §8.3: a single Host, a single Content-Type.
            Field::Host => once(&mut self.flags, Flags::HOST, "More than one Host header field")?,
            Field::ContentType => once(
                &mut self.flags,
                Flags::CONTENT_TYPE,
                "More than one Content-Type header field",
            )?,
            // RFC 9112 §6.3: a repeated Content-Length is refused, even
            // with equal values, as Gunicorn does.
            Field::ContentLength => {
                once(
                    &mut self.flags,
                    Flags::CONTENT_LENGTH,
                    "More than one Content-Length header field",
                )?;
                self.flags.clear(Flags::CL_DONE | Flags::CL_DIGIT);
            }
            Field::TransferEncoding => {
                // RFC 9112 §6.1: no transfer coding in HTTP/1.0.
                if self.flags.has(Flags::HTTP10) {
                    return Err(Refusal::bad_request("Transfer-Encoding in an HTTP/1.0 request"));
                }
                self.flags.set(Flags::TRANSFER_ENCODING);
                self.coding_len = 0;
            }
            Field::Connection => self.token = 0,
            Field::Upgrade => self.flags.set(Flags::UPGRADE),
            _ => {}
        }
        Ok(())
    }

    fn value_byte(&mut self, b: u8) -> Result<(), Refusal> {
        match self.field {
            Field::ContentLength => match b {
                b'0'..=b'9' if !self.flags.has(Flags::CL_DONE) => {
                    self.content_length = self
                        .content_length
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(b - b'0')))
                        .ok_or_else(|| Refusal::bad_request("Content-Length too large"))?;
                    self.flags.set(Flags::CL_DIGIT);
                    Ok(())
                }
                b' ' | b'\t' if self.flags.has(Flags::CL_DIGIT) => {
                    self.flags.set(Flags::CL_DONE);
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Invalid Content-Length")),
            },
            Field::TransferEncoding => match b {
                b',' => self.coding_ends(),
                b' ' | b'\t' => {
                    // Whitespace ends a coding; only a comma or the end of
                    // the line may follow it.
                    if self.coding_len > 0 {
                        self.coding_ends()?;
                        self.coding_len = usize::MAX;
                    }
                    Ok(())
                }
                _ if self.coding_len == usize::MAX => Err(Refusal::bad_request("Invalid Transfer-Encoding")),
                _ if is_tchar(b) => {
                    if self.coding_len < self.coding.len() {
                        self.coding[self.coding_len] = b.to_ascii_lowercase();
                    }
                    self.coding_len += 1;
                    Ok(())
                }
                // Parameters (`;`) and anything else: not a coding rg knows.
                _ => {
                    self.flags.set(Flags::OTHER_CODING);
                    self.coding_len = 0;
                    self.flags.clear(Flags::LAST_CHUNKED);
                    Ok(())
                }
            },
            Field::Connection => {
                const UPGRADE_TOKEN: &[u8] = b"upgrade";
                match b {
                    b',' | b' ' | b'\t' => {
                        if self.token == UPGRADE_TOKEN.len() {
                            self.flags.set(Flags::CONNECTION_UPGRADE);
                        }
                        self.token = 0;
                    }
                    _ if self.token < UPGRADE_TOKEN.len()
                        && b.to_ascii_lowercase() == UPGRADE_TOKEN[self.token] =>
                    {
                        self.token += 1;
                    }
                    _ => self.token = usize::MAX / 2,
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The end of a transfer coding in a Transfer-Encoding value.
    fn coding_ends(&mut self) -> Result<(), Refusal> {
        match self.coding_len {
            // Empty list elements are ignored (RFC 9110 §5.6.1).
            0 | usize::MAX => {}
            7 if &self.coding[..7] == b"chunked" => {
                if self.flags.has(Flags::CHUNKED_SEEN) {
                    self.flags.set(Flags::CHUNKED_TWICE);
                }
                self.flags.set(Flags::CHUNKED_SEEN | Flags::LAST_CHUNKED);
            }
            _ => {
                self.flags.set(Flags::OTHER_CODING);
                self.flags.clear(Flags::LAST_CHUNKED);
            }
        }
        self.coding_len = 0;
        Ok(())
    }

    /// The end of a field line.
    fn field_ends(&mut self) -> Result<(), Refusal> {
        match self.field {
            Field::ContentLength if !self.flags.has(Flags::CL_DIGIT) => {
                Err(Refusal::bad_request("Invalid Content-Length"))
            }
            Field::TransferEncoding => {
                if self.coding_len != usize::MAX {
                    self.coding_ends()?;
                }
                self.coding_len = 0;
                Ok(())
            }
            Field::Connection => {
                if self.token == b"upgrade".len() {
                    self.flags.set(Flags::CONNECTION_UPGRADE);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The blank line: the head (or the trailers) is complete; how is the
    /// body framed?
    fn head_end(&mut self) -> Result<(), Refusal> {
        self.heads = self.heads.wrapping_add(1);
        let flags = self.flags;
        if flags.has(Flags::TRAILERS) {
            self.next_message();
            return Ok(());
        }
        // RFC 9112 §3.2: a client MUST send Host in HTTP/1.1.
        if !flags.has_any(Flags::HOST | Flags::HTTP10) {
            return Err(Refusal::bad_request("Missing Host header field"));
        }
        if flags.has(Flags::TRANSFER_ENCODING) {
            // RFC 9112 §6.1, §6.3: both framings is a smuggling attempt.
            if flags.has(Flags::CONTENT_LENGTH) {
                return Err(Refusal::bad_request("Both Content-Length and Transfer-Encoding"));
            }
            if flags.has(Flags::CHUNKED_TWICE) {
                return Err(Refusal::bad_request("Transfer-Encoding chunked more than once"));
            }
            if !flags.has(Flags::LAST_CHUNKED) {
                return Err(Refusal::bad_request(
                    "Transfer-Encoding whose final coding is not chunked",
                ));
            }
            if flags.has(Flags::OTHER_CODING) {
                return Err(Refusal {
                    status: 501,
                    reason: "Transfer codings other than chunked are not supported".to_string(),
                });
            }
            self.state = State::ChunkSizeStart;
            return Ok(());
        }
        if flags.has(Flags::CONTENT_LENGTH) && self.content_length > 0 {
            self.state = State::Length(self.content_length);
            if !flags.has_any(Flags::UPGRADE | Flags::CONNECT) {
                return Ok(());
            }
            // A switch with a body: validate the body as HTTP, then hold.
            // Rare enough to refuse rather than track.
            return Err(Refusal::bad_request("A request to switch protocols with a body"));
        }
        if flags.has(Flags::CONNECT) || flags.has(Flags::UPGRADE | Flags::CONNECTION_UPGRADE) {
            self.state = State::Held;
            return Ok(());
        }
        self.next_message();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
