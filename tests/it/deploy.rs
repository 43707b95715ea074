//! `cutover deploy` against moto: the create path end to end (the task definition registered
//! with the image filled in and the sidecar untouched, read back with the AWS CLI; the
//! deployment's AppSpec content naming the new ARN; `--deployment-config` and `--description`
//! reaching the deployment), the one-line errors of a missing application or group, and the
//! flag and artifact errors before any call. What moto cannot show (a deployment's progress,
//! stop, continue, the gates) is in `deploy_replay.rs`. Needs the services scripts/test starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use crate::support::aws::{aws_json, codedeploy_group, with_aws};
use crate::support::{unique, Sandbox};

const IMAGE: &str =
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/sample-app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const SIDECAR: &str = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0";

/// The sample with a pinned sidecar in its template, the artifacts of [`IMAGE`] written, and a
/// CodeDeploy application and ECS blue/green group of fresh names in moto.
fn world() -> (Sandbox, String, String) {
    let sb = with_aws(Sandbox::sample());
    let mut td: Value = serde_json::from_str(&sb.read("ecs/taskdef.json")).unwrap();
    td["containerDefinitions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "otel", "image": SIDECAR, "essential": false, "cpu": 32}));
    sb.write("ecs/taskdef.json", &td.to_string());
    let r = sb.run(&["artifacts", "--image", IMAGE]);
    assert_eq!(r.code, 0, "cutover artifacts: {r:?}");
    let (app, group) = (unique("app"), unique("dg"));
    codedeploy_group(
        &sb,
        (&app, &group),
        ("cutover-demo", "sample-app"),
        Some("CodeDeployDefault.ECSAllAtOnce"),
    );
    (sb, app, group)
}

#[test]
fn deploy_registers_the_filled_task_definition_and_creates_the_deployment() {
    let (sb, app, group) = world();
    let r = sb.run(&[
        "--output",
        "json",
        "deploy",
        "--no-wait",
        "--application",
        &app,
        "--deployment-group",
        &group,
        "--deployment-config",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "--description",
        "hotfix 0.0.2",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let created: Value = serde_json::from_str(&r.stdout).unwrap();
    let arn = created["task_definition_arn"].as_str().unwrap();
    let id = created["deployment_id"].as_str().unwrap();
    assert!(arn.contains(":task-definition/sample-app:"), "{arn}");
    assert!(
        r.stderr.contains(&format!("created deployment {id}")),
        "{r:?}"
    );

    // The registered task definition, read back by the AWS CLI: the image filled in from
    // imageDetail.json, the sidecar as the template had it.
    let td = aws_json(
        &sb,
        &["ecs", "describe-task-definition", "--task-definition", arn],
    );
    let containers = td["taskDefinition"]["containerDefinitions"]
        .as_array()
        .unwrap();
    let image_of = |name: &str| {
        containers
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["image"].as_str().unwrap().to_string())
    };
    assert_eq!(image_of("app").as_deref(), Some(IMAGE));
    assert_eq!(image_of("otel").as_deref(), Some(SIDECAR));

    // The deployment: the AppSpec content names the new ARN; this deployment's config and
    // description, not the group's.
    let d = aws_json(&sb, &["deploy", "get-deployment", "--deployment-id", id]);
    let info = &d["deploymentInfo"];
    assert_eq!(info["applicationName"], app.as_str());
    assert_eq!(info["deploymentGroupName"], group.as_str());
    assert_eq!(
        info["deploymentConfigName"],
        "CodeDeployDefault.ECSCanary10Percent5Minutes"
    );
    assert_eq!(info["description"], "hotfix 0.0.2");
    assert_eq!(info["revision"]["revisionType"], "AppSpecContent");
    let content = info["revision"]["appSpecContent"]["content"]
        .as_str()
        .unwrap();
    assert!(content.contains(arn), "{content}");
    assert!(!content.contains("<TASK_DEFINITION>"), "{content}");

    // `watch` by ID reads it back (moto keeps it Created) and gives up at --timeout, exit 1.
    let w = sb.run(&[
        "deploy",
        "watch",
        id,
        "--interval",
        "10ms",
        "--timeout",
        "50ms",
    ]);
    assert_eq!(w.code, 1, "{w:?}");
    assert!(
        w.stderr.contains(&format!("deployment {id}: Created")),
        "{w:?}"
    );
    assert!(w.stderr.contains("--timeout"), "{w:?}");

    // `--latest` finds it in the group.
    let l = sb.run(&[
        "--output",
        "json",
        "deploy",
        "watch",
        "--latest",
        "--application",
        &app,
        "--deployment-group",
        &group,
        "--interval",
        "10ms",
        "--timeout",
        "50ms",
    ]);
    assert_eq!(l.code, 1, "{l:?}");
    let last: Value = serde_json::from_str(l.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["report"]["id"], id);
    assert_eq!(last["timed_out"], true);
}

#[test]
fn a_missing_application_or_group_is_one_line_and_registers_nothing() {
    let (sb, app, group) = world();
    // A family of its own, so the count below is this test's alone.
    let family = unique("fam");
    sb.replace(
        "out/taskdef.json",
        "\"family\": \"sample-app\"",
        &format!("\"family\": \"{family}\""),
    );
    assert!(sb.read("out/taskdef.json").contains(&family));
    let r = sb.run(&[
        "deploy",
        "--no-wait",
        "--application",
        "no-such-app",
        "--deployment-group",
        &group,
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("CodeDeploy application `no-such-app` does not exist in region `us-east-1`"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("hint: check [codedeploy] application"),
        "{r:?}"
    );
    let r = sb.run(&[
        "deploy",
        "--no-wait",
        "--application",
        &app,
        "--deployment-group",
        "no-such-group",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("CodeDeploy deployment group `no-such-group` does not exist"),
        "{r:?}"
    );
    let t = aws_json(
        &sb,
        &["ecs", "list-task-definitions", "--family-prefix", &family],
    );
    assert_eq!(
        t["taskDefinitionArns"].as_array().map(Vec::len),
        Some(0),
        "{t}"
    );
    let l = aws_json(
        &sb,
        &[
            "deploy",
            "list-deployments",
            "--application-name",
            &app,
            "--deployment-group-name",
            &group,
        ],
    );
    assert_eq!(l["deployments"].as_array().map(Vec::len), Some(0));
}

#[test]
fn an_invalid_set_or_a_bad_flag_is_refused_before_any_call() {
    // No endpoint: any AWS call would fail with exit 3, not 2.
    let sb = Sandbox::sample();
    let r = sb.run(&["artifacts", "--image", IMAGE]);
    assert_eq!(r.code, 0, "{r:?}");
    sb.replace("out/taskdef.json", "\"family\"", "\"famly\"");
    let r = sb.run(&["deploy", "--no-wait"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("is not a valid artifact set"), "{r:?}");
    let r = sb.run(&["deploy", "--probe", "https://example.com/version"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("plain HTTP only"), "{r:?}");
    // No service either: nothing to detect ECS-native on, so the group's absence is said at once.
    let r = sb.run(&[
        "deploy",
        "watch",
        "--application",
        "",
        "--deployment-group",
        "",
        "--cluster",
        "",
        "--service",
        "",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("no CodeDeploy application is configured"),
        "{r:?}"
    );
}
