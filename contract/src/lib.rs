//! The worker contract of rg, as code both sides link: the `rg` binary
//! (`rg serve`'s master, `rg runserver`) and the runtime inside every
//! application process.
//!
//! Everything here is an existing standard or a table: the one settings
//! schema ([`settings::SETTINGS`]) from which flags, `rg.toml`, the book's
//! reference and the worker's `RG_*` reader are all derived; bind addresses;
//! systemd's socket activation (`LISTEN_FDS`) and notification (`sd_notify`)
//! protocols; the log formats; exit codes. It has no web framework in it:
//! the `rg` binary needs this crate, not the runtime an application links.
//!
//! This crate is rg's plumbing, not an application's API: applications use
//! the runtime (`rg::run`).

pub mod access_log;
mod bind;
mod error;
pub mod hot_patch;
pub mod listeners;
pub mod live_reload;
pub mod logging;
pub mod notify;
pub mod open_files;
pub mod settings;
pub mod stats;
pub mod tls;

pub use bind::{Bind, DEFAULT_BIND};
pub use error::{EXIT_RUNTIME_FAILURE, EXIT_START_FAILURE, Error, describe_io};
