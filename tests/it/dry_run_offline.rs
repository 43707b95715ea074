//! `cutover dry-run` never opens a network connection: with `AWS_ENDPOINT_URL` (and the proxy
//! variables) pointing at a listening socket, no connection reaches it, for every way
//! `from_service` can be switched on. `from_service` is refused with exit 2 unless a template
//! file is there to use instead (`--taskdef` or `[taskdef] template`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

use crate::support::Sandbox;

/// A socket that listens but is never accepted from: a connection attempt completes the
/// handshake in the kernel and waits in the backlog, where `accept` finds it afterwards.
struct Recorder(TcpListener);

impl Recorder {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Recorder(l)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }
    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

fn offline(sb: Sandbox, rec: &Recorder) -> Sandbox {
    sb.env("AWS_ENDPOINT_URL", &rec.url())
        .env("HTTPS_PROXY", &rec.url())
        .env("HTTP_PROXY", &rec.url())
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "us-east-1")
}

const REFUSED: &str = "`taskdef.from_service`: a dry-run makes no AWS call, and from_service reads the template from the ECS service\n  hint: pass --taskdef FILE (DescribeTaskDefinition output works) or set [taskdef] template for the dry-run, or run `cutover artifacts --from-service`, which reads the live template\n";

#[test]
fn from_service_by_flag_env_or_file_is_refused_without_a_connection() {
    let rec = Recorder::new();
    // The flag (no template file configured: with one, the dry-run uses it; see below).
    let sb = offline(Sandbox::sample(), &rec);
    sb.replace("cutover.toml", "template = \"ecs/taskdef.json\"", "");
    let r = sb.run(&["dry-run", "--from-service"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("error: flag --from-service (or CUTOVER_FROM_SERVICE): {REFUSED}")
    );
    assert!(!sb.exists("out"), "nothing written");
    // The environment.
    let sb = offline(Sandbox::sample(), &rec).env("CUTOVER_FROM_SERVICE", "true");
    sb.replace("cutover.toml", "template = \"ecs/taskdef.json\"", "");
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("error: flag --from-service (or CUTOVER_FROM_SERVICE): {REFUSED}")
    );
    // cutover.toml, named with its line.
    let sb = offline(Sandbox::sample(), &rec);
    sb.replace(
        "cutover.toml",
        "template = \"ecs/taskdef.json\"",
        "from_service = true",
    );
    let line = sb
        .read("cutover.toml")
        .lines()
        .position(|l| l.starts_with("from_service"))
        .unwrap()
        + 1;
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr, format!("error: cutover.toml:{line}: {REFUSED}"));
    // build --dry-run (what `dry-run --buildspec` runs) refuses it the same way.
    let r = sb.run(&["build", "--dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr, format!("error: cutover.toml:{line}: {REFUSED}"));
    assert_eq!(
        rec.connections(),
        0,
        "dry-run connected to the AWS endpoint"
    );
}

#[test]
fn a_template_file_stands_in_for_the_service_and_nothing_connects() {
    let rec = Recorder::new();
    let sb = offline(Sandbox::sample(), &rec);
    sb.replace(
        "cutover.toml",
        "template = \"ecs/taskdef.json\"",
        "from_service = true",
    );
    let r = sb.run(&["dry-run", "--taskdef", "ecs/taskdef.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        sb.list("out"),
        [
            "appspec.yaml",
            "imageDetail.json",
            "imagedefinitions.json",
            "taskdef.json"
        ]
    );
    // [taskdef] template beside from_service: the dry-run (and the pre-push hook) use the file.
    let sb = offline(Sandbox::sample(), &rec);
    sb.replace(
        "cutover.toml",
        "template = \"ecs/taskdef.json\"",
        "template = \"ecs/taskdef.json\"\nfrom_service = true",
    );
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = sb.run(&["build", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    // A plain dry-run, for comparison, connects to nothing either.
    let sb = offline(Sandbox::sample(), &rec);
    let r = sb.run(&["dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        rec.connections(),
        0,
        "dry-run connected to the AWS endpoint"
    );
}
