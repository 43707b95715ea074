//! The rendered task definition checked by AWS's own model: the AWS CLI validates
//! `--cli-input-json` against botocore's ECS service model before it sends anything, and moto
//! registers it. Needs the services `scripts/test` starts; fails (never skips) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::aws::aws;
use crate::support::{to_run, unique, Sandbox};

#[test]
fn rendered_taskdef_registers_through_the_aws_model() {
    let sb = Sandbox::sample();
    let family = unique("cutover-model");
    sb.replace(
        "ecs/taskdef.json",
        "\"family\": \"sample-app\"",
        &format!("\"family\": \"{family}\""),
    );
    let r = sb.run(&["dry-run", "--image", "127.0.0.1:5000/sample-app:v1"]);
    assert_eq!(r.code, 0, "{r:?}");
    // The deploy action puts the image in the placeholder; do the same before registering.
    let image = "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app@sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
    sb.replace("out/taskdef.json", "<IMAGE1_NAME>", image);
    let out = aws(&sb)
        .args([
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://out/taskdef.json",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let run = to_run(out);
    assert_eq!(
        run.code, 0,
        "the AWS CLI refused the rendered taskdef.json: {run:?}"
    );
    let registered: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(registered["taskDefinition"]["family"], family.as_str());
    assert_eq!(
        registered["taskDefinition"]["containerDefinitions"][0]["image"],
        image
    );
    assert_eq!(
        registered["taskDefinition"]["containerDefinitions"][0]["portMappings"][0]["containerPort"],
        8080
    );
}

#[test]
fn describe_output_round_trips_through_cutover_but_not_raw() {
    let sb = Sandbox::sample();
    let family = unique("cutover-roundtrip");
    sb.replace(
        "ecs/taskdef.json",
        "\"family\": \"sample-app\"",
        &format!("\"family\": \"{family}\""),
    );
    sb.replace(
        "ecs/taskdef.json",
        "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app:latest",
        "127.0.0.1:5000/sample-app:v1",
    );
    let reg = aws(&sb)
        .args([
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://ecs/taskdef.json",
            "--tags",
            "key=team,value=web",
        ])
        .output()
        .unwrap();
    assert!(reg.status.success(), "{:?}", to_run(reg));
    let described = aws(&sb)
        .args([
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &family,
            "--include",
            "TAGS",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let described = to_run(described);
    assert_eq!(described.code, 0, "{described:?}");
    sb.write("described.json", &described.stdout);

    // As users do by hand: feeding DescribeTaskDefinition output back fails AWS's model.
    let raw = aws(&sb)
        .args([
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://described.json",
        ])
        .output()
        .unwrap();
    let raw = to_run(raw);
    assert_ne!(raw.code, 0, "{raw:?}");
    assert!(raw.stderr.contains("Unknown parameter"), "{raw:?}");

    // Rendered by cutover, it registers.
    let r = sb.run(&[
        "dry-run",
        "--taskdef",
        "described.json",
        "--image",
        "127.0.0.1:5000/sample-app:v2",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    sb.replace(
        "out/taskdef.json",
        "<IMAGE1_NAME>",
        "127.0.0.1:5000/sample-app:v2",
    );
    let again = aws(&sb)
        .args([
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://out/taskdef.json",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let again = to_run(again);
    assert_eq!(again.code, 0, "{again:?}");
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v["taskDefinition"]["revision"], 2);
    assert_eq!(
        v["taskDefinition"]["containerDefinitions"][0]["image"],
        "127.0.0.1:5000/sample-app:v2"
    );
}
