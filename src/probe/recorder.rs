//! The recorder: a thread that receives every record through a channel, appends it to the
//! JSON-lines file through a large buffer, adds it to the summary as it goes (in start order,
//! through a reorder window as long as the timeout: constant memory), keeps it only when the
//! caller wants the records (a picture, the failures by event), watches for
//! `--until-version` being answered steadily and refreshes the live status line. Workers only
//! push into an unbounded channel, so a slow disk never delays a request.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use super::record::{format_unix_us, Kind, Record};
use super::runner::Shared;
use super::ProbeError;

/// How often the live status line is redrawn on a terminal.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// How often a progress line is written when stderr is not a terminal (a CI log, a file): a
/// plain line, no carriage return or escape codes.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Config {
    pub live_status: bool,
    pub live_label: Option<super::LiveLabel>,
    pub gate: Option<super::FailureGate>,
    /// Keep every record for the caller (memory grows with the run), or only summarize.
    pub keep_records: bool,
    /// The longest a request takes from start to arrival here (timeout plus a margin).
    pub window: Duration,
    pub until_version: Option<String>,
    pub stable_for: Duration,
    pub shared: Arc<Shared>,
}

/// What the recorder hands back when the run is over.
pub(crate) struct Recorded {
    /// Every record, when the caller asked to keep them; else empty.
    pub records: Vec<Record>,
    pub summary: super::Summary,
    /// `until_version` was answered steadily for `stable_for`.
    pub reached: bool,
}

pub(crate) struct Handle {
    done: oneshot::Receiver<Result<Recorded, ProbeError>>,
}

impl Handle {
    /// Waits for the recorder to drain the channel (all senders dropped) and flush the file.
    pub(crate) async fn finish(self) -> Result<Recorded, ProbeError> {
        self.done.await.map_err(|_| ProbeError::RecorderLost)?
    }
}

/// Creates `DIR/probe-YYYYMMDD-HHMMSS.mmmZ.jsonl`, never overwriting an earlier run.
pub(crate) fn create_results_file(dir: &Path) -> Result<(File, PathBuf), ProbeError> {
    let fail = |source| ProbeError::ResultsDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = format_unix_us(u64::try_from(unix.as_micros()).unwrap_or(0))
        .replace(['-', ':'], "")
        .replace('T', "-");
    let mut last_err = None;
    for n in 0..1000 {
        let name = if n == 0 {
            format!("probe-{stamp}.jsonl")
        } else {
            format!("probe-{stamp}-{n}.jsonl")
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(fail(e)),
        }
    }
    Err(fail(last_err.unwrap_or_else(|| {
        std::io::Error::other("no free file name")
    })))
}

/// Starts the recorder thread; the run is over for it when every sender is dropped.
pub(crate) fn spawn(
    file: File,
    path: PathBuf,
    config: Config,
) -> Result<(Sender<Record>, Handle), ProbeError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("probe-recorder".into())
        .spawn(move || {
            let _ = done_tx.send(record_loop(&rx, file, path, &config));
        })
        .map_err(|source| ProbeError::Thread {
            what: "recorder",
            source,
        })?;
    Ok((tx, Handle { done: done_rx }))
}

fn record_loop(
    rx: &Receiver<Record>,
    file: File,
    path: PathBuf,
    config: &Config,
) -> Result<Recorded, ProbeError> {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut line = Vec::with_capacity(512);
    let mut records = Vec::new();
    let mut reorder = super::summary::Reorder::new(config.window);
    let mut summarizer = super::summary::Summarizer::default();
    let mut write_error = None;
    let mut stable = StableTracker::new(config.until_version.clone(), config.stable_for);
    let mut status = config
        .live_status
        .then(|| LiveStatus::new(config.live_label.clone()));
    loop {
        match rx.recv_timeout(STATUS_EVERY) {
            Ok(record) => {
                if write_error.is_none() {
                    line.clear();
                    let written = serde_json::to_writer(&mut line, &record)
                        .map_err(std::io::Error::other)
                        .and_then(|()| {
                            line.push(b'\n');
                            out.write_all(&line)
                        });
                    if let Err(e) = written {
                        write_error = Some(e);
                        config.shared.halt(false);
                    }
                }
                if let Some(gate) = &config.gate {
                    gate.observe(&record);
                }
                if stable.observe(&record) {
                    config.shared.halt(true);
                }
                if let Some(status) = &mut status {
                    status.observe(&record);
                }
                if config.keep_records {
                    records.push(record.clone());
                }
                reorder.push(record, &mut |r| summarizer.push(&r));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(status) = &mut status {
            status.refresh(false);
        }
    }
    if let Some(status) = &mut status {
        status.refresh(true);
    }
    if write_error.is_none() {
        write_error = out.flush().err();
    }
    match write_error {
        Some(source) => Err(ProbeError::Write { path, source }),
        None => {
            reorder.finish(&mut |r| summarizer.push(&r));
            Ok(Recorded {
                records,
                summary: summarizer.finish(),
                reached: stable.reached,
            })
        }
    }
}

/// Decides when `until_version` has been answered steadily: successes with that version whose
/// start times span `stable_for`, with no other answer or failure started in between.
#[derive(Debug)]
pub(crate) struct StableTracker {
    target: Option<String>,
    stable_for_us: u64,
    streak_start: Option<u64>,
    pub reached: bool,
}

impl StableTracker {
    pub(crate) fn new(target: Option<String>, stable_for: Duration) -> StableTracker {
        StableTracker {
            target,
            stable_for_us: u64::try_from(stable_for.as_micros()).unwrap_or(u64::MAX),
            streak_start: None,
            reached: false,
        }
    }

    /// Returns `true` once, when the version becomes stable.
    pub(crate) fn observe(&mut self, r: &Record) -> bool {
        let Some(target) = &self.target else {
            return false;
        };
        if self.reached {
            return false;
        }
        if r.kind.is_ok() && r.version.as_deref() == Some(target.as_str()) {
            let since = *self.streak_start.get_or_insert(r.start_unix_us);
            if r.start_unix_us.saturating_sub(since) >= self.stable_for_us {
                self.reached = true;
                return true;
            }
        } else if self
            .streak_start
            .map_or(true, |since| r.start_unix_us >= since)
        {
            // Records arrive in completion order: one that started before the streak does not
            // break it.
            self.streak_start = None;
        }
        false
    }
}

/// The one-line status on stderr: redrawn in place on a terminal, else a plain line now and then.
struct LiveStatus {
    terminal: bool,
    label: Option<super::LiveLabel>,
    started: Instant,
    last_refresh: Instant,
    count_at_refresh: u64,
    count: u64,
    failed: u64,
    by_kind: [u64; Kind::ALL.len()],
    version: Option<String>,
}

impl LiveStatus {
    fn new(label: Option<super::LiveLabel>) -> LiveStatus {
        use std::io::IsTerminal as _;
        let now = Instant::now();
        LiveStatus {
            label,
            terminal: std::io::stderr().is_terminal()
                && !matches!(std::env::var_os("TERM"), Some(t) if t == "dumb"),
            started: now,
            last_refresh: now,
            count_at_refresh: 0,
            count: 0,
            failed: 0,
            by_kind: [0; Kind::ALL.len()],
            version: None,
        }
    }

    fn observe(&mut self, r: &Record) {
        self.count += 1;
        if let Some(slot) = Kind::ALL.iter().position(|k| *k == r.kind) {
            self.by_kind[slot] += 1;
        }
        if r.kind.is_ok() {
            if self.version.as_deref() != r.version.as_deref() {
                self.version.clone_from(&r.version);
            }
        } else {
            self.failed += 1;
        }
    }

    /// Redraws the line every [`STATUS_EVERY`]; `last` clears it for the summary.
    fn refresh(&mut self, last: bool) {
        let now = Instant::now();
        let since = now.duration_since(self.last_refresh);
        let mut err = std::io::stderr().lock();
        if last {
            if self.terminal {
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
            return;
        }
        if since
            < if self.terminal {
                STATUS_EVERY
            } else {
                PLAIN_EVERY
            }
        {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = (self.count - self.count_at_refresh) as f64 / since.as_secs_f64();
        let mut kinds: Vec<(u64, Kind)> = Kind::ALL
            .iter()
            .zip(self.by_kind)
            .filter(|(k, n)| !k.is_ok() && *n > 0)
            .map(|(k, n)| (n, *k))
            .collect();
        kinds.sort_by(|a, b| b.cmp(a));
        let kinds: Vec<String> = kinds
            .iter()
            .take(3)
            .map(|(n, k)| format!("{k} {n}"))
            .collect();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        let label = self
            .label
            .as_ref()
            .map(|l| format!("{}  ", l.get()))
            .unwrap_or_default();
        let line = format!(
            "{label}{:>7.1}s  {rate:>8.1} req/s  version {}  requests {}  failed {}{kinds}",
            now.duration_since(self.started).as_secs_f64(),
            self.version.as_deref().unwrap_or("-"),
            self.count,
            self.failed,
        );
        let _ = if self.terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "probe {}", line.trim_start())
        };
        let _ = err.flush();
        self.last_refresh = now;
        self.count_at_refresh = self.count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(start_ms: u64, kind: Kind, version: Option<&str>) -> Record {
        Record {
            seq: start_ms,
            start_unix_us: start_ms * 1000,
            sched_delay_us: None,
            latency_us: 100,
            kind,
            status: Some(200),
            version: version.map(str::to_string),
            detail: None,
            retried: false,
        }
    }

    #[test]
    fn stability_needs_an_unbroken_streak() {
        let mut t = StableTracker::new(Some("2".into()), Duration::from_millis(100));
        assert!(!t.observe(&rec(0, Kind::Ok, Some("2"))));
        assert!(!t.observe(&rec(50, Kind::Timeout, None)));
        assert!(!t.observe(&rec(60, Kind::Ok, Some("2"))));
        assert!(!t.observe(&rec(150, Kind::Ok, Some("2"))));
        // A failure that started before the streak completes late: no reset.
        assert!(!t.observe(&rec(55, Kind::Reset, None)));
        assert!(t.observe(&rec(160, Kind::Ok, Some("2"))));
        assert!(!t.observe(&rec(170, Kind::Ok, Some("2"))), "reported once");
    }

    #[test]
    fn zero_stable_for_is_reached_at_the_first_answer() {
        let mut t = StableTracker::new(Some("2".into()), Duration::ZERO);
        assert!(!t.observe(&rec(0, Kind::Ok, Some("1"))));
        assert!(t.observe(&rec(1, Kind::Ok, Some("2"))));
        let mut none = StableTracker::new(None, Duration::ZERO);
        assert!(!none.observe(&rec(1, Kind::Ok, Some("2"))));
    }

    #[test]
    fn results_files_never_collide() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_, a) = create_results_file(dir.path()).expect("first");
        let (_, b) = create_results_file(dir.path()).expect("second");
        assert_ne!(a, b);
        assert!(a.extension().is_some_and(|e| e == "jsonl"));
    }
}
