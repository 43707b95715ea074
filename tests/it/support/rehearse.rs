//! The `cutover rehearse` parts: the sample-app binaries (v0.0.1 and v0.0.2, from
//! `CUTOVER_TEST_SAMPLE_APP_V1`/`_V2`, which scripts/test builds), HAProxy on PATH, the fast
//! settings of a local cutover, and its JSON report parsed back strictly.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover::env_vars as ev;
use cutover::rehearse::Report;

use super::{Run, Sandbox, Spawned};

/// A bound on one rehearsal of the fast settings, against a hang (they take a few seconds).
pub const LIMIT: Duration = Duration::from_secs(120);

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

/// `cutover rehearse ARGS` in the sandbox, to its end (bounded by [`LIMIT`]).
pub fn rehearse(sb: &Sandbox, args: &[&str]) -> Run {
    spawn(sb, args).wait(LIMIT)
}

/// `cutover rehearse ARGS` in the sandbox, started.
pub fn spawn(sb: &Sandbox, args: &[&str]) -> Spawned {
    let mut all = vec!["rehearse"];
    all.extend_from_slice(args);
    sb.spawn(&all)
}

impl Run {
    /// The `--output json` report of a rehearsal, parsed strictly.
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
