//! `cutover verify` against moto: passing on a correct blue/green setup, and one test per check
//! that breaks exactly that piece and expects a finding naming it, with a hint, while the checks
//! before it still pass. Needs the services scripts/test starts; fails (never skips) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::aws::{verify, with_aws, Break, Finding, Report, World};
use crate::support::Sandbox;

/// The one error finding of `check`, with the report's other checks as expected.
fn only_error<'r>(report: &'r Report, check: &str) -> &'r Finding {
    let errors: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == "error")
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error, from {check}: {report:#?}"
    );
    assert_eq!(errors[0].check, check, "{report:#?}");
    assert_eq!(report.status(check), "failed", "{report:#?}");
    assert!(!report.ok);
    assert!(!errors[0].hint.is_empty());
    errors[0]
}

/// The error finding of `check` (there may be others).
fn error_of<'r>(report: &'r Report, check: &str) -> &'r Finding {
    assert_eq!(report.status(check), "failed", "{report:#?}");
    report
        .findings
        .iter()
        .find(|f| f.check == check && f.severity == "error")
        .unwrap_or_else(|| panic!("no error from {check}: {report:#?}"))
}

fn broken(brk: Break) -> (World, Sandbox) {
    let w = World::build(&Sandbox::empty(), brk);
    let sb = w.sandbox();
    (w, sb)
}

#[test]
fn passes_on_a_correct_setup() {
    let (w, sb) = broken(Break::Nothing);
    let image = format!("{}:v1", w.repository_uri);
    let (run, report) = verify(&sb, &["--image", &image]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(report.ok && report.findings.is_empty(), "{report:#?}");
    for c in &report.checks {
        assert_eq!(c.status, "ok", "{report:#?}");
    }
    assert_eq!(report.checks.len(), 11);
    assert_eq!(report.region, "us-east-1");
    // The text form ends with the verdict.
    let text = sb.run(&["verify", "--image", &image]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout
            .ends_with("verify: ok in region us-east-1 (0 warnings)\n"),
        "{text:?}"
    );
}

#[test]
fn a_missing_cluster_is_named_and_its_dependents_skipped() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &format!("cluster = \"{}\"", w.cluster),
        "cluster = \"no-such-cluster\"",
    );
    let (run, report) = verify(&sb, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let f = error_of(&report, "cluster");
    assert_eq!(f.resource, "no-such-cluster");
    assert!(
        f.message.contains("does not exist in region `us-east-1`"),
        "{f:?}"
    );
    assert!(f.hint.contains("[service] cluster"), "{f:?}");
    assert_eq!(report.status("service"), "skipped");
    assert_eq!(report.status("deployment-controller"), "skipped");
    assert_eq!(report.status("load-balancer"), "skipped");
    // The deployment group deploys the real cluster's service, which it says too.
    let g = error_of(&report, "deployment-group");
    assert!(
        g.message.contains(&format!(
            "deploys `{}/{}`, not `no-such-cluster/{}`",
            w.cluster, w.service, w.service
        )),
        "{g:?}"
    );
    assert_eq!(report.findings.len(), 2, "{report:#?}");
}

#[test]
fn a_missing_service_is_named() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &format!("service = \"{}\"", w.service),
        "service = \"gone\"",
    );
    let (run, report) = verify(&sb, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let f = error_of(&report, "service");
    assert_eq!(f.resource, format!("{}/gone", w.cluster));
    assert!(f.hint.contains("aws ecs list-services"), "{f:?}");
    assert_eq!(report.status("deployment-controller"), "skipped");
    let g = error_of(&report, "deployment-group");
    assert!(
        g.message.contains(&format!("not `{}/gone`", w.cluster)),
        "{g:?}"
    );
    assert_eq!(report.findings.len(), 2, "{report:#?}");
}

#[test]
fn the_ecs_deployment_controller_is_refused() {
    let (_, sb) = broken(Break::EcsController);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "deployment-controller");
    assert!(f.message.contains("`ECS` deployment controller"), "{f:?}");
    assert!(f.hint.contains("CODE_DEPLOY"), "{f:?}");
}

#[test]
fn a_missing_application_is_named() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &format!("application = \"{}\"", w.application),
        "application = \"no-app\"",
    );
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "application");
    assert!(
        f.hint.contains(
            "aws deploy create-application --application-name no-app --compute-platform ECS"
        ),
        "{f:?}"
    );
    assert_eq!(report.status("deployment-group"), "skipped");
    assert_eq!(report.status("target-groups"), "skipped");
    assert_eq!(report.status("listeners"), "skipped");
}

#[test]
fn an_application_for_servers_is_refused() {
    let (_, sb) = broken(Break::ServerApplication);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "application");
    assert!(
        f.message.contains("`Server` compute platform, not ECS"),
        "{f:?}"
    );
}

#[test]
fn a_missing_deployment_group_is_named() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &format!("deployment_group = \"{}\"", w.group),
        "deployment_group = \"no-dg\"",
    );
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "deployment-group");
    assert_eq!(f.resource, format!("{}/no-dg", w.application));
    assert!(f.hint.contains("[codedeploy] deployment_group"), "{f:?}");
}

#[test]
fn a_deployment_group_for_another_service_is_refused() {
    let (w, sb) = broken(Break::GroupForOtherService);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "deployment-group");
    assert!(
        f.message
            .contains(&format!("not `{}/{}`", w.cluster, w.service)),
        "{f:?}"
    );
    assert!(f.hint.contains("--ecs-services"), "{f:?}");
}

#[test]
fn an_in_place_deployment_group_is_refused() {
    let (_, sb) = broken(Break::InPlaceGroup);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "deployment-group");
    assert!(
        f.message.contains("BLUE_GREEN WITH_TRAFFIC_CONTROL"),
        "{f:?}"
    );
}

#[test]
fn a_missing_target_group_is_named() {
    let (_, sb) = broken(Break::MissingTargetGroup);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "target-groups");
    assert!(f.resource.ends_with("-nope"), "{f:?}");
    assert!(
        f.message
            .contains("does not exist in Elastic Load Balancing"),
        "{f:?}"
    );
}

#[test]
fn a_production_listener_outside_the_pair_is_refused() {
    let (w, sb) = broken(Break::ProdListenerElsewhere);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "listeners");
    assert_eq!(f.resource, w.prod_listener);
    assert!(
        f.message.contains("production listener forwards to `"),
        "{f:?}"
    );
    assert!(
        f.message
            .contains(&format!("`{}` and `{}`", w.blue, w.green)),
        "{f:?}"
    );
}

#[test]
fn a_missing_listener_is_named() {
    let (_, sb) = broken(Break::MissingListener);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "listeners");
    assert!(
        f.message
            .contains("production listener of the deployment group does not exist"),
        "{f:?}"
    );
}

#[test]
fn a_test_listener_on_another_load_balancer_is_refused() {
    let (w, sb) = broken(Break::TestListenerOnOtherLoadBalancer);
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "listeners");
    assert_eq!(f.resource, w.test_listener);
    assert!(
        f.message.contains("test listener is on load balancer"),
        "{f:?}"
    );
}

#[test]
fn container_name_and_port_must_match_the_service() {
    let (_, sb) = broken(Break::Nothing);
    sb.replace("cutover.toml", "port = 8080", "port = 9090");
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "load-balancer");
    assert!(
        f.message
            .contains("container `app` port 8080, the AppSpec would name `app` port 9090"),
        "{f:?}"
    );
}

#[test]
fn a_missing_hook_function_is_named() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &format!("after_allow_test_traffic = \"{}\"", w.hook),
        "after_allow_test_traffic = \"no-such-fn\"",
    );
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "hooks");
    assert_eq!(f.resource, "no-such-fn");
    assert!(f.message.contains("AfterAllowTestTraffic"), "{f:?}");
    assert!(f.hint.contains("[appspec.hooks]"), "{f:?}");
}

#[test]
fn a_missing_repository_is_named() {
    let (w, sb) = broken(Break::Nothing);
    sb.replace(
        "cutover.toml",
        &w.repository_uri,
        &w.repository_uri.replace("-repo", "-gone"),
    );
    let (_, report) = verify(&sb, &[]);
    let f = only_error(&report, "repository");
    assert!(f.hint.contains("aws ecr create-repository"), "{f:?}");
}

#[test]
fn an_image_tag_or_digest_missing_from_the_repository_is_named() {
    let (w, sb) = broken(Break::Nothing);
    let (_, report) = verify(&sb, &["--image", &format!("{}:v2", w.repository_uri)]);
    let f = only_error(&report, "image");
    assert!(
        f.message.contains("tag `v2` is not in the repository"),
        "{f:?}"
    );
    let digest = format!("sha256:{}", "0".repeat(64));
    let (_, report) = verify(&sb, &["--digest", &digest]);
    let f = only_error(&report, "image");
    assert!(f.message.contains(&format!("digest `{digest}`")), "{f:?}");
}

#[test]
fn the_wrong_region_names_the_region() {
    let (w, sb) = broken(Break::Nothing);
    let sb = sb.env("AWS_REGION", "eu-west-1");
    let (run, report) = verify(&sb, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(report.region, "eu-west-1");
    let f = report
        .findings
        .iter()
        .find(|f| f.check == "cluster")
        .unwrap();
    assert_eq!(f.resource, w.cluster);
    assert!(f.message.contains("region `eu-west-1`"), "{f:?}");
}

#[test]
fn no_credentials_is_one_line_and_a_hint() {
    let (_, sb) = broken(Break::Nothing);
    let sb = sb
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "");
    let run = sb.run(&["verify"]);
    assert_eq!(run.code, 2, "{run:?}");
    // The SDK's own words in brackets vary with its version.
    crate::assert_run_snapshot!(
        "no_credentials",
        sb,
        run,
        (r"credentials \([^)]*\)", "credentials ([SDK DETAIL])")
    );
}

#[test]
fn no_region_is_a_config_error() {
    let (_, sb) = broken(Break::Nothing);
    let sb = sb.env("AWS_REGION", "");
    let run = sb.run(&["verify"]);
    assert_eq!(run.code, 2, "{run:?}");
    crate::assert_run_snapshot!("no_region", sb, run);
}

#[test]
fn an_unreachable_endpoint_is_one_line_and_a_hint() {
    let (_, sb) = broken(Break::Nothing);
    let sb = sb
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1");
    let run = sb.run(&["verify"]);
    assert_eq!(run.code, 3, "{run:?}");
    // The SDK's own words in brackets vary with its version.
    crate::assert_run_snapshot!(
        "unreachable_endpoint",
        sb,
        run,
        (
            r"could not be sent \(.*\)",
            "could not be sent ([SDK DETAIL])"
        )
    );
}

#[test]
fn missing_settings_are_listed() {
    let sb = with_aws(Sandbox::empty());
    let run = sb.run(&["verify", "--cluster", "c"]);
    assert_eq!(run.code, 2, "{run:?}");
    crate::assert_run_snapshot!("missing_settings", sb, run);
}
