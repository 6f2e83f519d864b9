//! The code behind `rg-runtime`, the application interface of rg, which
//! re-exports all of it. Applications depend on `rg-runtime` (as `rg`),
//! never on this crate: the split lets `rg runserver` link this crate and
//! its dependencies into one shared library for dev builds (`rg-dylib`),
//! while release builds link them statically as before.

mod allocator;
mod application;
mod environ;
mod layers;
mod run;
mod server;
mod shutdown;

pub use allocator::Allocator;
pub use application::{Application, IntoApplication};
pub use axum;
pub use axum::extract::Request;
pub use axum::response::{IntoResponse, Response};
pub use environ::{Environ, Scheme};
pub use run::run;
pub use shutdown::{Shutdown, on_shutdown, shutdown};
pub use tokio;
