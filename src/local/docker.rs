//! The Docker CLI as the local engine uses it: run, inspect, wait, exec, stop, remove, logs, networks,
//! and the pause image's import. Every call is bounded by the CLI's own behaviour; failures carry
//! the command (without values: variables are passed through the CLI's environment) and its
//! stderr.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use super::LocalError;

/// Labels on everything the engine starts.
pub const SERVICE_LABEL: &str = "cutover.local.service";
pub const REVISION_LABEL: &str = "cutover.local.revision";
pub const CONTAINER_LABEL: &str = "cutover.local.container";
pub const TASK_LABEL: &str = "cutover.local.task";

/// The Docker CLI.
#[derive(Debug, Clone)]
pub struct Docker {
    pub program: PathBuf,
}

/// A container's state, from `docker inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub status: String,
    pub exit_code: i32,
}

impl State {
    pub fn exited(&self) -> bool {
        matches!(self.status.as_str(), "exited" | "dead")
    }
}

impl Docker {
    /// Runs `docker ARGS` with `envs` added to the CLI's environment (for `-e NAME`), optional
    /// `stdin` bytes, and returns stdout.
    pub async fn run_with(
        &self,
        args: &[String],
        envs: &[(String, String)],
        stdin: Option<&[u8]>,
    ) -> Result<String, LocalError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let described = || format!("docker {}", args.join(" "));
        let mut child = cmd.spawn().map_err(|source| LocalError::DockerMissing {
            program: self.program.clone(),
            source,
        })?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(bytes).await;
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| LocalError::DockerMissing {
                program: self.program.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(LocalError::Docker {
                command: described(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    pub async fn run(&self, args: &[&str]) -> Result<String, LocalError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run_with(&args, &[], None).await
    }

    /// `docker wait ID`, left running: it ends when the container stops (at once when it has
    /// stopped or is gone). Killed when dropped.
    pub fn spawn_wait(&self, id: &str) -> std::io::Result<tokio::process::Child> {
        Command::new(&self.program)
            .args(["wait", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    }

    /// The states of `ids` (one `docker inspect`); a container that is gone is left out.
    pub async fn states(&self, ids: &[&str]) -> Result<Vec<State>, LocalError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.Id}} {{.State.Status}} {{.State.ExitCode}}",
        ];
        args.extend_from_slice(ids);
        // A missing container makes inspect fail but still print the others.
        let out = match self.run(&args).await {
            Ok(out) => out,
            Err(LocalError::Docker { .. }) => {
                let mut all = String::new();
                for id in ids {
                    if let Ok(one) = self
                        .run(&[
                            "inspect",
                            "--type",
                            "container",
                            "-f",
                            "{{.Id}} {{.State.Status}} {{.State.ExitCode}}",
                            id,
                        ])
                        .await
                    {
                        all.push_str(&one);
                    }
                }
                all
            }
            Err(e) => return Err(e),
        };
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some(State {
                    id: f.next()?.to_string(),
                    status: f.next()?.to_string(),
                    exit_code: f.next()?.parse().ok()?,
                })
            })
            .collect())
    }

    /// `docker exec` with a timeout: the exit code, or `None` when it timed out or could not run.
    pub async fn exec(&self, id: &str, command: &[String], timeout: Duration) -> Option<i32> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("exec")
            .arg(id)
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(timeout, cmd.status()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// The host address a container's port is published on (`127.0.0.1:PORT`).
    pub async fn published_port(&self, id: &str, port: u16) -> Result<u16, LocalError> {
        let spec = format!("{port}/tcp");
        let out = self.run(&["port", id, &spec]).await?;
        out.lines()
            .filter_map(|l| l.trim().rsplit_once(':'))
            .find_map(|(host, p)| (host == "127.0.0.1").then(|| p.parse().ok()).flatten())
            .ok_or_else(|| LocalError::Docker {
                command: format!("docker port {id} {spec}"),
                stderr: format!(
                    "port {port} is not published on 127.0.0.1: `{}`",
                    out.trim()
                ),
            })
    }

    /// Stops with SIGTERM and `grace` before SIGKILL, as ECS stops a container.
    pub async fn stop(&self, id: &str, grace: Duration) {
        let secs = grace.as_secs().max(1).to_string();
        let _ = self.run(&["stop", "--time", &secs, id]).await;
    }

    pub async fn remove(&self, ids: &[&str]) {
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["rm", "--force", "--volumes"];
        args.extend_from_slice(ids);
        let _ = self.run(&args).await;
    }

    /// Everything labelled as `service`'s: containers (running or not) by id.
    pub async fn labelled_containers(&self, service: &str) -> Result<Vec<String>, LocalError> {
        let filter = format!("label={SERVICE_LABEL}={service}");
        let out = self
            .run(&["ps", "--all", "--quiet", "--no-trunc", "--filter", &filter])
            .await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The containers of one revision of `service`.
    pub async fn revision_containers(
        &self,
        service: &str,
        revision: u32,
    ) -> Result<Vec<String>, LocalError> {
        let s = format!("label={SERVICE_LABEL}={service}");
        let r = format!("label={REVISION_LABEL}={revision}");
        let out = self
            .run(&[
                "ps",
                "--all",
                "--quiet",
                "--no-trunc",
                "--filter",
                &s,
                "--filter",
                &r,
            ])
            .await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    pub async fn labelled_networks(&self, service: &str) -> Result<Vec<String>, LocalError> {
        let filter = format!("label={SERVICE_LABEL}={service}");
        let out = self
            .run(&["network", "ls", "--quiet", "--filter", &filter])
            .await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The container's output (stdout and stderr as Docker keeps them).
    pub async fn logs(&self, id: &str, tail: Option<usize>) -> String {
        let mut cmd = Command::new(&self.program);
        cmd.arg("logs");
        if let Some(n) = tail {
            cmd.args(["--tail", &n.to_string()]);
        }
        cmd.arg(id).stdin(Stdio::null()).kill_on_drop(true);
        match cmd.output().await {
            Ok(out) => {
                let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&out.stderr));
                s
            }
            Err(_) => String::new(),
        }
    }

    /// Makes the pause image unless it is there.
    pub async fn ensure_pause_image(&self) -> Result<(), LocalError> {
        if self
            .run(&["image", "inspect", super::pause::IMAGE])
            .await
            .is_ok()
        {
            return Ok(());
        }
        let tar = super::pause::tarball("pause", &super::pause::program());
        let args: Vec<String> = [
            "import",
            "--change",
            r#"ENTRYPOINT ["/pause"]"#,
            "-",
            super::pause::IMAGE,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.run_with(&args, &[], Some(&tar)).await.map(|_| ())
    }
}
