//! `dry-run`, `artifacts` and `validate`: the artifact set rendered, checked and written (one
//! code path for all three), and `dry-run --buildspec`.

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts::image_detail::PushFacts;
use crate::artifacts::read::Template;
use crate::artifacts::read::{self, read_template};
use crate::artifacts::{self, ArtifactSet};
use crate::cli::{ArtifactsArgs, DryRunArgs, ValidateArgs};
use crate::image::context;
use crate::image_ref::ImageRef;
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::plan::{self, Plan};
use crate::problem::{Problem, Severity};
use crate::settings::Settings;
use crate::validate;

use super::{display_path, parse_image, require_repository, resolve, Ctx};

pub(crate) fn dry_run_cmd(ctx: &Ctx, args: DryRunArgs) -> Result<Exit, Failure> {
    if let Some(file) = &args.buildspec {
        return dry_run_buildspec(ctx, file);
    }
    let mut s = resolve(ctx, &args.settings)?;
    without_aws(&mut s)?;
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

/// dry-run and `build --dry-run` make no AWS call: a template file (`--taskdef` or
/// `[taskdef] template`) stands in for the service's live task definition; without one,
/// `from_service` is refused.
pub(crate) fn without_aws(s: &mut Settings) -> Result<(), Failure> {
    if let Some(src) = s.from_service_source.take() {
        if s.taskdef.is_none() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{src}: `taskdef.from_service`: a dry-run makes no AWS call, and from_service reads the template from the ECS service\n  hint: pass --taskdef FILE (DescribeTaskDefinition output works) or set [taskdef] template for the dry-run, or run `cutover artifacts --from-service`, which reads the live template"
            )));
        }
        s.from_service = false;
    }
    Ok(())
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

/// The path shared by `dry-run`, `artifacts` and `build`: render, validate, then write all or
/// nothing, and print the plan.
pub(crate) fn produce(
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

/// The task definition template: the live service's (`--from-service`) or the file's.
pub(crate) fn load_template(ctx: &Ctx, s: &Settings) -> Result<Template, Failure> {
    if s.from_service {
        let t = ctx.block_on(crate::live::service::fetch_configured_template(s))?;
        return Ok(Template {
            value: t.template,
            source: t.source,
            from_service: true,
        });
    }
    let taskdef_path = s.taskdef.as_deref().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no task definition template\n  hint: set [taskdef] template in cutover.toml, pass --taskdef FILE, or --from-service"
        ))
    })?;
    read_template(taskdef_path, &ctx.cwd).map_err(Failure::usage)
}

/// Renders the artifacts for `image` from the configured template and validates them; writes
/// nothing.
pub(crate) fn render_checked(
    ctx: &Ctx,
    s: &Settings,
    image: &ImageRef,
    push: &PushFacts,
    note: &str,
) -> Result<(ArtifactSet, Plan), Failure> {
    let template = load_template(ctx, s)?;
    plan::render_checked(s, &ctx.cwd, template, image, push, note).map_err(Failure::usage)
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
        if plan.pinned_images {
            crate::say!(
                "container      {}  {port}, pinned by the template: {}",
                c.name,
                c.image
            );
        } else {
            crate::say!(
                "container      {}  {port}, slot {} → <IMAGE{}_NAME>, {}",
                c.name,
                c.slot,
                c.slot,
                c.image
            );
        }
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

/// Reads the artifact set at `path` (default `out`) and refuses it, with the validator's report,
/// when it has an error: what a deploy does first, as the Deploy stage would. Returns the set
/// and its path as shown in messages.
pub(crate) fn read_valid_set(
    ctx: &Ctx,
    path: Option<&std::path::Path>,
) -> Result<(ArtifactSet, String), Failure> {
    let path = ctx
        .cwd
        .join(path.unwrap_or_else(|| std::path::Path::new("out")));
    let shown = display_path(&path, &ctx.cwd);
    let set = read::read_artifact(&path)
        .map_err(|e| Failure::usage(e.context(format!("reading the artifact set `{shown}`"))))?;
    let problems = validate::validate(&set);
    if validate::has_errors(&problems) {
        match ctx.output {
            OutputFormat::Json => print_json(&ValidateReport {
                valid: false,
                files: set.names().iter().map(|n| n.to_string()).collect(),
                problems,
            }),
            OutputFormat::Text => print_problems(&problems, false),
        }
        return Err(Failure::usage(anyhow::anyhow!(
            "`{shown}` is not a valid artifact set: nothing was started\n  hint: `cutover validate {shown}` shows the same report"
        )));
    }
    Ok((set, shown))
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
    pub(crate) valid: bool,
    pub(crate) files: Vec<String>,
    pub(crate) problems: Vec<Problem>,
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
    let set = read::read_artifact(&args.dir).map_err(Failure::usage)?;
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

pub(crate) use crate::buildspec::AWS_SHIM;

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
    let args = crate::cli::BuildspecRunArgs {
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
    };
    super::buildspec::run_cmd(ctx, &args)
}
