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
//! `exit.rs` says how a process ended, in words, the same way for
//! `rg serve`'s workers and `rg runserver`'s application.
//!
//! `notifications.rs` receives the workers' sd_notify messages, with the
//! sender's pid vouched for by the kernel.
//!
//! `spawn.rs` starts one worker process with the sockets and its settings.
//!
//! `sockets.rs` binds the listening sockets once, for the master's life.
//!
//! `owner.rs` resolves the user and group workers run as.
//!
//! `pidfile.rs` writes the master's pid file and removes it on exit.
//!
//! `control.rs` serves `rg ctl` on the control socket.
//!
//! `upgrade.rs` is USR2: checking a new rg, then exec'ing it in place.

pub mod control;
pub mod driver;
pub mod exit;
pub mod metrics;
pub mod notifications;
pub mod owner;
pub mod pidfile;
pub mod policy;
pub mod sockets;
pub mod spawn;
pub mod upgrade;
