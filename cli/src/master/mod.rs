//! `rg serve`'s master: binds the sockets once, starts the workers with
//! exec, and supervises them the way Gunicorn's arbiter does.
//!
//! `policy.rs` decides, and only decides: what to do when a worker is
//! ready, silent, recycled or gone, on each signal and as time passes. It
//! is pure state and returns actions, so its rules are tested with a fake
//! clock and no processes.
//!
//! `driver.rs` is the master's event loop and all of its I/O: it turns
//! signals, notifications, exited children and a tick into events for the
//! policy, re-reads the configuration on HUP, and carries out the actions.
//!
//! The sockets, spawning and notifications it shares with `rg runserver`
//! are in `process/`.
//!
//! `pidfile.rs` writes the master's pid file and removes it on exit.
//!
//! `control.rs` serves `rg ctl` on the control socket.
//!
//! `upgrade.rs` is USR2: checking a new rg, then exec'ing it in place.

pub mod control;
pub mod driver;
pub mod metrics;
pub mod pidfile;
pub mod policy;
pub mod tls;
pub mod upgrade;
