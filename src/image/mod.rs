//! The image: what a build would push. For now the content hash that names it; the build and push
//! to a registry live here too.

pub mod context;
