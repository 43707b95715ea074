//! The build: the phases in CodeBuild's order, each command in the buildspec's shell, the
//! CodeBuild log lines on stderr, and the shell state carried from command to command.
//!
//! # The shell model
//! Each command runs in a fresh shell process (`/bin/sh` or `bash`) that starts from a snapshot
//! of the previous command's state (its variables and working directory), runs the command with
//! `set -a`, and writes the new snapshot. That is what CodeBuild does in version 0.2: its agent
//! writes each command to a script and runs it, and carries variables and the directory over.
//! Its observable behaviour shows it: `export`, plain `X=1` assignments and `cd` carry over,
//! while bash arrays, functions and `set -e` do not (the CodeBuild team confirms arrays are not
//! preserved between commands, aws/aws-cdk#26694), and an `exit` ends only its own command.
//! One persistent shell fed through stdin would carry all of those over, so a buildspec could
//! pass here and fail in CodeBuild; it would also mix the command's stdin with the protocol.
//!
//! Each command's shell leads its own process group, so that Ctrl-C (or SIGTERM) stops the
//! command and everything it started; what commands leave running in the background is stopped
//! when the build ends, as the end of CodeBuild's container would.

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::AsFd as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};

use crate::buildspec::{OnFailure, PhaseKind, Plan, Shell, RESERVED_PREFIX};
use crate::env_vars as ev;

/// A failure of this machine, not of the build: the shell cannot start, the state cannot be kept.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the shell `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot keep the build's state in `{}`", .path.display())]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the build")]
    Setup(#[source] std::io::Error),
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    /// Not run: an earlier install or pre_build phase failed with `on-failure: ABORT`.
    Skipped,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::Skipped => "SKIPPED",
        }
    }
}

/// The command that failed a phase, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub command: String,
    pub exit_code: Option<i32>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseReport {
    pub kind: PhaseKind,
    pub status: PhaseStatus,
    pub duration: Duration,
    /// Commands run, `finally` included.
    pub commands_run: usize,
    pub failure: Option<CommandFailure>,
}

/// What the phases did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub phases: Vec<PhaseReport>,
    /// Every phase that ran succeeded.
    pub succeeded: bool,
    /// Whether CodeBuild would go on to UPLOAD_ARTIFACTS: not after an aborted install or
    /// pre_build, but after a failed build or post_build.
    pub upload: bool,
    /// Ctrl-C or SIGTERM stopped the build.
    pub interrupted: bool,
    /// `env.exported-variables` at the end of the last phase run; `None` when unset.
    pub exported: Vec<(String, Option<String>)>,
}

/// Prints CodeBuild's `[Container]` lines on stderr, unless quiet.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub quiet: bool,
}

impl Log {
    pub fn line(&self, message: impl fmt::Display) {
        if !self.quiet {
            eprintln!("[Container] {} {message}", timestamp(SystemTime::now()));
        }
    }
}

/// The environment a build starts with, in CodeBuild's order of precedence: the machine's
/// variables (as the build image's), less any `CODEBUILD_*`; the buildspec's `env.variables`; the
/// start-build overrides (`--env`); CodeBuild's own variables last. Pure.
pub fn initial_env(
    machine: impl IntoIterator<Item = (String, String)>,
    variables: &[(String, String)],
    overrides: &[(String, String)],
    codebuild: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = machine
        .into_iter()
        .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
        .collect();
    for (k, v) in variables.iter().chain(overrides).chain(codebuild) {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// Variables of the shell's snapshot that are the shell's own, not the build's.
const SHELL_OWN: &[&str] = &["_", "SHLVL", "PWD", "__cutover_status"];

/// Parses `env -0` output. Pure.
pub fn parse_env_snapshot(bytes: &[u8]) -> BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (k, v) = text.split_once('=')?;
            (!k.is_empty() && !SHELL_OWN.contains(&k)).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Quotes a path for the shell script.
fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

enum Outcome {
    Succeeded,
    Failed(CommandFailure),
    Interrupted,
}

/// A running build: the shell's state between commands and the process groups it started.
pub struct Build {
    /// The process's runtime: it waits for the commands and listens for Ctrl-C and SIGTERM.
    rt: tokio::runtime::Handle,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    program: String,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    succeeding: bool,
    groups: Vec<Pid>,
    log: Log,
}

impl Build {
    /// Prepares a build in `src_dir` with the given starting environment. `rt` must not be the
    /// runtime of the calling thread: the build blocks on it.
    pub fn start(
        rt: &tokio::runtime::Handle,
        shell: Shell,
        src_dir: &Path,
        env: BTreeMap<String, String>,
        log: Log,
    ) -> Result<Build, RunError> {
        let rt = rt.clone();
        let (interrupt, terminate) = {
            let _guard = rt.enter();
            (
                signal(SignalKind::interrupt()).map_err(RunError::Setup)?,
                signal(SignalKind::terminate()).map_err(RunError::Setup)?,
            )
        };
        let dir = tempfile::Builder::new()
            .prefix("cutover-buildspec-")
            .tempdir()
            .map_err(RunError::Setup)?;
        let build = Build {
            rt,
            interrupt,
            terminate,
            program: shell.program().to_string(),
            dir,
            env,
            cwd: src_dir.to_path_buf(),
            succeeding: true,
            groups: Vec::new(),
            log,
        };
        build.write(&build.path("wrapper.sh"), &build.wrapper())?;
        Ok(build)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, path: &Path, text: &str) -> Result<(), RunError> {
        std::fs::write(path, text).map_err(|source| RunError::State {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The script each shell runs: the command with `set -a` (so that plain assignments carry
    /// over, as in CodeBuild), then the snapshot of variables and directory.
    fn wrapper(&self) -> String {
        format!(
            "set -a\n. {cmd}\n__cutover_status=$?\nset +a\npwd >{cwd} && command -p env -0 >{env}\nexit \"$__cutover_status\"\n",
            cmd = sh_quote(&self.path("command.sh")),
            cwd = sh_quote(&self.path("cwd")),
            env = sh_quote(&self.path("env")),
        )
    }

    /// Runs the phases of the plan, in order, with CodeBuild's transitions.
    pub fn run_phases(&mut self, plan: &Plan) -> Result<BuildReport, RunError> {
        let mut phases = Vec::new();
        let mut aborted = false;
        let mut succeeded = true;
        for phase in &plan.phases {
            let name = phase.kind.log_name();
            if aborted {
                phases.push(PhaseReport {
                    kind: phase.kind,
                    status: PhaseStatus::Skipped,
                    duration: Duration::ZERO,
                    commands_run: 0,
                    failure: None,
                });
                continue;
            }
            self.log.line(format_args!("Entering phase {name}"));
            let start = Instant::now();
            let mut failure: Option<CommandFailure> = None;
            let mut run = 0;
            // `finally` runs even when a command failed; each block stops at its first failure.
            for block in [&phase.commands, &phase.finally] {
                for command in block {
                    self.log.line(format_args!("Running command {command}"));
                    run += 1;
                    match self.command(command)? {
                        Outcome::Succeeded => {}
                        Outcome::Failed(f) => {
                            self.log.line(format_args!(
                                "Command did not exit successfully {} {}",
                                f.command, f.reason
                            ));
                            self.succeeding = false;
                            self.env
                                .insert(ev::CODEBUILD_BUILD_SUCCEEDING.into(), "0".into());
                            failure.get_or_insert(f);
                            break;
                        }
                        Outcome::Interrupted => {
                            self.log
                                .line(format_args!("Phase complete: {name} State: STOPPED"));
                            phases.push(PhaseReport {
                                kind: phase.kind,
                                status: PhaseStatus::Failed,
                                duration: start.elapsed(),
                                commands_run: run,
                                failure: Some(CommandFailure {
                                    command: command.clone(),
                                    exit_code: None,
                                    reason: "interrupted".into(),
                                }),
                            });
                            return Ok(BuildReport {
                                phases,
                                succeeded: false,
                                upload: false,
                                interrupted: true,
                                exported: self.exported(plan),
                            });
                        }
                    }
                }
            }
            let status = if failure.is_some() {
                PhaseStatus::Failed
            } else {
                PhaseStatus::Succeeded
            };
            self.log.line(format_args!(
                "Phase complete: {name} State: {}",
                status.as_str()
            ));
            match &failure {
                Some(f) => self.log.line(format_args!(
                    "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: {}. Reason: {}",
                    f.command, f.reason
                )),
                None => self.log.line("Phase context status code:  Message: "),
            }
            if failure.is_some() {
                succeeded = false;
                if matches!(phase.kind, PhaseKind::Install | PhaseKind::PreBuild)
                    && phase.on_failure == OnFailure::Abort
                {
                    aborted = true;
                }
            }
            phases.push(PhaseReport {
                kind: phase.kind,
                status,
                duration: start.elapsed(),
                commands_run: run,
                failure,
            });
        }
        Ok(BuildReport {
            phases,
            succeeded,
            upload: !aborted,
            interrupted: false,
            exported: self.exported(plan),
        })
    }

    fn exported(&self, plan: &Plan) -> Vec<(String, Option<String>)> {
        plan.exported_variables
            .iter()
            .map(|n| (n.clone(), self.env.get(n).cloned()))
            .collect()
    }

    /// Expands a text as the shell would in the build's final state (`$VAR`, `$(cmd)`), as
    /// CodeBuild expands `artifacts.name`. `Ok(Err(_))` is a failed expansion.
    pub fn expand(&mut self, text: &str) -> Result<Result<String, String>, RunError> {
        let out = self.path("expanded");
        let command = format!(
            "{{ cat <<__CUTOVER_EXPAND__\n{text}\n__CUTOVER_EXPAND__\n}} >{}",
            sh_quote(&out)
        );
        match self.command(&command)? {
            Outcome::Succeeded => {
                let value = std::fs::read_to_string(&out).map_err(|source| RunError::State {
                    path: out.clone(),
                    source,
                })?;
                Ok(Ok(value.strip_suffix('\n').unwrap_or(&value).to_string()))
            }
            Outcome::Failed(f) => Ok(Err(f.reason)),
            Outcome::Interrupted => Ok(Err("interrupted".into())),
        }
    }

    /// Runs one command in a fresh shell from the current snapshot; takes the new snapshot.
    fn command(&mut self, text: &str) -> Result<Outcome, RunError> {
        self.write(&self.path("command.sh"), &format!("{text}\n"))?;
        for f in ["cwd", "env"] {
            let _ = std::fs::remove_file(self.path(f));
        }
        let stderr = || {
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map(Stdio::from)
                .map_err(RunError::Setup)
        };
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg(self.path("wrapper.sh"))
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(stderr()?)
            .stderr(stderr()?)
            .process_group(0);
        // tokio's process driver needs the runtime's context at spawn time.
        let spawned = {
            let _guard = self.rt.enter();
            cmd.spawn()
        };
        let mut child = match spawned {
            Ok(c) => c,
            Err(_) if !self.cwd.is_dir() => {
                return Ok(Outcome::Failed(CommandFailure {
                    command: text.to_string(),
                    exit_code: None,
                    reason: format!(
                        "the working directory `{}` no longer exists",
                        self.cwd.display()
                    ),
                }))
            }
            Err(source) => {
                return Err(RunError::Spawn {
                    program: self.program.clone(),
                    source,
                })
            }
        };
        let group = child.id().and_then(|id| Pid::from_raw(id as i32));
        if let Some(g) = group {
            self.groups.push(g);
        }
        let Build {
            rt,
            interrupt,
            terminate,
            ..
        } = self;
        let waited = rt.block_on(async {
            tokio::select! {
                status = child.wait() => Some(status),
                _ = interrupt.recv() => None,
                _ = terminate.recv() => None,
            }
        });
        let status = match waited {
            Some(status) => status.map_err(RunError::Setup)?,
            None => {
                if let Some(g) = group {
                    let _ = kill_process_group(g, Signal::INT);
                    let stopped = rt.block_on(async {
                        tokio::time::timeout(Duration::from_secs(3), child.wait()).await
                    });
                    if stopped.is_err() {
                        let _ = kill_process_group(g, Signal::KILL);
                        let _ = rt.block_on(child.wait());
                    }
                }
                return Ok(Outcome::Interrupted);
            }
        };
        self.take_snapshot();
        self.env.insert(
            ev::CODEBUILD_BUILD_SUCCEEDING.into(),
            if self.succeeding { "1" } else { "0" }.into(),
        );
        if status.success() {
            return Ok(Outcome::Succeeded);
        }
        let reason = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("signal: {sig}"),
            (None, None) => "unknown exit status".to_string(),
        };
        Ok(Outcome::Failed(CommandFailure {
            command: text.to_string(),
            exit_code: status.code(),
            reason,
        }))
    }

    /// Takes the state the command's shell left; none when it exited early (`exit` in a command).
    fn take_snapshot(&mut self) {
        let (Ok(cwd), Ok(env)) = (
            std::fs::read_to_string(self.path("cwd")),
            std::fs::read(self.path("env")),
        ) else {
            return;
        };
        let cwd = cwd.strip_suffix('\n').unwrap_or(&cwd);
        if !cwd.is_empty() {
            self.cwd = PathBuf::from(cwd);
        }
        self.env = parse_env_snapshot(&env);
    }
}

impl Drop for Build {
    /// Stops what the commands left running in the background (their process groups).
    fn drop(&mut self) {
        for g in &self.groups {
            if test_kill_process_group(*g).is_ok() {
                let _ = kill_process_group(*g, Signal::TERM);
            }
        }
    }
}

/// CodeBuild's log time, `2024/05/01 12:00:00.123456`, in UTC.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    // `2024-05-01T12:00:00Z` (a whole second has no fraction); empty after the year 9999.
    let rfc3339 = DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let utc = rfc3339
        .trim_end_matches('Z')
        .replace('-', "/")
        .replacen('T', " ", 1);
    format!("{utc}.{:06}", d.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_layers_in_codebuilds_order() {
        let machine = vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("A".to_string(), "machine".to_string()),
            ("CODEBUILD_SRC_DIR".to_string(), "/outer".to_string()),
        ];
        let env = initial_env(
            machine,
            &[("A".into(), "spec".into()), ("B".into(), "spec".into())],
            &[("B".into(), "flag".into())],
            &[("CODEBUILD_BUILD_NUMBER".into(), "7".into())],
        );
        assert_eq!(env["A"], "spec");
        assert_eq!(env["B"], "flag");
        assert_eq!(env["PATH"], "/bin");
        assert!(!env.contains_key("CODEBUILD_SRC_DIR"));
        assert_eq!(env["CODEBUILD_BUILD_NUMBER"], "7");
    }

    #[test]
    fn snapshots_drop_the_shells_own_variables() {
        let env = parse_env_snapshot(
            b"A=1\0B=x=y\nz\0_=/usr/bin/env\0SHLVL=2\0PWD=/x\0__cutover_status=0\0",
        );
        assert_eq!(env.len(), 2);
        assert_eq!(env["B"], "x=y\nz");
    }

    #[test]
    fn timestamps_are_utc_in_codebuilds_format() {
        let t = UNIX_EPOCH + Duration::from_micros(1_709_637_072_123_456);
        assert_eq!(timestamp(t), "2024/03/05 11:11:12.123456");
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00.000000");
    }
}
