//! Routing: which response each request gets. Pure; `server` does the waiting and the I/O.

use std::time::Duration;

use crate::http::{json_string, Response};

/// Longest `/slow` wait, so a test typo cannot park a connection for hours.
pub const MAX_SLOW: Duration = Duration::from_secs(30);

/// What to answer, and how long to wait before answering (only `/slow` waits).
#[derive(Debug, PartialEq, Eq)]
pub struct Routed {
    pub delay: Duration,
    pub response: Response,
}

impl From<Response> for Routed {
    fn from(response: Response) -> Self {
        Self {
            delay: Duration::ZERO,
            response,
        }
    }
}

/// The `/version` body, built once at startup.
pub fn version_body(version: &str) -> String {
    format!("{{\"version\":{}}}", json_string(version))
}

pub fn route(method: &str, target: &str, version_body: &str) -> Routed {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !matches!(path, "/version" | "/healthz" | "/slow") {
        return Response::text(404, "not found").into();
    }
    if method != "GET" && method != "HEAD" {
        return Response::text(405, "method not allowed")
            .with_header("Allow", "GET, HEAD")
            .into();
    }
    // Probes and load balancers must never see a cached answer from the other colour.
    let version = || Response::json(200, version_body).with_header("Cache-Control", "no-store");
    match path {
        "/version" => version().into(),
        "/healthz" => Response::text(200, "ok").into(),
        _ => match query_param(query, "ms").and_then(|ms| ms.parse::<u64>().ok()) {
            Some(ms) => Routed {
                delay: Duration::from_millis(ms).min(MAX_SLOW),
                response: version(),
            },
            None => Response::text(400, "`/slow` needs `?ms=<whole milliseconds>`").into(),
        },
    }
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"version":"9.9.9"}"#;

    #[test]
    fn version_body_is_json() {
        assert_eq!(version_body("9.9.9"), BODY);
    }

    #[test]
    fn version_and_healthz() {
        let routed = route("GET", "/version", BODY);
        assert_eq!(routed.delay, Duration::ZERO);
        assert_eq!(routed.response.status, 200);
        assert_eq!(routed.response.content_type, "application/json");
        assert_eq!(routed.response.body, BODY);
        let routed = route("HEAD", "/healthz?x=1", BODY);
        assert_eq!(
            (routed.response.status, routed.response.body.as_str()),
            (200, "ok")
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route("GET", "/", BODY).response.status, 404);
        assert_eq!(route("GET", "/version/", BODY).response.status, 404);
        let routed = route("POST", "/version", BODY);
        assert_eq!(routed.response.status, 405);
        assert_eq!(routed.response.headers, vec![("Allow", "GET, HEAD".into())]);
    }

    #[test]
    fn slow_waits_capped_then_answers_the_version() {
        let routed = route("GET", "/slow?ms=1500", BODY);
        assert_eq!(routed.delay, Duration::from_millis(1500));
        assert_eq!(routed.response.body, BODY);
        assert_eq!(route("GET", "/slow?a=b&ms=99999999", BODY).delay, MAX_SLOW);
        for bad in ["/slow", "/slow?ms=", "/slow?ms=-5", "/slow?ms=1e3"] {
            assert_eq!(route("GET", bad, BODY).response.status, 400, "{bad}");
        }
    }
}
