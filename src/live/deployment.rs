//! `cutover deploy`: a CodeDeploy ECS blue/green deployment from the artifact set, as
//! CodeDeployToECS creates it (RegisterTaskDefinition, then CreateDeployment with the AppSpec as
//! `AppSpecContent`), followed with GetDeployment and GetDeploymentTarget, stopped
//! (StopDeployment) and continued (ContinueDeployment). What a poll saw becomes a [`Snapshot`]
//! (pure, from the SDK's types), two snapshots become [`Change`]s (pure), and the end becomes the
//! same [`DeploymentReport`] `cutover local` writes. [`follow`] runs the watch with the probe
//! gate (stop with rollback once the probe's failures pass the limit) and the test-listener gate
//! (continue from Ready only when the test probe saw no failure). Nothing here prints: the
//! command gets each step through a callback.

use std::future::Future;
use std::time::Duration;

use aws_sdk_codedeploy::types::{
    AppSpecContent, DeploymentInfo, DeploymentReadyAction, DeploymentWaitType, EcsTarget,
    RevisionLocation, RevisionLocationType,
};
use serde::Serialize;
use serde_json::Value;

use super::snapshot::unix_us;
pub use super::snapshot::{
    changes, revision_of, task_definition_in, Answer, Change, Created, Overview, Snapshot, TaskSet,
};
use super::{Aws, LiveError};
use crate::aws::AwsError;
use crate::lifecycle::{
    DeploymentReport, DeploymentStatus, ErrorInfo, Event, EventRecord, EventStatus, Weight,
};
use crate::probe::record::{format_unix_us, now_unix_us};
use crate::probe::{self, FailureGate, ProbeOptions};

/// The deployment group a deployment goes to, and the ECS service behind it (for the
/// diagnosis of a failure: the service's events and the stopped tasks).
#[derive(Debug, Clone)]
pub struct Group {
    pub application: String,
    pub deployment_group: String,
    pub cluster: Option<String>,
    pub service: Option<String>,
}

/// What CreateDeployment gets besides the group.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// This deployment's configuration instead of the group's.
    pub deployment_config: Option<String>,
    pub description: Option<String>,
}

/// The AppSpec with `<TASK_DEFINITION>` replaced by the registered ARN, as CodeDeployToECS
/// writes it (pure).
pub fn fill_appspec(appspec: &str, task_definition_arn: &str) -> String {
    appspec.replace("<TASK_DEFINITION>", task_definition_arn)
}

fn no_application(aws: &Aws, group: &Group) -> LiveError {
    LiveError::NotFound {
        what: "CodeDeploy application",
        name: group.application.clone(),
        region: aws.region.clone(),
        hint: "check [codedeploy] application in cutover.toml (or --application) and the region"
            .into(),
    }
}

fn no_group(aws: &Aws, group: &Group) -> LiveError {
    LiveError::NotFound {
        what: "CodeDeploy deployment group",
        name: group.deployment_group.clone(),
        region: aws.region.clone(),
        hint: "check [codedeploy] deployment_group in cutover.toml (or --deployment-group)".into(),
    }
}

/// GetDeploymentGroup: the group exists and deploys to ECS.
pub async fn check_group(aws: &Aws, group: &Group) -> Result<(), LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let out = cd
        .get_deployment_group()
        .application_name(&group.application)
        .deployment_group_name(&group.deployment_group)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_application_does_not_exist_exception() => no_application(aws, group),
            Some(s) if s.is_deployment_group_does_not_exist_exception() => no_group(aws, group),
            _ => aws.error(AwsError::new("codedeploy:GetDeploymentGroup", &e, false)),
        })?;
    let platform = out
        .deployment_group_info()
        .and_then(|g| g.compute_platform())
        .map(|p| p.as_str().to_string());
    match platform.as_deref() {
        Some(p) if p != "ECS" => Err(LiveError::Config(format!(
            "the deployment group `{}/{}` deploys to {p}, not ECS\n  hint: name the ECS blue/green group in [codedeploy] deployment_group",
            group.application, group.deployment_group
        ))),
        _ => Ok(()),
    }
}

/// Checks the group, registers `taskdef` (images already filled) and creates the deployment
/// with the AppSpec. A missing application or group is found before anything is registered.
pub async fn create(
    aws: &Aws,
    group: &Group,
    taskdef: &Value,
    appspec: &str,
    opts: &CreateOptions,
) -> Result<Created, LiveError> {
    check_group(aws, group).await?;
    let arn = super::service::register_task_definition(aws, taskdef).await?;
    let content = fill_appspec(appspec, &arn);
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let out = cd
        .create_deployment()
        .application_name(&group.application)
        .deployment_group_name(&group.deployment_group)
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(AppSpecContent::builder().content(&content).build())
                .build(),
        )
        .set_deployment_config_name(opts.deployment_config.clone())
        .set_description(opts.description.clone())
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_application_does_not_exist_exception() => no_application(aws, group),
            Some(s) if s.is_deployment_group_does_not_exist_exception() => no_group(aws, group),
            Some(s) if s.is_deployment_config_does_not_exist_exception() => LiveError::NotFound {
                what: "CodeDeploy deployment configuration",
                name: opts
                    .deployment_config
                    .clone()
                    .unwrap_or_else(|| "(the group's)".into()),
                region: aws.region.clone(),
                hint:
                    "use a name such as CodeDeployDefault.ECSAllAtOnce, or create the configuration"
                        .into(),
            },
            _ => aws.error(AwsError::new("codedeploy:CreateDeployment", &e, false)),
        })?;
    Ok(Created {
        deployment_id: out.deployment_id().unwrap_or_default().to_string(),
        task_definition_arn: arn,
        appspec_content: content,
    })
}

/// The deployment a watch follows: a CodeDeploy deployment (its ID, `d-...`) or an ECS
/// service deployment (its ARN, `arn:aws:ecs:...:service-deployment/...`). Both become the same
/// [`Snapshot`]; stop and continue go to the API that owns the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    CodeDeploy(String),
    Native(String),
}

impl Deployment {
    /// Which kind `id` is, from its form.
    pub fn parse(id: &str) -> Deployment {
        if id.starts_with("arn:") && id.contains(":service-deployment/") {
            Deployment::Native(id.to_string())
        } else {
            Deployment::CodeDeploy(id.to_string())
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Deployment::CodeDeploy(id) | Deployment::Native(id) => id,
        }
    }

    /// The API calls that stop and continue it, for messages.
    pub fn calls(&self) -> (&'static str, &'static str) {
        match self {
            Deployment::CodeDeploy(_) => ("StopDeployment", "ContinueDeployment"),
            Deployment::Native(_) => ("StopServiceDeployment", "ContinueServiceDeployment"),
        }
    }

    pub async fn snapshot(&self, aws: &Aws) -> Result<Snapshot, LiveError> {
        match self {
            Deployment::CodeDeploy(id) => snapshot(aws, id).await,
            Deployment::Native(arn) => super::native::snapshot(aws, arn).await,
        }
    }

    /// Stops it, rolling back when `rollback`.
    pub async fn stop(&self, aws: &Aws, rollback: bool) -> Result<Answer, LiveError> {
        match self {
            Deployment::CodeDeploy(id) => stop(aws, id, rollback).await,
            Deployment::Native(arn) => super::native::stop(aws, arn, rollback).await,
        }
    }

    /// Lets a deployment waiting at Ready (CodeDeploy) or at a hook (ECS) go on.
    pub async fn continue_ready(&self, aws: &Aws) -> Result<Answer, LiveError> {
        match self {
            Deployment::CodeDeploy(id) => continue_deployment(aws, id, false).await,
            Deployment::Native(arn) => super::native::continue_deployment(aws, arn).await,
        }
    }
}

/// Statuses of a deployment that has not ended.
const ACTIVE: [&str; 5] = ["Created", "Queued", "InProgress", "Ready", "Baking"];

/// The group's newest deployment that has not ended, else (unless `running_only`) its newest.
pub async fn latest(aws: &Aws, group: &Group, running_only: bool) -> Result<String, LiveError> {
    use aws_sdk_codedeploy::types::DeploymentStatus as S;
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let passes: &[bool] = if running_only {
        &[true]
    } else {
        &[true, false]
    };
    for &active_only in passes {
        let mut req = cd
            .list_deployments()
            .application_name(&group.application)
            .deployment_group_name(&group.deployment_group);
        if active_only {
            for s in ACTIVE {
                req = req.include_only_statuses(S::from(s));
            }
        }
        let out = req.send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_application_does_not_exist_exception() => no_application(aws, group),
            Some(s) if s.is_deployment_group_does_not_exist_exception() => no_group(aws, group),
            _ => aws.error(AwsError::new("codedeploy:ListDeployments", &e, false)),
        })?;
        let ids = out.deployments();
        if ids.is_empty() {
            continue;
        }
        if ids.len() == 1 {
            return Ok(ids[0].clone());
        }
        // The list's order is not documented: the newest by creation time.
        let got = cd
            .batch_get_deployments()
            .set_deployment_ids(Some(ids.iter().take(25).cloned().collect()))
            .send()
            .await
            .map_err(|e| aws.error(AwsError::new("codedeploy:BatchGetDeployments", &e, false)))?;
        if let Some(newest) = got
            .deployments_info()
            .iter()
            .max_by_key(|d| d.create_time().map(|t| (t.secs(), t.subsec_nanos())))
            .and_then(|d| d.deployment_id())
        {
            return Ok(newest.to_string());
        }
        return Ok(ids[0].clone());
    }
    Err(LiveError::Config(format!(
        "the deployment group `{}/{}` has no {}deployment\n  hint: start one with `cutover deploy`, or pass the deployment ID",
        group.application,
        group.deployment_group,
        if running_only { "running " } else { "" }
    )))
}

/// The view of a CodeDeploy deployment `info` and its ECS target (none before Install), pure.
pub fn snapshot_of(info: &DeploymentInfo, target: Option<&EcsTarget>) -> Snapshot {
    let status = info
        .status()
        .and_then(|s| DeploymentStatus::parse(s.as_str()))
        .unwrap_or(DeploymentStatus::InProgress);
    let mut events: Vec<EventRecord> = crate::lifecycle::plan_events(&[]);
    for le in target.map(EcsTarget::lifecycle_events).unwrap_or_default() {
        let Some(e) = le.lifecycle_event_name().and_then(Event::parse) else {
            continue;
        };
        let Some(rec) = events.iter_mut().find(|r| r.name == e) else {
            continue;
        };
        rec.status = le
            .status()
            .and_then(|s| EventStatus::parse(s.as_str()))
            .unwrap_or(EventStatus::Unknown);
        rec.start_unix_us = le.start_time().map(unix_us);
        rec.end_unix_us = le.end_time().map(unix_us);
        rec.start = rec.start_unix_us.map(format_unix_us);
        rec.end = rec.end_unix_us.map(format_unix_us);
        rec.message = le.diagnostics().map(|d| {
            let mut m = String::new();
            if let Some(c) = d.error_code() {
                m.push_str(c.as_str());
            }
            if let Some(msg) = d.message().filter(|s| !s.is_empty()) {
                if !m.is_empty() {
                    m.push_str(": ");
                }
                m.push_str(msg);
            }
            if let Some(tail) = d.log_tail().filter(|s| !s.trim().is_empty()) {
                m.push_str("\nlog tail:\n");
                m.push_str(tail.trim_end());
            }
            m
        });
    }
    // CodeDeploy shows the termination wait as the deployment's Baking status.
    if let Some(t) = events.iter_mut().find(|r| r.name == Event::TerminateBlue) {
        t.status = match status {
            DeploymentStatus::Baking => EventStatus::InProgress,
            DeploymentStatus::Succeeded => EventStatus::Succeeded,
            DeploymentStatus::Failed | DeploymentStatus::Stopped => EventStatus::Skipped,
            _ => EventStatus::Pending,
        };
    }
    let task_sets = target
        .map(EcsTarget::task_sets_info)
        .unwrap_or_default()
        .iter()
        .map(|t| TaskSet {
            id: t.identifer().unwrap_or_default().to_string(),
            label: t
                .task_set_label()
                .map(|l| l.as_str().to_uppercase())
                .unwrap_or_default(),
            status: t.status().unwrap_or_default().to_string(),
            desired: t.desired_count(),
            pending: t.pending_count(),
            running: t.running_count(),
            traffic_weight: t.traffic_weight(),
            test_traffic_weight: None,
            target_group: t.target_group().and_then(|g| g.name()).map(str::to_string),
        })
        .collect();
    let failed_event = events
        .iter()
        .find(|e| e.status == EventStatus::Failed)
        .map(|e| e.name);
    let last_started = events
        .iter()
        .rev()
        .find(|e| e.start_unix_us.is_some())
        .map(|e| e.name);
    let error = info
        .error_information()
        .filter(|e| e.code().is_some() || e.message().is_some())
        .map(|e| ErrorInfo {
            code: e.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
            event: failed_event
                .or(last_started)
                .unwrap_or(Event::BeforeInstall),
            message: e.message().unwrap_or_default().to_string(),
        });
    let appspec = info
        .revision()
        .and_then(|r| r.app_spec_content())
        .and_then(|c| c.content());
    Snapshot {
        id: info.deployment_id().unwrap_or_default().to_string(),
        status,
        application: info.application_name().unwrap_or_default().to_string(),
        deployment_group: info.deployment_group_name().unwrap_or_default().to_string(),
        deployment_config: info
            .deployment_config_name()
            .unwrap_or_default()
            .to_string(),
        task_definition_arn: appspec.and_then(task_definition_in),
        events,
        task_sets,
        overview: info.deployment_overview().map(|o| Overview {
            pending: o.pending(),
            in_progress: o.in_progress(),
            succeeded: o.succeeded(),
            failed: o.failed(),
            skipped: o.skipped(),
            ready: o.ready(),
        }),
        error,
        rollback: info
            .rollback_info()
            .and_then(|r| r.rollback_message())
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        rollback_deployment: info
            .rollback_info()
            .and_then(|r| r.rollback_deployment_id())
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        bake_minutes: info
            .blue_green_deployment_configuration()
            .and_then(|b| b.terminate_blue_instances_on_deployment_success())
            .map(|t| u32::try_from(t.termination_wait_time_in_minutes()).unwrap_or(0)),
        waits_at_ready: info
            .blue_green_deployment_configuration()
            .and_then(|b| b.deployment_ready_option())
            .and_then(|r| r.action_on_timeout())
            == Some(&DeploymentReadyAction::StopDeployment),
        create_unix_us: info.create_time().map(unix_us),
        complete_unix_us: info.complete_time().map(unix_us),
    }
}

/// GetDeployment and, once the deployment has a target, GetDeploymentTarget.
pub async fn snapshot(aws: &Aws, id: &str) -> Result<Snapshot, LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let got = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_deployment_does_not_exist_exception())
            {
                LiveError::NotFound {
                    what: "CodeDeploy deployment",
                    name: id.to_string(),
                    region: aws.region.clone(),
                    hint: "check the ID (d-XXXXXXXXX) and the region; `cutover deploy watch --latest` finds the group's newest".into(),
                }
            } else {
                aws.error(AwsError::new("codedeploy:GetDeployment", &e, false))
            }
        })?;
    let Some(info) = got.deployment_info() else {
        return Err(LiveError::Unexpected(format!(
            "GetDeployment for `{id}` answered no deploymentInfo"
        )));
    };
    // Before it starts, a deployment has no target (and moto has no target APIs at all).
    let waiting = matches!(
        info.status().map(|s| s.as_str()),
        Some("Created" | "Queued") | None
    );
    let target = if waiting {
        None
    } else {
        ecs_target(aws, id).await?
    };
    Ok(snapshot_of(info, target.as_ref()))
}

async fn ecs_target(aws: &Aws, id: &str) -> Result<Option<EcsTarget>, LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let list = cd
        .list_deployment_targets()
        .deployment_id(id)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("codedeploy:ListDeploymentTargets", &e, false)))?;
    let Some(target_id) = list.target_ids().first() else {
        return Ok(None);
    };
    let got = cd
        .get_deployment_target()
        .deployment_id(id)
        .target_id(target_id)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("codedeploy:GetDeploymentTarget", &e, false)))?;
    Ok(got
        .deployment_target()
        .and_then(|t| t.ecs_target())
        .cloned())
}

/// StopDeployment; `rollback` asks CodeDeploy to roll back (its `autoRollbackEnabled`).
pub async fn stop(aws: &Aws, id: &str, rollback: bool) -> Result<Answer, LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let sent = cd
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(rollback)
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_deployment_already_completed_exception()) =>
        {
            return Ok(Answer::AlreadyCompleted)
        }
        Err(e) => return Err(aws.error(AwsError::new("codedeploy:StopDeployment", &e, false))),
    };
    let status = out
        .status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    Ok(Answer::Accepted(match out.status_message() {
        Some(m) if !m.is_empty() => format!("{status}: {m}"),
        _ => status,
    }))
}

/// ContinueDeployment: from Ready (`termination_wait: false`, READY_WAIT) or out of the
/// termination wait (TERMINATION_WAIT).
pub async fn continue_deployment(
    aws: &Aws,
    id: &str,
    termination_wait: bool,
) -> Result<Answer, LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    let sent = cd
        .continue_deployment()
        .deployment_id(id)
        .deployment_wait_type(if termination_wait {
            DeploymentWaitType::TerminationWait
        } else {
            DeploymentWaitType::ReadyWait
        })
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answer::Accepted(String::new())),
        Err(e) => match e.as_service_error() {
            Some(s) if s.is_deployment_already_completed_exception() => {
                Ok(Answer::AlreadyCompleted)
            }
            Some(s)
                if s.is_deployment_is_not_in_ready_state_exception()
                    || s.is_invalid_deployment_status_exception() =>
            {
                Ok(Answer::NotWaiting)
            }
            _ => Err(aws.error(AwsError::new("codedeploy:ContinueDeployment", &e, false))),
        },
    }
}

/// A green task that stopped, as DescribeTasks shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppedTask {
    pub task_arn: String,
    pub stopped_reason: Option<String>,
    /// `(container, exit code, reason)`.
    pub containers: Vec<(String, Option<i32>, Option<String>)>,
}

/// Where users look by hand after a failed deployment, in one place.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The failed event's diagnostics (errorCode, message, logTail).
    pub failed_event: Option<EventRecord>,
    /// The ECS service's most recent events, newest first: `time message`.
    pub service_events: Vec<String>,
    pub stopped_tasks: Vec<StoppedTask>,
    /// A place that could not be read, and why.
    pub unavailable: Vec<String>,
}

/// How many service events a diagnosis shows.
const SERVICE_EVENTS: usize = 8;

/// Reads the three places: the failed event, the service's events, the stopped green tasks.
pub async fn diagnose(aws: &Aws, group: &Group, snap: &Snapshot) -> Diagnosis {
    let mut d = Diagnosis {
        failed_event: snap
            .events
            .iter()
            .find(|e| e.status == EventStatus::Failed)
            .cloned(),
        ..Diagnosis::default()
    };
    let (Some(cluster), Some(service)) = (group.cluster.as_deref(), group.service.as_deref())
    else {
        d.unavailable.push(
            "the ECS service's events and stopped tasks: set [service] cluster and service".into(),
        );
        return d;
    };
    match super::service::describe_service(aws, cluster, service).await {
        Ok(Some(svc)) => {
            d.service_events = svc
                .events()
                .iter()
                .take(SERVICE_EVENTS)
                .map(|e| {
                    format!(
                        "{} {}",
                        e.created_at()
                            .map(|t| format_unix_us(unix_us(t)))
                            .unwrap_or_default(),
                        e.message().unwrap_or_default()
                    )
                })
                .collect();
        }
        Ok(None) => d.unavailable.push(format!(
            "the ECS service {cluster}/{service} does not exist"
        )),
        Err(e) => d.unavailable.push(format!("the service's events: {e}")),
    }
    let Some(arn) = snap.task_definition_arn.as_deref() else {
        return d;
    };
    match stopped_tasks(aws, cluster, arn).await {
        Ok(t) => d.stopped_tasks = t,
        Err(e) => d.unavailable.push(format!("the stopped tasks: {e}")),
    }
    d
}

/// The stopped tasks of the task definition `arn` in `cluster` (the newest 100 stopped tasks
/// of its family, those of that revision kept).
async fn stopped_tasks(aws: &Aws, cluster: &str, arn: &str) -> Result<Vec<StoppedTask>, LiveError> {
    use aws_sdk_ecs::types::DesiredStatus;
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let family = super::short_name(arn).split(':').next().unwrap_or_default();
    let list = ecs
        .list_tasks()
        .cluster(cluster)
        .family(family)
        .desired_status(DesiredStatus::Stopped)
        .max_results(100)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:ListTasks", &e, false)))?;
    if list.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let tasks = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(list.task_arns().to_vec()))
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:DescribeTasks", &e, false)))?;
    Ok(tasks
        .tasks()
        .iter()
        .filter(|t| t.task_definition_arn() == Some(arn))
        .map(|t| StoppedTask {
            task_arn: t.task_arn().unwrap_or_default().to_string(),
            stopped_reason: t.stopped_reason().map(str::to_string),
            containers: t
                .containers()
                .iter()
                .map(|c| {
                    (
                        c.name().unwrap_or_default().to_string(),
                        c.exit_code(),
                        c.reason().map(str::to_string),
                    )
                })
                .collect(),
        })
        .collect())
}

/// How [`follow`] watches.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub interval: Duration,
    /// Give up after this long (the deployment goes on).
    pub timeout: Duration,
    /// The production probe: it runs from the start of the watch to its end; with `gate` set,
    /// its failures past the gate's limit stop the deployment with rollback at once.
    pub probe: Option<ProbeOptions>,
    /// The test-listener probe: run at Ready (or after AllowTestTraffic when the group does not
    /// wait), ContinueDeployment only when it saw no failure, else StopDeployment with rollback.
    pub test_probe: Option<ProbeOptions>,
}

/// What the probe gate did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub limit: u64,
    pub failed: u64,
    /// When the failure over the limit was recorded, and when StopDeployment was sent (Unix µs).
    pub tripped_unix_us: Option<u64>,
    pub stop_sent_unix_us: Option<u64>,
    /// From the one to the other.
    pub reaction_ms: Option<f64>,
}

/// What the test-listener gate saw and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestGateReport {
    pub url: String,
    pub requests: u64,
    pub failed: u64,
    pub versions: Vec<String>,
    /// `continued` (ContinueDeployment sent), `observed` (the group does not wait: nothing to
    /// continue), `stopped` (StopDeployment with rollback sent: a request failed, or the probe
    /// could not run) or `cut short` (the production gate stopped the deployment first).
    pub action: String,
    pub records_file: Option<std::path::PathBuf>,
}

/// The end of a followed deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Followed {
    pub report: DeploymentReport,
    pub last: Snapshot,
    pub diagnosis: Option<Diagnosis>,
    /// The production probe's summary; `None` without `--probe`, or when it could not run.
    pub probe: Option<probe::Summary>,
    pub probe_records_file: Option<std::path::PathBuf>,
    /// Why a requested production probe produced no summary.
    pub probe_error: Option<String>,
    pub gate: Option<GateReport>,
    pub test_gate: Option<TestGateReport>,
    /// The watch ended before the deployment did (Ctrl-C, or the timeout).
    pub interrupted: bool,
    pub timed_out: bool,
}

impl Followed {
    /// The deployment succeeded, a requested probe ran, and it failed no more than its limit.
    pub fn passed(&self) -> bool {
        self.report.status == DeploymentStatus::Succeeded
            && self.probe_error.is_none()
            && self.gate.as_ref().map_or(true, |g| g.failed <= g.limit)
    }
}

/// Whether the test-listener gate should run now (pure): once, at Ready when the group waits
/// there, else once AllowTestTraffic has succeeded, and never after the deployment ended.
pub fn test_point(snap: &Snapshot) -> bool {
    // Nothing to test or continue once it ended, or while it fails or rolls back.
    if snap.status.is_final() || snap.error.is_some() {
        return false;
    }
    if snap.waits_at_ready {
        return snap.status == DeploymentStatus::Ready;
    }
    snap.events
        .iter()
        .any(|e| e.name == Event::AllowTestTraffic && e.status == EventStatus::Succeeded)
}

/// Checks, before anything is created or watched, that the probes can run (see
/// [`probe::preflight`]): a gate that cannot start must not leave a deployment ungated.
pub async fn preflight(opts: &FollowOptions) -> Result<(), LiveError> {
    for (what, p) in [("--probe", &opts.probe), ("--test-probe", &opts.test_probe)] {
        if let Some(p) = p {
            probe::preflight(p)
                .await
                .map_err(|e| LiveError::Config(format!("{what} {}: {e}", p.url)))?;
        }
    }
    Ok(())
}

/// Follows deployment `id` until it ends, the timeout passes or `interrupt` completes, with the
/// gates of `opts`; each change goes to `on` as it is seen.
pub async fn follow<I>(
    aws: &Aws,
    group: &Group,
    id: &str,
    opts: &FollowOptions,
    interrupt: I,
    on: &(dyn Fn(&Change) + Sync),
) -> Result<Followed, LiveError>
where
    I: Future<Output = ()>,
{
    preflight(opts).await?;
    let gate = opts.probe.as_ref().and_then(|p| p.gate.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let probe_fut = async {
        match &opts.probe {
            Some(p) => {
                let r = probe::run_until(p, async {
                    let _ = stop_rx.await;
                })
                .await;
                if let Err(e) = &r {
                    // The watch stops the deployment: an ungated deployment is not what was asked.
                    let _ = failed_tx.send(e.to_string());
                }
                Some(r)
            }
            None => None,
        }
    };
    let watch_fut = async {
        let r = watch(aws, id, opts, gate.as_ref(), failed_rx, interrupt, on).await;
        let _ = stop_tx.send(());
        r
    };
    let (probed, watched) = tokio::join!(probe_fut, watch_fut);
    let w = watched?;
    let (probe, probe_records_file, probe_error) = match probed {
        Some(Ok(p)) => (Some(p.summary), Some(p.records_path), None),
        Some(Err(e)) => (None, None, Some(e.to_string())),
        None => (None, None, None),
    };
    let last = w.last;
    let diagnosis = if matches!(
        last.status,
        DeploymentStatus::Failed | DeploymentStatus::Stopped
    ) {
        Some(diagnose(aws, group, &last).await)
    } else {
        None
    };
    let gate_report = gate.map(|g| {
        let tripped = g.tripped_at();
        GateReport {
            limit: g.limit(),
            failed: probe.as_ref().map_or(g.failed(), |s| s.failed),
            tripped_unix_us: tripped,
            stop_sent_unix_us: w.stop_sent,
            reaction_ms: tripped
                .zip(w.stop_sent)
                .map(|(t, s)| s.saturating_sub(t) as f64 / 1000.0),
        }
    });
    let report = report_of(&last, &w.traffic, &w.notes);
    Ok(Followed {
        report,
        last,
        diagnosis,
        probe,
        probe_records_file,
        probe_error,
        gate: gate_report,
        test_gate: w.test_gate,
        interrupted: w.interrupted,
        timed_out: w.timed_out,
    })
}

/// The report shape `cutover local` writes, from the last snapshot (pure).
pub fn report_of(last: &Snapshot, traffic: &[Weight], notes: &[String]) -> DeploymentReport {
    let to = last
        .task_definition_arn
        .as_deref()
        .and_then(revision_of)
        .unwrap_or(0);
    DeploymentReport {
        id: last.id.clone(),
        status: last.status,
        deployment_config: last.deployment_config.clone(),
        from_revision: None,
        to_revision: to,
        events: last.events.clone(),
        traffic: traffic.to_vec(),
        error: last.error.clone(),
        // Only what CodeDeploy says: a stop without rollback leaves green where it was.
        rolled_back: last.rollback.is_some() || last.rollback_deployment.is_some(),
        start: last.create_unix_us.map(format_unix_us).unwrap_or_default(),
        end: last.complete_unix_us.map(format_unix_us),
        notes: notes.to_vec(),
    }
}

/// Completes with the gate once it trips; never without one.
async fn tripped(gate: Option<&FailureGate>) -> &FailureGate {
    match gate {
        Some(g) => {
            g.tripped().await;
            g
        }
        None => std::future::pending().await,
    }
}

/// Why the gate stopped the deployment, for the note.
fn gate_reason(g: &FailureGate) -> String {
    format!(
        "probe gate: {} failed requests, over the limit of {}",
        g.failed(),
        g.limit()
    )
}

/// The watch's state between polls.
struct Watch<'a> {
    aws: &'a Aws,
    deployment: &'a Deployment,
    on: &'a (dyn Fn(&Change) + Sync),
    traffic: Vec<Weight>,
    notes: Vec<String>,
    stop_sent: Option<u64>,
    test_gate: Option<TestGateReport>,
}

impl Watch<'_> {
    fn say(&mut self, text: String) {
        (self.on)(&Change::Note { text: text.clone() });
        self.notes.push(text);
    }

    /// StopDeployment with rollback, for `why`; keeps when it was sent. A deployment that had
    /// already ended is a note, not an error: the next poll shows how it ended.
    async fn stop(&mut self, why: String) -> Result<(), LiveError> {
        let sent = now_unix_us();
        let answer = self.deployment.stop(self.aws, true).await?;
        self.stop_sent = Some(sent);
        let call = self.deployment.calls().0;
        let text = match answer {
            Answer::Accepted(r) if r.is_empty() => format!("{why}: {call} with rollback sent"),
            Answer::Accepted(r) => format!("{why}: {call} with rollback sent ({r})"),
            _ => format!("{why}: {call} sent, but the deployment had already ended"),
        };
        self.say(text);
        Ok(())
    }

    fn end(self, last: Snapshot, interrupted: bool, timed_out: bool) -> Watched {
        Watched {
            last,
            traffic: self.traffic,
            notes: self.notes,
            stop_sent: self.stop_sent,
            test_gate: self.test_gate,
            interrupted,
            timed_out,
        }
    }
}

struct Watched {
    last: Snapshot,
    traffic: Vec<Weight>,
    notes: Vec<String>,
    stop_sent: Option<u64>,
    test_gate: Option<TestGateReport>,
    interrupted: bool,
    timed_out: bool,
}

async fn watch<I>(
    aws: &Aws,
    id: &str,
    opts: &FollowOptions,
    gate: Option<&FailureGate>,
    probe_failed: tokio::sync::oneshot::Receiver<String>,
    interrupt: I,
    on: &(dyn Fn(&Change) + Sync),
) -> Result<Watched, LiveError>
where
    I: Future<Output = ()>,
{
    let started = std::time::Instant::now();
    tokio::pin!(interrupt);
    // Completes when the production probe could not run (never when it runs or is not asked).
    let probe_failed = async {
        match probe_failed.await {
            Ok(why) => why,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::pin!(probe_failed);
    let deployment = Deployment::parse(id);
    let mut w = Watch {
        aws,
        deployment: &deployment,
        on,
        traffic: Vec::new(),
        notes: Vec::new(),
        stop_sent: None,
        test_gate: None,
    };
    let mut prev: Option<Snapshot> = None;
    loop {
        // The gate is armed until a stop was sent; it is raced against every wait below.
        let armed = gate.filter(|_| w.stop_sent.is_none());
        let polled = tokio::select! {
            s = deployment.snapshot(aws) => s,
            g = tripped(armed) => { w.stop(gate_reason(g)).await?; continue; }
            why = &mut probe_failed, if w.stop_sent.is_none() => {
                w.stop(format!("the probe could not run ({why})")).await?;
                continue;
            }
            () = &mut interrupt => {
                return Ok(w.end(prev.unwrap_or_else(|| Snapshot::unseen(id)), true, false));
            }
        };
        let snap = match polled {
            Ok(s) => s,
            // While a gate guards the deployment, a poll that fails does not end the watch.
            Err(e) if armed.is_some() && e.is_transient() => {
                w.say(format!(
                    "polling failed, trying again (the gate stays armed): {e}"
                ));
                tokio::select! {
                    () = tokio::time::sleep(opts.interval) => {}
                    g = tripped(armed) => w.stop(gate_reason(g)).await?,
                    () = &mut interrupt => {
                        return Ok(w.end(prev.unwrap_or_else(|| Snapshot::unseen(id)), true, false));
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(label) = opts.probe.as_ref().and_then(|p| p.live_label.as_ref()) {
            label.set(snap.status_line());
        }
        if let Some(g) = snap.green_weight() {
            let pct = g.round().clamp(0.0, 100.0) as u8;
            if w.traffic.last().map(|l| l.green_percent) != Some(pct) {
                w.traffic.push(Weight {
                    unix_us: now_unix_us(),
                    green_percent: pct,
                });
            }
        }
        for c in changes(prev.as_ref(), &snap) {
            on(&c);
        }
        let baking_now = snap.status == DeploymentStatus::Baking
            && prev.as_ref().map(|p| p.status) != Some(DeploymentStatus::Baking);
        if let (true, Some(m)) = (baking_now, snap.bake_minutes) {
            let until = now_unix_us() + u64::from(m) * 60_000_000;
            w.say(format!(
                "baking: blue is kept {m} min more, until about {} (from this poll)",
                format_unix_us(until)
            ));
        }
        if snap.status.is_final() {
            return Ok(w.end(snap, false, false));
        }
        if let (Some(tp), None, None) = (&opts.test_probe, &w.test_gate, w.stop_sent) {
            if test_point(&snap) {
                let outcome = tokio::select! {
                    o = probe::run_until(tp, std::future::pending::<()>()) => Some(o),
                    g = tripped(armed) => {
                        w.stop(gate_reason(g)).await?;
                        None
                    }
                    () = &mut interrupt => return Ok(w.end(snap, true, false)),
                };
                let report = |requests, failed, versions, action: &str, file| TestGateReport {
                    url: tp.url.clone(),
                    requests,
                    failed,
                    versions,
                    action: action.into(),
                    records_file: file,
                };
                w.test_gate = Some(match outcome {
                    None => report(0, 0, Vec::new(), "cut short", None),
                    Some(Err(e)) => {
                        w.stop(format!("the test probe could not run ({e})"))
                            .await?;
                        report(0, 0, Vec::new(), "stopped", None)
                    }
                    Some(Ok(o)) => {
                        let s = &o.summary;
                        let versions: Vec<String> =
                            s.versions.iter().map(|v| v.version.clone()).collect();
                        let file = Some(o.records_path.clone());
                        let answered = format!(
                            "test probe: {} requests to {} answered {}",
                            s.total,
                            tp.url,
                            if versions.is_empty() {
                                "no version".into()
                            } else {
                                versions.join(", ")
                            }
                        );
                        if s.failed > 0 {
                            w.stop(format!("{answered}; {} failed", s.failed)).await?;
                            report(s.total, s.failed, versions, "stopped", file)
                        } else if let Some(g) = gate.filter(|g| g.tripped_at().is_some()) {
                            // The production gate tripped as the test probe ended: never continue.
                            if w.stop_sent.is_none() {
                                w.stop(gate_reason(g)).await?;
                            }
                            report(s.total, s.failed, versions, "cut short", file)
                        } else if snap.status == DeploymentStatus::Ready {
                            match deployment.continue_ready(aws).await? {
                                Answer::Accepted(_) => {
                                    let call = deployment.calls().1;
                                    w.say(format!("{answered} with no failure: {call} sent"));
                                }
                                _ => w.say(format!(
                                    "{answered} with no failure, but the deployment was no longer waiting at Ready"
                                )),
                            }
                            report(s.total, s.failed, versions, "continued", file)
                        } else {
                            w.say(format!("{answered} with no failure"));
                            report(s.total, s.failed, versions, "observed", file)
                        }
                    }
                });
                prev = Some(snap);
                continue;
            }
        }
        if started.elapsed() + opts.interval > opts.timeout {
            w.say(format!(
                "deployment {id} is still {} after {}s (--timeout): it goes on in AWS",
                snap.status.as_str(),
                opts.timeout.as_secs()
            ));
            return Ok(w.end(snap, false, true));
        }
        prev = Some(snap);
        tokio::select! {
            () = tokio::time::sleep(opts.interval) => {}
            g = tripped(armed) => w.stop(gate_reason(g)).await?,
            why = &mut probe_failed, if w.stop_sent.is_none() => {
                w.stop(format!("the probe could not run ({why})")).await?;
            }
            () = &mut interrupt => {
                let last = prev.take().unwrap_or_else(|| Snapshot::unseen(id));
                return Ok(w.end(last, true, false));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{
        DeploymentStatus as S, EcsTaskSet, LifecycleEvent, LifecycleEventStatus, TargetLabel,
    };

    #[test]
    fn fills_the_task_definition_and_reads_it_back() {
        let spec = "Resources:\n  - TargetService:\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n";
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:7";
        let filled = fill_appspec(spec, arn);
        assert!(filled.contains(arn) && !filled.contains("<TASK_DEFINITION>"));
        assert_eq!(task_definition_in(&filled).as_deref(), Some(arn));
        assert_eq!(revision_of(arn), Some(7));
        let json = format!("{{\"TaskDefinition\": \"{arn}\"}}");
        assert_eq!(task_definition_in(&json).as_deref(), Some(arn));
        assert_eq!(task_definition_in("arn:aws:iam::1:role/x"), None);
    }

    fn info(status: S) -> DeploymentInfo {
        DeploymentInfo::builder()
            .deployment_id("d-ABCDEFGHI")
            .status(status)
            .deployment_config_name("CodeDeployDefault.ECSCanary10Percent5Minutes")
            .build()
    }

    fn target(events: &[(&str, LifecycleEventStatus)], green: f64) -> EcsTarget {
        let mut t = EcsTarget::builder();
        for (name, st) in events {
            t = t.lifecycle_events(
                LifecycleEvent::builder()
                    .lifecycle_event_name(*name)
                    .status(st.clone())
                    .build(),
            );
        }
        t.task_sets_info(
            EcsTaskSet::builder()
                .identifer("ecs-svc/1")
                .task_set_label(TargetLabel::Blue)
                .desired_count(2)
                .running_count(2)
                .traffic_weight(100.0 - green)
                .build(),
        )
        .task_sets_info(
            EcsTaskSet::builder()
                .identifer("ecs-svc/2")
                .task_set_label(TargetLabel::Green)
                .desired_count(2)
                .running_count(1)
                .pending_count(1)
                .traffic_weight(green)
                .build(),
        )
        .build()
    }

    #[test]
    fn the_task_definition_is_found_after_other_arns() {
        let spec = "Hooks:\n  - BeforeInstall: arn:aws:lambda:us-east-1:1:function:check\nResources:\n  - TargetService:\n      Properties:\n        TaskDefinition: arn:aws:ecs:us-east-1:1:task-definition/app:3\n";
        assert_eq!(
            task_definition_in(spec).as_deref(),
            Some("arn:aws:ecs:us-east-1:1:task-definition/app:3")
        );
    }

    #[test]
    fn a_stop_without_rollback_is_not_called_rolled_back() {
        use aws_sdk_codedeploy::types::{ErrorCode, ErrorInformation, RollbackInfo};
        let stopped = |rollback: Option<RollbackInfo>| {
            DeploymentInfo::builder()
                .deployment_id("d-ABCDEFGHI")
                .status(S::Stopped)
                .error_information(
                    ErrorInformation::builder()
                        .code(ErrorCode::ManualStop)
                        .message("stopped")
                        .build(),
                )
                .set_rollback_info(rollback)
                .build()
        };
        let s = snapshot_of(&stopped(None), None);
        assert!(!report_of(&s, &[], &[]).rolled_back);
        let rolled = stopped(Some(
            RollbackInfo::builder()
                .rollback_deployment_id("d-ROLLBACK1")
                .build(),
        ));
        let s = snapshot_of(&rolled, None);
        assert!(report_of(&s, &[], &[]).rolled_back);
        assert_eq!(s.rollback_deployment.as_deref(), Some("d-ROLLBACK1"));
    }

    #[test]
    fn a_snapshot_maps_codedeploys_names_onto_the_lifecycle() {
        use LifecycleEventStatus as L;
        let t = target(
            &[
                ("BeforeInstall", L::Succeeded),
                ("Install", L::Succeeded),
                ("AllowTraffic", L::InProgress),
            ],
            10.0,
        );
        let s = snapshot_of(&info(S::InProgress), Some(&t));
        assert_eq!(s.status, DeploymentStatus::InProgress);
        assert_eq!(s.events[1].status, EventStatus::Succeeded);
        assert_eq!(s.current_event().map(|e| e.name), Some(Event::AllowTraffic));
        assert_eq!(s.green_weight(), Some(10.0));
        assert_eq!(s.events[8].status, EventStatus::Pending);
        let baking = snapshot_of(&info(S::Baking), Some(&t));
        assert_eq!(baking.events[8].status, EventStatus::InProgress);
        assert!(s.status_line().contains("green 10%"), "{}", s.status_line());
    }

    #[test]
    fn changes_name_only_what_moved() {
        use LifecycleEventStatus as L;
        let a = snapshot_of(
            &info(S::InProgress),
            Some(&target(&[("Install", L::InProgress)], 0.0)),
        );
        let first = changes(None, &a);
        assert!(matches!(first[0], Change::Status { .. }));
        assert!(first.iter().any(|c| matches!(
            c,
            Change::Event {
                name: Event::Install,
                ..
            }
        )));
        assert_eq!(changes(Some(&a), &a), Vec::<Change>::new());
        let b = snapshot_of(
            &info(S::InProgress),
            Some(&target(&[("Install", L::Succeeded)], 10.0)),
        );
        let moved = changes(Some(&a), &b);
        assert_eq!(moved.len(), 3, "{moved:?}");
        assert!(moved.iter().all(|c| !matches!(c, Change::Status { .. })));
    }

    #[test]
    fn the_test_gate_waits_for_ready_when_the_group_does() {
        use aws_sdk_codedeploy::types::{BlueGreenDeploymentConfiguration, DeploymentReadyOption};
        use LifecycleEventStatus as L;
        let t = target(&[("AllowTestTraffic", L::Succeeded)], 0.0);
        let plain = snapshot_of(&info(S::InProgress), Some(&t));
        assert!(test_point(&plain));
        let waiting = DeploymentInfo::builder()
            .status(S::InProgress)
            .blue_green_deployment_configuration(
                BlueGreenDeploymentConfiguration::builder()
                    .deployment_ready_option(
                        DeploymentReadyOption::builder()
                            .action_on_timeout(DeploymentReadyAction::StopDeployment)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let mut s = snapshot_of(&waiting, Some(&t));
        assert!(!test_point(&s));
        s.status = DeploymentStatus::Ready;
        assert!(test_point(&s));
        s.status = DeploymentStatus::Failed;
        assert!(!test_point(&s));
    }
}
