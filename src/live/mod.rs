//! The live side: commands and adapters that talk to AWS. One file per feature:
//! [`service`] (the task definition template from the ECS service), [`verify`] (the read-only
//! pre-flight), [`pipeline`] and [`codebuild`] (apply, start, watch), with [`declaration`]
//! (placeholders, normalisation and the diff, pure) and [`model`] (JSON in and out of the SDK's
//! types, pure) under them. Every client comes from [`crate::aws::sdk_config`]. These commands
//! print their own results, like `run.rs`, through [`crate::say!`] and
//! [`crate::output::print_json`]; progress goes to stderr.

pub mod codebuild;
pub mod declaration;
pub mod model;
pub mod pipeline;
pub mod service;
pub mod verify;

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

/// A multi-threaded runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, LiveError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| LiveError::Io {
            what: "starting the async runtime".into(),
            source,
        })
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

/// What `watch` follows: a CodeBuild build or a pipeline execution.
pub(crate) trait Watched: Sized {
    /// "build" or "execution", for messages.
    const WHAT: &'static str;
    fn status(&self) -> &str;
    fn is_final(&self) -> bool;
    fn exit(&self) -> Exit;
    /// The progress lines for what changed since `before`.
    fn progress(before: Option<&Self>, now: &Self) -> Vec<String>;
    /// The final view, to stdout.
    fn print(&self, ctx: &crate::run::Ctx);
}

/// Polls with `fetch` until the watched thing ends or `timeout` passes, printing progress to
/// stderr; the final view goes to stdout and the exit code follows the result. Ctrl-C or SIGTERM
/// stops watching (the work goes on in AWS).
pub(crate) async fn watch_until_final<V, F, Fut>(
    ctx: &crate::run::Ctx,
    id: &str,
    interval: std::time::Duration,
    timeout: std::time::Duration,
    mut fetch: F,
) -> Result<Exit, LiveError>
where
    V: Watched,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<V, LiveError>>,
{
    let started = std::time::Instant::now();
    let mut last: Option<V> = None;
    let gone_on = || {
        eprintln!("interrupted: the {} goes on in AWS", V::WHAT);
        Ok(Exit::Interrupted)
    };
    loop {
        let view = tokio::select! {
            v = fetch() => v?,
            _ = crate::run::interrupted() => return gone_on(),
        };
        if !ctx.quiet {
            for line in V::progress(last.as_ref(), &view) {
                eprintln!("{line}");
            }
        }
        if view.is_final() {
            view.print(ctx);
            return Ok(view.exit());
        }
        if started.elapsed() + interval > timeout {
            view.print(ctx);
            eprintln!(
                "error: {} {id} is still {} after {}s (--timeout)",
                V::WHAT,
                view.status(),
                timeout.as_secs()
            );
            return Ok(Exit::CheckFailed);
        }
        last = Some(view);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = crate::run::interrupted() => return gone_on(),
        }
    }
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
