//! `rg`: a development server and a production process manager for Rust web
//! applications, the way `manage.py runserver` and Gunicorn are for Python.
//!
//! The folders show the parts: `commands/` (one thin file per command:
//! clap `Args` and one `run`), `master/` (`rg serve`'s process manager),
//! `dev/` (`rg runserver`'s watch, restarts and error page), what both use
//! (`build/`: the project and cargo; `process/`: sockets, spawning,
//! notifications), `scaffold/` (`rg new`'s templates and vendored runtime),
//! `config/` (settings and their sources). `main` parses, dispatches, and prints an error chain once,
//! mapping failure to a non-zero exit code.

mod build;
mod commands;
mod config;
mod dev;
mod master;
mod process;
mod ripgrep;
mod scaffold;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{ctl, new, reference, runserver, serve, status, upgrade};

/// Develop and serve Rust web applications: `rg new`, `rg runserver`, `rg serve`, `rg status`, `rg ctl`, `rg upgrade`.
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
    Status(status::Args),
    Ctl(ctl::Args),
    Upgrade(upgrade::Args),
}

fn main() -> ExitCode {
    if let Some(error) = build::direct::wrap_rustc() {
        eprintln!("rg: could not run rustc for cargo: {error}");
        return ExitCode::FAILURE;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(error) = ripgrep::hand_over(&args) {
        report(&anyhow::Error::new(error).context("could not run ripgrep (the other `rg` on PATH)"));
        return ExitCode::FAILURE;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            if error.use_stderr() && ripgrep::meant_for_ripgrep(&args) {
                eprintln!(
                    "\nThis `rg` is the rg web toolkit (`rg new`, `rg runserver`, `rg serve`). \
                     If you meant ripgrep, no other `rg` is on PATH: install ripgrep \
                     (e.g. `apt install ripgrep`) in a directory on PATH, and this `rg` hands \
                     such command lines over to it."
                );
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let result = match cli.command {
        Command::New(args) => new::run(args),
        Command::Runserver(args) => runserver::run(args),
        Command::Reference(args) => reference::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Status(args) => status::run(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Upgrade(args) => upgrade::run(args),
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
