//! `rg runserver`'s parts: watching the project, the application process
//! it restarts, and the error page served while the build is broken.

pub mod app;
pub mod error_page;
pub mod hot;
pub mod page_server;
pub mod patches;
pub mod server;
pub mod start;
pub mod tls;
pub mod watch;
