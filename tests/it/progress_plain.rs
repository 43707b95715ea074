//! Progress for logs: with stderr not a terminal (a pipe here, CodeBuild's log in the pipeline),
//! the probe writes no carriage-return status line and no escape codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Sandbox;

#[test]
fn a_probe_into_a_pipe_writes_no_carriage_returns() {
    let sb = Sandbox::empty();
    // Nothing listens on the discard port: every request fails fast, and the run still lasts
    // long enough for several terminal refreshes (every 250 ms).
    let r = sb.run(&[
        "probe",
        "http://127.0.0.1:9/version",
        "--duration",
        "1500ms",
        "--rate",
        "50",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        !r.stderr.contains('\r'),
        "a carriage return in {:?}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\x1b'),
        "an escape code in {:?}",
        r.stderr
    );
    assert!(r.stdout.contains("connect_refused"), "{r:?}");
}
