//! Helpers of the `cutover rehearse` tests: the sample-app binaries (v0.0.1 and v0.0.2, from
//! `CUTOVER_TEST_SAMPLE_APP_V1`/`_V2`, which scripts/test builds), HAProxy on PATH, and a bounded
//! run of the cutover binary with its JSON report parsed back strictly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cutover::env_vars as ev;
use cutover::rehearse::Report;

/// A sample-app binary from the environment; a clear failure (never a skip) when absent.
pub fn sample_app(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{var} is not set: the rehearse tests need the sample-app built twice\n  \
             hint: run ./scripts/test, or build them yourself:\n    \
             APP_VERSION=0.0.1 cargo build -p sample-app --target-dir target/test-bin/build-0.0.1\n    \
             APP_VERSION=0.0.2 cargo build -p sample-app --target-dir target/test-bin/build-0.0.2\n  \
             and export {} and {} with the two binaries' paths",
            ev::TEST_SAMPLE_APP_V1,
            ev::TEST_SAMPLE_APP_V2
        )
    });
    assert!(
        path.is_file(),
        "{var}=`{}` is not a file (build it as scripts/test does)",
        path.display()
    );
    path
}

pub fn v1() -> PathBuf {
    sample_app(ev::TEST_SAMPLE_APP_V1)
}

pub fn v2() -> PathBuf {
    sample_app(ev::TEST_SAMPLE_APP_V2)
}

/// Fails clearly unless `haproxy` is on PATH.
pub fn require_haproxy() {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("haproxy").is_file()));
    assert!(
        found,
        "haproxy is not on PATH: the rehearse tests drive a real HAProxy\n  \
         hint: sudo apt-get install haproxy (scripts/test does), and put /usr/sbin on PATH"
    );
}

/// The backend command of a sample-app binary, listening on loopback on cutover's port.
pub fn cmd(bin: &Path) -> String {
    format!("{} --bind 127.0.0.1 --port {{port}}", bin.display())
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// The `--output json` report, parsed strictly.
    pub fn report(&self) -> Report {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not a rehearse report: {e}\n{self:?}"))
    }

    /// The address after `prefix` in a progress line, e.g. `HAProxy listening on http://`.
    pub fn addr_after(&self, prefix: &str) -> Option<SocketAddr> {
        let at = self.stderr.find(prefix)? + prefix.len();
        let rest = &self.stderr[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        rest[..end].trim_end_matches(':').parse().ok()
    }
}

/// Runs `cutover rehearse ARGS` with a scrubbed environment, killed after `limit`.
pub fn rehearse(args: &[&str], limit: Duration) -> Run {
    rehearse_with(args, limit, |_| {})
}

/// [`rehearse`], calling `during` with the child's pid once it has started.
pub fn rehearse_with(args: &[&str], limit: Duration, during: impl FnOnce(u32)) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("rehearse")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cutover");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    during(child.id());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cutover rehearse ran longer than {limit:?}; stderr:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        took: started.elapsed(),
    }
}

/// The fast settings of a local cutover: short probing before and after, a short termination
/// wait, and the results in `dir`.
pub fn fast_args(dir: &Path, blue: &Path, green: &Path) -> Vec<String> {
    vec![
        "--output".into(),
        "json".into(),
        "--blue-cmd".into(),
        cmd(blue),
        "--green-cmd".into(),
        cmd(green),
        "--probe-before".into(),
        "300ms".into(),
        "--probe-after".into(),
        "300ms".into(),
        "--termination-wait".into(),
        "300ms".into(),
        "--results".into(),
        dir.display().to_string(),
    ]
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Whether something still accepts connections at `addr`.
pub fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The offset (from the probe's first request) of the first event whose text starts so.
pub fn event_offset(report: &Report, starts_with: &str) -> f64 {
    report
        .events
        .iter()
        .find(|e| e.what.starts_with(starts_with))
        .and_then(|e| e.probe_offset_ms)
        .unwrap_or_else(|| panic!("no event `{starts_with}…` in {:#?}", report.events))
}
