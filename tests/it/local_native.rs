//! `cutover local deploy` with `[local] mode = "ecs-native"`: the same engine with ECS-native
//! semantics from `[local.native]`: a linear and a canary deployment with scaled minutes under
//! the probe (0 failed requests, the steps the strategy names, the bake time as the window blue is
//! kept), and a native hook at POST_TEST_TRAFFIC_SHIFT that fails and rolls back with no
//! production failure. Real Docker, registry and HAProxy, as `local_deploy.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cutover::lifecycle::{DeploymentStatus, Event};

use crate::support::local::*;

/// The sample project in ECS-native mode with `native` as its `[local.native]` table.
fn native_project(native: &str) -> crate::support::Sandbox {
    let sb = project();
    let toml = sb.read("cutover.toml");
    let toml = toml.replacen("[local]\n", "[local]\nmode = \"ecs-native\"\n", 1);
    assert!(
        toml.contains("mode = \"ecs-native\""),
        "the project has a [local] table"
    );
    sb.write(
        "cutover.toml",
        &format!("{toml}\n[local.native]\n{native}\n"),
    );
    sb
}

#[test]
fn a_linear_then_a_canary_native_deployment_shift_as_their_strategy_says() {
    let sb = native_project(
        "strategy = \"LINEAR\"\nstep_percent = 25\nstep_bake_time_minutes = 1\nbake_time_minutes = 2",
    );
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let (r, o) = deploy(&sb, &["--probe", "--minute", "100ms"]);
    assert_eq!(r.code, 0, "{r:?}");
    let o = o.unwrap();
    let d = &o.deployment;
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert_eq!(d.deployment_config, "LINEAR 25% every 1 min, bake 2 min");
    let weights: Vec<u8> = d.traffic.iter().map(|w| w.green_percent).collect();
    assert_eq!(weights, [25, 50, 75, 100]);
    // The bake time keeps blue: TerminateBlue lasts at least two minutes of 100 ms.
    let t = d
        .events
        .iter()
        .find(|e| e.name == Event::TerminateBlue)
        .unwrap();
    let kept = t.end_unix_us.unwrap() - t.start_unix_us.unwrap();
    assert!(kept >= 200_000, "bake time of 2 × 100 ms: {kept} µs");
    assert_probe(&o, &["0.0.1", "0.0.2"]);

    sb.replace(
        "cutover.toml",
        "strategy = \"LINEAR\"\nstep_percent = 25\nstep_bake_time_minutes = 1\nbake_time_minutes = 2",
        "strategy = \"CANARY\"\ncanary_percent = 10\ncanary_bake_time_minutes = 3",
    );
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &["--probe", "--minute", "100ms"]);
    assert_eq!(r.code, 0, "{r:?}");
    let o = o.unwrap();
    assert_eq!(
        o.deployment.deployment_config,
        "CANARY 10% for 3 min, bake 0 min"
    );
    let t = &o.deployment.traffic;
    assert_eq!(
        t.iter().map(|w| w.green_percent).collect::<Vec<_>>(),
        [10, 100]
    );
    // Three minutes of 100 ms after the first shift was done (as in local_deploy's canary).
    let gap = t[1].unix_us - t[0].unix_us;
    assert!(gap >= 299_000, "the canary ran 3 × 100 ms: {gap} µs");
    assert_probe(&o, &["0.0.2", "0.0.1"]);
}

#[test]
fn a_failing_native_hook_rolls_back_with_no_production_failure() {
    let sb = native_project(
        "[local.native.hooks]\nPOST_TEST_TRAFFIC_SHIFT = \"curl -s \\\"$CUTOVER_TEST_URL/version\\\" > seen.txt; exit 4\"",
    );
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let (r, o) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    let d = &o.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let e = d.error.as_ref().unwrap();
    assert_eq!(
        e.event,
        Event::AfterAllowTestTraffic,
        "POST_TEST_TRAFFIC_SHIFT"
    );
    assert!(e.message.contains("exited with code 4"), "{}", e.message);
    assert!(
        sb.read("seen.txt").contains("0.0.2"),
        "the hook saw green on the test listener"
    );
    assert!(d.rolled_back);
    assert_probe(&o, &["0.0.1"]);
    assert_eq!(status(&sb).revision, Some(1));
}

#[test]
fn native_settings_errors_name_the_key() {
    let sb = native_project("strategy = \"SIDEWAYS\"");
    artifacts(&sb, &image_v1());
    let (r, _) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("local.native.strategy"), "{r:?}");
    assert!(
        r.stderr
            .contains("`SIDEWAYS` is not an ECS blue/green strategy"),
        "{r:?}"
    );
    let sb = native_project("[local.native.hooks]\nSCALE_UP = \"true\"");
    artifacts(&sb, &image_v1());
    let (r, _) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("local.native.hooks.SCALE_UP"), "{r:?}");
    // A CodeDeploy configuration would be ignored in native mode: refused, not overwritten.
    let sb = native_project("strategy = \"LINEAR\"");
    artifacts(&sb, &image_v1());
    let (r, _) = deploy(
        &sb,
        &["--deployment-config", "CodeDeployDefault.ECSAllAtOnce"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("[local] mode is ecs-native"), "{r:?}");
    // And [local.native] without the mode would be ignored: refused too.
    let sb = project();
    let toml = sb.read("cutover.toml");
    sb.write(
        "cutover.toml",
        &format!("{toml}\n[local.native]\nstrategy = \"LINEAR\"\n"),
    );
    artifacts(&sb, &image_v1());
    let (r, _) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("is not ecs-native: it would be ignored"),
        "{r:?}"
    );
}
