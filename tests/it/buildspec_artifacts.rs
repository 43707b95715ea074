//! `cutover buildspec run`: the `artifacts` rules (files globs, base-directory, discard-paths,
//! exclude-paths, name, secondary-artifacts), the zips they give (read back), the no-match
//! failure, and the validator's check of deploy artifacts.
#![allow(clippy::unwrap_used)]

use crate::support::buildspec::{run, sandbox, summary, zip_file, zip_names};
use crate::support::{repo_path, Sandbox};

/// A buildspec whose build writes a small tree, then the given `artifacts` block.
fn with_tree(artifacts: &str) -> Sandbox {
    sandbox(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out/sub out/deeper/down other\n      - echo a > out/a.txt\n      - echo b > out/sub/b.txt\n      - echo c > out/deeper/down/c.json\n      - echo d > other/d.txt\n      - echo note > out/notes.md\n{artifacts}"
    ))
}

#[test]
fn files_globs_are_relative_to_the_source_directory() {
    let sb = with_tree(
        "artifacts:\n  files:\n    - 'out/*.txt'\n    - '**/*.json'\n    - other/d.txt\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let zip = sb.path().join("target/buildspec/primary.zip");
    assert_eq!(
        zip_names(&zip),
        ["other/d.txt", "out/a.txt", "out/deeper/down/c.json"]
    );
    assert_eq!(zip_file(&zip, "out/a.txt"), "a\n");
    let s = summary(&r);
    assert_eq!(s.artifacts.len(), 1);
    assert_eq!(s.artifacts[0].id, None);
    assert_eq!(s.artifacts[0].zip, "target/buildspec/primary.zip");
    assert_eq!(
        s.artifacts[0].files,
        ["other/d.txt", "out/a.txt", "out/deeper/down/c.json"]
    );
    assert!(!s.artifacts[0].validated, "not a deploy artifact");
}

#[test]
fn base_directory_roots_the_artifact() {
    let sb = with_tree("artifacts:\n  files:\n    - '**/*'\n  base-directory: out\n");
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        zip_names(&sb.path().join("target/buildspec/primary.zip")),
        ["a.txt", "deeper/down/c.json", "notes.md", "sub/b.txt"]
    );
}

#[test]
fn discard_paths_flattens_the_files() {
    let sb = with_tree(
        "artifacts:\n  files:\n    - 'out/**/*.txt'\n    - 'out/**/*.json'\n  discard-paths: yes\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        zip_names(&sb.path().join("target/buildspec/primary.zip")),
        ["a.txt", "b.txt", "c.json"]
    );
}

#[test]
fn discard_paths_with_two_files_of_one_name_fails_the_upload() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p x y && echo 1 > x/same.txt && echo 2 > y/same.txt\nartifacts:\n  files:\n    - '*/same.txt'\n  discard-paths: yes\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let s = summary(&r);
    let e = s.upload_error.unwrap();
    assert!(
        e.contains("`x/same.txt` and `y/same.txt` would both be `same.txt`"),
        "{e}"
    );
    assert_eq!(s.phases.last().unwrap().status, "FAILED");
    assert!(!sb.exists("target/buildspec/primary.zip"));
}

#[test]
fn exclude_paths_leave_out_files_and_directories() {
    let sb = with_tree(
        "artifacts:\n  files:\n    - '**/*'\n  base-directory: out\n  exclude-paths:\n    - '*.md'\n    - deeper\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        zip_names(&sb.path().join("target/buildspec/primary.zip")),
        ["a.txt", "sub/b.txt"]
    );
}

#[test]
fn name_names_the_zip_and_is_expanded_by_the_shell() {
    let sb = with_tree(
        "  post_build:\n    commands:\n      - export VERSION=1.2.3\nartifacts:\n  files: out/a.txt\n  name: app-$VERSION-$(echo x)\n",
    );
    let r = run(&sb, &["--out", "dist"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sb.list("dist"), ["app-1.2.3-x.zip"]);
    assert_eq!(summary(&r).artifacts[0].zip, "dist/app-1.2.3-x.zip");
}

#[test]
fn secondary_artifacts_are_packaged_separately() {
    let sb = with_tree(
        "artifacts:\n  files:\n    - out/a.txt\n  secondary-artifacts:\n    DocsOutput:\n      files:\n        - '*.md'\n      base-directory: out\n    other_files:\n      files: ['**/*']\n      base-directory: other\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = sb.path().join("target/buildspec");
    assert_eq!(
        sb.list("target/buildspec"),
        ["DocsOutput.zip", "other_files.zip", "primary.zip"]
    );
    assert_eq!(zip_names(&dir.join("primary.zip")), ["out/a.txt"]);
    assert_eq!(zip_names(&dir.join("DocsOutput.zip")), ["notes.md"]);
    assert_eq!(zip_names(&dir.join("other_files.zip")), ["d.txt"]);
    let ids: Vec<_> = summary(&r).artifacts.into_iter().map(|a| a.id).collect();
    assert_eq!(
        ids,
        [
            None,
            Some("DocsOutput".to_string()),
            Some("other_files".to_string())
        ]
    );
}

#[test]
fn a_files_pattern_that_matches_nothing_fails_the_build() {
    let sb = with_tree("artifacts:\n  files:\n    - out/a.txt\n    - out/missing.txt\n");
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let s = summary(&r);
    assert!(!s.succeeded);
    assert_eq!(
        s.upload_error.as_deref(),
        Some("no matching artifact paths found for `out/missing.txt`")
    );
    assert!(
        r.stderr
            .contains("CLIENT_ERROR Message: no matching artifact paths found"),
        "{r:?}"
    );
    assert!(!sb.exists("target/buildspec/primary.zip"));

    // A directory alone matches no file: the message says how to take its files.
    let r = run(&with_tree("artifacts:\n  files: out\n"), &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(summary(&r)
        .upload_error
        .unwrap()
        .contains("write `out/**/*`"));
}

#[test]
fn a_missing_base_directory_fails_the_build() {
    let r = run(
        &with_tree("artifacts:\n  files: ['**/*']\n  base-directory: dist\n"),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        summary(&r).upload_error.as_deref(),
        Some("no matching base directory path found for `dist`")
    );
}

#[test]
fn the_output_directory_is_not_packaged_into_itself() {
    let sb = with_tree("artifacts:\n  files: ['**/*']\n");
    assert_eq!(run(&sb, &[]).code, 0);
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let names = zip_names(&sb.path().join("target/buildspec/primary.zip"));
    assert!(names.iter().all(|n| !n.starts_with("target/")), "{names:?}");
    assert!(names.contains(&"buildspec.yml".to_string()));
}

/// A buildspec that writes the four deploy files from the valid fixtures into `out/`.
fn deploy_sandbox(taskdef: &str) -> Sandbox {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && cp fixtures/* out/\nartifacts:\n  files:\n    - imageDetail.json\n    - imagedefinitions.json\n    - taskdef.json\n    - appspec.yaml\n  base-directory: out\n  discard-paths: yes\n",
    );
    for f in ["imageDetail.json", "imagedefinitions.json", "appspec.yaml"] {
        let text =
            std::fs::read_to_string(repo_path(&format!("tests/fixtures/valid/{f}"))).unwrap();
        sb.write(&format!("fixtures/{f}"), &text);
    }
    sb.write("fixtures/taskdef.json", taskdef);
    sb
}

fn valid_taskdef() -> String {
    std::fs::read_to_string(repo_path("tests/fixtures/valid/taskdef.json")).unwrap()
}

#[test]
fn a_valid_deploy_artifact_is_validated() {
    let sb = deploy_sandbox(&valid_taskdef());
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let s = summary(&r);
    assert!(s.artifacts[0].validated && s.artifacts[0].valid, "{s:?}");
    assert_eq!(
        zip_names(&sb.path().join("target/buildspec/primary.zip")),
        [
            "appspec.yaml",
            "imageDetail.json",
            "imagedefinitions.json",
            "taskdef.json"
        ]
    );
}

#[test]
fn a_deploy_artifact_with_an_invalid_taskdef_fails_with_the_validators_problem() {
    let broken = valid_taskdef().replace("\"<IMAGE1_NAME>\"", "\"<IMAGE_NAME>\"");
    assert_ne!(broken, valid_taskdef());
    let sb = deploy_sandbox(&broken);
    let r = run(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let s = summary(&r);
    assert!(!s.succeeded);
    let a = &s.artifacts[0];
    assert!(a.validated && !a.valid);
    assert!(
        a.problems
            .iter()
            .any(|p| p.severity == "error" && p.file == "taskdef.json"),
        "{:?}",
        a.problems
    );
    // The build itself succeeded; the zip is written for inspection.
    assert!(s.phases.iter().all(|p| p.status == "SUCCEEDED"));
    assert!(sb.exists("target/buildspec/primary.zip"));

    // Text output prints the problem; --no-validate skips the check.
    let r = sb.run(&["buildspec", "run", "--source-version", "abc"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("target/buildspec/primary.zip: error["),
        "{r:?}"
    );
    assert!(r.stdout.contains("(invalid)"), "{r:?}");
    let r = run(&sb, &["--no-validate"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!summary(&r).artifacts[0].validated);
}
