//! Ctrl-C ends a run cleanly: the requests recorded so far are in the file and the summary.
//! Alone in its test binary, since the signal goes to the whole process.

#[allow(dead_code)]
#[path = "it/support/probe.rs"]
mod probe_support;

use std::time::Duration;

use cutover::probe::{self, report, StopReason};
use probe_support::{options, serve, version, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_and_keeps_the_records() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.duration = Some(Duration::from_secs(20));
    let pid = std::process::id().to_string();
    let interrupt = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        tokio::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
    });
    let outcome = probe::run(&opts).await.expect("runs");
    let killed = interrupt.await.expect("joins").expect("kill runs");
    assert!(killed.success());
    assert_eq!(outcome.stop, StopReason::Interrupted);
    assert!(outcome.records.len() >= 10, "{}", outcome.records.len());
    let saved = report::read_records(&outcome.records_path).expect("reads back");
    assert_eq!(saved.len(), outcome.records.len());
    assert_eq!(outcome.summary.total as usize, saved.len());
}
