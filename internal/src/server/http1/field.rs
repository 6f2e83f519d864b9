//! The fields rg reads beyond their syntax: which field a name is, and
//! what the values of those that frame the body or switch protocols say.

use super::chars::is_tchar;
use super::flags::Flags;
use super::refusal::Refusal;

/// Which field a line holds, for the rules that need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
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
    /// The field called `name`, in any case. Only a trailer asks whether
    /// it is one the trailers may not carry: in a head that is `Other`.
    pub(super) fn named(name: &[u8], trailer: bool) -> Field {
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        match name.len() {
            4 if is(b"host") => Field::Host,
            14 if is(b"content-length") => Field::ContentLength,
            17 if is(b"transfer-encoding") => Field::TransferEncoding,
            12 if is(b"content-type") => Field::ContentType,
            10 if is(b"connection") => Field::Connection,
            7 if is(b"upgrade") => Field::Upgrade,
            _ if trailer && not_in_trailers(&name.to_ascii_lowercase()) => Field::NotInTrailers,
            _ => Field::Other,
        }
    }

    /// A field whose value the validator does not read.
    #[inline]
    pub(super) fn is_plain(self) -> bool {
        !matches!(
            self,
            Field::ContentLength | Field::TransferEncoding | Field::Connection
        )
    }
}

/// RFC 9110 §6.5.1: what a trailer must not carry (`name` lower case).
fn not_in_trailers(name: &[u8]) -> bool {
    matches!(
        name,
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
            | b"proxy-connection"
    )
}

/// How far a Content-Length value has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digits {
    None,
    Some,
    /// Whitespace after the digits: only more of it may follow.
    Ended,
}

/// `coding_len` once whitespace has ended a coding: only a comma or the
/// end of the line may follow.
const CODING_ENDED: usize = usize::MAX;

/// `token` once the Connection option being read cannot be `upgrade`.
const NOT_UPGRADE: usize = usize::MAX;

/// The reader of the values of the head's framing fields (Content-Length,
/// Transfer-Encoding) and of Connection; what they say goes in `Flags`.
#[derive(Debug)]
pub(super) struct ValueReader {
    /// The value of the Content-Length field (a head holds one at most).
    content_length: u64,
    digits: Digits,
    /// The transfer coding being read, lower-cased (8 bytes hold "chunked").
    coding: [u8; 8],
    coding_len: usize,
    /// In a Connection value: bytes of the current option matching "upgrade".
    token: usize,
}

impl ValueReader {
    pub(super) fn new() -> ValueReader {
        ValueReader {
            content_length: 0,
            digits: Digits::None,
            coding: [0; 8],
            coding_len: 0,
            token: 0,
        }
    }

    /// The Content-Length read, when the head has one.
    pub(super) fn content_length(&self) -> u64 {
        self.content_length
    }

    /// A field of the head begins: the rules on repeating it.
    #[inline]
    pub(super) fn begin(&mut self, field: Field, flags: &mut Flags) -> Result<(), Refusal> {
        let once = |flags: &mut Flags, fact: Flags, what: &str| {
            if flags.set_once(fact) {
                Ok(())
            } else {
                Err(Refusal::bad_request(what))
            }
        };
        match field {
            // RFC 9110 §7.2, §8.3: a single Host, a single Content-Type.
            Field::Host => once(flags, Flags::HOST, "More than one Host header field"),
            Field::ContentType => once(
                flags,
                Flags::CONTENT_TYPE,
                "More than one Content-Type header field",
            ),
            // RFC 9112 §6.3: a repeated Content-Length is refused, even
            // with equal values, as Gunicorn does.
            Field::ContentLength => {
                once(
                    flags,
                    Flags::CONTENT_LENGTH,
                    "More than one Content-Length header field",
                )?;
                self.content_length = 0;
                self.digits = Digits::None;
                Ok(())
            }
            Field::TransferEncoding => {
                // RFC 9112 §6.1: no transfer coding in HTTP/1.0.
                if flags.has(Flags::HTTP10) {
                    return Err(Refusal::bad_request("Transfer-Encoding in an HTTP/1.0 request"));
                }
                flags.set(Flags::TRANSFER_ENCODING);
                self.coding_len = 0;
                Ok(())
            }
            Field::Connection => {
                self.token = 0;
                Ok(())
            }
            Field::Upgrade => {
                flags.set(Flags::UPGRADE);
                Ok(())
            }
            Field::Other | Field::NotInTrailers => Ok(()),
        }
    }

    /// A byte of the value, leading whitespace excluded.
    pub(super) fn byte(&mut self, field: Field, b: u8, flags: &mut Flags) -> Result<(), Refusal> {
        match field {
            Field::ContentLength => self.length_byte(b),
            Field::TransferEncoding => self.coding_byte(b, flags),
            Field::Connection => {
                const UPGRADE: &[u8] = b"upgrade";
                match b {
                    b',' | b' ' | b'\t' => {
                        if self.token == UPGRADE.len() {
                            flags.set(Flags::CONNECTION_UPGRADE);
                        }
                        self.token = 0;
                    }
                    _ if self.token < UPGRADE.len() && b.to_ascii_lowercase() == UPGRADE[self.token] => {
                        self.token += 1;
                    }
                    _ => self.token = NOT_UPGRADE,
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The end of the field line.
    #[inline]
    pub(super) fn end(&mut self, field: Field, flags: &mut Flags) -> Result<(), Refusal> {
        match field {
            Field::ContentLength if self.digits == Digits::None => {
                Err(Refusal::bad_request("Invalid Content-Length"))
            }
            Field::TransferEncoding => {
                if self.coding_len != CODING_ENDED {
                    self.coding_ends(flags);
                }
                self.coding_len = 0;
                Ok(())
            }
            Field::Connection => {
                if self.token == b"upgrade".len() {
                    flags.set(Flags::CONNECTION_UPGRADE);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// RFC 9110 §8.6: digits, then nothing but the line's trailing whitespace.
    fn length_byte(&mut self, b: u8) -> Result<(), Refusal> {
        match b {
            b'0'..=b'9' if self.digits != Digits::Ended => {
                self.content_length = self
                    .content_length
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(b - b'0')))
                    .ok_or_else(|| Refusal::bad_request("Content-Length too large"))?;
                self.digits = Digits::Some;
                Ok(())
            }
            b' ' | b'\t' if self.digits != Digits::None => {
                self.digits = Digits::Ended;
                Ok(())
            }
            _ => Err(Refusal::bad_request("Invalid Content-Length")),
        }
    }

    /// A byte of a Transfer-Encoding list (RFC 9112 §6.1).
    fn coding_byte(&mut self, b: u8, flags: &mut Flags) -> Result<(), Refusal> {
        match b {
            b',' => {
                if self.coding_len != CODING_ENDED {
                    self.coding_ends(flags);
                }
                self.coding_len = 0;
            }
            // Whitespace ends a coding.
            b' ' | b'\t' if self.coding_len > 0 => {
                if self.coding_len != CODING_ENDED {
                    self.coding_ends(flags);
                }
                self.coding_len = CODING_ENDED;
            }
            b' ' | b'\t' => {}
            _ if self.coding_len == CODING_ENDED => {
                return Err(Refusal::bad_request("Invalid Transfer-Encoding"));
            }
            _ if is_tchar(b) => {
                if self.coding_len < self.coding.len() {
                    self.coding[self.coding_len] = b.to_ascii_lowercase();
                }
                self.coding_len += 1;
            }
            // Parameters (`;`) and anything else: not a coding rg knows.
            _ => {
                flags.set(Flags::OTHER_CODING);
                flags.clear(Flags::LAST_CHUNKED);
                self.coding_len = 0;
            }
        }
        Ok(())
    }

    /// The end of a transfer coding of `coding_len` bytes.
    fn coding_ends(&mut self, flags: &mut Flags) {
        match self.coding_len {
            // Empty list elements are ignored (RFC 9110 §5.6.1).
            0 => {}
            7 if &self.coding[..7] == b"chunked" => {
                if flags.has(Flags::CHUNKED_SEEN) {
                    flags.set(Flags::CHUNKED_TWICE);
                }
                flags.set(Flags::CHUNKED_SEEN | Flags::LAST_CHUNKED);
            }
            _ => {
                flags.set(Flags::OTHER_CODING);
                flags.clear(Flags::LAST_CHUNKED);
            }
        }
        self.coding_len = 0;
    }
}
