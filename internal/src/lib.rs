//! The code behind `rg-runtime`, the application interface of rg, which
//! re-exports all of it. Applications depend on `rg-runtime` (as `rg`),
//! never on this crate: the split lets `rg runserver` link this crate and
//! its dependencies into one shared library for dev builds (`rg-dylib`),
//! while release builds link them statically as before.

#[cfg(feature = "dynamic-linking")]
mod allocator;
mod application;
mod environ;
mod layers;
mod run;
mod server;
mod shutdown;

#[cfg(feature = "dynamic-linking")]
pub use allocator::MiMalloc;
pub use application::{Application, IntoApplication};
pub use axum;
pub use axum::extract::Request;
pub use axum::response::{IntoResponse, Response};
pub use environ::{Environ, Scheme};
/// The global allocator `rg new` writes into `main.rs`: mimalloc, built
/// without transparent huge pages (which doubled a worker's memory).
/// Measured side by side on one core against the system allocator: 4.5%
/// more requests per second on the book's guestbook (JSON from SQLite),
/// about 1% on a hello world, at the same memory per worker.
#[cfg(not(feature = "dynamic-linking"))]
pub use mimalloc::MiMalloc;
pub use run::run;
pub use shutdown::{Shutdown, on_shutdown, shutdown};
pub use tokio;
