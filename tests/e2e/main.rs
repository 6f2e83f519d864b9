//! End-to-end tests: the real `rg` binary, projects it generates built by
//! real cargo, real sockets and real signals. See `support` for the shared
//! parts; each file covers one command or contract.

// In tests a panic is the failure report, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adopt;
mod balancer;
mod book;
mod browser;
mod cli;
mod ctl;
mod database;
mod deploy;
mod differential;
mod faults;
mod http2;
mod http2_attacks;
mod new;
mod panics;
mod portable;
mod postgres;
mod runserver;
mod runserver_direct;
mod runserver_handovers;
mod runserver_hot;
mod serve;
mod serve_config;
mod serve_deploy;
mod serve_metrics;
mod serve_recycle;
mod slow_clients;
mod strict;
mod support;
mod tls;
mod tls_scan;
mod tools;
mod websocket;
mod worker;
mod workspace;
