//! `cutover verify`: a read-only pre-flight of the live setup a blue/green deployment needs. One
//! function per check, each adding [`Finding`]s `{check, severity, resource, message, hint}`; a
//! check whose inputs a failed check would have given is skipped, not guessed. Everything found is
//! reported in one run. An access-denied answer is a warning (the check could not look); missing
//! or refused credentials, or an unreachable endpoint, end the run with one line and a hint.
//!
//! | check | what it asks AWS | fails when |
//! |---|---|---|
//! | `cluster` | ecs:DescribeClusters | the cluster is missing or not ACTIVE |
//! | `service` | ecs:DescribeServices | the service is missing or INACTIVE |
//! | `deployment-controller` | (the service) | the controller is not CODE_DEPLOY |
//! | `application` | codedeploy:GetApplication | missing, or not for ECS |
//! | `deployment-group` | codedeploy:GetDeploymentGroup | missing, not ECS, not blue/green with traffic control, or not for this cluster and service |
//! | `target-groups` | elasticloadbalancing:DescribeTargetGroups | no pair of two, or a target group is missing or on another load balancer |
//! | `listeners` | elasticloadbalancing:DescribeListeners | a listener is missing, forwards outside the pair, or the two are on different load balancers |
//! | `load-balancer` | (the service) | the service's ContainerName/ContainerPort or target group differ from the settings and the pair |
//! | `hooks` | lambda:GetFunctionConfiguration | a hook function is missing (a failed or inactive one warns) |
//! | `repository` | ecr:DescribeRepositories | the ECR repository is missing |
//! | `image` | ecr:DescribeImages | the given tag or digest is not in the repository |

use std::collections::BTreeSet;

use aws_sdk_codedeploy::types::DeploymentGroupInfo;
use aws_sdk_ecs::types::Service;
use serde::Serialize;

use super::{short_name, Aws, LiveError};
use crate::aws::{AwsError, Kind};
use crate::image_ref::ImageRef;
/// A finding is an error or a warning, as the validator's problems are.
pub use crate::problem::Severity;
use crate::settings::Settings;

/// One problem: which check, how bad, which resource, what would fail, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub resource: String,
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}[{}]: {}: {}\n  hint: {}",
            self.check, self.resource, self.message, self.hint
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Warning,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `cutover verify --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub region: String,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<Finding>,
}

/// What verify checks, from the settings.
#[derive(Debug, Clone)]
pub struct Target {
    pub cluster: String,
    pub service: String,
    pub application: String,
    pub deployment_group: String,
    /// The AppSpec's ContainerName and ContainerPort, when containers are configured.
    pub lb_container: Option<(String, u16)>,
    /// (event, function)
    pub hooks: Vec<(&'static str, String)>,
    pub repository: Option<String>,
    /// An image whose tag or digest must be in the repository.
    pub image: Option<ImageRef>,
}

impl Target {
    /// The target of `verify` (`native`: `--mode ecs-native`, which needs no CodeDeploy names).
    pub fn from_settings(
        s: &Settings,
        image: Option<ImageRef>,
        native: bool,
    ) -> Result<Target, LiveError> {
        let mut missing = Vec::new();
        let mut need = |v: &Option<String>, what: &str| {
            if v.as_deref().map_or(true, str::is_empty) {
                missing.push(what.to_string());
            }
            v.clone().unwrap_or_default()
        };
        let cluster = need(&s.cluster, "[service] cluster (--cluster)");
        let service = need(&s.service, "[service] service (--service)");
        let (application, deployment_group) = if native {
            (String::new(), String::new())
        } else {
            (
                need(&s.application, "[codedeploy] application (--application)"),
                need(
                    &s.deployment_group,
                    "[codedeploy] deployment_group (--deployment-group)",
                ),
            )
        };
        if !missing.is_empty() {
            return Err(LiveError::Config(format!(
                "verify needs {}\n  hint: set them in cutover.toml or pass the flags",
                missing.join(", ")
            )));
        }
        let lb_container = s.appspec.lb_container.as_ref().and_then(|name| {
            s.containers
                .iter()
                .find(|c| &c.name == name)
                .and_then(|c| c.port)
                .map(|p| (name.clone(), p))
        });
        Ok(Target {
            cluster,
            service,
            application,
            deployment_group,
            lb_container,
            hooks: s
                .appspec
                .hooks
                .iter()
                .map(|(e, f)| (e.as_str(), f.clone()))
                .collect(),
            repository: s.image.repository.clone(),
            image,
        })
    }
}

/// The target group pair and listeners the deployment group names.
#[derive(Debug, Clone, Default)]
struct Pair {
    names: Vec<String>,
    prod_listeners: Vec<String>,
    test_listeners: Vec<String>,
}

/// A target group found in ELBv2.
#[derive(Debug, Clone)]
struct FoundTargetGroup {
    name: String,
    arn: String,
    load_balancers: Vec<String>,
}

pub(super) struct Verifier<'a> {
    pub(super) aws: &'a Aws,
    pub(super) t: &'a Target,
    findings: Vec<Finding>,
    checks: Vec<CheckResult>,
    pub(super) service: Option<Service>,
    group: Option<DeploymentGroupInfo>,
    pair: Option<Pair>,
    /// Both target groups of the pair, when both exist.
    target_groups: Option<Vec<FoundTargetGroup>>,
    repository_ok: bool,
}

impl<'a> Verifier<'a> {
    pub(super) fn new(aws: &'a Aws, t: &'a Target) -> Verifier<'a> {
        Verifier {
            aws,
            t,
            findings: Vec::new(),
            checks: Vec::new(),
            service: None,
            group: None,
            pair: None,
            target_groups: None,
            repository_ok: false,
        }
    }

    /// The report of every check run.
    pub(super) fn report(self) -> Report {
        Report {
            ok: !self.findings.iter().any(|f| f.severity == Severity::Error),
            region: self.aws.region.clone(),
            checks: self.checks,
            findings: self.findings,
        }
    }

    /// Adds a note to a check already recorded.
    pub(super) fn note(&mut self, check: &'static str, note: String) {
        if let Some(c) = self.checks.iter_mut().rev().find(|c| c.check == check) {
            c.note = Some(note);
        }
    }

    fn finding(
        &mut self,
        check: &'static str,
        severity: Severity,
        resource: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.findings.push(Finding {
            check,
            severity,
            resource: resource.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }

    pub(super) fn error(
        &mut self,
        check: &'static str,
        resource: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.finding(check, Severity::Error, resource, message, hint);
    }

    pub(super) fn warn(
        &mut self,
        check: &'static str,
        resource: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.finding(check, Severity::Warning, resource, message, hint);
    }

    /// A call that failed for another reason than "not found": access denied warns, fatal
    /// failures end the run, anything else is an error of this check.
    pub(super) fn call_failed(
        &mut self,
        check: &'static str,
        resource: &str,
        err: AwsError,
    ) -> Result<(), LiveError> {
        if err.kind.is_fatal() {
            return Err(self.aws.error(err));
        }
        let hint = err.hint(Some(&self.aws.region));
        if err.kind == Kind::AccessDenied {
            self.warn(
                check,
                resource,
                format!("could not check: access denied ({})", err.operation),
                hint,
            );
        } else {
            self.error(check, resource, format!("could not check: {err}"), hint);
        }
        Ok(())
    }

    /// Records the check's status from its findings.
    pub(super) fn done(&mut self, check: &'static str) {
        let mine = self.findings.iter().filter(|f| f.check == check);
        let status = mine.fold(Status::Ok, |s, f| match (s, f.severity) {
            (_, Severity::Error) | (Status::Failed, _) => Status::Failed,
            _ => Status::Warning,
        });
        self.checks.push(CheckResult {
            check,
            status,
            note: None,
        });
    }

    pub(super) fn skip(&mut self, check: &'static str, why: impl Into<String>) {
        self.checks.push(CheckResult {
            check,
            status: Status::Skipped,
            note: Some(why.into()),
        });
    }

    fn passed(&self, check: &str) -> bool {
        self.checks
            .iter()
            .any(|c| c.check == check && c.status == Status::Ok)
    }

    fn region(&self) -> &str {
        &self.aws.region
    }
}

/// Runs every check; `Err` only for failures that end the run (credentials, network).
pub async fn verify(aws: &Aws, t: &Target) -> Result<Report, LiveError> {
    let mut v = Verifier::new(aws, t);
    check_cluster(&mut v).await?;
    check_service(&mut v).await?;
    check_deployment_controller(&mut v);
    check_application(&mut v).await?;
    check_deployment_group(&mut v).await?;
    check_target_groups(&mut v).await?;
    check_listeners(&mut v).await?;
    check_load_balancer(&mut v);
    check_hooks(&mut v).await?;
    check_repository(&mut v).await?;
    check_image(&mut v).await?;
    Ok(v.report())
}

const CLUSTER: &str = "cluster";
const SERVICE: &str = "service";
const CONTROLLER: &str = "deployment-controller";
const APPLICATION: &str = "application";
const GROUP: &str = "deployment-group";
const TARGET_GROUPS: &str = "target-groups";
const LISTENERS: &str = "listeners";
const LOAD_BALANCER: &str = "load-balancer";
const HOOKS: &str = "hooks";
const REPOSITORY: &str = "repository";
const IMAGE: &str = "image";

pub(super) async fn check_cluster(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&v.aws.sdk);
    let name = v.t.cluster.clone();
    match ecs.describe_clusters().clusters(&name).send().await {
        Err(e) => v.call_failed(
            CLUSTER,
            &name,
            AwsError::new("ecs:DescribeClusters", &e, false),
        )?,
        Ok(out) => match out.clusters().iter().find(|c| c.status().is_some()) {
            None => {
                let region = v.region().to_string();
                v.error(CLUSTER, &name, format!("the ECS cluster does not exist in region `{region}`"),
                    "fix [service] cluster in cutover.toml (or --cluster), or the region; `aws ecs list-clusters` lists the clusters");
            }
            Some(c) if c.status() != Some("ACTIVE") => {
                let status = c.status().unwrap_or_default().to_string();
                v.error(
                    CLUSTER,
                    &name,
                    format!("the ECS cluster is {status}, not ACTIVE"),
                    "use an active cluster; an INACTIVE cluster was deleted",
                );
            }
            Some(_) => {}
        },
    }
    v.done(CLUSTER);
    Ok(())
}

pub(super) async fn check_service(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    if !v.passed(CLUSTER) {
        v.skip(SERVICE, "the cluster check did not pass");
        return Ok(());
    }
    let resource = format!("{}/{}", v.t.cluster, v.t.service);
    match super::service::describe_service(v.aws, &v.t.cluster, &v.t.service).await {
        Ok(Some(s)) => v.service = Some(s),
        Ok(None) => v.error(SERVICE, &resource, "the ECS service does not exist (or is INACTIVE) in the cluster",
            format!("fix [service] service in cutover.toml (or --service); `aws ecs list-services --cluster {}` lists the services", v.t.cluster)),
        Err(LiveError::Aws { error, .. }) => v.call_failed(SERVICE, &resource, error)?,
        Err(e) => return Err(e),
    }
    v.done(SERVICE);
    Ok(())
}

fn check_deployment_controller(v: &mut Verifier<'_>) {
    let Some(svc) = &v.service else {
        v.skip(CONTROLLER, "no service to look at");
        return;
    };
    let controller = svc
        .deployment_controller()
        .map_or("ECS", |d| d.r#type().as_str())
        .to_string();
    if controller != "CODE_DEPLOY" {
        let resource = format!("{}/{}", v.t.cluster, v.t.service);
        v.error(CONTROLLER, resource,
            format!("the service uses the `{controller}` deployment controller; the CodeDeployToECS action needs CODE_DEPLOY and fails with \"the ECS service's deployment controller is not CODE_DEPLOY\""),
            "the controller is fixed when a service is created: create the service with deploymentController {type: CODE_DEPLOY} (CloudFormation: DeploymentController: {Type: CODE_DEPLOY}) and move traffic to it");
    }
    v.done(CONTROLLER);
}

async fn check_application(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&v.aws.sdk);
    let name = v.t.application.clone();
    match cd.get_application().application_name(&name).send().await {
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_application_does_not_exist_exception()) =>
        {
            let region = v.region().to_string();
            v.error(APPLICATION, &name, format!("the CodeDeploy application does not exist in region `{region}`"),
                format!("create it (`aws deploy create-application --application-name {name} --compute-platform ECS`) or fix [codedeploy] application"));
        }
        Err(e) => v.call_failed(
            APPLICATION,
            &name,
            AwsError::new("codedeploy:GetApplication", &e, false),
        )?,
        Ok(out) => {
            let platform = out
                .application()
                .and_then(|a| a.compute_platform())
                .map(|p| p.as_str().to_string());
            if platform.as_deref() != Some("ECS") {
                v.error(APPLICATION, &name,
                    format!("the CodeDeploy application is for the `{}` compute platform, not ECS; CodeDeployToECS fails on it", platform.as_deref().unwrap_or("unknown")),
                    "create an application with --compute-platform ECS (the platform of an application cannot change) and name it in [codedeploy] application");
            }
        }
    }
    v.done(APPLICATION);
    Ok(())
}

async fn check_deployment_group(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    if !v.passed(APPLICATION) {
        v.skip(GROUP, "the application check did not pass");
        return Ok(());
    }
    let cd = aws_sdk_codedeploy::Client::new(&v.aws.sdk);
    let (app, name) = (v.t.application.clone(), v.t.deployment_group.clone());
    let resource = format!("{app}/{name}");
    let out = cd
        .get_deployment_group()
        .application_name(&app)
        .deployment_group_name(&name)
        .send()
        .await;
    let group = match out {
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_deployment_group_does_not_exist_exception()) =>
        {
            v.error(GROUP, &resource, "the deployment group does not exist in the application",
                format!("create it (`aws deploy create-deployment-group --application-name {app} --deployment-group-name {name} ...` with the ECS service, target group pair and listeners) or fix [codedeploy] deployment_group"));
            None
        }
        Err(e) => {
            v.call_failed(
                GROUP,
                &resource,
                AwsError::new("codedeploy:GetDeploymentGroup", &e, false),
            )?;
            None
        }
        Ok(out) => out.deployment_group_info,
    };
    if let Some(g) = &group {
        if g.compute_platform().map(|p| p.as_str()) != Some("ECS") {
            v.error(
                GROUP,
                &resource,
                "the deployment group is not for ECS",
                "use a deployment group of an ECS application",
            );
        }
        let style = g.deployment_style();
        let (kind, option) = (
            style
                .and_then(|s| s.deployment_type())
                .map_or("IN_PLACE", |t| t.as_str()),
            style
                .and_then(|s| s.deployment_option())
                .map_or("WITHOUT_TRAFFIC_CONTROL", |o| o.as_str()),
        );
        if kind != "BLUE_GREEN" || option != "WITH_TRAFFIC_CONTROL" {
            v.error(GROUP, &resource,
                format!("the deployment style is {kind} {option}; ECS deployments need BLUE_GREEN WITH_TRAFFIC_CONTROL"),
                "update the deployment group: --deployment-style deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL");
        }
        let services: Vec<(String, String)> = g
            .ecs_services()
            .iter()
            .map(|s| {
                (
                    short_name(s.cluster_name().unwrap_or_default()).to_string(),
                    short_name(s.service_name().unwrap_or_default()).to_string(),
                )
            })
            .collect();
        let want = (
            short_name(&v.t.cluster).to_string(),
            short_name(&v.t.service).to_string(),
        );
        if !services.contains(&want) {
            let has = if services.is_empty() {
                "no ECS service".to_string()
            } else {
                services
                    .iter()
                    .map(|(c, s)| format!("`{c}/{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            v.error(GROUP, &resource,
                format!("the deployment group deploys {has}, not `{}/{}`", want.0, want.1),
                format!("point the deployment group at the service (`aws deploy update-deployment-group --application-name {app} --current-deployment-group-name {name} --ecs-services clusterName={},serviceName={}`), or fix [service] in cutover.toml", want.0, want.1));
        }
    }
    v.group = group;
    v.done(GROUP);
    Ok(())
}

/// The target groups (ARNs) a listener's default actions forward to.
fn forward_targets(l: &aws_sdk_elasticloadbalancingv2::types::Listener) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in l.default_actions() {
        if let Some(t) = a.target_group_arn() {
            out.insert(t.to_string());
        }
        for t in a
            .forward_config()
            .map(|f| f.target_groups())
            .unwrap_or_default()
        {
            if let Some(arn) = t.target_group_arn() {
                out.insert(arn.to_string());
            }
        }
    }
    out
}

async fn check_target_groups(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let Some(g) = &v.group else {
        v.skip(TARGET_GROUPS, "no deployment group to look at");
        return Ok(());
    };
    let resource = format!("{}/{}", v.t.application, v.t.deployment_group);
    let pairs = g
        .load_balancer_info()
        .map(|l| l.target_group_pair_info_list())
        .unwrap_or_default();
    let Some(p) = pairs.first() else {
        v.error(TARGET_GROUPS, &resource, "the deployment group has no target group pair; blue/green traffic shifting has nothing to swap",
            "give the deployment group a load balancer with a target group pair and a production listener (loadBalancerInfo.targetGroupPairInfoList)");
        v.done(TARGET_GROUPS);
        return Ok(());
    };
    let pair = Pair {
        names: p
            .target_groups()
            .iter()
            .filter_map(|t| t.name())
            .map(str::to_string)
            .collect(),
        prod_listeners: p
            .prod_traffic_route()
            .map(|r| r.listener_arns().to_vec())
            .unwrap_or_default(),
        test_listeners: p
            .test_traffic_route()
            .map(|r| r.listener_arns().to_vec())
            .unwrap_or_default(),
    };
    if pair.names.len() != 2 {
        v.error(
            TARGET_GROUPS,
            &resource,
            format!(
                "the target group pair has {} target groups; blue/green needs exactly two",
                pair.names.len()
            ),
            "name a blue and a green target group in the deployment group's target group pair",
        );
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&v.aws.sdk);
    let mut found = Vec::new();
    for name in &pair.names {
        match elb.describe_target_groups().names(name).send().await {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_target_group_not_found_exception()) =>
            {
                let region = v.region().to_string();
                v.error(TARGET_GROUPS, name, format!("the target group of the deployment group's pair does not exist in Elastic Load Balancing (region `{region}`)"),
                    "create the target group (same protocol, port and target type ip for awsvpc tasks), or fix the deployment group's target group pair");
            }
            Err(e) => v.call_failed(
                TARGET_GROUPS,
                name,
                AwsError::new("elasticloadbalancing:DescribeTargetGroups", &e, false),
            )?,
            Ok(out) => {
                if let Some(tg) = out.target_groups().first() {
                    found.push(FoundTargetGroup {
                        name: name.clone(),
                        arn: tg.target_group_arn().unwrap_or_default().to_string(),
                        load_balancers: tg.load_balancer_arns().to_vec(),
                    });
                }
            }
        }
    }
    if found.len() == 2 && pair.names.len() == 2 {
        v.target_groups = Some(found);
    }
    v.pair = Some(pair);
    v.done(TARGET_GROUPS);
    Ok(())
}

async fn check_listeners(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let Some(pair) = v.pair.clone() else {
        v.skip(LISTENERS, "no target group pair to look at");
        return Ok(());
    };
    let resource = format!("{}/{}", v.t.application, v.t.deployment_group);
    if pair.prod_listeners.len() != 1 {
        v.error(
            LISTENERS,
            &resource,
            format!(
                "the deployment group names {} production listeners; it needs exactly one",
                pair.prod_listeners.len()
            ),
            "set the production listener ARN in the target group pair's prodTrafficRoute",
        );
    }
    if pair.test_listeners.len() > 1 {
        v.error(
            LISTENERS,
            &resource,
            format!(
                "the deployment group names {} test listeners; at most one is allowed",
                pair.test_listeners.len()
            ),
            "keep one listener ARN in testTrafficRoute, or none",
        );
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&v.aws.sdk);
    let mut listeners = Vec::new();
    for (role, arn) in pair
        .prod_listeners
        .iter()
        .map(|a| ("production", a))
        .chain(pair.test_listeners.iter().map(|a| ("test", a)))
    {
        match elb.describe_listeners().listener_arns(arn).send().await {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_listener_not_found_exception()) =>
            {
                v.error(LISTENERS, arn, format!("the {role} listener of the deployment group does not exist"),
                    format!("create the listener on the load balancer, or fix the {role} listener ARN of the deployment group's target group pair"));
            }
            Err(e) => v.call_failed(
                LISTENERS,
                arn,
                AwsError::new("elasticloadbalancing:DescribeListeners", &e, false),
            )?,
            Ok(out) => {
                if let Some(l) = out.listeners().first() {
                    listeners.push((role, l.clone()));
                }
            }
        }
    }
    // Do they belong together: forwarding into the pair, on one load balancer?
    if let Some(tgs) = v.target_groups.clone() {
        let arns: BTreeSet<String> = tgs.iter().map(|t| t.arn.clone()).collect();
        let names = tgs
            .iter()
            .map(|t| format!("`{}`", t.name))
            .collect::<Vec<_>>()
            .join(" and ");
        for (role, l) in &listeners {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let targets = forward_targets(l);
            if targets.is_disjoint(&arns) {
                let to = if targets.is_empty() {
                    "no target group".to_string()
                } else {
                    targets
                        .iter()
                        .map(|t| format!("`{}`", target_group_name(t)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                v.error(LISTENERS, &arn,
                    format!("the {role} listener forwards to {to}, not to the deployment group's target groups {names}; CodeDeploy cannot shift its traffic"),
                    format!("make the {role} listener's default action forward to one of {names} (CodeDeploy then swaps them)"));
            }
        }
        if let Some((_, prod)) = listeners.iter().find(|(r, _)| *r == "production") {
            let lb = prod.load_balancer_arn().unwrap_or_default().to_string();
            for tg in &tgs {
                if !tg.load_balancers.is_empty() && !tg.load_balancers.contains(&lb) {
                    v.error(TARGET_GROUPS, &tg.name,
                        format!("the target group is attached to another load balancer ({}) than the production listener's (`{}`)",
                            tg.load_balancers.iter().map(|l| format!("`{}`", load_balancer_name(l))).collect::<Vec<_>>().join(", "),
                            load_balancer_name(&lb)),
                        "both target groups of the pair must be on the production listener's load balancer");
                    fix_status(v, TARGET_GROUPS);
                }
            }
        }
    }
    let prod = listeners
        .iter()
        .find(|(r, _)| *r == "production")
        .map(|(_, l)| l.clone());
    let test = listeners
        .iter()
        .find(|(r, _)| *r == "test")
        .map(|(_, l)| l.clone());
    if let (Some(p), Some(t)) = (prod, test) {
        if p.listener_arn() == t.listener_arn() {
            v.error(
                LISTENERS,
                t.listener_arn().unwrap_or_default(),
                "the test listener is the production listener",
                "use a separate listener (another port) for test traffic, or no test listener",
            );
        } else if p.load_balancer_arn() != t.load_balancer_arn() {
            v.error(
                LISTENERS,
                t.listener_arn().unwrap_or_default(),
                format!(
                    "the test listener is on load balancer `{}`, the production listener on `{}`",
                    load_balancer_name(t.load_balancer_arn().unwrap_or_default()),
                    load_balancer_name(p.load_balancer_arn().unwrap_or_default())
                ),
                "put the test listener on the production listener's load balancer",
            );
        }
    }
    v.done(LISTENERS);
    Ok(())
}

/// Re-derives a check's recorded status after a later check added findings to it.
fn fix_status(v: &mut Verifier<'_>, check: &'static str) {
    if let Some(c) = v.checks.iter_mut().find(|c| c.check == check) {
        c.status = Status::Failed;
    }
}

/// `app/my-alb/50dc6c495c0c9188` from a load balancer ARN, for messages.
fn load_balancer_name(arn: &str) -> &str {
    arn.split_once(":loadbalancer/").map_or(arn, |(_, n)| n)
}

/// `blue` from `...:targetgroup/blue/73e2d6bc24d8a067`.
fn target_group_name(arn: &str) -> &str {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
}

fn check_load_balancer(v: &mut Verifier<'_>) {
    let Some(svc) = v.service.clone() else {
        v.skip(LOAD_BALANCER, "no service to look at");
        return;
    };
    let resource = format!("{}/{}", v.t.cluster, v.t.service);
    let lbs = svc.load_balancers();
    let Some(lb) = lbs.first() else {
        v.error(LOAD_BALANCER, &resource, "the service has no load balancer; a blue/green deployment shifts load balancer traffic",
            "create the service with a loadBalancers entry (targetGroupArn, containerName, containerPort) for one of the pair's target groups");
        v.done(LOAD_BALANCER);
        return;
    };
    let (name, port) = (
        lb.container_name().unwrap_or_default(),
        lb.container_port().unwrap_or_default(),
    );
    match &v.t.lb_container {
        Some((want_name, want_port)) if want_name != name || i32::from(*want_port) != port => {
            v.error(LOAD_BALANCER, &resource,
                format!("the service sends traffic to container `{name}` port {port}, the AppSpec would name `{want_name}` port {want_port}; CodeDeploy fails the deployment when LoadBalancerInfo differs"),
                format!("set the AppSpec container to `{name}` with port {port} in cutover.toml ([appspec] container and the container's port), or recreate the service with the new container"));
        }
        Some(_) => {}
        None => v.warn(LOAD_BALANCER, &resource,
            format!("no container is configured, so the AppSpec's ContainerName/ContainerPort cannot be compared with the service's `{name}`:{port}"),
            format!("add [[containers]] name = \"{name}\", port = {port} to cutover.toml")),
    }
    if let (Some(tg), Some(tgs)) = (lb.target_group_arn(), &v.target_groups) {
        if !tgs.iter().any(|t| t.arn == tg) {
            let names = tgs
                .iter()
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(" and ");
            v.error(LOAD_BALANCER, &resource,
                format!("the service's target group `{}` is not one of the deployment group's pair {names}", target_group_name(tg)),
                "make the deployment group's target group pair contain the service's target group");
        }
    }
    v.done(LOAD_BALANCER);
}

async fn check_hooks(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    if v.t.hooks.is_empty() {
        v.skip(HOOKS, "no lifecycle hooks are configured");
        return Ok(());
    }
    let lambda = aws_sdk_lambda::Client::new(&v.aws.sdk);
    for (event, function) in v.t.hooks.clone() {
        match lambda
            .get_function_configuration()
            .function_name(&function)
            .send()
            .await
        {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                let region = v.region().to_string();
                v.error(HOOKS, &function,
                    format!("the {event} hook's Lambda function does not exist in region `{region}`; CodeDeploy would fail the deployment at {event}"),
                    format!("deploy the function, or fix the {event} hook in [appspec.hooks] of cutover.toml"));
            }
            Err(e) => v.call_failed(
                HOOKS,
                &function,
                AwsError::new("lambda:GetFunctionConfiguration", &e, false),
            )?,
            Ok(out) => {
                let state = out.state().map(|s| s.as_str().to_string());
                if matches!(state.as_deref(), Some("Failed" | "Inactive")) {
                    v.warn(HOOKS, &function,
                        format!("the {event} hook's Lambda function is {}", state.unwrap_or_default()),
                        "an inactive function wakes on the first call (slowly); a failed one needs a fix and a new deployment");
                }
            }
        }
    }
    v.done(HOOKS);
    Ok(())
}

/// The ECR account, region and repository name of the configured repository.
fn ecr_repository(repository: &str) -> Option<(String, String, String)> {
    let r = ImageRef::parse(repository).ok()?;
    let (account, region) = r.ecr()?;
    Some((account, region, r.path))
}

/// An ECR client for the repository's region (it may differ from the deployment's).
fn ecr_client(v: &Verifier<'_>, region: &str) -> aws_sdk_ecr::Client {
    let sdk = v
        .aws
        .sdk
        .to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build();
    aws_sdk_ecr::Client::new(&sdk)
}

pub(super) async fn check_repository(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let Some(repository) = v.t.repository.clone() else {
        v.skip(REPOSITORY, "no image repository is configured");
        return Ok(());
    };
    let Some((account, region, name)) = ecr_repository(&repository) else {
        v.skip(
            REPOSITORY,
            format!("`{repository}` is not an ECR repository"),
        );
        return Ok(());
    };
    let ecr = ecr_client(v, &region);
    match ecr
        .describe_repositories()
        .registry_id(&account)
        .repository_names(&name)
        .send()
        .await
    {
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_repository_not_found_exception()) =>
        {
            v.error(REPOSITORY, &repository,
                format!("the ECR repository `{name}` does not exist in account {account}, region `{region}`"),
                format!("create it (`aws ecr create-repository --repository-name {name} --region {region}`) or fix [image] repository"));
        }
        Err(e) => v.call_failed(
            REPOSITORY,
            &repository,
            AwsError::new("ecr:DescribeRepositories", &e, false),
        )?,
        Ok(_) => v.repository_ok = true,
    }
    v.done(REPOSITORY);
    Ok(())
}

pub(super) async fn check_image(v: &mut Verifier<'_>) -> Result<(), LiveError> {
    let Some(image) = v.t.image.clone() else {
        v.skip(IMAGE, "no --image or --digest given");
        return Ok(());
    };
    let reference = image.to_string();
    let Some((account, region)) = image.ecr() else {
        v.skip(IMAGE, format!("`{reference}` is not in an ECR repository"));
        return Ok(());
    };
    let repository_matches =
        v.t.repository
            .as_deref()
            .and_then(ecr_repository)
            .is_some_and(|(a, r, n)| a == account && r == region && n == image.path);
    if repository_matches && !v.repository_ok {
        v.skip(IMAGE, "the repository check did not pass");
        return Ok(());
    }
    let id = match (&image.digest, &image.tag) {
        (Some(d), _) => aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_digest(d)
            .build(),
        (None, Some(t)) => aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_tag(t)
            .build(),
        (None, None) => {
            v.skip(
                IMAGE,
                format!("`{reference}` has neither a tag nor a digest"),
            );
            return Ok(());
        }
    };
    let what = match (&image.digest, &image.tag) {
        (Some(d), _) => format!("digest `{d}`"),
        (None, t) => format!("tag `{}`", t.as_deref().unwrap_or_default()),
    };
    let ecr = ecr_client(v, &region);
    match ecr
        .describe_images()
        .registry_id(&account)
        .repository_name(&image.path)
        .image_ids(id)
        .send()
        .await
    {
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_image_not_found_exception()) =>
        {
            v.error(IMAGE, &reference,
                format!("the image {what} is not in the repository `{}`; the tasks would fail to pull it (CannotPullContainerError)", image.path),
                "push the image first (`cutover build`), or fix --image/--digest");
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_repository_not_found_exception()) =>
        {
            v.error(
                IMAGE,
                &reference,
                format!("the ECR repository `{}` does not exist", image.path),
                "push to an existing repository, or fix --image",
            );
        }
        Err(e) => v.call_failed(
            IMAGE,
            &reference,
            AwsError::new("ecr:DescribeImages", &e, false),
        )?,
        Ok(_) => {}
    }
    v.done(IMAGE);
    Ok(())
}

/// The report as text: every finding, then one line per check.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.findings {
        out += &format!("{f}\n");
    }
    for c in &r.checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Warning => "warning",
            Status::Skipped => "skipped",
        };
        out += &format!("{:<22} {status}", c.check);
        if let Some(n) = &c.note {
            out += &format!("  ({n})");
        }
        out.push('\n');
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = r.findings.len() - errors;
    out += &if r.ok {
        format!("verify: ok in region {} ({warnings} warnings)\n", r.region)
    } else {
        format!(
            "verify: {errors} problems, {warnings} warnings in region {}\n",
            r.region
        )
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_arns() {
        assert_eq!(
            load_balancer_name("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"),
            "app/web/50dc6c495c0c9188"
        );
        assert_eq!(
            target_group_name("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067"),
            "blue"
        );
    }

    #[test]
    fn ecr_repositories_only() {
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app"),
            Some(("123456789012".into(), "eu-west-1".into(), "team/app".into()))
        );
        assert_eq!(ecr_repository("127.0.0.1:5000/app"), None);
    }

    #[test]
    fn findings_print_with_their_hint() {
        let f = Finding {
            check: "cluster",
            severity: Severity::Error,
            resource: "web".into(),
            message: "the ECS cluster does not exist".into(),
            hint: "fix it".into(),
        };
        assert_eq!(
            f.to_string(),
            "error[cluster]: web: the ECS cluster does not exist\n  hint: fix it"
        );
    }
}
