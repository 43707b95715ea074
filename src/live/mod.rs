//! The live side: the adapters that talk to AWS, and the pure checks and views over what they
//! read. One file per feature: [`service`] (the task definition template from the ECS service),
//! [`deployment`] (create, follow, stop and continue a CodeDeploy deployment), [`native`] (the
//! same for ECS-native blue/green, linear and canary service deployments),
//! [`discover`] (what a running service says about its deployment, for `init --from-service`),
//! [`verify`] (the read-only pre-flight), [`pipeline`] and [`codebuild`] (apply, start, the
//! progress of an execution or a build), with [`declaration`] (placeholders, normalisation and the
//! diff, pure) and [`model`] (JSON in and out of the SDK's types, pure) under them. Every client
//! comes from [`crate::aws::sdk_config`]. Nothing here prints: the commands do.

pub mod codebuild;
pub mod declaration;
pub mod deployment;
pub mod discover;
pub mod model;
pub mod native;
pub mod pipeline;
pub mod service;
pub mod snapshot;
pub mod verify;
pub mod verify_native;

use serde::Serialize;

use crate::aws::{AwsError, Kind};
use crate::output::{Exit, Failure};
use crate::settings::Settings;

/// A live command's failure, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no AWS region is configured\n  hint: set AWS_REGION, or `region` in [service] of cutover.toml")]
    NoRegion,
    #[error("{}", .error.explain(Some(.region)))]
    Aws { error: AwsError, region: String },
    #[error("{what} `{name}` does not exist in region `{region}`\n  hint: {hint}")]
    NotFound {
        what: &'static str,
        name: String,
        region: String,
        hint: String,
    },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Declaration(#[from] declaration::DeclarationError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unexpected(String),
}

impl LiveError {
    /// A failure the next call may not have: still throttled after the retries, or no answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, LiveError::Aws { error, .. } if matches!(error.kind, Kind::Throttled | Kind::Unreachable))
    }

    pub fn exit(&self) -> Exit {
        match self {
            LiveError::Aws { error, .. } => match error.kind {
                Kind::Credentials | Kind::AccessDenied | Kind::NotFound => Exit::Usage,
                Kind::Throttled | Kind::Unreachable | Kind::Other => Exit::External,
            },
            LiveError::Unexpected(_) => Exit::External,
            _ => Exit::Usage,
        }
    }
}

impl From<LiveError> for Failure {
    fn from(e: LiveError) -> Self {
        Failure {
            exit: e.exit(),
            error: anyhow::Error::new(e),
        }
    }
}

/// What `pipeline apply` or `codebuild apply` did (or, with `--diff`, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    WouldCreate,
    WouldUpdate,
}

/// The outcome of an `apply`.
#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

/// The SDK configuration and the region it resolved (every live command needs one).
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub region: String,
}

impl Aws {
    pub async fn load(settings: &Settings) -> Result<Aws, LiveError> {
        let sdk = crate::aws::sdk_config(settings.region.as_deref()).await;
        // An empty AWS_REGION counts as none.
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_string())
            .filter(|r| !r.is_empty())
            .ok_or(LiveError::NoRegion)?;
        Ok(Aws { sdk, region })
    }

    /// Wraps a failed call.
    pub fn error(&self, error: AwsError) -> LiveError {
        LiveError::Aws {
            error,
            region: self.region.clone(),
        }
    }
}

/// A required setting, or a config error that says where to set it.
pub fn require<'a>(value: Option<&'a str>, what: &str, hint: &str) -> Result<&'a str, LiveError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LiveError::Config(format!("no {what} is configured\n  hint: {hint}")))
}

/// The last `/`-separated part of an ARN or a name (`arn:...:cluster/web` → `web`).
pub fn short_name(arn_or_name: &str) -> &str {
    arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:123456789012:cluster/web"),
            "web"
        );
        assert_eq!(short_name("web"), "web");
    }
}
