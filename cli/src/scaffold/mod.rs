//! `rg new`'s parts: the rules a project name must follow, and the embedded
//! templates it writes.

pub mod names;
pub mod templates;
