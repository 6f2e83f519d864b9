//! One file per command: its clap `Args`, whose doc comments are the
//! `--help` text, and one `run(args)`. The work itself lives in the modules
//! named after what it is (`master`, `dev`, `scaffold`, `config`).

pub mod ctl;
pub mod new;
pub mod reference;
pub mod runserver;
pub mod serve;
pub mod status;
pub mod upgrade;
