//! `cutover deploy`: create a CodeDeploy deployment from the artifact set and follow it;
//! `deploy watch`, `deploy stop`, `deploy continue`. The work is in
//! [`crate::live::deployment`]; this file resolves the flags and prints.

use anyhow::anyhow;

use super::{follow_and_print, resolve_live, Ctx, Sink};
use crate::cli::{
    DeployArgs, DeployCommand, DeployContinueArgs, DeployCreateArgs, DeployStopArgs,
    DeployWatchArgs, GateArgs, WatchArgs,
};
use crate::live::deployment::{self, Answer, Change, CreateOptions, FollowOptions, Group};
use crate::live::{Aws, LiveError};
use crate::output::{print_json, print_json_line, Exit, Failure, OutputFormat};
use crate::probe::{FailureGate, ProbeOptions};
use crate::settings::Settings;

pub(crate) fn deploy_cmd(ctx: &Ctx, args: DeployArgs) -> Result<Exit, Failure> {
    match args.command {
        None => create_cmd(ctx, &args.create),
        Some(DeployCommand::Watch(a)) => watch_cmd(ctx, &a),
        Some(DeployCommand::Stop(a)) => stop_cmd(ctx, &a),
        Some(DeployCommand::Continue(a)) => continue_cmd(ctx, &a),
    }
}

/// The group from the settings; both names are required.
fn group(s: &Settings) -> Result<Group, Failure> {
    let application = crate::live::require(
        s.application.as_deref(),
        "CodeDeploy application",
        "set [codedeploy] application in cutover.toml or pass --application",
    )?;
    let deployment_group = crate::live::require(
        s.deployment_group.as_deref(),
        "CodeDeploy deployment group",
        "set [codedeploy] deployment_group in cutover.toml or pass --deployment-group",
    )?;
    Ok(Group {
        application: application.to_string(),
        deployment_group: deployment_group.to_string(),
        cluster: s.cluster.clone(),
        service: s.service.clone(),
    })
}

fn create_cmd(ctx: &Ctx, args: &DeployCreateArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let group = group(&s)?;
    let follow = follow_options(ctx, &args.gates, &args.poll)?;
    // As the Deploy stage would: an invalid set is refused before anything is registered.
    let (set, shown) = super::artifacts::read_valid_set(ctx, args.artifacts.as_deref())?;
    let rev = crate::local::revision::prepare(&set)
        .map_err(|e| Failure::usage(anyhow!("`{shown}`: {e}")))?;
    let opts = CreateOptions {
        deployment_config: args.deployment_config.clone(),
        description: args.description.clone(),
    };
    ctx.block_on(async {
        // A probe that cannot run is found before anything is created.
        deployment::preflight(&follow).await?;
        let aws = Aws::load(&s).await?;
        let created =
            deployment::create(&aws, &group, &rev.taskdef, &rev.appspec_text, &opts).await?;
        if !ctx.quiet {
            eprintln!("deploy: registered {}", created.task_definition_arn);
            eprintln!(
                "deploy: created deployment {} in {}/{}{}",
                created.deployment_id,
                group.application,
                group.deployment_group,
                opts.deployment_config
                    .as_deref()
                    .map(|c| format!(" with {c}"))
                    .unwrap_or_default()
            );
        }
        if args.no_wait {
            match ctx.output {
                OutputFormat::Json => print_json(&created),
                OutputFormat::Text => crate::say!("{}", created.deployment_id),
            }
            return Ok(Exit::Ok);
        }
        if ctx.output == OutputFormat::Json {
            print_json_line(&Change::Note {
                text: format!("created deployment {}", created.deployment_id),
            });
        }
        follow_and_print(
            ctx,
            &aws,
            &group,
            &created.deployment_id,
            &follow,
            Sink::Stdout,
        )
        .await
    })
    .map_err(Failure::from)
}

fn watch_cmd(ctx: &Ctx, args: &DeployWatchArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let follow = follow_options(ctx, &args.gates, &args.poll)?;
    let group = group_for_id(&s, args.id.as_deref())?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = match &args.id {
            Some(id) => id.clone(),
            None => deployment::latest(&aws, &group, false).await?,
        };
        follow_and_print(ctx, &aws, &group, &id, &follow, Sink::Stdout).await
    })
    .map_err(Failure::from)
}

/// The group, or with an ID given and no group configured, an empty one (watching a deployment
/// by ID needs no group; only `--latest` and the diagnosis do).
fn group_for_id(s: &Settings, id: Option<&str>) -> Result<Group, Failure> {
    match (group(s), id) {
        (Ok(g), _) => Ok(g),
        (Err(_), Some(_)) => Ok(Group {
            application: String::new(),
            deployment_group: String::new(),
            cluster: s.cluster.clone(),
            service: s.service.clone(),
        }),
        (Err(e), None) => Err(e),
    }
}

fn stop_cmd(ctx: &Ctx, args: &DeployStopArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let group = group_for_id(&s, args.id.as_deref())?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = running_or_given(&aws, &group, args.id.as_deref()).await?;
        let answer = deployment::stop(&aws, &id, !args.no_rollback).await?;
        Ok::<_, LiveError>(print_action(
            ctx,
            &id,
            "StopDeployment",
            &answer,
            !args.no_rollback,
        ))
    })
    .map_err(Failure::from)
}

fn continue_cmd(ctx: &Ctx, args: &DeployContinueArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let group = group_for_id(&s, args.id.as_deref())?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = running_or_given(&aws, &group, args.id.as_deref()).await?;
        let answer = deployment::continue_deployment(&aws, &id, args.traffic_wait).await?;
        let what = if args.traffic_wait {
            "ContinueDeployment TERMINATION_WAIT"
        } else {
            "ContinueDeployment READY_WAIT"
        };
        Ok::<_, LiveError>(print_action(ctx, &id, what, &answer, false))
    })
    .map_err(Failure::from)
}

async fn running_or_given(aws: &Aws, group: &Group, id: Option<&str>) -> Result<String, LiveError> {
    match id {
        Some(id) => Ok(id.to_string()),
        None => deployment::latest(aws, group, true).await,
    }
}

/// Prints what StopDeployment or ContinueDeployment answered: 0 accepted, 1 nothing to do.
fn print_action(ctx: &Ctx, id: &str, action: &str, answer: &Answer, rollback: bool) -> Exit {
    let (said, exit) = match answer {
        Answer::Accepted(r) if r.is_empty() => ("accepted".to_string(), Exit::Ok),
        Answer::Accepted(r) => (r.clone(), Exit::Ok),
        Answer::AlreadyCompleted => (
            "the deployment has already ended".to_string(),
            Exit::CheckFailed,
        ),
        Answer::NotWaiting => (
            "the deployment is not waiting".to_string(),
            Exit::CheckFailed,
        ),
    };
    match ctx.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "deployment_id": id,
            "action": action,
            "answer": said,
            "accepted": exit == Exit::Ok,
            "rollback": rollback,
        })),
        OutputFormat::Text => {
            crate::say!(
                "{action} for {id}{}: {said}",
                if rollback { " (with rollback)" } else { "" }
            );
            if exit == Exit::Ok {
                crate::say!("  follow it with: cutover deploy watch {id}");
            }
        }
    }
    exit
}

/// The watch's poll and the probes, from the flags.
fn follow_options(ctx: &Ctx, gates: &GateArgs, poll: &WatchArgs) -> Result<FollowOptions, Failure> {
    let probe = |url: &str| {
        let mut o = ProbeOptions::new(url);
        o.rate = gates.probe_rate;
        o.results_dir = ctx.cwd.join(&gates.results);
        o
    };
    for url in gates.probe.iter().chain(&gates.test_probe) {
        crate::probe::check_url(url).map_err(Failure::usage)?;
    }
    Ok(FollowOptions {
        interval: poll.interval,
        timeout: poll.timeout,
        probe: gates.probe.as_deref().map(|u| {
            let mut o = probe(u);
            o.max_failures = gates.max_failures;
            o.gate = Some(FailureGate::new(gates.max_failures));
            o.live_status = !ctx.quiet && ctx.output == OutputFormat::Text;
            o.live_label = Some(crate::probe::LiveLabel::default());
            o
        }),
        test_probe: gates.test_probe.as_deref().map(|u| {
            let mut o = probe(u);
            o.duration = Some(gates.test_probe_duration);
            o
        }),
    })
}
