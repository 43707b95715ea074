//! The CodePipeline pipeline: the declaration from `pipeline/pipeline.yaml` with its placeholders
//! filled, `apply` (create it, or update it after showing the difference to the live declaration,
//! or do nothing when there is none), starting an execution, the progress of an execution's stages
//! and actions, and its build output in the S3 artifact store (located, downloaded, unpacked).
//! Nothing here prints; the `cutover pipeline` commands do.

use std::path::Path;

use aws_sdk_codepipeline::types::{ActionExecutionFilter, PipelineDeclaration};
use serde::Serialize;
use serde_json::Value;

use super::{declaration, model, Action, ApplyReport, Aws, LiveError};
use crate::aws::AwsError;
use crate::output::{display_path, Exit};
use crate::settings::Settings;

/// The desired declaration: the file filled and parsed by the CodePipeline model.
pub struct Desired {
    pub declaration: PipelineDeclaration,
    /// What will be sent, as JSON.
    pub json: Value,
    pub file: String,
}

pub fn load_desired(s: &Settings, cwd: &Path) -> Result<Desired, LiveError> {
    let path = &s.pipeline.declaration;
    let file = display_path(path, cwd);
    let text = std::fs::read_to_string(path).map_err(|source| LiveError::Io {
        what: format!("cannot read the pipeline declaration `{file}` (set [pipeline] declaration or --declaration)"),
        source,
    })?;
    let filled = declaration::fill(&file, &text, &declaration::variables(s))?;
    let declaration = model::from_json(
        &format!("`{file}`"),
        &filled,
        PipelineDeclaration::deserialize,
    )?;
    let json = model::to_json("the pipeline declaration", &declaration)?;
    Ok(Desired {
        declaration,
        json,
        file,
    })
}

/// The pipeline name the commands act on: the declaration's, else the settings'.
pub fn pipeline_name(s: &Settings) -> Result<String, LiveError> {
    match declaration::variables(s).remove("PIPELINE_NAME") {
        Some(declaration::Var::Value(v)) => Ok(v),
        _ => Err(LiveError::Config(
            "no pipeline name is configured\n  hint: set [pipeline] name in cutover.toml, pass --pipeline-name, or set [codedeploy] application".into(),
        )),
    }
}

/// A declaration in the form two are compared: normalised, without `version` (AWS counts it up),
/// and without the values AWS fills in when they are left out.
pub fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(top) = v.as_object_mut() {
        top.remove("version");
        for (key, default) in [("executionMode", "SUPERSEDED"), ("pipelineType", "V1")] {
            if top.get(key).and_then(Value::as_str) == Some(default) {
                top.remove(key);
            }
        }
        for stage in top
            .get_mut("stages")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for action in stage
                .get_mut("actions")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(a) = action.as_object_mut() {
                    if a.get("runOrder").and_then(Value::as_i64) == Some(1) {
                        a.remove("runOrder");
                    }
                }
            }
        }
    }
    declaration::normalize(&v)
}

pub async fn apply(
    aws: &Aws,
    desired: &Desired,
    diff_only: bool,
) -> Result<ApplyReport, LiveError> {
    let cp = aws_sdk_codepipeline::Client::new(&aws.sdk);
    let name = desired.declaration.name().to_string();
    let live = match cp.get_pipeline().name(&name).send().await {
        Ok(out) => out.pipeline,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_pipeline_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws.error(AwsError::new("codepipeline:GetPipeline", &e, false))),
    };
    let report = |action, diff, version| ApplyReport {
        kind: "pipeline",
        name: name.clone(),
        action,
        diff,
        version,
    };
    let Some(live) = live else {
        if diff_only {
            return Ok(report(Action::WouldCreate, None, None));
        }
        let out = cp
            .create_pipeline()
            .pipeline(desired.declaration.clone())
            .send()
            .await
            .map_err(|e| aws.error(AwsError::new("codepipeline:CreatePipeline", &e, false)))?;
        return Ok(report(
            Action::Created,
            None,
            out.pipeline().and_then(PipelineDeclaration::version),
        ));
    };
    let live_json = model::to_json("the live pipeline", &live)?;
    let diff = declaration::diff(
        &comparable(&live_json),
        &comparable(&desired.json),
        &format!("live pipeline {name}"),
        &desired.file,
    );
    match diff {
        None => Ok(report(Action::Unchanged, None, live.version())),
        Some(d) if diff_only => Ok(report(Action::WouldUpdate, Some(d), live.version())),
        Some(d) => {
            let out = cp
                .update_pipeline()
                .pipeline(desired.declaration.clone())
                .send()
                .await
                .map_err(|e| aws.error(AwsError::new("codepipeline:UpdatePipeline", &e, false)))?;
            Ok(report(
                Action::Updated,
                Some(d),
                out.pipeline().and_then(PipelineDeclaration::version),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Executions.

/// One execution with the progress of its stages and actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionView {
    pub pipeline: String,
    pub execution_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub stages: Vec<StageView>,
    /// Why stage detail is missing (GetPipelineState failed), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_detail_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageView {
    pub name: String,
    /// `None`: the stage has not run in this execution.
    pub status: Option<String>,
    pub actions: Vec<ActionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionView {
    pub name: String,
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The action's execution in the service it drives (a CodeDeploy deployment ID for the
    /// Deploy action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
}

/// The CodeDeploy deployment a running action drives (its external execution ID is a
/// deployment ID, `d-` and nine letters or digits), for `pipeline watch` to follow (pure).
pub fn running_deployment(v: &ExecutionView) -> Option<(&str, &str)> {
    v.stages.iter().flat_map(|s| &s.actions).find_map(|a| {
        let id = a.external_execution_id.as_deref()?;
        let is_deployment = id.len() == 11
            && id.starts_with("d-")
            && id[2..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        (a.status.as_deref() == Some("InProgress") && is_deployment)
            .then_some((a.name.as_str(), id))
    })
}

/// Execution statuses after which nothing changes any more.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "Succeeded" | "Failed" | "Stopped" | "Superseded" | "Cancelled"
    )
}

/// The exit code of a finished (or current) execution: failed or stopped is 1.
pub fn exit_for(status: &str) -> Exit {
    match status {
        "Failed" | "Stopped" | "Cancelled" | "Superseded" => Exit::CheckFailed,
        _ => Exit::Ok,
    }
}

/// The ID of the pipeline's latest execution.
pub async fn latest_execution(aws: &Aws, name: &str) -> Result<String, LiveError> {
    let cp = aws_sdk_codepipeline::Client::new(&aws.sdk);
    let out = cp
        .list_pipeline_executions()
        .pipeline_name(name)
        .max_results(1)
        .send()
        .await
        .map_err(|e| {
            let nf = e
                .as_service_error()
                .is_some_and(|se| se.is_pipeline_not_found_exception());
            not_found_or(
                aws,
                nf,
                name,
                AwsError::new("codepipeline:ListPipelineExecutions", &e, nf),
            )
        })?;
    out.pipeline_execution_summaries()
        .first()
        .and_then(|e| e.pipeline_execution_id())
        .map(str::to_string)
        .ok_or_else(|| {
            LiveError::Config(format!(
                "pipeline `{name}` has no executions yet\n  hint: start one with `cutover pipeline start`"
            ))
        })
}

fn not_found_or(aws: &Aws, not_found: bool, name: &str, error: AwsError) -> LiveError {
    if not_found {
        LiveError::NotFound {
            what: "pipeline",
            name: name.to_string(),
            region: aws.region.clone(),
            hint: "create it with `cutover pipeline apply`, or check [pipeline] name".into(),
        }
    } else {
        aws.error(error)
    }
}

/// Reads an execution's status and, from GetPipelineState, its stages' and actions' progress.
pub async fn execution(aws: &Aws, name: &str, id: &str) -> Result<ExecutionView, LiveError> {
    let cp = aws_sdk_codepipeline::Client::new(&aws.sdk);
    let out = cp
        .get_pipeline_execution()
        .pipeline_name(name)
        .pipeline_execution_id(id)
        .send()
        .await
        .map_err(|e| {
            let se = e.as_service_error();
            if se.is_some_and(|se| se.is_pipeline_execution_not_found_exception()) {
                LiveError::NotFound {
                    what: "pipeline execution",
                    name: format!("{name}/{id}"),
                    region: aws.region.clone(),
                    hint: "omit --execution-id for the latest execution".into(),
                }
            } else {
                let nf = se.is_some_and(|se| se.is_pipeline_not_found_exception());
                not_found_or(
                    aws,
                    nf,
                    name,
                    AwsError::new("codepipeline:GetPipelineExecution", &e, nf),
                )
            }
        })?;
    let exec = out.pipeline_execution();
    let status = exec
        .and_then(|x| x.status())
        .map_or("Unknown", |s| s.as_str())
        .to_string();
    let summary = exec.and_then(|x| x.status_summary()).map(str::to_string);
    let (stages, stage_detail_error) = match cp.get_pipeline_state().name(name).send().await {
        Ok(state) => (stage_views(&state, id), None),
        Err(e) => {
            let err = AwsError::new("codepipeline:GetPipelineState", &e, false);
            if err.kind.is_fatal() {
                return Err(aws.error(err));
            }
            (Vec::new(), Some(err.to_string()))
        }
    };
    Ok(ExecutionView {
        pipeline: name.to_string(),
        execution_id: id.to_string(),
        status,
        summary,
        stages,
        stage_detail_error,
    })
}

/// Starts an execution of the pipeline; returns its ID.
pub async fn start_execution(aws: &Aws, name: &str) -> Result<String, LiveError> {
    let cp = aws_sdk_codepipeline::Client::new(&aws.sdk);
    let out = cp
        .start_pipeline_execution()
        .name(name)
        .send()
        .await
        .map_err(|e| {
            let nf = e
                .as_service_error()
                .is_some_and(|se| se.is_pipeline_not_found_exception());
            not_found_or(
                aws,
                nf,
                name,
                AwsError::new("codepipeline:StartPipelineExecution", &e, nf),
            )
        })?;
    Ok(out.pipeline_execution_id().unwrap_or_default().to_string())
}

/// The stages of GetPipelineState as they concern execution `id` (a stage whose latest run
/// belongs to another execution has not run in this one yet).
pub fn stage_views(
    state: &aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput,
    id: &str,
) -> Vec<StageView> {
    state
        .stage_states()
        .iter()
        .map(|stage| {
            let ours = stage
                .latest_execution()
                .is_some_and(|x| x.pipeline_execution_id() == id);
            StageView {
                name: stage.stage_name().unwrap_or("?").to_string(),
                status: stage
                    .latest_execution()
                    .filter(|_| ours)
                    .map(|x| x.status().as_str().to_string()),
                actions: stage
                    .action_states()
                    .iter()
                    .map(|a| {
                        let latest = a.latest_execution().filter(|_| ours);
                        ActionView {
                            name: a.action_name().unwrap_or("?").to_string(),
                            status: latest
                                .and_then(|x| x.status())
                                .map(|s| s.as_str().to_string()),
                            summary: latest.and_then(|x| x.summary()).map(str::to_string),
                            error: latest.and_then(|x| x.error_details()).map(|d| {
                                format!(
                                    "{}: {}",
                                    d.code().unwrap_or("Error"),
                                    d.message().unwrap_or("no message")
                                )
                            }),
                            url: latest
                                .and_then(|x| x.external_execution_url())
                                .map(str::to_string),
                            external_execution_id: latest
                                .and_then(|x| x.external_execution_id())
                                .map(str::to_string),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The view as text lines.
pub fn render_execution(v: &ExecutionView) -> String {
    let mut out = format!(
        "pipeline {}  execution {}  {}\n",
        v.pipeline, v.execution_id, v.status
    );
    if let Some(s) = &v.summary {
        out += &format!("  {s}\n");
    }
    for stage in &v.stages {
        out += &format!(
            "  {:<24} {}\n",
            stage.name,
            stage.status.as_deref().unwrap_or("-")
        );
        for a in &stage.actions {
            out += &format!("    {:<22} {}", a.name, a.status.as_deref().unwrap_or("-"));
            if let Some(s) = &a.summary {
                out += &format!("  {s}");
            }
            if let Some(u) = &a.url {
                out += &format!("  {u}");
            }
            out.push('\n');
            if let Some(e) = &a.error {
                out += &format!("      error: {e}\n");
            }
        }
    }
    if let Some(e) = &v.stage_detail_error {
        out += &format!("  (stage detail unavailable: {e})\n");
    }
    out
}

/// The lines that changed between two polls, for the live progress on stderr.
pub fn progress_lines(before: Option<&ExecutionView>, now: &ExecutionView) -> Vec<String> {
    let mut lines = Vec::new();
    let old_stage = |name: &str| before.and_then(|b| b.stages.iter().find(|s| s.name == name));
    for stage in &now.stages {
        let old = old_stage(&stage.name);
        if stage.status.is_some() && old.map(|o| &o.status) != Some(&stage.status) {
            lines.push(format!(
                "{}: {}",
                stage.name,
                stage.status.as_deref().unwrap_or("-")
            ));
        }
        for a in &stage.actions {
            let old_a = old.and_then(|o| o.actions.iter().find(|x| x.name == a.name));
            if a.status.is_some() && old_a.map(|o| &o.status) != Some(&a.status) {
                let mut line = format!(
                    "{}/{}: {}",
                    stage.name,
                    a.name,
                    a.status.as_deref().unwrap_or("-")
                );
                if let Some(e) = &a.error {
                    line += &format!(" ({e})");
                }
                lines.push(line);
            }
        }
    }
    if before.map(|b| &b.status) != Some(&now.status) {
        lines.push(format!("execution {}: {}", now.execution_id, now.status));
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Artifacts.

/// An object in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

impl std::fmt::Display for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Parses `s3://BUCKET/KEY`.
pub fn parse_s3_uri(uri: &str) -> Option<S3Object> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| S3Object {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// Where the output artifact `artifact` of an execution's actions was stored.
pub fn find_artifact(
    details: &[aws_sdk_codepipeline::types::ActionExecutionDetail],
    artifact: &str,
) -> Option<S3Object> {
    details
        .iter()
        .filter_map(|d| d.output())
        .flat_map(|o| o.output_artifacts())
        .filter(|a| a.name() == Some(artifact))
        .find_map(|a| {
            let loc = a.s3_location()?;
            Some(S3Object {
                bucket: loc.bucket()?.to_string(),
                key: loc.key()?.to_string(),
            })
        })
}

/// Where the output artifact `artifact` of execution `id` was stored.
pub async fn locate_artifact(
    aws: &Aws,
    name: &str,
    id: &str,
    artifact: &str,
) -> Result<S3Object, LiveError> {
    let cp = aws_sdk_codepipeline::Client::new(&aws.sdk);
    let mut pages = cp
        .list_action_executions()
        .pipeline_name(name)
        .filter(
            ActionExecutionFilter::builder()
                .pipeline_execution_id(id)
                .build(),
        )
        .into_paginator()
        .send();
    let mut details = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let nf = e
                .as_service_error()
                .is_some_and(|se| se.is_pipeline_not_found_exception());
            not_found_or(
                aws,
                nf,
                name,
                AwsError::new("codepipeline:ListActionExecutions", &e, nf),
            )
        })?;
        details.extend(page.action_execution_details().iter().cloned());
    }
    find_artifact(&details, artifact).ok_or_else(|| {
        LiveError::Config(format!(
            "execution {id} of pipeline `{name}` has no output artifact `{artifact}` (yet)\n  hint: wait for its Build action (`cutover pipeline watch`), or pass --artifact NAME"
        ))
    })
}

/// The largest artifact cutover downloads; CodeDeployToECS reads at most 3 MB per input artifact.
const MAX_ARTIFACT_BYTES: i64 = 256 * 1024 * 1024;

/// Downloads an artifact object, refusing one larger than a deploy artifact can be.
pub async fn download(aws: &Aws, obj: &S3Object) -> Result<Vec<u8>, LiveError> {
    let s3 = aws_sdk_s3::Client::new(&aws.sdk);
    let out = s3
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| {
            let nf = e.as_service_error().is_some_and(|se| se.is_no_such_key());
            if nf {
                LiveError::NotFound {
                    what: "artifact object",
                    name: obj.to_string(),
                    region: aws.region.clone(),
                    hint: "artifacts expire with the bucket's lifecycle; start a new execution"
                        .into(),
                }
            } else {
                aws.error(AwsError::new("s3:GetObject", &e, false))
            }
        })?;
    if out.content_length().unwrap_or(0) > MAX_ARTIFACT_BYTES {
        return Err(LiveError::Config(format!(
            "{obj} is larger than {} MiB; this is not a deploy artifact",
            MAX_ARTIFACT_BYTES / 1024 / 1024
        )));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| LiveError::Unexpected(format!("reading {obj}: {e}")))?;
    Ok(bytes.into_bytes().to_vec())
}

/// Unpacks a zip into `dir` (created), refusing entries that would land outside it.
pub fn unpack(zip_bytes: &[u8], dir: &Path) -> Result<Vec<String>, LiveError> {
    let io = |what: String| move |source| LiveError::Io { what, source };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .map_err(|e| LiveError::Config(format!("the artifact is not a zip archive: {e}")))?;
    std::fs::create_dir_all(dir).map_err(io(format!("creating `{}`", dir.display())))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| LiveError::Config(format!("reading entry {i} of the artifact: {e}")))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(LiveError::Config(format!(
                "the artifact entry `{}` points outside its directory; refusing to unpack",
                entry.name()
            )));
        };
        let path = dir.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(io(format!("creating `{}`", path.display())))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating `{}`", parent.display())))?;
        }
        let mut f =
            std::fs::File::create(&path).map_err(io(format!("writing `{}`", path.display())))?;
        std::io::copy(&mut entry, &mut f).map_err(io(format!("writing `{}`", path.display())))?;
        names.push(rel.to_string_lossy().into_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codepipeline::types::{
        ActionExecutionDetail, ActionExecutionOutput, ArtifactDetail, S3Location,
    };
    use serde_json::json;

    #[test]
    fn comparable_drops_version_and_aws_defaults() {
        let live = json!({"name": "p", "version": 3, "executionMode": "SUPERSEDED", "pipelineType": "V1",
            "stages": [{"name": "S", "actions": [{"name": "A", "runOrder": 1, "configuration": {},
                "inputArtifacts": [], "outputArtifacts": [{"name": "O"}]}]}]});
        let file = json!({"name": "p", "stages": [{"name": "S", "actions": [{"name": "A",
            "outputArtifacts": [{"name": "O"}]}]}]});
        assert_eq!(comparable(&live), comparable(&file));
        let other = json!({"name": "p", "executionMode": "QUEUED", "stages": []});
        assert_ne!(
            comparable(&other),
            comparable(&json!({"name": "p", "stages": []}))
        );
    }

    #[test]
    fn finds_the_named_output_artifact() {
        let detail = |name: &str, key: &str| {
            ActionExecutionDetail::builder()
                .action_name(name)
                .output(
                    ActionExecutionOutput::builder()
                        .output_artifacts(
                            ArtifactDetail::builder()
                                .name(if name == "Source" {
                                    "SourceOutput"
                                } else {
                                    "BuildOutput"
                                })
                                .s3_location(S3Location::builder().bucket("b").key(key).build())
                                .build(),
                        )
                        .build(),
                )
                .build()
        };
        let details = [
            detail("Source", "p/SourceOutp/abc"),
            detail("Build", "p/BuildOutpu/def"),
        ];
        assert_eq!(
            find_artifact(&details, "BuildOutput"),
            Some(S3Object {
                bucket: "b".into(),
                key: "p/BuildOutpu/def".into()
            })
        );
        assert_eq!(find_artifact(&details, "Nope"), None);
    }

    #[test]
    fn s3_uris() {
        assert_eq!(
            parse_s3_uri("s3://b/p/k.zip"),
            Some(S3Object {
                bucket: "b".into(),
                key: "p/k.zip".into()
            })
        );
        assert_eq!(parse_s3_uri("s3://b/"), None);
        assert_eq!(parse_s3_uri("https://b/k"), None);
    }

    #[test]
    fn progress_reports_only_changes() {
        let view = |status: &str, build: Option<&str>| ExecutionView {
            pipeline: "p".into(),
            execution_id: "e".into(),
            status: status.into(),
            summary: None,
            stages: vec![StageView {
                name: "Build".into(),
                status: build.map(str::to_string),
                actions: vec![ActionView {
                    name: "Build".into(),
                    status: build.map(str::to_string),
                    summary: None,
                    error: None,
                    url: None,
                    external_execution_id: None,
                }],
            }],
            stage_detail_error: None,
        };
        let a = view("InProgress", None);
        assert_eq!(progress_lines(None, &a), vec!["execution e: InProgress"]);
        let b = view("InProgress", Some("InProgress"));
        assert_eq!(
            progress_lines(Some(&a), &b),
            vec!["Build: InProgress", "Build/Build: InProgress"]
        );
        assert!(progress_lines(Some(&b), &b).is_empty());
        assert_eq!(exit_for("Failed"), Exit::CheckFailed);
        assert_eq!(exit_for("Succeeded"), Exit::Ok);
        assert!(is_final("Stopped") && !is_final("Stopping"));
    }

    #[test]
    fn a_running_deploy_action_names_its_deployment() {
        let action = |status: &str, ext: &str| ActionView {
            name: "Deploy".into(),
            status: Some(status.into()),
            summary: None,
            error: None,
            url: None,
            external_execution_id: Some(ext.into()),
        };
        let view = |a: ActionView| ExecutionView {
            pipeline: "p".into(),
            execution_id: "e".into(),
            status: "InProgress".into(),
            summary: None,
            stages: vec![StageView {
                name: "Deploy".into(),
                status: Some("InProgress".into()),
                actions: vec![a],
            }],
            stage_detail_error: None,
        };
        let v = view(action("InProgress", "d-ABC123XYZ"));
        assert_eq!(running_deployment(&v), Some(("Deploy", "d-ABC123XYZ")));
        assert_eq!(
            running_deployment(&view(action("Succeeded", "d-ABC123XYZ"))),
            None
        );
        // A CodeBuild build ID is not a deployment.
        assert_eq!(
            running_deployment(&view(action("InProgress", "app-build:4f1c"))),
            None
        );
    }

    #[test]
    fn unpack_refuses_entries_outside_the_directory() {
        use std::io::Write as _;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("../evil", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack(&bytes, &dir.path().join("out")).is_err());
        assert!(!dir.path().join("evil").exists());
    }
}
