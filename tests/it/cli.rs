//! The cutover binary end to end: dry-run, artifacts and validate in a sandbox with no AWS access,
//! their exit codes, messages and the files they write (or do not write).
#![allow(clippy::unwrap_used)]

use crate::support::{self, Sandbox};
use serde::Deserialize;

const DIGEST: &str = "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
const ARTIFACTS: [&str; 4] = [
    "appspec.yaml",
    "imageDetail.json",
    "imagedefinitions.json",
    "taskdef.json",
];

/// `--output json` of dry-run and artifacts; unknown fields fail the test so a rename is noticed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Plan {
    valid: bool,
    out: String,
    image: String,
    image_note: String,
    containers: Vec<PlanContainer>,
    load_balancer: Option<String>,
    hooks: Vec<String>,
    files: Vec<String>,
    problems: Vec<Problem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PlanContainer {
    name: String,
    port: Option<u16>,
    slot: u8,
    image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Problem {
    rule: String,
    severity: String,
    file: String,
    path: String,
    message: String,
    hint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateReport {
    valid: bool,
    files: Vec<String>,
    problems: Vec<Problem>,
}

#[test]
fn dry_run_writes_the_four_artifacts_and_they_validate() {
    let sb = Sandbox::sample();
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.list("out"), ARTIFACTS);
    for name in ARTIFACTS {
        insta::assert_snapshot!(format!("dry_run_{name}"), sb.read(&format!("out/{name}")));
    }
    insta::assert_snapshot!("dry_run_plan", r.stdout);
    let v = sb.run(&["validate", "out"]);
    assert_eq!(v.code, 0, "{v:?}");
}

#[test]
fn dry_run_of_the_repository_sample_is_valid() {
    let sb = Sandbox::empty();
    let out = sb.path().join("out");
    let r = sb.run_in(
        std::path::Path::new(support::REPO),
        &[
            "dry-run",
            "--out",
            out.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Plan = serde_json::from_str(&r.stdout).unwrap();
    assert!(plan.valid);
    assert!(plan.image.contains(":src-"), "{}", plan.image);
    assert_eq!(sb.list("out"), ARTIFACTS);
}

#[test]
fn json_plan_lists_containers_and_hooks() {
    let sb = Sandbox::sample();
    let r = sb.run(&[
        "dry-run",
        "--output",
        "json",
        "--hook",
        "AfterAllowTestTraffic=smoke",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Plan = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan.containers.len(), 1);
    assert_eq!(
        (
            plan.containers[0].name.as_str(),
            plan.containers[0].port,
            plan.containers[0].slot
        ),
        ("app", Some(8080), 1)
    );
    assert_eq!(plan.hooks, vec!["AfterAllowTestTraffic=smoke"]);
    assert_eq!(plan.load_balancer.as_deref(), Some("app:8080"));
    assert!(sb
        .read("out/appspec.yaml")
        .contains("- AfterAllowTestTraffic: smoke"));
}

#[test]
fn dry_run_image_tag_follows_the_build_context() {
    let sb = Sandbox::sample();
    let first: Plan =
        serde_json::from_str(&sb.run(&["dry-run", "--output", "json"]).stdout).unwrap();
    let again: Plan =
        serde_json::from_str(&sb.run(&["dry-run", "--output", "json"]).stdout).unwrap();
    assert_eq!(first.image, again.image);
    sb.write("sample-app/app", "binary v2\n");
    let changed: Plan =
        serde_json::from_str(&sb.run(&["dry-run", "--output", "json"]).stdout).unwrap();
    assert_ne!(first.image, changed.image);
}

#[test]
fn a_config_error_names_file_key_line_and_what_is_allowed() {
    let sb = Sandbox::sample();
    sb.replace("cutover.toml", "slot = 1", "slot = 5");
    let line = sb
        .read("cutover.toml")
        .lines()
        .position(|l| l == "slot = 5")
        .unwrap()
        + 1;
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!(
        "config_error_slot",
        sb,
        r,
        (&format!("cutover.toml:{line}:"), "cutover.toml:[LINE]:")
    );
    assert!(!sb.exists("out"));
}

#[test]
fn an_unknown_key_lists_the_allowed_ones() {
    let sb = Sandbox::sample();
    sb.replace(
        "cutover.toml",
        "platform_version = \"LATEST\"",
        "platfrom_version = \"LATEST\"",
    );
    let line = sb
        .read("cutover.toml")
        .lines()
        .position(|l| l.starts_with("platfrom_version"))
        .unwrap()
        + 1;
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!(
        "config_error_unknown_key",
        sb,
        r,
        (&format!("cutover.toml:{line}:"), "cutover.toml:[LINE]:")
    );
}

#[test]
fn a_wrong_type_names_the_key() {
    let sb = Sandbox::sample();
    sb.replace("cutover.toml", "port = 8080", "port = \"http\"");
    let line = sb
        .read("cutover.toml")
        .lines()
        .position(|l| l == "port = \"http\"")
        .unwrap()
        + 1;
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!(
        "config_error_wrong_type",
        sb,
        r,
        (&format!("cutover.toml:{line}:"), "cutover.toml:[LINE]:")
    );
}

#[test]
fn garbage_config_is_an_error_not_a_panic() {
    let sb = Sandbox::sample();
    std::fs::write(sb.path().join("cutover.toml"), [0xff, 0x00, b'[', b'[']).unwrap();
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("config_error_garbage", sb, r);
}

#[test]
fn no_config_file_gives_a_hint() {
    let sb = Sandbox::empty();
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("no_config_file", sb, r);
}

#[test]
fn an_invalid_set_is_reported_and_nothing_is_written() {
    let sb = Sandbox::sample();
    assert_eq!(sb.run(&["dry-run"]).code, 0);
    let before = sb.read("out/taskdef.json");
    sb.replace(
        "ecs/taskdef.json",
        "\"containerPort\": 8080",
        "\"containerPort\": 9090",
    );
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 1, "{r:?}");
    crate::assert_run_snapshot!("invalid_set_nothing_written", sb, r);
    assert_eq!(
        sb.read("out/taskdef.json"),
        before,
        "the previous artifact set must stay as it was"
    );
    assert_eq!(sb.list("out"), ARTIFACTS);
}

#[test]
fn a_configured_container_missing_from_the_template_names_the_template() {
    let sb = Sandbox::sample();
    let r = sb.run(&["dry-run", "--container", "web:8080:1"]);
    assert_eq!(r.code, 1, "{r:?}");
    crate::assert_run_snapshot!("container_missing_from_template", sb, r);
    assert!(!sb.exists("out"));
}

#[test]
fn describe_task_definition_output_is_unwrapped_and_cleaned() {
    let sb = Sandbox::sample();
    sb.write(
        "described.json",
        r#"{"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/sample-app:7",
            "family": "sample-app", "revision": 7, "status": "ACTIVE", "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"], "cpu": "256", "memory": "512",
            "registeredAt": "2026-11-01T10:00:00.000Z", "registeredBy": "arn:aws:iam::111122223333:root",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
            "volumes": [], "placementConstraints": [], "someFutureEcsField": {"enabled": true},
            "containerDefinitions": [
              {"name": "app", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app:old", "cpu": 0,
               "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}], "environment": [],
               "mountPoints": [], "volumesFrom": [], "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:111122223333:parameter/db"}]},
              {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29", "essential": false, "memoryReservation": 64}
            ]},
          "tags": [{"key": "team", "value": "payments"}]}"#,
    );
    let r = sb.run(&["dry-run", "--taskdef", "described.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    insta::assert_snapshot!("describe_output_taskdef", sb.read("out/taskdef.json"));
}

#[test]
fn artifacts_pins_the_digest() {
    let sb = Sandbox::sample();
    let r = sb.run(&["artifacts", "--digest", DIGEST, "--out", "build-out"]);
    assert_eq!(r.code, 0, "{r:?}");
    let detail: serde_json::Value =
        serde_json::from_str(&sb.read("build-out/imageDetail.json")).unwrap();
    assert_eq!(
        detail["ImageURI"],
        format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app@{DIGEST}")
    );
    assert_eq!(detail["ImageDigest"], DIGEST);
    let defs: serde_json::Value =
        serde_json::from_str(&sb.read("build-out/imagedefinitions.json")).unwrap();
    assert_eq!(defs[0]["imageUri"], detail["ImageURI"]);
}

#[test]
fn artifacts_needs_an_image() {
    let sb = Sandbox::sample();
    let r = sb.run(&["artifacts"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("artifacts_without_image", sb, r);
    let r = sb.run(&["artifacts", "--digest", "sha256:abc"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("artifacts_bad_digest", sb, r);
}

#[test]
fn environment_variables_override_the_file() {
    let sb = Sandbox::sample()
        .env("CUTOVER_OUT", "env-out")
        .env("CUTOVER_HOOKS", "BeforeInstall=pre,AfterAllowTraffic=post")
        .env("CUTOVER_APPSPEC_FORMAT", "json")
        .env("CUTOVER_IMAGE", "127.0.0.1:5000/sample-app:abc1234");
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        sb.list("env-out"),
        [
            "appspec.json",
            "imageDetail.json",
            "imagedefinitions.json",
            "taskdef.json"
        ]
    );
    let spec: serde_json::Value = serde_json::from_str(&sb.read("env-out/appspec.json")).unwrap();
    assert_eq!(
        spec["Hooks"],
        serde_json::json!([{"BeforeInstall": "pre"}, {"AfterAllowTraffic": "post"}])
    );
    assert!(sb
        .read("env-out/imageDetail.json")
        .contains("127.0.0.1:5000/sample-app:abc1234"));
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let sb = Sandbox::sample();
    let r = sb.run(&["dry-run", "--hook", "BeforeDeploy=x"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("bad_hook_flag", sb, r);
    let r = sb.run(&[
        "dry-run",
        "--subnets",
        "subnet-1",
        "--security-groups",
        "sg-1",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("network_flags_without_public_ip", sb, r);
}

#[test]
fn unknown_flags_are_usage_errors() {
    let sb = Sandbox::sample();
    let r = sb.run(&["dry-run", "--no-such-flag"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("unknown_flag", sb, r);
}

#[test]
fn out_dir_with_other_files_is_refused() {
    let sb = Sandbox::sample();
    let r = sb.run(&["dry-run", "--out", "."]);
    assert_eq!(r.code, 2, "{r:?}");
    // The names come in directory order, which depends on the file system.
    crate::assert_run_snapshot!(
        "out_dir_with_other_files",
        sb,
        r,
        (r"did not write \([^)]*\)", "did not write ([NAMES])")
    );
    assert!(!sb.exists("taskdef.json"));
    assert!(sb.exists("cutover.toml"));
}

#[test]
fn validate_reports_json_and_exit_codes() {
    let sb = Sandbox::sample();
    assert_eq!(sb.run(&["dry-run"]).code, 0);
    let r = sb.run(&["validate", "out", "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rep: ValidateReport = serde_json::from_str(&r.stdout).unwrap();
    assert!(rep.valid);
    assert_eq!(rep.files, ARTIFACTS);

    sb.replace(
        "out/imagedefinitions.json",
        "\"name\": \"app\"",
        "\"name\": \"web\"",
    );
    let r = sb.run(&["validate", "out", "--output", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let rep: ValidateReport = serde_json::from_str(&r.stdout).unwrap();
    assert!(!rep.valid);
    assert_eq!(rep.problems.len(), 1);
    assert_eq!(
        (rep.problems[0].rule.as_str(), rep.problems[0].path.as_str()),
        ("image-definitions-name", "$[0].name")
    );

    let r = sb.run(&["validate", "no-such-dir"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("validate_missing_dir", sb, r);
}

#[test]
fn validate_reads_the_artifact_zip() {
    let sb = Sandbox::sample();
    assert_eq!(sb.run(&["dry-run"]).code, 0);
    let set = cutover::artifacts::read::read_artifact(&sb.path().join("out")).unwrap();
    std::fs::write(sb.path().join("artifact.zip"), set.zip().unwrap()).unwrap();
    let r = sb.run(&["validate", "artifact.zip"]);
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(sb.path().join("junk.zip"), b"not a zip").unwrap();
    let r = sb.run(&["validate", "junk.zip"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("validate_junk_zip", sb, r);
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let r = Sandbox::empty().run(&["--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for cmd in ["dry-run", "artifacts", "validate"] {
        assert!(r.stdout.contains(cmd), "{r:?}");
    }
    assert!(r.stdout.contains("2 usage or config error"), "{r:?}");
}

#[test]
fn dry_run_with_the_buildspec_gives_the_zip_the_deploy_stage_would_receive() {
    let sb = Sandbox::sample();
    sb.copy_from_repo("buildspec/buildspec.yml");
    let r = sb.run(&["dry-run", "--buildspec"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("target/buildspec/primary.zip  (valid)"),
        "{r:?}"
    );
    let zipped =
        cutover::artifacts::read::read_artifact(&sb.path().join("target/buildspec/primary.zip"))
            .unwrap();
    // The same files, byte for byte, as the plain dry-run writes.
    assert_eq!(sb.run(&["dry-run", "--out", "plain"]).code, 0);
    let plain = cutover::artifacts::read::read_artifact(&sb.path().join("plain")).unwrap();
    assert_eq!(zipped, plain);
    // Nothing of the machine was touched: the binary went beside the source.
    assert!(sb.exists(".cutover-bin/cutover"));
}

#[test]
fn a_folder_of_hand_written_templates_is_never_replaced() {
    let sb = Sandbox::sample();
    let template = sb.read("ecs/taskdef.json");
    let r = sb.run(&["dry-run", "--out", "ecs"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("out_dir_of_templates", sb, r);
    assert_eq!(sb.read("ecs/taskdef.json"), template);
}
