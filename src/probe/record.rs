//! One request as the probe saw it: the line format of the JSON-lines results file, the kinds of
//! failure, and the time formatting shared by the summary and the timeline.

use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Deserialize, Serialize};

/// What became of one request: `ok` or the precise reason it failed.
///
/// The names are the strings written to the results file and shown in summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A 2xx JSON answer with a `version` string.
    Ok,
    /// Nothing listens on the port (the connection was refused).
    ConnectRefused,
    /// The per-request timeout ran out while connecting.
    ConnectTimeout,
    /// Connecting failed for another reason (unreachable, no local ports left, ...).
    ConnectFailed,
    /// The peer reset the connection (also a handshake reset by a listener that was closing).
    Reset,
    /// The per-request timeout ran out after connecting, before the answer was complete.
    Timeout,
    /// The peer closed the connection before a complete answer.
    Closed,
    /// The answer is not well-formed HTTP/1.x.
    MalformedHttp,
    /// A 3xx answer; `detail` holds its `Location`.
    Redirect,
    /// Any other non-2xx status.
    HttpStatus,
    /// A 2xx answer whose `Content-Type` is not JSON.
    BadContentType,
    /// A 2xx answer whose body does not parse as JSON.
    NotJson,
    /// A 2xx JSON answer without a non-empty `version` string.
    NoVersion,
    /// Another I/O error on an open connection.
    Io,
}

impl Kind {
    /// Every kind, `Ok` first, in the order summaries list them.
    pub const ALL: [Kind; 14] = [
        Kind::Ok,
        Kind::ConnectRefused,
        Kind::ConnectTimeout,
        Kind::ConnectFailed,
        Kind::Reset,
        Kind::Timeout,
        Kind::Closed,
        Kind::MalformedHttp,
        Kind::Redirect,
        Kind::HttpStatus,
        Kind::BadContentType,
        Kind::NotJson,
        Kind::NoVersion,
        Kind::Io,
    ];

    /// Whether the request succeeded.
    pub fn is_ok(self) -> bool {
        self == Kind::Ok
    }

    /// The name used in the results file and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::ConnectRefused => "connect_refused",
            Kind::ConnectTimeout => "connect_timeout",
            Kind::ConnectFailed => "connect_failed",
            Kind::Reset => "reset",
            Kind::Timeout => "timeout",
            Kind::Closed => "closed",
            Kind::MalformedHttp => "malformed_http",
            Kind::Redirect => "redirect",
            Kind::HttpStatus => "http_status",
            Kind::BadContentType => "bad_content_type",
            Kind::NotJson => "not_json",
            Kind::NoVersion => "no_version",
            Kind::Io => "io",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request: a line of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number: the tick index at a fixed rate, the order of starting at `max`.
    pub seq: u64,
    /// When the request started (before connecting), in microseconds since the Unix epoch.
    pub start_unix_us: u64,
    /// How late the start was against its schedule, in microseconds; absent at `--rate max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched_delay_us: Option<u64>,
    /// From the start to the complete answer (or the failure), in microseconds.
    pub latency_us: u64,
    /// `ok` or the failure kind.
    pub kind: Kind,
    /// The HTTP status, when an answer's status line was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The `version` read from the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What went wrong, for failures: the OS error, the redirect target, the parse error...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request went out again on a new connection after a kept-alive one turned out closed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub retried: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Formats microseconds since the Unix epoch as RFC 3339 UTC with milliseconds,
/// e.g. `2025-01-31T12:00:00.123Z`. A time after the year 9999, which RFC 3339 cannot write, is
/// written as its number of microseconds.
/// Now, in microseconds since the Unix epoch (0 before it).
pub fn now_unix_us() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_micros()).unwrap_or(0)
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    format_unix_us(now_unix_us())
}

pub fn format_unix_us(us: u64) -> String {
    let ms = us / 1_000 % 1_000;
    let secs = i64::try_from(us / 1_000_000).unwrap_or(i64::MAX);
    // A whole second is written without a fraction (`...T12:00:00Z`).
    match DateTime::from_secs(secs).fmt(Format::DateTime) {
        Ok(t) => format!("{}.{ms:03}Z", t.trim_end_matches('Z')),
        Err(_) => format!("{us} us after the Unix epoch"),
    }
}

/// The time of day part of [`format_unix_us`], `12:00:00.123`, for compact text.
pub fn format_time_of_day(us: u64) -> String {
    let full = format_unix_us(us);
    match (full.find('T'), full.strip_suffix('Z')) {
        (Some(t), Some(trimmed)) => trimmed[t + 1..].to_string(),
        _ => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix_us(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(
            format_unix_us(1_709_251_199_999_000),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(format_time_of_day(1_709_251_199_999_000), "23:59:59.999");
        // Never panics on the extreme.
        assert!(!format_unix_us(u64::MAX).is_empty());
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in Kind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
