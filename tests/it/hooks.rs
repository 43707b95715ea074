//! `cutover hooks install`: the pre-push hook runs the dry-run and stops a push whose artifacts
//! would fail the Deploy stage. Real git, a real (local, bare) remote.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;

use common::{to_run, Run, Sandbox};

fn git(sb: &Sandbox, args: &[&str]) -> Run {
    let out = Command::new("git")
        .current_dir(sb.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", sb.path())
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    to_run(out)
}

fn repo_with_remote() -> Sandbox {
    let sb = Sandbox::sample();
    assert_eq!(git(&sb, &["init", "-q", "-b", "main"]).code, 0);
    assert_eq!(git(&sb, &["init", "-q", "--bare", "remote.git"]).code, 0);
    std::fs::write(sb.path().join(".gitignore"), "remote.git/\nout/\n").unwrap();
    assert_eq!(git(&sb, &["remote", "add", "origin", "remote.git"]).code, 0);
    assert_eq!(git(&sb, &["add", "-A"]).code, 0);
    assert_eq!(git(&sb, &["commit", "-qm", "initial"]).code, 0);
    sb
}

#[test]
fn the_pre_push_hook_lets_valid_artifacts_through_and_stops_invalid_ones() {
    let sb = repo_with_remote();
    let r = sb.run(&["hooks", "install"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("pre-push"), "{r:?}");

    let push = git(&sb, &["push", "-q", "origin", "main"]);
    assert_eq!(push.code, 0, "a valid set must push: {push:?}");

    sb.replace(
        "ecs/taskdef.json",
        "\"containerPort\": 8080",
        "\"containerPort\": 9090",
    );
    assert_eq!(git(&sb, &["commit", "-qam", "wrong port"]).code, 0);
    let push = git(&sb, &["push", "-q", "origin", "main"]);
    assert_ne!(push.code, 0, "{push:?}");
    let all = format!("{}{}", push.stdout, push.stderr);
    assert!(all.contains("error[appspec-container-port]"), "{push:?}");
    assert!(all.contains("push stopped"), "{push:?}");
    // The remote still has the first commit only.
    let remote_log = Command::new("git")
        .args([
            "--git-dir",
            sb.path().join("remote.git").to_str().unwrap(),
            "log",
            "--oneline",
            "main",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&remote_log.stdout).lines().count(),
        1
    );
}

#[test]
fn an_existing_foreign_hook_is_kept_unless_forced() {
    let sb = repo_with_remote();
    sb.write(".git/hooks/pre-push", "#!/bin/sh\necho mine\n");
    let r = sb.run(&["hooks", "install"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("was not installed by cutover") && r.stderr.contains("--force"),
        "{r:?}"
    );
    assert_eq!(sb.read(".git/hooks/pre-push"), "#!/bin/sh\necho mine\n");
    let r = sb.run(&["hooks", "install", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(sb.read(".git/hooks/pre-push").contains("cutover"));
    // Installing again over our own hook needs no --force.
    assert_eq!(sb.run(&["hooks", "install"]).code, 0);
}

#[test]
fn outside_a_repository_it_says_so() {
    let sb = Sandbox::sample();
    let r = sb.run(&["hooks", "install"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not inside a git repository"), "{r:?}");
}
