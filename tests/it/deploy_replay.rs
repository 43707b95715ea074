//! `cutover deploy`'s watch, gates, stop and continue, where moto cannot go: whole deployment
//! sequences replayed through the SDK's replay client from the recorded bodies in
//! `tests/it/replay/` (their sources are in its README). The library's own `follow` and
//! `create` run against it; each test asserts the calls cutover made, in order, and the bodies
//! of the ones that change the deployment (StopDeployment, ContinueDeployment, CreateDeployment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cutover::lifecycle::{DeploymentStatus, Event, EventStatus};
use cutover::live::deployment::{self, Change, CreateOptions, FollowOptions, Followed, Group};
use cutover::probe::{FailureGate, ProbeOptions, Rate};
use serde_json::json;

use crate::support::probe::{serve, version, Reply};
use crate::support::replay::{diagnosis, err, ok, poll, Replay};

const ID: &str = "d-EXAMPLE11";

fn group() -> Group {
    Group {
        application: "cutover-demo".into(),
        deployment_group: "cutover-demo".into(),
        cluster: Some("cutover-demo".into()),
        service: Some("sample-app".into()),
    }
}

fn options(interval: Duration) -> FollowOptions {
    FollowOptions {
        interval,
        timeout: Duration::from_secs(600),
        probe: None,
        test_probe: None,
    }
}

/// A loopback port nothing listens on: every request to it is refused.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/version")
}

/// A production listener that answers (version 0.0.1) until `failing()` is true, then resets
/// every connection. A dead port would fail the production probe at once, and its gate could
/// then trip before cutover's first poll (it races the poll), which a loaded machine showed;
/// failing only after an event the test names keeps the calls in the order the replay holds.
async fn fails_once(
    failing: impl Fn() -> bool + Send + Sync + 'static,
) -> crate::support::probe::Server {
    serve(move |_| {
        if failing() {
            Reply::Reset
        } else {
            Reply::Bytes(version("0.0.1"))
        }
    })
    .await
}

/// True once cutover has made the first poll's three requests.
fn after_first_poll(replay: &Replay) -> impl Fn() -> bool + Send + Sync + 'static {
    let client = replay.client.clone();
    move || client.actual_requests().count() >= 3
}

fn probe_options(url: &str, dir: &std::path::Path) -> ProbeOptions {
    let mut o = ProbeOptions::new(url);
    o.rate = Rate::Fixed(200.0);
    o.timeout = Duration::from_secs(1);
    o.results_dir = dir.to_path_buf();
    o
}

async fn follow(replay: &Replay, opts: &FollowOptions) -> (Followed, Vec<Change>) {
    crate::support::replay::follow(replay, &group(), ID, opts).await
}

#[tokio::test]
async fn a_canary_deployment_is_followed_to_success_with_its_traffic_shifts() {
    let replay = Replay::new(
        [
            poll(
                "get-deployment-in-progress.json",
                "get-deployment-target-install.json",
            ),
            poll(
                "get-deployment-in-progress.json",
                "get-deployment-target-canary-10.json",
            ),
            poll(
                "get-deployment-baking.json",
                "get-deployment-target-shifted.json",
            ),
            poll(
                "get-deployment-succeeded.json",
                "get-deployment-target-succeeded.json",
            ),
        ]
        .into_iter()
        .flatten(),
    );
    let (f, seen) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    let r = &f.report;
    assert_eq!(r.status, DeploymentStatus::Succeeded);
    assert!(f.passed());
    assert_eq!(r.id, ID);
    assert_eq!(
        r.deployment_config,
        "CodeDeployDefault.ECSCanary10Percent5Minutes"
    );
    assert_eq!(
        r.to_revision, 8,
        "the revision of the AppSpec's task definition"
    );
    assert!(!r.rolled_back);
    let weights: Vec<u8> = r.traffic.iter().map(|w| w.green_percent).collect();
    assert_eq!(weights, [0, 10, 100], "green's share as it was polled");
    assert!(
        r.events.iter().all(|e| e.status == EventStatus::Succeeded),
        "{:?}",
        r.events
    );
    assert!(r.events[1].start.is_some() && r.events[1].end.is_some());
    // The changes, in the order seen: the status moves, Baking included, and the task sets.
    let statuses: Vec<DeploymentStatus> = seen
        .iter()
        .filter_map(|c| match c {
            Change::Status { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            DeploymentStatus::InProgress,
            DeploymentStatus::Baking,
            DeploymentStatus::Succeeded
        ]
    );
    assert!(seen.iter().any(
        |c| matches!(c, Change::TaskSet(t) if t.label == "GREEN" && t.traffic_weight == 10.0)
    ));
    let text: Vec<String> = seen.iter().map(Change::text).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("AllowTraffic") && l.contains("InProgress")),
        "{text:#?}"
    );
    // The JSON stream's shape: one object a change, tagged by type.
    let line = serde_json::to_value(&seen[0]).unwrap();
    assert_eq!(line["type"], "status");
    assert_eq!(line["status"], "InProgress");
}

#[tokio::test]
async fn a_failed_hook_shows_its_diagnostics_the_service_events_and_the_stopped_task() {
    let replay = Replay::new(
        [
            poll(
                "get-deployment-in-progress.json",
                "get-deployment-target-test-traffic.json",
            ),
            poll(
                "get-deployment-failed-hook.json",
                "get-deployment-target-hook-failed.json",
            ),
        ]
        .into_iter()
        .flatten()
        .chain(diagnosis()),
    );
    let (f, _) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    let r = &f.report;
    assert_eq!(r.status, DeploymentStatus::Failed);
    assert!(r.rolled_back);
    assert_eq!(f.last.rollback_deployment.as_deref(), Some("d-ROLLBACK1"));
    assert!(!f.passed());
    let e = r.error.as_ref().expect("error");
    assert_eq!(e.code, "HOOK_EXECUTION_FAILURE");
    assert_eq!(e.event, Event::AfterAllowTestTraffic);
    let d = f.diagnosis.as_ref().expect("a diagnosis");
    let failed = d.failed_event.as_ref().expect("the failed event");
    assert_eq!(failed.name, Event::AfterAllowTestTraffic);
    let m = failed.message.as_deref().unwrap();
    assert!(m.starts_with("ScriptFailed: "), "{m}");
    assert!(m.contains("smoke test failed"), "the log tail: {m}");
    assert_eq!(d.service_events.len(), 3);
    assert!(
        d.service_events[0].contains("draining"),
        "{:?}",
        d.service_events
    );
    // Only the green revision's stopped task, with its reason and exit code.
    assert_eq!(d.stopped_tasks.len(), 1, "{:?}", d.stopped_tasks);
    let t = &d.stopped_tasks[0];
    assert_eq!(
        t.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    assert_eq!(t.containers[0].1, Some(1));
    assert!(t.containers[0].2.as_deref().unwrap().contains("bind"));
    // The ListTasks call asked for the stopped tasks of the family.
    let list = replay.body(replay.index_of("ListTasks").unwrap());
    assert_eq!(list["family"], "sample-app");
    assert_eq!(list["desiredStatus"], "STOPPED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_gate_stops_the_deployment_with_rollback_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::new(
        poll(
            "get-deployment-in-progress.json",
            "get-deployment-target-canary-10.json",
        )
        .into_iter()
        .chain([ok("StopDeployment", "stop-deployment.json")])
        .chain(poll(
            "get-deployment-stopped.json",
            "get-deployment-target-stopped.json",
        ))
        .chain(diagnosis()),
    );
    let mut opts = options(Duration::from_secs(60));
    let production = fails_once(after_first_poll(&replay)).await;
    let mut p = probe_options(&production.url(), dir.path());
    p.max_failures = 2;
    p.gate = Some(FailureGate::new(2));
    opts.probe = Some(p);
    // The poll interval is a minute: only the gate can make the stop come sooner.
    let (f, seen) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    let stop = replay.body(3);
    assert_eq!(
        stop,
        json!({"deploymentId": ID, "autoRollbackEnabled": true})
    );
    let g = f.gate.as_ref().expect("the gate's report");
    assert_eq!(g.limit, 2);
    assert!(g.failed > 2, "{g:?}");
    let (tripped, sent) = (g.tripped_unix_us.unwrap(), g.stop_sent_unix_us.unwrap());
    assert!(sent >= tripped, "{g:?}");
    eprintln!(
        "probe gate: StopDeployment sent {:.2} ms after the failure over the limit",
        g.reaction_ms.unwrap()
    );
    assert_eq!(f.report.status, DeploymentStatus::Stopped);
    assert!(f.report.rolled_back);
    assert!(!f.passed());
    assert!(
        seen.iter().any(|c| c.text().contains("probe gate")),
        "{seen:?}"
    );
    assert!(f.probe.as_ref().is_some_and(|s| s.failed > 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ready_the_test_probe_passes_and_the_deployment_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(|_| Reply::Bytes(version("0.0.2"))).await;
    let replay = Replay::new(
        [
            poll(
                "get-deployment-ready-in-progress.json",
                "get-deployment-target-test-traffic.json",
            ),
            poll(
                "get-deployment-ready.json",
                "get-deployment-target-test-traffic.json",
            ),
        ]
        .into_iter()
        .flatten()
        .chain([ok("ContinueDeployment", "continue-deployment.json")])
        .chain(poll(
            "get-deployment-ready-succeeded.json",
            "get-deployment-target-succeeded.json",
        )),
    );
    let mut opts = options(Duration::from_millis(1));
    let mut t = probe_options(&server.url(), dir.path());
    t.rate = Rate::Fixed(50.0);
    t.duration = Some(Duration::from_millis(300));
    opts.test_probe = Some(t);
    let (f, _) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(
        replay.body(6),
        json!({"deploymentId": ID, "deploymentWaitType": "READY_WAIT"})
    );
    let tg = f.test_gate.as_ref().expect("the test gate ran");
    assert_eq!(tg.action, "continued");
    assert_eq!(tg.failed, 0);
    assert!(
        tg.requests > 0 && server.requests() >= tg.requests,
        "{tg:?}"
    );
    assert_eq!(tg.versions, ["0.0.2"]);
    assert_eq!(f.report.status, DeploymentStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ready_a_failing_test_probe_stops_the_deployment_with_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::new(
        poll(
            "get-deployment-ready.json",
            "get-deployment-target-test-traffic.json",
        )
        .into_iter()
        .chain([ok("StopDeployment", "stop-deployment.json")])
        .chain(poll(
            "get-deployment-ready-stopped.json",
            "get-deployment-target-stopped.json",
        ))
        .chain(diagnosis()),
    );
    let mut opts = options(Duration::from_millis(1));
    let mut t = probe_options(&dead_url(), dir.path());
    t.duration = Some(Duration::from_millis(200));
    opts.test_probe = Some(t);
    let (f, _) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(
        replay.body(3),
        json!({"deploymentId": ID, "autoRollbackEnabled": true})
    );
    let tg = f.test_gate.as_ref().unwrap();
    assert_eq!(tg.action, "stopped");
    assert!(tg.failed > 0);
    assert_eq!(f.report.status, DeploymentStatus::Stopped);
    assert!(!f.passed());
}

#[tokio::test]
async fn throttling_in_the_middle_is_retried_and_the_watch_goes_on() {
    let replay = Replay::new(
        poll(
            "get-deployment-in-progress.json",
            "get-deployment-target-canary-10.json",
        )
        .into_iter()
        .chain([err("GetDeployment", "throttling.json")])
        .chain(poll(
            "get-deployment-succeeded.json",
            "get-deployment-target-succeeded.json",
        )),
    );
    let (f, _) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    assert_eq!(f.report.status, DeploymentStatus::Succeeded);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_one_clear_error() {
    let replay = Replay::new([
        err("GetDeployment", "throttling.json"),
        err("GetDeployment", "throttling.json"),
        err("GetDeployment", "throttling.json"),
    ]);
    let e = deployment::follow(
        &replay.aws(),
        &group(),
        ID,
        &options(Duration::from_millis(1)),
        std::future::pending(),
        &|_| {},
    )
    .await
    .expect_err("throttled");
    replay.assert_called_in_order();
    let text = e.to_string();
    assert!(
        text.starts_with("codedeploy:GetDeployment failed"),
        "{text}"
    );
    assert!(text.contains("hint: AWS kept throttling"), "{text}");
    assert_eq!(e.exit(), cutover::output::Exit::External);
}

fn taskdef() -> serde_json::Value {
    json!({
        "family": "sample-app",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "app",
            "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app@sha256:0000000000000000000000000000000000000000000000000000000000000001",
            "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]
        }]
    })
}

const APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: app\n          ContainerPort: 8080\n";

#[tokio::test]
async fn create_sends_the_appspec_with_the_new_arn_and_this_deployments_config() {
    let replay = Replay::new([
        ok("GetDeploymentGroup", "get-deployment-group.json"),
        ok(
            "RegisterTaskDefinition",
            "ecs-register-task-definition.json",
        ),
        ok("CreateDeployment", "create-deployment.json"),
    ]);
    let opts = CreateOptions {
        deployment_config: Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes".into()),
        description: Some("hotfix".into()),
    };
    let c = deployment::create(&replay.aws(), &group(), &taskdef(), APPSPEC, &opts)
        .await
        .unwrap();
    replay.assert_called_in_order();
    assert_eq!(c.deployment_id, ID);
    let arn = "arn:aws:ecs:us-east-1:111122223333:task-definition/sample-app:8";
    assert_eq!(c.task_definition_arn, arn);
    let body = replay.body(2);
    assert_eq!(body["applicationName"], "cutover-demo");
    assert_eq!(body["deploymentGroupName"], "cutover-demo");
    assert_eq!(
        body["deploymentConfigName"],
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    );
    assert_eq!(body["description"], "hotfix");
    assert_eq!(body["revision"]["revisionType"], "AppSpecContent");
    let content = body["revision"]["appSpecContent"]["content"]
        .as_str()
        .unwrap();
    assert!(
        content.contains(&format!("TaskDefinition: {arn}")),
        "{content}"
    );
    assert!(!content.contains("<TASK_DEFINITION>"));
}

#[tokio::test]
async fn a_missing_permission_is_one_line_naming_the_action_to_allow() {
    let replay = Replay::new([
        ok("GetDeploymentGroup", "get-deployment-group.json"),
        ok(
            "RegisterTaskDefinition",
            "ecs-register-task-definition.json",
        ),
        err("CreateDeployment", "access-denied.json"),
    ]);
    let e = deployment::create(
        &replay.aws(),
        &group(),
        &taskdef(),
        APPSPEC,
        &CreateOptions::default(),
    )
    .await
    .expect_err("denied");
    let text = e.to_string();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("codedeploy:CreateDeployment failed"),
        "{text}"
    );
    assert!(
        text.contains("hint: allow `codedeploy:CreateDeployment` to the role cutover runs as"),
        "{text}"
    );
    assert_eq!(e.exit(), cutover::output::Exit::Usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_gate_cuts_the_test_probe_short_and_nothing_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(|_| Reply::Bytes(version("0.0.2"))).await;
    let replay = Replay::new(
        poll(
            "get-deployment-ready.json",
            "get-deployment-target-test-traffic.json",
        )
        .into_iter()
        .chain([ok("StopDeployment", "stop-deployment.json")])
        .chain(poll(
            "get-deployment-ready-stopped.json",
            "get-deployment-target-stopped.json",
        ))
        .chain(diagnosis()),
    );
    let mut opts = options(Duration::from_secs(60));
    // Production fails as soon as the test probe has begun (its first request); the test
    // listener answers well, for a whole minute.
    let test_requests = server.requests.clone();
    let production =
        fails_once(move || test_requests.load(std::sync::atomic::Ordering::SeqCst) > 0).await;
    let mut p = probe_options(&production.url(), dir.path());
    p.gate = Some(FailureGate::new(0));
    opts.probe = Some(p);
    let mut t = probe_options(&server.url(), dir.path());
    t.duration = Some(Duration::from_secs(60));
    opts.test_probe = Some(t);
    let (f, _) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(replay.index_of("ContinueDeployment"), None);
    assert_eq!(
        replay.body(3),
        json!({"deploymentId": ID, "autoRollbackEnabled": true})
    );
    assert_eq!(f.test_gate.as_ref().unwrap().action, "cut short");
    assert_eq!(f.report.status, DeploymentStatus::Stopped);
    assert!(!f.passed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_comes_too_late_is_a_note_and_the_watch_sees_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::new(
        poll(
            "get-deployment-in-progress.json",
            "get-deployment-target-canary-10.json",
        )
        .into_iter()
        .chain([err("StopDeployment", "deployment-already-completed.json")])
        .chain(poll(
            "get-deployment-succeeded.json",
            "get-deployment-target-succeeded.json",
        )),
    );
    let mut opts = options(Duration::from_secs(60));
    let production = fails_once(after_first_poll(&replay)).await;
    let mut p = probe_options(&production.url(), dir.path());
    p.gate = Some(FailureGate::new(0));
    opts.probe = Some(p);
    let (f, seen) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(f.report.status, DeploymentStatus::Succeeded);
    assert!(
        seen.iter().any(|c| c.text().contains("had already ended")),
        "{seen:?}"
    );
    assert!(!f.passed(), "the probe failed beyond its limit");
}

#[tokio::test]
async fn a_probe_that_cannot_run_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let replay = Replay::new([]);
    let mut opts = options(Duration::from_millis(1));
    let mut p = probe_options("http://127.0.0.1:9/version", &file);
    p.gate = Some(FailureGate::new(0));
    opts.probe = Some(p);
    let e = deployment::follow(
        &replay.aws(),
        &group(),
        ID,
        &opts,
        std::future::pending(),
        &|_| {},
    )
    .await
    .expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("--probe http://127.0.0.1:9/version: "),
        "{e}"
    );
    assert_eq!(e.exit(), cutover::output::Exit::Usage);
    assert!(replay.operations().is_empty());
}
