//! Starts {{name}}: hands the application to the rg runtime, which decides
//! the rest (sockets, threads, signals, logs) from its environment.

mod application;

fn main() -> std::process::ExitCode {
    rg::run(application::application)
}
