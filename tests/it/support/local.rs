//! The `cutover local` parts: the sample-app images scripts/test pushes to the plain registry
//! (`CUTOVER_TEST_SAMPLE_IMAGE_V1`/`_V2`), a project with fast `[local]` settings, the artifact
//! set of an image, the deploy report parsed back strictly, and a guard that runs
//! `cutover local down` whatever the test did.

use std::process::Command;
use std::time::Duration;

use cutover::local::{DeployOutcome, Removed, Status};

use super::{require_env, Run, Sandbox};

/// A bound on one deploy of the fast settings, against a hang.
pub const LIMIT: Duration = Duration::from_secs(180);

pub fn image_v1() -> String {
    require_env("CUTOVER_TEST_SAMPLE_IMAGE_V1")
}

pub fn image_v2() -> String {
    require_env("CUTOVER_TEST_SAMPLE_IMAGE_V2")
}

/// The target groups' health check every 100 ms, a second for a CodeDeploy minute, a short
/// drain, and green given 20 s to be healthy.
pub const FAST: &str = r#"
[local]
minute = "1s"
deregistration_delay = "1s"
ready_timeout = "20s"

[local.health_check]
interval = "100ms"
timeout = "1s"
"#;

/// The sample project (cutover.toml, ecs/taskdef.json) with [`FAST`] appended.
pub fn project() -> Sandbox {
    let sb = Sandbox::sample();
    let toml = sb.read("cutover.toml");
    sb.write("cutover.toml", &format!("{toml}{FAST}"));
    sb
}

/// Writes the artifact set of `image` to `out/` (`cutover artifacts --image`).
pub fn artifacts(sb: &Sandbox, image: &str) {
    let r = sb.run(&["artifacts", "--image", image]);
    assert_eq!(r.code, 0, "cutover artifacts: {r:?}");
}

/// `cutover --output json local deploy out ARGS` and its report.
pub fn deploy(sb: &Sandbox, args: &[&str]) -> (Run, Option<DeployOutcome>) {
    let mut all = vec!["--output", "json", "local", "deploy", "out"];
    all.extend_from_slice(args);
    let r = sb.spawn(&all).wait(LIMIT);
    let outcome = outcome(&r);
    (r, outcome)
}

/// The report on stdout, parsed strictly: a deployment ran (exit 0, 1, 3 or 130), else `None`.
pub fn outcome(r: &Run) -> Option<DeployOutcome> {
    if ![0, 1, 3, 130].contains(&r.code) || !r.stdout.trim_start().starts_with('{') {
        return None;
    }
    Some(
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("the deploy report does not parse ({e}): {r:?}")),
    )
}

pub fn status(sb: &Sandbox) -> Status {
    let r = sb.run(&["--output", "json", "local", "status"]);
    assert_eq!(r.code, 0, "local status: {r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("status JSON ({e}): {r:?}"))
}

pub fn down(sb: &Sandbox) -> Removed {
    let r = sb.run(&["--output", "json", "local", "down"]);
    assert_eq!(r.code, 0, "local down: {r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("down JSON ({e}): {r:?}"))
}

/// Runs `cutover local down` in the sandbox when dropped, so no test leaves a service behind.
pub struct Down<'a>(pub &'a Sandbox);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["local", "down"]);
    }
}

/// The containers and networks Docker still has with `label`.
pub fn labelled(kind: &str, label: &str) -> Vec<String> {
    let mut cmd = Command::new("docker");
    if kind == "network" {
        cmd.args(["network", "ls"]);
    } else {
        cmd.args(["ps", "--all"]);
    }
    let out = cmd
        .args(["--quiet", "--filter", &format!("label={label}")])
        .output()
        .expect("run docker");
    assert!(out.status.success(), "docker {kind} ls: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One `GET` of the sample app's `/version` through a listener: the version, or `None`.
pub fn version_at(url: &str) -> Option<String> {
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().ok()?;
    let (status, body) = cutover_get(addr, "/version")?;
    (status == 200).then(|| cutover::rehearse::backends::parse_version(&body))?
}

fn cutover_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The probe ran, saw no failure, and production answered exactly `versions`, in order.
pub fn assert_probe(o: &DeployOutcome, versions: &[&str]) {
    let p = o.probe.as_ref().expect("the probe ran");
    assert!(p.summary.total > 0, "the probe recorded nothing");
    assert_eq!(p.summary.failed, 0, "failed requests: {:?}", p.failures);
    assert!(p.failures.is_empty());
    assert_eq!(
        p.versions, versions,
        "versions the production listener answered"
    );
    assert!(p.svg_file.is_file() && p.records_file.is_file());
}
