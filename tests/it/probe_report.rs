//! Reading saved runs: bad lines are reported with their line number, never a crash, and the
//! summary, its text and the SVG timeline never panic on whatever the records hold.

use std::path::Path;

use cutover::probe::report::{self, ReportError};
use cutover::probe::{self, svg, Kind, Record};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

fn version() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("0.0.1".to_string())),
        Just(Some("0.0.2".to_string())),
        Just(Some("<b>&'\"".to_string())),
        any::<String>().prop_map(Some),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u64>(),
        prop_oneof![
            any::<u64>(),
            1_700_000_000_000_000u64..1_700_000_010_000_000
        ],
        prop::option::of(any::<u64>()),
        prop_oneof![any::<u64>(), 0u64..5_000_000],
        kind(),
        prop::option::of(any::<u16>()),
        version(),
        prop::option::of(any::<String>()),
        any::<bool>(),
    )
        .prop_map(
            |(
                seq,
                start_unix_us,
                sched_delay_us,
                latency_us,
                kind,
                status,
                version,
                detail,
                retried,
            )| Record {
                seq,
                start_unix_us,
                sched_delay_us,
                latency_us,
                kind,
                status,
                version,
                detail,
                retried,
            },
        )
}

/// A line of a results file: a good record, a cut one, or anything at all.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        record().prop_map(|r| serde_json::to_string(&r).unwrap_or_default()),
        (record(), any::<prop::sample::Index>()).prop_map(|(r, cut)| {
            let json = serde_json::to_string(&r).unwrap_or_default();
            let at = cut.index(json.len() + 1);
            json.get(..at).unwrap_or_default().to_string()
        }),
        any::<String>(),
        Just(String::new()),
        Just(r#"{"seq":1,"start_unix_us":-5,"latency_us":1,"kind":"ok"}"#.to_string()),
        Just(r#"{"seq":1,"start_unix_us":5,"latency_us":1,"kind":"teleported"}"#.to_string()),
    ]
}

fn check_renders(records: &[Record]) -> Result<(), TestCaseError> {
    let s = probe::summarize(records);
    prop_assert_eq!(s.total as usize, records.len());
    prop_assert_eq!(s.ok + s.failed, s.total);
    let with_version = records.iter().filter(|r| r.version.is_some()).count() as u64;
    prop_assert_eq!(
        s.versions.iter().map(|v| v.count).sum::<u64>(),
        with_version
    );
    prop_assert!(s.longest_failure_ms >= 0.0);
    let text = probe::render_text(&s);
    prop_assert!(text.starts_with("requests"));
    let picture = svg::render(records, &s);
    prop_assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    prop_assert!(!picture.contains("<b>"), "markup in versions is escaped");
    let json = serde_json::to_string(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: probe::Summary =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back.total, s.total);
    Ok(())
}

proptest! {
    #[test]
    fn parsing_lines_never_panics_and_numbers_bad_lines(lines in prop::collection::vec(line(), 0..40)) {
        let text = lines.join("\n");
        let (records, bad) = report::parse_records(text.as_bytes());
        let physical: Vec<&str> = text.split('\n').collect();
        let nonblank = physical.iter().filter(|l| !l.trim().is_empty()).count();
        prop_assert_eq!(records.len() + bad.len(), nonblank);
        for b in &bad {
            prop_assert!(b.line >= 1 && b.line <= physical.len());
            prop_assert!(!physical[b.line - 1].trim().is_empty());
            prop_assert!(!b.message.is_empty());
        }
        check_renders(&records)?;
    }

    #[test]
    fn parsing_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let (records, bad) = report::parse_records(&bytes);
        prop_assert!(bad.iter().all(|b| b.line >= 1));
        check_renders(&records)?;
    }

    #[test]
    fn summaries_and_timelines_never_panic(records in prop::collection::vec(record(), 0..60)) {
        check_renders(&records)?;
    }
}

#[test]
fn a_bad_line_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.jsonl");
    let good =
        r#"{"seq":0,"start_unix_us":1,"latency_us":2,"kind":"ok","status":200,"version":"1"}"#;
    std::fs::write(&path, format!("{good}\n{good}\n{{\"seq\": oops\n{good}\n")).expect("writes");
    let err = report::read_records(&path).expect_err("a bad line");
    let text = err.to_string();
    assert!(
        matches!(err, ReportError::BadLine { line: 3, .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}:3:", path.display())) && text.contains("hint:"),
        "{text}"
    );
    let (records, bad) = report::read_records_lenient(&path).expect("lenient read");
    assert_eq!((records.len(), bad.len(), bad[0].line), (3, 1, 3));
}

#[test]
fn missing_and_empty_files_are_clear_errors() {
    let missing = report::read_records(Path::new("/nonexistent/run.jsonl")).expect_err("missing");
    assert!(
        missing.to_string().contains("/nonexistent/run.jsonl"),
        "{missing}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").expect("writes");
    let err = report::read_records(&empty).expect_err("empty");
    assert!(matches!(err, ReportError::Empty { .. }), "{err}");
}
