//! The CLI test harness: runs the cutover binary in a temp dir with a scrubbed environment (no AWS
//! credentials or config from the machine) and reads back what it wrote.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Sandbox {
    /// An empty sandbox.
    pub fn empty() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// A sandbox holding the repository's sample settings (cutover.toml, ecs/taskdef.json) and a
    /// small fixed build context in `sample-app/`.
    pub fn sample() -> Self {
        let sb = Self::empty();
        sb.copy_from_repo("cutover.toml");
        sb.copy_from_repo("ecs/taskdef.json");
        sb.write("sample-app/Dockerfile", "FROM scratch\nCOPY app /app\n");
        sb.write("sample-app/app", "binary\n");
        sb
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn copy_from_repo(&self, rel: &str) {
        let to = self.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(REPO).join(rel), to).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) {
        let to = self.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel))
            .unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    /// Edits a file of the sandbox with a string replacement that must apply.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "`{from}` not in {rel}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.path(), args)
    }

    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let out = self.command(cwd).args(args).output().unwrap();
        to_run(out)
    }

    pub fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        let none = self.path().join(".no-aws");
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Names of the files in a directory of the sandbox, sorted, without cutover's marker file.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path().join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != cutover::artifacts::write::MARKER)
            .collect();
        names.sort();
        names
    }
}

pub fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(REPO).join(rel)
}
