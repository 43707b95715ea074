//! `cutover deploy`: create a CodeDeploy deployment from the artifact set and follow it;
//! `deploy watch`, `deploy stop`, `deploy continue`. The work is in
//! [`crate::live::deployment`]; this file resolves the flags and prints.

use anyhow::anyhow;

use super::{follow_and_print, resolve_live, Ctx, Sink};
use crate::cli::{
    DeployArgs, DeployCommand, DeployContinueArgs, DeployCreateArgs, DeployMode, DeployStopArgs,
    DeployWatchArgs, GateArgs, ModeArgs, WatchArgs,
};
use crate::live::deployment::{
    self, Answer, Change, CreateOptions, Deployment, FollowOptions, Group,
};
use crate::live::native;
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
fn group(s: &Settings) -> Result<Group, LiveError> {
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

/// The deployment path: the flag, else the given ID's form, else CodeDeploy.
fn mode_of(args: &ModeArgs, id: Option<&str>) -> DeployMode {
    match (args.mode, id.map(Deployment::parse)) {
        (Some(m), _) => m,
        (None, Some(Deployment::Native(_))) => DeployMode::EcsNative,
        _ => DeployMode::Codedeploy,
    }
}

/// The deployment path when neither the flag nor an ID decides: ECS-native when the configured
/// service runs under the ECS controller (DescribeServices), else CodeDeploy (also when the
/// service cannot be read: the CodeDeploy path then says what is missing).
async fn detect_mode(aws: &Aws, s: &Settings) -> DeployMode {
    match (s.cluster.as_deref(), s.service.as_deref()) {
        (Some(c), Some(svc)) if !c.is_empty() && !svc.is_empty() => {
            match native::is_native(aws, c, svc).await {
                Ok(Some(true)) => DeployMode::EcsNative,
                _ => DeployMode::Codedeploy,
            }
        }
        _ => DeployMode::Codedeploy,
    }
}

/// The configured cluster and service (ECS-native deployments go to the service itself).
fn cluster_service(s: &Settings) -> Result<(String, String), LiveError> {
    let cluster = crate::live::require(
        s.cluster.as_deref(),
        "ECS cluster",
        "set [service] cluster in cutover.toml or pass --cluster",
    )?;
    let service = crate::live::require(
        s.service.as_deref(),
        "ECS service",
        "set [service] service in cutover.toml or pass --service",
    )?;
    Ok((cluster.to_string(), service.to_string()))
}

/// The group for the diagnosis of a native deployment: no CodeDeploy names, the service's.
fn service_only(s: &Settings) -> Group {
    Group {
        application: String::new(),
        deployment_group: String::new(),
        cluster: s.cluster.clone(),
        service: s.service.clone(),
    }
}

fn create_cmd(ctx: &Ctx, args: &DeployCreateArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let follow = follow_options(ctx, &args.gates, &args.poll)?;
    // As the Deploy stage would: an invalid set is refused before anything is called.
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
        let mode = match args.mode.mode {
            Some(m) => m,
            None => detect_mode(&aws, &s).await,
        };
        let (group, service) = match mode {
            DeployMode::Codedeploy => (group(&s)?, None),
            DeployMode::EcsNative => {
                if args.deployment_config.is_some() {
                    return Err(LiveError::Config(
                        "--deployment-config names a CodeDeploy configuration; an ECS-native service deploys with its own strategy\n  hint: change the service's deploymentConfiguration (strategy, bake time), or drop the flag".into(),
                    ));
                }
                (service_only(&s), Some(cluster_service(&s)?))
            }
        };
        let created = match &service {
            None => {
                deployment::create(&aws, &group, &rev.taskdef, &rev.appspec_text, &opts).await?
            }
            Some((cluster, svc)) => native::create(&aws, cluster, svc, &rev.taskdef).await?,
        };
        if !ctx.quiet {
            eprintln!("deploy: registered {}", created.task_definition_arn);
            match &service {
                None => eprintln!(
                    "deploy: created deployment {} in {}/{}{}",
                    created.deployment_id,
                    group.application,
                    group.deployment_group,
                    opts.deployment_config
                        .as_deref()
                        .map(|c| format!(" with {c}"))
                        .unwrap_or_default()
                ),
                Some((cluster, svc)) => eprintln!(
                    "deploy: updated service {cluster}/{svc}: service deployment {}",
                    created.deployment_id
                ),
            }
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
    // With no service to look at, nothing can make it ECS-native: a missing group is said at once.
    if args.mode.mode.is_none() && args.id.is_none() && cluster_service(&s).is_err() {
        group(&s)?;
    }
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let mode = match (args.mode.mode, args.id.as_deref()) {
            (Some(m), _) => m,
            (None, Some(id)) => mode_of(&args.mode, Some(id)),
            (None, None) => detect_mode(&aws, &s).await,
        };
        let (group, id) = match (mode, &args.id) {
            (DeployMode::Codedeploy, Some(id)) => (group_for_id(&s, Some(id))?, id.clone()),
            (DeployMode::Codedeploy, None) => {
                let g = group(&s)?;
                let id = deployment::latest(&aws, &g, false).await?;
                (g, id)
            }
            (DeployMode::EcsNative, Some(id)) => (service_only(&s), id.clone()),
            (DeployMode::EcsNative, None) => {
                let (cluster, svc) = cluster_service(&s)?;
                (
                    service_only(&s),
                    native::latest(&aws, &cluster, &svc, false).await?,
                )
            }
        };
        follow_and_print(ctx, &aws, &group, &id, &follow, Sink::Stdout).await
    })
    .map_err(Failure::from)
}

/// The group, or with an ID given and no group configured, an empty one (watching a deployment
/// by ID needs no group; only `--latest` and the diagnosis do).
fn group_for_id(s: &Settings, id: Option<&str>) -> Result<Group, LiveError> {
    match (group(s), id) {
        (Ok(g), _) => Ok(g),
        (Err(_), Some(_)) => Ok(service_only(s)),
        (Err(e), None) => Err(e),
    }
}

/// The deployment a stop or continue acts on: the given one, else the newest running one.
fn running_or_given(
    ctx: &Ctx,
    s: &Settings,
    mode: &ModeArgs,
    id: Option<&str>,
) -> Result<Deployment, Failure> {
    if let Some(id) = id {
        return Ok(match mode_of(mode, Some(id)) {
            DeployMode::EcsNative => Deployment::Native(id.to_string()),
            DeployMode::Codedeploy => Deployment::CodeDeploy(id.to_string()),
        });
    }
    let flag = mode.mode;
    ctx.block_on(async {
        let aws = Aws::load(s).await?;
        let mode = match flag {
            Some(m) => m,
            None => detect_mode(&aws, s).await,
        };
        match mode {
            DeployMode::Codedeploy => deployment::latest(&aws, &group(s)?, true)
                .await
                .map(Deployment::CodeDeploy),
            DeployMode::EcsNative => {
                let (cluster, svc) = cluster_service(s)?;
                native::latest(&aws, &cluster, &svc, true)
                    .await
                    .map(Deployment::Native)
            }
        }
    })
    .map_err(Failure::from)
}

fn stop_cmd(ctx: &Ctx, args: &DeployStopArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let target = running_or_given(ctx, &s, &args.mode, args.id.as_deref())?;
    let rollback = !args.no_rollback;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let answer = target.stop(&aws, rollback).await?;
        let call = target.calls().0;
        Ok::<_, LiveError>(print_action(ctx, target.id(), call, &answer, rollback))
    })
    .map_err(Failure::from)
}

fn continue_cmd(ctx: &Ctx, args: &DeployContinueArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let target = running_or_given(ctx, &s, &args.mode, args.id.as_deref())?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let (answer, what) = match (&target, args.traffic_wait) {
            (Deployment::CodeDeploy(id), true) => (
                deployment::continue_deployment(&aws, id, true).await?,
                "ContinueDeployment TERMINATION_WAIT",
            ),
            (Deployment::CodeDeploy(id), false) => (
                deployment::continue_deployment(&aws, id, false).await?,
                "ContinueDeployment READY_WAIT",
            ),
            (Deployment::Native(_), true) => {
                return Err(LiveError::Config(
                    "--traffic-wait ends CodeDeploy's termination wait; an ECS-native deployment's bake time cannot be cut short\n  hint: drop --traffic-wait to continue a hook waiting for an action".into(),
                ))
            }
            (Deployment::Native(arn), false) => (
                native::continue_deployment(&aws, arn).await?,
                "ContinueServiceDeployment CONTINUE",
            ),
        };
        Ok::<_, LiveError>(print_action(ctx, target.id(), what, &answer, false))
    })
    .map_err(Failure::from)
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
        // A deployment may bake for days: summarize as the records come, keep none.
        o.keep_records = false;
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
