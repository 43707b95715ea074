//! `cutover deploy` for ECS-native services (deployment controller ECS, strategies BLUE_GREEN,
//! LINEAR, CANARY): moto ignores the strategy and has no service-deployment APIs, so the
//! deployment's progress is replayed through the SDK's replay client from recorded bodies in
//! AWS's documented shapes (`tests/it/replay/`, sources in its README), and the one request
//! cutover sends to start a deployment (UpdateService) is checked by the AWS CLI's own parameter
//! validation, whose ECS model has the new fields, against moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cutover::lifecycle::{DeploymentStatus, Event, EventStatus};
use cutover::live::deployment::{Change, FollowOptions, Followed, Group};
use cutover::live::native;
use cutover::probe::{FailureGate, ProbeOptions, Rate};
use serde_json::json;

use crate::support::aws::{aws, aws_json, with_aws};
use crate::support::probe::{serve, version, Reply};
use crate::support::replay::{ok, Replay};
use crate::support::{to_run, unique, Sandbox};

const SD: &str = "arn:aws:ecs:us-east-1:111122223333:service-deployment/cutover-demo/sample-app/Eq9vC2mJpQxkWnTrL4aB1";

fn group() -> Group {
    Group {
        application: String::new(),
        deployment_group: String::new(),
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

fn describe(file: &'static str) -> crate::support::replay::Step {
    ok("DescribeServiceDeployments", file)
}

async fn follow(replay: &Replay, opts: &FollowOptions) -> (Followed, Vec<Change>) {
    crate::support::replay::follow(replay, &group(), SD, opts).await
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

fn statuses(seen: &[Change]) -> Vec<DeploymentStatus> {
    seen.iter()
        .filter_map(|c| match c {
            Change::Status { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_linear_deployment_starts_with_update_service_and_is_followed_through_its_bake_time() {
    let replay = Replay::new([
        ok("DescribeServices", "ecs-describe-services-native.json"),
        ok(
            "RegisterTaskDefinition",
            "ecs-register-task-definition.json",
        ),
        // UpdateService names the service deployment it started (currentServiceDeployment).
        ok("UpdateService", "ecs-update-service.json"),
        describe("ecs-sd-linear-scale-up.json"),
        describe("ecs-sd-linear-test-shift.json"),
        describe("ecs-sd-linear-25.json"),
        describe("ecs-sd-linear-50.json"),
        describe("ecs-sd-linear-bake.json"),
        describe("ecs-sd-linear-successful.json"),
    ]);
    let created = native::create(&replay.aws(), "cutover-demo", "sample-app", &taskdef())
        .await
        .unwrap();
    assert_eq!(created.deployment_id, SD);
    let update = replay.body(2);
    assert_eq!(
        update,
        json!({
            "cluster": "cutover-demo",
            "service": "sample-app",
            "taskDefinition": "arn:aws:ecs:us-east-1:111122223333:task-definition/sample-app:8"
        })
    );
    let (f, seen) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    let r = &f.report;
    assert_eq!(r.status, DeploymentStatus::Succeeded);
    assert!(f.passed());
    assert_eq!(r.deployment_config, "LINEAR 25% every 1 min, bake 5 min");
    let weights: Vec<u8> = r.traffic.iter().map(|w| w.green_percent).collect();
    assert_eq!(weights, [0, 25, 50, 100]);
    assert_eq!(
        statuses(&seen),
        [
            DeploymentStatus::InProgress,
            DeploymentStatus::Baking,
            DeploymentStatus::Succeeded
        ]
    );
    for e in &r.events {
        assert_eq!(e.status, EventStatus::Succeeded, "{:?}", e.name);
    }
    // The bake time left, said when baking starts; the test listener's share per revision.
    assert!(
        seen.iter()
            .any(|c| c.text().starts_with("baking: blue is kept 5 min more")),
        "{seen:#?}"
    );
    assert!(seen
        .iter()
        .any(|c| c.text().contains("task set green") && c.text().contains("test 100%")));
    // The request cutover sent, checked by the AWS CLI's parameter validation (its ECS model
    // has the native blue/green fields) against moto, on a native LINEAR service made by the CLI.
    let sb = with_aws(Sandbox::empty());
    let cluster = unique("native");
    aws_json(&sb, &["ecs", "create-cluster", "--cluster-name", &cluster]);
    let td = aws_json(
        &sb,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &taskdef().to_string(),
        ],
    );
    let td_arn = td["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
    aws_json(
        &sb,
        &[
            "ecs",
            "create-service",
            "--cluster",
            &cluster,
            "--service-name",
            "sample-app",
            "--task-definition",
            td_arn,
            "--desired-count",
            "1",
            "--deployment-controller",
            "type=ECS",
            "--deployment-configuration",
            r#"{"strategy":"LINEAR","bakeTimeInMinutes":5,"linearConfiguration":{"stepPercent":25.0,"stepBakeTimeInMinutes":1}}"#,
        ],
    );
    let mut sent = update.clone();
    sent["cluster"] = json!(cluster);
    sent["taskDefinition"] = json!(td_arn);
    let out = aws(&sb)
        .args([
            "ecs",
            "update-service",
            "--cli-input-json",
            &sent.to_string(),
        ])
        .output()
        .unwrap();
    let run = to_run(out);
    assert_eq!(
        run.code, 0,
        "the AWS CLI refused cutover's UpdateService: {run:?}"
    );
    // And the CLI's model does refuse a key it does not know, so the create-service above shows
    // that it knows strategy and linearConfiguration: the check can fail.
    let bad = aws(&sb)
        .args([
            "ecs",
            "update-service",
            "--cluster",
            &cluster,
            "--service",
            "sample-app",
            "--deployment-configuration",
            r#"{"strategy":"LINEAR","linearConfig":{"stepPercent":25.0}}"#,
        ])
        .output()
        .unwrap();
    assert_ne!(to_run(bad).code, 0);
    // With no --mode and no ID, `deploy watch --latest` sees the ECS controller and takes the
    // native path: its first native call is ListServiceDeployments, which moto does not have.
    // One attempt: moto answers 500 to what it lacks, which cutover's retry policy would retry
    // with backoff for about 18 s before giving up (the error is the same).
    let sb = sb.env("AWS_MAX_ATTEMPTS", "1");
    let w = sb.run(&[
        "deploy",
        "watch",
        "--latest",
        "--cluster",
        &cluster,
        "--service",
        "sample-app",
    ]);
    assert_ne!(w.code, 0, "{w:?}");
    assert!(
        w.stderr.contains("ecs:ListServiceDeployments failed"),
        "{w:?}"
    );
}

#[tokio::test]
async fn latest_is_the_newest_service_deployment_listed() {
    let replay = Replay::new([ok(
        "ListServiceDeployments",
        "ecs-list-service-deployments.json",
    )]);
    let arn = native::latest(&replay.aws(), "cutover-demo", "sample-app", false)
        .await
        .unwrap();
    replay.assert_called_in_order();
    assert_eq!(arn, SD, "the newer of the two");
}

#[tokio::test]
async fn a_hook_that_returns_failed_rolls_back_and_the_watch_says_why() {
    let replay = Replay::new([
        describe("ecs-sd-linear-test-shift.json"),
        describe("ecs-sd-hook-rolling-back.json"),
        describe("ecs-sd-hook-rolled-back.json"),
        ok("DescribeServices", "ecs-describe-services-native.json"),
    ]);
    let (f, seen) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    let r = &f.report;
    assert_eq!(r.status, DeploymentStatus::Failed);
    assert!(r.rolled_back);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.code, "ROLLBACK_SUCCESSFUL");
    assert_eq!(e.event, Event::AfterAllowTestTraffic);
    assert!(e.message.contains("returned FAILED"), "{e:?}");
    assert!(r
        .events
        .iter()
        .all(|e| e.name != Event::AllowTraffic || e.status == EventStatus::Skipped));
    let d = f.diagnosis.as_ref().unwrap();
    assert!(d.service_events[0].contains("rolling back"), "{d:?}");
    // While it rolled back, the watch went on (a rollback in progress is not the end).
    assert!(seen.iter().any(|c| matches!(
        c,
        Change::Status {
            status: DeploymentStatus::InProgress,
            ..
        }
    )));
}

#[tokio::test]
async fn a_canary_shifts_its_percent_then_the_rest() {
    let replay = Replay::new([
        describe("ecs-sd-canary-5.json"),
        describe("ecs-sd-canary-successful.json"),
    ]);
    let (f, _) = follow(&replay, &options(Duration::from_millis(1))).await;
    replay.assert_called_in_order();
    assert_eq!(f.report.status, DeploymentStatus::Succeeded);
    assert_eq!(
        f.report.deployment_config,
        "CANARY 5% for 2 min, bake 5 min"
    );
    let weights: Vec<u8> = f.report.traffic.iter().map(|w| w.green_percent).collect();
    assert_eq!(weights, [5, 100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_gate_stops_a_native_deployment_with_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::new([
        describe("ecs-sd-linear-25.json"),
        ok("StopServiceDeployment", "ecs-stop-service-deployment.json"),
        describe("ecs-sd-stopped.json"),
        ok("DescribeServices", "ecs-describe-services-native.json"),
    ]);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/version", l.local_addr().unwrap());
    drop(l);
    let mut p = ProbeOptions::new(dead);
    p.rate = Rate::Fixed(200.0);
    p.timeout = Duration::from_secs(1);
    p.results_dir = dir.path().to_path_buf();
    p.gate = Some(FailureGate::new(1));
    let mut opts = options(Duration::from_secs(60));
    opts.probe = Some(p);
    let (f, seen) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(
        replay.body(1),
        json!({"serviceDeploymentArn": SD, "stopType": "ROLLBACK"})
    );
    assert!(seen.iter().any(|c| c
        .text()
        .contains("StopServiceDeployment with rollback sent")));
    assert!(f.report.rolled_back);
    assert!(!f.passed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_waiting_for_an_action_is_continued_once_the_test_listener_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(|_| Reply::Bytes(version("0.0.2"))).await;
    let replay = Replay::new([
        describe("ecs-sd-awaiting-hook.json"),
        // ContinueServiceDeployment names the hook that waits: read again, then continued.
        describe("ecs-sd-awaiting-hook.json"),
        ok(
            "ContinueServiceDeployment",
            "ecs-continue-service-deployment.json",
        ),
        describe("ecs-sd-linear-successful.json"),
    ]);
    let mut t = ProbeOptions::new(server.url());
    t.rate = Rate::Fixed(50.0);
    t.duration = Some(Duration::from_millis(300));
    t.results_dir = dir.path().to_path_buf();
    let mut opts = options(Duration::from_millis(1));
    opts.test_probe = Some(t);
    let (f, seen) = follow(&replay, &opts).await;
    replay.assert_called_in_order();
    assert_eq!(
        replay.body(2),
        json!({"serviceDeploymentArn": SD, "hookId": "hook-7f3a", "action": "CONTINUE"})
    );
    assert_eq!(statuses(&seen)[0], DeploymentStatus::Ready);
    let tg = f.test_gate.as_ref().unwrap();
    assert_eq!((tg.action.as_str(), tg.failed), ("continued", 0));
    assert_eq!(f.report.status, DeploymentStatus::Succeeded);
}
