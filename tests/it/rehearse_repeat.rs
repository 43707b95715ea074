//! Twenty `cutover rehearse` runs in a row behind a real HAProxy, alternating v0.0.1 → v0.0.2
//! and back, each under the probe at 200 requests a second: not one request may fail, and each
//! must end on the new version. A flaky drain or a race in the weight shift shows up here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::support::rehearse::*;
use crate::support::Sandbox;

const CUTOVERS: usize = 20;

#[test]
fn twenty_cutovers_in_a_row_lose_no_request() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let started = Instant::now();
    let (mut requests, mut failed) = (0u64, 0u64);
    let mut lines = Vec::new();
    for i in 0..CUTOVERS {
        let (blue, green, to) = if i % 2 == 0 {
            (&v1, &v2, "0.0.2")
        } else {
            (&v2, &v1, "0.0.1")
        };
        let results = sb.join(&format!("run-{i:02}"));
        let mut args = fast_args(&results, blue, green);
        // Shorter than the other tests: 20 of them must stay well under two minutes.
        for (flag, value) in [
            ("--probe-before", "200ms"),
            ("--probe-after", "200ms"),
            ("--termination-wait", "200ms"),
        ] {
            let at = args.iter().position(|a| a == flag).unwrap() + 1;
            args[at] = value.into();
        }
        let one = Instant::now();
        let run = spawn(&sb, &strs(&args)).wait(Duration::from_secs(30));
        let took_one = one.elapsed();
        let r = run.report();
        let s = &r.summary;
        requests += s.total;
        failed += s.failed;
        lines.push(format!(
            "#{i:02} → {to}: {} requests, {} failed, {:?}",
            s.total, s.failed, took_one
        ));
        assert_eq!(run.code, 0, "cutover {i}: {run:?}");
        assert_eq!(s.failed, 0, "cutover {i}: {run:?}");
        assert_eq!(
            s.transition.as_ref().map(|t| t.to.as_str()),
            Some(to),
            "cutover {i}: {run:?}"
        );
    }
    let took = started.elapsed();
    eprintln!(
        "{CUTOVERS} cutovers: {requests} requests, {failed} failed, {took:?} ({:?} each)\n{}",
        took / CUTOVERS as u32,
        lines.join("\n")
    );
    assert!(took < Duration::from_secs(120), "took {took:?}");
}
