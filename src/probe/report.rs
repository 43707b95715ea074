//! Reading a saved run back: the JSON-lines results file, line by line, with every bad line
//! named by its number instead of a crash.

use std::path::{Path, PathBuf};

use super::record::Record;

/// Why a results file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read the results file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: not a probe record: {message}\nhint: pass the .jsonl file that `cutover probe` wrote in its results directory", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{}` holds no probe records\nhint: pass the .jsonl file that `cutover probe` wrote in its results directory", path.display())]
    Empty { path: PathBuf },
}

/// A line that is not a record, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Parses JSON lines leniently: the records, and the lines that are not records. Blank lines
/// are skipped.
pub fn parse_records(bytes: &[u8]) -> (Vec<Record>, Vec<BadLine>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            bad.push(BadLine {
                line,
                message: "not UTF-8".to_string(),
            });
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text) {
            Ok(record) => records.push(record),
            Err(e) => bad.push(BadLine {
                line,
                message: e.to_string(),
            }),
        }
    }
    (records, bad)
}

/// Summarizes a results file as it is read, in constant memory: the records go through a
/// reorder window (the longest latency seen plus a second) into the incremental summary. Strict
/// as [`read_records`]: the first bad line is an error naming the file and line.
pub fn summarize_file(path: &Path) -> Result<super::Summary, ReportError> {
    use std::io::BufRead as _;
    let fail = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut reorder = super::summary::Reorder::new(std::time::Duration::from_secs(1));
    let mut summarizer = super::summary::Summarizer::default();
    let mut buf = Vec::with_capacity(512);
    let (mut line, mut any) = (0usize, false);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(fail)? == 0 {
            break;
        }
        line += 1;
        let bad = |message: String| ReportError::BadLine {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text = std::str::from_utf8(&buf).map_err(|_| bad("not UTF-8".into()))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        any = true;
        reorder.widen_to(record.latency_us.saturating_add(1_000_000));
        reorder.push(record, &mut |r| summarizer.push(&r));
    }
    if !any {
        return Err(ReportError::Empty {
            path: path.to_path_buf(),
        });
    }
    reorder.finish(&mut |r| summarizer.push(&r));
    Ok(summarizer.finish())
}

/// Reads a results file strictly: the first bad line is an error naming the file and line.
pub fn read_records(path: &Path) -> Result<Vec<Record>, ReportError> {
    let (records, bad) = read_records_lenient(path)?;
    if let Some(first) = bad.into_iter().next() {
        return Err(ReportError::BadLine {
            path: path.to_path_buf(),
            line: first.line,
            message: first.message,
        });
    }
    Ok(records)
}

/// Reads a results file, keeping the good records and listing the bad lines (a run killed
/// mid-write may end in a cut line). Errors only when the file cannot be read or holds no
/// record at all.
pub fn read_records_lenient(path: &Path) -> Result<(Vec<Record>, Vec<BadLine>), ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (records, bad) = parse_records(&bytes);
    if records.is_empty() {
        return Err(match bad.into_iter().next() {
            Some(first) => ReportError::BadLine {
                path: path.to_path_buf(),
                line: first.line,
                message: first.message,
            },
            None => ReportError::Empty {
                path: path.to_path_buf(),
            },
        });
    }
    Ok((records, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bad_lines() {
        let text = b"{\"seq\":0,\"start_unix_us\":1,\"latency_us\":2,\"kind\":\"ok\"}\n\nnot json\n{\"seq\":1}\n\xff\n";
        let (records, bad) = parse_records(text);
        assert_eq!(records.len(), 1);
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
    }
}
