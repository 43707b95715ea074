//! `cutover local pipeline`: pipeline/pipeline.yaml run on this machine for a commit, Source →
//! Build (the real buildspec and `cutover build`, pushing to the test registry) → Deploy (the
//! local engine), in a scratch git checkout of the sample; a miswired declaration fails at the
//! action that needs what is missing, and production keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cutover::local_pipeline::Execution;

use crate::support::local::{version_at, Down, FAST};
use crate::support::project::{base_image_args, commit, project};
use crate::support::{registry, unique, Run, Sandbox};

fn pipeline_project() -> Sandbox {
    let repo = format!("{}/{}", registry::plain(), unique("pipe"));
    let sb = project(&repo);
    for f in [
        "pipeline/pipeline.yaml",
        "pipeline/codebuild.yaml",
        "buildspec/buildspec.yml",
    ] {
        sb.copy_from_repo(f);
    }
    let (builder, runtime) = base_image_args();
    let (b, r) = (
        builder.split_once('=').unwrap().1.to_string(),
        runtime.split_once('=').unwrap().1.to_string(),
    );
    let toml = sb.read("cutover.toml").replace(
        "[image]\n",
        &format!("[image]\nbuild_args = {{ BUILDER_IMAGE = \"{b}\", RUNTIME_IMAGE = \"{r}\" }}\n"),
    );
    sb.write(
        "cutover.toml",
        &format!("{toml}{FAST}\n[local.pipeline]\nrepository = \"{repo}\"\n"),
    );
    commit(&sb, "pipeline");
    sb
}

fn run_pipeline(sb: &Sandbox) -> (Run, Execution) {
    let r = sb
        .spawn(&["--output", "json", "local", "pipeline"])
        .wait(Duration::from_secs(900));
    let e = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("the execution does not parse ({e}): {r:?}"));
    (r, e)
}

fn status_of<'e>(e: &'e Execution, stage: &str) -> &'e str {
    &e.stages.iter().find(|s| s.name == stage).unwrap().status
}

#[test]
fn a_commit_runs_source_build_deploy_and_the_next_one_cuts_over() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    let (r, first) = run_pipeline(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    // A real build and push ran in the Build stage, through the buildspec.
    assert!(
        r.stderr.contains("Build/Build (CodeBuild): in progress"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("cutover build"),
        "the buildspec's build command: {r:?}"
    );
    assert_eq!(first.status, "Succeeded", "{first:?}");
    for stage in ["Source", "Build", "Deploy"] {
        assert_eq!(status_of(&first, stage), "Succeeded", "{first:?}");
    }
    let head = sb.git(&["rev-parse", "HEAD"]);
    assert_eq!(first.commit, head);
    let source = &first.stages[0].actions[0];
    assert_eq!(source.variables["CommitId"], head);
    let build = &first.stages[1].actions[0];
    assert!(
        build.variables["IMAGE_URI"].contains("@sha256:"),
        "{:?}",
        build.variables
    );
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.1")
    );

    sb.replace(
        "sample-app/Cargo.toml",
        "version = \"0.0.1\"",
        "version = \"0.0.2\"",
    );
    commit(&sb, "0.0.2");
    let (r, second) = run_pipeline(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(second.status, "Succeeded", "{second:?}");
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(2));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.2")
    );
}

#[test]
fn a_wrong_image1_artifact_name_fails_at_deploy() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    sb.replace(
        "pipeline/pipeline.yaml",
        "Image1ArtifactName: BuildOutput",
        "Image1ArtifactName: ImageOutput",
    );
    commit(&sb, "miswired");
    let (r, e) = run_pipeline(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(status_of(&e, "Build"), "Succeeded");
    assert_eq!(status_of(&e, "Deploy"), "Failed");
    let err = e.stages[2].actions[0].error.as_deref().unwrap();
    assert!(
        err.contains("ImageOutput") && err.contains("input artifact"),
        "{err}"
    );
}

/// `local remote`: a push runs the pipeline as the declaration's trigger says (its branch, and
/// here a file-path filter), with the progress shown to the pusher; a push the filter excludes
/// runs nothing; `local executions` lists what ran.
#[test]
fn a_push_to_the_local_remote_runs_the_pipeline_as_its_trigger_says() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    sb.replace(
        "pipeline/pipeline.yaml",
        "              - ${BRANCH_NAME}\n",
        "              - ${BRANCH_NAME}\n          filePaths:\n            includes:\n              - \"sample-app/**\"\n",
    );
    commit(&sb, "only the app triggers");
    let r = sb.run(&["local", "remote"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(sb.git(&["remote"]).lines().any(|l| l == "local"));
    let branch = sb.git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    let push = |sb: &Sandbox| sb.git_run(&["push", "local", &format!("HEAD:refs/heads/{branch}")]);
    let p = push(&sb);
    assert_eq!(p.code, 0, "{p:?}");
    assert!(
        p.stderr
            .contains("Deploy/Deploy (CodeDeployToECS): in progress"),
        "the pusher sees the stages: {p:?}"
    );
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.1")
    );

    sb.write("NOTES.md", "not the app\n");
    commit(&sb, "notes");
    let p = push(&sb);
    assert_eq!(p.code, 0, "{p:?}");
    assert!(p.stderr.contains("no trigger matched"), "{p:?}");
    assert_eq!(crate::support::local::status(&sb).revision, Some(1));

    // A probe on the production listener, started by hand, across the push that cuts over.
    let url = format!("{}/version", s.listeners.production);
    let probe = sb.spawn(&[
        "--output",
        "json",
        "probe",
        &url,
        "--rate",
        "50",
        "--duration",
        "15m",
        "--results",
        "by-hand",
    ]);
    crate::support::eventually("the probe's records", crate::support::EVENT_WAIT, || {
        sb.exists("by-hand") && !sb.list("by-hand").is_empty()
    });
    sb.replace(
        "sample-app/Cargo.toml",
        "version = \"0.0.1\"",
        "version = \"0.0.2\"",
    );
    commit(&sb, "0.0.2");
    let p = push(&sb);
    assert_eq!(p.code, 0, "{p:?}");
    probe.signal("INT");
    let pr = probe.wait(Duration::from_secs(60));
    let summary: cutover::probe::Summary = serde_json::from_str(&pr.stdout).unwrap();
    assert_eq!(summary.failed, 0, "{pr:?}");
    let versions: Vec<&str> = summary
        .versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(versions, ["0.0.1", "0.0.2"], "{pr:?}");
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(2));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.2")
    );
    let r = sb.run(&["--output", "json", "local", "executions"]);
    assert_eq!(r.code, 0, "{r:?}");
    let list: Vec<Execution> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list
        .iter()
        .all(|e| e.status == "Succeeded" && e.trigger == format!("push refs/heads/{branch}")));
    assert_eq!(list[1].commit, sb.git(&["rev-parse", "HEAD"]));
}

/// QUEUED, as the template declares: an execution started while another runs waits for it.
#[test]
fn a_second_execution_queues_behind_the_first() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    let first = sb.spawn(&["--output", "json", "local", "pipeline"]);
    first.wait_for_stderr("Source/Source (CodeStarSourceConnection): in progress");
    let second = sb.spawn(&["--output", "json", "local", "pipeline"]);
    second.wait_for_stderr("queued: waiting for the execution before this one");
    let a = first.wait(Duration::from_secs(900));
    let b = second.wait(Duration::from_secs(900));
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    let a: Execution = serde_json::from_str(&a.stdout).unwrap();
    let b: Execution = serde_json::from_str(&b.stdout).unwrap();
    assert!(b.started > a.started, "{} then {}", a.started, b.started);
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(2), "the second deployed after the first");
}

/// A commit whose task definition breaks a rule fails at Build (the buildspec's `cutover build`
/// refuses the set, with the validator's report), Deploy is skipped, and production keeps
/// serving what it served.
#[test]
fn a_broken_taskdef_fails_at_build_and_production_keeps_serving() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    let (r, _) = run_pipeline(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    sb.replace(
        "ecs/taskdef.json",
        "\"containerPort\": 8080",
        "\"containerPort\": 8081",
    );
    commit(&sb, "broken");
    let (r, e) = run_pipeline(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(status_of(&e, "Build"), "Failed", "{e:?}");
    assert_eq!(status_of(&e, "Deploy"), "Skipped", "{e:?}");
    assert!(r.stderr.contains("8081"), "the validator's report: {r:?}");
    let s = crate::support::local::status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.1")
    );
}

/// `local pipeline --watch` follows the running execution to its end and exits with its status.
#[test]
fn watch_follows_the_running_execution() {
    let sb = pipeline_project();
    let _down = Down(&sb);
    let none = sb.run(&["local", "pipeline", "--watch"]);
    assert_eq!(none.code, 2, "{none:?}");
    let run = sb.spawn(&["local", "pipeline"]);
    run.wait_for_stderr("Source/Source (CodeStarSourceConnection): in progress");
    let watch = sb
        .spawn(&["--output", "json", "local", "pipeline", "--watch"])
        .wait(Duration::from_secs(900));
    assert_eq!(watch.code, 0, "{watch:?}");
    assert!(
        watch.stderr.contains("Deploy/Deploy: Succeeded"),
        "the progress as it happened: {watch:?}"
    );
    let e: Execution = serde_json::from_str(&watch.stdout).unwrap();
    assert_eq!(e.status, "Succeeded");
    assert_eq!(run.wait(Duration::from_secs(900)).code, 0);
}
