//! Access log lines: Apache's combined format by default, any Apache-style
//! format string, or one JSON object per request.
//!
//! The format is parsed once at start-up into [`AccessFormat`]; each request
//! then only fills in an [`AccessRecord`], rendered straight into the
//! buffer of the access log's [`crate::logging::Sink`] (or, when the
//! application installed a `tracing` subscriber of its own, sent as an
//! event with the target [`crate::logging::ACCESS_TARGET`]).
//!
//! A line is written for every request: the helpers one file calls in
//! another are `#[inline]`, so the files cost no calls between them.

mod apache;
mod append;
mod dev;
mod escape;
mod format;
mod json;
mod record;
mod render;
mod time;

pub use format::{AccessFormat, COMBINED, COMMON, DIRECTIVES, Piece};
pub use record::AccessRecord;
pub use time::{clf_time, push_clf_time, rfc3339};
