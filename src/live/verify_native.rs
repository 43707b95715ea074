//! `cutover verify --mode ecs-native`: the pre-flight of an ECS-native blue/green, linear or
//! canary service, with the checks the native path needs instead of CodeDeploy's.
//!
//! | check | what it asks AWS | fails when |
//! |---|---|---|
//! | `cluster`, `service` | as for CodeDeploy | |
//! | `strategy` | (the service) | the controller is not ECS, or the strategy is not BLUE_GREEN, LINEAR or CANARY |
//! | `advanced-configuration` | (the service) | a load balancer has no alternate target group, production listener rule or role (no test listener rule warns) |
//! | `listener-rules` | elasticloadbalancing:DescribeRules | a rule is missing or does not forward to both target groups |
//! | `infrastructure-role` | iam:GetRole, iam:ListAttachedRolePolicies, iam:ListRolePolicies, iam:GetRolePolicy | a load balancer's role is missing, ecs.amazonaws.com may not assume it, or its policies lack an action of AmazonECSInfrastructureRolePolicyForLoadBalancers |
//! | `native-hooks` | lambda:GetFunctionConfiguration, and the IAM reads above | a hook's function is missing, it has no role, or the role is not for ECS or may not invoke Lambda |
//! | `timeout` | (the service) | bake time + the shift + the hooks' timeouts outlast the pipeline's ECS action (60 minutes) |
//! | `repository`, `image` | as for CodeDeploy | |
//!
//! The roles' permissions are read by action (an `Allow` whose action, wildcards included, covers
//! each one needed), not by resource: a policy scoped to other listeners passes here.

use std::collections::BTreeSet;

use aws_sdk_ecs::types::{DeploymentConfiguration, Service};
use serde::Serialize;

use super::verify::{
    check_cluster, check_image, check_repository, check_service, Report, Target, Verifier,
};
use super::{Aws, LiveError};
use crate::aws::AwsError;

const STRATEGY: &str = "strategy";
const ADVANCED: &str = "advanced-configuration";
const RULES: &str = "listener-rules";
const HOOKS: &str = "native-hooks";
const ROLE: &str = "infrastructure-role";

/// What ECS calls with the infrastructure role (the managed policy's actions).
const INFRASTRUCTURE_ACTIONS: [&str; 8] = [
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets",
];
const INFRASTRUCTURE_MANAGED: &str = "AmazonECSInfrastructureRolePolicyForLoadBalancers";

/// A role as IAM holds it: who may assume it, its managed policies' names, its inline policies.
#[derive(Debug, Clone, Default)]
pub struct RoleView {
    pub trust: serde_json::Value,
    pub attached: Vec<String>,
    pub inline: Vec<serde_json::Value>,
}

/// Reads a role's trust and policies; `None` when IAM has no such role.
pub async fn read_role(aws: &Aws, arn: &str) -> Result<Option<RoleView>, AwsError> {
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
    let role = match iam.get_role().role_name(&name).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(AwsError::new("iam:GetRole", &e, false)),
    };
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .map(|d| serde_json::from_str(&percent_decode(d)).unwrap_or_default())
        .unwrap_or_default();
    let attached = iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| AwsError::new("iam:ListAttachedRolePolicies", &e, false))?
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_string))
        .collect();
    let names = iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| AwsError::new("iam:ListRolePolicies", &e, false))?
        .policy_names()
        .to_vec();
    let mut inline = Vec::new();
    for policy in names {
        let got = iam
            .get_role_policy()
            .role_name(&name)
            .policy_name(&policy)
            .send()
            .await
            .map_err(|e| AwsError::new("iam:GetRolePolicy", &e, false))?;
        inline
            .push(serde_json::from_str(&percent_decode(got.policy_document())).unwrap_or_default());
    }
    Ok(Some(RoleView {
        trust,
        attached,
        inline,
    }))
}

/// IAM hands policy documents back URL-encoded (pure).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Whether the trust policy lets `service` assume the role (pure).
pub fn trusts(trust: &serde_json::Value, service: &str) -> bool {
    list(&trust["Statement"]).iter().any(|st| {
        st["Effect"] == "Allow"
            && list(&st["Action"])
                .iter()
                .any(|a| a.as_str().is_some_and(|a| glob(a, "sts:AssumeRole")))
            && list(&st["Principal"]["Service"])
                .iter()
                .any(|p| p.as_str() == Some(service))
    })
}

/// An IAM action pattern (`*` and `?` wildcards, case-insensitive) against an action (pure).
fn glob(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// The actions of `needed` no Allow of the role's inline policies covers, unless the managed
/// policy `managed` is attached (pure).
pub fn missing_actions<'a>(
    role: &RoleView,
    needed: &[&'a str],
    managed: Option<&str>,
) -> Vec<&'a str> {
    if managed.is_some_and(|m| role.attached.iter().any(|a| a == m)) {
        return Vec::new();
    }
    let allowed: Vec<&str> = role
        .inline
        .iter()
        .flat_map(|doc| list(&doc["Statement"]))
        .filter(|st| st["Effect"] == "Allow")
        .flat_map(|st| list(&st["Action"]))
        .filter_map(|a| a.as_str())
        .collect();
    needed
        .iter()
        .copied()
        .filter(|n| !allowed.iter().any(|a| glob(a, n)))
        .collect()
}
const TIMEOUT: &str = "timeout";

/// The pipeline's standard ECS action gives up after at most this many minutes.
pub const ECS_ACTION_LIMIT_MINUTES: u32 = 60;
/// A lifecycle hook's timeout when it sets none (the ECS API reference's default).
const DEFAULT_HOOK_TIMEOUT_MINUTES: u32 = 1440;

/// How long a native deployment keeps the pipeline's ECS action waiting, in whole minutes, by part
/// (pure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duration {
    pub strategy: String,
    /// Waiting between traffic steps: linear `(steps - 1) × stepBakeTimeInMinutes`, canary
    /// `canaryBakeTimeInMinutes`, blue/green 0.
    pub shift_minutes: u32,
    /// `bakeTimeInMinutes`: the old revision kept after production moved.
    pub bake_minutes: u32,
    /// The most the lifecycle hooks may add: each hook's timeout (24 h when it sets none, ECS's
    /// default) once per stage it runs at. An upper bound, not part of the minimum.
    pub hook_minutes: u32,
    /// The least a deployment takes beyond starting and draining tasks: shift + bake.
    pub total_minutes: u32,
    /// How the numbers were made, for the message.
    pub explanation: String,
}

/// The time a deployment of this configuration takes at least, beyond starting tasks (pure).
pub fn duration(c: &DeploymentConfiguration) -> Duration {
    let strategy = c
        .strategy()
        .map_or("ROLLING".to_string(), |s| s.as_str().to_string());
    let bake = u32::try_from(c.bake_time_in_minutes().unwrap_or(0)).unwrap_or(0);
    let (shift, how) = match strategy.as_str() {
        "LINEAR" => {
            let l = c.linear_configuration();
            let pct = l.and_then(|l| l.step_percent()).unwrap_or(10.0).max(1.0);
            let step = u32::try_from(l.and_then(|l| l.step_bake_time_in_minutes()).unwrap_or(6))
                .unwrap_or(0);
            let steps = (100.0 / pct).ceil() as u32;
            (
                steps.saturating_sub(1) * step,
                format!(
                    "linear: {steps} steps of {pct}%, {step} min between steps = {} min",
                    steps.saturating_sub(1) * step
                ),
            )
        }
        "CANARY" => {
            let k = c.canary_configuration();
            let wait = u32::try_from(
                k.and_then(|k| k.canary_bake_time_in_minutes())
                    .unwrap_or(10),
            )
            .unwrap_or(0);
            let pct = k.and_then(|k| k.canary_percent()).unwrap_or(5.0);
            (
                wait,
                format!("canary: {pct}% for {wait} min before the rest = {wait} min"),
            )
        }
        _ => (0, "all at once = 0 min".to_string()),
    };
    let hooks: u32 = c
        .lifecycle_hooks()
        .iter()
        .map(|h| {
            let timeout = h
                .timeout_configuration()
                .and_then(|t| t.timeout_in_minutes())
                .map_or(DEFAULT_HOOK_TIMEOUT_MINUTES, |m| {
                    u32::try_from(m).unwrap_or(0)
                });
            let stages = u32::try_from(h.lifecycle_stages().len().max(1)).unwrap_or(1);
            timeout.saturating_mul(stages)
        })
        .sum();
    let total = shift + bake;
    let mut explanation = format!("{how}; bake time {bake} min; total {total} min");
    if hooks > 0 {
        explanation.push_str(&format!(
            "; the hooks may add up to {hooks} min (their timeouts)"
        ));
    }
    Duration {
        strategy,
        shift_minutes: shift,
        bake_minutes: bake,
        hook_minutes: hooks,
        total_minutes: total,
        explanation,
    }
}

/// Runs the native checks; `Err` only for failures that end the run (credentials, network).
pub async fn verify(aws: &Aws, t: &Target) -> Result<Report, LiveError> {
    let mut v = Verifier::new(aws, t);
    check_cluster(&mut v).await?;
    check_service(&mut v).await?;
    let svc = v.service.clone();
    check_strategy(&mut v, svc.as_ref());
    let rules = check_advanced(&mut v, svc.as_ref());
    check_rules(&mut v, rules).await?;
    check_roles(&mut v, svc.as_ref()).await?;
    check_hooks(&mut v, svc.as_ref()).await?;
    check_timeout(&mut v, svc.as_ref());
    check_repository(&mut v).await?;
    check_image(&mut v).await?;
    Ok(v.report())
}

fn resource(v: &Verifier<'_>) -> String {
    format!("{}/{}", v.t.cluster, v.t.service)
}

fn check_strategy(v: &mut Verifier<'_>, svc: Option<&Service>) {
    let Some(svc) = svc else {
        v.skip(STRATEGY, "no service to look at");
        return;
    };
    let controller = svc
        .deployment_controller()
        .map_or("ECS", |d| d.r#type().as_str())
        .to_string();
    let strategy = svc
        .deployment_configuration()
        .and_then(|c| c.strategy())
        .map_or("ROLLING", |s| s.as_str())
        .to_string();
    let r = resource(v);
    if controller != "ECS" {
        v.error(STRATEGY, &r,
            format!("the service uses the `{controller}` deployment controller; ECS-native blue/green needs the ECS controller"),
            "deploy it with `cutover deploy --mode codedeploy`, or create the service with deploymentController {type: ECS} (the controller cannot change)");
    } else if !matches!(strategy.as_str(), "BLUE_GREEN" | "LINEAR" | "CANARY") {
        v.error(STRATEGY, &r,
            format!("the service's deployment strategy is {strategy}: a deployment replaces tasks in place, with no test traffic and no traffic shift"),
            "set deploymentConfiguration.strategy to BLUE_GREEN, LINEAR or CANARY (UpdateService, or the template's NativeStrategy)");
    }
    v.done(STRATEGY);
}

/// The rules to check: `(role, rule ARN, the two target groups)`.
type Rules = Vec<(&'static str, String, BTreeSet<String>)>;

/// The infrastructure roles the load balancers name.
fn infrastructure_roles(svc: Option<&Service>) -> Vec<String> {
    let mut roles: Vec<String> = svc
        .map(|s| s.load_balancers())
        .unwrap_or_default()
        .iter()
        .filter_map(|lb| lb.advanced_configuration())
        .filter_map(|a| a.role_arn())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    roles.dedup();
    roles
}

async fn check_roles(v: &mut Verifier<'_>, svc: Option<&Service>) -> Result<(), LiveError> {
    let roles = infrastructure_roles(svc);
    if roles.is_empty() {
        v.skip(ROLE, "no infrastructure role is named");
        return Ok(());
    }
    for arn in roles {
        match read_role(v.aws, &arn).await {
            Err(e) => v.call_failed(ROLE, &arn, e)?,
            Ok(None) => v.error(ROLE, &arn, "the infrastructure role does not exist: ECS cannot change the listener rules", "create it (the template's LoadBalancerInfrastructureRole) or fix advancedConfiguration.roleArn"),
            Ok(Some(role)) => {
                if !trusts(&role.trust, "ecs.amazonaws.com") {
                    v.error(ROLE, &arn, "ecs.amazonaws.com may not assume the infrastructure role: the deployment fails when ECS moves traffic",
                        "let ecs.amazonaws.com assume it: a trust statement Allow sts:AssumeRole for the service principal ecs.amazonaws.com");
                }
                let missing = missing_actions(&role, &INFRASTRUCTURE_ACTIONS, Some(INFRASTRUCTURE_MANAGED));
                if !missing.is_empty() {
                    v.error(ROLE, &arn,
                        format!("the infrastructure role may not {}: ECS calls them to shift traffic", missing.join(", ")),
                        format!("attach {INFRASTRUCTURE_MANAGED}, or allow those actions on the listeners, rules and target groups"));
                }
            }
        }
    }
    v.done(ROLE);
    Ok(())
}

fn check_advanced(v: &mut Verifier<'_>, svc: Option<&Service>) -> Rules {
    let mut rules = Vec::new();
    let Some(svc) = svc else {
        v.skip(ADVANCED, "no service to look at");
        return rules;
    };
    let r = resource(v);
    let lbs = svc.load_balancers();
    if lbs.is_empty() {
        v.error(ADVANCED, &r, "the service has no load balancer: there is no traffic to shift",
            "create the service with loadBalancers (target group, container name and port) and their advancedConfiguration");
    }
    for lb in lbs {
        let tg = lb.target_group_arn().unwrap_or_default().to_string();
        let Some(a) = lb.advanced_configuration() else {
            v.error(ADVANCED, &r,
                format!("the load balancer entry for `{}` has no advancedConfiguration: ECS has no second target group and no rules to shift", group_name(&tg)),
                "add advancedConfiguration: alternateTargetGroupArn, productionListenerRule, testListenerRule and roleArn (the template's ECS_NATIVE mode sets them)");
            continue;
        };
        let alt = a
            .alternate_target_group_arn()
            .unwrap_or_default()
            .to_string();
        let pair: BTreeSet<String> = [tg.clone(), alt.clone()]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        if alt.is_empty() {
            v.error(
                ADVANCED,
                &r,
                "advancedConfiguration names no alternateTargetGroupArn",
                "name the second (green) target group",
            );
        }
        match a.production_listener_rule() {
            Some(rule) if !rule.is_empty() => rules.push(("production", rule.to_string(), pair.clone())),
            _ => v.error(ADVANCED, &r, "advancedConfiguration names no productionListenerRule: ECS cannot move production traffic", "name the production listener's rule ARN"),
        }
        match a.test_listener_rule() {
            Some(rule) if !rule.is_empty() => rules.push(("test", rule.to_string(), pair.clone())),
            _ => v.warn(ADVANCED, &r, "advancedConfiguration names no testListenerRule: no test traffic reaches the new revision before production does", "name the test listener's rule ARN to test green before production moves"),
        }
        if a.role_arn().is_none_or_empty() {
            v.error(ADVANCED, &r, "advancedConfiguration names no roleArn: ECS has no role to change the listener rules with",
                "name an infrastructure role that ecs.amazonaws.com may assume, with AmazonECSInfrastructureRolePolicyForLoadBalancers or its actions scoped to the rules and target groups");
        }
    }
    v.done(ADVANCED);
    rules
}

/// A target group's name from its ARN (`...:targetgroup/NAME/ID`).
fn group_name(arn: &str) -> String {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
        .to_string()
}

trait EmptyStr {
    fn is_none_or_empty(&self) -> bool;
}

impl EmptyStr for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        self.map_or(true, str::is_empty)
    }
}

async fn check_rules(v: &mut Verifier<'_>, rules: Rules) -> Result<(), LiveError> {
    if rules.is_empty() {
        v.skip(RULES, "no listener rule is named");
        return Ok(());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&v.aws.sdk);
    for (role, arn, pair) in rules {
        match elb.describe_rules().rule_arns(&arn).send().await {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_rule_not_found_exception()) =>
            {
                v.error(
                    RULES,
                    &arn,
                    format!("the {role} listener rule does not exist"),
                    "create it, or fix advancedConfiguration",
                );
            }
            Err(e) => v.call_failed(
                RULES,
                &arn,
                AwsError::new("elasticloadbalancing:DescribeRules", &e, false),
            )?,
            Ok(out) => {
                let forwarded: BTreeSet<String> = out
                    .rules()
                    .iter()
                    .flat_map(|r| r.actions())
                    .flat_map(|a| {
                        let single = a.target_group_arn().map(str::to_string);
                        let weighted = a
                            .forward_config()
                            .map(|f| f.target_groups())
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|t| t.target_group_arn().map(str::to_string))
                            .collect::<Vec<_>>();
                        single.into_iter().chain(weighted)
                    })
                    .collect();
                let missing: Vec<String> =
                    pair.difference(&forwarded).map(|t| group_name(t)).collect();
                if !missing.is_empty() {
                    v.error(RULES, &arn,
                        format!("the {role} listener rule does not forward to {}: ECS shifts traffic by the weights of one forward action over both target groups", missing.join(" and ")),
                        "make the rule's action a forward to both target groups (weights 100 and 0)");
                }
            }
        }
    }
    v.done(RULES);
    Ok(())
}

async fn check_hooks(v: &mut Verifier<'_>, svc: Option<&Service>) -> Result<(), LiveError> {
    let hooks: Vec<_> = svc
        .and_then(|s| s.deployment_configuration())
        .map(|c| c.lifecycle_hooks().to_vec())
        .unwrap_or_default();
    if hooks.is_empty() {
        v.skip(HOOKS, "the service has no lifecycle hooks");
        return Ok(());
    }
    let lambda = aws_sdk_lambda::Client::new(&v.aws.sdk);
    for h in hooks {
        // A pause hook waits for ContinueServiceDeployment: no function, no role.
        if h.target_type().map(|t| t.as_str()) == Some("PAUSE") {
            continue;
        }
        let target = h.hook_target_arn().unwrap_or_default().to_string();
        match h.role_arn().filter(|r| !r.is_empty()) {
            None => v.error(HOOKS, &target, "the hook names no roleArn: ECS cannot call it", "name a role that ecs.amazonaws.com may assume, allowed lambda:InvokeFunction on the function"),
            Some(role) => match read_role(v.aws, role).await {
                Err(e) => v.call_failed(HOOKS, role, e)?,
                Ok(None) => v.error(HOOKS, role, "the hook's role does not exist", "create it (the template's HookInvokeRole) or fix the hook's roleArn"),
                Ok(Some(view)) => {
                    if !trusts(&view.trust, "ecs.amazonaws.com") {
                        v.error(HOOKS, role, "ecs.amazonaws.com may not assume the hook's role", "let ecs.amazonaws.com assume it (trust policy)");
                    }
                    if !missing_actions(&view, &["lambda:InvokeFunction"], None).is_empty() {
                        v.error(HOOKS, role, "the hook's role may not lambda:InvokeFunction: ECS cannot call the hook", "allow lambda:InvokeFunction on the hook's function");
                    }
                }
            },
        }
        match lambda
            .get_function_configuration()
            .function_name(&target)
            .send()
            .await
        {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                v.error(HOOKS, &target, "the hook's Lambda function does not exist: the deployment fails at the hook's stage and rolls back", "create the function or fix hookTargetArn");
            }
            Err(e) => v.call_failed(
                HOOKS,
                &target,
                AwsError::new("lambda:GetFunctionConfiguration", &e, false),
            )?,
            Ok(_) => {}
        }
    }
    v.done(HOOKS);
    Ok(())
}

fn check_timeout(v: &mut Verifier<'_>, svc: Option<&Service>) {
    let Some(c) = svc.and_then(|s| s.deployment_configuration()) else {
        v.skip(TIMEOUT, "the service has no deployment configuration");
        return;
    };
    let d = duration(c);
    let r = resource(v);
    // The minimum leaves no room for starting, health-checking and draining tasks: at the limit
    // is over it.
    if d.total_minutes >= ECS_ACTION_LIMIT_MINUTES {
        v.error(TIMEOUT, &r,
            format!("a deployment takes at least {} min ({}), and tasks must still start and drain: the pipeline's ECS action fails after {ECS_ACTION_LIMIT_MINUTES} min while ECS is still shifting", d.total_minutes, d.explanation),
            "shorten the bake time or the steps (fewer, shorter), or follow the deployment with `cutover deploy watch --mode ecs-native --latest` instead of waiting in the pipeline");
    } else if d.total_minutes + d.hook_minutes >= ECS_ACTION_LIMIT_MINUTES {
        v.warn(TIMEOUT, &r,
            format!("a deployment takes at least {} min, but its hooks may hold it up to {} min more ({}): past {ECS_ACTION_LIMIT_MINUTES} min the pipeline's ECS action fails while ECS is still shifting", d.total_minutes, d.hook_minutes, d.explanation),
            "give the hooks a timeoutConfiguration that fits, or follow the deployment with `cutover deploy watch` instead of waiting in the pipeline");
    }
    v.done(TIMEOUT);
    v.note(TIMEOUT, d.explanation);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        CanaryConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookTimeoutConfiguration,
        DeploymentStrategy, LinearConfiguration,
    };

    #[test]
    fn roles_are_read_by_trust_and_action() {
        let doc = percent_decode("%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D");
        let trust: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert!(trusts(&trust, "ecs.amazonaws.com"));
        assert!(!trusts(&trust, "lambda.amazonaws.com"));
        let role = RoleView {
            trust,
            attached: Vec::new(),
            inline: vec![serde_json::json!({"Statement": [
                {"Effect": "Allow", "Action": ["elasticloadbalancing:Describe*", "elasticloadbalancing:ModifyRule"], "Resource": "*"},
                {"Effect": "Deny", "Action": "elasticloadbalancing:ModifyListener", "Resource": "*"}
            ]})],
        };
        assert_eq!(
            missing_actions(&role, &INFRASTRUCTURE_ACTIONS, Some(INFRASTRUCTURE_MANAGED)),
            [
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets"
            ]
        );
        let managed = RoleView {
            attached: vec![INFRASTRUCTURE_MANAGED.into()],
            ..RoleView::default()
        };
        assert!(missing_actions(
            &managed,
            &INFRASTRUCTURE_ACTIONS,
            Some(INFRASTRUCTURE_MANAGED)
        )
        .is_empty());
    }

    #[test]
    fn a_linear_deployment_takes_its_steps_and_bake_time() {
        let c = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Linear)
            .bake_time_in_minutes(15)
            .linear_configuration(
                LinearConfiguration::builder()
                    .step_percent(10.0)
                    .step_bake_time_in_minutes(6)
                    .build(),
            )
            .build();
        let d = duration(&c);
        assert_eq!(
            (d.shift_minutes, d.bake_minutes, d.total_minutes),
            (54, 15, 69)
        );
        assert!(
            d.explanation.contains("10 steps of 10%"),
            "{}",
            d.explanation
        );
        assert!(d.total_minutes > ECS_ACTION_LIMIT_MINUTES);
    }

    #[test]
    fn a_canary_and_hooks_add_up() {
        let c = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Canary)
            .bake_time_in_minutes(5)
            .canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(5.0)
                    .canary_bake_time_in_minutes(10)
                    .build(),
            )
            .lifecycle_hooks(
                DeploymentLifecycleHook::builder()
                    .timeout_configuration(
                        DeploymentLifecycleHookTimeoutConfiguration::builder()
                            .timeout_in_minutes(20)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let d = duration(&c);
        assert_eq!(
            (d.shift_minutes, d.hook_minutes, d.total_minutes),
            (10, 20, 15)
        );
        let bg = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .bake_time_in_minutes(60)
            .build();
        assert_eq!(
            duration(&bg).total_minutes,
            60,
            "at the limit: no room to start tasks"
        );
        let no_timeout = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .lifecycle_hooks(DeploymentLifecycleHook::builder().build())
            .build();
        assert_eq!(
            duration(&no_timeout).hook_minutes,
            1440,
            "ECS's default timeout"
        );
    }
}
