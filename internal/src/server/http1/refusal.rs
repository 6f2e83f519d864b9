//! What the validator answers when it refuses a request: a status, one
//! line of reason, and the whole response that closes the connection.

use std::fmt::Write as _;

/// What the validator refused, as a response: status and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 400, 408, 414, 431, 501 or 505.
    pub(crate) status: u16,
    /// One line of text, without its newline.
    pub(crate) reason: String,
}

impl Refusal {
    /// A 400 Bad Request.
    #[cold]
    pub(super) fn bad_request(reason: &str) -> Refusal {
        Refusal {
            status: 400,
            reason: reason.to_string(),
        }
    }

    /// The full response: status line, a short head that closes the
    /// connection, the reason as the body.
    pub(crate) fn response(&self) -> Vec<u8> {
        let phrase = match self.status {
            408 => "Request Timeout",
            414 => "URI Too Long",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            505 => "HTTP Version Not Supported",
            _ => "Bad Request",
        };
        let mut text = String::with_capacity(160 + self.reason.len());
        let _ = write!(
            text,
            "HTTP/1.1 {} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}\n",
            self.status,
            self.reason.len() + 1,
            self.reason
        );
        text.into_bytes()
    }
}
