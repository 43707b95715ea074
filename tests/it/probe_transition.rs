//! The summary's transition: on a recorded run with a known switch point (a fixture file),
//! and live, against a server that switches from 0.0.1 to 0.0.2 at a known request.

use std::path::Path;
use std::time::Duration;

use cutover::probe::{self, report, summary::Summary, Kind, Rate, StopReason};

use crate::support::probe::{options, serve, version, Reply};

const FIXTURE: &str = "tests/fixtures/probe_switch.jsonl";

fn fixture_summary() -> (Vec<probe::Record>, Summary) {
    let records = report::read_records(Path::new(FIXTURE)).expect("the fixture reads");
    let summary = probe::summarize(&records);
    (records, summary)
}

#[test]
fn the_recorded_switch_is_found() {
    let (records, s) = fixture_summary();
    assert_eq!(records.len(), 40);
    assert_eq!((s.total, s.ok, s.failed), (40, 38, 2));
    let t = s.transition.as_ref().expect("a transition");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("0.0.1", "0.0.2"));
    // #22 answered 0.0.2 first; #23, started after it, still got 0.0.1; #21 just before was refused.
    assert_eq!(t.first_new.seq, 22);
    assert_eq!(t.last_old.seq, 23);
    let before = t.before_first_new.as_ref().expect("a request before");
    assert_eq!((before.seq, before.kind), (21, Kind::ConnectRefused));
    assert_eq!(t.first_new.at, "2026-01-01T00:00:01.100Z");
    let both = s.both_answered.as_ref().expect("both answered for a while");
    assert_eq!((both.requests, both.duration_ms), (2, 50.037));
    let run = s.longest_failure.as_ref().expect("a failure run");
    assert_eq!((run.first.seq, run.last.seq, run.count), (20, 21, 2));
    assert_eq!(s.longest_failure_ms, 50.037);
}

#[test]
fn the_summary_json_has_the_documented_keys_and_reads_back() {
    let (_, s) = fixture_summary();
    let value = serde_json::to_value(&s).expect("serializes");
    for key in [
        "total",
        "failed",
        "versions",
        "transition",
        "longest_failure_ms",
    ] {
        assert!(value.get(key).is_some(), "missing `{key}`");
    }
    for v in value["versions"].as_array().expect("an array") {
        for key in ["version", "count", "first_at", "last_at"] {
            assert!(v.get(key).is_some(), "missing `versions[].{key}`");
        }
    }
    assert_eq!(value["versions"][1]["first_at"], "2026-01-01T00:00:01.100Z");
    // Summary denies unknown fields: a renamed field fails here.
    let back: Summary = serde_json::from_value(value).expect("reads back");
    assert_eq!(back, s);
}

#[test]
fn the_summary_snapshots() {
    let (records, s) = fixture_summary();
    insta::assert_json_snapshot!("fixture_summary_json", s);
    insta::assert_snapshot!("fixture_summary_text", probe::render_text(&s));
    let svg = probe::svg::render(&records, &s);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("version 0.0.2 (17)") && svg.contains("both versions answered"));
    // To look at it: PROBE_SVG_OUT=/tmp/fixture.svg cargo test --test it probe_transition
    if let Some(out) = std::env::var_os("PROBE_SVG_OUT") {
        std::fs::write(out, &svg).expect("writes the SVG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_switch_gives_the_right_transition_and_stops_when_stable() {
    // The server answers 0.0.2 from its SWITCH_AT-th request on. One request at a time, so the
    // server's count and the probe's sequence numbers are the same.
    const SWITCH_AT: u64 = 30;
    let server = serve(move |req| {
        Reply::Bytes(version(if req.index < SWITCH_AT {
            "0.0.1"
        } else {
            "0.0.2"
        }))
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.rate = Rate::Fixed(100.0);
    opts.concurrency = 1;
    opts.duration = Some(Duration::from_secs(5));
    opts.until_version = Some("0.0.2".into());
    opts.stable_for = Duration::from_millis(200);
    let outcome = probe::run(&opts).await.expect("runs");
    let s = &outcome.summary;
    eprintln!("{}", probe::render_text(s));
    // Before the 5 s duration: the stop came from the stable new version.
    assert_eq!(outcome.stop, StopReason::VersionStable);
    assert_eq!(
        (outcome.until_version_reached, outcome.passed),
        (Some(true), true)
    );
    let t = s.transition.as_ref().expect("a transition");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("0.0.1", "0.0.2"));
    assert_eq!(t.last_old.seq + 1, t.first_new.seq);
    assert_eq!(
        t.before_first_new.as_ref().map(|r| r.seq),
        Some(t.last_old.seq)
    );
    assert!(s.both_answered.is_none());
    // The switch is where the server made it, and its offset is that request's start, in ms
    // from the first request's.
    assert_eq!(
        (t.last_old.seq, t.first_new.seq),
        (SWITCH_AT - 1, SWITCH_AT)
    );
    let start = |seq: u64| {
        outcome
            .records
            .iter()
            .find(|r| r.seq == seq)
            .map(|r| r.start_unix_us)
            .expect("a record of every request")
    };
    let offset_ms = (start(SWITCH_AT) - start(0)) as f64 / 1000.0;
    assert!(
        (t.first_new.offset_ms - offset_ms).abs() < 0.001,
        "{:?}, not at {offset_ms} ms",
        t.first_new
    );
    // Stable for 200 ms at 100/s: about 20 answers of 0.0.2 before stopping.
    let new = &s.versions[1];
    assert!((19..=30).contains(&new.count), "{new:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreached_version_fails_the_run() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.until_version = Some("0.0.2".into());
    let outcome = probe::run(&opts).await.expect("runs");
    assert_eq!(outcome.stop, StopReason::Duration);
    assert_eq!(outcome.summary.failed, 0);
    assert_eq!(
        (outcome.until_version_reached, outcome.passed),
        (Some(false), false)
    );
}

/// The streamed summary of the file (constant memory, `cutover report` without --svg) is the one
/// read all at once.
#[test]
fn the_streamed_summary_of_the_fixture_is_the_batch_one() {
    let (_, batch) = fixture_summary();
    let streamed = report::summarize_file(Path::new(FIXTURE)).expect("the fixture streams");
    assert_eq!(streamed, batch);
}

/// A probe that keeps no records (`cutover probe` without --svg, `cutover deploy --probe`)
/// summarizes as the records come: the same summary as its file read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_keeps_no_records_summarizes_what_its_file_holds() {
    let server = serve(|r| {
        if r.index < 40 {
            Reply::Bytes(version("0.0.1"))
        } else {
            Reply::Bytes(version("0.0.2"))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&server.url(), dir.path());
    o.rate = Rate::Fixed(400.0);
    o.duration = Some(Duration::from_millis(300));
    o.keep_records = false;
    let out = probe::run_until(&o, std::future::pending()).await.unwrap();
    assert!(out.records.is_empty(), "no record kept");
    assert!(out.summary.total > 40, "{:?}", out.summary.total);
    let back = probe::summarize(&report::read_records(&out.records_path).unwrap());
    assert_eq!(out.summary, back);
    assert_eq!(out.summary.versions.len(), 2);
}

proptest::proptest! {
    /// Records arriving in any completion order (each within its latency of its start) give the
    /// summary of the same records sorted: the reorder window restores start order.
    #[test]
    fn completion_order_does_not_change_the_summary(
        specs in proptest::collection::vec((0u64..3, 1u64..50_000, 0u8..4), 1..200)
    ) {
        use cutover::probe::summary::{Reorder, Summarizer};
        let records: Vec<probe::Record> = specs
            .iter()
            .enumerate()
            .map(|(i, (version, latency, kind))| probe::Record {
                seq: i as u64,
                start_unix_us: 1_000_000 + i as u64 * 5_000,
                sched_delay_us: Some(*latency % 300),
                latency_us: *latency,
                kind: if *kind == 0 { Kind::ConnectRefused } else { Kind::Ok },
                status: (*kind != 0).then_some(200),
                version: (*kind != 0).then(|| format!("0.0.{version}")),
                detail: None,
                retried: false,
            })
            .collect();
        let batch = probe::summarize(&records);
        let mut arrival = records.clone();
        arrival.sort_by_key(|r| (r.start_unix_us + r.latency_us, r.seq));
        let mut reorder = Reorder::new(Duration::from_millis(50));
        let mut s = Summarizer::default();
        for r in arrival {
            reorder.push(r, &mut |x| s.push(&x));
        }
        reorder.finish(&mut |x| s.push(&x));
        proptest::prop_assert_eq!(s.finish(), batch);
    }
}
