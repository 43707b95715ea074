//! The image: the content hash that names it, credentials for its registry, the Docker engine
//! adapter, and the build-and-push that returns the pushed digest.

pub mod auth;
pub mod build;
pub mod context;
pub mod docker;
pub mod dockerignore;
pub mod registry;
