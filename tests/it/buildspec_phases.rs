//! `cutover buildspec run`: the phases in CodeBuild's order, the shell state carried from command
//! to command, `on-failure` and `finally`, the CodeBuild variables, exported variables and Ctrl-C.
//! Each test runs its own small buildspec in a sandbox.
#![allow(clippy::unwrap_used)]

use crate::support::buildspec::{run, sandbox, summary, SOURCE_VERSION};
use crate::support::{eventually, EVENT_WAIT};

#[test]
fn phases_run_in_codebuild_order_whatever_the_file_order() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  post_build:\n    commands:\n      - echo post_build >> order.txt\n  build:\n    commands:\n      - echo build >> order.txt\n  pre_build:\n    commands:\n      - echo pre_build >> order.txt\n  install:\n    commands:\n      - echo install >> order.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        sb.read("order.txt"),
        "install\npre_build\nbuild\npost_build\n"
    );
    let s = summary(&r);
    assert!(s.succeeded);
    assert_eq!(
        s.statuses(),
        [
            "INSTALL=SUCCEEDED",
            "PRE_BUILD=SUCCEEDED",
            "BUILD=SUCCEEDED",
            "POST_BUILD=SUCCEEDED"
        ]
    );
    assert_eq!(s.phases[0].commands, 1);
    // CodeBuild's log lines go to stderr, the JSON alone to stdout.
    assert!(r.stderr.contains("Entering phase PRE_BUILD"), "{r:?}");
    assert!(
        r.stderr.contains("Running command echo build >> order.txt"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("Phase complete: BUILD State: SUCCEEDED"),
        "{r:?}"
    );
}

#[test]
fn exports_assignments_and_cd_carry_across_commands_and_phases() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - export EXPORTED=one\n      - PLAIN=two\n      - mkdir -p deep/er && cd deep\n      - cd er\n  build:\n    commands:\n      - echo \"$EXPORTED $PLAIN $(pwd)\" > \"$CODEBUILD_SRC_DIR/state.txt\"\n      - sh -c 'echo \"$PLAIN\"' > \"$CODEBUILD_SRC_DIR/child.txt\"\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let src = sb.path().canonicalize().unwrap();
    assert_eq!(
        sb.read("state.txt"),
        format!("one two {}/deep/er\n", src.display())
    );
    // Variables reach the commands' child processes too.
    assert_eq!(sb.read("child.txt"), "two\n");
}

#[test]
fn bash_arrays_do_not_carry_over_as_in_codebuild() {
    let sb = sandbox(
        "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - ARR=(a b c); echo \"${ARR[1]}\" > same.txt\n      - echo \"[${ARR[1]}]\" > next.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.read("same.txt"), "b\n");
    assert_eq!(sb.read("next.txt"), "[]\n");
}

#[test]
fn a_failing_pre_build_command_aborts_after_finally() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - echo one >> ran.txt\n      - exit 3\n      - echo skipped >> ran.txt\n    finally:\n      - echo \"finally $CODEBUILD_BUILD_SUCCEEDING\" >> ran.txt\n  build:\n    commands:\n      - echo build >> ran.txt\n  post_build:\n    commands:\n      - echo post_build >> ran.txt\nartifacts:\n  files:\n    - ran.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(sb.read("ran.txt"), "one\nfinally 0\n");
    let s = summary(&r);
    assert!(!s.succeeded);
    assert_eq!(
        s.statuses(),
        [
            "INSTALL=SUCCEEDED",
            "PRE_BUILD=FAILED",
            "BUILD=SKIPPED",
            "POST_BUILD=SKIPPED"
        ]
    );
    assert_eq!(s.phases[1].failed_command.as_deref(), Some("exit 3"));
    assert_eq!(s.phases[1].reason.as_deref(), Some("exit status 3"));
    // CodeBuild goes straight to FINALIZING: no artifacts.
    assert!(s.artifacts.is_empty());
    assert!(!sb.exists("target/buildspec"));
    assert!(
        r.stderr.contains("Phase complete: PRE_BUILD State: FAILED"),
        "{r:?}"
    );
}

#[test]
fn on_failure_continue_runs_the_next_phases_and_the_build_still_fails() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands:\n      - false\n  build:\n    commands:\n      - echo \"build $CODEBUILD_BUILD_SUCCEEDING\" >> ran.txt\n  post_build:\n    commands:\n      - echo post_build >> ran.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(sb.read("ran.txt"), "build 0\npost_build\n");
    let s = summary(&r);
    assert_eq!(
        s.statuses(),
        [
            "INSTALL=FAILED",
            "PRE_BUILD=SUCCEEDED",
            "BUILD=SUCCEEDED",
            "POST_BUILD=SUCCEEDED"
        ]
    );
}

#[test]
fn post_build_and_the_artifacts_follow_a_failed_build() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"build $CODEBUILD_BUILD_SUCCEEDING\" > log.txt\n      - false\n    finally:\n      - echo finally >> log.txt\n  post_build:\n    commands:\n      - echo \"post_build $CODEBUILD_BUILD_SUCCEEDING\" >> log.txt\nartifacts:\n  files:\n    - log.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(sb.read("log.txt"), "build 1\nfinally\npost_build 0\n");
    let s = summary(&r);
    assert_eq!(
        s.statuses(),
        [
            "INSTALL=SUCCEEDED",
            "PRE_BUILD=SUCCEEDED",
            "BUILD=FAILED",
            "POST_BUILD=SUCCEEDED",
            "UPLOAD_ARTIFACTS=SUCCEEDED"
        ]
    );
    assert_eq!(s.artifacts[0].files, ["log.txt"]);
}

#[test]
fn a_failing_finally_command_fails_the_phase() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n    finally:\n      - false\n      - echo skipped > skipped.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let s = summary(&r);
    assert_eq!(s.phases[2].status, "FAILED");
    assert_eq!(s.phases[2].failed_command.as_deref(), Some("false"));
    assert!(!sb.exists("skipped.txt"));
}

#[test]
fn variables_and_codebuild_values_are_visible_to_the_commands() {
    let sb = sandbox(
        "version: 0.2\nenv:\n  variables:\n    FROM_SPEC: spec\n    OVERRIDDEN: spec\n    NUMBER: 42\nphases:\n  build:\n    commands:\n      - env > env.txt\n",
    )
    .env("CODEBUILD_WEBHOOK_EVENT", "from-the-machine");
    let r = run(
        &sb,
        &[
            "--build-number",
            "7",
            "--pipeline",
            "demo",
            "--project",
            "app-build",
            "--env",
            "OVERRIDDEN=flag",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let env: std::collections::BTreeMap<String, String> = sb
        .read("env.txt")
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let src = sb.path().canonicalize().unwrap();
    assert_eq!(env["FROM_SPEC"], "spec");
    assert_eq!(env["OVERRIDDEN"], "flag");
    assert_eq!(env["NUMBER"], "42");
    assert_eq!(env["CODEBUILD_SRC_DIR"], src.display().to_string());
    assert_eq!(env["CODEBUILD_RESOLVED_SOURCE_VERSION"], SOURCE_VERSION);
    assert_eq!(env["CODEBUILD_SOURCE_VERSION"], SOURCE_VERSION);
    assert_eq!(env["CODEBUILD_BUILD_NUMBER"], "7");
    assert_eq!(env["CODEBUILD_INITIATOR"], "codepipeline/demo");
    assert_eq!(env["CODEBUILD_BUILD_SUCCEEDING"], "1");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    let id = &env["CODEBUILD_BUILD_ID"];
    assert!(
        id.starts_with("app-build:") && id.len() == "app-build:".len() + 36,
        "{id}"
    );
    assert_eq!(
        env["CODEBUILD_BUILD_ARN"],
        format!("arn:aws:codebuild:us-east-1:000000000000:build/{id}")
    );
    assert!(env["CODEBUILD_START_TIME"].parse::<u64>().unwrap() > 1_600_000_000_000);
    // The machine's own CODEBUILD_* variables do not leak into the simulated build.
    assert!(!env.contains_key("CODEBUILD_WEBHOOK_EVENT"));
    let s = summary(&r);
    assert_eq!(s.build_number, 7);
    assert_eq!(&s.build_id, id);
}

#[test]
fn the_region_comes_from_the_environment_and_the_commit_from_git() {
    let sb = sandbox("version: 0.2\nphases:\n  build:\n    commands:\n      - env > env.txt\n")
        .env("AWS_DEFAULT_REGION", "eu-west-3");
    sb.git(&["init", "-q"]);
    sb.git(&["add", "buildspec.yml"]);
    sb.git(&["commit", "-q", "-m", "buildspec"]);
    let head = sb.git(&["rev-parse", "HEAD"]);
    let r = sb.run(&["buildspec", "run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let env = sb.read("env.txt");
    assert!(
        env.contains(&format!("CODEBUILD_RESOLVED_SOURCE_VERSION={head}\n")),
        "{env}"
    );
    assert!(env.contains("AWS_REGION=eu-west-3\n"), "{env}");
    assert!(env.contains("CODEBUILD_INITIATOR=local\n"), "{env}");
    // The text summary goes to stdout.
    assert!(r.stdout.starts_with("build            SUCCEEDED"), "{r:?}");
}

#[test]
fn exported_variables_are_captured_at_the_end_of_the_build() {
    let sb = sandbox(
        "version: 0.2\nenv:\n  exported-variables:\n    - IMAGE_TAG\n    - CHANGED\n    - NEVER_SET\nphases:\n  pre_build:\n    commands:\n      - IMAGE_TAG=$(echo v1)\n      - export CHANGED=early\n  post_build:\n    commands:\n      - CHANGED=late\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let s = summary(&r);
    let got: Vec<(String, Option<String>)> = s.exported_variables.into_iter().collect();
    assert_eq!(
        got,
        [
            ("CHANGED".to_string(), Some("late".to_string())),
            ("IMAGE_TAG".to_string(), Some("v1".to_string())),
            ("NEVER_SET".to_string(), None),
        ]
    );
}

#[test]
fn ctrl_c_stops_the_command_and_its_process_group() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30 & echo $! > sleep.pid; wait\n",
    );
    let child = sb.spawn(&["buildspec", "run", "--source-version", SOURCE_VERSION]);
    eventually("the command to write sleep.pid", EVENT_WAIT, || {
        sb.exists("sleep.pid") && sb.read("sleep.pid").ends_with('\n')
    });
    let sleep_pid = sb.read("sleep.pid").trim().to_string();
    child.signal("INT");
    let out = child.wait(EVENT_WAIT);
    assert_eq!(out.code, 130, "{out:?}");
    assert!(out.stderr.contains("interrupted"), "{out:?}");
    // The sleep is gone (or a zombie waiting for its new parent to reap it).
    let stat = std::fs::read_to_string(format!("/proc/{sleep_pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    assert!(
        matches!(state, None | Some("Z" | "X")),
        "sleep still running: {stat}"
    );
}

#[test]
fn a_shell_that_cannot_start_is_an_external_failure() {
    let sb =
        sandbox("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands: [true]\n")
            .env("PATH", "/nonexistent");
    let r = run(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("cannot start the shell `bash`"), "{r:?}");
}
