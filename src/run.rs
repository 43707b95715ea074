//! The commands: each resolves its settings, does its work through the library's modules and
//! returns the exit code. Printing happens here and in [`crate::output`] only.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts::{self, image_detail::PushFacts, ArtifactFile, ArtifactSet};
use crate::cli::{ArtifactsArgs, BuildArgs, Cli, Command, DryRunArgs, SettingsArgs, ValidateArgs};
use crate::image::context;
use crate::image_ref::ImageRef;
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::settings::{self, ProcessEnv, Settings};
use crate::validate::{self, Problem, Severity};

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

fn resolve(ctx: &Ctx, args: &SettingsArgs) -> Result<Settings, Failure> {
    settings::resolve(args, ctx.config.as_deref(), &ctx.cwd, &ProcessEnv).map_err(Failure::usage)
}

fn parse_image(flag: &str, value: &str) -> Result<ImageRef, Failure> {
    ImageRef::parse(value)
        .with_context(|| format!("{flag} `{value}` is not a valid image reference"))
        .map_err(Failure::usage)
}

fn require_repository(s: &Settings) -> Result<ImageRef, Failure> {
    let repo = s.image.repository.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no image repository is configured\n  hint: set [image] repository in cutover.toml, pass --repository, or pass --image"
        ))
    })?;
    parse_image("the repository", repo)
}

fn dry_run(ctx: &Ctx, args: DryRunArgs) -> Result<Exit, Failure> {
    if let Some(file) = &args.buildspec {
        return dry_run_buildspec(ctx, file);
    }
    let s = resolve(ctx, &args.settings)?;
    let (image, note) = match &args.image {
        Some(i) => (parse_image("--image", i)?, "from --image"),
        None => {
            let mut image = require_repository(&s)?;
            let hash = context::content_hash(&s.build_inputs())
                .context("hashing the build context for the image tag")
                .map_err(Failure::usage)?;
            image.tag = Some(context::content_tag(&hash));
            (image, "the content-hash tag a build would push")
        }
    };
    produce(ctx, &s, &image, &PushFacts::default(), note)
}

fn artifacts_cmd(ctx: &Ctx, args: ArtifactsArgs) -> Result<Exit, Failure> {
    let s = resolve(ctx, &args.settings)?;
    let mut image = match &args.image {
        Some(i) => parse_image("--image", i)?,
        None if args.digest.is_some() => require_repository(&s)?,
        None => {
            return Err(Failure::usage(anyhow::anyhow!(
                "no image to deploy\n  hint: pass --image URI, or --digest sha256:... with the configured repository"
            )))
        }
    };
    if let Some(d) = &args.digest {
        if !crate::image_ref::is_sha256_digest(d) {
            return Err(Failure::usage(anyhow::anyhow!(
                "--digest `{d}` is not `sha256:` followed by 64 lowercase hex characters"
            )));
        }
        image.digest = Some(d.clone());
    }
    produce(
        ctx,
        &s,
        &image,
        &PushFacts::default(),
        "from --image/--digest",
    )
}

/// The plan a run prints, also its `--output json` form.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub valid: bool,
    pub out: String,
    pub image: String,
    pub image_note: String,
    pub containers: Vec<PlanContainer>,
    pub load_balancer: Option<String>,
    pub hooks: Vec<String>,
    pub files: Vec<String>,
    pub problems: Vec<Problem>,
    /// Where the task definition template came from, when it is the live service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taskdef_source: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PlanContainer {
    pub name: String,
    pub port: Option<u16>,
    pub slot: u8,
    pub image: String,
}

/// The path shared by `dry-run`, `artifacts` and `build`: render, validate, then write all or
/// nothing, and print the plan.
pub fn produce(
    ctx: &Ctx,
    s: &Settings,
    image: &ImageRef,
    push: &PushFacts,
    note: &str,
) -> Result<Exit, Failure> {
    let (set, plan) = render_checked(ctx, s, image, push, note)?;
    write_valid(s, &set, &plan)?;
    match ctx.output {
        OutputFormat::Json => print_json(&plan),
        OutputFormat::Text => print_plan(&plan, ctx.quiet),
    }
    Ok(if plan.valid {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

/// Writes the set when the plan says it is valid.
fn write_valid(s: &Settings, set: &ArtifactSet, plan: &Plan) -> Result<(), Failure> {
    if plan.valid {
        artifacts::write::write_atomically(set, &s.out_dir)
            .with_context(|| format!("writing the artifacts to `{}`", s.out_dir.display()))
            .map_err(Failure::usage)?;
    }
    Ok(())
}

/// Renders the artifacts for `image` and validates them; writes nothing.
pub fn render_checked(
    ctx: &Ctx,
    s: &Settings,
    image: &ImageRef,
    push: &PushFacts,
    note: &str,
) -> Result<(ArtifactSet, Plan), Failure> {
    let (template, source, from_service) = load_template(ctx, s)?;
    let containers = s
        .containers
        .iter()
        .map(|c| {
            let img = match &c.image {
                Some(i) => parse_image("a container image", i)?,
                None => image.clone(),
            };
            Ok(artifacts::Container {
                name: c.name.clone(),
                port: c.port,
                slot: c.slot,
                image: img,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let lb = s
        .appspec
        .lb_container
        .as_deref()
        .and_then(|n| containers.iter().find(|c| c.name == n));
    let (lb_container, lb_port) = match lb {
        Some(c) => (c.name.clone(), c.port.unwrap_or_default()),
        None => {
            return Err(Failure::usage(anyhow::anyhow!(
                "no container for the load balancer is configured"
            )))
        }
    };
    let appspec_opts = artifacts::AppSpecOptions {
        format: s.appspec.format,
        lb_container,
        lb_port,
        platform_version: s.appspec.platform_version.clone(),
        network: s.appspec.network.clone(),
        capacity_provider_strategy: s.appspec.capacity_provider_strategy.clone(),
        hooks: s.appspec.hooks.clone(),
    };
    let (set, mut problems) = artifacts::render(artifacts::RenderInput {
        image,
        push,
        containers: &containers,
        appspec: &appspec_opts,
        template,
        template_source: &source,
    })
    .with_context(|| format!("`{source}`"))
    .map_err(Failure::usage)?;
    problems.extend(validate::validate(&set));
    let plan = Plan {
        valid: !validate::has_errors(&problems),
        out: display_path(&s.out_dir, &ctx.cwd),
        image: artifacts::pinned(image),
        image_note: note.to_string(),
        containers: containers
            .iter()
            .map(|c| PlanContainer {
                name: c.name.clone(),
                port: c.port,
                slot: c.slot,
                image: artifacts::pinned(&c.image),
            })
            .collect(),
        load_balancer: Some(format!(
            "{}:{}",
            appspec_opts.lb_container, appspec_opts.lb_port
        )),
        hooks: appspec_opts
            .hooks
            .iter()
            .map(|(e, f)| format!("{}={f}", e.as_str()))
            .collect(),
        files: set.names().iter().map(|n| n.to_string()).collect(),
        problems,
        taskdef_source: from_service.then_some(source),
    };
    Ok((set, plan))
}

/// The task definition template, where it came from, and whether that is the live service.
fn load_template(ctx: &Ctx, s: &Settings) -> Result<(serde_json::Value, String, bool), Failure> {
    if s.from_service {
        let t = crate::live::service::fetch_template_blocking(s)?;
        return Ok((t.template, t.source, true));
    }
    let taskdef_path = s.taskdef.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no task definition template\n  hint: set [taskdef] template in cutover.toml, pass --taskdef FILE, or --from-service"
        ))
    })?;
    let template_text = std::fs::read_to_string(taskdef_path)
        .with_context(|| {
            format!(
                "reading the task definition template `{}`",
                taskdef_path.display()
            )
        })
        .map_err(Failure::usage)?;
    let template = artifacts::taskdef::parse_template(&template_text)
        .with_context(|| format!("`{}`", taskdef_path.display()))
        .map_err(Failure::usage)?;
    Ok((template, display_path(taskdef_path, &ctx.cwd), false))
}

fn print_plan(plan: &Plan, quiet: bool) {
    print_problems(&plan.problems, quiet);
    if quiet {
        return;
    }
    if !plan.valid {
        crate::say!("nothing written: the artifacts would fail the Deploy stage");
        return;
    }
    crate::say!("image          {}  ({})", plan.image, plan.image_note);
    if let Some(src) = &plan.taskdef_source {
        crate::say!("taskdef        from {src}");
    }
    for c in &plan.containers {
        let port = c
            .port
            .map_or("no port".to_string(), |p| format!("port {p}"));
        crate::say!(
            "container      {}  {port}, slot {} → <IMAGE{}_NAME>, {}",
            c.name,
            c.slot,
            c.slot,
            c.image
        );
    }
    if let Some(lb) = &plan.load_balancer {
        crate::say!("load balancer  {lb}");
    }
    crate::say!(
        "hooks          {}",
        if plan.hooks.is_empty() {
            "none".to_string()
        } else {
            plan.hooks.join(", ")
        }
    );
    crate::say!(
        "wrote          {}/ {}",
        plan.out.trim_end_matches('/'),
        plan.files.join(" ")
    );
}

fn print_problems(problems: &[Problem], quiet: bool) {
    for p in problems {
        if quiet && p.severity == Severity::Warning {
            continue;
        }
        crate::say!("{p}");
    }
}

fn display_path(p: &Path, cwd: &Path) -> String {
    p.strip_prefix(cwd).unwrap_or(p).display().to_string()
}

#[derive(Debug, Serialize)]
struct ValidateReport {
    valid: bool,
    files: Vec<String>,
    problems: Vec<Problem>,
}

pub(crate) fn validate_cmd(ctx: &Ctx, args: &ValidateArgs) -> Result<Exit, Failure> {
    let set = read_artifact(&args.dir).map_err(Failure::usage)?;
    let problems = validate::validate(&set);
    let valid = !validate::has_errors(&problems);
    let report = ValidateReport {
        valid,
        files: set.names().iter().map(|n| n.to_string()).collect(),
        problems,
    };
    match ctx.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Text => {
            print_problems(&report.problems, ctx.quiet);
            if !ctx.quiet {
                let errors = report
                    .problems
                    .iter()
                    .filter(|p| p.severity == Severity::Error)
                    .count();
                let warnings = report.problems.len() - errors;
                let what = display_path(&args.dir, &ctx.cwd);
                if valid {
                    crate::say!(
                        "{what}: valid ({} files, {warnings} warnings)",
                        report.files.len()
                    );
                } else {
                    crate::say!("{what}: invalid ({errors} errors, {warnings} warnings)");
                }
            }
        }
    }
    Ok(if valid { Exit::Ok } else { Exit::CheckFailed })
}

/// Reads an artifact directory (its files, recursively) or an artifact zip.
pub fn read_artifact(path: &Path) -> anyhow::Result<ArtifactSet> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        read_dir_files(path, path, &mut files)?;
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        let mut zip = zip::ZipArchive::new(f).with_context(|| {
            format!(
                "`{}` is neither a directory nor a zip archive",
                path.display()
            )
        })?;
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .with_context(|| format!("reading entry {i} of `{}`", path.display()))?;
            if entry.is_dir() {
                continue;
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)
                .with_context(|| format!("reading `{}` in `{}`", entry.name(), path.display()))?;
            files.push(ArtifactFile {
                name: entry.name().to_string(),
                bytes,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ArtifactSet { files })
}

fn read_dir_files(root: &Path, dir: &Path, out: &mut Vec<ArtifactFile>) -> anyhow::Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list `{}`", dir.display()))?;
        let path = entry.path();
        if path.is_dir() {
            read_dir_files(root, &path, out)?;
        } else if entry.file_name() == artifacts::write::MARKER {
            // cutover's own bookkeeping, not part of the artifact.
            continue;
        } else {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push(ArtifactFile { name, bytes });
        }
    }
    Ok(())
}

/// `cutover build --output json`: the build's result and the artifacts' plan.
#[derive(Debug, Serialize)]
struct BuildReport {
    #[serde(flatten)]
    build: crate::image::build::BuildResult,
    artifacts: Plan,
}

fn build_cmd(ctx: &Ctx, args: BuildArgs) -> Result<Exit, Failure> {
    let s = resolve(ctx, &args.settings)?;
    let repository = require_repository(&s)?;
    // Check the artifacts first, so a config mistake costs seconds, not a build and a push.
    let mut probe_image = repository.clone();
    probe_image.tag = Some("pending".into());
    let (_, precheck) = render_checked(
        ctx,
        &s,
        &probe_image,
        &PushFacts::default(),
        "before the build",
    )?;
    if !precheck.valid {
        print_problems(&precheck.problems, ctx.quiet);
        if ctx.output == OutputFormat::Json {
            print_json(&precheck);
        }
        eprintln!("error: the artifacts would fail the Deploy stage; nothing was built");
        return Ok(Exit::CheckFailed);
    }
    if !s.image.dockerfile.is_file() {
        return Err(Failure::usage(anyhow::anyhow!(
            "the Dockerfile `{}` does not exist\n  hint: set [image] dockerfile in cutover.toml or pass --dockerfile",
            s.image.dockerfile.display()
        )));
    }
    if args.dry_run {
        let result = crate::image::build::dry_run(&s, &repository)
            .context("planning the build")
            .map_err(Failure::usage)?;
        return finish_build(ctx, &s, &repository, result);
    }
    let credentials = match (
        std::env::var(crate::env_vars::REGISTRY_USERNAME)
            .ok()
            .filter(|v| !v.is_empty()),
        std::env::var(crate::env_vars::REGISTRY_PASSWORD)
            .ok()
            .filter(|v| !v.is_empty()),
    ) {
        (Some(u), Some(p)) => Some((u, crate::secret::Secret::new(p))),
        _ => None,
    };
    let quiet = ctx.quiet;
    let progress = move |line: &str| {
        if !quiet {
            eprintln!("build: {line}");
        }
    };
    let outcome = runtime()?.block_on(async {
        let build = crate::image::build::build(crate::image::build::BuildOptions {
            settings: &s,
            repository: &repository,
            push: !args.no_push && s.image.push,
            cache_from: &s.image.cache_from,
            immutable_tags: s.image.immutable_tags,
            credentials,
            progress: &progress,
        });
        // Ctrl-C or SIGTERM (a CodeBuild timeout, `kill`): dropping the build stops docker and
        // removes the private Docker config before the process ends.
        tokio::select! {
            r = build => Some(r),
            _ = interrupted() => None,
        }
    });
    let result = match outcome {
        None => {
            eprintln!("interrupted: nothing was written");
            return Ok(Exit::Interrupted);
        }
        Some(Err(e)) => {
            let external = e.is_external();
            let err = anyhow::Error::new(e).context("building and pushing the image");
            return Err(Failure {
                exit: if external {
                    Exit::External
                } else {
                    Exit::CheckFailed
                },
                error: err,
            });
        }
        Some(Ok(r)) => r,
    };
    finish_build(ctx, &s, &repository, result)
}

/// Writes the artifacts for a build's result and prints both.
fn finish_build(
    ctx: &Ctx,
    s: &Settings,
    repository: &ImageRef,
    result: crate::image::build::BuildResult,
) -> Result<Exit, Failure> {
    let mut image = repository.clone();
    image.tag = Some(if result.dry_run {
        result.content_tag.clone()
    } else {
        result.tag.clone()
    });
    image.digest = result.digest.clone();
    let facts = PushFacts {
        tags: result.tags.clone(),
        pushed_at: None,
        size_in_bytes: None,
    };
    let note = if result.dry_run {
        "dry-run: the content-hash tag a build would push"
    } else if result.skipped_build {
        "pushed earlier: same content"
    } else if result.pushed {
        "built and pushed"
    } else {
        "built locally (--no-push)"
    };
    let (set, plan) = render_checked(ctx, s, &image, &facts, note)?;
    write_valid(s, &set, &plan)?;
    let valid = plan.valid;
    match ctx.output {
        OutputFormat::Json => print_json(&BuildReport {
            build: result,
            artifacts: plan,
        }),
        OutputFormat::Text => print_plan(&plan, ctx.quiet),
    }
    Ok(if valid { Exit::Ok } else { Exit::CheckFailed })
}

/// Completes on Ctrl-C or SIGTERM; never when signals cannot be listened for.
async fn interrupted() {
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

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::external)
}

fn probe_cmd(ctx: &Ctx, args: crate::cli::ProbeArgs) -> Result<Exit, Failure> {
    use crate::probe::{self, ProbeError, StopReason};
    let opts = probe::ProbeOptions {
        url: args.url,
        rate: args.rate,
        concurrency: args.concurrency,
        duration: args.duration,
        until_version: args.until_version,
        stable_for: args.stable_for,
        timeout: args.timeout,
        keep_alive: args.keep_alive,
        results_dir: args.results,
        max_failures: args.max_failures,
        live_status: !ctx.quiet,
    };
    if opts.duration.is_none() && opts.until_version.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "the probe needs an end\n  hint: pass --duration 30s, or --until-version V (or both)"
        )));
    }
    let outcome = runtime()?.block_on(probe::run(&opts)).map_err(|e| {
        let usage = matches!(
            e,
            ProbeError::HttpsUnsupported { .. }
                | ProbeError::InvalidUrl { .. }
                | ProbeError::InvalidOption { .. }
        );
        let err = anyhow::Error::new(e);
        if usage {
            Failure::usage(err)
        } else {
            Failure::external(err)
        }
    })?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, probe::svg::render(&outcome.records, &outcome.summary))
            .with_context(|| format!("writing `{}`", svg.display()))
            .map_err(Failure::usage)?;
    }
    match ctx.output {
        OutputFormat::Json => print_json(&outcome.summary),
        OutputFormat::Text => {
            crate::output::say_raw(&probe::render_text(&outcome.summary));
            if !ctx.quiet {
                crate::say!("records        {}", outcome.records_path.display());
                if let Some(r) = outcome.until_version_reached {
                    crate::say!(
                        "until-version  {}",
                        if r { "reached" } else { "NOT reached" }
                    );
                }
                crate::say!(
                    "result         {}",
                    if outcome.passed { "PASS" } else { "FAIL" }
                );
            }
        }
    }
    Ok(match (outcome.stop, outcome.passed) {
        (StopReason::Interrupted, _) => Exit::Interrupted,
        (_, true) => Exit::Ok,
        (_, false) => Exit::CheckFailed,
    })
}

fn report_cmd(ctx: &Ctx, args: &crate::cli::ReportArgs) -> Result<Exit, Failure> {
    use crate::probe;
    let records = probe::report::read_records(&args.file).map_err(Failure::usage)?;
    let summary = probe::summarize(&records);
    if let Some(svg) = &args.svg {
        std::fs::write(svg, probe::svg::render(&records, &summary))
            .with_context(|| format!("writing `{}`", svg.display()))
            .map_err(Failure::usage)?;
    }
    match ctx.output {
        OutputFormat::Json => print_json(&summary),
        OutputFormat::Text => crate::output::say_raw(&probe::render_text(&summary)),
    }
    Ok(if summary.failed == 0 {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

fn hooks_install(ctx: &Ctx, force: bool) -> Result<Exit, Failure> {
    let binary = std::env::current_exe()
        .context("finding the cutover binary")
        .map_err(Failure::usage)?;
    let config = ctx.config.as_deref().map(|c| ctx.cwd.join(c));
    let path = crate::hooks::install(&ctx.cwd, &binary, config.as_deref(), force)
        .map_err(Failure::usage)?;
    if !ctx.quiet {
        crate::say!(
            "installed {}: `git push` now runs `cutover dry-run` first",
            path.display()
        );
    }
    Ok(Exit::Ok)
}

/// Stands in for the AWS CLI during `dry-run --buildspec`: only fetching the cutover binary is
/// served (with this very binary); anything else fails loudly.
const AWS_SHIM: &str = r#"#!/bin/sh
# cutover dry-run --buildspec: a stand-in for the AWS CLI, which a dry-run does not use.
if [ "$1" = s3 ] && [ "$2" = cp ]; then
  for arg in "$@"; do dest=$arg; done
  case "$*" in
    *cutover*) cp "$CUTOVER_SELF" "$dest" && echo "dry-run: aws $* -> served with this cutover binary" >&2; exit $? ;;
  esac
fi
echo "dry-run: the AWS CLI is not available in a dry-run (aws $*)" >&2
exit 1
"#;

/// Runs the project's buildspec as `cutover buildspec run` does, with `cutover build` in dry-run
/// mode and a stand-in `aws` that serves this binary, so the zip is the one the Deploy stage
/// would receive, built with no AWS and no Docker.
fn dry_run_buildspec(ctx: &Ctx, file: &Path) -> Result<Exit, Failure> {
    let exe = std::env::current_exe()
        .context("finding the cutover binary")
        .map_err(Failure::usage)?;
    let shims = tempfile::Builder::new()
        .prefix("cutover-dry-run-")
        .tempdir()
        .context("creating a temp dir")
        .map_err(Failure::usage)?;
    let aws = shims.path().join("aws");
    std::fs::write(&aws, AWS_SHIM)
        .context("writing the aws stand-in")
        .map_err(Failure::usage)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755))
            .context("chmod")
            .map_err(Failure::usage)?;
        std::os::unix::fs::symlink(&exe, shims.path().join("cutover"))
            .context("linking cutover")
            .map_err(Failure::usage)?;
    }
    let path = format!(
        "{}:{}",
        shims.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let args = crate::cli::BuildspecArgs {
        command: crate::cli::BuildspecCommand::Run(crate::cli::BuildspecRunArgs {
            file: Some(file.to_path_buf()),
            src: None,
            out: None,
            env: vec![
                format!("PATH={path}"),
                format!("{}=1", crate::env_vars::DRY_RUN),
                format!("CUTOVER_SELF={}", exe.display()),
            ],
            build_number: 1,
            source_version: None,
            pipeline: None,
            project: "local".into(),
            allow_unsupported: false,
            no_validate: false,
        }),
    };
    crate::buildspec::command::run(ctx, &args)
}

/// Resolves `cutover rehearse`'s flags into the rehearsal's options.
fn rehearse_options(args: crate::cli::RehearseArgs) -> Result<crate::rehearse::Options, Failure> {
    use crate::rehearse::{backends::Spec, plan::Plan, Options};
    let side = |role: &str, cmd: Option<String>, image: Option<String>| {
        match (cmd, image) {
        (Some(cmd), _) => Spec::command(&cmd).ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "--{role}-cmd is empty\n  hint: pass the program and its arguments, e.g. --{role}-cmd 'sample-app --port {{port}}'"
            ))
        }),
        (None, Some(image)) => Ok(Spec::Image {
            image,
            container_port: args.container_port,
        }),
        (None, None) => Err(Failure::usage(anyhow::anyhow!(
            "no {role} backend\n  hint: pass --{role}-cmd CMD or --{role}-image IMAGE"
        ))),
    }
    };
    let blue = side("blue", args.blue_cmd, args.blue_image)?;
    let green = side("green", args.green_cmd, args.green_image)?;
    for (flag, path) in [
        ("--health-path", &args.health_path),
        ("--version-path", &args.version_path),
    ] {
        if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
            return Err(Failure::usage(anyhow::anyhow!(
                "{flag} `{path}` must be a path starting with / and without spaces"
            )));
        }
    }
    if args.interval.is_zero() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--interval must be longer than zero"
        )));
    }
    let rate = crate::probe::Rate::Fixed(args.rate);
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e6) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--rate `{}` must be a number of requests per second from 0.001 to 1000000",
            args.rate
        )));
    }
    Ok(Options {
        blue,
        green,
        plan: Plan {
            strategy: args.strategy,
            interval: args.interval,
        },
        termination_wait: args.termination_wait,
        probe_before: args.probe_before,
        probe_after: args.probe_after,
        rate,
        timeout: args.timeout,
        results_dir: args.results,
        svg: args.svg,
        haproxy: args.haproxy,
        docker: args.docker,
        port: args.port,
        health_path: args.health_path,
        version_path: args.version_path,
        start_timeout: args.start_timeout,
        stop_timeout: args.stop_timeout,
        inject: args.inject_outage,
    })
}

fn rehearse_cmd(ctx: &Ctx, args: crate::cli::RehearseArgs) -> Result<Exit, Failure> {
    use crate::rehearse::{self, RehearseError};
    let opts = rehearse_options(args)?;
    let quiet = ctx.quiet;
    let progress = move |e: &rehearse::Event| {
        if !quiet {
            eprintln!("rehearse {:>9.3} s  {}", e.since_start_ms / 1000.0, e.what);
        }
    };
    // Ctrl-C, or SIGTERM (a CI timeout, `kill`): either way the children are stopped first.
    let interrupt = interrupted();
    let outcome = runtime()?
        .block_on(rehearse::rehearse(&opts, interrupt, &progress))
        .map_err(|e| match e {
            RehearseError::Interrupted => Failure {
                exit: Exit::Interrupted,
                error: anyhow::Error::new(e),
            },
            e if e.is_usage() => Failure::usage(e),
            e => Failure::external(anyhow::Error::new(e).context("rehearsing the cutover")),
        })?;
    let report = &outcome.report;
    match ctx.output {
        OutputFormat::Json => print_json(report),
        OutputFormat::Text => {
            crate::output::say_raw(&crate::probe::render_text(&report.summary));
            if !ctx.quiet {
                let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
                crate::say!(
                    "strategy     {} ({} ms a minute), termination wait {} ms{}",
                    report.strategy,
                    report.interval_ms,
                    report.termination_wait_ms,
                    report
                        .outage
                        .as_ref()
                        .map(|o| format!(", outage injected: {o}"))
                        .unwrap_or_default()
                );
                crate::say!(
                    "blue         {} at {}, version {}",
                    report.blue.run,
                    report.blue.address,
                    version(&report.blue.version)
                );
                crate::say!(
                    "green        {} at {}, version {}",
                    report.green.run,
                    report.green.address,
                    version(&report.green.version)
                );
                for e in &report.events {
                    let at = e
                        .probe_offset_ms
                        .map(|ms| format!("{:+.3} s", ms / 1000.0))
                        .unwrap_or_else(|| "before".into());
                    crate::say!("  {at:>10}  {}", e.what);
                }
                crate::say!("records      {}", report.records_file.display());
                crate::say!("picture      {}", report.svg_file.display());
                crate::say!("report       {}", report.report_file.display());
                for p in &report.problems {
                    crate::say!("problem      {p}");
                }
                crate::say!(
                    "result       {}",
                    if report.passed { "PASS" } else { "FAIL" }
                );
            }
        }
    }
    if let Some(e) = outcome.error {
        return Err(Failure::external(
            anyhow::Error::new(e).context("the rehearsal stopped early"),
        ));
    }
    Ok(if outcome.interrupted {
        Exit::Interrupted
    } else if report.passed {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}
