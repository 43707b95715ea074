//! `cutover build` against the machine's Docker engine and real registries on 127.0.0.1 (started
//! by scripts/test: a plain one and one with htpasswd basic auth), with the sample app's offline
//! base images, and moto for the ECR token. Registry digests are read back with skopeo, an
//! independent client. Fails (never skips) when the services are absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::project::{base_image_args, commit, light_project, project};
use crate::support::{aws, registry, unique, Run, Sandbox};

fn build(sb: &Sandbox, extra: &[&str]) -> Run {
    let (builder, runtime) = base_image_args();
    let mut args = vec![
        "build",
        "--output",
        "json",
        "--build-arg",
        &builder,
        "--build-arg",
        &runtime,
    ];
    args.extend_from_slice(extra);
    sb.run(&args)
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {r:?}"))
}

#[test]
fn build_pushes_and_the_artifacts_name_the_registry_digest() {
    let repo = format!("{}/{}", registry::plain(), unique("app"));
    let sb = project(&repo);
    let head = sb.git(&["rev-parse", "--short=7", "HEAD"]);
    let r = build(&sb, &["--tag", "release-1"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["tag"], head.as_str(), "the primary tag is the commit");
    assert_eq!(v["skipped_build"], false);
    let digest = v["digest"].as_str().unwrap().to_string();
    for tag in [
        head.as_str(),
        v["content_tag"].as_str().unwrap(),
        "release-1",
    ] {
        assert_eq!(
            registry::digest(&format!("{repo}:{tag}"), None),
            digest,
            "tag {tag}"
        );
    }
    let detail: Value = serde_json::from_str(&sb.read("out/imageDetail.json")).unwrap();
    assert_eq!(detail["ImageURI"], format!("{repo}@{digest}"));
    assert_eq!(detail["ImageDigest"], digest.as_str());
    // The size is the registry's layers summed, as ECR reports it; read back with skopeo.
    let manifest: Value =
        serde_json::from_slice(&registry::manifest(&format!("{repo}@{digest}"), None)).unwrap();
    let layers: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    assert!(layers > 0);
    assert_eq!(detail["ImageSizeInBytes"], layers.to_string().as_str());
    let pushed_at = detail["ImagePushedAt"].as_str().expect("ImagePushedAt");
    assert!(
        pushed_at.contains(" UTC 20") && pushed_at.len() == "Mon Jan 21 20:04:00 UTC 2019".len(),
        "{pushed_at}"
    );
    let defs: Value = serde_json::from_str(&sb.read("out/imagedefinitions.json")).unwrap();
    assert_eq!(defs[0]["imageUri"], detail["ImageURI"]);
    assert_eq!(sb.run(&["validate", "out"]).code, 0);

    // The same source again: nothing is built, the artifacts are the same.
    let again = build(&sb, &[]);
    assert_eq!(again.code, 0, "{again:?}");
    let v2 = json(&again);
    assert_eq!(v2["skipped_build"], true, "{again:?}");
    assert_eq!(v2["digest"], digest.as_str());
    let detail2: Value = serde_json::from_str(&sb.read("out/imageDetail.json")).unwrap();
    assert_eq!(detail2["ImageSizeInBytes"], detail["ImageSizeInBytes"]);
    assert!(
        detail2.get("ImagePushedAt").is_none(),
        "nothing was pushed by this run, so no push time is claimed: {detail2}"
    );
    assert!(
        !again.stderr.contains("Step "),
        "no build step may run: {again:?}"
    );

    // A new commit with the same content: the commit tag is added, still no build.
    sb.write("NOTES.md", "outside the build context\n");
    let next = commit(&sb, "docs");
    let third = build(&sb, &[]);
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(json(&third)["skipped_build"], true);
    assert_eq!(registry::digest(&format!("{repo}:{next}"), None), digest);
}

#[test]
fn a_one_line_change_builds_with_the_parent_commit_as_cache() {
    let repo = format!("{}/{}", registry::plain(), unique("app"));
    let sb = project(&repo);
    let parent = sb.git(&["rev-parse", "--short=7", "HEAD"]);
    let first = build(&sb, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    // Beside the image: the builder stage as a cache image, named by the commit.
    let stage_cache = format!("{repo}:cache-builder-{parent}");
    assert_eq!(
        json(&first)["stage_caches_pushed"],
        serde_json::json!([stage_cache])
    );
    let cached: Value = serde_json::from_slice(&registry::manifest(&stage_cache, None)).unwrap();
    assert!(
        cached["layers"].as_array().unwrap().len() > 1,
        "the stage cache holds the builder stage's layers: {cached}"
    );
    sb.replace(
        "sample-app/src/routes.rs",
        "Response::text(200, \"ok\")",
        "Response::text(200, \"ok!\")",
    );
    commit(&sb, "one line");
    let second = build(&sb, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    let v = json(&second);
    assert_eq!(v["skipped_build"], false);
    assert_eq!(v["cache_from"], format!("{repo}:{parent}"));
    assert_eq!(v["stage_caches"], serde_json::json!([stage_cache]));
    assert_ne!(v["digest"], json(&first)["digest"]);
    // sample-app/Dockerfile: the builder stage's WORKDIR, ENV, ARG and `COPY Cargo.toml` come
    // from the stage cache (4), the runtime stage's USER, ENV, EXPOSE, STOPSIGNAL and ENTRYPOINT
    // from the parent's image (5); `COPY src`, the compile and the binary's COPY run (the parent
    // image alone gave 5).
    assert!(
        second.stderr.contains("built (9 steps from cache)"),
        "{second:?}"
    );
}

#[test]
fn no_push_builds_locally_and_names_the_tag() {
    let repo = format!("{}/{}", registry::plain(), unique("app"));
    let sb = project(&repo);
    let r = build(&sb, &["--no-push"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["pushed"], false);
    assert_eq!(v["digest"], Value::Null);
    let detail: Value = serde_json::from_str(&sb.read("out/imageDetail.json")).unwrap();
    assert_eq!(
        detail["ImageURI"],
        format!("{repo}:{}", v["tag"].as_str().unwrap())
    );
}

#[test]
fn credentials_from_the_environment_and_refused_ones() {
    let (registry, user, password) = registry::with_auth();
    let repo = format!("{registry}/{}", unique("app"));

    let wrong = "not-the-password-4711";
    let sb = light_project(&repo)
        .env("CUTOVER_REGISTRY_USERNAME", &user)
        .env("CUTOVER_REGISTRY_PASSWORD", wrong);
    let r = build(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    // The credentials are checked before the build, not found out at the push.
    assert!(
        r.stderr.contains("refused the credentials") && r.stderr.contains("was refused"),
        "{r:?}"
    );
    assert!(
        !r.stderr.contains("Step "),
        "nothing may be built with refused credentials: {r:?}"
    );
    assert!(
        !r.stderr.contains(wrong) && !r.stdout.contains(wrong),
        "the password must not be printed: {r:?}"
    );
    assert!(!sb.exists("out"), "no artifacts after a failure");

    let sb = light_project(&repo)
        .env("CUTOVER_REGISTRY_USERNAME", &user)
        .env("CUTOVER_REGISTRY_PASSWORD", &password);
    let r = build(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        !r.stderr.contains(&password) && !r.stdout.contains(&password),
        "{r:?}"
    );
    let digest = json(&r)["digest"].as_str().unwrap().to_string();
    assert_eq!(
        registry::digest(
            &format!("{repo}:{}", json(&r)["tag"].as_str().unwrap()),
            Some((&user, &password))
        ),
        digest
    );
}

#[test]
fn the_users_docker_credentials_are_used_for_other_registries() {
    let (registry, user, password) = registry::with_auth();
    let auth = {
        let raw = format!("{user}:{password}");
        let out = Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        out.stdin
            .as_ref()
            .unwrap()
            .write_all(raw.as_bytes())
            .unwrap();
        String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
    };
    let sb = light_project(&format!("{registry}/{}", unique("app")));
    sb.write(
        ".docker/config.json",
        &format!(r#"{{"auths": {{"{registry}": {{"auth": "{auth}"}}}}}}"#),
    );
    let docker_config = sb.path().join(".docker");
    let sb = sb.env("DOCKER_CONFIG", docker_config.to_str().unwrap());
    let r = build(&sb, &[]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn registry_down_is_an_external_failure_with_no_artifacts() {
    let port = registry::free_port();
    let sb = project(&format!("127.0.0.1:{port}/{}", unique("app")));
    let r = build(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("not reachable"), "{r:?}");
    assert!(!sb.exists("out"));
}

#[test]
fn registry_stopping_before_the_push_fails_cleanly() {
    let registry_dir = Sandbox::empty();
    let mut registry = registry::Private::start(&registry_dir);
    // A change nobody built yet, so the build runs; the registry goes away when it starts.
    let sb = project(&format!("{}/{}", registry.addr, unique("app")));
    sb.replace(
        "sample-app/src/routes.rs",
        "//!",
        &format!("//! {}\n//!", unique("nonce")),
    );
    commit(&sb, "unique");
    let (builder, runtime) = base_image_args();
    let child = sb.spawn(&["build", "--build-arg", &builder, "--build-arg", &runtime]);
    child.wait_for_stderr_with("the first build step", |s| {
        s.lines().any(|l| l.starts_with("build: Step 1/"))
    });
    registry.stop();
    let run = child.wait(Duration::from_secs(600));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("pushing") && run.stderr.contains("failed"),
        "{run:?}"
    );
    assert!(!sb.exists("out"));
}

#[test]
fn missing_dockerfile_is_a_config_error() {
    let sb = project(&format!("{}/{}", registry::plain(), unique("app")));
    let r = build(&sb, &["--dockerfile", "nope/Dockerfile"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("missing_dockerfile", sb, r);
    assert!(!sb.exists("out"));
}

#[test]
fn a_failing_build_step_names_the_step() {
    let sb = project(&format!("{}/{}", registry::plain(), unique("app")));
    let program = format!("/no/such/{}", unique("program"));
    sb.write(
        "sample-app/Dockerfile",
        &format!("ARG RUNTIME_IMAGE\nFROM ${{RUNTIME_IMAGE}}\nRUN [\"{program}\"]\n"),
    );
    commit(&sb, "broken");
    let r = build(&sb, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("the image build failed at Step 3/3"),
        "{r:?}"
    );
    assert!(!sb.exists("out"));
    // The failed step's container is removed (--force-rm), not left on the machine.
    let ps = Command::new("docker")
        .args(["ps", "--all", "--no-trunc", "--format", "{{.Command}}"])
        .output()
        .unwrap();
    assert!(ps.status.success());
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains(&program),
        "a container of the failed step is left"
    );
}

#[test]
fn an_existing_immutable_tag_for_other_content_is_refused_before_building() {
    let repo = format!("{}/{}", registry::plain(), unique("app"));
    let sb = light_project(&repo);
    assert_eq!(build(&sb, &["--immutable-tags"]).code, 0);
    let before = sb.read("out/imageDetail.json");
    // Same commit, different content (an uncommitted change): the commit tag is taken.
    sb.replace("sample-app/src/routes.rs", "//!", "//! (uncommitted)\n//!");
    let r = build(&sb, &["--immutable-tags"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("immutable"),
        "{r:?}"
    );
    assert!(
        !r.stderr.contains("Step "),
        "refused before building: {r:?}"
    );
    assert_eq!(
        sb.read("out/imageDetail.json"),
        before,
        "the previous artifacts stay as they were"
    );
}

#[test]
fn ecr_token_comes_from_the_sdk_and_never_shows() {
    let name = unique("immutable");
    let sb = project(&format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"
    ));
    aws::aws_json(
        &Sandbox::empty(),
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            &name,
            "--image-tag-mutability",
            "IMMUTABLE",
        ],
    );
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let sb = sb
        .env("AWS_ENDPOINT_URL", &aws::endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("TMPDIR", tmp.to_str().unwrap());
    let r = build(&sb, &[]);
    // moto hands out the token; the ECR host itself does not exist on this machine.
    assert!(r.stderr.contains("ECR: getting a token"), "{r:?}");
    assert!(
        r.stderr
            .contains("ECR: the repository's tags are immutable"),
        "{r:?}"
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        "{r:?}"
    );
    // moto's token is base64("AWS:123456789012-auth-token").
    for secret in [
        "123456789012-auth-token",
        "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu",
    ] {
        assert!(
            !r.stderr.contains(secret) && !r.stdout.contains(secret),
            "secret printed: {r:?}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(
        left.is_empty(),
        "the private Docker config must be removed: {left:?}"
    );
    assert!(!sb.exists("out"));
}

#[test]
fn ecr_without_credentials_gives_a_hint() {
    let sb = project("123456789012.dkr.ecr.us-east-1.amazonaws.com/sample-app")
        .env("AWS_ENDPOINT_URL", &aws::endpoint());
    let r = build(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("GetAuthorizationToken failed"), "{r:?}");
    assert!(r.stderr.contains("hint:"), "{r:?}");
}
