//! `cutover hooks install`: a git pre-push hook that runs the local dry-run and stops a push whose
//! artifacts would fail the Deploy stage, printing the validator's report.

use std::path::{Path, PathBuf};

/// Marks a hook file as cutover's, so a re-install may replace it and another hook is kept.
pub const MARKER: &str = "# installed by `cutover hooks install`";

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{0}` is not inside a git repository\n  hint: run it in the checkout that holds cutover.toml")]
    NotARepository(PathBuf),
    #[error("`{0}` exists and was not installed by cutover\n  hint: move it aside, or pass --force to replace it")]
    Exists(PathBuf),
    #[error("writing `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The hook script. `binary` is the cutover to run; `config` the config file, if not the default.
pub fn script(binary: &Path, config: Option<&Path>) -> String {
    let config_arg = config
        .map(|c| format!(" --config {}", shell_quote(&c.display().to_string())))
        .unwrap_or_default();
    format!(
        r#"#!/bin/sh
{MARKER}
# Runs the cutover dry-run before every push; a push whose artifacts would fail the Deploy stage
# is stopped with the validator's report. Skip once with `git push --no-verify`.
out="$(git rev-parse --git-dir)/cutover-pre-push"
cutover={bin}
if ! [ -x "$cutover" ]; then cutover=cutover; fi
"$cutover" --quiet{config_arg} dry-run --out "$out"
status=$?
case $status in
  0) ;;
  1) echo "cutover: push stopped: the artifacts would fail the Deploy stage (exit 1); see above" >&2
     exit 1 ;;
  *) echo "cutover: push stopped: the dry-run could not check the artifacts (exit $status); see above" >&2
     exit 1 ;;
esac
"#,
        bin = shell_quote(&binary.display().to_string()),
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Installs the pre-push hook of the repository at or above `cwd`; returns its path.
pub fn install(
    cwd: &Path,
    binary: &Path,
    config: Option<&Path>,
    force: bool,
) -> Result<PathBuf, HookError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(["rev-parse", "--git-path", "hooks"])
        .output()
        .map_err(|source| HookError::Io {
            path: cwd.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(HookError::NotARepository(cwd.to_path_buf()));
    }
    let hooks = cwd.join(String::from_utf8_lossy(&out.stdout).trim());
    let path = hooks.join("pre-push");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.contains(MARKER) && !force {
            return Err(HookError::Exists(path));
        }
    }
    let io = |source| HookError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&hooks).map_err(io)?;
    std::fs::write(&path, script(binary, config)).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    Ok(path)
}
