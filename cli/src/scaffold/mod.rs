//! `rg new`'s parts: the rules a project name must follow, the embedded
//! templates it writes, the `rg.toml` it generates from the schema, and the
//! runtime's sources it carries for projects to depend on.

pub mod names;
pub mod rg_toml;
pub mod runtime;
pub mod templates;
