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

/// Summarizes records in any order (they are sorted by start time, then sequence number).
pub fn summarize(records: &[Record]) -> Summary {
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by_key(|r| (r.start_unix_us, r.seq));
    let t0 = order.first().map_or(0, |r| r.start_unix_us);
    let at = |r: &Record| request_ref(r, t0);

    let total = count(order.len());
    let ok = count(order.iter().filter(|r| r.kind.is_ok()).count());
    let mut failures_by_kind = BTreeMap::new();
    for r in order.iter().filter(|r| !r.kind.is_ok()) {
        *failures_by_kind.entry(r.kind).or_insert(0) += 1;
    }
    let end_us = order
        .iter()
        .map(|r| r.start_unix_us.saturating_add(r.latency_us))
        .max()
        .unwrap_or(t0);
    let last_start = order.last().map_or(t0, |r| r.start_unix_us);
    let start_rate_per_s = if total > 1 && last_start > t0 {
        round3((total - 1) as f64 / ((last_start - t0) as f64 / 1e6))
    } else {
        0.0
    };

    // Versions in order of first appearance, with the index of their first and last answer.
    let mut versions: Vec<(String, u64, usize, usize)> = Vec::new();
    for (i, r) in order.iter().enumerate() {
        let Some(v) = &r.version else { continue };
        match versions.iter_mut().find(|(name, ..)| name == v) {
            Some(entry) => {
                entry.1 += 1;
                entry.3 = i;
            }
            None => versions.push((v.clone(), 1, i, i)),
        }
    }
    let last_version = order.iter().rev().find_map(|r| r.version.as_deref());
    let transition_ends = match (versions.first(), last_version) {
        (Some(old), Some(new)) if old.0 != new => versions
            .iter()
            .find(|v| v.0 == new)
            .map(|new| (old.clone(), new.clone())),
        _ => None,
    };
    let transition = transition_ends.as_ref().map(|(old, new)| {
        let (last_old, first_new) = (order[old.3], order[new.2]);
        Transition {
            from: old.0.clone(),
            to: new.0.clone(),
            last_old: at(last_old),
            first_new: at(first_new),
            before_first_new: new.2.checked_sub(1).map(|i| at(order[i])),
            gap_ms: ms_signed(first_new.start_unix_us, last_old.start_unix_us),
        }
    });
    let both_answered = transition_ends.as_ref().and_then(|(old, new)| {
        let (from, to) = (order[new.2].start_unix_us, order[old.3].start_unix_us);
        (old.3 > new.2).then(|| Window {
            from_at: format_unix_us(from),
            to_at: format_unix_us(to),
            from_offset_ms: ms(from.saturating_sub(t0)),
            to_offset_ms: ms(to.saturating_sub(t0)),
            duration_ms: ms(to.saturating_sub(from)),
            requests: count(old.3 - new.2 + 1),
        })
    });

    let longest_failure = longest_failure_run(&order, t0);
    let ok_latencies: Vec<u64> = order
        .iter()
        .filter(|r| r.kind.is_ok())
        .map(|r| r.latency_us)
        .collect();
    let delays: Vec<u64> = order.iter().filter_map(|r| r.sched_delay_us).collect();
    Summary {
        total,
        ok,
        failed: total - ok,
        started_at: order.first().map(|r| format_unix_us(r.start_unix_us)),
        ended_at: order.last().map(|_| format_unix_us(end_us)),
        duration_ms: ms(end_us.saturating_sub(t0)),
        start_rate_per_s,
        failures_by_kind,
        versions: versions
            .iter()
            .map(|(version, n, first, last)| {
                let (first, last) = (order[*first].start_unix_us, order[*last].start_unix_us);
                VersionSeen {
                    version: version.clone(),
                    count: *n,
                    first_at: format_unix_us(first),
                    last_at: format_unix_us(last),
                    first_offset_ms: ms(first.saturating_sub(t0)),
                    last_offset_ms: ms(last.saturating_sub(t0)),
                }
            })
            .collect(),
        transition,
        both_answered,
        longest_failure_ms: longest_failure.as_ref().map_or(0.0, |f| f.duration_ms),
        longest_failure,
        latency_ms: percentiles(ok_latencies),
        sched_delay_ms: percentiles(delays),
    }
}

/// The longest stretch of consecutive failures by time, the most failures breaking ties.
fn longest_failure_run(order: &[&Record], t0: u64) -> Option<FailureRun> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < order.len() {
        if order[i].kind.is_ok() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < order.len() && !order[j + 1].kind.is_ok() {
            j += 1;
        }
        let span = |(a, b): (usize, usize)| {
            (
                order[b]
                    .start_unix_us
                    .saturating_sub(order[a].start_unix_us),
                b - a,
            )
        };
        if best.map_or(true, |b| span((i, j)) > span(b)) {
            best = Some((i, j));
        }
        i = j + 1;
    }
    let (a, b) = best?;
    let (first, last) = (order[a], order[b]);
    let mut kinds = BTreeMap::new();
    for r in &order[a..=b] {
        *kinds.entry(r.kind).or_insert(0) += 1;
    }
    let between_successes_ms = match (a.checked_sub(1), order.get(b + 1)) {
        (Some(before), Some(after)) => Some(ms(after
            .start_unix_us
            .saturating_sub(order[before].start_unix_us))),
        _ => None,
    };
    Some(FailureRun {
        count: count(b - a + 1),
        first: request_ref(first, t0),
        last: request_ref(last, t0),
        duration_ms: ms(last.start_unix_us.saturating_sub(first.start_unix_us)),
        between_successes_ms,
        kinds,
    })
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

/// Nearest-rank percentiles of microsecond values, in milliseconds.
fn percentiles(mut us: Vec<u64>) -> Option<Percentiles> {
    if us.is_empty() {
        return None;
    }
    us.sort_unstable();
    let n = us.len();
    let rank = |p: f64| {
        // ceil(p * n) - 1, within bounds.
        let idx = (p * n as f64).ceil() as usize;
        ms(us[idx.clamp(1, n) - 1])
    };
    let sum: u128 = us.iter().map(|&v| u128::from(v)).sum();
    Some(Percentiles {
        count: count(n),
        min: ms(us[0]),
        p50: rank(0.50),
        p90: rank(0.90),
        p99: rank(0.99),
        p999: rank(0.999),
        max: ms(us[n - 1]),
        mean: round3(sum as f64 / n as f64 / 1000.0),
    })
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
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

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = percentiles((1..=1000).collect()).expect("values");
        assert_eq!((p.p50, p.p99, p.max, p.min), (0.5, 0.99, 1.0, 0.001));
        let one = percentiles(vec![7]).expect("one value");
        assert_eq!((one.p50, one.p999), (0.007, 0.007));
    }
}
