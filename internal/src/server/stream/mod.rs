//! A connection's byte stream on its way to hyper, as layers that each do
//! one thing, composed in `connection.rs` (from the socket up):
//!
//! - [`proxy`]: the PROXY protocol handshake, before anything else reads;
//!   it hands back the stream rewound ([`rewind`]) and the client address.
//! - [`deadlines`]: how long a read or a write may wait; time, not HTTP.
//! - [`gate`]: the strict HTTP/1 validator's verdicts, holding bytes around
//!   a switch of protocols, and the refusal ([`refusal`]) written last.
//! - [`tracked`]: the slot, the drain and the metrics the connection holds.
//! - [`versions`]: with `http` set to 1 or 2, the version a cleartext
//!   connection starts with, checked before hyper; otherwise [`sniff`]
//!   tells the connection when that turns out to be HTTP/2.
//!
//! A new layer (TLS) is one more type here, not more fields on one.

/// `AsyncWrite` for a layer that only reads (`writes_through!(Layer<T>)`,
/// or `Layer<T, F>` with more parameters): writes go to `self.inner` as is.
macro_rules! writes_through {
    ($layer:ident<$t:ident $(, $more:ident)*>) => {
        impl<$t: tokio::io::AsyncWrite + Unpin $(, $more: Unpin)*> tokio::io::AsyncWrite for $layer<$t $(, $more)*> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bytes: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, bytes)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}

pub(super) mod deadlines;
pub(super) mod gate;
pub(super) mod proxy;
pub(super) mod refusal;
pub(super) mod rewind;
pub(super) mod sniff;
pub(super) mod tracked;
pub(super) mod versions;

use tokio::io::{AsyncRead, AsyncWrite};

/// What each layer's stream must be: a socket the connection's task owns.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}
