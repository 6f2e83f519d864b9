//! `rg runserver`'s parts: watching the project, building it with cargo,
//! showing the build's progress, and the error page served while it is broken.

pub mod app;
pub mod cargo;
pub mod depinfo;
pub mod error_page;
pub mod progress;
pub mod project;
pub mod server;
pub mod shared_runtime;
pub mod start;
pub mod watch;
