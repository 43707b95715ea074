//! `cutover init --from-service`: what a running ECS service says about its own deployment. The
//! service (DescribeServices) names its task definition, its load balancer's container and port
//! and its deployment controller; its task definition (DescribeTaskDefinition, kept as the service
//! sent it) becomes the template; under the CODE_DEPLOY controller the CodeDeploy application and
//! deployment group that deploy it are found (ListApplications, ListDeploymentGroups,
//! GetDeploymentGroup: the group whose ECS service is this one).

use aws_sdk_ecs::types::{DeploymentControllerType, DeploymentStrategy, Service};
use serde_json::Value;

use super::service::{describe_service, template_of};
use super::{Aws, LiveError};
use crate::aws::AwsError;

/// How the service deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    CodeDeploy {
        application: String,
        deployment_group: String,
    },
    EcsNative,
}

/// What the service told.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub cluster: String,
    pub service: String,
    /// The container behind the load balancer (else the first essential one with a port).
    pub container: String,
    pub port: u16,
    /// That container's image as the task definition names it.
    pub image: Option<String>,
    pub controller: Controller,
    /// DescribeTaskDefinition's answer: `{"taskDefinition": {...}, "tags": [...]}`.
    pub taskdef: Value,
}

/// Reads `cluster/service`.
pub async fn discover(aws: &Aws, cluster: &str, service: &str) -> Result<Discovered, LiveError> {
    let svc = describe_service(aws, cluster, service)
        .await?
        .ok_or_else(|| LiveError::NotFound {
            what: "ECS service",
            name: format!("{cluster}/{service}"),
            region: aws.region.clone(),
            hint: "give --from-service CLUSTER/SERVICE of a running service (`aws ecs list-services --cluster CLUSTER`)".into(),
        })?;
    let template = template_of(aws, &svc, cluster, service).await?;
    let taskdef = template.template;
    let (container, port) = lb_container(&svc, &taskdef).ok_or_else(|| {
        LiveError::Config(format!(
            "the service `{cluster}/{service}` has no load balancer container and its task definition no container with a port\n  hint: cutover deploys a service behind a load balancer; attach one, or run `cutover init` in the repository"
        ))
    })?;
    let image = containers(&taskdef)
        .iter()
        .find(|c| c["name"].as_str() == Some(container.as_str()))
        .and_then(|c| c["image"].as_str())
        .map(str::to_string);
    let controller = match svc.deployment_controller().map(|c| c.r#type()) {
        Some(DeploymentControllerType::CodeDeploy) => {
            let (application, deployment_group) = find_group(aws, cluster, service).await?;
            Controller::CodeDeploy {
                application,
                deployment_group,
            }
        }
        _ if svc
            .deployment_configuration()
            .and_then(|c| c.strategy())
            .is_some_and(|s| *s == DeploymentStrategy::BlueGreen) =>
        {
            Controller::EcsNative
        }
        other => {
            return Err(LiveError::Config(format!(
                "the service `{cluster}/{service}` deploys with the {} controller and no blue/green strategy\n  hint: cutover does blue/green: the CODE_DEPLOY controller, or the ECS controller with strategy BLUE_GREEN (pipeline/template.yaml sets either up)",
                other.map(|t| t.as_str().to_string()).unwrap_or_else(|| "ECS (rolling)".into())
            )))
        }
    };
    Ok(Discovered {
        cluster: cluster.to_string(),
        service: service.to_string(),
        container,
        port,
        image,
        controller,
        taskdef,
    })
}

fn containers(taskdef: &Value) -> Vec<Value> {
    taskdef["taskDefinition"]["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The load balancer's container and port, else the first essential container with a port.
fn lb_container(svc: &Service, taskdef: &Value) -> Option<(String, u16)> {
    if let Some(lb) = svc.load_balancers().first() {
        if let (Some(name), Some(port)) = (lb.container_name(), lb.container_port()) {
            return Some((name.to_string(), u16::try_from(port).ok()?));
        }
    }
    containers(taskdef).iter().find_map(|c| {
        let essential = c["essential"].as_bool().unwrap_or(true);
        let port = c["portMappings"][0]["containerPort"].as_u64()?;
        let name = c["name"].as_str()?.to_string();
        let port = u16::try_from(port).ok()?;
        essential.then_some((name, port))
    })
}

/// The CodeDeploy application and deployment group whose ECS service is `cluster/service`.
async fn find_group(
    aws: &Aws,
    cluster: &str,
    service: &str,
) -> Result<(String, String), LiveError> {
    let cd = aws_sdk_codedeploy::Client::new(&aws.sdk);
    // The SDK's paginators (an empty `nextToken`, as moto answers, ends them too).
    let apps: Vec<String> = cd
        .list_applications()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| aws.error(AwsError::new("codedeploy:ListApplications", &e, false)))?;
    let cluster_name = cluster.rsplit('/').next().unwrap_or(cluster);
    for app in apps {
        let groups: Vec<String> = cd
            .list_deployment_groups()
            .application_name(&app)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| aws.error(AwsError::new("codedeploy:ListDeploymentGroups", &e, false)))?;
        for group in groups {
            let out = cd
                .get_deployment_group()
                .application_name(&app)
                .deployment_group_name(&group)
                .send()
                .await
                .map_err(|e| {
                    aws.error(AwsError::new("codedeploy:GetDeploymentGroup", &e, false))
                })?;
            let deploys_it = out
                .deployment_group_info()
                .map(|g| g.ecs_services())
                .unwrap_or_default()
                .iter()
                .any(|s| {
                    s.service_name() == Some(service)
                        && s.cluster_name().map(|c| c.rsplit('/').next().unwrap_or(c))
                            == Some(cluster_name)
                });
            if deploys_it {
                return Ok((app, group));
            }
        }
    }
    Err(LiveError::NotFound {
        what: "CodeDeploy deployment group for the ECS service",
        name: format!("{cluster}/{service}"),
        region: aws.region.clone(),
        hint: "the service has the CODE_DEPLOY controller, but no deployment group names it; create one (pipeline/template.yaml's DeploymentGroup) and run init again".into(),
    })
}
