//! The code behind `rg-runtime`, the application interface of rg, which
//! re-exports all of it. Applications depend on `rg-runtime` (as `rg`),
//! never on this crate: the split lets `rg runserver` link this crate and
//! its dependencies into one shared library for dev builds (`rg-dylib`),
//! while release builds link them statically as before.

mod allocator;
mod application;
mod environ;
mod hot_patch;
mod layers;
mod panics;
mod run;
mod served;
mod server;
mod shutdown;
mod state;
mod stop;

pub use allocator::Allocator;
pub use application::{Application, IntoApplication, with_state};
pub use axum::extract::Request;
pub use axum::response::{IntoResponse, Response};
pub use environ::{Environ, Scheme};
pub use run::run;
/// For the fuzz targets in `fuzz/`; not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use server::fuzz;
pub use shutdown::{Shutdown, on_shutdown, shutdown};

/// axum and tokio, which applications reach as `rg::axum` and `rg::tokio`.
/// rg-runtime re-exports them by name, so that its docs link to theirs
/// instead of inlining copies (through its glob, which rustdoc would, and
/// with them IntoApplication's hidden implementations).
#[doc(hidden)]
pub mod reexported {
    pub use axum;
    pub use tokio;
}

/// `rg::axum` for this crate's own doc examples (`extern crate rg_internal
/// as rg`): a hidden module rather than a re-export, because rustdoc shows a
/// re-export through rg-runtime's glob even when it is hidden.
#[doc(hidden)]
pub mod axum {
    pub use ::axum::*;
}
