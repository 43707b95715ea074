//! A whole local build, as `cutover buildspec run` runs it: the buildspec read and planned, the
//! phases run ([`crate::buildspec::run`]), UPLOAD_ARTIFACTS (each artifact packaged into its zip
//! and read back), each deploy artifact validated, and the [`Summary`] of it all (also the
//! `--output json` document). Progress goes to stderr as CodeBuild's log lines; the summary is
//! the caller's to print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::artifacts::ArtifactSet;
use crate::buildspec::artifacts::{self as pack, PackageError};
use crate::buildspec::options::Options;
use crate::buildspec::run::{self as exec, Build, BuildReport, Log, PhaseStatus, RunError};
use crate::buildspec::{self as spec, ArtifactRule, Plan, SpecError, SpecErrors};
use crate::output::display_path;
use crate::problem::Problem;
use crate::validate;

/// The primary artifact's zip name without `artifacts.name`.
pub const PRIMARY: &str = "primary";

/// Why a local build could not run to its summary.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read the buildspec `{display}`{hint}")]
    Read {
        display: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] SpecError),
    #[error(transparent)]
    Plan(#[from] SpecErrors),
    /// This machine failed (the shell, the state between commands), not the build.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Writing or reading back a zip failed.
    #[error("packaging the artifacts")]
    Package(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LocalError {
    /// The buildspec is missing or wrong (exit 2), rather than this machine failing (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LocalError::Read { .. } | LocalError::Parse(_) | LocalError::Plan(_)
        )
    }
}

/// Reads the buildspec and checks it against what CodeBuild accepts and a local run can do.
pub fn read_plan(opts: &Options) -> Result<Plan, LocalError> {
    let text = std::fs::read_to_string(&opts.file).map_err(|source| LocalError::Read {
        display: opts.display.clone(),
        hint: if opts.default_file {
            "\n  hint: pass the buildspec's path, e.g. `cutover buildspec run buildspec/buildspec.yml`"
        } else {
            ""
        },
        source,
    })?;
    let parsed = spec::parse(&text, &opts.display)?;
    Ok(spec::plan(
        &parsed,
        &text,
        &opts.display,
        opts.allow_unsupported,
    )?)
}

/// Runs the planned build in `opts.src`, from the `machine` environment, on the runtime `rt`,
/// then packages and checks its artifacts; zip paths in the summary are shown relative to `cwd`. `None`: Ctrl-C
/// or SIGTERM stopped the build.
pub fn run(
    rt: &tokio::runtime::Handle,
    opts: &Options,
    plan: &Plan,
    machine: Vec<(String, String)>,
    log: Log,
    cwd: &Path,
) -> Result<Option<Summary>, LocalError> {
    log.line(format_args!("YAML location is {}", opts.file.display()));
    log.line("Processing environment variables");
    log.line(format_args!("Moving to directory {}", opts.src.display()));
    let present: Vec<_> = plan
        .phases
        .iter()
        .filter(|p| !p.commands.is_empty() || !p.finally.is_empty())
        .collect();
    log.line(format_args!("Phases found in YAML: {}", present.len()));
    for p in &present {
        log.line(format_args!(
            " {}: {} commands",
            p.kind.log_name(),
            p.commands.len() + p.finally.len()
        ));
    }

    let env = exec::initial_env(machine, &plan.variables, &opts.overrides, &opts.codebuild);
    let mut build = Build::start(rt, plan.shell, &opts.src, env, log)?;
    let report = build.run_phases(plan)?;
    if report.interrupted {
        return Ok(None);
    }

    let mut artifacts = Vec::new();
    let mut upload_error = None;
    let mut upload_phase = None;
    if report.upload && !plan.artifacts.is_empty() {
        log.line("Entering phase UPLOAD_ARTIFACTS");
        let started = std::time::Instant::now();
        let outcome = upload(&mut build, plan, opts, log);
        let status = match &outcome {
            Ok(_) => PhaseStatus::Succeeded,
            Err(_) => PhaseStatus::Failed,
        };
        match outcome {
            Ok(zips) => artifacts = zips,
            Err(UploadError::Build(m)) => {
                log.line(format_args!(
                    "Phase context status code: CLIENT_ERROR Message: {m}"
                ));
                upload_error = Some(m);
            }
            Err(UploadError::Machine(e)) => return Err(LocalError::Package(e.into())),
        }
        log.line(format_args!(
            "Phase complete: UPLOAD_ARTIFACTS State: {}",
            status.as_str()
        ));
        upload_phase = Some((status, started.elapsed()));
    }
    drop(build);

    let artifacts: Vec<ArtifactSummary> = artifacts
        .into_iter()
        .map(|(id, zip, set)| check(id, &zip, &set, opts.validate, cwd))
        .collect();
    Ok(Some(summarize(
        opts,
        &report,
        upload_phase,
        upload_error,
        artifacts,
    )))
}

/// What a build did, also the `--output json` document.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub succeeded: bool,
    pub buildspec: String,
    pub build_id: String,
    pub build_number: u64,
    pub phases: Vec<PhaseSummary>,
    /// Name → value at the end of the build (`null` when unset).
    pub exported_variables: serde_json::Map<String, serde_json::Value>,
    pub artifacts: Vec<ArtifactSummary>,
    /// Why UPLOAD_ARTIFACTS failed.
    pub upload_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PhaseSummary {
    pub phase: &'static str,
    pub status: &'static str,
    pub duration_ms: u64,
    pub commands: usize,
    pub failed_command: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ArtifactSummary {
    /// `null` for the primary artifact, else the secondary artifact's identifier.
    pub id: Option<String>,
    pub zip: String,
    /// The files in the zip, read back from it.
    pub files: Vec<String>,
    /// Whether the validator checked it (it holds deploy files and --no-validate is not given).
    pub validated: bool,
    pub valid: bool,
    pub problems: Vec<Problem>,
}

/// Why UPLOAD_ARTIFACTS stopped: the build's fault (exit 1) or the machine's (exit 3).
enum UploadError {
    Build(String),
    Machine(anyhow::Error),
}

impl From<RunError> for UploadError {
    fn from(e: RunError) -> Self {
        UploadError::Machine(e.into())
    }
}

/// Packages each artifact rule into its zip and reads each zip back.
fn upload(
    build: &mut Build,
    plan: &Plan,
    opts: &Options,
    log: Log,
) -> Result<Vec<(Option<String>, PathBuf, ArtifactSet)>, UploadError> {
    let listing = pack::list_source(&opts.src, &opts.out).map_err(package_error)?;
    let mut done: Vec<(Option<String>, PathBuf, ArtifactSet)> = Vec::new();
    for rule in &plan.artifacts {
        let stem = zip_stem(build, rule)?;
        let zip = opts.out.join(format!("{stem}.zip"));
        if let Some((other, _, _)) = done.iter().find(|(_, z, _)| *z == zip) {
            return Err(UploadError::Build(format!(
                "the artifacts `{}` and `{}` would both be written to `{}`",
                other.as_deref().unwrap_or(PRIMARY),
                rule.id.as_deref().unwrap_or(PRIMARY),
                zip.display()
            )));
        }
        if let Some(b) = &rule.base_directory {
            log.line(format_args!("Expanding base directory path: {b}"));
        }
        log.line("Assembling file list");
        let names = pack::package(rule, &opts.src, &listing, &zip).map_err(package_error)?;
        log.line(format_args!("Found {} file(s)", names.len()));
        let set = crate::artifacts::read::read_artifact(&zip)
            .map_err(|e| UploadError::Machine(e.context("reading back the zip")))?;
        done.push((rule.id.clone(), zip, set));
    }
    Ok(done)
}

fn package_error(e: PackageError) -> UploadError {
    match e {
        PackageError::Select(s) => UploadError::Build(s.to_string()),
        e @ (PackageError::List { .. } | PackageError::Read { .. }) => {
            UploadError::Build(error_chain(&e))
        }
        e @ (PackageError::Write { .. } | PackageError::Zip { .. }) => {
            UploadError::Machine(anyhow::Error::new(e))
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

/// The zip's file name without `.zip`: a secondary artifact's identifier, else `artifacts.name`
/// expanded by the shell as CodeBuild does (`myname-$(date +%Y-%m-%d)`), else `primary`.
fn zip_stem(build: &mut Build, rule: &ArtifactRule) -> Result<String, UploadError> {
    if let Some(id) = &rule.id {
        return Ok(id.clone());
    }
    let Some(name) = &rule.name else {
        return Ok(PRIMARY.to_string());
    };
    let expanded = if name.contains('$') || name.contains('`') {
        build.expand(name)?.map_err(|r| {
            UploadError::Build(format!("cannot expand `artifacts.name` `{name}`: {r}"))
        })?
    } else {
        name.clone()
    };
    let stem = expanded
        .strip_suffix(".zip")
        .unwrap_or(&expanded)
        .to_string();
    if stem.is_empty() || stem == "." || stem == ".." || stem.contains(['/', '\0', '\n']) {
        return Err(UploadError::Build(format!(
            "`artifacts.name` `{name}` gives `{expanded}`, which cannot name a zip file"
        )));
    }
    Ok(stem)
}

/// Whether an artifact holds the files of a CodeDeploy or ECS deploy action.
pub fn is_deploy_artifact(set: &ArtifactSet) -> bool {
    set.names().iter().any(|n| {
        matches!(
            n.to_ascii_lowercase().as_str(),
            "taskdef.json" | "appspec.yaml" | "appspec.yml" | "appspec.json" | "imagedetail.json"
        )
    })
}

fn check(
    id: Option<String>,
    zip: &Path,
    set: &ArtifactSet,
    validate_on: bool,
    cwd: &Path,
) -> ArtifactSummary {
    let validated = validate_on && is_deploy_artifact(set);
    let problems = if validated {
        validate::validate(set)
    } else {
        Vec::new()
    };
    ArtifactSummary {
        id,
        zip: display_path(zip, cwd),
        files: set.names().iter().map(|n| n.to_string()).collect(),
        validated,
        valid: !validate::has_errors(&problems),
        problems,
    }
}

fn summarize(
    opts: &Options,
    report: &BuildReport,
    upload_phase: Option<(PhaseStatus, Duration)>,
    upload_error: Option<String>,
    artifacts: Vec<ArtifactSummary>,
) -> Summary {
    let mut phases: Vec<PhaseSummary> = report
        .phases
        .iter()
        .map(|p| PhaseSummary {
            phase: p.kind.log_name(),
            status: p.status.as_str(),
            duration_ms: p.duration.as_millis() as u64,
            commands: p.commands_run,
            failed_command: p.failure.as_ref().map(|f| f.command.clone()),
            reason: p.failure.as_ref().map(|f| f.reason.clone()),
        })
        .collect();
    if let Some((status, d)) = upload_phase {
        phases.push(PhaseSummary {
            phase: "UPLOAD_ARTIFACTS",
            status: status.as_str(),
            duration_ms: d.as_millis() as u64,
            commands: 0,
            failed_command: None,
            reason: upload_error.clone(),
        });
    }
    let exported_variables = report
        .exported
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            )
        })
        .collect();
    let succeeded = report.succeeded && upload_error.is_none() && artifacts.iter().all(|a| a.valid);
    Summary {
        succeeded,
        buildspec: opts.display.clone(),
        build_id: opts.build_id.clone(),
        build_number: opts.build_number,
        phases,
        exported_variables,
        artifacts,
        upload_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_artifacts_are_recognised_by_their_files() {
        let set = |names: &[&str]| ArtifactSet {
            files: names
                .iter()
                .map(|n| crate::artifacts::ArtifactFile {
                    name: n.to_string(),
                    bytes: Vec::new(),
                })
                .collect(),
        };
        assert!(is_deploy_artifact(&set(&["taskdef.json"])));
        assert!(is_deploy_artifact(&set(&["a", "appspec.yml"])));
        assert!(!is_deploy_artifact(&set(&[
            "imagedefinitions.json",
            "app.jar"
        ])));
    }
}
