//! `cutover codebuild`: `apply`, `start` and `watch` (phases and status until the build ends).
//! The work is in [`crate::live::codebuild`].

use crate::cli::{ApplyArgs, BuildWatchArgs, SettingsArgs, StartArgs, WatchArgs};
use crate::live::codebuild::{
    apply, exit_for, get_build, is_final, latest_build, load_desired, progress_lines, project_name,
    render_build, start_build, BuildView,
};
use crate::live::{Aws, LiveError};
use crate::output::{print_json, Exit, Failure, OutputFormat};

use super::{print_apply, resolve_live, watch_until_final, Ctx, Watched};

pub(crate) fn apply_cmd(ctx: &Ctx, args: ApplyArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, Some(&args.pipeline))?;
    let desired = load_desired(&s, &ctx.cwd)?;
    let report = ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        apply(&aws, &desired, args.diff).await
    })?;
    Ok(print_apply(ctx, &report))
}

pub(crate) fn start_cmd(ctx: &Ctx, args: StartArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &SettingsArgs::default(), Some(&args.pipeline))?;
    let project = project_name(&s)?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = start_build(&aws, &project, args.source_version.clone()).await?;
        match ctx.output {
            OutputFormat::Json if !args.watch => {
                print_json(&serde_json::json!({"project": project, "build_id": id}))
            }
            OutputFormat::Json => {}
            OutputFormat::Text => {
                crate::say!("started CodeBuild project `{project}`: build {id}")
            }
        }
        if args.watch {
            watch(ctx, &aws, &id, &args.poll).await
        } else {
            Ok(Exit::Ok)
        }
    })
    .map_err(Failure::from)
}

pub(crate) fn watch_cmd(ctx: &Ctx, args: BuildWatchArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &SettingsArgs::default(), Some(&args.pipeline))?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = match &args.build_id {
            Some(id) => id.clone(),
            None => latest_build(&aws, &project_name(&s)?).await?,
        };
        watch(ctx, &aws, &id, &args.poll).await
    })
    .map_err(Failure::from)
}

async fn watch(ctx: &Ctx, aws: &Aws, id: &str, poll: &WatchArgs) -> Result<Exit, LiveError> {
    watch_until_final(ctx, id, poll, || get_build(aws, id)).await
}

impl Watched for BuildView {
    const WHAT: &'static str = "build";
    fn status(&self) -> &str {
        &self.status
    }
    fn is_final(&self) -> bool {
        is_final(&self.status)
    }
    fn exit(&self) -> Exit {
        exit_for(&self.status)
    }
    fn progress(before: Option<&Self>, now: &Self) -> Vec<String> {
        progress_lines(before, now)
    }
    fn render(&self) -> String {
        render_build(self)
    }
}
