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

// By name, not through the glob: the docs then link to axum's and tokio's
// own instead of inlining copies of both.
pub use rg_internal::reexported::{axum, tokio};
pub use rg_internal::*;

/// The name `rg new` wrote into `main.rs` before [`Allocator`]: projects
/// made then keep building.
#[doc(hidden)]
pub use rg_internal::Allocator as MiMalloc;

// `rg runserver`'s dev builds turn on `dynamic-linking`: this crate's code
// and every crate it depends on then come from one shared library,
// `rg-dylib`, so the rebuild after a save compiles and links the
// application's own code only. The `use` makes the application link it.
#[cfg(feature = "dynamic-linking")]
#[allow(unused_imports)]
use rg_dylib as _;
