//! `rg new`'s parts: the rules a project name must follow, the embedded
//! templates it writes, and the `rg.toml` it generates from the schema.

pub mod names;
pub mod rg_toml;
pub mod templates;
