//! A stream that first gives back bytes read ahead of it (what followed a
//! PROXY header in the same read), then reads on from its socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// `inner`, with `ahead` to read first.
pub(crate) struct Rewind<T> {
    ahead: Vec<u8>,
    from: usize,
    inner: T,
}

impl<T> Rewind<T> {
    /// `inner` with nothing read ahead (no allocation).
    pub(crate) fn new(inner: T) -> Rewind<T> {
        Rewind::with_ahead(inner, Vec::new())
    }

    pub(crate) fn with_ahead(inner: T, ahead: Vec<u8>) -> Rewind<T> {
        Rewind {
            ahead,
            from: 0,
            inner,
        }
    }

    /// The stream with `read`, just read from it, to be read again first.
    pub(crate) fn give_back(mut self, mut read: Vec<u8>) -> Rewind<T> {
        read.extend_from_slice(&self.ahead[self.from..]);
        self.ahead = read;
        self.from = 0;
        self
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.from < this.ahead.len() {
            let n = (this.ahead.len() - this.from).min(buf.remaining());
            buf.put_slice(&this.ahead[this.from..this.from + n]);
            this.from += n;
            if this.from == this.ahead.len() {
                this.ahead = Vec::new();
                this.from = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

writes_through!(Rewind<T>);

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn the_bytes_read_ahead_come_first_then_the_socket() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = Rewind::with_ahead(server, b"GET / ".to_vec());
        client.write_all(b"HTTP/1.1\r\n").await.unwrap();
        drop(client);
        let mut all = String::new();
        stream.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1\r\n");
    }
}
