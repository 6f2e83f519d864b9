//! Field lines (RFC 9112 §5), of a head or of the trailers after a chunked
//! body: names, values and line ends, counted against Gunicorn's limits.

use super::Progress;
use super::chars::{is_tchar, is_value_byte, run_of, token_run};
use super::field::{Field, ValueReader};
use super::flags::Flags;
use super::refusal::Refusal;

/// Field names the validator recognises fit in this.
const NAME_CAP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Start of a field line (or of the blank line that ends the section).
    LineStart,
    /// The blank line's CR, LF expected.
    EndLf,
    Name,
    /// After the colon, before the value's first byte.
    ValueStart,
    Value,
    /// CR at the end of a field line, LF expected.
    Lf,
}

/// The section the field lines make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Head,
    Trailers,
}

/// The parser of one section of field lines.
#[derive(Debug)]
pub(super) struct Fields {
    state: State,
    section: Section,
    /// `limit_request_fields`; 0 is none.
    max_fields: usize,
    /// `limit_request_field_size`; 0 is none.
    max_field_size: usize,
    /// Bytes of the current field line, CRLF excluded.
    line: usize,
    /// Field lines so far in the section.
    fields: usize,
    /// The current field name as sent, up to `NAME_CAP` bytes.
    name: [u8; NAME_CAP],
    name_len: usize,
    field: Field,
    value: ValueReader,
}

impl Fields {
    pub(super) fn new(max_fields: usize, max_field_size: usize) -> Fields {
        Fields {
            state: State::LineStart,
            section: Section::Head,
            max_fields,
            max_field_size,
            line: 0,
            fields: 0,
            name: [0; NAME_CAP],
            name_len: 0,
            field: Field::Other,
            value: ValueReader::new(),
        }
    }

    /// Ready for the first line of a section.
    #[inline]
    pub(super) fn begin(&mut self, section: Section) {
        self.state = State::LineStart;
        self.section = section;
        self.fields = 0;
    }

    /// The head's Content-Length, when it has one.
    pub(super) fn content_length(&self) -> u64 {
        self.value.content_length()
    }

    /// Reads `bytes` from `*i` to the end of the section (`Done`, `*i` past
    /// the blank line) or of `bytes` (`More`). Records what the fields say
    /// about the message in `flags`.
    #[inline]
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        i: &mut usize,
        flags: &mut Flags,
    ) -> Result<Progress, Refusal> {
        while let Some(&b) = bytes.get(*i) {
            match self.state {
                State::LineStart if self.section == Section::Head => {
                    let before = *i;
                    if self.plain_lines(bytes, i, flags)? == Progress::Done {
                        return Ok(Progress::Done);
                    }
                    if *i > before {
                        continue;
                    }
                }
                State::Name => {
                    let run = token_run(&bytes[*i..]);
                    if run > 0 {
                        self.name_bytes(&bytes[*i..*i + run]);
                        self.line += run;
                        *i += run;
                        self.check_size()?;
                        continue;
                    }
                }
                // Values nothing looks into: in runs.
                State::ValueStart | State::Value if self.field.is_plain() => {
                    let run = run_of(&bytes[*i..], 0x20, false, is_value_byte);
                    if run > 0 {
                        self.state = State::Value;
                        self.line += run;
                        *i += run;
                        self.check_size()?;
                        continue;
                    }
                }
                State::Lf => {
                    *i += 1;
                    if b != b'\n' {
                        return Err(Refusal::bad_request("Bare CR in a header field"));
                    }
                    if !self.field.is_plain() {
                        self.value.end(self.field, flags)?;
                    }
                    self.fields += 1;
                    self.state = State::LineStart;
                    continue;
                }
                State::EndLf => {
                    *i += 1;
                    if b != b'\n' {
                        return Err(Refusal::bad_request("Bare CR in the head"));
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

    /// The fast path of a head, from the start of a line: whole lines of
    /// fields nothing looks into, and the blank line. Wherever it stops,
    /// the state is right for the byte-at-a-time path to go on.
    #[inline]
    fn plain_lines(&mut self, bytes: &[u8], i: &mut usize, flags: &mut Flags) -> Result<Progress, Refusal> {
        loop {
            let rest = &bytes[*i..];
            if rest.starts_with(b"\r\n") {
                *i += 2;
                return Ok(Progress::Done);
            }
            match rest.first() {
                Some(&b) if is_tchar(b) => {}
                _ => return Ok(Progress::More),
            }
            if self.max_fields > 0 && self.fields >= self.max_fields {
                // The byte-at-a-time path says so.
                return Ok(Progress::More);
            }
            let name = token_run(rest);
            self.name_len = 0;
            self.name_bytes(&rest[..name]);
            self.line = name;
            self.state = State::Name;
            self.check_size()?;
            *i += name;
            if bytes.get(*i) != Some(&b':') {
                return Ok(Progress::More);
            }
            *i += 1;
            self.line += 1;
            self.check_size()?;
            self.field_begins(flags)?;
            self.state = State::ValueStart;
            if !self.field.is_plain() {
                return Ok(Progress::More);
            }
            let run = run_of(&bytes[*i..], 0x20, false, is_value_byte);
            if run > 0 {
                self.state = State::Value;
                self.line += run;
                *i += run;
                self.check_size()?;
            }
            if !bytes[*i..].starts_with(b"\r\n") {
                return Ok(Progress::More);
            }
            *i += 2;
            self.fields += 1;
            self.state = State::LineStart;
        }
    }

    /// One byte of a field line, its line end aside.
    fn byte(&mut self, b: u8, flags: &mut Flags) -> Result<(), Refusal> {
        match self.state {
            State::LineStart => match b {
                b'\r' => {
                    self.state = State::EndLf;
                    Ok(())
                }
                // RFC 9112 §5.2: obsolete line folding, refused.
                b' ' | b'\t' if self.fields > 0 => Err(Refusal::bad_request("Obsolete line folding")),
                b' ' | b'\t' => Err(Refusal::bad_request("Whitespace before the first header field")),
                b':' => Err(Refusal::bad_request("Empty header field name")),
                _ if is_tchar(b) => {
                    if self.max_fields > 0 && self.fields >= self.max_fields {
                        return Err(self.too_many());
                    }
                    self.state = State::Name;
                    self.line = 1;
                    self.name_len = 0;
                    self.name_bytes(&[b]);
                    self.check_size()
                }
                b'\n' => Err(Refusal::bad_request("Bare LF line ending")),
                _ => Err(Refusal::bad_request("Invalid header field name")),
            },
            // Name bytes come in runs (`feed`); here is what ends them.
            State::Name => match b {
                b':' => {
                    self.line += 1;
                    self.check_size()?;
                    self.field_begins(flags)?;
                    self.state = State::ValueStart;
                    Ok(())
                }
                // RFC 9112 §5.1: no whitespace between name and colon.
                b' ' | b'\t' => Err(Refusal::bad_request(
                    "Whitespace before the colon of a header field",
                )),
                _ => Err(Refusal::bad_request("Invalid header field name")),
            },
            State::ValueStart | State::Value => match b {
                b'\r' => {
                    self.state = State::Lf;
                    Ok(())
                }
                b' ' | b'\t' if self.state == State::ValueStart => {
                    self.line += 1;
                    self.check_size()
                }
                // RFC 9110 §5.5: field-vchar, SP, HTAB; no other control.
                b'\t' | b' '..=0x7e | 0x80..=0xff => {
                    self.state = State::Value;
                    self.line += 1;
                    self.check_size()?;
                    self.value.byte(self.field, b, flags)
                }
                _ => Err(Refusal::bad_request("Invalid character in a header field value")),
            },
            // Line ends are `feed`'s.
            State::EndLf | State::Lf => Ok(()),
        }
    }

    /// Bytes of the name, kept as sent up to `NAME_CAP`.
    #[inline]
    fn name_bytes(&mut self, bytes: &[u8]) {
        let at = self.name_len.min(NAME_CAP);
        let kept = bytes.len().min(NAME_CAP - at);
        self.name[at..at + kept].copy_from_slice(&bytes[..kept]);
        self.name_len += bytes.len();
    }

    /// The colon: which field this is, and the rules on its name.
    fn field_begins(&mut self, flags: &mut Flags) -> Result<(), Refusal> {
        let name = if self.name_len <= NAME_CAP {
            &self.name[..self.name_len]
        } else {
            &[][..]
        };
        self.field = Field::named(name, self.section == Section::Trailers);
        if self.section == Section::Trailers && self.field != Field::Other {
            // RFC 9110 §6.5.1: a trailer must not carry what frames,
            // routes or authenticates the message, or modifies the request.
            return Err(Refusal::bad_request("Header field not allowed in trailers"));
        }
        self.value.begin(self.field, flags)
    }

    /// The field line so far against `limit_request_field_size`, counted
    /// as Gunicorn does: the line as sent plus its CRLF.
    #[inline]
    fn check_size(&self) -> Result<(), Refusal> {
        if self.max_field_size > 0 && self.line + 2 > self.max_field_size {
            return Err(self.too_long());
        }
        Ok(())
    }

    #[cold]
    fn too_long(&self) -> Refusal {
        Refusal {
            status: 431,
            reason: format!(
                "Header field {} too long: the limit is {} bytes",
                String::from_utf8_lossy(&self.name[..self.name_len.min(NAME_CAP)]).to_ascii_lowercase(),
                self.max_field_size
            ),
        }
    }

    #[cold]
    fn too_many(&self) -> Refusal {
        Refusal {
            status: 431,
            reason: format!("More than {} header fields", self.max_fields),
        }
    }
}
