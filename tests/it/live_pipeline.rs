//! `cutover pipeline` and `cutover codebuild` against moto, with the AWS CLI as the independent
//! reader of what cutover created: apply creates, a second apply changes nothing, a changed
//! setting is shown as a diff and then applied; the declaration cutover wrote goes back through
//! the AWS CLI's model; executions and builds are started and watched to their end; a build
//! output artifact is downloaded from S3, unpacked and validated. Needs the services scripts/test
//! starts; fails (never skips) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use crate::support::aws::{aws, aws_json, role, with_aws, ACCOUNT};
use crate::support::{to_run, unique, Sandbox};
use serde_json::Value;

/// A sandbox with the repository's declarations and a cutover.toml filling them; the pipeline is
/// named after the CodeDeploy application (the default).
fn project() -> (Sandbox, String) {
    let sb = with_aws(Sandbox::empty());
    sb.copy_from_repo("pipeline/pipeline.yaml");
    sb.copy_from_repo("pipeline/codebuild.yaml");
    let id = unique("pl");
    role(&format!("{id}-cp"), "codepipeline.amazonaws.com");
    sb.write(
        "cutover.toml",
        &format!(
            r#"[service]
cluster = "{id}-cluster"
service = "{id}-service"

[image]
repository = "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{id}"

[codedeploy]
application = "{id}"
deployment_group = "{id}-dg"

[pipeline]
role_arn = "arn:aws:iam::{ACCOUNT}:role/{id}-cp"
artifact_bucket = "{id}-artifacts"
artifact_key_arn = "arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
connection_arn = "arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/aEXAMPLE-8aad-4d5d-8878-dfcab0bc441f"
full_repository_id = "example-org/{id}"

[codebuild]
role_arn = "arn:aws:iam::{ACCOUNT}:role/{id}-cb"
"#
        ),
    );
    (sb, id)
}

fn get_pipeline(sb: &Sandbox, name: &str) -> Value {
    aws_json(sb, &["codepipeline", "get-pipeline", "--name", name])
}

/// `apply --output json`, parsed strictly.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyReport {
    kind: String,
    name: String,
    action: String,
    diff: Option<String>,
    version: Option<i32>,
}

#[test]
fn pipeline_apply_creates_then_changes_nothing() {
    let (sb, name) = project();
    let r = sb.run(&["pipeline", "apply"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("created pipeline `{name}` (version 1)\n"));

    let live = get_pipeline(&sb, &name);
    let p = &live["pipeline"];
    assert_eq!(
        p["roleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{name}-cp")
    );
    assert_eq!(p["pipelineType"], "V2");
    assert_eq!(p["executionMode"], "QUEUED");
    assert_eq!(p["artifactStore"]["location"], format!("{name}-artifacts"));
    let stages: Vec<&str> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Source", "Build", "Deploy"]);
    let source = &p["stages"][0]["actions"][0]["configuration"];
    assert_eq!(source["BranchName"], "main");
    assert_eq!(source["FullRepositoryId"], format!("example-org/{name}"));
    assert_eq!(
        p["stages"][1]["actions"][0]["configuration"]["ProjectName"],
        format!("{name}-build")
    );
    let deploy = &p["stages"][2]["actions"][0]["configuration"];
    assert_eq!(deploy["ApplicationName"], name.as_str());
    assert_eq!(deploy["DeploymentGroupName"], format!("{name}-dg"));
    assert_eq!(
        p["triggers"][0]["gitConfiguration"]["push"][0]["branches"]["includes"][0],
        "main"
    );

    let again = sb.run(&["pipeline", "apply"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, format!("pipeline `{name}`: no changes\n"));
    assert_eq!(
        get_pipeline(&sb, &name)["pipeline"]["version"],
        1,
        "the second apply sent an update"
    );

    let json = sb.run(&["pipeline", "apply", "--output", "json"]);
    let report: ApplyReport = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (
            report.kind.as_str(),
            report.name.as_str(),
            report.action.as_str()
        ),
        ("pipeline", name.as_str(), "unchanged")
    );
    assert_eq!((report.diff, report.version), (None, Some(1)));

    // What cutover wrote is a declaration the AWS CLI's model accepts as it is.
    let mut declaration = live.clone();
    declaration.as_object_mut().unwrap().remove("metadata");
    sb.write("live.json", &declaration.to_string());
    let updated = aws_json(
        &sb,
        &[
            "codepipeline",
            "update-pipeline",
            "--cli-input-json",
            "file://live.json",
        ],
    );
    assert_eq!(updated["pipeline"]["name"], name.as_str());
}

#[test]
fn pipeline_apply_shows_the_difference_before_updating() {
    let (sb, name) = project();
    assert_eq!(sb.run(&["pipeline", "apply"]).code, 0);

    let diff = sb.run(&["pipeline", "apply", "--branch", "release", "--diff"]);
    assert_eq!(diff.code, 1, "{diff:?}");
    crate::assert_run_snapshot!("pipeline_diff", sb, diff, (&name, "[NAME]"));
    assert_eq!(
        get_pipeline(&sb, &name)["pipeline"]["version"],
        1,
        "--diff changed the pipeline"
    );

    let up = sb.run(&["pipeline", "apply", "--branch", "release"]);
    assert_eq!(up.code, 0, "{up:?}");
    crate::assert_run_snapshot!("pipeline_update", sb, up, (&name, "[NAME]"));
    let p = get_pipeline(&sb, &name);
    assert_eq!(p["pipeline"]["version"], 2);
    assert_eq!(
        p["pipeline"]["stages"][0]["actions"][0]["configuration"]["BranchName"],
        "release"
    );

    let same = sb
        .env("CUTOVER_BRANCH", "release")
        .run(&["pipeline", "apply"]);
    assert_eq!(
        same.stdout,
        format!("pipeline `{name}`: no changes\n"),
        "{same:?}"
    );
}

#[test]
fn unfilled_placeholders_and_unknown_keys_are_refused_before_any_call() {
    let (sb, _) = project();
    sb.replace(
        "cutover.toml",
        "role_arn = \"arn:aws:iam::123456789012:role/",
        "# role_arn = \"",
    );
    let r = sb.run(&["pipeline", "apply"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        "error: `pipeline/pipeline.yaml`: ${PIPELINE_ROLE_ARN} has no value\n  hint: set [pipeline] role_arn, --role-arn or CUTOVER_PIPELINE_ROLE_ARN\n"
    );

    let (sb, _) = project();
    sb.replace(
        "pipeline/pipeline.yaml",
        "        runOrder: 1\n        configuration:\n          ConnectionArn",
        "        runorder: 1\n        configuration:\n          ConnectionArn",
    );
    let r = sb.run(&["pipeline", "apply"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("key_not_in_the_model", sb, r);
}

/// `pipeline status --output json`, parsed strictly.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Execution {
    pipeline: String,
    execution_id: String,
    status: String,
    summary: Option<String>,
    stages: Vec<Value>,
    stage_detail_error: Option<String>,
}

#[test]
fn pipeline_start_watch_and_status_follow_the_execution() {
    let (sb, name) = project();
    // moto answers GetPipelineState with a 500 (not implemented), which the SDK retries as a
    // transient error; one attempt keeps the test quick.
    let sb = sb.env("AWS_MAX_ATTEMPTS", "1");
    assert_eq!(sb.run(&["pipeline", "status"]).code, 2, "no pipeline yet");
    assert_eq!(sb.run(&["pipeline", "apply"]).code, 0);
    let none = sb.run(&["pipeline", "status"]);
    assert_eq!(none.code, 2, "{none:?}");
    crate::assert_run_snapshot!("pipeline_status_no_executions", sb, none, (&name, "[NAME]"));

    let started = sb.run(&["pipeline", "start", "--watch", "--interval", "1s"]);
    assert_eq!(started.code, 0, "{started:?}");
    let id = started
        .stdout
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        started
            .stdout
            .contains(&format!("pipeline {name}  execution {id}  Succeeded")),
        "{started:?}"
    );
    assert!(
        started
            .stderr
            .contains(&format!("execution {id}: Succeeded")),
        "{started:?}"
    );

    // The AWS CLI sees the same execution.
    let listed = aws_json(
        &sb,
        &[
            "codepipeline",
            "list-pipeline-executions",
            "--pipeline-name",
            &name,
        ],
    );
    assert_eq!(
        listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"],
        id.as_str()
    );

    let status = sb.run(&["pipeline", "status", "--output", "json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let e: Execution = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        (
            e.pipeline.as_str(),
            e.execution_id.as_str(),
            e.status.as_str()
        ),
        (name.as_str(), id.as_str(), "Succeeded")
    );
    assert_eq!(e.summary, None);
    // moto has no GetPipelineState: the stages are missing and the reason is said, not hidden.
    assert!(e.stages.is_empty());
    assert!(e
        .stage_detail_error
        .unwrap()
        .contains("codepipeline:GetPipelineState"));

    let watched = sb.run(&[
        "pipeline",
        "watch",
        "--execution-id",
        &id,
        "--interval",
        "1s",
    ]);
    assert_eq!(watched.code, 0, "{watched:?}");
    let missing = sb.run(&[
        "pipeline",
        "status",
        "--execution-id",
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert_eq!(missing.code, 2, "{missing:?}");
    crate::assert_run_snapshot!(
        "pipeline_status_missing_execution",
        sb,
        missing,
        (&name, "[NAME]")
    );
}

/// The artifact zip a Build action stores: the files of an artifact directory.
fn zip_dir(sb: &Sandbox, dir: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in sb.list(dir) {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(sb.read(&format!("{dir}/{name}")).as_bytes())
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn pipeline_artifacts_are_downloaded_unpacked_and_validated() {
    let sb = with_aws(Sandbox::sample());
    let r = sb.run(&["dry-run", "--image", "127.0.0.1:5000/sample-app:v1"]);
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(sb.path().join("good.zip"), zip_dir(&sb, "out")).unwrap();
    sb.replace(
        "out/appspec.yaml",
        "ContainerPort: 8080",
        "ContainerPort: 9999",
    );
    std::fs::write(sb.path().join("bad.zip"), zip_dir(&sb, "out")).unwrap();
    let bucket = unique("art");
    aws_json(&sb, &["s3api", "create-bucket", "--bucket", &bucket]);
    for (file, key) in [
        ("good.zip", "p/BuildOutpu/good1"),
        ("bad.zip", "p/BuildOutpu/bad1"),
    ] {
        let out = aws(&sb)
            .args(["s3", "cp", file, &format!("s3://{bucket}/{key}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", to_run(out));
    }

    let good = sb.run(&[
        "pipeline",
        "artifacts",
        "--from",
        &format!("s3://{bucket}/p/BuildOutpu/good1"),
        "--out",
        "got",
    ]);
    assert_eq!(good.code, 0, "{good:?}");
    assert!(good.stdout.starts_with("got: valid (4 files"), "{good:?}");
    assert_eq!(
        sb.list("got"),
        [
            "appspec.yaml",
            "imageDetail.json",
            "imagedefinitions.json",
            "taskdef.json"
        ]
    );
    assert!(
        good.stderr.contains(&format!(
            "unpacked 4 files from s3://{bucket}/p/BuildOutpu/good1 into got"
        )),
        "{good:?}"
    );

    let bad = sb.run(&[
        "pipeline",
        "artifacts",
        "--from",
        &format!("s3://{bucket}/p/BuildOutpu/bad1"),
    ]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.contains("artifacts/bad1: invalid"), "{bad:?}");
    assert!(sb.exists("artifacts/bad1/taskdef.json"));

    let gone = sb.run(&[
        "pipeline",
        "artifacts",
        "--from",
        &format!("s3://{bucket}/p/BuildOutpu/gone"),
    ]);
    assert_eq!(gone.code, 2, "{gone:?}");
    crate::assert_run_snapshot!("artifact_object_missing", sb, gone, (&bucket, "[BUCKET]"));
}

/// The repository's codebuild.yaml as moto takes it: moto requires a source and artifacts
/// location (CodeBuild does not for CODEPIPELINE) and ignores the KMS key.
fn moto_codebuild_declaration(sb: &Sandbox) {
    sb.replace(
        "pipeline/codebuild.yaml",
        "source:\n  type: CODEPIPELINE\n",
        "source:\n  type: S3\n  location: ${ARTIFACT_BUCKET}/source.zip\n",
    );
    sb.replace(
        "pipeline/codebuild.yaml",
        "artifacts:\n  type: CODEPIPELINE\n",
        "artifacts:\n  type: NO_ARTIFACTS\n",
    );
    sb.replace(
        "pipeline/codebuild.yaml",
        "encryptionKey: ${ARTIFACT_KEY_ARN}\n",
        "",
    );
}

#[test]
fn the_repository_codebuild_declaration_parses_in_the_codebuild_model() {
    let (sb, name) = project();
    let r = sb.run(&["codebuild", "apply", "--diff"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("CodeBuild project `{name}-build` does not exist: apply would create it\n")
    );
}

#[test]
fn codebuild_apply_creates_then_changes_nothing_and_shows_a_difference() {
    let (sb, name) = project();
    moto_codebuild_declaration(&sb);
    let project_name = format!("{name}-build");
    let r = sb.run(&["codebuild", "apply"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("created CodeBuild project `{project_name}`\n")
    );

    let live = aws_json(
        &sb,
        &["codebuild", "batch-get-projects", "--names", &project_name],
    );
    let p = &live["projects"][0];
    assert_eq!(
        p["serviceRole"],
        format!("arn:aws:iam::{ACCOUNT}:role/{name}-cb")
    );
    assert_eq!(p["environment"]["image"], "aws/codebuild/standard:7.0");
    assert_eq!(p["environment"]["privilegedMode"], true);
    let vars: Vec<(String, String)> = p["environment"]["environmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        vars.contains(&("CUTOVER_CLUSTER".into(), format!("{name}-cluster"))),
        "{vars:?}"
    );
    assert!(
        vars.contains(&("CUTOVER_BINARY_KEY".into(), "tools/cutover".into())),
        "{vars:?}"
    );
    assert_eq!(
        p["logsConfig"]["cloudWatchLogs"]["groupName"],
        format!("/cutover/{name}/build")
    );
    assert_eq!(p["cache"]["modes"][0], "LOCAL_DOCKER_LAYER_CACHE");

    let again = sb.run(&["codebuild", "apply"]);
    assert_eq!(
        again.stdout,
        format!("CodeBuild project `{project_name}`: no changes\n"),
        "{again:?}"
    );

    let diff = sb.run(&["codebuild", "apply", "--cluster", "elsewhere", "--diff"]);
    assert_eq!(diff.code, 1, "{diff:?}");
    crate::assert_run_snapshot!("codebuild_diff", sb, diff, (&name, "[NAME]"));
    // moto has no UpdateProject, so the update itself is not run here.
}

#[test]
fn codebuild_start_and_watch_follow_the_build() {
    let (sb, name) = project();
    moto_codebuild_declaration(&sb);
    assert_eq!(sb.run(&["codebuild", "apply"]).code, 0);
    let none = sb.run(&["codebuild", "watch"]);
    assert_eq!(none.code, 2, "{none:?}");
    crate::assert_run_snapshot!("codebuild_no_builds", sb, none, (&name, "[NAME]"));

    let r = sb.run(&["codebuild", "start", "--watch", "--interval", "1s"]);
    assert_eq!(r.code, 0, "{r:?}");
    let id = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(id.starts_with(&format!("{name}-build:")), "{r:?}");
    assert!(
        r.stdout.contains(&format!("build {id}  SUCCEEDED")),
        "{r:?}"
    );
    assert!(r.stderr.contains("BUILD: SUCCEEDED"), "{r:?}");

    let w = sb.run(&["codebuild", "watch", "--output", "json"]);
    assert_eq!(w.code, 0, "{w:?}");
    let v: Value = serde_json::from_str(&w.stdout).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["status"], "SUCCEEDED");
    let seen = aws_json(&sb, &["codebuild", "batch-get-builds", "--ids", &id]);
    assert_eq!(seen["builds"][0]["buildStatus"], "SUCCEEDED");

    let missing = sb.run(&[
        "codebuild",
        "start",
        "--codebuild-project",
        "no-such-project",
    ]);
    assert_eq!(missing.code, 2, "{missing:?}");
    crate::assert_run_snapshot!("codebuild_missing_project", sb, missing, (&name, "[NAME]"));
}
