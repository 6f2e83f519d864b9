//! The strict HTTP/1.x validator: what a client sends is checked as it arrives, keeping no copy, so
//! a request that hyper and a proxy could read two ways is refused before hyper reads it.
//!
//! One parser per part of a request (request line, field lines, chunked framing), each with its own
//! state; the `Validator` holds the phase between them and decides at the end of a head how the body
//! is framed. The rules and their reasons: the book's operations chapter, "What rg refuses at the door".

mod chars;
mod chunked;
mod field;
mod fields;
mod flags;
mod refusal;
mod request_line;

use rg_contract::settings::Limits;

use self::chunked::Chunked;
use self::fields::{Fields, Section};
use self::flags::Flags;
pub(crate) use self::refusal::Refusal;
use self::request_line::RequestLine;
use super::http2::PREFACE as H2_PREFACE;

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
    /// complete requests that may still go on. `head_went_on`: the refused
    /// request's head went on in an earlier slice (it is refused in its body),
    /// so the application may have been called for it.
    Refuse {
        start: usize,
        refusal: Refusal,
        head_went_on: bool,
    },
}

/// How far a part's parser got in the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Its part goes on: the bytes ran out, or it stopped where the
    /// validator looks again.
    More,
    /// Its part ended where it stopped.
    Done,
}

/// What part of the connection the next byte belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The connection's first bytes, while they may be the HTTP/2 preface:
    /// how many matched.
    Preface(u8),
    RequestLine,
    /// The field lines of a head.
    Head,
    /// A body of known length: bytes left.
    Length(u64),
    Chunked,
    /// The field lines after a chunked body.
    Trailers,
    /// Waiting for the response to a request that asked to switch
    /// protocols.
    Held,
    /// Not HTTP/1 any more (HTTP/2, or after a switch): everything passes.
    Through,
}

/// The validator of one connection.
#[derive(Debug)]
pub(crate) struct Validator {
    phase: Phase,
    /// What the request line and head of the current request said.
    flags: Flags,
    request_line: RequestLine,
    /// The head's field lines, then the trailers'.
    fields: Fields,
    chunked: Chunked,
    /// Heads (and trailer sections) seen to their end, wrapping.
    heads: u32,
}

impl Validator {
    /// A validator for a new connection. Zero limits are no limits.
    pub(crate) fn new(limits: Limits) -> Validator {
        Validator {
            phase: Phase::Preface(0),
            flags: Flags::default(),
            request_line: RequestLine::new(limits.request_line),
            fields: Fields::new(limits.request_fields, limits.request_field_size),
            chunked: Chunked::new(),
            heads: 0,
        }
    }

    /// A validator that passes everything (`strict_http` off).
    pub(crate) fn off() -> Validator {
        Validator {
            phase: Phase::Through,
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
        self.phase == Phase::Through
    }

    /// Whether the validator waits for the response to a request that
    /// asked to switch protocols.
    pub(crate) fn is_held(&self) -> bool {
        self.phase == Phase::Held
    }

    /// Whether the validator is in a body or its trailers: a refusal
    /// there comes after hyper may have called the application.
    pub(crate) fn in_body(&self) -> bool {
        matches!(self.phase, Phase::Length(_) | Phase::Chunked | Phase::Trailers)
    }

    /// How many heads (and trailer sections) have ended, wrapping: a
    /// change means a request is whole.
    pub(crate) fn heads(&self) -> u32 {
        self.heads
    }

    /// The method of the request being read, for the access log of a
    /// refusal; empty when none was read yet.
    pub(crate) fn method(&self) -> &[u8] {
        self.request_line.method()
    }

    /// After [`Verdict::Hold`]: the response's status decides what the
    /// following bytes are. A switch (101, or 2xx to CONNECT) makes them
    /// another protocol, passed untouched; anything else means the
    /// connection stays HTTP/1 and they are validated as requests.
    pub(crate) fn switched(&mut self, status: u16) {
        debug_assert!(self.is_held());
        let switch = status == 101 || (self.flags.has(Flags::CONNECT) && (200..300).contains(&status));
        if switch {
            self.phase = Phase::Through;
        } else {
            self.next_message();
        }
    }

    /// Validates `bytes`, the next bytes of the connection.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Verdict {
        let mut start = 0;
        let mut began = false;
        let mut i = 0;
        while i < bytes.len() {
            let read = match self.phase {
                Phase::Through => return Verdict::Pass,
                Phase::Held => return Verdict::Hold(i),
                Phase::Preface(matched) => {
                    if matched == 0 {
                        (start, began) = (i, true);
                    }
                    self.preface(usize::from(matched), bytes, &mut i)
                }
                Phase::RequestLine => {
                    if self.request_line.at_start() {
                        (start, began) = (i, true);
                    }
                    self.read_request_line(bytes, &mut i)
                }
                Phase::Head | Phase::Trailers => self.read_fields(bytes, &mut i),
                Phase::Length(left) => {
                    self.skip_body(left, bytes, &mut i);
                    Ok(())
                }
                Phase::Chunked => self.read_chunked(bytes, &mut i),
            };
            if let Err(refusal) = read {
                let head_went_on = !began && self.in_body();
                return Verdict::Refuse {
                    start,
                    refusal,
                    head_went_on,
                };
            }
        }
        if self.phase == Phase::Held {
            return Verdict::Hold(bytes.len());
        }
        Verdict::Pass
    }

    /// The request line; the head follows it.
    #[inline(always)]
    fn read_request_line(&mut self, bytes: &[u8], i: &mut usize) -> Result<(), Refusal> {
        if self.request_line.feed(bytes, i, &mut self.flags)? == Progress::Done {
            self.phase = Phase::Head;
            self.fields.begin(Section::Head);
        }
        Ok(())
    }

    /// The field lines of the head, which decide the framing, or of the
    /// trailers, which end the request.
    #[inline(always)]
    fn read_fields(&mut self, bytes: &[u8], i: &mut usize) -> Result<(), Refusal> {
        if self.fields.feed(bytes, i, &mut self.flags)? == Progress::Done {
            if self.phase == Phase::Head {
                return self.head_ends();
            }
            self.heads = self.heads.wrapping_add(1);
            self.next_message();
        }
        Ok(())
    }

    /// Bytes of a body of known length, `left` of it: skipped.
    #[inline(always)]
    fn skip_body(&mut self, left: u64, bytes: &[u8], i: &mut usize) {
        let take = left.min((bytes.len() - *i) as u64);
        *i += take as usize;
        if take == left {
            self.next_message();
        } else {
            self.phase = Phase::Length(left - take);
        }
    }

    /// A chunked body; trailers follow its last chunk.
    #[inline(always)]
    fn read_chunked(&mut self, bytes: &[u8], i: &mut usize) -> Result<(), Refusal> {
        if self.chunked.feed(bytes, i)? == Progress::Done {
            self.phase = Phase::Trailers;
            self.fields.begin(Section::Trailers);
        }
        Ok(())
    }

    /// The connection's first bytes against the HTTP/2 preface, `matched`
    /// of it so far: the whole preface makes the connection HTTP/2; a
    /// difference makes what matched the start of an HTTP/1 request.
    fn preface(&mut self, matched: usize, bytes: &[u8], i: &mut usize) -> Result<(), Refusal> {
        let want = &H2_PREFACE[matched..];
        let n = want.len().min(bytes.len() - *i);
        let same = want[..n]
            .iter()
            .zip(&bytes[*i..])
            .take_while(|(a, b)| a == b)
            .count();
        *i += same;
        let matched = matched + same;
        if matched == H2_PREFACE.len() {
            self.phase = Phase::Through;
        } else if same == n {
            self.phase = Phase::Preface(matched as u8);
        } else {
            self.phase = Phase::RequestLine;
            if matched > 0 {
                // Not HTTP/2 after all: what matched is read as HTTP/1.
                if let Verdict::Refuse { refusal, .. } = self.feed(&H2_PREFACE[..matched]) {
                    return Err(refusal);
                }
            }
        }
        Ok(())
    }

    /// The blank line: the head is complete; how is the body framed?
    fn head_ends(&mut self) -> Result<(), Refusal> {
        self.heads = self.heads.wrapping_add(1);
        let flags = self.flags;
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
            self.phase = Phase::Chunked;
            self.chunked.begin();
            return Ok(());
        }
        let length = self.fields.content_length();
        if flags.has(Flags::CONTENT_LENGTH) && length > 0 {
            self.phase = Phase::Length(length);
            if !flags.has_any(Flags::UPGRADE | Flags::CONNECT) {
                return Ok(());
            }
            // A switch with a body: validate the body as HTTP, then hold.
            // Rare enough to refuse rather than track.
            return Err(Refusal::bad_request("A request to switch protocols with a body"));
        }
        if flags.has(Flags::CONNECT) || flags.has(Flags::UPGRADE | Flags::CONNECTION_UPGRADE) {
            self.phase = Phase::Held;
            return Ok(());
        }
        self.next_message();
        Ok(())
    }

    fn next_message(&mut self) {
        self.phase = Phase::RequestLine;
        self.flags = Flags::default();
        self.request_line.reset();
    }
}

#[cfg(test)]
mod tests;
