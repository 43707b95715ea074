//! `cutover build` against the machine's Docker engine and real registries on 127.0.0.1 (started
//! by scripts/test: a plain one and one with htpasswd basic auth), with the sample app's offline
//! base images, and moto for the ECR token. Registry digests are read back with skopeo, an
//! independent client. Fails (never skips) when the services are absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Run, Sandbox};
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with ./scripts/test, which starts the registries and makes the base images"))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=cutover-test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git checkout holding the repository's sample (cutover.toml, the taskdef, sample-app/) with
/// the image repository pointed at `repository`.
fn project(repository: &str) -> Sandbox {
    let sb = Sandbox::empty();
    sb.copy_from_repo("cutover.toml");
    sb.copy_from_repo("ecs/taskdef.json");
    for f in [
        "sample-app/Cargo.toml",
        "sample-app/Dockerfile",
        "sample-app/.dockerignore",
    ] {
        sb.copy_from_repo(f);
    }
    for entry in std::fs::read_dir(common::repo_path("sample-app/src")).unwrap() {
        let name = entry.unwrap().file_name();
        sb.copy_from_repo(&format!("sample-app/src/{}", name.to_string_lossy()));
    }
    sb.replace(
        "cutover.toml",
        "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app",
        repository,
    );
    git(sb.path(), &["init", "-q"]);
    commit(&sb, "initial");
    sb
}

fn commit(sb: &Sandbox, message: &str) -> String {
    git(sb.path(), &["add", "-A"]);
    git(sb.path(), &["commit", "-q", "--allow-empty", "-m", message]);
    git(sb.path(), &["rev-parse", "--short=7", "HEAD"])
}

fn build(sb: &Sandbox, extra: &[&str]) -> Run {
    let builder = format!("BUILDER_IMAGE={}", env("CUTOVER_TEST_BUILDER_IMAGE"));
    let runtime = format!("RUNTIME_IMAGE={}", env("CUTOVER_TEST_RUNTIME_IMAGE"));
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

/// The raw manifest the registry holds for `reference`, read with skopeo.
fn registry_manifest(reference: &str, creds: Option<(&str, &str)>) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--raw"]);
    if let Some((u, p)) = creds {
        cmd.arg("--creds").arg(format!("{u}:{p}"));
    }
    let out = cmd
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The manifest digest the registry holds for `reference`: the sha256 of its raw bytes.
fn registry_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let raw = registry_manifest(reference, creds);
    let hash = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    hash.stdin.as_ref().unwrap().write_all(&raw).unwrap();
    let done = hash.wait_with_output().unwrap();
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&done.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
}

#[test]
fn build_pushes_and_the_artifacts_name_the_registry_digest() {
    let repo = format!("{}/{}", env("CUTOVER_TEST_REGISTRY"), unique("app"));
    let sb = project(&repo);
    let head = git(sb.path(), &["rev-parse", "--short=7", "HEAD"]);
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
            registry_digest(&format!("{repo}:{tag}"), None),
            digest,
            "tag {tag}"
        );
    }
    let detail: Value = serde_json::from_str(&sb.read("out/imageDetail.json")).unwrap();
    assert_eq!(detail["ImageURI"], format!("{repo}@{digest}"));
    assert_eq!(detail["ImageDigest"], digest.as_str());
    // The size is the registry's layers summed, as ECR reports it; read back with skopeo.
    let manifest: Value =
        serde_json::from_slice(&registry_manifest(&format!("{repo}@{digest}"), None)).unwrap();
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
    std::fs::write(sb.path().join("NOTES.md"), "outside the build context\n").unwrap();
    let next = commit(&sb, "docs");
    let third = build(&sb, &[]);
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(json(&third)["skipped_build"], true);
    assert_eq!(registry_digest(&format!("{repo}:{next}"), None), digest);
}

#[test]
fn a_one_line_change_builds_with_the_parent_commit_as_cache() {
    let repo = format!("{}/{}", env("CUTOVER_TEST_REGISTRY"), unique("app"));
    let sb = project(&repo);
    let parent = git(sb.path(), &["rev-parse", "--short=7", "HEAD"]);
    let first = build(&sb, &[]);
    assert_eq!(first.code, 0, "{first:?}");
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
    assert_ne!(v["digest"], json(&first)["digest"]);
    assert!(second.stderr.contains("steps from cache"), "{second:?}");
}

#[test]
fn no_push_builds_locally_and_names_the_tag() {
    let repo = format!("{}/{}", env("CUTOVER_TEST_REGISTRY"), unique("app"));
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
    let registry = env("CUTOVER_TEST_REGISTRY_AUTH");
    let user = env("CUTOVER_TEST_REGISTRY_USER");
    let password = env("CUTOVER_TEST_REGISTRY_PASSWORD");
    let repo = format!("{registry}/{}", unique("app"));

    let wrong = "not-the-password-4711";
    let sb = project(&repo)
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

    let sb = project(&repo)
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
        registry_digest(
            &format!("{repo}:{}", json(&r)["tag"].as_str().unwrap()),
            Some((&user, &password))
        ),
        digest
    );
}

#[test]
fn the_users_docker_credentials_are_used_for_other_registries() {
    let registry = env("CUTOVER_TEST_REGISTRY_AUTH");
    let auth = {
        let raw = format!(
            "{}:{}",
            env("CUTOVER_TEST_REGISTRY_USER"),
            env("CUTOVER_TEST_REGISTRY_PASSWORD")
        );
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
    let sb = project(&format!("{registry}/{}", unique("app")));
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = project(&format!("127.0.0.1:{port}/{}", unique("app")));
    let r = build(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("not reachable"), "{r:?}");
    assert!(!sb.exists("out"));
}

#[test]
fn registry_stopping_before_the_push_fails_cleanly() {
    let bin = env("CUTOVER_TEST_DOCKER_REGISTRY");
    let sb0 = Sandbox::empty();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = sb0.path().join("data");
    sb0.write(
        "registry.yml",
        &format!("version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n", data.display()),
    );
    let mut registry = Command::new(bin)
        .args(["serve", sb0.path().join("registry.yml").to_str().unwrap()])
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A change nobody built yet, so the build runs; the registry goes away when it starts.
    let sb = project(&format!("127.0.0.1:{port}/{}", unique("app")));
    sb.replace(
        "sample-app/src/routes.rs",
        "//!",
        &format!("//! {}\n//!", unique("nonce")),
    );
    commit(&sb, "unique");
    let builder = format!("BUILDER_IMAGE={}", env("CUTOVER_TEST_BUILDER_IMAGE"));
    let runtime = format!("RUNTIME_IMAGE={}", env("CUTOVER_TEST_RUNTIME_IMAGE"));
    let mut child = sb
        .command(sb.path())
        .args(["build", "--build-arg", &builder, "--build-arg", &runtime])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    use std::io::BufRead as _;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("build: Step 1/") {
            registry.kill().unwrap();
        }
    }
    let status = child.wait().unwrap();
    let _ = registry.kill();
    registry.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{seen}");
    assert!(
        seen.contains("pushing") && seen.contains("failed"),
        "{seen}"
    );
    assert!(!sb.exists("out"));
}

#[test]
fn missing_dockerfile_is_a_config_error() {
    let sb = project(&format!(
        "{}/{}",
        env("CUTOVER_TEST_REGISTRY"),
        unique("app")
    ));
    let r = build(&sb, &["--dockerfile", "nope/Dockerfile"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("nope/Dockerfile"), "{r:?}");
    assert!(!sb.exists("out"));
}

#[test]
fn a_failing_build_step_names_the_step() {
    let sb = project(&format!(
        "{}/{}",
        env("CUTOVER_TEST_REGISTRY"),
        unique("app")
    ));
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
    let repo = format!("{}/{}", env("CUTOVER_TEST_REGISTRY"), unique("app"));
    let sb = project(&repo);
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
    let endpoint = env("CUTOVER_TEST_AWS_ENDPOINT");
    let name = unique("immutable");
    let created = Command::new(env("CUTOVER_TEST_AWS_CLI"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args([
            "ecr",
            "create-repository",
            "--repository-name",
            &name,
            "--image-tag-mutability",
            "IMMUTABLE",
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let sb = project(&format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"
    ));
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let sb = sb
        .env("AWS_ENDPOINT_URL", &endpoint)
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
    let endpoint = env("CUTOVER_TEST_AWS_ENDPOINT");
    let sb = project("123456789012.dkr.ecr.us-east-1.amazonaws.com/sample-app")
        .env("AWS_ENDPOINT_URL", &endpoint);
    let r = build(&sb, &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("GetAuthorizationToken failed"), "{r:?}");
    assert!(r.stderr.contains("hint:"), "{r:?}");
}
