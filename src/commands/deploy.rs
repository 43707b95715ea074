//! `cutover deploy`: create a CodeDeploy deployment from the artifact set and follow it;
//! `deploy watch`, `deploy stop`, `deploy continue`. The work is in
//! [`crate::live::deployment`]; this file resolves the flags and prints.

use anyhow::anyhow;

use super::{interrupted, resolve_live, Ctx};
use crate::cli::{
    DeployArgs, DeployCommand, DeployContinueArgs, DeployCreateArgs, DeployStopArgs,
    DeployWatchArgs, GateArgs, WatchArgs,
};
use crate::lifecycle::DeploymentStatus;
use crate::live::deployment::{self, Change, CreateOptions, FollowOptions, Followed, Group};
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
        follow_and_print(ctx, &aws, &group, &created.deployment_id, &follow).await
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
            None => deployment::latest(&aws, &group).await?,
        };
        follow_and_print(ctx, &aws, &group, &id, &follow).await
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
        let said = deployment::stop(&aws, &id, !args.no_rollback).await?;
        print_action(ctx, &id, "StopDeployment", &said, !args.no_rollback);
        Ok::<_, LiveError>(Exit::Ok)
    })
    .map_err(Failure::from)
}

fn continue_cmd(ctx: &Ctx, args: &DeployContinueArgs) -> Result<Exit, Failure> {
    let s = resolve_live(ctx, &args.settings, None)?;
    let group = group_for_id(&s, args.id.as_deref())?;
    ctx.block_on(async {
        let aws = Aws::load(&s).await?;
        let id = running_or_given(&aws, &group, args.id.as_deref()).await?;
        deployment::continue_deployment(&aws, &id, args.traffic_wait).await?;
        let what = if args.traffic_wait {
            "TERMINATION_WAIT"
        } else {
            "READY_WAIT"
        };
        print_action(ctx, &id, "ContinueDeployment", what, false);
        Ok::<_, LiveError>(Exit::Ok)
    })
    .map_err(Failure::from)
}

async fn running_or_given(aws: &Aws, group: &Group, id: Option<&str>) -> Result<String, LiveError> {
    match id {
        Some(id) => Ok(id.to_string()),
        None => deployment::latest(aws, group).await,
    }
}

fn print_action(ctx: &Ctx, id: &str, action: &str, said: &str, rollback: bool) {
    match ctx.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "deployment_id": id,
            "action": action,
            "answer": said,
            "rollback": rollback,
        })),
        OutputFormat::Text => {
            crate::say!(
                "{action} sent for {id}{}: {said}",
                if rollback { " (with rollback)" } else { "" }
            );
            crate::say!("  follow it with: cutover deploy watch {id}");
        }
    }
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

pub(crate) async fn follow_and_print(
    ctx: &Ctx,
    aws: &Aws,
    group: &Group,
    id: &str,
    opts: &FollowOptions,
) -> Result<Exit, LiveError> {
    let (quiet, output) = (ctx.quiet, ctx.output);
    let live = opts.probe.as_ref().is_some_and(|p| p.live_status);
    let on = move |c: &Change| match output {
        OutputFormat::Json => print_json_line(c),
        OutputFormat::Text if !quiet => {
            let clear = if live { "\r\x1b[K" } else { "" };
            eprintln!("{clear}{}", c.text());
        }
        OutputFormat::Text => {}
    };
    if !quiet && output == OutputFormat::Text {
        eprintln!("deploy: following {id}");
    }
    let f = deployment::follow(aws, group, id, opts, interrupted(), &on).await?;
    print_followed(ctx, &f);
    Ok(if f.interrupted {
        Exit::Interrupted
    } else if f.passed() {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

fn print_followed(ctx: &Ctx, f: &Followed) {
    if ctx.output == OutputFormat::Json {
        print_json_line(f);
        return;
    }
    let r = &f.report;
    if f.interrupted {
        eprintln!(
            "interrupted: deployment {} goes on in AWS (stop it with `cutover deploy stop {}`)",
            r.id, r.id
        );
    }
    if ctx.quiet && f.passed() {
        return;
    }
    crate::say!(
        "deployment   {} {}{}",
        r.id,
        r.status.as_str(),
        if r.rolled_back { " (rolled back)" } else { "" }
    );
    crate::say!("config       {}", r.deployment_config);
    for e in &r.events {
        let took = e
            .start_unix_us
            .zip(e.end_unix_us)
            .map(|(s, e)| format!(" {:.1}s", e.saturating_sub(s) as f64 / 1e6))
            .unwrap_or_default();
        crate::say!("  {:<22} {:?}{took}", e.name.as_str(), e.status);
    }
    if let Some(e) = &r.error {
        crate::say!("error        {} at {}: {}", e.code, e.event, e.message);
    }
    if let Some(d) = &f.diagnosis {
        if let Some(ev) = &d.failed_event {
            crate::say!(
                "failed event {}: {}",
                ev.name,
                ev.message.as_deref().unwrap_or("(no diagnostics)")
            );
        }
        if !d.service_events.is_empty() {
            crate::say!("service events (newest first):");
            for line in &d.service_events {
                crate::say!("  {line}");
            }
        }
        for t in &d.stopped_tasks {
            crate::say!(
                "stopped task {}: {}",
                t.task_arn,
                t.stopped_reason.as_deref().unwrap_or("(no reason)")
            );
            for (name, code, reason) in &t.containers {
                crate::say!(
                    "  container {name}: exit {}{}",
                    code.map_or("-".into(), |c| c.to_string()),
                    reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        for u in &d.unavailable {
            crate::say!("not read     {u}");
        }
    }
    if let Some(t) = &f.test_gate {
        crate::say!(
            "test probe   {} requests to {}, {} failed: {}",
            t.requests,
            t.url,
            t.failed,
            t.action
        );
    }
    if let (Some(p), Some(g)) = (&f.probe, &f.gate) {
        crate::say!(
            "probe        {} requests, {} failed (limit {}){}",
            p.total,
            p.failed,
            g.limit,
            g.reaction_ms
                .map(|ms| format!("; StopDeployment sent {ms:.1} ms after the limit was passed"))
                .unwrap_or_default()
        );
        let versions: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
        if !versions.is_empty() {
            crate::say!("versions     {}", versions.join(" -> "));
        }
        if let Some(file) = &f.probe_records_file {
            crate::say!("records      {}", file.display());
        }
    }
    if r.status == DeploymentStatus::Succeeded && !f.passed() {
        crate::say!("the deployment succeeded, but the probe saw more failures than allowed");
    }
}
