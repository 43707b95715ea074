//! `cutover buildspec run`: resolves the flags into [`Options`] (with the CodeBuild variables
//! the build gets), reads and plans the buildspec, runs the build, packages and checks the
//! artifacts, and prints the summary (text or `--output json` on stdout).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::artifacts::ArtifactSet;
use crate::buildspec::artifacts::{self as pack, PackageError};
use crate::buildspec::run::{self as exec, Build, BuildReport, Log, PhaseStatus, RunError};
use crate::buildspec::{self as spec, ArtifactRule, Plan, DEFAULT_FILE, RESERVED_PREFIX};
use crate::cli::{BuildspecArgs, BuildspecCommand, BuildspecRunArgs};
use crate::env_vars as ev;
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::run::Ctx;
use crate::validate::{self, Problem, Severity};

/// The region when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The account in `CODEBUILD_BUILD_ARN`: a local build belongs to none.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Where the zips go without `--out`, relative to the current directory.
pub const DEFAULT_OUT: &str = "target/buildspec";
/// The primary artifact's zip name without `artifacts.name`.
pub const PRIMARY: &str = "primary";

/// The dispatch of `cutover buildspec`.
pub fn run(ctx: &Ctx, args: &BuildspecArgs) -> Result<Exit, Failure> {
    match &args.command {
        BuildspecCommand::Run(a) => run_buildspec(ctx, a),
    }
}

/// The flags, resolved and checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    /// The buildspec as messages name it (relative to the current directory when inside it).
    pub display: String,
    pub src: PathBuf,
    pub out: PathBuf,
    pub overrides: Vec<(String, String)>,
    /// CodeBuild's own variables for this build.
    pub codebuild: Vec<(String, String)>,
    pub build_id: String,
    pub build_number: u64,
    pub allow_unsupported: bool,
    pub validate: bool,
}

impl Options {
    /// `machine` is the process environment (for the region); `head` reads the git commit of a
    /// directory; `now` is the build's start.
    pub fn resolve(
        ctx: &Ctx,
        args: &BuildspecRunArgs,
        machine: &[(String, String)],
        head: impl Fn(&Path) -> Option<String>,
        now: SystemTime,
    ) -> Result<Options, Failure> {
        let usage = |m: String| Failure::usage(anyhow!(m));
        let src = ctx.cwd.join(args.src.as_deref().unwrap_or(Path::new(".")));
        let src = src
            .canonicalize()
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| usage(format!("--src `{}` is not a directory", src.display())))?;
        let file = match &args.file {
            Some(f) => ctx.cwd.join(f),
            None => src.join(DEFAULT_FILE),
        };
        let display = file
            .strip_prefix(&ctx.cwd)
            .unwrap_or(&file)
            .display()
            .to_string();
        let out = ctx
            .cwd
            .join(args.out.as_deref().unwrap_or(Path::new(DEFAULT_OUT)));

        let mut overrides = Vec::new();
        for e in &args.env {
            let (k, v) = e
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| usage(format!("--env `{e}` is not NAME=VALUE")))?;
            if k.starts_with(RESERVED_PREFIX) {
                return Err(usage(format!(
                    "--env `{k}`: names starting with `{RESERVED_PREFIX}` are CodeBuild's own\n  hint: use --build-number, --source-version, --pipeline or --src to set them"
                )));
            }
            overrides.push((k.to_string(), v.to_string()));
        }
        let project = &args.project;
        if !valid_project(project) {
            return Err(usage(format!(
                "--project `{project}` is not a CodeBuild project name\n  hint: use 2 to 255 letters, digits, `-` or `_`, starting with a letter or digit"
            )));
        }
        if let Some(p) = &args.pipeline {
            if p.is_empty() {
                return Err(usage("--pipeline needs a pipeline name".into()));
            }
        }

        let lookup = |k: &str| {
            overrides
                .iter()
                .chain(machine)
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let region = lookup(ev::AWS_REGION)
            .or_else(|| lookup(ev::AWS_DEFAULT_REGION))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let uuid = uuid_like(&src, since_epoch);
        let build_id = format!("{project}:{uuid}");
        let source_version = args.source_version.clone().or_else(|| head(&src));

        let mut codebuild = vec![
            (ev::AWS_REGION.to_string(), region.clone()),
            (ev::AWS_DEFAULT_REGION.to_string(), region.clone()),
            (
                ev::CODEBUILD_SRC_DIR.to_string(),
                src.to_string_lossy().into_owned(),
            ),
            (
                ev::CODEBUILD_BUILD_NUMBER.to_string(),
                args.build_number.to_string(),
            ),
            (ev::CODEBUILD_BUILD_ID.to_string(), build_id.clone()),
            (
                ev::CODEBUILD_BUILD_ARN.to_string(),
                format!("arn:aws:codebuild:{region}:{LOCAL_ACCOUNT}:build/{build_id}"),
            ),
            (
                ev::CODEBUILD_INITIATOR.to_string(),
                match &args.pipeline {
                    Some(p) => format!("codepipeline/{p}"),
                    None => "local".to_string(),
                },
            ),
            (
                ev::CODEBUILD_START_TIME.to_string(),
                since_epoch.as_millis().to_string(),
            ),
            (ev::CODEBUILD_BUILD_SUCCEEDING.to_string(), "1".to_string()),
        ];
        if let Some(v) = source_version {
            codebuild.push((ev::CODEBUILD_RESOLVED_SOURCE_VERSION.to_string(), v.clone()));
            codebuild.push((ev::CODEBUILD_SOURCE_VERSION.to_string(), v));
        }
        Ok(Options {
            file,
            display,
            src,
            out,
            overrides,
            codebuild,
            build_id,
            build_number: args.build_number,
            allow_unsupported: args.allow_unsupported,
            validate: !args.no_validate,
        })
    }
}

/// CodeBuild's project names: `[A-Za-z0-9][A-Za-z0-9_-]{1,254}`.
fn valid_project(p: &str) -> bool {
    (2..=255).contains(&p.len())
        && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A UUID-shaped build identifier, as CodeBuild's build ids end with one.
fn uuid_like(src: &Path, t: Duration) -> String {
    let mut h = Sha256::new();
    h.update(t.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(src.to_string_lossy().as_bytes());
    let hex: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The git commit of a directory, when it is in a repository and git is installed.
fn git_head(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let head = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !head.is_empty()).then_some(head)
}

fn machine_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The summary, also the `--output json` document.

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

fn run_buildspec(ctx: &Ctx, args: &BuildspecRunArgs) -> Result<Exit, Failure> {
    let machine = machine_env();
    let opts = Options::resolve(ctx, args, &machine, git_head, SystemTime::now())?;
    let text = std::fs::read_to_string(&opts.file)
        .with_context(|| {
            let hint = if args.file.is_none() {
                "\n  hint: pass the buildspec's path, e.g. `cutover buildspec run buildspec/buildspec.yml`"
            } else {
                ""
            };
            format!("cannot read the buildspec `{}`{hint}", opts.display)
        })
        .map_err(Failure::usage)?;
    let parsed = spec::parse(&text, &opts.display).map_err(Failure::usage)?;
    let plan = spec::plan(&parsed, &text, &opts.display, opts.allow_unsupported)
        .map_err(Failure::usage)?;
    for note in &plan.notes {
        eprintln!("warning: {note}");
    }

    let log = Log { quiet: ctx.quiet };
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
    let mut build = Build::start(plan.shell, &opts.src, env, log)
        .map_err(|e| Failure::external(anyhow::Error::new(e)))?;
    let report = build
        .run_phases(&plan)
        .map_err(|e| Failure::external(anyhow::Error::new(e)))?;
    if report.interrupted {
        drop(build);
        eprintln!("error: interrupted: the build was stopped");
        return Ok(Exit::Interrupted);
    }

    let mut artifacts = Vec::new();
    let mut upload_error = None;
    let mut upload_phase = None;
    if report.upload && !plan.artifacts.is_empty() {
        log.line("Entering phase UPLOAD_ARTIFACTS");
        let started = std::time::Instant::now();
        let outcome = upload(&mut build, &plan, &opts, log);
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
            Err(UploadError::Machine(e)) => {
                return Err(Failure::external(e.context("packaging the artifacts")))
            }
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
        .map(|(id, zip, set)| check(id, &zip, &set, opts.validate, &ctx.cwd))
        .collect();
    let summary = summarize(&opts, &report, upload_phase, upload_error, artifacts);
    match ctx.output {
        OutputFormat::Json => print_json(&summary),
        OutputFormat::Text => print_summary(&summary, ctx.quiet),
    }
    Ok(if summary.succeeded {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
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
        let set = crate::run::read_artifact(&zip)
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
        zip: zip.strip_prefix(cwd).unwrap_or(zip).display().to_string(),
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

fn print_summary(s: &Summary, quiet: bool) {
    for a in &s.artifacts {
        for p in &a.problems {
            if quiet && p.severity == Severity::Warning {
                continue;
            }
            crate::say!("{}: {p}", a.zip);
        }
    }
    if quiet {
        if let Some(e) = &s.upload_error {
            eprintln!("error: UPLOAD_ARTIFACTS failed: {e}");
        }
        for p in s.phases.iter().filter(|p| p.status == "FAILED") {
            if let (Some(c), Some(r)) = (&p.failed_command, &p.reason) {
                eprintln!("error: {} failed: `{c}`: {r}", p.phase);
            }
        }
        return;
    }
    crate::say!(
        "build            {}  ({}, build number {})",
        if s.succeeded { "SUCCEEDED" } else { "FAILED" },
        s.build_id,
        s.build_number
    );
    for p in &s.phases {
        let mut line = format!("{:<16} {:<9}", p.phase, p.status);
        if p.status != "SKIPPED" {
            line.push_str(&format!("  {:>6.2}s", p.duration_ms as f64 / 1000.0));
            if p.phase != "UPLOAD_ARTIFACTS" {
                let plural = if p.commands == 1 { "" } else { "s" };
                line.push_str(&format!("  {} command{plural}", p.commands));
            }
        }
        match (&p.failed_command, &p.reason) {
            (Some(c), Some(r)) => line.push_str(&format!("  `{c}`: {r}")),
            (None, Some(r)) => line.push_str(&format!("  {r}")),
            _ => {}
        }
        crate::say!("{}", line.trim_end());
    }
    for (k, v) in &s.exported_variables {
        match v.as_str() {
            Some(v) => crate::say!("exported         {k}={v}"),
            None => crate::say!("exported         {k} (unset)"),
        }
    }
    for a in &s.artifacts {
        let what = match &a.id {
            Some(id) => format!("artifact {id}"),
            None => "artifact".to_string(),
        };
        let check = if !a.validated {
            String::new()
        } else if a.valid {
            "  (valid)".to_string()
        } else {
            "  (invalid)".to_string()
        };
        crate::say!("{what:<16} {}{check}: {}", a.zip, a.files.join(" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_look_like_codebuilds() {
        let id = uuid_like(Path::new("/src"), Duration::from_millis(1));
        let parts: Vec<_> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }

    #[test]
    fn project_names_follow_codebuild() {
        assert!(valid_project("local"));
        assert!(valid_project("my_app-build"));
        assert!(!valid_project("-x"));
        assert!(!valid_project("a"));
        assert!(!valid_project("a b"));
    }

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
