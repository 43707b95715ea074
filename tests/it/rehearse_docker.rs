//! `cutover rehearse --blue-image/--green-image` on the real Docker engine: the two sample-app
//! builds become tiny images (`docker import` of the binary and the libraries it loads, made
//! here, removed at the end), cut over behind HAProxy with no failed request, and no container
//! is left behind, also when blue is killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::rehearse::*;
use crate::support::Sandbox;

/// An image of `bin` that this test made; removed on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "--force", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Checks the engine, and returns a guard that runs this file's tests one at a time also under
/// plain `cargo test` (nextest has the `rehearse-docker` group): a Docker-mode rehearsal removes
/// the containers of a SIGKILLed one, which one test counts.
fn require_docker() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Docker engine is not reachable: these tests run real containers\n  \
         hint: start dockerd and make sure this user may use it (scripts/test needs it too)"
    );
    guard
}

/// `bin` with its loader and libraries (as `ldd` resolves them here) as a one-layer image.
fn image_of(bin: &Path, version: &str) -> Image {
    static N: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "cutover-rehearse-test/sample-app:{version}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let stage = tempfile::tempdir().unwrap();
    std::fs::copy(bin, stage.path().join("sample-app")).unwrap();
    let ldd = Command::new("ldd").arg(bin).output().expect("run ldd");
    assert!(ldd.status.success(), "ldd {}", bin.display());
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = stage.path().join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // `copy` follows symlinks: the file itself lands at the path the binary asks for.
        std::fs::copy(lib, &to).unwrap_or_else(|e| panic!("copying {lib}: {e}"));
    }
    let mut tar = Command::new("tar")
        .args(["-C", &stage.path().display().to_string(), "-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tar");
    let import = Command::new("docker")
        .args([
            "import",
            "--change",
            r#"ENTRYPOINT ["/sample-app"]"#,
            "--change",
            "USER 65532:65532",
            "-",
            &tag,
        ])
        .stdin(tar.stdout.take().expect("tar's stdout"))
        .output()
        .expect("run docker import");
    assert!(tar.wait().expect("wait for tar").success(), "tar failed");
    assert!(
        import.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    Image(tag)
}

/// Containers that cutover (process `pid`) started and that still exist.
fn leftovers(pid: u32) -> String {
    let out = Command::new("docker")
        .args([
            "ps",
            "--all",
            "--filter",
            &format!("name=cutover-rehearse-.*-{pid}-"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn image_args(dir: &Path, blue: &Image, green: &Image) -> Vec<String> {
    [
        "--output",
        "json",
        "--blue-image",
        &blue.0,
        "--green-image",
        &green.0,
        "--probe-before",
        "500ms",
        "--probe-after",
        "500ms",
        "--termination-wait",
        "300ms",
        "--stop-timeout",
        "5s",
        "--results",
        &dir.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn images_cut_over_with_no_failed_request_and_leave_no_container() {
    require_haproxy();
    let _serial = require_docker();
    let (blue, green) = (image_of(&v1(), "0.0.1"), image_of(&v2(), "0.0.2"));
    let sb = Sandbox::empty();
    let args = image_args(sb.path(), &blue, &green);
    let child = spawn(&sb, &strs(&args));
    let pid = child.pid();
    let run = child.wait(LIMIT);
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert_eq!(r.summary.failed, 0, "{run:?}");
    let t = r.summary.transition.as_ref().expect("a transition");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("0.0.1", "0.0.2"));
    // `docker stop` sent SIGTERM: the app drained and exited 0, and said so in its log.
    let stopped = r.blue.stopped.as_ref().expect("blue stopped");
    assert_eq!((stopped.code, stopped.forced), (Some(0), false), "{run:?}");
    let log = std::fs::read_to_string(&r.blue.log).unwrap();
    assert!(
        log.contains("shutdown signal received"),
        "blue's log: {log}"
    );
    assert_eq!(leftovers(pid), "", "containers left behind");
}

#[test]
fn a_killed_blue_container_is_caught_and_removed() {
    require_haproxy();
    let _serial = require_docker();
    let (blue, green) = (image_of(&v1(), "0.0.1"), image_of(&v2(), "0.0.2"));
    let sb = Sandbox::empty();
    let mut args = image_args(sb.path(), &blue, &green);
    args.extend(["--inject-outage", "kill-blue"].map(String::from));
    let child = spawn(&sb, &strs(&args));
    let pid = child.pid();
    let run = child.wait(LIMIT);
    assert_eq!(run.code, 1, "{run:?}");
    let r = run.report();
    assert!(r.summary.failed > 0, "{run:?}");
    assert!(r.summary.longest_failure.is_some(), "{run:?}");
    assert_eq!(leftovers(pid), "", "containers left behind");
}

/// A SIGKILLed cutover runs no code of its own: its detached containers outlive it, and the next
/// Docker-mode rehearsal removes them (and only them: the owner is checked by pid and start time).
#[test]
fn containers_of_a_sigkilled_rehearsal_are_removed_by_the_next() {
    require_haproxy();
    let _serial = require_docker();
    let (blue, green) = (image_of(&v1(), "0.0.1"), image_of(&v2(), "0.0.2"));
    let sb = Sandbox::empty();
    let mut args = image_args(sb.path(), &blue, &green);
    args.extend(["--strategy", "canary:10:1", "--interval", "30s"].map(String::from));
    let child = spawn(&sb, &strs(&args));
    let killed = child.pid();
    // Once green takes traffic (in the middle of the 30 s canary), SIGKILL.
    child.wait_for_stderr("shift: green 10 %");
    // Blue's and green's tasks: each an app container and the pause container holding its
    // network namespace.
    assert_eq!(
        leftovers(killed).lines().count(),
        4,
        "blue and green tasks run: {}",
        leftovers(killed)
    );
    child.signal("KILL");
    let run = child.wait(LIMIT);
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(
        leftovers(killed).lines().count(),
        4,
        "the killed rehearsal's containers outlive it"
    );

    let sb2 = Sandbox::empty();
    let args = image_args(sb2.path(), &blue, &green);
    let child = spawn(&sb2, &strs(&args));
    let pid = child.pid();
    let next = child.wait(LIMIT);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(
        next.stderr
            .contains("left by a rehearsal whose cutover was killed"),
        "{next:?}"
    );
    assert_eq!(leftovers(killed), "", "the orphans were not removed");
    assert_eq!(leftovers(pid), "", "containers left behind");
}
