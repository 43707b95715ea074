//! `cutover pipeline`: `apply`, `start`, `status`, `watch` and `artifacts` (the execution's
//! build output downloaded, unpacked and validated as `cutover validate` does). The work is in
//! [`crate::live::pipeline`].

use std::path::PathBuf;

use crate::cli::{
    ApplyArgs, ExecutionArgs, ExecutionWatchArgs, PipelineArtifactsArgs, SettingsArgs, StartArgs,
    WatchArgs,
};
use crate::live::deployment::Group;
use crate::live::pipeline::{
    apply, download, execution, exit_for, is_final, latest_execution, load_desired,
    locate_artifact, parse_s3_uri, pipeline_name, progress_lines, render_execution,
    running_deployment, start_execution, unpack, ExecutionView,
};
use crate::live::{short_name, Aws, LiveError};
use crate::output::{print_json, Exit, Failure, OutputFormat};

use super::{display_path, print_apply, resolve_live, watch_until_final, Ctx, Sink, Watched};

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
    if args.source_version.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--source-version applies to `cutover codebuild start` only\n  hint: a pipeline builds its source action's branch"
        )));
    }
    let s = resolve_live(ctx, &SettingsArgs::default(), Some(&args.pipeline))?;
    let name = pipeline_name(&s)?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = start_execution(&aws, &name).await?;
        match ctx.output {
            OutputFormat::Json if !args.watch => {
                print_json(&serde_json::json!({"pipeline": name, "execution_id": id}))
            }
            OutputFormat::Json => {}
            OutputFormat::Text => crate::say!("started pipeline `{name}`: execution {id}"),
        }
        if args.watch {
            watch(ctx, &aws, &name, &id, &args.poll, &group_of(&s)).await
        } else {
            Ok(Exit::Ok)
        }
    })
    .map_err(Failure::from)
}

pub(crate) fn status_cmd(ctx: &Ctx, args: ExecutionArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &SettingsArgs::default(), Some(&args.pipeline))?;
    let name = pipeline_name(&s)?;
    let view = ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = match &args.execution_id {
            Some(id) => id.clone(),
            None => latest_execution(&aws, &name).await?,
        };
        execution(&aws, &name, &id).await
    })?;
    view.print(ctx);
    Ok(exit_for(&view.status))
}

pub(crate) fn watch_cmd(ctx: &Ctx, args: ExecutionWatchArgs) -> Result<Exit, Failure> {
    let s = resolve_live(
        ctx,
        &SettingsArgs::default(),
        Some(&args.execution.pipeline),
    )?;
    let name = pipeline_name(&s)?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = match &args.execution.execution_id {
            Some(id) => id.clone(),
            None => latest_execution(&aws, &name).await?,
        };
        watch(ctx, &aws, &name, &id, &args.poll, &group_of(&s)).await
    })
    .map_err(Failure::from)
}

/// The CodeDeploy group and ECS service of the settings, for the diagnosis of a deployment the
/// watch follows.
fn group_of(s: &crate::settings::Settings) -> Group {
    Group {
        application: s.application.clone().unwrap_or_default(),
        deployment_group: s.deployment_group.clone().unwrap_or_default(),
        cluster: s.cluster.clone(),
        service: s.service.clone(),
    }
}

pub(crate) fn artifacts_cmd(ctx: &Ctx, args: PipelineArtifactsArgs) -> Result<Exit, Failure> {
    let s = resolve_live(
        ctx,
        &SettingsArgs::default(),
        Some(&args.execution.pipeline),
    )?;
    let from = match &args.from {
        Some(uri) => Some(parse_s3_uri(uri).ok_or_else(|| {
            Failure::usage(anyhow::anyhow!("--from `{uri}` is not s3://BUCKET/KEY"))
        })?),
        None => None,
    };
    let (obj, label, bytes) = ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let (obj, label) = match from {
            Some(o) => {
                let label = short_name(&o.key).to_string();
                (o, label)
            }
            None => {
                let name = pipeline_name(&s)?;
                let id = match &args.execution.execution_id {
                    Some(id) => id.clone(),
                    None => latest_execution(&aws, &name).await?,
                };
                (locate_artifact(&aws, &name, &id, &args.artifact).await?, id)
            }
        };
        if !ctx.quiet {
            eprintln!("downloading {obj}");
        }
        let bytes = download(&aws, &obj).await?;
        Ok::<_, LiveError>((obj, label, bytes))
    })?;
    let out: PathBuf = args
        .out
        .clone()
        .map(|p| if p.is_absolute() { p } else { ctx.cwd.join(p) })
        .unwrap_or_else(|| ctx.cwd.join("artifacts").join(&label));
    let files = unpack(&bytes, &out)?;
    if !ctx.quiet {
        eprintln!(
            "unpacked {} files from {obj} into {}",
            files.len(),
            display_path(&out, &ctx.cwd)
        );
    }
    super::artifacts::validate_cmd(
        ctx,
        &crate::cli::ValidateArgs {
            dir: out,
            rules: false,
            explain: None,
        },
    )
}

/// Polls the execution until it ends (or `poll.timeout` passes), printing progress to stderr;
/// the final view goes to stdout and the exit code follows the result.
///
/// When the Deploy action runs a CodeDeploy deployment, the watch hands over to it (as
/// `cutover deploy watch` follows it: events, task sets, traffic, on stderr) until it ends or the
/// watch's time is up, then goes on with the execution. A deployment that cannot be read
/// (no codedeploy permission) is a note: the execution is watched as before.
async fn watch(
    ctx: &Ctx,
    aws: &Aws,
    name: &str,
    id: &str,
    poll: &WatchArgs,
    group: &Group,
) -> Result<Exit, LiveError> {
    let started = std::time::Instant::now();
    let followed = std::sync::Mutex::new(std::collections::BTreeSet::<String>::new());
    let followed = &followed;
    watch_until_final(ctx, id, poll, || async move {
        let view = execution(aws, name, id).await?;
        let Some((action, deployment)) = running_deployment(&view) else {
            return Ok(view);
        };
        let fresh = followed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(deployment.to_string());
        let left = poll.timeout.saturating_sub(started.elapsed());
        if !fresh || left.is_zero() {
            return Ok(view);
        }
        if !ctx.quiet {
            eprintln!(
                "{action}: CodeDeploy deployment {deployment}; following it (as `cutover deploy watch {deployment}`)"
            );
        }
        let opts = crate::live::deployment::FollowOptions {
            interval: poll.interval,
            timeout: left,
            probe: None,
            test_probe: None,
        };
        if let Err(e) =
            super::follow_and_print(ctx, aws, group, deployment, &opts, Sink::Stderr).await
        {
            eprintln!("{action}: cannot follow deployment {deployment}: {e}");
        }
        execution(aws, name, id).await
    })
    .await
}

impl Watched for ExecutionView {
    const WHAT: &'static str = "execution";
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
        render_execution(self)
    }
}
