//! `cutover verify`: the settings and the image flags to a [`Target`], the read-only pre-flight
//! of [`crate::live::verify`], and its report.

use crate::cli::VerifyArgs;
use crate::image_ref::ImageRef;
use crate::live::verify::{render, verify, Severity, Target};
use crate::live::Aws;
use crate::output::{print_json, Exit, Failure, OutputFormat};

use super::{resolve_live, Ctx};

pub(crate) fn verify_cmd(ctx: &Ctx, args: VerifyArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let image = match (&args.image, &args.digest) {
        (Some(i), _) => {
            let mut r = ImageRef::parse(i).map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "--image `{i}` is not a valid image reference: {e}"
                ))
            })?;
            if let Some(d) = &args.digest {
                r.digest = Some(d.clone());
            }
            Some(r)
        }
        (None, Some(d)) => {
            let repo = s.image.repository.as_deref().ok_or_else(|| {
                Failure::usage(anyhow::anyhow!(
                    "--digest needs the repository\n  hint: set [image] repository or pass --image"
                ))
            })?;
            let mut r =
                ImageRef::parse(repo).map_err(|e| Failure::usage(anyhow::anyhow!("{e}")))?;
            r.digest = Some(d.clone());
            Some(r)
        }
        (None, None) => None,
    };
    if let Some(d) = image.as_ref().and_then(|i| i.digest.as_deref()) {
        if !crate::image_ref::is_sha256_digest(d) {
            return Err(Failure::usage(anyhow::anyhow!(
                "`{d}` is not `sha256:` followed by 64 lowercase hex characters"
            )));
        }
    }
    let native = args.mode.mode == Some(crate::cli::DeployMode::EcsNative);
    let target = Target::from_settings(&s, image, native)?;
    let report = ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        if native {
            crate::live::verify_native::verify(&aws, &target).await
        } else {
            verify(&aws, &target).await
        }
    })?;
    match ctx.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Text => {
            let text = render(&report);
            if ctx.quiet {
                for f in report
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                {
                    crate::say!("{f}");
                }
            } else {
                crate::output::say_raw(&text);
            }
        }
    }
    Ok(if report.ok {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}
