//! The summary of a run, computed purely from its records: counts, failures by kind, the
//! versions seen, the switch from the old version to the new, the window in which both
//! answered, the longest run of failures, and latency and scheduling-delay percentiles.
//! Also its text rendering. No I/O here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::record::{format_unix_us, Kind, Record};

/// What a run saw. Times are RFC 3339 UTC (`*_at`) and milliseconds from the first request's
/// start (`*_offset_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Requests recorded.
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    /// Start of the first request.
    pub started_at: Option<String>,
    /// End of the last request to finish.
    pub ended_at: Option<String>,
    pub duration_ms: f64,
    /// Requests started per second, between the first start and the last.
    pub start_rate_per_s: f64,
    pub failures_by_kind: BTreeMap<Kind, u64>,
    /// Every version answered, in the order first seen.
    pub versions: Vec<VersionSeen>,
    /// From the first version seen to the last one; `None` when only one was seen.
    pub transition: Option<Transition>,
    /// When the old version still answered after the new one had: the window of both.
    pub both_answered: Option<Window>,
    /// Length of [`Summary::longest_failure`], 0 when nothing failed.
    pub longest_failure_ms: f64,
    pub longest_failure: Option<FailureRun>,
    /// Latency of the successful requests.
    pub latency_ms: Option<Percentiles>,
    /// How late requests started against their schedule (fixed rate only).
    pub sched_delay_ms: Option<Percentiles>,
}

/// One version and when it was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSeen {
    pub version: String,
    /// Answers carrying this version (a wrong content type still counts: it was served).
    pub count: u64,
    pub first_at: String,
    pub last_at: String,
    pub first_offset_ms: f64,
    pub last_offset_ms: f64,
}

/// One request, as the summary points at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRef {
    pub seq: u64,
    pub at: String,
    pub offset_ms: f64,
    pub kind: Kind,
    pub status: Option<u16>,
    pub version: Option<String>,
    pub latency_ms: f64,
}

/// The switch: the seed's manual check of the results file, automated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// The last answer of the old version.
    pub last_old: RequestRef,
    /// The first answer of the new version.
    pub first_new: RequestRef,
    /// The request started just before the first new answer (whatever it got).
    pub before_first_new: Option<RequestRef>,
    /// From the last old answer's start to the first new one's; negative when they overlap.
    pub gap_ms: f64,
}

/// A stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from_at: String,
    pub to_at: String,
    pub from_offset_ms: f64,
    pub to_offset_ms: f64,
    pub duration_ms: f64,
    /// Requests started in the window.
    pub requests: u64,
}

/// Consecutive failed requests (in start order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRun {
    pub count: u64,
    pub first: RequestRef,
    pub last: RequestRef,
    /// From the first failed request's start to the last one's: the outage lasted at least this.
    pub duration_ms: f64,
    /// From the success before to the success after (starts): at most this; `None` at an end.
    pub between_successes_ms: Option<f64>,
    pub kinds: BTreeMap<Kind, u64>,
}

/// Nearest-rank percentiles, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Summarizes records in any order (they are sorted by start time, then sequence number): the
/// records are fed, in that order, to a [`Summarizer`], the one way a summary is made.
pub fn summarize(records: &[Record]) -> Summary {
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by_key(|r| (r.start_unix_us, r.seq));
    let mut s = Summarizer::default();
    for r in order {
        s.push(r);
    }
    s.finish()
}

/// One version's answers as they stream by.
#[derive(Debug, Clone)]
struct VersionAcc {
    name: String,
    count: u64,
    first_index: u64,
    last_index: u64,
    first: RequestRef,
    last: RequestRef,
    first_start: u64,
    last_start: u64,
    /// The record just before this version's first answer (any record).
    before_first: Option<RequestRef>,
}

/// A run of consecutive failures.
#[derive(Debug, Clone)]
struct RunAcc {
    first: RequestRef,
    last: RequestRef,
    first_start: u64,
    last_start: u64,
    count: u64,
    kinds: BTreeMap<Kind, u64>,
    /// Start of the record just before the run (a success), if any.
    before_start: Option<u64>,
    /// Start of the record just after it (a success), once seen.
    after_start: Option<u64>,
}

impl RunAcc {
    /// Compared as the batch summary compared runs: by time spanned, then by the failures in it.
    fn span(&self) -> (u64, u64) {
        (self.last_start.saturating_sub(self.first_start), self.count)
    }
}

/// The summary built one record at a time, in constant memory: counters, the few records the
/// summary names (first and last of each version, the longest failure run's ends), and
/// histograms for the percentiles (3 significant digits; min, max and mean exact). Records must
/// come in start order (start time, then sequence number); [`Reorder`] restores that order
/// from completion order.
#[derive(Debug, Default)]
pub struct Summarizer {
    t0: Option<u64>,
    index: u64,
    ok: u64,
    failures_by_kind: BTreeMap<Kind, u64>,
    end_us: u64,
    last_start: u64,
    versions: Vec<VersionAcc>,
    last_version: Option<usize>,
    prev: Option<(RequestRef, u64, bool)>,
    run: Option<RunAcc>,
    best: Option<RunAcc>,
    latency: Stat,
    delay: Stat,
}

/// The largest value the histograms tell apart (an hour in µs); larger ones count as it.
const HIST_MAX_US: u64 = 3_600_000_000;

/// A value's percentiles in constant memory.
#[derive(Debug, Default)]
struct Stat {
    hist: Option<hdrhistogram::Histogram<u64>>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Stat {
    fn record(&mut self, v: u64) {
        if self.hist.is_none() {
            // Three significant digits: within 0.1 % of the value (valid bounds: it never fails).
            self.hist = hdrhistogram::Histogram::new_with_bounds(1, HIST_MAX_US, 3).ok();
        }
        if let Some(h) = &mut self.hist {
            h.saturating_record(v);
        }
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += u128::from(v);
    }

    /// Nearest-rank percentiles from the histogram (within its precision, kept within the exact
    /// minimum and maximum), in milliseconds.
    fn percentiles(&self) -> Option<Percentiles> {
        let hist = self.hist.as_ref().filter(|_| self.count > 0)?;
        let at = |q: f64| ms(hist.value_at_quantile(q).clamp(self.min, self.max));
        Some(Percentiles {
            count: self.count,
            min: ms(self.min),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(self.max),
            mean: round3(self.sum as f64 / self.count as f64 / 1000.0),
        })
    }
}

impl Summarizer {
    /// Takes the next record in start order.
    pub fn push(&mut self, r: &Record) {
        let t0 = *self.t0.get_or_insert(r.start_unix_us);
        let i = self.index;
        self.index += 1;
        let here = request_ref(r, t0);
        let ok = r.kind.is_ok();
        if ok {
            self.ok += 1;
            self.latency.record(r.latency_us);
        } else {
            *self.failures_by_kind.entry(r.kind).or_insert(0) += 1;
        }
        if let Some(d) = r.sched_delay_us {
            self.delay.record(d);
        }
        self.end_us = self
            .end_us
            .max(r.start_unix_us.saturating_add(r.latency_us))
            .max(t0);
        self.last_start = r.start_unix_us;
        if let Some(v) = &r.version {
            let at = match self.versions.iter().position(|x| &x.name == v) {
                Some(at) => {
                    let acc = &mut self.versions[at];
                    acc.count += 1;
                    acc.last_index = i;
                    acc.last = here.clone();
                    acc.last_start = r.start_unix_us;
                    at
                }
                None => {
                    self.versions.push(VersionAcc {
                        name: v.clone(),
                        count: 1,
                        first_index: i,
                        last_index: i,
                        first: here.clone(),
                        last: here.clone(),
                        first_start: r.start_unix_us,
                        last_start: r.start_unix_us,
                        before_first: self.prev.as_ref().map(|p| p.0.clone()),
                    });
                    self.versions.len() - 1
                }
            };
            self.last_version = Some(at);
        }
        // Failure runs: a failure extends or opens one; a success closes it.
        if ok {
            if let Some(mut run) = self.run.take() {
                run.after_start = Some(r.start_unix_us);
                self.close(run);
            }
        } else {
            let run = self.run.get_or_insert_with(|| RunAcc {
                first: here.clone(),
                last: here.clone(),
                first_start: r.start_unix_us,
                last_start: r.start_unix_us,
                count: 0,
                kinds: BTreeMap::new(),
                before_start: self.prev.as_ref().map(|p| p.1),
                after_start: None,
            });
            run.last = here.clone();
            run.last_start = r.start_unix_us;
            run.count += 1;
            *run.kinds.entry(r.kind).or_insert(0) += 1;
        }
        self.prev = Some((here, r.start_unix_us, ok));
    }

    fn close(&mut self, run: RunAcc) {
        if self.best.as_ref().map_or(true, |b| run.span() > b.span()) {
            self.best = Some(run);
        }
    }

    /// The summary of everything pushed.
    pub fn finish(mut self) -> Summary {
        if let Some(run) = self.run.take() {
            self.close(run);
        }
        let t0 = self.t0.unwrap_or(0);
        let total = self.index;
        let end_us = if total == 0 { t0 } else { self.end_us };
        let start_rate_per_s = if total > 1 && self.last_start > t0 {
            round3((total - 1) as f64 / ((self.last_start - t0) as f64 / 1e6))
        } else {
            0.0
        };
        let ends = match (self.versions.first(), self.last_version) {
            (Some(old), Some(new)) if old.name != self.versions[new].name => {
                Some((old.clone(), self.versions[new].clone()))
            }
            _ => None,
        };
        let transition = ends.as_ref().map(|(old, new)| Transition {
            from: old.name.clone(),
            to: new.name.clone(),
            last_old: old.last.clone(),
            first_new: new.first.clone(),
            before_first_new: new.before_first.clone(),
            gap_ms: ms_signed(new.first_start, old.last_start),
        });
        let both_answered = ends.as_ref().and_then(|(old, new)| {
            let (from, to) = (new.first_start, old.last_start);
            (old.last_index > new.first_index).then(|| Window {
                from_at: format_unix_us(from),
                to_at: format_unix_us(to),
                from_offset_ms: ms(from.saturating_sub(t0)),
                to_offset_ms: ms(to.saturating_sub(t0)),
                duration_ms: ms(to.saturating_sub(from)),
                requests: old.last_index - new.first_index + 1,
            })
        });
        let longest_failure = self.best.map(|b| FailureRun {
            count: b.count,
            duration_ms: ms(b.last_start.saturating_sub(b.first_start)),
            between_successes_ms: b
                .before_start
                .zip(b.after_start)
                .map(|(before, after)| ms(after.saturating_sub(before))),
            first: b.first,
            last: b.last,
            kinds: b.kinds,
        });
        Summary {
            total,
            ok: self.ok,
            failed: total - self.ok,
            started_at: self.t0.map(format_unix_us),
            ended_at: self.t0.map(|_| format_unix_us(end_us)),
            duration_ms: ms(end_us.saturating_sub(t0)),
            start_rate_per_s,
            failures_by_kind: self.failures_by_kind,
            versions: self
                .versions
                .iter()
                .map(|v| VersionSeen {
                    version: v.name.clone(),
                    count: v.count,
                    first_at: format_unix_us(v.first_start),
                    last_at: format_unix_us(v.last_start),
                    first_offset_ms: ms(v.first_start.saturating_sub(t0)),
                    last_offset_ms: ms(v.last_start.saturating_sub(t0)),
                })
                .collect(),
            transition,
            both_answered,
            longest_failure_ms: longest_failure.as_ref().map_or(0.0, |f| f.duration_ms),
            longest_failure,
            latency_ms: self.latency.percentiles(),
            sched_delay_ms: self.delay.percentiles(),
        }
    }
}

/// Restores start order to records that arrive in completion order, holding only those that
/// could still be overtaken: a record is released once every record still to come must have
/// started after it (it completes within `window` of its start, and later ones end later).
#[derive(Debug)]
pub struct Reorder {
    window_us: u64,
    /// The latest end (start + latency) seen.
    horizon: u64,
    held: std::collections::BinaryHeap<std::cmp::Reverse<Held>>,
}

#[derive(Debug)]
struct Held(Record);

impl PartialEq for Held {
    fn eq(&self, o: &Held) -> bool {
        (self.0.start_unix_us, self.0.seq) == (o.0.start_unix_us, o.0.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Held) -> std::cmp::Ordering {
        (self.0.start_unix_us, self.0.seq).cmp(&(o.0.start_unix_us, o.0.seq))
    }
}

impl Reorder {
    /// `window`: the longest a request may take (the probe's timeout) plus a margin for the
    /// time between its end and its arrival.
    pub fn new(window: std::time::Duration) -> Reorder {
        Reorder {
            window_us: u64::try_from(window.as_micros()).unwrap_or(u64::MAX),
            horizon: 0,
            held: std::collections::BinaryHeap::new(),
        }
    }

    /// Takes one record; hands `out` every record now safe to release, in start order.
    pub fn push(&mut self, r: Record, out: &mut impl FnMut(Record)) {
        self.horizon = self
            .horizon
            .max(r.start_unix_us.saturating_add(r.latency_us));
        self.held.push(std::cmp::Reverse(Held(r)));
        let safe_before = self.horizon.saturating_sub(self.window_us);
        while self
            .held
            .peek()
            .is_some_and(|h| h.0 .0.start_unix_us < safe_before)
        {
            if let Some(std::cmp::Reverse(Held(r))) = self.held.pop() {
                out(r);
            }
        }
    }

    /// Releases the rest, in start order.
    pub fn finish(mut self, out: &mut impl FnMut(Record)) {
        while let Some(std::cmp::Reverse(Held(r))) = self.held.pop() {
            out(r);
        }
    }

    /// Makes the window at least `us` long (a saved file does not say its timeout: the longest
    /// latency seen, and a margin, stand for it).
    pub fn widen_to(&mut self, us: u64) {
        self.window_us = self.window_us.max(us);
    }

    /// Records held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

fn request_ref(r: &Record, t0: u64) -> RequestRef {
    RequestRef {
        seq: r.seq,
        at: format_unix_us(r.start_unix_us),
        offset_ms: ms(r.start_unix_us.saturating_sub(t0)),
        kind: r.kind,
        status: r.status,
        version: r.version.clone(),
        latency_ms: ms(r.latency_us),
    }
}

/// Microseconds to milliseconds, kept to the microsecond.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn ms_signed(a: u64, b: u64) -> f64 {
    if a >= b {
        ms(a - b)
    } else {
        -ms(b - a)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The human summary: a few aligned lines, no color.
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    let secs = |ms: f64| format!("{:+.3} s", ms / 1000.0);
    let when = |at: &str, offset: f64| format!("{} ({})", time_of_day(at), secs(offset));
    let request = |r: &RequestRef| {
        let answer = match (&r.version, r.status) {
            (Some(v), Some(st)) => format!("{} {st} version {v}", r.kind),
            (None, Some(st)) => format!("{} {st}", r.kind),
            (v, None) => format!(
                "{}{}",
                r.kind,
                v.as_ref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default()
            ),
        };
        format!(
            "#{:<7} {}  {answer}, {:.3} ms",
            r.seq,
            when(&r.at, r.offset_ms),
            r.latency_ms
        )
    };
    let _ = writeln!(
        out,
        "requests     {} over {:.3} s ({:.1}/s), {} ok, {} failed",
        s.total,
        s.duration_ms / 1000.0,
        s.start_rate_per_s,
        s.ok,
        s.failed
    );
    if let (Some(from), Some(to)) = (&s.started_at, &s.ended_at) {
        let _ = writeln!(out, "time         {from} → {to}");
    }
    if !s.failures_by_kind.is_empty() {
        let kinds: Vec<String> = s
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(out, "failures     {}", kinds.join(", "));
    }
    let width = s
        .versions
        .iter()
        .map(|v| v.version.chars().count())
        .max()
        .unwrap_or(0);
    for (i, v) in s.versions.iter().enumerate() {
        let label = if i == 0 { "versions" } else { "" };
        let _ = writeln!(
            out,
            "{label:<12} {:<width$}  {:>8}  first {}  last {}",
            v.version,
            v.count,
            when(&v.first_at, v.first_offset_ms),
            when(&v.last_at, v.last_offset_ms),
        );
    }
    match &s.transition {
        Some(t) => {
            let _ = writeln!(out, "transition   {} → {}", t.from, t.to);
            let _ = writeln!(out, "  last {:<14} {}", t.from, request(&t.last_old));
            if let Some(b) = &t.before_first_new {
                let _ = writeln!(out, "  {:<19} {}", "before first new", request(b));
            }
            let _ = writeln!(out, "  first {:<13} {}", t.to, request(&t.first_new));
            match &s.both_answered {
                Some(w) => {
                    let _ = writeln!(
                        out,
                        "  both answered for {:.3} ms, {} → {} ({} requests)",
                        w.duration_ms,
                        when(&w.from_at, w.from_offset_ms),
                        when(&w.to_at, w.to_offset_ms),
                        w.requests
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  clean switch: {:.3} ms from the last old answer to the first new",
                        t.gap_ms
                    );
                }
            }
        }
        None if s.versions.len() == 1 => {
            let _ = writeln!(
                out,
                "transition   none: only {} answered",
                s.versions[0].version
            );
        }
        None => {
            let _ = writeln!(out, "transition   none: no version answered");
        }
    }
    match &s.longest_failure {
        Some(f) => {
            let kinds: Vec<String> = f.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let bound = f
                .between_successes_ms
                .map(|b| format!(", {b:.3} ms between the successes around it"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "longest failure run  {} request{} over {:.3} ms{bound}: {}",
                f.count,
                if f.count == 1 { "" } else { "s" },
                f.duration_ms,
                kinds.join(", ")
            );
            let _ = writeln!(out, "  from {}", request(&f.first));
            let _ = writeln!(out, "  to   {}", request(&f.last));
        }
        None => {
            let _ = writeln!(out, "longest failure run  none");
        }
    }
    let pct = |p: &Percentiles| {
        format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (n={})",
            p.p50, p.p90, p.p99, p.p999, p.max, p.count
        )
    };
    if let Some(p) = &s.latency_ms {
        let _ = writeln!(out, "latency ms      {}", pct(p));
    }
    if let Some(p) = &s.sched_delay_ms {
        let _ = writeln!(out, "sched delay ms  {}", pct(p));
    }
    out
}

/// `12:00:00.123` out of an RFC 3339 time (the whole string when it is not one).
fn time_of_day(at: &str) -> &str {
    at.split_once('T')
        .map(|(_, t)| t.trim_end_matches('Z'))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, start_ms: u64, kind: Kind, version: Option<&str>) -> Record {
        Record {
            seq,
            start_unix_us: 1_700_000_000_000_000 + start_ms * 1000,
            sched_delay_us: Some(50),
            latency_us: 1000,
            kind,
            status: kind.is_ok().then_some(200),
            version: version.map(str::to_string),
            detail: None,
            retried: false,
        }
    }

    #[test]
    fn empty_runs_summarize_to_zeros() {
        let s = summarize(&[]);
        assert_eq!((s.total, s.failed, s.longest_failure_ms), (0, 0, 0.0));
        assert!(s.transition.is_none() && s.latency_ms.is_none());
        assert!(render_text(&s).contains("requests     0"));
    }

    #[test]
    fn finds_transition_overlap_and_failures() {
        let records = vec![
            rec(0, 0, Kind::Ok, Some("1")),
            rec(1, 10, Kind::ConnectRefused, None),
            rec(2, 20, Kind::ConnectRefused, None),
            rec(3, 30, Kind::Ok, Some("2")),
            rec(4, 40, Kind::Ok, Some("1")),
            rec(5, 50, Kind::Ok, Some("2")),
        ];
        let s = summarize(&records);
        assert_eq!((s.total, s.ok, s.failed), (6, 4, 2));
        let t = s.transition.as_ref().expect("a transition");
        assert_eq!((t.last_old.seq, t.first_new.seq), (4, 3));
        assert_eq!(t.before_first_new.as_ref().map(|r| r.seq), Some(2));
        let w = s.both_answered.as_ref().expect("an overlap");
        assert_eq!((w.duration_ms, w.requests), (10.0, 2));
        let f = s.longest_failure.as_ref().expect("a failure run");
        assert_eq!(
            (f.count, f.duration_ms, f.between_successes_ms),
            (2, 10.0, Some(30.0))
        );
        assert_eq!(s.longest_failure_ms, 10.0);
        assert_eq!(s.start_rate_per_s, 100.0);
    }

    fn stat(values: impl IntoIterator<Item = u64>) -> Percentiles {
        let mut s = Stat::default();
        for v in values {
            s.record(v);
        }
        s.percentiles().expect("values")
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        // Below 2048 µs the histogram is exact: the nearest-rank values themselves.
        let p = stat(1..=1000);
        assert_eq!((p.p50, p.p99, p.max, p.min), (0.5, 0.99, 1.0, 0.001));
        let one = stat([7]);
        assert_eq!((one.p50, one.p999), (0.007, 0.007));
    }

    #[test]
    fn percentiles_above_the_exact_range_are_within_a_thousandth() {
        let values: Vec<u64> = (0..10_000u64).map(|i| 1_000 + i * 97).collect();
        let p = stat(values.iter().copied());
        let exact = |q: f64| {
            let idx = (q * values.len() as f64).ceil() as usize;
            values[idx.clamp(1, values.len()) - 1] as f64 / 1000.0
        };
        for (got, q) in [(p.p50, 0.5), (p.p90, 0.9), (p.p99, 0.99), (p.p999, 0.999)] {
            let want = exact(q);
            assert!(
                (got - want).abs() <= want / 1000.0,
                "p{q}: {got} against {want}"
            );
        }
        assert_eq!(p.max, *values.last().unwrap() as f64 / 1000.0, "max exact");
        let mean = values.iter().sum::<u64>() as f64 / values.len() as f64 / 1000.0;
        assert!((p.mean - mean).abs() < 0.001, "mean exact");
    }

    #[test]
    fn reordering_restores_start_order_within_the_window() {
        let rec = |seq: u64, start: u64, latency: u64| Record {
            seq,
            start_unix_us: start,
            sched_delay_us: None,
            latency_us: latency,
            kind: Kind::Ok,
            status: Some(200),
            version: None,
            detail: None,
            retried: false,
        };
        // In completion order: a slow request (seq 0) ends after faster later ones.
        let arrivals = [
            rec(1, 1_000, 100),
            rec(2, 2_000, 100),
            rec(0, 0, 5_000),
            rec(3, 9_000, 100),
        ];
        let mut r = Reorder::new(std::time::Duration::from_micros(6_000));
        let mut out = Vec::new();
        for a in arrivals {
            r.push(a, &mut |x| out.push(x.seq));
        }
        assert!(r.held() < 4, "released what could no longer be overtaken");
        r.finish(&mut |x| out.push(x.seq));
        assert_eq!(out, [0, 1, 2, 3]);
    }
}
