//! HTTP/1.1 wire format: finding and parsing a request head, and serialising a response.
//!
//! Pure code over byte slices; the sockets live in `server`. Only what the sample app needs:
//! `Content-Length` request bodies (read and discarded), no chunked bodies, no upgrades.

/// Largest request head (request line and headers) read before answering 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub version: Version,
    /// Whether the client wants the connection kept open after this request.
    pub keep_alive: bool,
    pub content_length: u64,
    /// Any `Transfer-Encoding`: its body framing is one we do not read.
    pub has_transfer_encoding: bool,
}

/// Why a request head is not HTTP/1.x; answered with 400 and the reason as the body.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Length of the request head at the start of `buf`, blank line included, once it is complete.
/// A bare LF is accepted as a line end (RFC 9112 §2.2) so hand-typed probes work.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.iter().enumerate().find_map(|(i, &byte)| {
        if byte != b'\n' {
            return None;
        }
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        }
    })
}

/// Number of empty lines before a request line; RFC 9112 §2.2 says to skip them.
pub fn leading_blank_lines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

pub fn parse_head(head: &[u8]) -> Result<RequestHead, Malformed> {
    let text = std::str::from_utf8(head).map_err(|_| Malformed("request head is not UTF-8"))?;
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));

    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed("request line is not `METHOD /path HTTP/1.1`"));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(Malformed("invalid method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Malformed("request target is not a path starting with `/`"));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        _ => return Err(Malformed("unsupported HTTP version")),
    };

    let mut close = false;
    let mut keep_alive = false;
    let mut content_length = None;
    let mut has_transfer_encoding = false;
    for line in lines.filter(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Malformed("header line without `:`"));
        };
        // Also rejects whitespace before the colon and obsolete line folding (RFC 9112 §5).
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Malformed("invalid header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Malformed("invalid Content-Length"));
            }
            let length: u64 = value
                .parse()
                .map_err(|_| Malformed("invalid Content-Length"))?;
            // Two different lengths is the classic request-smuggling shape: refuse it.
            if content_length.is_some_and(|previous| previous != length) {
                return Err(Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_transfer_encoding = true;
        }
    }
    let keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };
    Ok(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        version,
        keep_alive,
        content_length: content_length.unwrap_or(0),
        has_transfer_encoding,
    })
}

/// `tchar` of RFC 9110 §5.6.2: what a method or header name may contain.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            content_type: "application/json",
            ..Self::text(status, body)
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire, in one buffer so the response goes out in one write.
    /// `send_body` is false for HEAD, which still reports the body's `Content-Length`.
    pub fn to_bytes(&self, send_body: bool, keep_alive: bool, version: Version) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        // HTTP/1.1 is persistent unless told otherwise; HTTP/1.0 only when told so.
        match (keep_alive, version) {
            (false, _) => head.push_str("Connection: close\r\n"),
            (true, Version::Http10) => head.push_str("Connection: keep-alive\r\n"),
            (true, Version::Http11) => {}
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if send_body {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// `value` as a JSON string literal, quotes included.
pub fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RequestHead, Malformed> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn head_end_needs_the_blank_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nGET"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(find_head_end(b""), None);
    }

    #[test]
    fn http11_keeps_alive_unless_closed() {
        let head = parse("GET /version HTTP/1.1\r\nHost: x\r\n\r\n").expect("valid");
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/version");
        assert_eq!(head.version, Version::Http11);
        assert!(head.keep_alive);
        let head = parse("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").expect("ok");
        assert!(!head.keep_alive);
    }

    #[test]
    fn http10_closes_unless_asked_to_keep_alive() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").expect("valid").keep_alive);
        let head = parse("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").expect("valid");
        assert!(head.keep_alive);
    }

    #[test]
    fn content_length_and_transfer_encoding() {
        let head = parse("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").expect("valid");
        assert_eq!(head.content_length, 12);
        let head = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").expect("ok");
        assert!(head.has_transfer_encoding);
    }

    #[test]
    fn malformed_heads_are_errors() {
        for bad in [
            "",
            "GET\r\n\r\n",
            "GET /\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET version HTTP/1.1\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn response_bytes_have_exact_content_length() {
        let response = Response::json(200, r#"{"version":"1.2.3"}"#);
        let bytes = response.to_bytes(true, true, Version::Http11);
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n\
             {\"version\":\"1.2.3\"}"
        );
    }

    #[test]
    fn response_connection_header_and_head() {
        let response = Response::text(404, "not found").with_header("Allow", "GET");
        let text = String::from_utf8(response.to_bytes(false, false, Version::Http11)).expect("");
        assert!(text.ends_with("Content-Length: 9\r\nAllow: GET\r\nConnection: close\r\n\r\n"));
        let text = String::from_utf8(response.to_bytes(true, true, Version::Http10)).expect("");
        assert!(text.contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn json_string_escapes() {
        assert_eq!(json_string("0.0.2"), "\"0.0.2\"");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
