//! `cutover probe` and `cutover report` as a library: watch a version endpoint through a
//! deployment, record every request, and summarize what clients saw.
//!
//! The pieces, one concern each:
//! - `http`: a lean HTTP/1.1 client over tokio's `TcpStream` that classifies every failure;
//! - `runner`: fixed-rate scheduling by absolute deadlines, or as fast as possible;
//! - `recorder`: a writer thread that owns the results file, the live status line and the
//!   `--until-version` check, fed through a channel so recording never stalls a request;
//! - [`summary`] (pure): the summary of a run and its text rendering;
//! - [`report`]: reading a saved run back; [`svg`] (pure): the timeline picture.

mod http;
pub mod record;
mod recorder;
pub mod report;
mod runner;
pub mod summary;
pub mod svg;

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use record::{Kind, Record};
pub use summary::{render_text, summarize, Summary};

/// Requests per second used when none is given.
pub const DEFAULT_RATE: f64 = 20.0;
/// Workers at `--rate max`; at a fixed rate, the most requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// Per-request timeout used when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `--until-version` must be answered without a break.
pub const DEFAULT_STABLE_FOR: Duration = Duration::from_secs(5);
/// Where results go when no `--results` is given.
pub const DEFAULT_RESULTS_DIR: &str = "test_client_results";
/// A new connection per request by default, because the probe asks "what does a *new* client
/// get right now?": each request then goes through connect and accept and through the load
/// balancer's routing afresh, so a listener that refuses connections or a target that is still
/// being routed to shows up at once. A kept-alive connection stays pinned to the target it
/// first reached and hides both. `keep_alive: true` measures raw throughput instead.
pub const DEFAULT_KEEP_ALIVE: bool = false;

/// How fast to send requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// This many requests per second, each started at its own absolute deadline.
    Fixed(f64),
    /// As fast as `concurrency` workers can go, each sending its next request when the last ends.
    Max,
}

impl FromStr for Rate {
    type Err = String;

    /// `max`, or a positive number of requests per second (`50`, `0.5`).
    fn from_str(s: &str) -> Result<Rate, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1e6 => Ok(Rate::Fixed(r)),
            _ => Err(format!(
                "`{s}` is not a rate: use requests per second from 0.001 to 1000000 (e.g. 50 or 0.5) or `max`"
            )),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Fixed(r) => write!(f, "{r}/s"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// Everything a probe run needs; resolved and validated settings, not raw flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOptions {
    /// `http://HOST[:PORT][/PATH]`; the path defaults to `/version`. https is refused.
    pub url: String,
    pub rate: Rate,
    /// Workers at [`Rate::Max`]; at a fixed rate, the most requests in flight at once (a request
    /// waiting for a free worker starts late, and its `sched_delay_us` shows by how much).
    pub concurrency: usize,
    /// Stop after this long; `None` runs until `until_version` is stable or Ctrl-C.
    pub duration: Option<Duration>,
    /// Stop once this version has been answered, with no other answer and no failure in
    /// between, for `stable_for` (measured between request start times).
    pub until_version: Option<String>,
    pub stable_for: Duration,
    /// Per request, connect included.
    pub timeout: Duration,
    /// See [`DEFAULT_KEEP_ALIVE`] for why new connections are the default.
    pub keep_alive: bool,
    /// The JSON-lines file and the summary are written here (created when missing).
    pub results_dir: PathBuf,
    /// The run passes with at most this many failed requests.
    pub max_failures: u64,
    /// Show a one-line status on stderr, refreshed four times a second.
    pub live_status: bool,
    /// Text a caller keeps current (the lifecycle event and the traffic weight of a
    /// deployment), shown at the start of the status line.
    pub live_label: Option<LiveLabel>,
    /// Trips when more than its limit of requests have failed, while the run goes on (the
    /// deployment gate of `cutover deploy --probe`).
    pub gate: Option<FailureGate>,
    /// Hand every record back in [`ProbeOutcome::records`] (memory grows with the run: about
    /// 150 bytes a request). Without it the run keeps constant memory: the records are only in
    /// the file, and the summary is built as they come.
    pub keep_records: bool,
}

/// A failure count that whoever drives the probe can wait on: it trips once more than `limit`
/// requests have failed, and keeps the instant the recorder saw the one over the limit.
#[derive(Debug, Clone)]
pub struct FailureGate(Arc<GateInner>);

#[derive(Debug)]
struct GateInner {
    limit: u64,
    failed: std::sync::atomic::AtomicU64,
    tripped_at: std::sync::Mutex<Option<u64>>,
    tripped: tokio::sync::watch::Sender<bool>,
}

impl FailureGate {
    pub fn new(limit: u64) -> FailureGate {
        FailureGate(Arc::new(GateInner {
            limit,
            failed: std::sync::atomic::AtomicU64::new(0),
            tripped_at: std::sync::Mutex::new(None),
            tripped: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Failed requests so far.
    pub fn failed(&self) -> u64 {
        self.0.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When (Unix µs) the recorder saw the failure that crossed the limit.
    pub fn tripped_at(&self) -> Option<u64> {
        *self.0.tripped_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes once the gate has tripped (at once if it already has).
    pub async fn tripped(&self) {
        let mut rx = self.0.tripped.subscribe();
        if rx.wait_for(|t| *t).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Counts one record (the recorder calls this for each).
    pub(crate) fn observe(&self, r: &Record) {
        if r.kind.is_ok() {
            return;
        }
        let n = self
            .0
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n == self.0.limit.saturating_add(1) {
            *self.0.tripped_at.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(record::now_unix_us());
            self.0.tripped.send_replace(true);
        }
    }
}

impl PartialEq for FailureGate {
    /// The same gate, not the same count.
    fn eq(&self, other: &FailureGate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A label the status line shows, set by whoever drives the probe.
#[derive(Debug, Clone, Default)]
pub struct LiveLabel(pub Arc<std::sync::Mutex<String>>);

impl LiveLabel {
    pub fn set(&self, text: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    pub fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl PartialEq for LiveLabel {
    /// The same label, not the same text.
    fn eq(&self, other: &LiveLabel) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl ProbeOptions {
    /// Options with the defaults above for `url`.
    pub fn new(url: impl Into<String>) -> ProbeOptions {
        ProbeOptions {
            url: url.into(),
            rate: Rate::Fixed(DEFAULT_RATE),
            concurrency: DEFAULT_CONCURRENCY,
            duration: None,
            until_version: None,
            stable_for: DEFAULT_STABLE_FOR,
            timeout: DEFAULT_TIMEOUT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            results_dir: PathBuf::from(DEFAULT_RESULTS_DIR),
            max_failures: 0,
            live_status: false,
            live_label: None,
            gate: None,
            keep_records: true,
        }
    }

    fn validate(&self) -> Result<(), ProbeError> {
        let invalid = |name: &'static str, reason: &str| {
            Err(ProbeError::InvalidOption {
                name,
                reason: reason.to_string(),
            })
        };
        if let Rate::Fixed(r) = self.rate {
            if !(r.is_finite() && r > 0.0 && r <= 1e6) {
                return invalid(
                    "rate",
                    "must be a number of requests per second from 0.001 to 1000000, or `max`",
                );
            }
        }
        if self.concurrency == 0 || self.concurrency > 10_000 {
            return invalid("concurrency", "must be from 1 to 10000");
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "must be longer than zero");
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return invalid("duration", "must be longer than zero");
        }
        if self.until_version.as_deref().is_some_and(str::is_empty) {
            return invalid("until-version", "must not be empty");
        }
        Ok(())
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `duration` ran out.
    Duration,
    /// `until_version` was answered steadily for `stable_for`.
    VersionStable,
    /// Ctrl-C (or the caller's stop future).
    Interrupted,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub summary: Summary,
    /// Every record, in the order they completed (the file's order), when
    /// [`ProbeOptions::keep_records`]; else empty.
    pub records: Vec<Record>,
    /// The JSON-lines file written.
    pub records_path: PathBuf,
    /// The summary written beside it as JSON.
    pub summary_path: PathBuf,
    pub stop: StopReason,
    /// `Some(reached)` when `until_version` was given.
    pub until_version_reached: Option<bool>,
    /// At most `max_failures` failed and, when `until_version` was given, it was reached:
    /// the exit code is 0 exactly when this holds.
    pub passed: bool,
}

/// Why a probe could not run (failed requests are not errors: they are recorded).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("`{url}` is an https URL, and the probe speaks plain HTTP only\nhint: probe the plain-HTTP listener (e.g. the load balancer's test listener) or a local port")]
    HttpsUnsupported { url: String },
    #[error("invalid probe URL `{url}`: {reason}\nhint: write it as http://HOST[:PORT][/PATH]")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot resolve the host `{host}`\nhint: check the name, or give an IP address")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid `{name}`: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    #[error("cannot create the results file in `{}`\nhint: pass a writable directory with --results DIR", path.display())]
    ResultsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the results file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the {what} thread")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the recorder thread stopped without handing back the records")]
    RecorderLost,
}

/// Checks a probe URL without running anything (for flags read before a deployment starts).
pub fn check_url(url: &str) -> Result<(), ProbeError> {
    http::Target::parse(url).map(|_| ())
}

/// Everything a run checks before its first request, without sending one: the options, the URL,
/// the host's address, and a results directory a file can be created in. A deployment gated by
/// a probe calls this before it starts, so a probe that cannot run never leaves it ungated.
pub async fn preflight(opts: &ProbeOptions) -> Result<(), ProbeError> {
    opts.validate()?;
    http::Target::parse(&opts.url)?.resolve().await?;
    let fail = |source| ProbeError::ResultsDir {
        path: opts.results_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&opts.results_dir).map_err(fail)?;
    tempfile::tempfile_in(&opts.results_dir).map_err(fail)?;
    Ok(())
}

/// Runs a probe until its duration ends, `until_version` is stable, or Ctrl-C.
///
/// Listening for Ctrl-C replaces the default SIGINT handling for the rest of the process (a
/// tokio property); callers that run more afterwards can use [`run_until`] with their own stop.
pub async fn run(opts: &ProbeOptions) -> Result<ProbeOutcome, ProbeError> {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: never stop for that reason.
            std::future::pending::<()>().await;
        }
    };
    run_until(opts, ctrl_c).await
}

/// [`run`] with a caller-chosen stop instead of Ctrl-C: when `stop` completes, no new request
/// starts, those in flight finish (within the timeout), and what was recorded is summarized.
pub async fn run_until<F>(opts: &ProbeOptions, stop: F) -> Result<ProbeOutcome, ProbeError>
where
    F: Future<Output = ()>,
{
    opts.validate()?;
    let target = http::Target::parse(&opts.url)?;
    let addr = target.resolve().await?;
    let client = Arc::new(http::Client::new(
        &target,
        addr,
        opts.keep_alive,
        opts.timeout,
    ));
    let (file, records_path) = recorder::create_results_file(&opts.results_dir)?;
    let shared = Arc::new(runner::Shared::default());
    let clock = runner::Clock::now();
    let (tx, handle) = recorder::spawn(
        file,
        records_path.clone(),
        recorder::Config {
            live_status: opts.live_status,
            live_label: opts.live_label.clone(),
            gate: opts.gate.clone(),
            keep_records: opts.keep_records,
            // A request ends within its timeout; a second more for it to reach the recorder.
            window: opts.timeout + Duration::from_secs(1),
            until_version: opts.until_version.clone(),
            stable_for: opts.stable_for,
            shared: shared.clone(),
        },
    )?;
    let stop_reason = runner::drive(opts, client, clock, tx, shared, stop).await;
    let recorded = handle.finish().await?;
    let summary = recorded.summary;
    let summary_path = records_path.with_extension("summary.json");
    let json = serde_json::to_vec_pretty(&summary).unwrap_or_default();
    tokio::fs::write(&summary_path, json)
        .await
        .map_err(|source| ProbeError::Write {
            path: summary_path.clone(),
            source,
        })?;
    let until_version_reached = opts.until_version.as_ref().map(|_| recorded.reached);
    let passed = summary.failed <= opts.max_failures && until_version_reached != Some(false);
    Ok(ProbeOutcome {
        summary,
        records: recorded.records,
        records_path,
        summary_path,
        stop: stop_reason,
        until_version_reached,
        passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("max".parse::<Rate>(), Ok(Rate::Max));
        assert_eq!("1000".parse::<Rate>(), Ok(Rate::Fixed(1000.0)));
        assert_eq!("0.5".parse::<Rate>(), Ok(Rate::Fixed(0.5)));
        for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn validates_options() {
        let mut o = ProbeOptions::new("http://127.0.0.1:1/");
        assert!(o.validate().is_ok());
        o.concurrency = 0;
        assert!(o.validate().is_err());
        o.concurrency = 1;
        o.rate = Rate::Fixed(f64::NAN);
        assert!(o.validate().is_err());
    }
}
