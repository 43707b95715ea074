//! Dispatch of the command line to the commands (in [`crate::commands`]), and what they share: the
//! context, settings resolution, the async runtime and interruption. Printing happens in the
//! commands and [`crate::output`] only.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::{Cli, Command, SettingsArgs};
use crate::commands::artifacts::{artifacts_cmd, dry_run};
use crate::commands::build::build_cmd;
use crate::commands::hooks::hooks_install;
use crate::commands::probe::{probe_cmd, report_cmd};
use crate::commands::rehearse::rehearse_cmd;
use crate::image_ref::ImageRef;
use crate::output::{Exit, Failure, OutputFormat};
use crate::settings::{self, ProcessEnv, Settings};

pub(crate) use crate::commands::artifacts::validate_cmd;
pub use crate::commands::artifacts::{produce, read_artifact, render_checked, Plan, PlanContainer};

/// What a command needs besides its own flags.
pub struct Ctx {
    pub output: OutputFormat,
    pub quiet: bool,
    pub config: Option<PathBuf>,
    pub cwd: PathBuf,
}

pub fn run(cli: Cli) -> Result<Exit, Failure> {
    let cwd = std::env::current_dir()
        .context("reading the current directory")
        .map_err(Failure::usage)?;
    let ctx = Ctx {
        output: cli.output,
        quiet: cli.quiet,
        config: cli.config,
        cwd,
    };
    match cli.command {
        Command::DryRun(args) => dry_run(&ctx, args),
        Command::Artifacts(args) => artifacts_cmd(&ctx, args),
        Command::Validate(args) => validate_cmd(&ctx, &args),
        Command::Build(args) => build_cmd(&ctx, args),
        Command::Probe(args) => probe_cmd(&ctx, args),
        Command::Report(args) => report_cmd(&ctx, &args),
        Command::Hooks {
            command: crate::cli::HooksCommand::Install { force },
        } => hooks_install(&ctx, force),
        Command::Buildspec(args) => crate::buildspec::command::run(&ctx, &args),
        Command::Rehearse(args) => rehearse_cmd(&ctx, args),
        Command::Verify(args) => crate::live::verify::verify_cmd(&ctx, args),
        Command::Pipeline(cmd) => {
            use crate::cli::PipelineCommand as P;
            use crate::live::pipeline;
            match cmd {
                P::Apply(args) => pipeline::apply_cmd(&ctx, args),
                P::Start(args) => pipeline::start_cmd(&ctx, args),
                P::Status(args) => pipeline::status_cmd(&ctx, args),
                P::Watch(args) => pipeline::watch_cmd(&ctx, args),
                P::Artifacts(args) => pipeline::artifacts_cmd(&ctx, args),
            }
        }
        Command::Codebuild(cmd) => {
            use crate::cli::CodebuildCommand as C;
            use crate::live::codebuild;
            match cmd {
                C::Apply(args) => codebuild::apply_cmd(&ctx, args),
                C::Start(args) => codebuild::start_cmd(&ctx, args),
                C::Watch(args) => codebuild::watch_cmd(&ctx, args),
            }
        }
    }
}

pub(crate) fn resolve(ctx: &Ctx, args: &SettingsArgs) -> Result<Settings, Failure> {
    settings::resolve(args, ctx.config.as_deref(), &ctx.cwd, &ProcessEnv).map_err(Failure::usage)
}

pub(crate) fn parse_image(flag: &str, value: &str) -> Result<ImageRef, Failure> {
    ImageRef::parse(value)
        .with_context(|| format!("{flag} `{value}` is not a valid image reference"))
        .map_err(Failure::usage)
}

pub(crate) fn require_repository(s: &Settings) -> Result<ImageRef, Failure> {
    let repo = s.image.repository.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no image repository is configured\n  hint: set [image] repository in cutover.toml, pass --repository, or pass --image"
        ))
    })?;
    parse_image("the repository", repo)
}

pub(crate) fn display_path(p: &Path, cwd: &Path) -> String {
    p.strip_prefix(cwd).unwrap_or(p).display().to_string()
}

/// Completes on Ctrl-C or SIGTERM; never when signals cannot be listened for.
pub(crate) async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = term => {}
        _ = int => {}
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::external)
}
