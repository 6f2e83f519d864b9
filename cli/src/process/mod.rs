//! The processes both servers run: the listening sockets they hold, whom
//! a child runs as, starting one with the sockets and its settings, its
//! sd_notify messages, and how it ended, in words.

pub mod exit;
pub mod notifications;
pub mod owner;
pub mod sockets;
pub mod spawn;
