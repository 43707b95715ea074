//! Ctrl-C ends a probe cleanly: the requests recorded so far are in the file and the summary, and
//! the exit code says it was interrupted. The signal goes to a `cutover probe` child process, so
//! this test shares its binary with the others.

use cutover::probe::{report, Summary};

use crate::support::probe::{serve, version, Reply};
use crate::support::{eventually, Sandbox, EVENT_WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_and_keeps_the_records() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let sb = Sandbox::empty();
    let url = server.url();
    let child = sb.spawn(&[
        "probe",
        &url,
        "--rate",
        "50",
        "--duration",
        "20s",
        "--timeout",
        "1s",
        "--results",
        "res",
        "--output",
        "json",
    ]);
    // Interrupted once the server has answered 10 requests, long before the 20 s are up.
    eventually("10 answered requests", EVENT_WAIT, || {
        server.requests() >= 10
    });
    child.signal("INT");
    let run = child.wait(EVENT_WAIT);
    assert_eq!(run.code, 130, "exit code of an interrupted probe: {run:?}");
    let summary: Summary = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a summary ({e}): {run:?}"));
    assert!(summary.total >= 10, "{run:?}");
    let records = sb
        .list("res")
        .into_iter()
        .find(|f| f.ends_with(".jsonl"))
        .unwrap_or_else(|| panic!("no records file in res/: {:?}", sb.list("res")));
    let saved = report::read_records(&sb.join(&format!("res/{records}"))).expect("reads back");
    assert_eq!(saved.len() as u64, summary.total);
}
