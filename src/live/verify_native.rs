//! `cutover verify --mode ecs-native`: the pre-flight of an ECS-native blue/green, linear or
//! canary service, with the checks the native path needs instead of CodeDeploy's.
//!
//! | check | what it asks AWS | fails when |
//! |---|---|---|
//! | `cluster`, `service` | as for CodeDeploy | |
//! | `strategy` | (the service) | the controller is not ECS, or the strategy is not BLUE_GREEN, LINEAR or CANARY |
//! | `advanced-configuration` | (the service) | a load balancer has no alternate target group, production listener rule or role (no test listener rule warns) |
//! | `listener-rules` | elasticloadbalancing:DescribeRules | a rule is missing or does not forward to both target groups |
//! | `native-hooks` | lambda:GetFunctionConfiguration | a hook's function is missing, or it has no role |
//! | `timeout` | (the service) | bake time + the shift + the hooks' timeouts outlast the pipeline's ECS action (60 minutes) |
//! | `repository`, `image` | as for CodeDeploy | |
//!
//! The infrastructure role's trust and permissions are not read here (that needs IAM's API, which
//! cutover does not link): `advanced-configuration` only checks that the role is named.

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
        let pair: BTreeSet<String> = [tg.clone(), alt.clone()].into_iter().collect();
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
        if h.role_arn().is_none_or_empty() {
            v.error(HOOKS, &target, "the hook names no roleArn: ECS cannot call it", "name a role that ecs.amazonaws.com may assume, allowed lambda:InvokeFunction on the function");
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
