//! The commands' glue: each resolves its settings, calls the library's modules, prints, and
//! returns the exit code. Dispatch and the helpers they share are in [`crate::run`].

pub mod artifacts;
pub mod build;
pub mod hooks;
pub mod probe;
pub mod rehearse;
