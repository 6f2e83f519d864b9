//! Chunked framing (RFC 9112 §7.1): each chunk-size line is checked, the
//! data it announces skipped in one step; the last chunk leads to trailers.

use super::Progress;
use super::chars::hex;
use super::refusal::Refusal;

/// Longest chunk-size line (size, extensions) accepted, as hyper's own
/// bound on extensions keeps them from being a way to make a server work.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// First byte of a chunk-size line.
    SizeStart,
    Size,
    Extension,
    /// CR of a chunk-size line, LF expected.
    SizeLf,
    /// Chunk data: bytes left.
    Data(u64),
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
}

/// The context of one chunked body.
#[derive(Debug)]
pub(super) struct Chunked {
    state: State,
    /// The size of the chunk whose line is being read.
    size: u64,
    /// Bytes of the chunk-size line so far, CRLF excluded.
    line: usize,
}

impl Chunked {
    pub(super) fn new() -> Chunked {
        Chunked {
            state: State::SizeStart,
            size: 0,
            line: 0,
        }
    }

    /// Ready for the first chunk of a body.
    #[inline]
    pub(super) fn begin(&mut self) {
        self.state = State::SizeStart;
    }

    /// Reads `bytes` from `*i` to the end of the last chunk's size line
    /// (`Done`: trailers follow) or to the end of `bytes` (`More`).
    #[inline]
    pub(super) fn feed(&mut self, bytes: &[u8], i: &mut usize) -> Result<Progress, Refusal> {
        while let Some(&b) = bytes.get(*i) {
            match self.state {
                State::Data(left) => {
                    let take = left.min((bytes.len() - *i) as u64);
                    *i += take as usize;
                    self.state = if take == left {
                        State::DataCr
                    } else {
                        State::Data(left - take)
                    };
                }
                State::SizeLf => {
                    *i += 1;
                    if b != b'\n' {
                        return Err(Refusal::bad_request("Bare CR in a chunk size line"));
                    }
                    if self.size == 0 {
                        return Ok(Progress::Done);
                    }
                    self.state = State::Data(self.size);
                }
                _ => {
                    *i += 1;
                    self.byte(b)?;
                }
            }
        }
        Ok(Progress::More)
    }

    /// One byte of a chunk-size line or of the CRLF after chunk data.
    fn byte(&mut self, b: u8) -> Result<(), Refusal> {
        match self.state {
            State::SizeStart => match hex(b) {
                Some(digit) => {
                    self.size = u64::from(digit);
                    self.line = 1;
                    self.state = State::Size;
                    Ok(())
                }
                None => Err(Refusal::bad_request("Invalid chunk size")),
            },
            State::Size => {
                self.line_byte()?;
                match b {
                    b'\r' => {
                        self.state = State::SizeLf;
                        Ok(())
                    }
                    b';' => {
                        self.state = State::Extension;
                        Ok(())
                    }
                    // BWS before an extension is in RFC 9112's grammar, but
                    // senders must not send it, and h11 and llhttp refuse it.
                    b' ' | b'\t' => Err(Refusal::bad_request("Whitespace after a chunk size")),
                    _ => match hex(b) {
                        Some(digit) if self.size >> 60 == 0 => {
                            self.size = self.size << 4 | u64::from(digit);
                            Ok(())
                        }
                        Some(_) => Err(Refusal::bad_request("Chunk size too large")),
                        None => Err(Refusal::bad_request("Invalid chunk size")),
                    },
                }
            }
            State::Extension => {
                self.line_byte()?;
                match b {
                    b'\r' => {
                        self.state = State::SizeLf;
                        Ok(())
                    }
                    b'\t' | b' '..=0x7e | 0x80..=0xff => Ok(()),
                    _ => Err(Refusal::bad_request("Invalid character in a chunk extension")),
                }
            }
            State::DataCr => match b {
                b'\r' => {
                    self.state = State::DataLf;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Chunk data longer than its size")),
            },
            State::DataLf => match b {
                b'\n' => {
                    self.state = State::SizeStart;
                    Ok(())
                }
                _ => Err(Refusal::bad_request("Bare CR after chunk data")),
            },
            // Data and the size line's LF are `feed`'s.
            State::Data(_) | State::SizeLf => Ok(()),
        }
    }

    /// Counts a byte of the chunk-size line against `MAX_LINE`.
    #[inline]
    fn line_byte(&mut self) -> Result<(), Refusal> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(Refusal::bad_request("Chunk extensions too long"));
        }
        Ok(())
    }
}
