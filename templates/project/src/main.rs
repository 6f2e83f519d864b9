//! Starts {{name}}: hands the application to the rg runtime, which decides
//! the rest (sockets, threads, signals, logs) from its environment.

mod application;

// rg::Allocator, mimalloc, instead of the system allocator: more requests
// per second for the same memory (the book's Benchmarks chapter has the
// numbers). Delete these two lines to go back to the system's.
#[global_allocator]
static ALLOCATOR: rg::Allocator = rg::Allocator;

fn main() -> std::process::ExitCode {
    rg::run(application::application)
}
