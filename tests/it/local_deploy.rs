//! `cutover local`: the artifact set drives CodeDeploy's ECS lifecycle on this machine, against
//! the real Docker engine, a real HAProxy, the real registry (images pulled from it) and moto
//! (RegisterTaskDefinition). Each failure mode rolls back with no failed production request and
//! production never answering the bad revision; `local down` leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cutover::lifecycle::{DeploymentStatus, Event, EventStatus};
use cutover::local::DeployOutcome;

use crate::support::local::*;
use crate::support::project::{base_image_args, commit};
use crate::support::{aws, eventually, registry, unique, Sandbox, EVENT_WAIT};

fn names(o: &DeployOutcome, status: EventStatus) -> Vec<Event> {
    o.deployment
        .events
        .iter()
        .filter(|e| e.status == status)
        .map(|e| e.name)
        .collect()
}

fn assert_nothing_left(sb: &Sandbox, key: &str, haproxy_pid: u32) {
    let removed = down(sb);
    assert!(removed.had_state && removed.haproxy, "{removed:?}");
    let label = format!("cutover.local.service={key}");
    assert!(labelled("container", &label).is_empty(), "containers left");
    assert!(labelled("network", &label).is_empty(), "networks left");
    // HAProxy is gone (a zombie has an empty command line and no config).
    let cmdline = std::fs::read(format!("/proc/{haproxy_pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.is_empty(), "HAProxy {haproxy_pid} still runs");
}

fn state_of(sb: &Sandbox) -> serde_json::Value {
    serde_json::from_str(&sb.read(".cutover/local/state.json")).unwrap()
}

/// The seed's scenario from artifacts: 0.0.1 built by `cutover build` into the registry and
/// deployed (the service is created), then 0.0.2 built and deployed under the probe.
#[test]
fn built_images_deploy_then_cut_over_with_no_failed_request() {
    let repo = format!("{}/{}", registry::plain(), unique("local"));
    let sb = aws::with_aws(crate::support::project::project(&repo));
    let toml = sb.read("cutover.toml");
    sb.write("cutover.toml", &format!("{toml}{FAST}"));
    let _down = Down(&sb);
    let (builder, runtime) = base_image_args();
    let build = |sb: &Sandbox| {
        let r = sb
            .spawn(&["build", "--build-arg", &builder, "--build-arg", &runtime])
            .wait(Duration::from_secs(900));
        assert_eq!(r.code, 0, "cutover build: {r:?}");
    };
    build(&sb);
    let (r, first) = deploy(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let first = first.unwrap();
    assert!(first.created);
    assert_eq!(first.deployment.status, DeploymentStatus::Succeeded);
    let arn = first
        .task_definition_arn
        .clone()
        .expect("registered at moto");
    assert!(arn.contains(":task-definition/sample-app:"), "{arn}");
    assert_eq!(version_at(&first.production_url).as_deref(), Some("0.0.1"));
    assert_eq!(version_at(&first.test_url).as_deref(), Some("0.0.1"));
    let s = status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(s.image, first.image);
    assert_eq!(s.listeners.production, first.production_url);
    assert_eq!(s.containers.len(), 1);
    assert_eq!(s.containers[0].state, "running");
    assert_eq!(
        s.last_deployment.as_ref().map(|d| d.id.as_str()),
        Some(first.deployment.id.as_str())
    );

    sb.replace(
        "sample-app/Cargo.toml",
        "version = \"0.0.1\"",
        "version = \"0.0.2\"",
    );
    commit(&sb, "0.0.2");
    build(&sb);
    let (r, second) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 0, "{r:?}");
    let second = second.unwrap();
    assert!(!second.created);
    assert_eq!(second.deployment.status, DeploymentStatus::Succeeded);
    assert_probe(&second, &["0.0.1", "0.0.2"]);
    // Every event ran, in CodeDeploy's order; the hook events without a hook are skipped.
    let ran: Vec<Event> = second.deployment.events.iter().map(|e| e.name).collect();
    assert_eq!(ran, Event::ALL);
    let starts: Vec<u64> = second
        .deployment
        .events
        .iter()
        .map(|e| e.start_unix_us.unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert_eq!(
        names(&second, EventStatus::Succeeded),
        [
            Event::Install,
            Event::AllowTestTraffic,
            Event::AllowTraffic,
            Event::TerminateBlue
        ]
    );
    assert_ne!(second.task_definition_arn, first.task_definition_arn);
    assert_eq!(status(&sb).revision, Some(2));
    let state = state_of(&sb);
    assert_nothing_left(
        &sb,
        state["key"].as_str().unwrap(),
        state["lb"]["pid"].as_u64().unwrap() as u32,
    );
}

/// The app reads `PORT` from the task definition's environment: 9090, while the AppSpec (and
/// the target group) say 8080. Every static rule passes; the health check fails.
#[test]
fn a_wrong_port_fails_the_health_check_and_rolls_back() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    sb.replace(
        "ecs/taskdef.json",
        "\"essential\": true,",
        "\"essential\": true,\n      \"environment\": [{ \"name\": \"PORT\", \"value\": \"9090\" }],",
    );
    artifacts(&sb, &image_v2());
    let v = sb.run(&["validate", "out"]);
    assert_eq!(v.code, 0, "static rules pass: {v:?}");
    let (r, o) = deploy(&sb, &["--probe", "--ready-timeout", "3s"]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    assert_eq!(o.deployment.status, DeploymentStatus::Failed);
    assert!(o.deployment.rolled_back);
    let err = o.deployment.error.as_ref().unwrap();
    assert_eq!(
        (err.event, err.code.as_str()),
        (Event::Install, "HEALTH_CONSTRAINTS")
    );
    assert!(err.message.contains("/healthz"), "{}", err.message);
    assert_probe(&o, &["0.0.1"]);
    assert_eq!(names(&o, EventStatus::Failed), [Event::Install]);
    let s = status(&sb);
    assert_eq!(s.revision, Some(1), "blue still serves");
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.1")
    );
    assert_eq!(version_at(&s.listeners.test).as_deref(), Some("0.0.1"));
    assert_eq!(
        s.containers.len(),
        1,
        "green was removed: {:?}",
        s.containers
    );
}

/// A hook fails at AfterAllowTestTraffic after the test listener answered the new version.
#[test]
fn a_failing_hook_rolls_back_after_the_test_listener_answered_green() {
    let sb = project();
    let _down = Down(&sb);
    let toml = sb.read("cutover.toml");
    sb.write(
        "cutover.toml",
        &format!(
            "{}\n[local.functions]\nsmoke = \"curl -s \\\"$CUTOVER_TEST_URL/version\\\" > seen-$CUTOVER_LIFECYCLE_EVENT.txt; exit 3\"\n",
            toml.replace(
                "# [appspec.hooks]\n# after_allow_test_traffic = \"cutover-demo-smoke-test\"",
                "[appspec.hooks]\nafter_allow_test_traffic = \"smoke\""
            )
        ),
    );
    artifacts(&sb, &image_v1());
    assert!(sb
        .read("out/appspec.yaml")
        .contains("AfterAllowTestTraffic: smoke"));
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let (r, o) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    assert_eq!(o.deployment.status, DeploymentStatus::Failed);
    let err = o.deployment.error.as_ref().unwrap();
    assert_eq!(
        (err.event, err.code.as_str()),
        (Event::AfterAllowTestTraffic, "HOOK_FAILED")
    );
    assert!(
        err.message.contains("exited with code 3"),
        "{}",
        err.message
    );
    assert!(
        sb.read("seen-AfterAllowTestTraffic.txt").contains("0.0.2"),
        "the test listener answered green"
    );
    assert_probe(&o, &["0.0.1"]);
    assert!(o.deployment.rolled_back);
    let s = status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(version_at(&s.listeners.test).as_deref(), Some("0.0.1"));
}

/// A hook function with no local command is refused before anything starts.
#[test]
fn a_hook_without_a_local_command_is_refused_before_anything_starts() {
    let sb = project();
    let toml = sb.read("cutover.toml");
    sb.write(
        "cutover.toml",
        &toml.replace(
            "# [appspec.hooks]\n# after_allow_test_traffic = \"cutover-demo-smoke-test\"",
            "[appspec.hooks]\nafter_allow_test_traffic = \"smoke\"",
        ),
    );
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(o.is_none());
    assert!(r.stderr.contains("[local.functions]"), "{r:?}");
    assert!(r.stderr.contains("\"smoke\""), "{r:?}");
    assert!(!sb.exists(".cutover"), "nothing was started");
}

/// An invalid set gets the validator's report and exit 2; nothing starts.
#[test]
fn an_invalid_set_is_refused_with_the_validators_report() {
    let sb = project();
    artifacts(&sb, &image_v1());
    sb.replace(
        "out/appspec.yaml",
        "ContainerPort: 8080",
        "ContainerPort: 8081",
    );
    let (r, _) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not a valid artifact set"), "{r:?}");
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(
        report["problems"].to_string().contains("8081"),
        "the report names the port: {report}"
    );
    assert!(!sb.exists(".cutover"));
}

/// The sample's task definition with `app` (its `extra` keys after the port mappings) and more
/// containers after it.
fn taskdef_with(sb: &Sandbox, app_extra: &str, more: &str) {
    sb.write(
        "ecs/taskdef.json",
        &format!(
            r#"{{
  "family": "sample-app",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::111122223333:role/cutover-demo-task-execution",
  "containerDefinitions": [
    {{
      "name": "app",
      "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app:latest",
      "essential": true,
      "portMappings": [{{ "containerPort": 8080, "protocol": "tcp" }}],
      {app_extra}
    }},
    {more}
  ]
}}"#
        ),
    );
}

fn with_sidecar(sb: &Sandbox, app_env: &str) {
    taskdef_with(
        sb,
        &format!(
            r#""environment": [{app_env}],
      "dependsOn": [{{ "containerName": "sidecar", "condition": "START" }}]"#
        ),
        &format!(
            r#"{{
      "name": "sidecar",
      "image": "{}",
      "essential": true,
      "command": ["--bind", "127.0.0.1", "--port", "9000"],
      "stopTimeout": 2
    }}"#,
            image_v1()
        ),
    );
}

/// The app reaches its sidecar on `localhost:9000` (its health check needs it: awsvpc's shared
/// namespace); then, during a deployment, green's essential sidecar exits and the deployment
/// rolls back.
#[test]
fn a_sidecar_on_localhost_serves_and_its_exit_rolls_back() {
    let sb = project();
    let _down = Down(&sb);
    with_sidecar(
        &sb,
        r#"{ "name": "UPSTREAM_ADDR", "value": "127.0.0.1:9000" }"#,
    );
    let toml = sb.read("cutover.toml");
    // The hook kills green's sidecar and waits for it to be gone.
    sb.write(
        "cutover.toml",
        &format!(
            "{}\n[local.functions]\nkill-sidecar = \"id=$(docker ps -q --filter label=cutover.local.service=$CUTOVER_LOCAL_SERVICE --filter label=cutover.local.revision=$CUTOVER_LOCAL_REVISION --filter label=cutover.local.container=sidecar) && [ -n \\\"$id\\\" ] && docker kill $id && docker wait $id\"\n",
            toml.replace(
                "# [appspec.hooks]\n# after_allow_test_traffic = \"cutover-demo-smoke-test\"",
                "[appspec.hooks]\nafter_allow_test_traffic = \"kill-sidecar\""
            )
        ),
    );
    artifacts(&sb, &image_v1());
    // The first deploy has no hooks to run (it creates the service), and is healthy only if
    // the app reaches the sidecar on localhost.
    let (r, first) = deploy(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        first.unwrap().deployment.status,
        DeploymentStatus::Succeeded
    );
    let s = status(&sb);
    let mut containers: Vec<&str> = s.containers.iter().map(|c| c.name.as_str()).collect();
    containers.sort_unstable();
    assert_eq!(containers, ["app", "sidecar"]);

    artifacts(&sb, &image_v2());
    let (r, o) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    let err = o.deployment.error.as_ref().unwrap();
    assert_eq!(err.event, Event::AfterAllowTestTraffic, "{err:?}");
    assert!(
        err.message.contains("essential container `sidecar` exited"),
        "{}",
        err.message
    );
    assert!(o.deployment.rolled_back);
    assert_probe(&o, &["0.0.1"]);
    assert_eq!(status(&sb).revision, Some(1));
}

/// Without the sidecar the same app is never healthy: the health check above really needs it.
#[test]
fn without_its_sidecar_the_app_is_not_healthy() {
    let sb = project();
    let _down = Down(&sb);
    with_sidecar(
        &sb,
        r#"{ "name": "UPSTREAM_ADDR", "value": "127.0.0.1:9001" }"#,
    );
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &["--ready-timeout", "2s"]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    assert_eq!(o.deployment.status, DeploymentStatus::Failed);
    // A first deploy that fails leaves no service.
    assert!(!sb.exists(".cutover/local/state.json"));
}

/// Ctrl-C during the traffic shift: both listeners back on blue, exit 130.
#[test]
fn ctrl_c_during_the_shift_rolls_back() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let child = sb.spawn(&[
        "--output",
        "json",
        "local",
        "deploy",
        "out",
        "--probe",
        "--deployment-config",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        "--minute",
        "10s",
    ]);
    child.wait_for_stderr("shift: green 10 %");
    child.signal("INT");
    let r = child.wait(LIMIT);
    assert_eq!(r.code, 130, "{r:?}");
    let o = outcome(&r).unwrap();
    assert_eq!(o.deployment.status, DeploymentStatus::Stopped);
    assert_eq!(
        o.deployment
            .error
            .as_ref()
            .map(|e| (e.event, e.code.as_str())),
        Some((Event::AllowTraffic, "MANUAL_STOP"))
    );
    let p = o.probe.as_ref().unwrap();
    assert_eq!(p.summary.failed, 0, "{:?}", p.failures);
    // Green took its canary share before the stop; the traffic went back to blue.
    let weights: Vec<u8> = o
        .deployment
        .traffic
        .iter()
        .map(|w| w.green_percent)
        .collect();
    assert_eq!(weights, [10, 0]);
    let s = status(&sb);
    assert_eq!(s.revision, Some(1));
    assert_eq!(
        version_at(&s.listeners.production).as_deref(),
        Some("0.0.1")
    );
}

/// Canary and linear, with their minutes scaled, two tasks a task set.
#[test]
fn canary_and_linear_shift_on_their_schedule() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &["--desired-count", "2"]).0.code, 0);
    assert_eq!(status(&sb).containers.len(), 2, "two tasks");
    artifacts(&sb, &image_v2());
    let (r, o) = deploy(
        &sb,
        &[
            "--probe",
            "--desired-count",
            "2",
            "--deployment-config",
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
            "--minute",
            "200ms",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let o = o.unwrap();
    let t = &o.deployment.traffic;
    assert_eq!(
        t.iter().map(|w| w.green_percent).collect::<Vec<_>>(),
        [10, 100]
    );
    // Five minutes of 200 ms after the first shift was done, however long that shift took
    // (each weight is stamped when its shift is done; 1 ms for the two clocks).
    let gap = t[1].unix_us - t[0].unix_us;
    assert!(gap >= 999_000, "5 minutes of 200 ms: {gap} µs");
    assert_probe(&o, &["0.0.1", "0.0.2"]);
    let s = status(&sb);
    assert_eq!(s.containers.len(), 2);
    let tasks: std::collections::BTreeSet<&str> =
        s.containers.iter().map(|c| c.task.as_str()).collect();
    assert_eq!(tasks.len(), 2, "each task its own");

    artifacts(&sb, &image_v1());
    let (r, o) = deploy(
        &sb,
        &[
            "--probe",
            "--desired-count",
            "2",
            "--deployment-config",
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            "--minute",
            "100ms",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let o = o.unwrap();
    let weights: Vec<u8> = o
        .deployment
        .traffic
        .iter()
        .map(|w| w.green_percent)
        .collect();
    assert_eq!(weights, (1..=10).map(|i| i * 10).collect::<Vec<u8>>());
    assert_probe(&o, &["0.0.2", "0.0.1"]);
}

/// Twenty deployments in a row, alternating versions, each under the probe: no failure.
#[test]
fn twenty_deployments_in_a_row_fail_no_request() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    let (v1, v2) = (image_v1(), image_v2());
    for i in 0..20 {
        let (image, from, to) = if i % 2 == 0 {
            (&v2, "0.0.1", "0.0.2")
        } else {
            (&v1, "0.0.2", "0.0.1")
        };
        artifacts(&sb, image);
        let (r, o) = deploy(&sb, &["--probe", "--probe-rate", "200"]);
        assert_eq!(r.code, 0, "deployment {}: {r:?}", i + 1);
        assert_probe(&o.unwrap(), &[from, to]);
    }
    let s = status(&sb);
    assert_eq!(s.revision, Some(21));
    eventually("a single task left", EVENT_WAIT, || {
        status(&sb).containers.len() == 1
    });
}

/// An image the registry does not have: the pull fails, exit 3 (the registry, not the revision),
/// rolled back, blue serves.
#[test]
fn an_image_the_registry_lacks_fails_with_exit_3_and_rolls_back() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    let missing = format!(
        "{}/cutover-test/{}:0.0.9",
        registry::plain(),
        unique("none")
    );
    artifacts(&sb, &missing);
    let (r, o) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 3, "{r:?}");
    let o = o.unwrap();
    assert!(o.infrastructure_failure);
    assert_eq!(o.deployment.status, DeploymentStatus::Failed);
    let err = o.deployment.error.as_ref().unwrap();
    assert_eq!(err.event, Event::Install);
    assert!(err.message.contains("did not start"), "{}", err.message);
    assert_probe(&o, &["0.0.1"]);
    assert_eq!(status(&sb).revision, Some(1));
}

/// A probe started by hand on the production listener keeps running across deployments: the
/// listener stays where it is, deploy after deploy.
#[test]
fn a_probe_started_by_hand_runs_across_deployments() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    let (r, first) = deploy(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let url = format!("{}/version", first.unwrap().production_url);
    let probe = sb.spawn(&[
        "--output",
        "json",
        "probe",
        &url,
        "--rate",
        "100",
        "--duration",
        "10m",
        "--results",
        "by-hand",
    ]);
    eventually("the probe's records file", EVENT_WAIT, || {
        sb.exists("by-hand") && !sb.list("by-hand").is_empty()
    });
    for image in [image_v2(), image_v1()] {
        artifacts(&sb, &image);
        assert_eq!(deploy(&sb, &[]).0.code, 0);
    }
    probe.signal("INT");
    let r = probe.wait(EVENT_WAIT);
    assert_eq!(r.code, 130, "{r:?}");
    let s: cutover::probe::Summary = serde_json::from_str(&r.stdout).unwrap();
    assert!(s.total > 0);
    assert_eq!(s.failed, 0, "{r:?}");
    let versions: Vec<&str> = s.versions.iter().map(|v| v.version.as_str()).collect();
    assert!(
        versions.contains(&"0.0.1") && versions.contains(&"0.0.2"),
        "{versions:?}"
    );
}

/// A secret that neither [local.secrets] nor the environment holds is refused before anything
/// starts, naming the key to add.
#[test]
fn a_secret_with_no_local_value_is_refused() {
    let sb = project();
    sb.replace(
        "ecs/taskdef.json",
        "\"essential\": true,",
        "\"essential\": true,\n      \"secrets\": [{ \"name\": \"DB_PASSWORD\", \"valueFrom\": \"arn:aws:ssm:us-east-1:111122223333:parameter/db\" }],",
    );
    artifacts(&sb, &image_v1());
    let (r, _) = deploy(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("[local.secrets] DB_PASSWORD"), "{r:?}");
    assert!(!sb.exists(".cutover"));
}

fn with_dependencies(sb: &Sandbox, sidecar_check: &str) {
    taskdef_with(
        sb,
        r#""environment": [{ "name": "UPSTREAM_ADDR", "value": "127.0.0.1:9000" }],
      "dependsOn": [
        { "containerName": "init", "condition": "SUCCESS" },
        { "containerName": "sidecar", "condition": "HEALTHY" }
      ]"#,
        &format!(
            r#"{{
      "name": "init",
      "image": "{image}",
      "essential": false,
      "command": ["--help"]
    }},
    {{
      "name": "sidecar",
      "image": "{image}",
      "essential": true,
      "command": ["--bind", "127.0.0.1", "--port", "9000"],
      "healthCheck": {{ "command": {sidecar_check}, "interval": 5, "timeout": 2, "retries": 1 }}
    }}"#,
            image = image_v1()
        ),
    );
}

/// `dependsOn` as Fargate runs it: the app starts after its init container exited 0 (SUCCESS)
/// and its sidecar's container health check passed (HEALTHY), run inside the sidecar.
#[test]
fn depends_on_waits_for_success_and_a_healthy_sidecar() {
    let sb = project();
    let _down = Down(&sb);
    with_dependencies(&sb, r#"["CMD", "/sample-app", "--help"]"#);
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(o.unwrap().deployment.status, DeploymentStatus::Succeeded);
    let s = status(&sb);
    let state = |n: &str| {
        s.containers
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.state.clone())
            .unwrap_or_default()
    };
    assert_eq!(state("init"), "exited", "{:?}", s.containers);
    assert_eq!(state("sidecar"), "running");
    assert_eq!(state("app"), "running");
    // The init container's output is in its logs.
    let logs = sb.run(&["local", "logs", "init"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(logs.stdout.contains("Usage: sample-app"), "{logs:?}");
    let none = sb.run(&["local", "logs", "nosuch"]);
    assert_eq!(none.code, 2, "{none:?}");
}

/// A sidecar whose container health check fails never lets the app start: HEALTHY does not hold.
#[test]
fn an_unhealthy_dependency_fails_the_deployment() {
    let sb = project();
    let _down = Down(&sb);
    with_dependencies(&sb, r#"["CMD", "/sample-app", "--no-such-flag"]"#);
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    let err = o.deployment.error.as_ref().unwrap();
    assert_eq!(err.code, "HEALTH_CONSTRAINTS", "{err:?}");
    assert!(err.message.contains("UNHEALTHY"), "{}", err.message);
    assert!(
        !sb.exists(".cutover/local/state.json"),
        "no service is left"
    );
}

/// A secret from [local.secrets] reaches the container's environment, and its value appears in
/// no output, report or state of cutover's (it travels in the Docker CLI's environment).
#[test]
fn a_secret_reaches_the_container_and_no_output() {
    let sb = project();
    let _down = Down(&sb);
    sb.replace(
        "ecs/taskdef.json",
        "\"essential\": true,",
        "\"essential\": true,\n      \"secrets\": [{ \"name\": \"DB_PASSWORD\", \"valueFrom\": \"arn:aws:ssm:us-east-1:111122223333:parameter/db\" }],",
    );
    let value = unique("s3cr3t");
    let toml = sb.read("cutover.toml");
    sb.write(
        "cutover.toml",
        &format!("{toml}\n[local.secrets]\nDB_PASSWORD = \"{value}\"\n"),
    );
    artifacts(&sb, &image_v1());
    let (r, o) = deploy(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains(&value) && !r.stderr.contains(&value));
    let o = o.unwrap();
    assert!(
        o.notes.iter().any(|n| n.contains("[local.secrets]")),
        "{:?}",
        o.notes
    );
    let s = status(&sb);
    let app = s.containers.iter().find(|c| c.name == "app").unwrap();
    let env = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{json .Config.Env}}", &app.id])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(env.contains(&format!("DB_PASSWORD={value}")), "{env}");
    for f in [
        ".cutover/local/state.json",
        &format!(".cutover/local/deployments/{}/report.json", o.deployment.id),
    ] {
        assert!(!sb.read(f).contains(&value), "the secret is in {f}");
    }
}

/// A `local deploy` SIGKILLed in the middle of a canary (no code of cutover's runs) leaves
/// production split between two revisions; the next command puts the service back as its state
/// says (both listeners on blue, green's containers removed) before it deploys.
#[test]
fn a_deploy_killed_mid_shift_is_recovered_by_the_next() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let child = sb.spawn(&[
        "local",
        "deploy",
        "out",
        "--deployment-config",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        "--minute",
        "10s",
    ]);
    child.wait_for_stderr("shift: green 10 %");
    child.signal("KILL");
    let r = child.wait(LIMIT);
    assert_ne!(r.code, 0, "{r:?}");
    // Green's task outlived it: four containers (two tasks, each with its pause container).
    let key = state_of(&sb)["key"].as_str().unwrap().to_string();
    let label = format!("cutover.local.service={key}");
    assert_eq!(labelled("container", &label).len(), 4);
    let (r, o) = deploy(&sb, &["--probe"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("recovered: both listeners back on revision 1"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("recovered: removed 2 container(s)"),
        "{r:?}"
    );
    assert_probe(&o.unwrap(), &["0.0.1", "0.0.2"]);
    assert_eq!(labelled("container", &label).len(), 2, "one task serves");
}

/// `local down` stops the service's HAProxy even when its state is gone.
#[test]
fn down_stops_haproxy_without_a_state() {
    let sb = project();
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    let state = state_of(&sb);
    let pid = state["lb"]["pid"].as_u64().unwrap() as u32;
    let key = state["key"].as_str().unwrap().to_string();
    std::fs::remove_file(sb.join(".cutover/local/state.json")).unwrap();
    let removed = down(&sb);
    assert!(removed.haproxy && !removed.had_state, "{removed:?}");
    assert_eq!(removed.containers, 2);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.is_empty(), "HAProxy {pid} still runs");
    let label = format!("cutover.local.service={key}");
    assert!(labelled("container", &label).is_empty());
    assert!(labelled("network", &label).is_empty());
}

/// Settings errors of `local deploy` name the key and exit 2, before anything starts; a secret's
/// value is never quoted back.
#[test]
fn bad_local_settings_are_refused_naming_the_key() {
    let sb = project();
    artifacts(&sb, &image_v1());
    let toml = sb.read("cutover.toml");
    sb.write(
        "cutover.toml",
        &toml.replace(
            "[local]\n",
            "[local]\ndeployment_config = \"ECSBlueGreenSometimes\"\n",
        ),
    );
    let r = sb.run(&["local", "deploy", "out"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("local.deployment_config"), "{r:?}");
    sb.write(
        "cutover.toml",
        &format!("{toml}\n[local.secrets]\nDB_PASSWORD = 918273645\n"),
    );
    let r = sb.run(&["local", "deploy", "out"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("local.secrets"), "{r:?}");
    assert!(
        !r.stderr.contains("918273645"),
        "the value is quoted back: {r:?}"
    );
    sb.write("cutover.toml", &toml);
    let r = sb.run(&["local", "deploy", "out", "--function", "no-equals-sign"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("NAME=COMMAND"), "{r:?}");
    let r = sb.run(&["local", "status"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no local service"), "{r:?}");
    assert!(!sb.exists(".cutover"));
}

/// Every failed request is tied to the lifecycle event and production weight at its start: here
/// every request fails (the probe's path answers after 3 s, its timeout is 2 s), so failures fall
/// before and after the shift. The deployment itself succeeds; the check fails (exit 1).
#[test]
fn failed_requests_are_tied_to_their_event_and_weight() {
    let sb = project();
    let _down = Down(&sb);
    artifacts(&sb, &image_v1());
    assert_eq!(deploy(&sb, &[]).0.code, 0);
    artifacts(&sb, &image_v2());
    let (r, o) = deploy(
        &sb,
        &[
            "--probe",
            "--probe-path",
            "/slow?ms=3000",
            "--probe-rate",
            "20",
            "--termination-wait",
            "1s",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let o = o.unwrap();
    assert_eq!(o.deployment.status, DeploymentStatus::Succeeded);
    let p = o.probe.as_ref().unwrap();
    assert!(p.summary.failed > 0 && p.summary.ok == 0, "{:?}", p.summary);
    let counted: u64 = p.failures.iter().map(|f| f.count).sum();
    assert_eq!(counted, p.summary.failed);
    let at = |pct: u8| p.failures.iter().any(|f| f.green_percent == pct);
    assert!(at(0) && at(100), "{:?}", p.failures);
    assert!(
        p.failures.iter().any(|f| f.event == Some(Event::Install))
            && p.failures
                .iter()
                .any(|f| f.event == Some(Event::TerminateBlue)),
        "{:?}",
        p.failures
    );
    assert!(r.stdout.contains("\"failures\""));
}
