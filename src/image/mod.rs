//! The image: the content hash that names it, credentials for its registry, the Docker engine
//! adapter, the build-and-push that returns the pushed digest, and the build stages kept as cache.

pub mod auth;
pub mod build;
pub mod context;
pub mod docker;
pub mod dockerignore;
pub mod registry;
pub mod stages;
