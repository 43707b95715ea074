//! `cutover verify --mode ecs-native` against replayed answers (moto holds no strategy, advanced
//! configuration or lifecycle hooks): a correct native service passes with its timing noted; a
//! linear configuration that outlasts the pipeline's ECS action, a test rule that forwards to one
//! target group, an infrastructure role ECS may not assume and that lacks the actions, and a hook
//! without a role are each named. The role reading itself also runs against moto's IAM, on roles
//! the AWS CLI made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cutover::live::verify::{Status, Target};
use cutover::live::verify_native::{self, missing_actions, read_role, trusts};

use crate::support::aws::{aws_json, sdk, with_aws, ACCOUNT, REGION};
use crate::support::replay::{ok, Replay};
use crate::support::{unique, Sandbox};

fn target() -> Target {
    Target {
        cluster: "cutover-demo".into(),
        service: "sample-app".into(),
        application: String::new(),
        deployment_group: String::new(),
        lb_container: None,
        hooks: Vec::new(),
        repository: None,
        image: None,
    }
}

#[tokio::test]
async fn a_correct_native_service_passes_with_its_time_noted() {
    let replay = Replay::new([
        ok("DescribeClusters", "ecs-describe-clusters.json"),
        ok(
            "DescribeServices",
            "ecs-describe-services-native-verify-ok.json",
        ),
        ok("DescribeRules", "elb-describe-rules-production.xml"),
        ok("DescribeRules", "elb-describe-rules-test.xml"),
        ok("GetRole", "iam-get-role-infrastructure.xml"),
        ok(
            "ListAttachedRolePolicies",
            "iam-list-attached-role-policies-none.xml",
        ),
        ok(
            "ListRolePolicies",
            "iam-list-role-policies-infrastructure.xml",
        ),
        ok("GetRolePolicy", "iam-get-role-policy-infrastructure.xml"),
        ok("GetRole", "iam-get-role-hook.xml"),
        ok(
            "ListAttachedRolePolicies",
            "iam-list-attached-role-policies-none.xml",
        ),
        ok("ListRolePolicies", "iam-list-role-policies-hook.xml"),
        ok("GetRolePolicy", "iam-get-role-policy-hook.xml"),
        ok(
            "GetFunctionConfiguration",
            "lambda-get-function-configuration.json",
        ),
    ]);
    let r = verify_native::verify(&replay.aws(), &target())
        .await
        .unwrap();
    replay.assert_called_in_order();
    assert!(r.ok, "{:#?}", r.findings);
    let status = |check: &str| r.checks.iter().find(|c| c.check == check).map(|c| c.status);
    for check in [
        "strategy",
        "advanced-configuration",
        "listener-rules",
        "infrastructure-role",
        "native-hooks",
        "timeout",
    ] {
        assert_eq!(status(check), Some(Status::Ok), "{check}: {:#?}", r.checks);
    }
    let timing = r.checks.iter().find(|c| c.check == "timeout").unwrap();
    assert_eq!(
        timing.note.as_deref(),
        Some("linear: 4 steps of 25%, 1 min between steps = 3 min; bake time 5 min; total 8 min; the hooks may add up to 10 min (their timeouts)")
    );
}

#[tokio::test]
async fn a_long_deployment_a_one_sided_rule_a_wrong_role_and_a_roleless_hook_are_named() {
    let replay = Replay::new([
        ok("DescribeClusters", "ecs-describe-clusters.json"),
        ok(
            "DescribeServices",
            "ecs-describe-services-native-verify-bad.json",
        ),
        ok("DescribeRules", "elb-describe-rules-production.xml"),
        ok("DescribeRules", "elb-describe-rules-test-one-group.xml"),
        ok("GetRole", "iam-get-role-infrastructure-wrong-trust.xml"),
        ok(
            "ListAttachedRolePolicies",
            "iam-list-attached-role-policies-none.xml",
        ),
        ok("ListRolePolicies", "iam-list-role-policies-none.xml"),
        ok(
            "GetFunctionConfiguration",
            "lambda-get-function-configuration.json",
        ),
    ]);
    let r = verify_native::verify(&replay.aws(), &target())
        .await
        .unwrap();
    replay.assert_called_in_order();
    assert!(!r.ok);
    let by = |check: &str| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.message.clone())
            .collect()
    };
    let timeout = by("timeout");
    assert_eq!(timeout.len(), 1, "{:#?}", r.findings);
    assert!(
        timeout[0].starts_with("a deployment takes at least 69 min (linear: 10 steps of 10%, 6 min between steps = 54 min; bake time 15 min; total 69 min; the hooks may add up to 1440 min (their timeouts)), and tasks must still start and drain: the pipeline's ECS action fails after 60 min"),
        "{}",
        timeout[0]
    );
    let rules = by("listener-rules");
    assert_eq!(rules.len(), 1, "{:#?}", r.findings);
    assert!(
        rules[0].contains("test listener rule does not forward to cutover-demo-green"),
        "{}",
        rules[0]
    );
    let role = by("infrastructure-role");
    assert_eq!(role.len(), 2, "{role:#?}");
    assert!(
        role[0].contains("ecs.amazonaws.com may not assume"),
        "{}",
        role[0]
    );
    assert!(
        role[1].contains("may not elasticloadbalancing:DescribeListeners"),
        "{}",
        role[1]
    );
    assert!(
        by("native-hooks")[0].contains("names no roleArn"),
        "{:#?}",
        r.findings
    );
    assert!(by("strategy").is_empty() && by("advanced-configuration").is_empty());
}

/// The role reading against moto's IAM: trust and inline policies as the AWS CLI created them.
#[test]
fn roles_made_in_iam_are_read_for_their_trust_and_actions() {
    let sb = with_aws(Sandbox::empty());
    let name = unique("infra");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    aws_json(
        &sb,
        &[
            "iam",
            "create-role",
            "--role-name",
            &name,
            "--assume-role-policy-document",
            trust,
        ],
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticloadbalancing:Describe*","elasticloadbalancing:Modify*"],"Resource":"*"}]}"#;
    aws_json(
        &sb,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            &name,
            "--policy-name",
            "lb",
            "--policy-document",
            policy,
        ],
    );
    let aws = cutover::live::Aws {
        sdk: sdk(),
        region: REGION.into(),
    };
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let role = crate::support::aws::block_on(read_role(&aws, &arn))
        .unwrap()
        .expect("the role exists");
    assert!(trusts(&role.trust, "ecs.amazonaws.com"));
    let needed = [
        "elasticloadbalancing:ModifyRule",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:RegisterTargets",
    ];
    assert_eq!(
        missing_actions(&role, &needed, None),
        ["elasticloadbalancing:RegisterTargets"]
    );
    let gone = format!("arn:aws:iam::{ACCOUNT}:role/{}", unique("gone"));
    assert!(crate::support::aws::block_on(read_role(&aws, &gone))
        .unwrap()
        .is_none());
}
