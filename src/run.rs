//! The commands: each resolves its settings, does its work through the library's modules and
//! returns the exit code. Printing happens here and in [`crate::output`] only.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts::{self, image_detail::PushFacts, ArtifactFile, ArtifactSet};
use crate::cli::{ArtifactsArgs, BuildArgs, Cli, Command, DryRunArgs, SettingsArgs, ValidateArgs};
use crate::image::context::{self, BuildInputs};
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
    let s = resolve(ctx, &args.settings)?;
    let (image, note) = match &args.image {
        Some(i) => (parse_image("--image", i)?, "from --image"),
        None => {
            let mut image = require_repository(&s)?;
            let hash = context::content_hash(&BuildInputs {
                context: &s.image.context,
                dockerfile: &s.image.dockerfile,
                build_args: &s.image.build_args,
                target: s.image.target.as_deref(),
                platform: s.image.platform.as_deref(),
            })
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
            push: !args.no_push,
            cache_from: &s.image.cache_from,
            immutable_tags: s.image.immutable_tags,
            credentials,
            progress: &progress,
        });
        tokio::select! {
            r = build => Some(r),
            _ = tokio::signal::ctrl_c() => None,
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
    let mut image = repository.clone();
    image.tag = Some(result.tag.clone());
    image.digest = result.digest.clone();
    let facts = PushFacts {
        tags: result.tags.clone(),
        pushed_at: None,
        size_in_bytes: None,
    };
    let note = if result.skipped_build {
        "pushed earlier: same content"
    } else if result.pushed {
        "built and pushed"
    } else {
        "built locally (--no-push)"
    };
    let (set, plan) = render_checked(ctx, &s, &image, &facts, note)?;
    write_valid(&s, &set, &plan)?;
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
