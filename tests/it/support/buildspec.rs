//! Helpers of the `cutover buildspec run` tests: a sandbox holding one small buildspec, a run
//! with `--output json` parsed back (unknown fields fail, so a renamed field is noticed), and the
//! names inside a zip read back from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Run, Sandbox};

/// The source version the tests pass, so that no run depends on git.
pub const SOURCE_VERSION: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub succeeded: bool,
    pub buildspec: String,
    pub build_id: String,
    pub build_number: u64,
    pub phases: Vec<Phase>,
    pub exported_variables: BTreeMap<String, Option<String>>,
    pub artifacts: Vec<Artifact>,
    pub upload_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub phase: String,
    pub status: String,
    pub duration_ms: u64,
    pub commands: usize,
    pub failed_command: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub id: Option<String>,
    pub zip: String,
    pub files: Vec<String>,
    pub validated: bool,
    pub valid: bool,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub rule: String,
    pub severity: String,
    pub file: String,
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Summary {
    /// `PHASE=STATUS` for each phase, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.phases
            .iter()
            .map(|p| format!("{}={}", p.phase, p.status))
            .collect()
    }
}

/// A sandbox with `buildspec.yml`.
pub fn sandbox(buildspec: &str) -> Sandbox {
    let sb = Sandbox::empty();
    sb.write("buildspec.yml", buildspec);
    sb
}

/// `cutover buildspec run --output json --source-version ... ARGS` in the sandbox.
pub fn run(sb: &Sandbox, args: &[&str]) -> Run {
    let mut all = vec![
        "--output",
        "json",
        "buildspec",
        "run",
        "--source-version",
        SOURCE_VERSION,
    ];
    all.extend_from_slice(args);
    sb.run(&all)
}

/// The summary of a run that got as far as running the build (exit 0 or 1).
pub fn summary(run: &Run) -> Summary {
    assert!(
        run.code == 0 || run.code == 1,
        "the build did not run: {run:?}"
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {run:?}"))
}

/// The file names in a zip, sorted, read back from the zip itself.
pub fn zip_names(path: &Path) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut zip = zip::ZipArchive::new(f).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    names
}

/// One file's contents from a zip.
pub fn zip_file(path: &Path, name: &str) -> String {
    let f = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(f).unwrap();
    let mut entry = zip.by_name(name).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    text
}
