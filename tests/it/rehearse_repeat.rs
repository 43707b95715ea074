//! Twenty `cutover rehearse` runs in a row behind a real HAProxy, alternating v0.0.1 → v0.0.2
//! and back, each under the probe at 200 requests a second: not one request may fail, and each
//! must end on the new version. A flaky drain or a race in the weight shift shows up here. How
//! long the twenty take is a benchmark, not a test: bench/rehearse.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::rehearse::*;
use crate::support::Sandbox;

const CUTOVERS: usize = 20;

#[test]
fn twenty_cutovers_in_a_row_lose_no_request() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
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
        // Shorter than the other tests' settings, as bench/rehearse.sh times them.
        for (flag, value) in [
            ("--probe-before", "200ms"),
            ("--probe-after", "200ms"),
            ("--termination-wait", "200ms"),
        ] {
            let at = args.iter().position(|a| a == flag).unwrap() + 1;
            args[at] = value.into();
        }
        let run = rehearse(&sb, &strs(&args));
        let r = run.report();
        let s = &r.summary;
        requests += s.total;
        failed += s.failed;
        lines.push(format!(
            "#{i:02} → {to}: {} requests, {} failed",
            s.total, s.failed
        ));
        assert_eq!(run.code, 0, "cutover {i}: {run:?}");
        assert_eq!(s.failed, 0, "cutover {i}: {run:?}");
        assert_eq!(
            s.transition.as_ref().map(|t| t.to.as_str()),
            Some(to),
            "cutover {i}: {run:?}"
        );
    }
    eprintln!(
        "{CUTOVERS} cutovers: {requests} requests, {failed} failed\n{}",
        lines.join("\n")
    );
}
