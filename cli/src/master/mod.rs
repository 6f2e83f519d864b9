//! `rg serve`'s master: binds the sockets once, starts the workers with
//! exec, and supervises them the way Gunicorn's arbiter does.

pub mod arbiter;
pub mod exit;
pub mod notifications;
pub mod owner;
pub mod pidfile;
pub mod sockets;
pub mod spawn;
