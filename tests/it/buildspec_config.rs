//! `cutover buildspec run` on buildspecs it must refuse (exit 2, the message naming the file, the
//! key and the line) or run with a warning; never a panic.
#![allow(clippy::unwrap_used)]

use crate::support::buildspec::{run, sandbox, summary};
use crate::support::{repo_path, Sandbox};

#[test]
fn a_codebuild_prefixed_variable_is_refused_with_its_line() {
    let sb = sandbox(
        "version: 0.2\nenv:\n  variables:\n    FINE: 1\n    CODEBUILD_MINE: 2\nphases:\n  build:\n    commands:\n      - touch ran\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("codebuild_prefixed_variable", sb, r);
    assert!(
        !sb.exists("ran"),
        "nothing runs when the buildspec is refused"
    );
}

#[test]
fn a_codebuild_prefixed_env_flag_is_refused() {
    let sb = sandbox("version: 0.2\nphases:\n  build:\n    commands: [true]\n");
    let r = run(&sb, &["--env", "CODEBUILD_BUILD_NUMBER=9"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("codebuild_prefixed_env_flag", sb, r);
    let r = run(&sb, &["--env", "NOEQUALS"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("env_flag_without_value", sb, r);
}

#[test]
fn parameter_store_is_refused_with_a_clear_message_unless_allowed() {
    let text = "version: 0.2\nenv:\n  parameter-store:\n    DB_PASSWORD: /app/db/password\nphases:\n  build:\n    commands:\n      - echo \"[$DB_PASSWORD]\" > pw.txt\n";
    let sb = sandbox(text);
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("parameter_store", sb, r);
    let r = run(&sb, &["--allow-unsupported", "--env", "DB_PASSWORD=local"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("warning: `buildspec.yml` line 3, `env.parameter-store`"),
        "{r:?}"
    );
    assert_eq!(sb.read("pw.txt"), "[local]\n");
}

#[test]
fn secrets_manager_and_batch_are_refused_too() {
    for (key, text) in [
        ("env.secrets-manager", "version: 0.2\nenv:\n  secrets-manager:\n    TOKEN: gh:token\nphases:\n  build:\n    commands: [true]\n"),
        ("batch", "version: 0.2\nbatch:\n  fast-fail: true\nphases:\n  build:\n    commands: [true]\n"),
    ] {
        let sb = sandbox(text);
        let r = run(&sb, &[]);
        assert_eq!(r.code, 2, "{key}: {r:?}");
        crate::assert_run_snapshot!(format!("unsupported_{}", key.replace(['.', '-'], "_")), sb, r);
    }
}

#[test]
fn cache_reports_proxy_and_run_as_are_warnings_and_the_build_runs() {
    let sb = sandbox(
        "version: 0.2\nrun-as: builder\nproxy:\n  logs: yes\nphases:\n  build:\n    commands:\n      - touch ran\nreports:\n  unit:\n    files: [report.xml]\ncache:\n  paths:\n    - '/root/.m2/**/*'\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(sb.exists("ran"));
    for key in ["run-as", "proxy", "reports", "cache"] {
        assert!(
            r.stderr.contains("warning: `buildspec.yml` line")
                && r.stderr.contains(&format!(", `{key}`: not")),
            "{key}: {r:?}"
        );
    }
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let sb = sandbox(
        "version: 0.2\nphases:\n  build:\n    commands: [true]\nartefacts:\n  files: ['**/*']\n",
    );
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("unknown_top_level_key", sb, r);
    let sb = sandbox("version: 0.2\nphases:\n  pre-build:\n    commands: [true]\n");
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("unknown_phase", sb, r);
}

#[test]
fn version_0_1_is_refused_as_deprecated_with_its_line() {
    let sb = sandbox("# old\nversion: 0.1\nphases:\n  build:\n    commands: [true]\n");
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("version_0_1", sb, r);
}

#[test]
fn yaml_that_is_not_a_buildspec_mapping_is_a_usage_error_never_a_panic() {
    for text in [
        "",
        "just a string\n",
        "- version: 0.2\n",
        "version: 0.2\nphases: [\n",
        "version: 0.2\n",
        "version: 0.2\nphases: 3\n",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n",
        "version: 0.2\nphases:\n  build:\n    commands: echo\n",
        "\u{0}\u{1}binary",
        "version: 0.2\nphases:\n  build: {commands: [true]}\nartifacts:\n  files: []\n",
        "version: 0.2\nphases:\n  build:\n    commands: [true]\nartifacts:\n  files: ['../outside']\n",
    ] {
        let r = run(&sandbox(text), &[]);
        assert_eq!(r.code, 2, "{text:?}: {r:?}");
        assert!(r.stderr.starts_with("error: `buildspec.yml`"), "{text:?}: {r:?}");
        assert!(!r.stderr.contains("panicked"), "{text:?}: {r:?}");
    }
}

#[test]
fn a_missing_buildspec_is_a_usage_error_with_a_hint() {
    let sb = Sandbox::empty();
    let r = run(&sb, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("missing_buildspec", sb, r);
}

#[test]
fn a_buildspec_elsewhere_runs_in_the_source_directory() {
    let sb = Sandbox::empty();
    sb.write(
        "ci/build.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - pwd > where.txt\n",
    );
    sb.write("app/.keep", "");
    let r = run(&sb, &["ci/build.yml", "--src", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let app = sb.path().join("app").canonicalize().unwrap();
    assert_eq!(sb.read("app/where.txt"), format!("{}\n", app.display()));
    assert_eq!(summary(&r).buildspec, "ci/build.yml");
}

#[test]
fn the_repositorys_own_buildspec_is_accepted() {
    // Parsed and planned only: --src points at an empty directory and the commands would need AWS.
    let text = std::fs::read_to_string(repo_path("buildspec/buildspec.yml")).unwrap();
    let parsed = cutover::buildspec::parse(&text, "buildspec/buildspec.yml").unwrap();
    let plan = cutover::buildspec::plan(&parsed, &text, "buildspec/buildspec.yml", false).unwrap();
    assert_eq!(
        plan.exported_variables,
        ["IMAGE_URI", "IMAGE_DIGEST", "IMAGE_TAG"]
    );
    assert_eq!(plan.artifacts[0].base_directory.as_deref(), Some("out"));
    assert!(plan.artifacts[0].discard_paths);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}
