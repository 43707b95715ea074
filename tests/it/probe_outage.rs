//! An injected outage is detected and the summary gives its window: the server refuses
//! connections (or stops answering) for about 200 ms in the middle of a run.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::probe::{self, Kind, Rate};

use crate::support::probe::{accept_loop, bind_reusable, options, reply_fn, serve, version, Reply};

const OUTAGE_AT: Duration = Duration::from_millis(300);
const OUTAGE: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_outage_is_found_with_its_length() {
    // Serve, close the listener for OUTAGE, then serve again on the same port.
    let first = bind_reusable("127.0.0.1:0".parse().expect("addr"));
    let addr = first.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let reply = reply_fn(|_| Reply::Bytes(version("0.0.1")));
        let (count, conns, started) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Instant::now(),
        );
        let outage_at = tokio::time::Instant::now() + OUTAGE_AT;
        accept_loop(
            first,
            reply.clone(),
            count.clone(),
            conns.clone(),
            started,
            Some(outage_at),
        )
        .await;
        tokio::time::sleep(OUTAGE).await;
        let again = bind_reusable(addr);
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        accept_loop(again, reply, count, conns, started, Some(end)).await;
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&format!("http://{addr}/version"), dir.path());
    opts.rate = Rate::Fixed(200.0);
    opts.duration = Some(Duration::from_millis(900));
    let outcome = probe::run(&opts).await.expect("runs");
    server.abort();

    let s = &outcome.summary;
    eprintln!("{}", probe::render_text(s));
    assert!(!outcome.passed);
    // Mostly refused; a connection the kernel queued just before the listener closed is reset.
    let refused = s
        .failures_by_kind
        .get(&Kind::ConnectRefused)
        .copied()
        .unwrap_or(0);
    let reset = s.failures_by_kind.get(&Kind::Reset).copied().unwrap_or(0);
    let others: Vec<_> = outcome
        .records
        .iter()
        .filter(|r| !matches!(r.kind, Kind::Ok | Kind::ConnectRefused))
        .map(|r| (r.seq, r.kind, r.detail.clone()))
        .collect();
    assert!(
        refused + reset == s.failed && reset <= 2,
        "failures other than refused: {others:?}\n{s:?}"
    );
    let run = s.longest_failure.as_ref().expect("a failure run");
    assert_eq!(run.count, s.failed, "one outage, one run of failures");
    // 200 ms at 200 requests/s: about 40 refused requests over about 195 ms (wide bounds: the
    // machine running the tests may be busy).
    assert!(
        (120.0..=450.0).contains(&s.longest_failure_ms),
        "{}",
        s.longest_failure_ms
    );
    assert!((20..=90).contains(&run.count), "{}", run.count);
    let bound = run.between_successes_ms.expect("successes on both sides");
    assert!(bound >= s.longest_failure_ms && bound <= 500.0, "{bound}");
    // The window sits where the outage was.
    assert!(
        (200.0..=700.0).contains(&run.first.offset_ms),
        "{:?}",
        run.first
    );
    assert!(probe::render_text(s).contains("longest failure run  "));
    // To look at it: PROBE_SVG_OUT=/tmp/outage.svg cargo test --test it probe_outage
    if let Some(out) = std::env::var_os("PROBE_SVG_OUT") {
        std::fs::write(out, probe::svg::render(&outcome.records, s)).expect("writes the SVG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_outage_is_found_as_timeouts() {
    // Requests arriving during the outage are answered only long after the timeout.
    let server = serve(|req| {
        if req.elapsed >= OUTAGE_AT && req.elapsed < OUTAGE_AT + OUTAGE {
            Reply::Delayed(Duration::from_secs(2), version("0.0.1"))
        } else {
            Reply::Bytes(version("0.0.1"))
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.rate = Rate::Fixed(200.0);
    opts.duration = Some(Duration::from_millis(900));
    opts.timeout = Duration::from_millis(80);
    let outcome = probe::run(&opts).await.expect("runs");
    let s = &outcome.summary;
    eprintln!("{}", probe::render_text(s));
    assert_eq!(
        s.failures_by_kind.keys().copied().collect::<Vec<_>>(),
        vec![Kind::Timeout],
        "{s:?}"
    );
    let run = s.longest_failure.as_ref().expect("a failure run");
    assert_eq!(run.count, s.failed);
    assert!(
        (120.0..=450.0).contains(&s.longest_failure_ms),
        "{}",
        s.longest_failure_ms
    );
}
