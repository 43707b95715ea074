//! `cutover hooks install`: the pre-push hook runs the dry-run and stops a push whose artifacts
//! would fail the Deploy stage. Real git, a real (local, bare) remote.
#![allow(clippy::unwrap_used)]

use crate::support::Sandbox;

fn repo_with_remote() -> Sandbox {
    let sb = Sandbox::sample();
    sb.git(&["init", "-q", "-b", "main"]);
    sb.git(&["init", "-q", "--bare", "remote.git"]);
    sb.write(".gitignore", "remote.git/\nout/\n");
    sb.git(&["remote", "add", "origin", "remote.git"]);
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "-qm", "initial"]);
    sb
}

#[test]
fn the_pre_push_hook_lets_valid_artifacts_through_and_stops_invalid_ones() {
    let sb = repo_with_remote();
    let r = sb.run(&["hooks", "install"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("pre-push"), "{r:?}");

    let push = sb.git_run(&["push", "-q", "origin", "main"]);
    assert_eq!(push.code, 0, "a valid set must push: {push:?}");

    sb.replace(
        "ecs/taskdef.json",
        "\"containerPort\": 8080",
        "\"containerPort\": 9090",
    );
    sb.git(&["commit", "-qam", "wrong port"]);
    let push = sb.git_run(&["push", "-q", "origin", "main"]);
    assert_ne!(push.code, 0, "{push:?}");
    let all = format!("{}{}", push.stdout, push.stderr);
    assert!(all.contains("error[appspec-container-port]"), "{push:?}");
    assert!(all.contains("push stopped"), "{push:?}");
    // The remote still has the first commit only.
    let remote_log = sb.git(&["--git-dir", "remote.git", "log", "--oneline", "main"]);
    assert_eq!(remote_log.lines().count(), 1, "{remote_log}");
}

#[test]
fn an_existing_foreign_hook_is_kept_unless_forced() {
    let sb = repo_with_remote();
    sb.write(".git/hooks/pre-push", "#!/bin/sh\necho mine\n");
    let r = sb.run(&["hooks", "install"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("foreign_hook", sb, r);
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
    crate::assert_run_snapshot!("outside_a_repository", sb, r);
}
