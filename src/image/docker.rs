//! The Docker engine, through the docker CLI. Why the CLI and not the Engine API: the CLI already
//! does what a build needs here — it tars the context honouring `.dockerignore`, streams the
//! legacy builder's progress, speaks the registry protocol for push and `manifest inspect`, and
//! uses the user's credential store for non-ECR registries — so cutover stays small and behaves
//! exactly like the `docker build && docker push` it replaces. Credentials for ECR go into a
//! private `DOCKER_CONFIG` directory (see [`super::auth`]), never into argv.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::secret::Redactor;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot run `docker`: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the Docker engine is not reachable: {0}\n  hint: start the Docker daemon, or check DOCKER_HOST and that this user may use it")]
    EngineDown(String),
    #[error("`docker {command}` failed (exit {code}):\n{tail}")]
    Failed {
        command: String,
        code: i32,
        tail: String,
    },
}

/// What a finished docker command printed (secrets already scrubbed).
#[derive(Debug, Clone)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs docker CLI commands with an optional private config directory.
#[derive(Debug, Clone)]
pub struct Docker {
    pub config_dir: Option<PathBuf>,
    pub redactor: Redactor,
}

impl Docker {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
        if let Some(dir) = &self.config_dir {
            cmd.env("DOCKER_CONFIG", dir);
            // Podman's `docker` reads and writes credentials here instead of DOCKER_CONFIG.
            cmd.env("REGISTRY_AUTH_FILE", dir.join("config.json"));
        }
        // The legacy builder is the one every engine has; BuildKit needs the buildx plugin.
        cmd.env("DOCKER_BUILDKIT", "0");
        cmd
    }

    /// A finished command's exit code and output, secrets scrubbed.
    fn finished(&self, out: &std::process::Output) -> Finished {
        Finished {
            code: out.status.code().unwrap_or(-1),
            stdout: self.redactor.clean(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.redactor.clean(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Runs a command to completion, capturing its output.
    pub async fn output(&self, args: &[&str]) -> Result<Finished, DockerError> {
        let out = self
            .command(args)
            .output()
            .await
            .map_err(DockerError::Spawn)?;
        Ok(self.finished(&out))
    }

    /// Like [`Docker::output`], but a non-zero exit is an error carrying the output's tail.
    pub async fn checked(&self, args: &[&str]) -> Result<Finished, DockerError> {
        let f = self.output(args).await?;
        if f.code != 0 {
            return Err(DockerError::Failed {
                command: args.first().copied().unwrap_or_default().to_string(),
                code: f.code,
                tail: tail(&format!("{}{}", f.stdout, f.stderr), 30),
            });
        }
        Ok(f)
    }

    /// Runs a command, handing each output line (stdout and stderr, scrubbed) to `on_line` as it
    /// comes; returns everything it printed.
    pub async fn streamed(
        &self,
        args: &[&str],
        mut on_line: impl FnMut(&str),
    ) -> Result<Finished, DockerError> {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(DockerError::Spawn)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send((false, l));
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send((true, l));
                }
            });
        }
        drop(tx);
        let (mut stdout, mut stderr) = (String::new(), String::new());
        while let Some((is_err, line)) = rx.recv().await {
            let line = self.redactor.clean(&line);
            on_line(&line);
            let buf = if is_err { &mut stderr } else { &mut stdout };
            buf.push_str(&line);
            buf.push('\n');
        }
        let status = child.wait().await.map_err(DockerError::Spawn)?;
        Ok(Finished {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    /// `docker login --password-stdin`: the engine checks the credentials against the registry
    /// (and the private config gets them again). The password goes through a pipe, never argv.
    pub async fn login(
        &self,
        host: &str,
        user: &str,
        password: &crate::secret::Secret,
    ) -> Result<Finished, DockerError> {
        use tokio::io::AsyncWriteExt as _;
        let mut child = self
            .command(&["login", "--username", user, "--password-stdin", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(DockerError::Spawn)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error means docker exited early; its output says why.
            let _ = stdin.write_all(password.expose().as_bytes()).await;
        }
        let out = child.wait_with_output().await.map_err(DockerError::Spawn)?;
        Ok(self.finished(&out))
    }

    /// The engine's version, or [`DockerError::EngineDown`].
    pub async fn engine_version(&self) -> Result<String, DockerError> {
        let f = self
            .output(&["version", "--format", "{{.Server.Version}}"])
            .await?;
        if f.code != 0 || f.stdout.trim().is_empty() {
            return Err(DockerError::EngineDown(first_line(&f.stderr)));
        }
        Ok(f.stdout.trim().to_string())
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}
