//! The application: every request arrives here.
//!
//! It is a plain async function from a request to a response, the Rust twin
//! of WSGI's `application(environ, start_response)`. When the site grows
//! routes, return an axum `Router` from a function instead and pass that to
//! `rg::run` in main.rs:
//!
//! ```ignore
//! use rg::axum::{Router, routing::get};
//!
//! pub fn application() -> Router {
//!     Router::new().route("/", get(|| async { "Hello, world!\n" }))
//! }
//! ```

use rg::{IntoResponse, Request};

/// Answers every request with a greeting.
pub async fn application(_request: Request) -> impl IntoResponse {
    "Hello, world!\n"
}
