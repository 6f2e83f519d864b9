//! `rg`: a development server and a production process manager for Rust web
//! applications, the way `manage.py runserver` and Gunicorn are for Python.
//!
//! One file per command (`new`, `runserver`, `serve`), each with its clap
//! `Args` and one `run`. `main` parses, dispatches, and prints an error chain
//! once, mapping failure to a non-zero exit code.

mod arbiter;
mod cargo;
mod error_page;
mod expr;
mod names;
mod new;
mod notifications;
mod owner;
mod pidfile;
mod progress;
mod reference;
mod runserver;
mod serve;
mod settings;
mod sockets;
mod spawn;
mod templates;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Develop and serve Rust web applications: `rg new`, `rg runserver`, `rg serve`.
#[derive(Debug, Parser)]
#[command(name = "rg", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    New(new::Args),
    Runserver(runserver::Args),
    #[command(hide = true)]
    Reference(reference::Args),
    Serve(Box<serve::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New(args) => new::run(args),
        Command::Runserver(args) => runserver::run(args),
        Command::Reference(args) => reference::run(args),
        Command::Serve(args) => serve::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error and its causes once, as `error: ...` then `  caused by: ...`.
fn report(error: &anyhow::Error) {
    let red = console::Style::new().red().bold().for_stderr();
    eprintln!("{} {error}", red.apply_to("error:"));
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
