//! The CodeBuild project: `apply` (create it from `pipeline/codebuild.yaml`, a CreateProject
//! input with `${PLACEHOLDER}`s, or update it after showing the difference, or do nothing when
//! there is none), starting a build, and a build's phases and status. The live project is
//! compared on the keys the declaration has: BatchGetProjects also returns server-side fields
//! (`arn`, `created`, defaults) that are not differences. Nothing here prints; the
//! `cutover codebuild` commands do.

use std::path::Path;

use aws_sdk_codebuild::operation::create_project::CreateProjectInput;
use aws_sdk_codebuild::operation::update_project::UpdateProjectInput;
use aws_sdk_codebuild::types::Build;
use serde::Serialize;
use serde_json::Value;

use super::{declaration, model, Action, ApplyReport, Aws, LiveError};
use crate::aws::AwsError;
use crate::output::{display_path, Exit};
use crate::settings::Settings;

/// The desired project: the file filled and parsed by the CodeBuild model.
pub struct Desired {
    pub json: Value,
    pub name: String,
    pub file: String,
}

pub fn load_desired(s: &Settings, cwd: &Path) -> Result<Desired, LiveError> {
    let path = &s.pipeline.codebuild_declaration;
    let file = display_path(path, cwd);
    let text = std::fs::read_to_string(path).map_err(|source| LiveError::Io {
        what: format!("cannot read the CodeBuild declaration `{file}` (set [codebuild] declaration or --codebuild-declaration)"),
        source,
    })?;
    let filled = declaration::fill(&file, &text, &declaration::variables(s))?;
    let input = model::from_json(
        &format!("`{file}`"),
        &filled,
        CreateProjectInput::deserialize,
    )?;
    let name = input.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(LiveError::Config(format!(
            "`{file}` has no `name`\n  hint: write name: ${{CODEBUILD_PROJECT}}"
        )));
    }
    Ok(Desired {
        json: model::to_json("the project declaration", &input)?,
        name,
        file,
    })
}

/// The live project as the declaration would write it: BatchGetProjects reports `badgeEnabled`
/// as `badge.badgeEnabled`.
pub fn live_as_input(project: &Value) -> Value {
    let mut v = project.clone();
    if let Some(o) = v.as_object_mut() {
        if let Some(enabled) = o.get("badge").and_then(|b| b.get("badgeEnabled")).cloned() {
            o.insert("badgeEnabled".into(), enabled);
        }
    }
    v
}

pub async fn apply(
    aws: &Aws,
    desired: &Desired,
    diff_only: bool,
) -> Result<ApplyReport, LiveError> {
    let cb = aws_sdk_codebuild::Client::new(&aws.sdk);
    let out = cb
        .batch_get_projects()
        .names(&desired.name)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("codebuild:BatchGetProjects", &e, false)))?;
    let report = |action, diff| ApplyReport {
        kind: "CodeBuild project",
        name: desired.name.clone(),
        action,
        diff,
        version: None,
    };
    let Some(live) = out
        .projects()
        .iter()
        .find(|p| p.name() == Some(desired.name.as_str()))
    else {
        if diff_only {
            return Ok(report(Action::WouldCreate, None));
        }
        put_project(aws, &cb, &desired.json, false).await?;
        return Ok(report(Action::Created, None));
    };
    let live_json = live_as_input(&model::to_json("the live project", live)?);
    let diff = declaration::diff(
        &declaration::normalize(&declaration::project(&live_json, &desired.json)),
        &declaration::normalize(&desired.json),
        &format!("live project {}", desired.name),
        &desired.file,
    );
    match diff {
        None => Ok(report(Action::Unchanged, None)),
        Some(d) if diff_only => Ok(report(Action::WouldUpdate, Some(d))),
        Some(d) => {
            put_project(aws, &cb, &desired.json, true).await?;
            Ok(report(Action::Updated, Some(d)))
        }
    }
}

/// The fields of a CreateProject or an UpdateProject request, set from the declaration's input:
/// the two operations take the same ones, listed once here.
macro_rules! project_fields {
    ($request:expr, $input:expr) => {{
        let input = $input;
        $request
            .set_name(input.name)
            .set_description(input.description)
            .set_source(input.source)
            .set_secondary_sources(input.secondary_sources)
            .set_source_version(input.source_version)
            .set_secondary_source_versions(input.secondary_source_versions)
            .set_artifacts(input.artifacts)
            .set_secondary_artifacts(input.secondary_artifacts)
            .set_cache(input.cache)
            .set_environment(input.environment)
            .set_service_role(input.service_role)
            .set_timeout_in_minutes(input.timeout_in_minutes)
            .set_queued_timeout_in_minutes(input.queued_timeout_in_minutes)
            .set_encryption_key(input.encryption_key)
            .set_tags(input.tags)
            .set_vpc_config(input.vpc_config)
            .set_badge_enabled(input.badge_enabled)
            .set_logs_config(input.logs_config)
            .set_file_system_locations(input.file_system_locations)
            .set_build_batch_config(input.build_batch_config)
            .set_concurrent_build_limit(input.concurrent_build_limit)
            .set_auto_retry_limit(input.auto_retry_limit)
    }};
}

/// Sends the declared project: UpdateProject when it `exists`, else CreateProject.
async fn put_project(
    aws: &Aws,
    cb: &aws_sdk_codebuild::Client,
    declared: &Value,
    exists: bool,
) -> Result<(), LiveError> {
    const WHAT: &str = "the project declaration";
    if exists {
        let input = model::from_json(WHAT, declared, UpdateProjectInput::deserialize)?;
        project_fields!(cb.update_project(), input)
            .send()
            .await
            .map_err(|e| aws.error(AwsError::new("codebuild:UpdateProject", &e, false)))?;
    } else {
        let input = model::from_json(WHAT, declared, CreateProjectInput::deserialize)?;
        project_fields!(cb.create_project(), input)
            .send()
            .await
            .map_err(|e| aws.error(AwsError::new("codebuild:CreateProject", &e, false)))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Builds.

/// One build: its status and phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildView {
    pub id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    pub phases: Vec<PhaseView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseView {
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub fn build_view(b: &Build) -> BuildView {
    BuildView {
        id: b.id().unwrap_or_default().to_string(),
        status: b
            .build_status()
            .map_or("UNKNOWN", |s| s.as_str())
            .to_string(),
        current_phase: b.current_phase().map(str::to_string),
        phases: b
            .phases()
            .iter()
            .map(|p| PhaseView {
                phase: p.phase_type().map_or("?", |t| t.as_str()).to_string(),
                status: p.phase_status().map(|s| s.as_str().to_string()),
                seconds: p.duration_in_seconds(),
                message: p
                    .contexts()
                    .iter()
                    .filter_map(|c| c.message())
                    .find(|m| !m.is_empty())
                    .map(str::to_string),
            })
            .collect(),
        logs: b.logs().and_then(|l| l.deep_link()).map(str::to_string),
    }
}

pub fn is_final(status: &str) -> bool {
    status != "IN_PROGRESS"
}

pub fn exit_for(status: &str) -> Exit {
    if status == "SUCCEEDED" || status == "IN_PROGRESS" {
        Exit::Ok
    } else {
        Exit::CheckFailed
    }
}

pub fn render_build(b: &BuildView) -> String {
    let mut out = format!("build {}  {}\n", b.id, b.status);
    for p in &b.phases {
        out += &format!("  {:<18} {}", p.phase, p.status.as_deref().unwrap_or("-"));
        if let Some(s) = p.seconds {
            out += &format!("  {s}s");
        }
        if let Some(m) = &p.message {
            out += &format!("  {m}");
        }
        out.push('\n');
    }
    if let Some(l) = &b.logs {
        out += &format!("  logs: {l}\n");
    }
    out
}

/// The phase lines that changed between two polls.
pub fn progress_lines(before: Option<&BuildView>, now: &BuildView) -> Vec<String> {
    let mut lines = Vec::new();
    for p in &now.phases {
        let old = before.and_then(|b| b.phases.iter().find(|x| x.phase == p.phase));
        if old.map(|o| &o.status) != Some(&p.status) {
            lines.push(format!(
                "{}: {}",
                p.phase,
                p.status.as_deref().unwrap_or("started")
            ));
        }
    }
    if before.map(|b| &b.status) != Some(&now.status) {
        lines.push(format!("build {}: {}", now.id, now.status));
    }
    lines
}

/// The project the commands act on: the declaration's `CODEBUILD_PROJECT`.
pub fn project_name(s: &Settings) -> Result<String, LiveError> {
    match declaration::variables(s).remove("CODEBUILD_PROJECT") {
        Some(declaration::Var::Value(v)) => Ok(v),
        _ => Err(LiveError::Config(
            "no CodeBuild project is configured\n  hint: set [codebuild] project in cutover.toml or pass --codebuild-project".into(),
        )),
    }
}

/// One build's status and phases.
pub async fn get_build(aws: &Aws, id: &str) -> Result<BuildView, LiveError> {
    let cb = aws_sdk_codebuild::Client::new(&aws.sdk);
    let out = cb
        .batch_get_builds()
        .ids(id)
        .send()
        .await
        .map_err(|e| aws.error(AwsError::new("codebuild:BatchGetBuilds", &e, false)))?;
    out.builds()
        .first()
        .map(build_view)
        .ok_or_else(|| LiveError::NotFound {
            what: "CodeBuild build",
            name: id.to_string(),
            region: aws.region.clone(),
            hint: "a build ID is PROJECT:UUID; omit it for the project's latest build".into(),
        })
}

/// The ID of the project's latest build.
pub async fn latest_build(aws: &Aws, project: &str) -> Result<String, LiveError> {
    let cb = aws_sdk_codebuild::Client::new(&aws.sdk);
    let out = cb
        .list_builds_for_project()
        .project_name(project)
        .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception())
            {
                no_such_project(aws, project)
            } else {
                aws.error(AwsError::new("codebuild:ListBuildsForProject", &e, false))
            }
        })?;
    out.ids().first().cloned().ok_or_else(|| {
        LiveError::Config(format!(
            "CodeBuild project `{project}` has no builds yet\n  hint: start one with `cutover codebuild start`"
        ))
    })
}

fn no_such_project(aws: &Aws, project: &str) -> LiveError {
    LiveError::NotFound {
        what: "CodeBuild project",
        name: project.to_string(),
        region: aws.region.clone(),
        hint: "create it with `cutover codebuild apply`, or check [codebuild] project".into(),
    }
}

/// Starts a build of the project (of `source_version`, when given); returns its ID.
pub async fn start_build(
    aws: &Aws,
    project: &str,
    source_version: Option<String>,
) -> Result<String, LiveError> {
    let cb = aws_sdk_codebuild::Client::new(&aws.sdk);
    let out = cb
        .start_build()
        .project_name(project)
        .set_source_version(source_version)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception())
            {
                no_such_project(aws, project)
            } else {
                aws.error(AwsError::new("codebuild:StartBuild", &e, false))
            }
        })?;
    Ok(out
        .build_value()
        .and_then(Build::id)
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn badge_is_compared_as_the_input_writes_it() {
        let live = json!({"name": "p", "badge": {"badgeEnabled": false}});
        assert_eq!(live_as_input(&live)["badgeEnabled"], json!(false));
    }

    #[test]
    fn build_progress_and_exit_codes() {
        let b = |status: &str, phases: &[(&str, Option<&str>)]| BuildView {
            id: "p:1".into(),
            status: status.into(),
            current_phase: None,
            phases: phases
                .iter()
                .map(|(p, s)| PhaseView {
                    phase: p.to_string(),
                    status: s.map(str::to_string),
                    seconds: None,
                    message: None,
                })
                .collect(),
            logs: None,
        };
        let one = b(
            "IN_PROGRESS",
            &[("SUBMITTED", Some("SUCCEEDED")), ("QUEUED", None)],
        );
        assert_eq!(
            progress_lines(None, &one),
            vec![
                "SUBMITTED: SUCCEEDED",
                "QUEUED: started",
                "build p:1: IN_PROGRESS"
            ]
        );
        let two = b(
            "FAILED",
            &[
                ("SUBMITTED", Some("SUCCEEDED")),
                ("QUEUED", Some("SUCCEEDED")),
                ("BUILD", Some("FAILED")),
            ],
        );
        assert_eq!(
            progress_lines(Some(&one), &two),
            vec!["QUEUED: SUCCEEDED", "BUILD: FAILED", "build p:1: FAILED"]
        );
        assert_eq!(exit_for("FAILED"), Exit::CheckFailed);
        assert_eq!(exit_for("SUCCEEDED"), Exit::Ok);
        assert!(is_final("STOPPED") && !is_final("IN_PROGRESS"));
    }

    /// Keeps the body of the request about to be sent, then stops it: no request leaves.
    #[derive(Debug, Clone, Default)]
    struct SentBody(std::sync::Arc<std::sync::Mutex<Option<Value>>>);

    impl aws_smithy_runtime_api::client::interceptors::Intercept for SentBody {
        fn name(&self) -> &'static str {
            "SentBody"
        }

        fn read_before_transmit(
            &self,
            context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
            _: &mut aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            let body = context.request().body().bytes().unwrap_or_default();
            *self.0.lock().unwrap() = serde_json::from_slice(body).ok();
            Err("stopped before sending".into())
        }
    }

    /// A project declaration with every field CreateProject and UpdateProject take.
    fn every_field() -> Value {
        json!({
            "name": "web-build",
            "description": "builds web",
            "source": {"type": "CODEPIPELINE", "buildspec": "buildspec/buildspec.yml"},
            "secondarySources": [{"type": "S3", "location": "bucket/src.zip", "sourceIdentifier": "extra"}],
            "sourceVersion": "main",
            "secondarySourceVersions": [{"sourceIdentifier": "extra", "sourceVersion": "v1"}],
            "artifacts": {"type": "CODEPIPELINE"},
            "secondaryArtifacts": [{"type": "S3", "location": "bucket", "artifactIdentifier": "more"}],
            "cache": {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": true},
            "serviceRole": "arn:aws:iam::123456789012:role/build",
            "timeoutInMinutes": 30,
            "queuedTimeoutInMinutes": 60,
            "encryptionKey": "alias/aws/s3",
            "tags": [{"key": "team", "value": "web"}],
            "vpcConfig": {"vpcId": "vpc-1", "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]},
            "badgeEnabled": false,
            "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": "builds"}},
            "fileSystemLocations": [{"type": "EFS", "location": "fs-1.efs.us-east-1.amazonaws.com:/",
                "mountPoint": "/mnt/efs", "identifier": "efs1"}],
            "buildBatchConfig": {"serviceRole": "arn:aws:iam::123456789012:role/batch", "timeoutInMins": 90},
            "concurrentBuildLimit": 2,
            "autoRetryLimit": 1
        })
    }

    /// The update path has no test against moto, which (5.2) has no UpdateProject.
    #[tokio::test]
    async fn create_and_update_send_every_declared_field() {
        let sent = SentBody::default();
        let config = aws_sdk_codebuild::Config::builder()
            .behavior_version(aws_sdk_codebuild::config::BehaviorVersion::latest())
            .region(aws_sdk_codebuild::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_codebuild::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .retry_config(aws_sdk_codebuild::config::retry::RetryConfig::disabled())
            .interceptor(sent.clone())
            .build();
        let cb = aws_sdk_codebuild::Client::from_conf(config);
        let aws = Aws {
            sdk: aws_config::SdkConfig::builder().build(),
            region: "us-east-1".into(),
        };
        let declared = every_field();
        for exists in [false, true] {
            *sent.0.lock().unwrap() = None;
            assert!(put_project(&aws, &cb, &declared, exists).await.is_err());
            let body = sent.0.lock().unwrap().take();
            assert_eq!(body.as_ref(), Some(&declared), "exists: {exists}");
        }
    }
}
