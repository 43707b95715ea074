//! The commands: each resolves its settings, does its work through the library's modules and
//! returns the exit code. Printing happens here and in [`crate::output`] only.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts::{self, image_detail::PushFacts, ArtifactFile, ArtifactSet};
use crate::cli::{ArtifactsArgs, Cli, Command, DryRunArgs, SettingsArgs, ValidateArgs};
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
        Command::Buildspec(args) => crate::buildspec::command::run(&ctx, &args),
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
struct Plan<'a> {
    valid: bool,
    out: String,
    image: String,
    image_note: &'a str,
    containers: Vec<PlanContainer>,
    load_balancer: Option<String>,
    hooks: Vec<String>,
    files: Vec<String>,
    problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
struct PlanContainer {
    name: String,
    port: Option<u16>,
    slot: u8,
    image: String,
}

/// The path shared by `dry-run` and `artifacts`: render, validate, then write all or nothing.
pub fn produce(
    ctx: &Ctx,
    s: &Settings,
    image: &ImageRef,
    push: &PushFacts,
    note: &str,
) -> Result<Exit, Failure> {
    let taskdef_path = s.taskdef.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no task definition template\n  hint: set [taskdef] template in cutover.toml or pass --taskdef FILE"
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
    let source = display_path(taskdef_path, &ctx.cwd);
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
    let valid = !validate::has_errors(&problems);
    if valid {
        artifacts::write::write_atomically(&set, &s.out_dir)
            .with_context(|| format!("writing the artifacts to `{}`", s.out_dir.display()))
            .map_err(Failure::usage)?;
    }
    let plan = Plan {
        valid,
        out: display_path(&s.out_dir, &ctx.cwd),
        image: artifacts::pinned(image),
        image_note: note,
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
    };
    match ctx.output {
        OutputFormat::Json => print_json(&plan),
        OutputFormat::Text => print_plan(&plan, ctx.quiet),
    }
    Ok(if valid { Exit::Ok } else { Exit::CheckFailed })
}

fn print_plan(plan: &Plan<'_>, quiet: bool) {
    print_problems(&plan.problems, quiet);
    if quiet {
        return;
    }
    if !plan.valid {
        println!("nothing written: the artifacts would fail the Deploy stage");
        return;
    }
    println!("image          {}  ({})", plan.image, plan.image_note);
    for c in &plan.containers {
        let port = c
            .port
            .map_or("no port".to_string(), |p| format!("port {p}"));
        println!(
            "container      {}  {port}, slot {} → <IMAGE{}_NAME>, {}",
            c.name, c.slot, c.slot, c.image
        );
    }
    if let Some(lb) = &plan.load_balancer {
        println!("load balancer  {lb}");
    }
    println!(
        "hooks          {}",
        if plan.hooks.is_empty() {
            "none".to_string()
        } else {
            plan.hooks.join(", ")
        }
    );
    println!(
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
        println!("{p}");
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

fn validate_cmd(ctx: &Ctx, args: &ValidateArgs) -> Result<Exit, Failure> {
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
                    println!(
                        "{what}: valid ({} files, {warnings} warnings)",
                        report.files.len()
                    );
                } else {
                    println!("{what}: invalid ({errors} errors, {warnings} warnings)");
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
