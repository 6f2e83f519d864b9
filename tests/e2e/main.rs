//! End-to-end tests: the real `rg` binary, projects it generates built by
//! real cargo, real sockets and real signals. See `support` for the shared
//! parts; each file covers one command or contract.

mod cli;
mod new;
mod support;
mod worker;
