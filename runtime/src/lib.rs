//! The application interface of rg: one call that serves a Rust web
//! application the same way under `rg runserver`, `rg serve`, systemd, or
//! started by hand.
//!
//! ```no_run
//! # extern crate rg_runtime as rg;
//! use rg::{IntoResponse, Request};
//!
//! async fn application(_request: Request) -> impl IntoResponse {
//!     "Hello, world!\n"
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     rg::run(application)
//! }
//! ```
//!
//! (Projects depend on this crate under the name `rg`; `rg new` writes that
//! dependency.) [`run`] takes a plain `async fn`, an axum `Router`, or any
//! `tower::Service` (see [`IntoApplication`]) and reads everything else from
//! the environment: which sockets to serve (inherited through `LISTEN_FDS`,
//! or bound from `RG_BIND`), the `RG_*` settings listed in the book's
//! reference, whom to notify (`NOTIFY_SOCKET`). That environment is the
//! worker contract, described in the project's `ARCHITECTURE.md`; this
//! crate's public API is only what an application uses.

mod application;
mod environ;
mod layers;
mod run;
mod server;
mod shutdown;

pub use application::{Application, IntoApplication, SetupOutput, ViaHandler, ViaService, ViaSetup};
pub use axum;
pub use axum::extract::Request;
pub use axum::response::{IntoResponse, Response};
pub use environ::{Environ, Scheme};
/// The global allocator `rg new` writes into `main.rs`: mimalloc, built
/// without transparent huge pages (which doubled a worker's memory).
/// Measured side by side on one core against the system allocator: 4.5%
/// more requests per second on the book's guestbook (JSON from SQLite),
/// about 1% on a hello world, at the same memory per worker.
pub use mimalloc::MiMalloc;
pub use run::run;
pub use shutdown::{Shutdown, on_shutdown, shutdown};
pub use tokio;
