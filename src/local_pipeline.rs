//! `cutover local pipeline`: pipeline/pipeline.yaml (the declaration `cutover pipeline apply`
//! sends) executed on this machine for one commit, stage by stage, as CodePipeline runs it:
//! the Source action zips the commit's tree (CODE_ZIP) and sets its variables, the CodeBuild
//! action runs the project's buildspec (pipeline/codebuild.yaml) with the real `cutover build`
//! through the local buildspec runner, and the CodeDeployToECS action hands the artifacts named
//! by its configuration to the local engine ([`crate::local`]). A miswired declaration fails at
//! the action that needs what is missing.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{ArtifactFile, ArtifactSet};
use crate::live::declaration::{self, Var};
use crate::local;

/// What a local execution needs.
pub struct Inputs {
    /// The git repository whose commit runs.
    pub repo: PathBuf,
    pub reference: String,
    pub declaration: PathBuf,
    pub codebuild: PathBuf,
    /// Values of the declarations' `${PLACEHOLDER}`s given by the user.
    pub variables: BTreeMap<String, String>,
    /// The execution's folder (its artifacts and record).
    pub work: PathBuf,
    pub engine: local::Options,
    /// This cutover binary: the Build stage's `aws s3 cp …/cutover` is served with it.
    pub exe: PathBuf,
    pub trigger: String,
}

/// One action as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRun {
    pub name: String,
    pub provider: String,
    /// `Succeeded`, `Failed`, or `Skipped` (an earlier action failed).
    pub status: String,
    pub seconds: f64,
    pub variables: BTreeMap<String, String>,
    pub output_artifacts: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRun {
    pub name: String,
    pub status: String,
    pub actions: Vec<ActionRun>,
}

/// A local execution of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    pub execution_id: String,
    pub commit: String,
    /// `manual` (`cutover local pipeline`) or `push <ref>` (a push to `local remote`).
    pub trigger: String,
    /// RFC 3339 UTC.
    pub started: String,
    /// `Succeeded` or `Failed`.
    pub status: String,
    pub stages: Vec<StageRun>,
}

/// Why an execution could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Declaration(#[from] declaration::DeclarationError),
    #[error("`{file}`: {why}")]
    Shape { file: String, why: String },
    #[error("git: {0}")]
    Git(String),
    #[error("the pipeline's lock `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a push means to the pipeline, from the declaration's V2 triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushDecision {
    /// The push triggers an execution of `commit`; the execution's trigger reads `push REF`.
    Run { commit: String, trigger: String },
    /// No trigger matched: nothing runs, for this reason.
    Skip(String),
}

/// Decides a push of `refname` from `old` to `new` in `inputs.repo` (a git hook's `push REF OLD
/// NEW`): the files it changed (all of the commit's for a new ref) against the declaration's
/// trigger filters, as CodePipeline does.
pub fn decide_push(
    inputs: &Inputs,
    refname: &str,
    old: &str,
    new: &str,
) -> Result<PushDecision, PipelineError> {
    let files = if old.bytes().all(|b| b == b'0') {
        git(&inputs.repo, &["ls-tree", "-r", "--name-only", new])?
    } else {
        git(&inputs.repo, &["diff", "--name-only", old, new])?
    };
    let files: Vec<String> = files.lines().map(str::to_string).collect();
    let decl = filled_declaration(inputs)?;
    Ok(match push_matches(&decl, refname, &files) {
        Ok(()) => PushDecision::Run {
            commit: new.to_string(),
            trigger: format!("push {refname}"),
        },
        Err(why) => PushDecision::Skip(why),
    })
}

/// The pipeline's QUEUED mode, as the template declares: one execution at a time on this
/// machine. Takes the lock in `state_dir` (calling `on_wait` once when another execution holds
/// it, then waiting); the lock is held until the returned file is dropped.
pub fn queue(state_dir: &Path, on_wait: impl FnOnce()) -> Result<std::fs::File, PipelineError> {
    let path = state_dir.join("pipeline.lock");
    let fail = |source| PipelineError::Lock {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(fail)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(fail)?;
    use rustix::fs::{flock, FlockOperation};
    if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
        on_wait();
        flock(&lock, FlockOperation::LockExclusive).map_err(|e| fail(e.into()))?;
    }
    Ok(lock)
}

/// Every `${NAME}` of `text`.
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        if let Some(j) = rest.find('}') {
            let name = &rest[..j];
            if !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                out.push(name.to_string());
            }
            rest = &rest[j..];
        }
    }
    out
}

fn git(repo: &Path, args: &[&str]) -> Result<String, PipelineError> {
    // A push runs this from a git hook, whose GIT_DIR would win over `-C`.
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .map_err(|e| PipelineError::Git(format!("cannot run git: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(PipelineError::Git(format!(
            "`git {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A value for every `${NAME}` of `texts`: the user's, else one that names this local run
/// (`BRANCH_NAME`: the branch of the reference, `FULL_REPOSITORY_ID`: `local/<folder>`).
fn placeholder_values(inputs: &Inputs, texts: &[&str]) -> BTreeMap<String, Var> {
    let branch = git(
        &inputs.repo,
        &["rev-parse", "--abbrev-ref", &inputs.reference],
    )
    .ok()
    .filter(|b| b != "HEAD" && !b.is_empty())
    .unwrap_or_else(|| "main".into());
    let repo_name = inputs
        .repo
        .file_name()
        .map_or("repository".into(), |n| n.to_string_lossy().into_owned());
    texts
        .iter()
        .flat_map(|t| placeholders(t))
        .map(|name| {
            let value =
                inputs
                    .variables
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| match name.as_str() {
                        "BRANCH_NAME" => branch.clone(),
                        "FULL_REPOSITORY_ID" => format!("local/{repo_name}"),
                        n => format!("local-{}", n.to_ascii_lowercase().replace('_', "-")),
                    });
            (name, Var::Value(value))
        })
        .collect()
}

/// `#{Namespace.Variable}` replaced from the namespaces so far; an unknown one is an error.
pub fn resolve_vars(
    text: &str,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("#{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            return Err(format!("`{text}`: a `#{{` is not closed"));
        };
        let name = &after[..j];
        let value = name
            .split_once('.')
            .and_then(|(ns, var)| namespaces.get(ns)?.get(var));
        match value {
            Some(v) => out.push_str(v),
            None => return Err(format!("the variable `#{{{name}}}` is not set by an earlier action (a namespace and one of its output variables)")),
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn read_zip(path: &Path) -> Result<Vec<ArtifactFile>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
        if entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        files.push(ArtifactFile {
            name: entry.name().to_string(),
            bytes,
        });
    }
    Ok(files)
}

fn extract(zip_path: &Path, to: &Path) -> Result<(), String> {
    let f = std::fs::File::open(zip_path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| e.to_string())?;
    zip.extract(to)
        .map_err(|e| format!("unpacking `{}`: {e}", zip_path.display()))
}

fn config<'v>(action: &'v Value, key: &str) -> Option<&'v str> {
    action.get("configuration")?.get(key)?.as_str()
}

fn names(action: &Value, key: &str) -> Vec<String> {
    action
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The execution's state while it runs.
struct Exec<'a> {
    inputs: &'a Inputs,
    commit: String,
    /// Output artifact name → its zip.
    artifacts: BTreeMap<String, PathBuf>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    codebuild: Value,
    build_number: u64,
}

/// Runs the pipeline for `inputs.reference`. `interrupt` stops the Deploy stage (rolled back).
pub fn run<F>(
    handle: &tokio::runtime::Handle,
    inputs: &Inputs,
    interrupt: F,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Execution, PipelineError>
where
    F: Future<Output = ()>,
{
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| PipelineError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let started_at = crate::probe::record::now_rfc3339();
    let decl_text = read(&inputs.declaration)?;
    let cb_text = read(&inputs.codebuild)?;
    let commit = git(
        &inputs.repo,
        &["rev-parse", &format!("{}^{{commit}}", inputs.reference)],
    )?;
    let vars = placeholder_values(inputs, &[&decl_text, &cb_text]);
    let decl_file = inputs.declaration.display().to_string();
    let decl = declaration::fill(&decl_file, &decl_text, &vars)?;
    let codebuild = declaration::fill(&inputs.codebuild.display().to_string(), &cb_text, &vars)?;
    let stages = decl
        .get("stages")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| PipelineError::Shape {
            file: decl_file.clone(),
            why: "no `stages` list".into(),
        })?;
    std::fs::create_dir_all(inputs.work.join("artifacts")).map_err(|source| {
        PipelineError::Read {
            path: inputs.work.clone(),
            source,
        }
    })?;
    let mut exec = Exec {
        inputs,
        commit: commit.clone(),
        artifacts: BTreeMap::new(),
        namespaces: BTreeMap::new(),
        codebuild,
        build_number: 1,
    };
    let mut interrupt = Some(interrupt);
    let mut runs = Vec::new();
    let mut failed = false;
    for stage in &stages {
        let sname = stage
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let mut actions: Vec<&Value> = stage
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        actions.sort_by_key(|a| a.get("runOrder").and_then(Value::as_u64).unwrap_or(1));
        let mut stage_run = StageRun {
            name: sname.clone(),
            status: "Succeeded".into(),
            actions: Vec::new(),
        };
        for action in actions {
            let aname = action
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let provider = action
                .pointer("/actionTypeId/provider")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let mut run = ActionRun {
                name: aname.clone(),
                provider: provider.clone(),
                status: "Skipped".into(),
                seconds: 0.0,
                variables: BTreeMap::new(),
                output_artifacts: names(action, "outputArtifacts"),
                error: None,
            };
            if failed {
                stage_run.actions.push(run);
                continue;
            }
            progress(&format!("{sname}/{aname} ({provider}): in progress"));
            let started = Instant::now();
            let result = exec.action(handle, action, &aname, &provider, &mut interrupt, progress);
            run.seconds = started.elapsed().as_secs_f64();
            match result {
                Ok(variables) => {
                    if let Some(ns) = action.get("namespace").and_then(Value::as_str) {
                        exec.namespaces.insert(ns.to_string(), variables.clone());
                    }
                    run.variables = variables;
                    run.status = "Succeeded".into();
                    progress(&format!(
                        "{sname}/{aname}: Succeeded in {:.1} s",
                        run.seconds
                    ));
                }
                Err(why) => {
                    progress(&format!("{sname}/{aname}: Failed: {why}"));
                    run.status = "Failed".into();
                    run.error = Some(why);
                    stage_run.status = "Failed".into();
                    failed = true;
                }
            }
            stage_run.actions.push(run);
        }
        if failed && stage_run.actions.iter().all(|a| a.status == "Skipped") {
            stage_run.status = "Skipped".into();
        }
        runs.push(stage_run);
    }
    let execution = Execution {
        trigger: inputs.trigger.clone(),
        started: started_at,
        execution_id: inputs
            .work
            .file_name()
            .map_or("local".into(), |n| n.to_string_lossy().into_owned()),
        commit,
        status: if failed { "Failed" } else { "Succeeded" }.into(),
        stages: runs,
    };
    let _ = std::fs::write(
        inputs.work.join("execution.json"),
        serde_json::to_vec_pretty(&execution).unwrap_or_default(),
    );
    Ok(execution)
}

impl Exec<'_> {
    fn input(&self, action: &Value, aname: &str, artifact: &str) -> Result<PathBuf, String> {
        if !names(action, "inputArtifacts")
            .iter()
            .any(|n| n == artifact)
        {
            return Err(format!(
                "the artifact `{artifact}` is not an input artifact of action {aname}\n  hint: list it in the action's inputArtifacts"
            ));
        }
        self.artifacts.get(artifact).cloned().ok_or_else(|| {
            format!(
                "input artifact `{artifact}` of action {aname} is not an output artifact of an earlier action\n  hint: name an artifact an earlier action lists in its outputArtifacts"
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn action<F: Future<Output = ()>>(
        &mut self,
        handle: &tokio::runtime::Handle,
        action: &Value,
        aname: &str,
        provider: &str,
        interrupt: &mut Option<F>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<BTreeMap<String, String>, String> {
        for input in names(action, "inputArtifacts") {
            self.input(action, aname, &input)?;
        }
        match provider {
            "CodeStarSourceConnection" | "CodeCommit" | "GitHub" => self.source(action),
            "CodeBuild" => self.build(handle, action, aname),
            "CodeDeployToECS" => {
                let set = self.deploy_set(action, aname)?;
                let Some(interrupt) = interrupt.take() else {
                    return Err("a local execution runs one CodeDeployToECS action; this is a second one".into());
                };
                self.deploy(handle, &set, interrupt, progress)
            }
            other => Err(format!(
                "the provider `{other}` is not run locally (Source: CodeStarSourceConnection, Build: CodeBuild, Deploy: CodeDeployToECS)"
            )),
        }
    }

    fn source(&mut self, action: &Value) -> Result<BTreeMap<String, String>, String> {
        let repo = &self.inputs.repo;
        let outs = names(action, "outputArtifacts");
        let out = outs
            .first()
            .ok_or("the Source action has no output artifact")?;
        let zip = self
            .inputs
            .work
            .join("artifacts")
            .join(format!("{out}.zip"));
        let zip_s = zip.display().to_string();
        git(
            repo,
            &["archive", "--format=zip", "-o", &zip_s, &self.commit],
        )
        .map_err(|e| e.to_string())?;
        self.artifacts.insert(out.clone(), zip);
        let field = |f: &str| {
            git(repo, &["log", "-1", &format!("--format={f}"), &self.commit]).unwrap_or_default()
        };
        let mut v = BTreeMap::new();
        v.insert("CommitId".into(), self.commit.clone());
        v.insert(
            "BranchName".into(),
            config(action, "BranchName").unwrap_or("").to_string(),
        );
        v.insert(
            "FullRepositoryName".into(),
            config(action, "FullRepositoryId").unwrap_or("").to_string(),
        );
        v.insert("CommitMessage".into(), field("%B"));
        v.insert("AuthorDate".into(), field("%aI"));
        v.insert("AuthorDisplayName".into(), field("%an"));
        v.insert(
            "ConnectionArn".into(),
            config(action, "ConnectionArn").unwrap_or("").to_string(),
        );
        Ok(v)
    }

    fn build(
        &mut self,
        handle: &tokio::runtime::Handle,
        action: &Value,
        aname: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        use crate::buildspec::local as runner;
        use crate::buildspec::options::{git_head, machine_env, Options};
        let inputs = names(action, "inputArtifacts");
        let primary = inputs
            .first()
            .ok_or("the Build action has no input artifact")?;
        let zip = self.input(action, aname, primary)?;
        let n = self.build_number;
        self.build_number += 1;
        let src = self.inputs.work.join(format!("build-{n}/src"));
        let out = self.inputs.work.join(format!("build-{n}/out"));
        std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
        extract(&zip, &src)?;
        // The stand-ins: `aws s3 cp …/cutover` serves this binary (as a dry-run's buildspec).
        let shims = self.inputs.work.join(format!("build-{n}/bin"));
        std::fs::create_dir_all(&shims).map_err(|e| e.to_string())?;
        let aws = shims.join("aws");
        std::fs::write(&aws, crate::buildspec::AWS_SHIM).map_err(|e| e.to_string())?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        let mut env = vec![
            format!(
                "PATH={}:{}",
                shims.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            format!("CUTOVER_SELF={}", self.inputs.exe.display()),
        ];
        for v in self
            .codebuild
            .pointer("/environment/environmentVariables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(k), Some(val)) = (
                v.get("name").and_then(Value::as_str),
                v.get("value").and_then(Value::as_str),
            ) {
                env.push(format!("{k}={val}"));
            }
        }
        // The action's EnvironmentVariables (a JSON list), variables of earlier actions resolved.
        if let Some(list) = config(action, "EnvironmentVariables") {
            let list: Vec<Value> = serde_json::from_str(list)
                .map_err(|e| format!("EnvironmentVariables is not a JSON list: {e}"))?;
            for v in list {
                let (Some(k), Some(val)) = (
                    v.get("name").and_then(Value::as_str),
                    v.get("value").and_then(Value::as_str),
                ) else {
                    continue;
                };
                env.push(format!("{k}={}", resolve_vars(val, &self.namespaces)?));
            }
        }
        let buildspec = self
            .codebuild
            .pointer("/source/buildspec")
            .and_then(Value::as_str)
            .unwrap_or("buildspec.yml");
        let args = crate::cli::BuildspecRunArgs {
            file: Some(src.join(buildspec)),
            src: Some(src.clone()),
            out: Some(out),
            env,
            build_number: n,
            source_version: Some(self.commit.clone()),
            pipeline: None,
            project: config(action, "ProjectName").unwrap_or("local").to_string(),
            allow_unsupported: true,
            no_validate: false,
        };
        let machine = machine_env();
        let opts = Options::resolve(
            &self.inputs.work,
            &args,
            &machine,
            git_head,
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        let plan = runner::read_plan(&opts).map_err(|e| e.to_string())?;
        let log = crate::buildspec::run::Log { quiet: false };
        let summary = runner::run(handle, &opts, &plan, machine, log, &self.inputs.work)
            .map_err(|e| format!("{e:#}"))?
            .ok_or("interrupted: the build was stopped")?;
        if !summary.succeeded {
            let why = summary
                .phases
                .iter()
                .find(|p| p.status != "SUCCEEDED")
                .map(|p| {
                    format!(
                        "phase {} {}{}",
                        p.phase,
                        p.status,
                        p.failed_command
                            .as_ref()
                            .map(|c| format!(": `{c}`"))
                            .unwrap_or_default()
                    )
                })
                .or_else(|| summary.upload_error.clone())
                .unwrap_or_else(|| "the build failed".into());
            let problems: Vec<String> = summary
                .artifacts
                .iter()
                .flat_map(|a| a.problems.iter().map(|p| p.to_string()))
                .collect();
            return Err(if problems.is_empty() {
                why
            } else {
                format!("{why}\n{}", problems.join("\n"))
            });
        }
        for (out_name, a) in names(action, "outputArtifacts")
            .iter()
            .zip(&summary.artifacts)
        {
            // The summary names the zip from the folder the build ran in.
            self.artifacts
                .insert(out_name.clone(), self.inputs.work.join(&a.zip));
        }
        Ok(summary
            .exported_variables
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect())
    }

    /// The artifact set CodeDeployToECS hands to CodeDeploy: the task definition and AppSpec
    /// templates from the artifacts and paths its configuration names, `imageDetail.json` of
    /// each image slot's artifact.
    fn deploy_set(&self, action: &Value, aname: &str) -> Result<ArtifactSet, String> {
        let file_of = |artifact_key: &str,
                       path_key: &str,
                       default: &str|
         -> Result<ArtifactFile, String> {
            let artifact = config(action, artifact_key)
                .ok_or_else(|| format!("action {aname} has no {artifact_key}"))?;
            let path = config(action, path_key).unwrap_or(default);
            let zip = self.input(action, aname, artifact)?;
            let files = read_zip(&zip)?;
            files.into_iter().find(|f| f.name == path).ok_or_else(|| {
                format!("{path_key} `{path}` is not in the artifact `{artifact}` of action {aname}")
            })
        };
        let mut taskdef = file_of(
            "TaskDefinitionTemplateArtifact",
            "TaskDefinitionTemplatePath",
            "taskdef.json",
        )?;
        let appspec = file_of(
            "AppSpecTemplateArtifact",
            "AppSpecTemplatePath",
            "appspec.yaml",
        )?;
        let mut files = Vec::new();
        for slot in 1..=4 {
            let Some(artifact) = config(action, &format!("Image{slot}ArtifactName")) else {
                continue;
            };
            let container = config(action, &format!("Image{slot}ContainerName")).ok_or_else(|| {
                format!("action {aname}: Image{slot}ArtifactName is set but Image{slot}ContainerName is not")
            })?;
            let zip = self.input(action, aname, artifact)?;
            let detail = read_zip(&zip)?
                .into_iter()
                .find(|f| f.name == "imageDetail.json")
                .ok_or_else(|| format!("the artifact `{artifact}` (Image{slot}ArtifactName) has no imageDetail.json"))?;
            if slot == 1 {
                files.push(ArtifactFile {
                    name: "imageDetail.json".into(),
                    bytes: detail.bytes,
                });
            }
            // The action fills <Image{N}ContainerName>; cutover's engine reads <IMAGE1_NAME>.
            if container != "IMAGE1_NAME" {
                let text = String::from_utf8_lossy(&taskdef.bytes)
                    .replace(&format!("<{container}>"), "<IMAGE1_NAME>");
                taskdef.bytes = text.into_bytes();
            }
        }
        taskdef.name = "taskdef.json".into();
        let appspec_name = if appspec.name.ends_with(".json") {
            "appspec.json"
        } else {
            "appspec.yaml"
        };
        files.push(taskdef);
        files.push(ArtifactFile {
            name: appspec_name.into(),
            bytes: appspec.bytes,
        });
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ArtifactSet { files })
    }

    fn deploy<F: Future<Output = ()>>(
        &self,
        handle: &tokio::runtime::Handle,
        set: &ArtifactSet,
        interrupt: F,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<BTreeMap<String, String>, String> {
        let problems = crate::validate::validate(set);
        if crate::validate::has_errors(&problems) {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(format!(
                "the artifacts are not a valid deployment:\n{}",
                text.join("\n")
            ));
        }
        let rev = local::revision::prepare(set).map_err(|e| e.to_string())?;
        let show = |n: &local::Note| progress(&format!("  {}", n.what));
        let outcome = handle
            .block_on(local::deploy(
                &self.inputs.engine,
                &rev,
                None,
                interrupt,
                &show,
            ))
            .map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
        let d = &outcome.deployment;
        match d.status {
            crate::lifecycle::DeploymentStatus::Succeeded => {
                let mut v = BTreeMap::new();
                v.insert("DeploymentId".into(), d.id.clone());
                Ok(v)
            }
            _ => Err(d
                .error
                .as_ref()
                .map(|e| format!("{} at {}: {} (rolled back)", e.code, e.event, e.message))
                .unwrap_or_else(|| format!("the deployment ended {:?}", d.status))),
        }
    }
}

/// A glob of CodePipeline's trigger filters as a regular expression: `**` any path, `*` any
/// run within one path segment, `?` one character.
fn glob_regex(glob: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

fn any_match(globs: &[String], s: &str) -> bool {
    globs
        .iter()
        .filter_map(|g| glob_regex(g))
        .any(|r| r.is_match(s))
}

fn list(v: Option<&Value>, key: &str) -> Option<Vec<String>> {
    let a = v?.get(key)?.as_array()?;
    Some(
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
    )
}

/// Whether a push of `refname` (`refs/heads/B` or `refs/tags/T`) changing `files` starts the
/// pipeline, as the declaration's V2 `triggers` say: one push filter whose branches (or tags)
/// match, includes and not excludes, and, when it has file paths, whose includes match a
/// changed file that its excludes do not. No trigger at all: every push of the Source action's
/// branch. Returns why not, when not.
pub fn push_matches(decl: &Value, refname: &str, files: &[String]) -> Result<(), String> {
    let (branch, tag) = match (
        refname.strip_prefix("refs/heads/"),
        refname.strip_prefix("refs/tags/"),
    ) {
        (Some(b), _) => (Some(b), None),
        (_, Some(t)) => (None, Some(t)),
        _ => return Err(format!("`{refname}` is neither a branch nor a tag")),
    };
    let filters: Vec<&Value> = decl
        .get("triggers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/gitConfiguration/push")?.as_array())
        .flatten()
        .collect();
    if filters.is_empty() {
        return Ok(());
    }
    let mut why = Vec::new();
    for f in filters {
        let (kind, name, sel) = match (branch, tag) {
            (Some(b), _) => ("branch", b, f.get("branches")),
            (_, Some(t)) => ("tag", t, f.get("tags")),
            _ => continue,
        };
        let Some(sel) = sel else {
            why.push(format!("a filter has no {kind}es to match `{name}`"));
            continue;
        };
        let inc = list(Some(sel), "includes").unwrap_or_default();
        let exc = list(Some(sel), "excludes").unwrap_or_default();
        if !(inc.is_empty() || any_match(&inc, name)) || any_match(&exc, name) {
            why.push(format!(
                "{kind} `{name}` is not among {inc:?} (excludes {exc:?})"
            ));
            continue;
        }
        if let Some(paths) = f.get("filePaths") {
            let inc = list(Some(paths), "includes").unwrap_or_default();
            let exc = list(Some(paths), "excludes").unwrap_or_default();
            let considered: Vec<&String> = files.iter().filter(|p| !any_match(&exc, p)).collect();
            let hit = if inc.is_empty() {
                !considered.is_empty()
            } else {
                considered.iter().any(|p| any_match(&inc, p))
            };
            if !hit {
                why.push(format!(
                    "no changed file matches the file paths {inc:?} (excludes {exc:?})"
                ));
                continue;
            }
        }
        return Ok(());
    }
    Err(why.join("; "))
}

/// The executions so far, oldest first (from their `execution.json`).
pub fn history(executions_dir: &Path) -> Vec<Execution> {
    let mut out: Vec<Execution> = std::fs::read_dir(executions_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("execution.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a: &Execution, b| a.started.cmp(&b.started));
    out
}

/// The declaration with its placeholders filled as a run fills them (for the trigger).
pub fn filled_declaration(inputs: &Inputs) -> Result<Value, PipelineError> {
    let text =
        std::fs::read_to_string(&inputs.declaration).map_err(|source| PipelineError::Read {
            path: inputs.declaration.clone(),
            source,
        })?;
    let vars = placeholder_values(inputs, &[&text]);
    Ok(declaration::fill(
        &inputs.declaration.display().to_string(),
        &text,
        &vars,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn push_filters_match_branches_tags_and_file_paths() {
        let decl = json!({"triggers": [{"gitConfiguration": {"push": [
            {"branches": {"includes": ["main", "release/*"]}, "filePaths": {"includes": ["src/**"], "excludes": ["**/*.md"]}}
        ]}}]});
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(push_matches(&decl, "refs/heads/main", &f(&["src/a/b.rs"])).is_ok());
        assert!(push_matches(&decl, "refs/heads/release/1", &f(&["src/x"])).is_ok());
        assert!(push_matches(&decl, "refs/heads/release/1/x", &f(&["src/x"])).is_err());
        assert!(push_matches(&decl, "refs/heads/dev", &f(&["src/x"])).is_err());
        assert!(push_matches(&decl, "refs/heads/main", &f(&["README.md"])).is_err());
        assert!(push_matches(&decl, "refs/heads/main", &f(&["src/notes.md"])).is_err());
        assert!(push_matches(&decl, "refs/tags/v1", &f(&["src/x"])).is_err());
        assert!(push_matches(&json!({}), "refs/heads/any", &[]).is_ok());
    }

    #[test]
    fn finds_placeholders_and_resolves_variables() {
        assert_eq!(
            placeholders("a: ${PIPELINE_NAME}\nb: ${x} ${BRANCH_NAME}"),
            ["PIPELINE_NAME", "BRANCH_NAME"]
        );
        let ns = BTreeMap::from([(
            "SourceVariables".to_string(),
            BTreeMap::from([("CommitId".to_string(), "abc".to_string())]),
        )]);
        assert_eq!(
            resolve_vars("v-#{SourceVariables.CommitId}", &ns).as_deref(),
            Ok("v-abc")
        );
        assert!(resolve_vars("#{BuildVariables.IMAGE_URI}", &ns).is_err());
        assert!(resolve_vars("#{open", &ns).is_err());
    }
}
