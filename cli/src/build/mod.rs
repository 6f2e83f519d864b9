//! What `rg runserver` and `rg serve` both do with a project: find it as
//! cargo sees it, build it (showing cargo's progress), and, for dev
//! builds, link the runtime as one shared library.

pub mod cargo;
pub mod depinfo;
pub mod direct;
pub mod dwo;
pub mod patch;
pub mod progress;
pub mod project;
pub mod rustc;
pub mod shared_runtime;
