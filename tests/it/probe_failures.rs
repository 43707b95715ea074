//! Every kind of broken answer is classified and recorded, never a crash: each test starts a
//! small server on 127.0.0.1 that answers in one broken way and probes it for a moment.

use std::time::Duration;

use cutover::probe::{self, report, Kind, ProbeOptions, ProbeOutcome, Rate};

use crate::support::probe::{json, options, serve, version, with_type, Reply};
use crate::support::EVENT_WAIT;

async fn run(opts: &ProbeOptions) -> ProbeOutcome {
    let outcome = probe::run(opts).await.expect("the probe runs");
    // The file holds exactly what was returned.
    let saved = report::read_records(&outcome.records_path).expect("results file reads back");
    assert_eq!(saved, outcome.records);
    assert!(outcome.summary_path.exists());
    outcome
}

/// Probes a server answering every request with `reply` and checks all records are `kind`.
async fn all_classified_as(
    kind: Kind,
    reply: impl Fn() -> Reply + Send + Sync + 'static,
) -> ProbeOutcome {
    let server = serve(move |_| reply()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let outcome = run(&options(&server.url(), dir.path())).await;
    assert!(outcome.records.len() >= 3, "{:?}", outcome.records);
    for r in &outcome.records {
        assert_eq!(r.kind, kind, "{r:?}");
    }
    assert_eq!(
        outcome.summary.failed,
        if kind.is_ok() {
            0
        } else {
            outcome.summary.total
        }
    );
    assert_eq!(outcome.passed, kind.is_ok());
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_answers_are_ok_and_pass() {
    let outcome = all_classified_as(Kind::Ok, || Reply::Bytes(version("0.0.1"))).await;
    assert!(outcome
        .records
        .iter()
        .all(|r| r.version.as_deref() == Some("0.0.1") && r.status == Some(200)));
    assert!(outcome.records.iter().all(|r| r.sched_delay_us.is_some()));
    assert_eq!(outcome.summary.versions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_status_lines_are_malformed_http() {
    all_classified_as(Kind::MalformedHttp, || {
        Reply::BytesThenClose(b"HTPT/1.1 200 OK\r\n\r\n".to_vec())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_headers_are_malformed_http() {
    all_classified_as(Kind::MalformedHttp, || {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\nthis is no header\r\n\r\n".to_vec())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_bodies_are_not_json() {
    let outcome =
        all_classified_as(Kind::NotJson, || Reply::Bytes(json("<html>hello</html>"))).await;
    assert!(outcome.records[0]
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("<html>")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_not_json() {
    all_classified_as(Kind::NotJson, || Reply::Bytes(json(r#"{"version": "0.0"#))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_without_version_is_no_version() {
    all_classified_as(Kind::NoVersion, || {
        Reply::Bytes(json(r#"{"name":"sample-app"}"#))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_bad_content_type_but_keeps_the_version() {
    let outcome = all_classified_as(Kind::BadContentType, || {
        Reply::Bytes(with_type("text/html", r#"{"version":"0.0.1"}"#))
    })
    .await;
    assert_eq!(outcome.records[0].version.as_deref(), Some("0.0.1"));
    assert!(outcome.records[0]
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("text/html")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_time_out() {
    let server = serve(|_| Reply::Delayed(Duration::from_millis(400), version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.timeout = Duration::from_millis(100);
    let outcome = run(&opts).await;
    assert!(outcome.records.len() >= 3);
    for r in &outcome.records {
        assert_eq!(r.kind, Kind::Timeout, "{r:?}");
        assert!((100_000..300_000).contains(&r.latency_us), "{r:?}");
    }
    assert!(!outcome.passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_connect_refused() {
    // Take a free port, then free it again: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let dir = tempfile::tempdir().expect("temp dir");
    let outcome = run(&options(&format!("http://{addr}/version"), dir.path())).await;
    assert!(outcome.records.len() >= 3);
    assert!(
        outcome
            .records
            .iter()
            .all(|r| r.kind == Kind::ConnectRefused),
        "{:?}",
        outcome.records
    );
    assert_eq!(
        outcome.summary.failures_by_kind.get(&Kind::ConnectRefused),
        Some(&outcome.summary.total)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_are_reset() {
    all_classified_as(Kind::Reset, || Reply::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_without_answer_is_closed() {
    all_classified_as(Kind::Closed, || Reply::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_bodies_are_closed() {
    all_classified_as(Kind::Closed, || {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"ver".to_vec())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_redirect_with_their_target() {
    let outcome = all_classified_as(Kind::Redirect, || {
        Reply::Bytes(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n".to_vec())
    })
    .await;
    let r = &outcome.records[0];
    assert_eq!(r.status, Some(302));
    assert!(
        r.detail
            .as_deref()
            .is_some_and(|d| d.contains("/elsewhere")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_http_status() {
    let outcome = all_classified_as(Kind::HttpStatus, || {
        Reply::Bytes(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".to_vec())
    })
    .await;
    assert_eq!(outcome.records[0].status, Some(503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_close_delimited_bodies_are_read() {
    all_classified_as(Kind::Ok, || {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"versi\r\nb;ext=1\r\non\":\"0.0.1\"\r\n1\r\n}\r\n0\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    all_classified_as(Kind::Ok, || {
        Reply::BytesThenClose(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"version\":\"0.0.1\"}"
                .to_vec(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reuses_one_connection() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.keep_alive = true;
    opts.concurrency = 1;
    let outcome = run(&opts).await;
    assert!(outcome.records.len() >= 3);
    assert!(outcome
        .records
        .iter()
        .all(|r| r.kind == Kind::Ok && !r.retried));
    assert_eq!(
        server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_closed_by_the_server_is_retried_once() {
    // Answers as HTTP/1.1 without `Connection: close`, then closes anyway: the next request
    // on that connection finds it closed and goes out again on a new one.
    let server = serve(|_| Reply::BytesThenClose(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.keep_alive = true;
    opts.concurrency = 1;
    let outcome = run(&opts).await;
    assert!(
        outcome.records.iter().all(|r| r.kind == Kind::Ok),
        "{:?}",
        outcome.records
    );
    assert!(
        outcome.records.iter().skip(1).all(|r| r.retried),
        "{:?}",
        outcome.records
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_accept_queue_is_connect_timeout() {
    // A listener that never accepts, with its queue filled: new SYNs are dropped.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&format!("http://{addr}/version"), dir.path());
    opts.timeout = Duration::from_millis(100);
    let outcome = run(&opts).await;
    assert!(!outcome.records.is_empty());
    assert!(
        outcome
            .records
            .iter()
            .all(|r| r.kind == Kind::ConnectTimeout),
        "{:?}",
        outcome.records
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_max_rate_every_request_is_recorded() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.rate = Rate::Max;
    opts.concurrency = 4;
    opts.keep_alive = true;
    let outcome = run(&opts).await;
    assert!(outcome.records.len() > 50, "{}", outcome.records.len());
    assert!(outcome
        .records
        .iter()
        .all(|r| r.kind == Kind::Ok && r.sched_delay_us.is_none()));
    let mut seqs: Vec<u64> = outcome.records.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        outcome.records.len(),
        "sequence numbers are unique"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_bad_urls_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = probe::run(&options("https://127.0.0.1/version", dir.path()))
        .await
        .expect_err("https is refused");
    let text = err.to_string();
    assert!(
        text.contains("https://127.0.0.1/version") && text.contains("hint:"),
        "{text}"
    );
    let err = probe::run(&options("127.0.0.1:80", dir.path()))
        .await
        .expect_err("no scheme");
    assert!(err.to_string().contains("http://HOST"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_failures_lets_a_few_failures_pass() {
    for (max_failures, passes) in [(0, false), (1, true)] {
        // The first request is reset, the others answer.
        let server = serve(|req| {
            if req.index == 0 {
                Reply::Reset
            } else {
                Reply::Bytes(version("0.0.1"))
            }
        })
        .await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut opts = options(&server.url(), dir.path());
        opts.max_failures = max_failures;
        let outcome = run(&opts).await;
        assert_eq!((outcome.summary.failed, outcome.passed), (1, passes));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_run_and_keeps_what_was_recorded() {
    let server = serve(|_| Reply::Bytes(version("0.0.1"))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = options(&server.url(), dir.path());
    opts.duration = None;
    // No duration: only the stop ends the run, once the server has answered 5 requests.
    let stop = async {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        while server.requests() < 5 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "5 requests not answered within {EVENT_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let outcome = probe::run_until(&opts, stop).await.expect("runs");
    assert_eq!(outcome.stop, probe::StopReason::Interrupted);
    assert!(outcome.records.len() >= 5);
    assert_eq!(
        report::read_records(&outcome.records_path)
            .expect("reads")
            .len(),
        outcome.records.len()
    );
}
