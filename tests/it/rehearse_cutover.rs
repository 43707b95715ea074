//! `cutover rehearse` against the sample app (v0.0.1 → v0.0.2) behind a real HAProxy on
//! 127.0.0.1: a clean all-at-once cutover, canary and linear shifts where both versions answer,
//! injected outages that the probe catches with their window, and the failure paths (HAProxy
//! missing, green never starting, Ctrl-C) that must leave no child running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cutover::probe::Kind;

use crate::support::rehearse::*;
use crate::support::{eventually, Sandbox, EVENT_WAIT};

/// The progress line of the first shift of `--strategy canary:10:1`.
const CANARY_STARTED: &str = "shift: green 10 %";

#[test]
fn all_at_once_switches_to_green_with_no_failed_request() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let args = fast_args(sb.path(), &v1, &v2);
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert!(r.passed && r.problems.is_empty(), "{run:?}");
    assert_eq!(r.strategy, "ECSAllAtOnce");
    let s = &r.summary;
    assert_eq!(s.failed, 0, "{run:?}");
    assert!(s.total > 100, "too few requests for a proof: {}", s.total);
    let t = s.transition.as_ref().expect("a transition in the summary");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("0.0.1", "0.0.2"));
    assert_eq!(r.blue.version.as_deref(), Some("0.0.1"));
    assert_eq!(r.green.version.as_deref(), Some("0.0.2"));
    // Blue drained and exited by itself on SIGTERM.
    let stopped = r.blue.stopped.as_ref().expect("blue stopped");
    assert_eq!((stopped.code, stopped.forced), (Some(0), false), "{run:?}");
    // The probe kept going after blue stopped, and green answered.
    let stop_at = event_offset(&r, "blue stopped");
    let last_green = s.versions.iter().find(|v| v.version == "0.0.2").unwrap();
    assert!(last_green.last_offset_ms > stop_at, "{run:?}");
    // Every file is there, and the picture shows both versions and the marks.
    for f in [
        &r.records_file,
        &r.summary_file,
        &r.report_file,
        &r.haproxy_log,
    ] {
        assert!(f.is_file(), "{} missing", f.display());
    }
    let svg = std::fs::read_to_string(&r.svg_file).unwrap();
    for needle in [
        "0.0.1 → 0.0.2",
        "version 0.0.1",
        "version 0.0.2",
        "green 100 %",
        "SIGTERM blue",
    ] {
        assert!(svg.contains(needle), "the picture lacks `{needle}`");
    }
    // The text output names the transition too.
    let text = rehearse(&sb, &strs(&args[2..]));
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("transition   0.0.1 → 0.0.2"),
        "{text:?}"
    );
    assert!(text.stdout.contains("result       PASS"), "{text:?}");
}

#[test]
fn canary_has_both_versions_answering_in_a_window() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--strategy", "canary:20:1", "--interval", "1s"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert_eq!(r.strategy, "ECSCanary20Percent1Minutes");
    assert_eq!(r.steps, vec![(0, 20), (1000, 100)]);
    let s = &r.summary;
    assert_eq!(s.failed, 0, "{run:?}");
    let both = s.both_answered.as_ref().expect("a window of both versions");
    assert!(
        both.duration_ms > 500.0 && both.duration_ms < 2500.0,
        "both answered for {} ms, expected about the 1 s canary",
        both.duration_ms
    );
    // About a fifth of the canary window's requests went to green.
    let canary_at = event_offset(&r, "shift: green 20 %");
    let full_at = event_offset(&r, "shift: green 100 %");
    let records = cutover::probe::report::read_records(&r.records_file).unwrap();
    let t0 = records.iter().map(|r| r.start_unix_us).min().unwrap();
    let in_canary: Vec<_> = records
        .iter()
        .filter(|x| {
            let at = (x.start_unix_us - t0) as f64 / 1000.0;
            at > canary_at + 20.0 && at < full_at
        })
        .collect();
    let green = in_canary
        .iter()
        .filter(|x| x.version.as_deref() == Some("0.0.2"))
        .count();
    let share = green as f64 / in_canary.len() as f64;
    assert!(
        (0.1..0.3).contains(&share),
        "green's share in the canary was {share:.2} of {}",
        in_canary.len()
    );
}

#[test]
fn linear_shifts_in_steps_with_no_failed_request() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(
        [
            "--strategy",
            "ECSLinear25PercentEvery1Minutes",
            "--interval",
            "250ms",
        ]
        .map(String::from),
    );
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert_eq!(
        r.steps,
        vec![(0, 25), (250, 50), (500, 75), (750, 100)],
        "{run:?}"
    );
    assert_eq!(r.summary.failed, 0, "{run:?}");
    assert!(r.summary.both_answered.is_some(), "{run:?}");
}

#[test]
fn killing_blue_without_a_drain_is_caught_with_its_window() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--inject-outage", "kill-blue"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 1, "{run:?}");
    let r = run.report();
    assert!(!r.passed, "{run:?}");
    assert!(
        r.problems.iter().any(|p| p.contains("requests failed")),
        "{run:?}"
    );
    let s = &r.summary;
    assert!(s.failed > 0, "{run:?}");
    let f = s.longest_failure.as_ref().expect("the failure window");
    assert!(f.count > 0 && s.longest_failure_ms > 0.0, "{run:?}");
    // The window lies between the kill and the shift to green (a little slack for requests
    // already under way at either end).
    let killed = event_offset(&r, "outage injected");
    let shifted = event_offset(&r, "shift: green 100 %");
    assert!(
        f.first.offset_ms >= killed - 10.0 && f.last.offset_ms <= shifted + 20.0,
        "window {}..{} ms, kill at {killed}, shift at {shifted}\n{run:?}",
        f.first.offset_ms,
        f.last.offset_ms
    );
    // Green took over afterwards.
    assert_eq!(
        s.transition.as_ref().map(|t| t.to.as_str()),
        Some("0.0.2"),
        "{run:?}"
    );
    let svg = std::fs::read_to_string(&r.svg_file).unwrap();
    assert!(svg.contains("longest failure run:") && svg.contains("outage injected"));
}

#[test]
fn a_stall_longer_than_the_timeout_is_caught_with_its_window() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--inject-outage", "stall-blue:200", "--timeout", "100ms"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 1, "{run:?}");
    let r = run.report();
    let s = &r.summary;
    assert!(
        s.failures_by_kind.get(&Kind::Timeout).copied().unwrap_or(0) > 0,
        "{run:?}"
    );
    let f = s.longest_failure.as_ref().expect("the failure window");
    let frozen = event_offset(&r, "outage injected");
    let resumed = event_offset(&r, "blue resumed");
    // It starts in the freeze; it may end a little after it, as requests sent just after the
    // resume can wait behind the connections queued during the freeze, up to the timeout.
    assert!(
        (frozen - 10.0..=resumed).contains(&f.first.offset_ms)
            && f.last.offset_ms <= resumed + 100.0 + 50.0,
        "window {}..{} ms, frozen {frozen}..{resumed}\n{run:?}",
        f.first.offset_ms,
        f.last.offset_ms
    );
}

#[test]
fn haproxy_missing_is_a_clear_error_with_an_install_hint() {
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--haproxy", "/nonexistent/haproxy"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 3, "{run:?}");
    crate::assert_run_snapshot!("haproxy_missing", sb, run);
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::empty();
    let (v1, v2) = (v1(), v2());
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--strategy", "blue-green"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 2, "{run:?}");
    crate::assert_run_snapshot!("bad_strategy", sb, run);
    let run = rehearse(&sb, &["--blue-cmd", "x"]);
    assert_eq!(run.code, 2, "{run:?}");
    crate::assert_run_snapshot!("green_cmd_missing", sb, run);
    let run = rehearse(&sb, &["--blue-cmd", "app 'open", "--green-cmd", "app"]);
    assert_eq!(run.code, 2, "{run:?}");
    crate::assert_run_snapshot!("unclosed_quote", sb, run);
}

#[test]
fn commands_are_split_as_a_shell_would() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    // Blue's program lives in a folder with a space, quoted on the command line.
    let spaced = sb.join("blue app");
    std::fs::create_dir(&spaced).unwrap();
    std::fs::copy(&v1, spaced.join("sample-app")).unwrap();
    let mut args = fast_args(sb.path(), &v1, &v2);
    let blue = args.iter().position(|a| a == "--blue-cmd").unwrap() + 1;
    args[blue] = format!(
        "'{}' --bind \"127.0.0.1\" --port {{port}}",
        spaced.join("sample-app").display()
    );
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert_eq!(r.blue.version.as_deref(), Some("0.0.1"), "{run:?}");
    assert_eq!(r.summary.failed, 0, "{run:?}");
}

#[test]
fn a_green_that_never_starts_stops_blue_and_haproxy() {
    require_haproxy();
    let v1 = v1();
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v1);
    let green = args.iter().position(|a| a == "--green-cmd").unwrap() + 1;
    args[green] = "/bin/false".into();
    args.extend(["--start-timeout", "2s"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("green exited before it was healthy"),
        "{run:?}"
    );
    // The record up to the error is still reported.
    let r = run.report();
    assert!(r.summary.total > 0, "{run:?}");
    let lb = run
        .addr_after("HAProxy listening on http://")
        .expect("HAProxy's address in the progress");
    let blue = run
        .addr_after("blue starting on ")
        .expect("blue's address in the progress");
    assert!(!listening(lb), "HAProxy still runs after the error");
    assert!(!listening(blue), "blue still runs after the error");
}

#[test]
fn ctrl_c_stops_the_probe_and_every_child() {
    interrupt_stops_everything("INT");
}

#[test]
fn sigterm_stops_the_probe_and_every_child() {
    interrupt_stops_everything("TERM");
}

/// SIGKILL runs no code of cutover's: the kernel's parent-death signal (set through setpriv)
/// must stop blue, green and HAProxy.
#[test]
fn sigkill_of_cutover_still_stops_every_child() {
    require_haproxy();
    assert!(
        std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "setpriv (util-linux) is needed for this test"
    );
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--strategy", "canary:10:1", "--interval", "30s"].map(String::from));
    let child = spawn(&sb, &strs(&args));
    // In the middle of the 30 s canary: blue, green and HAProxy all run.
    child.wait_for_stderr(CANARY_STARTED);
    child.signal("KILL");
    let run = child.wait(LIMIT);
    assert_ne!(run.code, 0, "{run:?}");
    for prefix in [
        "HAProxy listening on http://",
        "blue starting on ",
        "green starting on ",
    ] {
        let addr = run.addr_after(prefix).expect(prefix);
        // The sample app drains on SIGTERM, which takes a moment.
        eventually(
            &format!("{prefix}{addr} to stop listening after SIGKILL of cutover"),
            EVENT_WAIT,
            || !listening(addr),
        );
    }
}

fn interrupt_stops_everything(signal: &str) {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    // A long canary, so the interrupt lands in the middle of it.
    args.extend(["--strategy", "canary:10:1", "--interval", "30s"].map(String::from));
    let child = spawn(&sb, &strs(&args));
    // Once green takes traffic: in the middle of the 30 s canary.
    child.wait_for_stderr(CANARY_STARTED);
    child.signal(signal);
    let run = child.wait(LIMIT);
    // How long the stop takes is measured by bench/stop.sh.
    assert_eq!(run.code, 130, "{run:?}");
    let r = run.report();
    assert!(!r.passed);
    assert!(
        r.problems.iter().any(|p| p.contains("interrupted")),
        "{run:?}"
    );
    for prefix in [
        "HAProxy listening on http://",
        "blue starting on ",
        "green starting on ",
    ] {
        let addr = run.addr_after(prefix).expect(prefix);
        assert!(
            !listening(addr),
            "{prefix}{addr} still listens after SIG{signal}"
        );
    }
}

#[test]
fn requests_in_flight_at_the_shift_and_drain_all_finish() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    // Every request takes 250 ms, and blue is drained right after the shift: requests are
    // in flight on blue when its drain starts, and the drain must wait for them.
    let wait = args.iter().position(|a| a == "--termination-wait").unwrap() + 1;
    args[wait] = "0s".into();
    args.extend(["--version-path", "/slow?ms=250", "--rate", "50"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.report();
    assert_eq!(r.summary.failed, 0, "{run:?}");
    let draining = event_offset(&r, "blue draining");
    let drained = event_offset(&r, "blue drained");
    assert!(
        drained - draining > 100.0,
        "the drain took {} ms: no request was in flight on blue, so it proved nothing",
        drained - draining
    );
    let stopped = r.blue.stopped.as_ref().expect("blue stopped");
    assert_eq!((stopped.code, stopped.forced), (Some(0), false), "{run:?}");
}

/// Processes are tasks to the engine with no container: no Docker is needed at all.
#[test]
fn a_rehearsal_of_processes_needs_no_docker() {
    require_haproxy();
    let (v1, v2) = (v1(), v2());
    let sb = Sandbox::empty();
    let mut args = fast_args(sb.path(), &v1, &v2);
    args.extend(["--docker", "/no/such/docker"].map(String::from));
    let run = rehearse(&sb, &strs(&args));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.report().passed, "{run:?}");
}
