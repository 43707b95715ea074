//! `cutover build`: the image built and pushed, then the artifacts for its digest.

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts::image_detail::PushFacts;
use crate::cli::BuildArgs;
use crate::image_ref::ImageRef;
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::plan::Plan;
use crate::settings::Settings;

use super::artifacts::{print_plan, print_problems, render_checked, without_aws, write_valid};
use super::{interrupted, require_repository, resolve, Ctx};

/// `cutover build --output json`: the build's result and the artifacts' plan.
#[derive(Debug, Serialize)]
pub(crate) struct BuildReport {
    #[serde(flatten)]
    build: crate::image::build::BuildResult,
    artifacts: Plan,
}

pub(crate) fn build_cmd(ctx: &Ctx, args: BuildArgs) -> Result<Exit, Failure> {
    let mut s = resolve(ctx, &args.settings)?;
    if args.dry_run {
        without_aws(&mut s)?;
    }
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
        if ctx.output == OutputFormat::Json {
            // stdout holds the JSON alone; the report goes to the log as well.
            for p in &precheck.problems {
                eprintln!("{p}");
            }
            print_json(&precheck);
        } else {
            print_problems(&precheck.problems, ctx.quiet);
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
    let outcome = ctx.block_on(async {
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
pub(crate) fn finish_build(
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
        pushed_at: result.pushed_at.clone(),
        size_in_bytes: result.size_in_bytes,
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
