//! The commands: [`run`] starts the one async runtime and dispatches the parsed command line to
//! one file per command family, and this file holds what they share: the context, settings
//! resolution, image flags, interruption, and the printing of `apply` reports and `watch`
//! progress. Each command resolves its flags, calls the library, prints (through [`crate::say!`]
//! and [`crate::output`]) and returns the exit code; the library never imports a command.

pub mod artifacts;
pub mod build;
pub mod buildspec;
pub mod codebuild;
pub mod deploy;
pub mod hooks;
pub mod init;
pub mod local;
pub mod pipeline;
pub mod probe;
pub mod rehearse;
pub mod verify;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{
    BuildspecCommand, Cli, CodebuildCommand, Command, HooksCommand, PipelineCommand, SettingsArgs,
};
use crate::image_ref::ImageRef;
use crate::live::{Action, ApplyReport, LiveError};
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::settings::{self, ProcessEnv, Settings};

pub(crate) use crate::output::display_path;

/// What a command needs besides its own flags.
pub struct Ctx {
    pub output: OutputFormat,
    pub quiet: bool,
    pub config: Option<PathBuf>,
    pub cwd: PathBuf,
    /// The one async runtime of the process; commands reach it through [`Ctx::block_on`].
    runtime: tokio::runtime::Runtime,
}

impl Ctx {
    /// Runs a future of the library to its end on the process's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The runtime, for library code that drives its own futures (the buildspec runner).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }
}

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    let cwd = std::env::current_dir()
        .context("reading the current directory")
        .map_err(Failure::usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::external)?;
    let ctx = Ctx {
        output: cli.output,
        quiet: cli.quiet,
        config: cli.config,
        cwd,
        runtime,
    };
    match cli.command {
        Command::Init(args) => init::init_cmd(&ctx, args),
        Command::DryRun(args) => artifacts::dry_run_cmd(&ctx, args),
        Command::Artifacts(args) => artifacts::artifacts_cmd(&ctx, args),
        Command::Validate(args) => artifacts::validate_cmd(&ctx, &args),
        Command::Build(args) => build::build_cmd(&ctx, args),
        Command::Probe(args) => probe::probe_cmd(&ctx, args),
        Command::Report(args) => probe::report_cmd(&ctx, &args),
        Command::Hooks {
            command: HooksCommand::Install { force },
        } => hooks::install_cmd(&ctx, force),
        Command::Buildspec(args) => match args.command {
            BuildspecCommand::Run(args) => buildspec::run_cmd(&ctx, &args),
        },
        Command::Rehearse(args) => rehearse::rehearse_cmd(&ctx, args),
        Command::Local(cmd) => local::local_cmd(&ctx, cmd),
        Command::Deploy(args) => deploy::deploy_cmd(&ctx, args),
        Command::Verify(args) => verify::verify_cmd(&ctx, args),
        Command::Pipeline(cmd) => match cmd {
            PipelineCommand::Apply(args) => pipeline::apply_cmd(&ctx, args),
            PipelineCommand::Start(args) => pipeline::start_cmd(&ctx, args),
            PipelineCommand::Status(args) => pipeline::status_cmd(&ctx, args),
            PipelineCommand::Watch(args) => pipeline::watch_cmd(&ctx, args),
            PipelineCommand::Artifacts(args) => pipeline::artifacts_cmd(&ctx, args),
        },
        Command::Codebuild(cmd) => match cmd {
            CodebuildCommand::Apply(args) => codebuild::apply_cmd(&ctx, args),
            CodebuildCommand::Start(args) => codebuild::start_cmd(&ctx, args),
            CodebuildCommand::Watch(args) => codebuild::watch_cmd(&ctx, args),
        },
    }
}

/// The settings of a command that renders artifacts: cutover.toml, the environment, the flags.
pub(crate) fn resolve(ctx: &Ctx, args: &SettingsArgs) -> Result<Settings, Failure> {
    settings::resolve(args, ctx.config.as_deref(), &ctx.cwd, &ProcessEnv).map_err(Failure::usage)
}

/// The settings of a live command (`verify`, `pipeline`, `codebuild`): as [`resolve`], then the
/// pipeline flags over them, when the command has them.
pub(crate) fn resolve_live(
    ctx: &Ctx,
    args: &SettingsArgs,
    pipeline: Option<&crate::cli::PipelineArgs>,
) -> Result<Settings, Failure> {
    let mut s = settings::resolve_live(args, ctx.config.as_deref(), &ctx.cwd, &ProcessEnv)
        .map_err(Failure::usage)?;
    if let Some(p) = pipeline {
        s.pipeline
            .apply_flags(p, &ctx.cwd)
            .map_err(Failure::usage)?;
    }
    Ok(s)
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
    // The terminal closing (SSH dropped): stop in order rather than die mid-deployment.
    let hup = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = int => {}
        _ = hup => {}
    }
}

/// Prints what `pipeline apply` or `codebuild apply` did; `--diff` that finds a difference is 1.
pub(crate) fn print_apply(ctx: &Ctx, r: &ApplyReport) -> Exit {
    match ctx.output {
        OutputFormat::Json => print_json(r),
        OutputFormat::Text => {
            if let Some(d) = &r.diff {
                crate::output::say_raw(d);
            }
            if !ctx.quiet {
                let what = format!("{} `{}`", r.kind, r.name);
                let version = r
                    .version
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default();
                match r.action {
                    Action::Created => crate::say!("created {what}{version}"),
                    Action::Updated => crate::say!("updated {what}{version}"),
                    Action::Unchanged => crate::say!("{what}: no changes"),
                    Action::WouldCreate => {
                        crate::say!("{what} does not exist: apply would create it")
                    }
                    Action::WouldUpdate => crate::say!("{what} differs: apply would update it"),
                }
            }
        }
    }
    match r.action {
        Action::WouldCreate | Action::WouldUpdate => Exit::CheckFailed,
        _ => Exit::Ok,
    }
}

/// What `watch` follows: a CodeBuild build or a pipeline execution.
pub(crate) trait Watched: Sized + serde::Serialize {
    /// "build" or "execution", for messages.
    const WHAT: &'static str;
    fn status(&self) -> &str;
    fn is_final(&self) -> bool;
    fn exit(&self) -> Exit;
    /// The progress lines for what changed since `before`.
    fn progress(before: Option<&Self>, now: &Self) -> Vec<String>;
    /// The view as text.
    fn render(&self) -> String;
    /// The view, to stdout: its text or its JSON.
    fn print(&self, ctx: &Ctx) {
        match ctx.output {
            OutputFormat::Json => print_json(self),
            OutputFormat::Text => crate::output::say_raw(&self.render()),
        }
    }
}

/// Polls with `fetch` until the watched thing ends or `timeout` passes, printing progress to
/// stderr; the final view goes to stdout and the exit code follows the result. Ctrl-C or SIGTERM
/// stops watching (the work goes on in AWS).
pub(crate) async fn watch_until_final<V, F, Fut>(
    ctx: &Ctx,
    id: &str,
    poll: &crate::cli::WatchArgs,
    mut fetch: F,
) -> Result<Exit, LiveError>
where
    V: Watched,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<V, LiveError>>,
{
    let (interval, timeout) = (poll.interval, poll.timeout);
    let started = std::time::Instant::now();
    let mut last: Option<V> = None;
    let gone_on = || {
        eprintln!("interrupted: the {} goes on in AWS", V::WHAT);
        Ok(Exit::Interrupted)
    };
    loop {
        let view = tokio::select! {
            v = fetch() => v?,
            _ = interrupted() => return gone_on(),
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
            _ = interrupted() => return gone_on(),
        }
    }
}

/// Where a followed deployment's progress and end go: `Stdout` for `cutover deploy` (changes on
/// stderr, or JSON lines on stdout with `--output json`; the end on stdout), `Stderr` for a
/// deployment followed inside another watch (`pipeline watch`: text on stderr only, so the
/// outer command's stdout stays its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    Stdout,
    Stderr,
}

/// Follows a CodeDeploy deployment with [`crate::live::deployment::follow`] and prints it; the
/// exit code follows it (0 succeeded and the probe passed, 1 not, 130 interrupted).
pub(crate) async fn follow_and_print(
    ctx: &Ctx,
    aws: &crate::live::Aws,
    group: &crate::live::deployment::Group,
    id: &str,
    opts: &crate::live::deployment::FollowOptions,
    sink: Sink,
) -> Result<Exit, LiveError> {
    use crate::live::deployment::{follow, Change};
    let quiet = ctx.quiet;
    let json = ctx.output == OutputFormat::Json && sink == Sink::Stdout;
    let live = opts.probe.as_ref().is_some_and(|p| p.live_status);
    let on = move |c: &Change| {
        if json {
            crate::output::print_json_line(c);
        } else if !quiet {
            let clear = if live { "\r\x1b[K" } else { "" };
            eprintln!("{clear}{}", c.text());
        }
    };
    if !quiet && !json {
        eprintln!("deploy: following {id}");
    }
    // Inside another watch, that watch listens for Ctrl-C (and drops this future).
    let f = match sink {
        Sink::Stdout => follow(aws, group, id, opts, interrupted(), &on).await?,
        Sink::Stderr => follow(aws, group, id, opts, std::future::pending(), &on).await?,
    };
    if f.interrupted {
        eprintln!(
            "interrupted: deployment {id} goes on in AWS (stop it with `cutover deploy stop {id}`)"
        );
    }
    if json {
        crate::output::print_json_line(&f);
    } else if !(quiet && f.passed()) {
        for line in followed_lines(&f) {
            match sink {
                Sink::Stdout => crate::say!("{line}"),
                Sink::Stderr => eprintln!("{line}"),
            }
        }
    }
    Ok(if f.interrupted {
        Exit::Interrupted
    } else if f.passed() {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

/// A followed deployment's end, for people: the report, the diagnosis, the gates.
fn followed_lines(f: &crate::live::deployment::Followed) -> Vec<String> {
    let r = &f.report;
    let mut out = vec![
        format!(
            "deployment   {} {}{}",
            r.id,
            r.status.as_str(),
            if r.rolled_back { " (rolled back)" } else { "" }
        ),
        format!("config       {}", r.deployment_config),
    ];
    for e in &r.events {
        let took = e
            .start_unix_us
            .zip(e.end_unix_us)
            .map(|(s, e)| format!(" {:.1}s", e.saturating_sub(s) as f64 / 1e6))
            .unwrap_or_default();
        out.push(format!("  {:<22} {:?}{took}", e.name.as_str(), e.status));
    }
    if let Some(e) = &r.error {
        out.push(format!(
            "error        {} at {}: {}",
            e.code, e.event, e.message
        ));
    }
    if let Some(id) = &f.last.rollback_deployment {
        out.push(format!("rollback     deployment {id}"));
    }
    if let Some(d) = &f.diagnosis {
        if let Some(ev) = &d.failed_event {
            out.push(format!(
                "failed event {}: {}",
                ev.name,
                ev.message.as_deref().unwrap_or("(no diagnostics)")
            ));
        }
        if !d.service_events.is_empty() {
            out.push("service events (newest first):".into());
            out.extend(d.service_events.iter().map(|l| format!("  {l}")));
        }
        for t in &d.stopped_tasks {
            out.push(format!(
                "stopped task {}: {}",
                t.task_arn,
                t.stopped_reason.as_deref().unwrap_or("(no reason)")
            ));
            for (name, code, reason) in &t.containers {
                out.push(format!(
                    "  container {name}: exit {}{}",
                    code.map_or("-".into(), |c| c.to_string()),
                    reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
        }
        out.extend(d.unavailable.iter().map(|u| format!("not read     {u}")));
    }
    if let Some(t) = &f.test_gate {
        out.push(format!(
            "test probe   {} requests to {}, {} failed: {}",
            t.requests, t.url, t.failed, t.action
        ));
    }
    if let Some(e) = &f.probe_error {
        out.push(format!("probe        could not run: {e}"));
    }
    if let (Some(p), Some(g)) = (&f.probe, &f.gate) {
        out.push(format!(
            "probe        {} requests, {} failed (limit {}){}",
            p.total,
            p.failed,
            g.limit,
            g.reaction_ms
                .map(|ms| format!("; StopDeployment sent {ms:.1} ms after the limit was passed"))
                .unwrap_or_default()
        ));
        let versions: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
        if !versions.is_empty() {
            out.push(format!("versions     {}", versions.join(" -> ")));
        }
        if let Some(file) = &f.probe_records_file {
            out.push(format!("records      {}", file.display()));
        }
    }
    if r.status == crate::lifecycle::DeploymentStatus::Succeeded && !f.passed() {
        out.push("the deployment succeeded, but the probe failed more requests than allowed, or could not run".into());
    }
    out
}
