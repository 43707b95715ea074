//! `cutover buildspec run`'s flags resolved into [`Options`], with the variables CodeBuild gives a
//! build (`CODEBUILD_BUILD_ID`, `CODEBUILD_SRC_DIR`, ...) as they would be for this one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::buildspec::{DEFAULT_FILE, RESERVED_PREFIX};
use crate::cli::BuildspecRunArgs;
use crate::env_vars as ev;
use crate::output::display_path;

/// The region when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The account in `CODEBUILD_BUILD_ARN`: a local build belongs to none.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Where the zips go without `--out`, relative to the current directory.
pub const DEFAULT_OUT: &str = "target/buildspec";

/// A flag that cannot be used, and why (a usage error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(String);

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
    /// No buildspec path was given: `file` is the default one in the source directory.
    pub default_file: bool,
}

impl Options {
    /// Relative paths are taken from `cwd`; `machine` is the process environment (for the
    /// region); `head` reads the git commit of a directory; `now` is the build's start.
    pub fn resolve(
        cwd: &Path,
        args: &BuildspecRunArgs,
        machine: &[(String, String)],
        head: impl Fn(&Path) -> Option<String>,
        now: SystemTime,
    ) -> Result<Options, OptionsError> {
        let usage = OptionsError;
        let src = cwd.join(args.src.as_deref().unwrap_or(Path::new(".")));
        let src = src
            .canonicalize()
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| usage(format!("--src `{}` is not a directory", src.display())))?;
        let file = match &args.file {
            Some(f) => cwd.join(f),
            None => src.join(DEFAULT_FILE),
        };
        let display = display_path(&file, cwd);
        let out = cwd.join(args.out.as_deref().unwrap_or(Path::new(DEFAULT_OUT)));

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
            default_file: args.file.is_none(),
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
pub fn git_head(dir: &Path) -> Option<String> {
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

/// The process environment, as the build's machine environment.
pub fn machine_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
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
}
