//! rg's configuration: `rg.toml`, `RG_*` variables and flags layered into
//! one set of settings, each value remembering where it came from.

pub mod expr;
mod settings;

pub use settings::*;
