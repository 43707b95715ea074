//! `dry-run`, `artifacts` and `validate`: the artifact set rendered, checked and written (one
//! code path for all three), and `dry-run --buildspec`.

use std::path::Path;

use serde::Serialize;

use crate::artifacts::{self, image_detail::PushFacts, ArtifactFile, ArtifactSet};
use crate::cli::{ArtifactsArgs, DryRunArgs, ValidateArgs};
use crate::image::context;
use crate::image_ref::ImageRef;
use crate::run::{display_path, parse_image, require_repository, resolve};
use crate::settings::Settings;
use crate::validate::{self, Problem, Severity};
use anyhow::Context as _;

use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::run::Ctx;

pub(crate) fn dry_run(ctx: &Ctx, args: DryRunArgs) -> Result<Exit, Failure> {
    if let Some(file) = &args.buildspec {
        return dry_run_buildspec(ctx, file);
    }
    let mut s = resolve(ctx, &args.settings)?;
    // dry-run makes no AWS call: a template file given on the command line stands in for the
    // service's live task definition; without one, `from_service` is refused.
    if let Some(src) = s.from_service_source.take() {
        if args.settings.taskdef.is_none() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{src}: `taskdef.from_service`: dry-run makes no AWS call, and from_service reads the template from the ECS service\n  hint: pass --taskdef FILE to the dry-run (DescribeTaskDefinition output works), or run `cutover artifacts --from-service`, which reads the live template"
            )));
        }
        s.from_service = false;
    }
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

pub(crate) fn artifacts_cmd(ctx: &Ctx, args: ArtifactsArgs) -> Result<Exit, Failure> {
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
pub(crate) fn write_valid(s: &Settings, set: &ArtifactSet, plan: &Plan) -> Result<(), Failure> {
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
        pinned_images: s.pinned_images,
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
pub(crate) fn load_template(
    ctx: &Ctx,
    s: &Settings,
) -> Result<(serde_json::Value, String, bool), Failure> {
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

pub(crate) fn print_plan(plan: &Plan, quiet: bool) {
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

pub(crate) fn print_problems(problems: &[Problem], quiet: bool) {
    for p in problems {
        if quiet && p.severity == Severity::Warning {
            continue;
        }
        crate::say!("{p}");
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ValidateReport {
    valid: bool,
    files: Vec<String>,
    problems: Vec<Problem>,
}

pub(crate) fn validate_cmd(ctx: &Ctx, args: &ValidateArgs) -> Result<Exit, Failure> {
    use crate::validate::catalog;
    if args.rules {
        match ctx.output {
            OutputFormat::Json => print_json(&catalog::RULES),
            OutputFormat::Text => print!("{}", catalog::render_table()),
        }
        return Ok(Exit::Ok);
    }
    if let Some(id) = &args.explain {
        let rule = catalog::find(id).ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "no rule `{id}`\n  hint: `cutover validate --rules` lists them"
            ))
        })?;
        match ctx.output {
            OutputFormat::Json => print_json(rule),
            OutputFormat::Text => print!("{}", catalog::render_explanation(rule)),
        }
        return Ok(Exit::Ok);
    }
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

pub(crate) fn read_dir_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<ArtifactFile>,
) -> anyhow::Result<()> {
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

/// Stands in for the AWS CLI during `dry-run --buildspec`: only fetching the cutover binary is
/// served (with this very binary); anything else fails loudly.
pub(crate) const AWS_SHIM: &str = r#"#!/bin/sh
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
pub(crate) fn dry_run_buildspec(ctx: &Ctx, file: &Path) -> Result<Exit, Failure> {
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
