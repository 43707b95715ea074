//! `cutover probe` and `cutover report` through the binary: exit codes, the JSON summary's keys,
//! and usage errors. The probe's request handling is tested in the probe_* tests.
#![allow(clippy::unwrap_used)]

use crate::support::{self, Sandbox};

#[test]
fn report_of_a_recorded_switch_gives_the_summary_and_fails_on_failed_requests() {
    let sb = Sandbox::empty();
    let fixture = support::repo_path("tests/fixtures/probe_switch.jsonl");
    let r = sb.run(&[
        "report",
        fixture.to_str().unwrap(),
        "--output",
        "json",
        "--svg",
        "run.svg",
    ]);
    assert_eq!(r.code, 1, "two requests failed in the fixture: {r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["total"], 40);
    assert_eq!(v["failed"], 2);
    assert_eq!(v["versions"][0]["version"], "0.0.1");
    assert_eq!(v["versions"][1]["version"], "0.0.2");
    for key in ["count", "first_at", "last_at"] {
        assert!(v["versions"][0].get(key).is_some(), "versions[0].{key}");
    }
    assert_eq!(v["transition"]["first_new"]["seq"], 22);
    assert_eq!(v["transition"]["last_old"]["seq"], 23);
    assert_eq!(v["transition"]["before_first_new"]["seq"], 21);
    assert!(v["longest_failure_ms"].as_f64().unwrap() > 0.0);
    let svg = sb.read("run.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("0.0.2"),
        "{}",
        &svg[..svg.len().min(200)]
    );
}

#[test]
fn report_of_a_bad_file_names_the_line() {
    let sb = Sandbox::empty();
    sb.write("bad.jsonl", "{\"seq\":0}\nnot json\n");
    let r = sb.run(&["report", "bad.jsonl"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("report_bad_line", sb, r);
}

#[test]
fn probe_usage_errors() {
    let sb = Sandbox::empty();
    let r = sb.run(&["probe", "http://127.0.0.1:9/version"]);
    assert_eq!(r.code, 2, "no end given: {r:?}");
    crate::assert_run_snapshot!("probe_without_end", sb, r);
    let r = sb.run(&["probe", "https://127.0.0.1:9/", "--duration", "1s"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("probe_https", sb, r);
    let r = sb.run(&["probe", "http://127.0.0.1:9/", "--duration", "soon"]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("probe_bad_duration", sb, r);
}

#[test]
fn probe_of_a_closed_port_fails_with_the_failures_recorded() {
    let sb = Sandbox::empty();
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/version");
    let r = sb.run(&[
        "-q",
        "probe",
        &url,
        "--duration",
        "300ms",
        "--rate",
        "50",
        "--results",
        "res",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["total"], v["failed"]);
    assert!(
        v["failures_by_kind"]["connect_refused"].as_u64().unwrap() > 0,
        "{v}"
    );
    let files = sb.list("res");
    assert!(files.iter().any(|f| f.ends_with(".jsonl")), "{files:?}");
}
