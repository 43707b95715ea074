//! `--from-service` (`[taskdef] from_service = true`): the task definition template is the ECS
//! service's current task definition. DescribeServices names it (the PRIMARY task set's under the
//! CODE_DEPLOY controller), DescribeTaskDefinition with its tags returns it, and the answer's JSON
//! is kept as the service sent it, so every field survives, also those neither cutover nor this
//! SDK version models; [`crate::artifacts::taskdef::render`] then applies the usual rules.

use aws_sdk_ecs::types::{Service, TaskDefinitionField};
use serde_json::Value;

use super::{Aws, LiveError};
use crate::aws::{AwsError, RawBody};

/// The template and where it came from.
#[derive(Debug, Clone)]
pub struct ServiceTemplate {
    /// DescribeTaskDefinition's answer: `{"taskDefinition": {...}, "tags": [...]}`.
    pub template: Value,
    pub task_definition_arn: String,
    /// For messages: `service CLUSTER/SERVICE (ARN)`.
    pub source: String,
}

/// The task definition the service runs: the PRIMARY task set's when it has task sets (CodeDeploy
/// blue/green), else the service's own.
pub fn current_task_definition(service: &Service) -> Option<&str> {
    service
        .task_sets()
        .iter()
        .find(|t| t.status() == Some("PRIMARY"))
        .and_then(|t| t.task_definition())
        .or(service.task_definition())
}

/// Describes the service; `Ok(None)` when the cluster has no such (active) service.
pub async fn describe_service(
    aws: &Aws,
    cluster: &str,
    service: &str,
) -> Result<Option<Service>, LiveError> {
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| {
            let missing_cluster = e
                .as_service_error()
                .is_some_and(|se| se.is_cluster_not_found_exception());
            if missing_cluster {
                LiveError::NotFound {
                    what: "ECS cluster",
                    name: cluster.to_string(),
                    region: aws.region.clone(),
                    hint: "check [service] cluster in cutover.toml (or --cluster) and the region"
                        .into(),
                }
            } else {
                aws.error(AwsError::new("ecs:DescribeServices", &e, false))
            }
        })?;
    Ok(out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .cloned())
}

/// Reads the service's current task definition, with its tags, as the template.
pub async fn fetch_template(
    aws: &Aws,
    cluster: &str,
    service: &str,
) -> Result<ServiceTemplate, LiveError> {
    let svc = describe_service(aws, cluster, service)
        .await?
        .ok_or_else(|| LiveError::NotFound {
            what: "ECS service",
            name: format!("{cluster}/{service}"),
            region: aws.region.clone(),
            hint: "check [service] service in cutover.toml (or --service)".into(),
        })?;
    template_of(aws, &svc, cluster, service).await
}

/// The template of a service already described (DescribeTaskDefinition of its current one).
pub async fn template_of(
    aws: &Aws,
    svc: &Service,
    cluster: &str,
    service: &str,
) -> Result<ServiceTemplate, LiveError> {
    let arn = current_task_definition(svc)
        .ok_or_else(|| {
            LiveError::Unexpected(format!(
                "the ECS service `{cluster}/{service}` names no task definition"
            ))
        })?
        .to_string();
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let raw = RawBody::default();
    ecs.describe_task_definition()
        .task_definition(&arn)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:DescribeTaskDefinition", &e, false)))?;
    let template = raw.json().ok_or_else(|| {
        LiveError::Unexpected(format!(
            "DescribeTaskDefinition for `{arn}` answered no JSON body"
        ))
    })?;
    Ok(ServiceTemplate {
        template,
        source: format!("service {cluster}/{service} ({arn})"),
        task_definition_arn: arn,
    })
}

/// [`fetch_template`] for the configured cluster and service, in the configured region.
pub async fn fetch_configured_template(
    settings: &crate::settings::Settings,
) -> Result<ServiceTemplate, LiveError> {
    let cluster = super::require(
        settings.cluster.as_deref(),
        "ECS cluster",
        "set [service] cluster in cutover.toml or pass --cluster",
    )?;
    let service = super::require(
        settings.service.as_deref(),
        "ECS service",
        "set [service] service in cutover.toml or pass --service",
    )?;
    let aws = Aws::load(settings).await?;
    fetch_template(&aws, cluster, service).await
}

/// Registers `document` (a RegisterTaskDefinition document, images filled) as CodeDeployToECS
/// does before it creates the deployment, and returns the new task definition's ARN. The
/// document goes through the SDK's own model, so a key ECS does not know is refused here too.
pub async fn register_task_definition(
    aws: &Aws,
    document: &serde_json::Value,
) -> Result<String, LiveError> {
    use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput as Input;
    let i = super::model::from_json("taskdef.json", document, Input::deserialize)?;
    let ecs = aws_sdk_ecs::Client::new(&aws.sdk);
    let out = ecs
        .register_task_definition()
        .set_family(i.family)
        .set_task_role_arn(i.task_role_arn)
        .set_execution_role_arn(i.execution_role_arn)
        .set_network_mode(i.network_mode)
        .set_container_definitions(i.container_definitions)
        .set_volumes(i.volumes)
        .set_placement_constraints(i.placement_constraints)
        .set_requires_compatibilities(i.requires_compatibilities)
        .set_cpu(i.cpu)
        .set_memory(i.memory)
        .set_tags(i.tags)
        .set_pid_mode(i.pid_mode)
        .set_ipc_mode(i.ipc_mode)
        .set_proxy_configuration(i.proxy_configuration)
        .set_ephemeral_storage(i.ephemeral_storage)
        .set_runtime_platform(i.runtime_platform)
        .set_enable_fault_injection(i.enable_fault_injection)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("ecs:RegisterTaskDefinition", &e, false)))?;
    Ok(out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::TaskSet;

    #[test]
    fn the_primary_task_set_wins_over_the_service_field() {
        let svc = Service::builder()
            .task_definition("arn:td/app:1")
            .task_sets(
                TaskSet::builder()
                    .status("ACTIVE")
                    .task_definition("arn:td/app:3")
                    .build(),
            )
            .task_sets(
                TaskSet::builder()
                    .status("PRIMARY")
                    .task_definition("arn:td/app:2")
                    .build(),
            )
            .build();
        assert_eq!(current_task_definition(&svc), Some("arn:td/app:2"));
        let plain = Service::builder().task_definition("arn:td/app:1").build();
        assert_eq!(current_task_definition(&plain), Some("arn:td/app:1"));
    }
}
