//! ECS-native blue/green, linear and canary deployments (deployment controller `ECS`): the second
//! mapping onto the one lifecycle model. A deployment starts as the pipeline's standard `ECS`
//! action starts it (UpdateService with the new task definition); it is followed with
//! ListServiceDeployments and DescribeServiceDeployments, whose lifecycle stages become the
//! same [`Snapshot`] the CodeDeploy watcher makes ([`snapshot_of`], pure); it is stopped with
//! StopServiceDeployment (ROLLBACK) and a hook waiting for an action is continued with
//! ContinueServiceDeployment. [`super::deployment::follow`] drives either.

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStatus, ServiceDeployment,
    ServiceDeploymentStatus, StopServiceDeploymentStopType,
};

use super::snapshot::{unix_us, Answer, Created, Snapshot, TaskSet};
use super::{Aws, LiveError};
use crate::aws::AwsError;
use crate::lifecycle::{DeploymentStatus, ErrorInfo, Event, EventStatus, ECS_STAGES as STAGES};

/// Whether the service runs under the ECS deployment controller (native blue/green), from
/// DescribeServices; `None` when the service does not exist.
pub async fn is_native(aws: &Aws, cluster: &str, service: &str) -> Result<Option<bool>, LiveError> {
    let svc = super::service::describe_service(aws, cluster, service).await?;
    Ok(svc.map(|s| {
        s.deployment_controller()
            .map_or(true, |c| c.r#type().as_str() == "ECS")
    }))
}

/// UpdateService with the registered task definition (what CodePipeline's `ECS` action does),
/// then the service deployment it started (the newest that has not ended).
pub async fn start(
    aws: &Aws,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
) -> Result<String, LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition_arn)
        .send()
        .await
        .map_err(|e| {
            let se = e.as_service_error();
            if se.is_some_and(|s| s.is_service_not_found_exception()) {
                LiveError::NotFound {
                    what: "ECS service",
                    name: format!("{cluster}/{service}"),
                    region: aws.region.clone(),
                    hint: "check [service] cluster and service in cutover.toml".into(),
                }
            } else {
                aws.error(AwsError::new("ecs:UpdateService", &e, false))
            }
        })?;
    // The service names the deployment it started; an older answer without the field: the
    // newest running one.
    match out
        .service()
        .and_then(|s| s.current_service_deployment())
        .filter(|a| !a.is_empty())
    {
        Some(arn) => Ok(arn.to_string()),
        None => latest(aws, cluster, service, true).await,
    }
}

/// Registers `taskdef` (images filled) and starts the service deployment with it; the
/// `Created` names the service deployment's ARN.
pub async fn create(
    aws: &Aws,
    cluster: &str,
    service: &str,
    taskdef: &serde_json::Value,
) -> Result<Created, LiveError> {
    if is_native(aws, cluster, service).await? == Some(false) {
        return Err(LiveError::Config(format!(
            "the ECS service `{cluster}/{service}` uses the CODE_DEPLOY deployment controller\n  hint: deploy it with --mode codedeploy (CreateDeployment on its CodeDeploy group)"
        )));
    }
    let arn = super::service::register_task_definition(aws, taskdef).await?;
    let deployment = start(aws, cluster, service, &arn).await?;
    Ok(Created {
        deployment_id: deployment,
        task_definition_arn: arn,
        appspec_content: String::new(),
    })
}

/// The service's newest service deployment (one that has not ended, when `running_only`).
pub async fn latest(
    aws: &Aws,
    cluster: &str,
    service: &str,
    running_only: bool,
) -> Result<String, LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    // The newest over a few pages (the API's order is not documented).
    let mut newest: Option<(u64, String)> = None;
    let mut token: Option<String> = None;
    for _ in 0..LIST_PAGES {
        let mut req = ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .set_next_token(token.take());
        if running_only {
            for s in [
                ServiceDeploymentStatus::Pending,
                ServiceDeploymentStatus::InProgress,
                ServiceDeploymentStatus::RollbackRequested,
                ServiceDeploymentStatus::RollbackInProgress,
                ServiceDeploymentStatus::StopRequested,
            ] {
                req = req.status(s);
            }
        }
        let out = req
            .send()
            .await
            .map_err(|e| aws.error(AwsError::new("ecs:ListServiceDeployments", &e, false)))?;
        for d in out.service_deployments() {
            let (Some(at), Some(arn)) = (d.created_at().map(unix_us), d.service_deployment_arn())
            else {
                continue;
            };
            if newest.as_ref().map_or(true, |(n, _)| at > *n) {
                newest = Some((at, arn.to_string()));
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    newest
        .map(|(_, arn)| arn)
        .ok_or_else(|| {
            LiveError::Config(format!(
                "the ECS service `{cluster}/{service}` has no {}service deployment\n  hint: start one with `cutover deploy`, or pass its ARN",
                if running_only { "running " } else { "" }
            ))
        })
}

/// How many pages of ListServiceDeployments `latest` reads.
const LIST_PAGES: usize = 5;

/// DescribeServiceDeployments of one deployment, as a snapshot.
pub async fn snapshot(aws: &Aws, arn: &str) -> Result<Snapshot, LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:DescribeServiceDeployments", &e, false)))?;
    let Some(d) = out.service_deployments().first() else {
        return Err(LiveError::NotFound {
            what: "ECS service deployment",
            name: arn.to_string(),
            region: aws.region.clone(),
            hint: "check the ARN; `cutover deploy watch --latest` finds the service's newest"
                .into(),
        });
    };
    Ok(snapshot_of(d))
}

/// The hook waiting for ContinueServiceDeployment, if one is.
pub fn awaiting_hook(d: &ServiceDeployment) -> Option<&str> {
    d.lifecycle_hook_details()
        .iter()
        .find(|h| h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction))
        .and_then(|h| h.hook_id())
}

/// The strategy as one name: `BLUE_GREEN, bake 5 min`, `LINEAR 25% every 1 min, bake 5 min`.
fn strategy_name(d: &ServiceDeployment) -> String {
    let Some(c) = d.deployment_configuration() else {
        return "ECS".into();
    };
    let mut s = c
        .strategy()
        .map_or("ROLLING".to_string(), |s| s.as_str().to_string());
    if let Some(l) = c.linear_configuration() {
        s.push_str(&format!(
            " {}% every {} min",
            l.step_percent().unwrap_or_default(),
            l.step_bake_time_in_minutes().unwrap_or_default()
        ));
    }
    if let Some(k) = c.canary_configuration() {
        s.push_str(&format!(
            " {}% for {} min",
            k.canary_percent().unwrap_or_default(),
            k.canary_bake_time_in_minutes().unwrap_or_default()
        ));
    }
    if let Some(b) = c.bake_time_in_minutes() {
        s.push_str(&format!(", bake {b} min"));
    }
    s
}

/// The view of one service deployment (pure): ECS's statuses and stages on the shared model.
/// A stage before the current one has succeeded; BeforeAllowTraffic, which ECS has no stage
/// for, is skipped; a hook waiting for an action shows as Ready (continue it to go on).
pub fn snapshot_of(d: &ServiceDeployment) -> Snapshot {
    use ServiceDeploymentStatus as S;
    let raw = d.status().cloned();
    let stage = d.lifecycle_stage().map(|s| s.as_str().to_string());
    let stage_index = stage
        .as_deref()
        .and_then(|s| STAGES.iter().position(|x| *x == s));
    let current = stage.as_deref().and_then(Event::from_ecs_stage);
    let rolling_back = matches!(
        raw,
        Some(
            S::RollbackRequested
                | S::RollbackInProgress
                | S::RollbackSuccessful
                | S::RollbackFailed
        )
    );
    let hook = awaiting_hook(d);
    let stopping = rolling_back || raw == Some(S::StopRequested);
    let status = match raw {
        Some(S::Pending) | None => DeploymentStatus::Created,
        Some(S::Successful) => DeploymentStatus::Succeeded,
        Some(S::Stopped) => DeploymentStatus::Stopped,
        Some(S::RollbackSuccessful | S::RollbackFailed) => DeploymentStatus::Failed,
        // Never Ready while it rolls back or stops: nothing is to be continued then.
        _ if stopping => DeploymentStatus::InProgress,
        _ if hook.is_some() => DeploymentStatus::Ready,
        _ if stage.as_deref() == Some("BAKE_TIME") => DeploymentStatus::Baking,
        _ => DeploymentStatus::InProgress,
    };
    // A pause hook at a stage still ahead will wait there: the test gate waits for it too.
    let pause_ahead = d
        .deployment_configuration()
        .map(|c| c.lifecycle_hooks())
        .unwrap_or_default()
        .iter()
        .filter(|h| h.target_type().map(|t| t.as_str()) == Some("PAUSE"))
        .flat_map(|h| h.lifecycle_stages())
        .filter_map(|st| STAGES.iter().position(|x| *x == st.as_str()))
        .any(|i| stage_index.map_or(true, |now| i >= now));
    let done = status == DeploymentStatus::Succeeded;
    let failed = matches!(status, DeploymentStatus::Failed | DeploymentStatus::Stopped);
    let mut events = crate::lifecycle::plan_events(&[]);
    for e in &mut events {
        let stages: Vec<usize> = STAGES
            .iter()
            .enumerate()
            .filter(|(_, s)| Event::from_ecs_stage(s) == Some(e.name))
            .map(|(i, _)| i)
            .collect();
        e.status = match (stages.first(), stages.last(), stage_index) {
            (None, _, _) => EventStatus::Skipped,
            _ if done => EventStatus::Succeeded,
            (_, Some(&last), Some(i)) if last < i => EventStatus::Succeeded,
            (Some(&first), _, Some(i)) if first <= i && !failed => EventStatus::InProgress,
            (Some(&first), _, Some(i)) if first <= i => EventStatus::Failed,
            _ if failed => EventStatus::Skipped,
            _ => EventStatus::Pending,
        };
    }
    let revision = |r: &aws_sdk_ecs::types::ServiceRevisionSummary, label: &str| TaskSet {
        id: r
            .arn()
            .map(super::short_name)
            .unwrap_or_default()
            .to_string(),
        label: label.into(),
        status: String::new(),
        desired: i64::from(r.requested_task_count()),
        pending: i64::from(r.pending_task_count()),
        running: i64::from(r.running_task_count()),
        traffic_weight: r.requested_production_traffic_weight().unwrap_or_default(),
        test_traffic_weight: r.requested_test_traffic_weight(),
        target_group: None,
    };
    let mut task_sets: Vec<TaskSet> = d
        .source_service_revisions()
        .iter()
        .map(|r| revision(r, "BLUE"))
        .collect();
    if let Some(t) = d.target_service_revision() {
        task_sets.push(revision(t, "GREEN"));
    }
    let rollback = d
        .rollback()
        .map(|r| r.reason().unwrap_or("rolled back").to_string())
        .or_else(|| {
            (raw == Some(S::RollbackSuccessful))
                .then(|| "traffic is back on the source revision".to_string())
        });
    let error = (failed || stopping).then(|| ErrorInfo {
        code: raw
            .as_ref()
            .map_or("UNKNOWN".into(), |s| s.as_str().to_string()),
        event: current.unwrap_or(Event::BeforeInstall),
        message: d.status_reason().unwrap_or_default().to_string(),
    });
    let arn = d.service_deployment_arn().unwrap_or_default();
    Snapshot {
        id: arn.to_string(),
        status,
        application: String::new(),
        deployment_group: String::new(),
        deployment_config: strategy_name(d),
        task_definition_arn: None,
        events,
        task_sets,
        overview: None,
        error,
        rollback: rollback.filter(|_| raw == Some(S::RollbackSuccessful)),
        rollback_deployment: None,
        waits_at_ready: !stopping && (hook.is_some() || pause_ahead),
        bake_minutes: d
            .deployment_configuration()
            .and_then(|c| c.bake_time_in_minutes())
            .map(|m| u32::try_from(m).unwrap_or(0)),
        create_unix_us: d.created_at().map(unix_us),
        complete_unix_us: d.finished_at().or(d.stopped_at()).map(unix_us),
    }
}

/// StopServiceDeployment with ROLLBACK, the one stop type ECS takes: a stop without rollback
/// is refused here.
pub async fn stop(aws: &Aws, arn: &str, rollback: bool) -> Result<Answer, LiveError> {
    if !rollback {
        return Err(LiveError::Config(
            "an ECS service deployment stops with rollback only (StopServiceDeployment takes stopType ROLLBACK)\n  hint: drop --no-rollback".into(),
        ));
    }
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let sent = ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answer::Accepted(String::new())),
        // The deployment is no longer in a state that stops (it ended, or already rolls back).
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conflict_exception()) =>
        {
            Ok(Answer::AlreadyCompleted)
        }
        Err(e) => Err(aws.error(AwsError::new("ecs:StopServiceDeployment", &e, false))),
    }
}

/// ContinueServiceDeployment for the hook that waits for an action (CONTINUE).
pub async fn continue_deployment(aws: &Aws, arn: &str) -> Result<Answer, LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:DescribeServiceDeployments", &e, false)))?;
    let Some(hook) = out
        .service_deployments()
        .first()
        .and_then(awaiting_hook)
        .map(str::to_string)
    else {
        return Ok(Answer::NotWaiting);
    };
    let sent = ecs
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(&hook)
        .action(DeploymentLifecycleHookAction::Continue)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answer::Accepted(format!("hook {hook}"))),
        // The hook stopped waiting between the two calls (it timed out, or the deployment moved).
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_invalid_parameter_exception()) =>
        {
            Ok(Answer::NotWaiting)
        }
        Err(e) => Err(aws.error(AwsError::new("ecs:ContinueServiceDeployment", &e, false))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        DeploymentLifecycleHook, DeploymentLifecycleHookDetail, DeploymentLifecycleHookTargetType,
        ServiceDeploymentLifecycleStage as Stage,
    };

    fn at(status: ServiceDeploymentStatus, stage: &str) -> ServiceDeployment {
        ServiceDeployment::builder()
            .service_deployment_arn("arn:aws:ecs:us-east-1:1:service-deployment/c/s/x")
            .status(status)
            .lifecycle_stage(Stage::from(stage))
            .build()
    }

    #[test]
    fn stop_and_rollback_statuses_map_onto_the_model() {
        use ServiceDeploymentStatus as S;
        let cases = [
            (S::StopRequested, DeploymentStatus::InProgress, false),
            (S::RollbackRequested, DeploymentStatus::InProgress, false),
            (S::RollbackInProgress, DeploymentStatus::InProgress, false),
            (S::Stopped, DeploymentStatus::Stopped, true),
            (S::RollbackSuccessful, DeploymentStatus::Failed, true),
            (S::RollbackFailed, DeploymentStatus::Failed, true),
        ];
        for (raw, want, fin) in cases {
            let s = snapshot_of(&at(raw.clone(), "PRODUCTION_TRAFFIC_SHIFT"));
            assert_eq!((s.status, s.status.is_final()), (want, fin), "{raw:?}");
            assert!(s.error.is_some(), "{raw:?} says why");
            assert_eq!(
                s.events[6].status,
                if fin {
                    EventStatus::Failed
                } else {
                    EventStatus::InProgress
                },
                "{raw:?}: AllowTraffic"
            );
        }
        // Only a successful rollback is called rolled back.
        assert!(snapshot_of(&at(S::RollbackFailed, "SCALE_UP"))
            .rollback
            .is_none());
    }

    #[test]
    fn a_paused_hook_is_ready_unless_the_deployment_rolls_back() {
        use ServiceDeploymentStatus as S;
        let paused = |status: S| {
            ServiceDeployment::builder()
                .status(status)
                .lifecycle_stage(Stage::PostTestTrafficShift)
                .lifecycle_hook_details(
                    DeploymentLifecycleHookDetail::builder()
                        .hook_id("h1")
                        .status(DeploymentLifecycleHookStatus::AwaitingAction)
                        .build(),
                )
                .build()
        };
        let s = snapshot_of(&paused(S::InProgress));
        assert_eq!(s.status, DeploymentStatus::Ready);
        assert!(s.waits_at_ready);
        let s = snapshot_of(&paused(S::RollbackInProgress));
        assert_eq!(s.status, DeploymentStatus::InProgress);
        assert!(!s.waits_at_ready);
        // A pause hook still ahead: the test gate waits for it instead of only observing.
        let ahead = ServiceDeployment::builder()
            .status(S::InProgress)
            .lifecycle_stage(Stage::TestTrafficShift)
            .deployment_configuration(
                aws_sdk_ecs::types::DeploymentConfiguration::builder()
                    .lifecycle_hooks(
                        DeploymentLifecycleHook::builder()
                            .target_type(DeploymentLifecycleHookTargetType::Pause)
                            .lifecycle_stages(
                                aws_sdk_ecs::types::DeploymentLifecycleHookStage::PostTestTrafficShift,
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        let s = snapshot_of(&ahead);
        assert!(s.waits_at_ready && s.status == DeploymentStatus::InProgress);
    }

    #[test]
    fn the_step_before_each_shift_is_before_allow_traffic() {
        let s = snapshot_of(&at(
            ServiceDeploymentStatus::InProgress,
            "PRE_PRODUCTION_TRAFFIC_SHIFT",
        ));
        let e = |name: Event| s.events.iter().find(|x| x.name == name).map(|x| x.status);
        assert_eq!(e(Event::BeforeAllowTraffic), Some(EventStatus::InProgress));
        assert_eq!(
            e(Event::AfterAllowTestTraffic),
            Some(EventStatus::Succeeded)
        );
        assert_eq!(e(Event::AllowTraffic), Some(EventStatus::Pending));
    }
}
