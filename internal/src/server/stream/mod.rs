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
