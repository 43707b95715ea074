//! A lean HTTP/1.1 GET client written directly over tokio's `TcpStream`: one request per call,
//! a status line, headers and a `Content-Length`, chunked or close-delimited body, and a precise
//! failure [`Kind`] for everything that can go wrong. No allocation per request beyond the
//! version string: each worker reuses its buffers through a [`Session`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::record::Kind;
use super::ProbeError;

/// Path requested when the URL has none.
pub const DEFAULT_PATH: &str = "/version";
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted: a version endpoint answers a few bytes.
const MAX_BODY: usize = 1024 * 1024;
/// Longest version string kept; longer ones are cut (at a character boundary).
const MAX_VERSION: usize = 256;
/// How long to wait, after a `Connection: close` answer, for the server to close first.
const CLOSE_GRACE: Duration = Duration::from_millis(10);

/// Where the probe sends its requests: parsed from an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// Path and query, starting with `/` ([`DEFAULT_PATH`] when the URL has no path).
    pub path: String,
    /// The `Host` header value: the authority as written in the URL.
    pub authority: String,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PATH][?QUERY]`.
    pub fn parse(url: &str) -> Result<Target, ProbeError> {
        let invalid = |reason: &str| ProbeError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = url.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(ProbeError::HttpsUnsupported {
                url: url.to_string(),
            });
        }
        if !lower.starts_with("http://") {
            return Err(invalid("it does not start with `http://`"));
        }
        let rest = &trimmed["http://".len()..];
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some(close) = v6.find(']') else {
                return Err(invalid("the IPv6 address has no closing `]`"));
            };
            let after = &v6[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(invalid("unexpected text after the IPv6 address")),
            };
            (&v6[..close], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid("the port is not a number from 1 to 65535"))?,
        };
        let path = if path.is_empty() {
            DEFAULT_PATH.to_string()
        } else if path.starts_with('?') {
            format!("{DEFAULT_PATH}{path}")
        } else {
            path.to_string()
        };
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid("the path contains spaces or control characters"));
        }
        Ok(Target {
            host: host.to_string(),
            port,
            path,
            authority: authority.to_string(),
        })
    }

    /// Resolves the host once; IPv4 is preferred so `localhost` reaches a server on 127.0.0.1.
    pub async fn resolve(&self) -> Result<SocketAddr, ProbeError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| ProbeError::Resolve {
                host: self.host.clone(),
                source,
            })?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| ProbeError::Resolve {
                host: self.host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
            })
    }
}

/// One worker's connection (when kept alive) and reusable buffers.
#[derive(Debug, Default)]
pub struct Session {
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    body: Vec<u8>,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub kind: Kind,
    pub status: Option<u16>,
    pub version: Option<String>,
    pub detail: Option<String>,
    pub retried: bool,
    /// When the answer was complete (or the failure known).
    pub done: Instant,
}

/// Sends `GET path` to one address; shared by all workers.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    request: Vec<u8>,
    keep_alive: bool,
    timeout: Duration,
}

const CONNECTING: u8 = 0;
const SENT: u8 = 1;
const RECEIVING: u8 = 2;

/// One try on one connection.
struct Attempt {
    kind: Kind,
    status: Option<u16>,
    version: Option<String>,
    detail: Option<String>,
    /// Some response byte arrived: a retry could repeat work the server did.
    got_bytes: bool,
}

impl Attempt {
    fn fail(kind: Kind, detail: String, got_bytes: bool) -> Attempt {
        Attempt {
            kind,
            status: None,
            version: None,
            detail: Some(detail),
            got_bytes,
        }
    }
}

impl Client {
    pub fn new(target: &Target, addr: SocketAddr, keep_alive: bool, timeout: Duration) -> Client {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cutover-probe/{}\r\nAccept: application/json\r\nConnection: {connection}\r\n\r\n",
            target.path,
            target.authority,
            env!("CARGO_PKG_VERSION"),
        );
        Client {
            addr,
            request: request.into_bytes(),
            keep_alive,
            timeout,
        }
    }

    /// Sends one request within the per-request timeout. A kept-alive connection that turns out
    /// closed before any answer byte is retried once on a new connection, as browsers do (GET
    /// is idempotent); the record says so.
    pub async fn send(&self, session: &mut Session) -> Exchange {
        let deadline = Instant::now() + self.timeout;
        let reused = session.conn.is_some();
        let (mut attempt, mut linger) = self.attempt(session, deadline).await;
        let mut retried = false;
        if reused && !attempt.got_bytes && matches!(attempt.kind, Kind::Closed | Kind::Reset) {
            retried = true;
            (attempt, linger) = self.attempt(session, deadline).await;
        }
        let done = Instant::now();
        if let Some(stream) = linger {
            // Let the server close first so TIME_WAIT lands on its side: with a new connection
            // per request our ephemeral ports would otherwise run out at a few hundred per second.
            let until = deadline.min(done + CLOSE_GRACE);
            let _ = tokio::time::timeout_at(until, wait_for_eof(stream)).await;
        }
        Exchange {
            kind: attempt.kind,
            status: attempt.status,
            version: attempt.version,
            detail: attempt.detail,
            retried,
            done,
        }
    }

    /// Returns the attempt and, with `Connection: close`, the stream to wait on for the
    /// server's close.
    async fn attempt(
        &self,
        session: &mut Session,
        deadline: Instant,
    ) -> (Attempt, Option<TcpStream>) {
        let phase = AtomicU8::new(CONNECTING);
        let reuse = session.conn.take();
        let work = self.exchange(reuse, &mut session.buf, &mut session.body, &phase);
        match tokio::time::timeout_at(deadline, work).await {
            Ok((attempt, stream, reusable)) => {
                if self.keep_alive && reusable {
                    session.conn = stream;
                    (attempt, None)
                } else if attempt.kind.is_ok() || attempt.status.is_some() {
                    (attempt, stream)
                } else {
                    (attempt, None)
                }
            }
            Err(_) => {
                let phase = phase.load(Ordering::Relaxed);
                let (kind, what) = if phase == CONNECTING {
                    (Kind::ConnectTimeout, "while connecting")
                } else if phase == SENT {
                    (Kind::Timeout, "waiting for the answer")
                } else {
                    (Kind::Timeout, "while reading the answer")
                };
                let detail = format!("no answer within {} ms ({what})", self.timeout.as_millis());
                (Attempt::fail(kind, detail, phase == RECEIVING), None)
            }
        }
    }

    /// Connects (unless reusing), writes the request, reads and classifies the answer.
    /// Returns the stream and whether it may carry another request.
    async fn exchange(
        &self,
        reuse: Option<TcpStream>,
        buf: &mut Vec<u8>,
        body: &mut Vec<u8>,
        phase: &AtomicU8,
    ) -> (Attempt, Option<TcpStream>, bool) {
        let mut stream = match reuse {
            Some(s) => s,
            None => match TcpStream::connect(self.addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    s
                }
                Err(e) => {
                    let kind = match e.kind() {
                        std::io::ErrorKind::ConnectionRefused => Kind::ConnectRefused,
                        std::io::ErrorKind::TimedOut => Kind::ConnectTimeout,
                        // The handshake reached a listener that closed before accepting it.
                        std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted => Kind::Reset,
                        _ => Kind::ConnectFailed,
                    };
                    return (Attempt::fail(kind, e.to_string(), false), None, false);
                }
            },
        };
        phase.store(SENT, Ordering::Relaxed);
        if let Err(e) = stream.write_all(&self.request).await {
            return (
                Attempt::fail(io_kind(&e), e.to_string(), false),
                None,
                false,
            );
        }
        buf.clear();
        body.clear();
        let mut wire = Wire {
            stream: &mut stream,
            buf,
            phase,
        };
        match read_response(&mut wire, body).await {
            Err(f) => (Attempt::fail(f.kind, f.detail, f.got_bytes), None, false),
            Ok(resp) => {
                let payload: &[u8] = match resp.body {
                    BodyAt::Buf(start, end) => wire.buf.get(start..end).unwrap_or_default(),
                    BodyAt::Decoded => body,
                };
                let (kind, version, detail) = classify(&resp.head, payload);
                let reusable = resp.reusable;
                let attempt = Attempt {
                    kind,
                    status: Some(resp.head.status),
                    version,
                    detail,
                    got_bytes: true,
                };
                (attempt, Some(stream), reusable)
            }
        }
    }
}

async fn wait_for_eof(mut stream: TcpStream) {
    let mut scratch = [0u8; 256];
    while let Ok(n) = stream.read(&mut scratch).await {
        if n == 0 {
            break;
        }
    }
}

fn io_kind(e: &std::io::Error) -> Kind {
    use std::io::ErrorKind as E;
    match e.kind() {
        E::ConnectionReset | E::ConnectionAborted | E::BrokenPipe => Kind::Reset,
        E::UnexpectedEof => Kind::Closed,
        _ => Kind::Io,
    }
}

/// A failure while reading the answer.
struct ReadFailure {
    kind: Kind,
    detail: String,
    got_bytes: bool,
}

fn malformed(detail: impl Into<String>) -> ReadFailure {
    ReadFailure {
        kind: Kind::MalformedHttp,
        detail: detail.into(),
        got_bytes: true,
    }
}

fn closed(detail: impl Into<String>, got_bytes: bool) -> ReadFailure {
    ReadFailure {
        kind: Kind::Closed,
        detail: detail.into(),
        got_bytes,
    }
}

/// The stream and its receive buffer.
struct Wire<'a> {
    stream: &'a mut TcpStream,
    buf: &'a mut Vec<u8>,
    phase: &'a AtomicU8,
}

impl Wire<'_> {
    /// Reads more bytes into the buffer; `false` at end of stream.
    async fn fill(&mut self) -> Result<bool, ReadFailure> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(8 * 1024);
        }
        match self.stream.read_buf(self.buf).await {
            Ok(0) => Ok(false),
            Ok(_) => {
                self.phase.store(RECEIVING, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => Err(ReadFailure {
                kind: io_kind(&e),
                detail: e.to_string(),
                got_bytes: !self.buf.is_empty(),
            }),
        }
    }

    /// Reads until `buf[from..]` holds a `\n`; returns its index.
    async fn line_end(&mut self, from: usize, what: &str) -> Result<usize, ReadFailure> {
        loop {
            if let Some(i) = self
                .buf
                .get(from..)
                .and_then(|b| b.iter().position(|&c| c == b'\n'))
            {
                return Ok(from + i);
            }
            if self.buf.len().saturating_sub(from) > 4096 {
                return Err(malformed(format!("{what} line longer than 4 KiB")));
            }
            if !self.fill().await? {
                return Err(closed(format!("closed in the middle of the {what}"), true));
            }
        }
    }

    /// Reads until the buffer holds at least `len` bytes.
    async fn want(&mut self, len: usize, what: &str) -> Result<(), ReadFailure> {
        while self.buf.len() < len {
            if !self.fill().await? {
                return Err(closed(
                    format!(
                        "closed in the middle of the {what} ({} bytes short)",
                        len - self.buf.len()
                    ),
                    true,
                ));
            }
        }
        Ok(())
    }
}

/// The parts of a response head the probe needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Head {
    status: u16,
    http10: bool,
    content_length: Option<usize>,
    chunked: bool,
    /// `Transfer-Encoding` present but not ending in `chunked`: the body runs to the close.
    other_encoding: bool,
    content_type: Option<String>,
    close: bool,
    keep_alive: bool,
    location: Option<String>,
}

enum BodyAt {
    /// `buf[start..end]`.
    Buf(usize, usize),
    /// Chunks decoded into the body buffer.
    Decoded,
}

struct Response {
    head: Head,
    body: BodyAt,
    reusable: bool,
}

async fn read_response(wire: &mut Wire<'_>, body: &mut Vec<u8>) -> Result<Response, ReadFailure> {
    let mut start = 0;
    loop {
        let (head, body_start) = read_head(wire, start).await?;
        // Interim answers (100 Continue, 103 Early Hints) come before the real one.
        if (100..200).contains(&head.status) && head.status != 101 {
            start = body_start;
            continue;
        }
        if head.status == 101 {
            return Err(malformed("101 Switching Protocols to a plain GET"));
        }
        let no_body = head.status == 204 || head.status == 304;
        let (body_at, end, delimited) = if no_body {
            (BodyAt::Buf(body_start, body_start), body_start, true)
        } else if head.chunked {
            let end = read_chunked(wire, body_start, body).await?;
            (BodyAt::Decoded, end, true)
        } else if let Some(len) = head.content_length {
            if len > MAX_BODY {
                return Err(malformed(format!(
                    "a body of {len} bytes is over the 1 MiB limit"
                )));
            }
            wire.want(body_start + len, "body").await?;
            (
                BodyAt::Buf(body_start, body_start + len),
                body_start + len,
                true,
            )
        } else {
            // No length: the body runs until the server closes.
            while wire.fill().await? {
                if wire.buf.len() - body_start > MAX_BODY {
                    return Err(malformed("a body over the 1 MiB limit"));
                }
            }
            let end = wire.buf.len();
            (BodyAt::Buf(body_start, end), end, false)
        };
        let persistent = if head.http10 {
            head.keep_alive
        } else {
            !head.close
        };
        // Leftover bytes would be an unrequested answer: never reuse such a connection.
        let reusable = delimited && persistent && wire.buf.len() == end;
        return Ok(Response {
            head,
            body: body_at,
            reusable,
        });
    }
}

/// Reads a response head starting at `buf[start..]`; returns it and where its body starts.
async fn read_head(wire: &mut Wire<'_>, start: usize) -> Result<(Head, usize), ReadFailure> {
    let mut scanned = start;
    loop {
        let have = wire.buf.get(start..).unwrap_or_default();
        let prefix = b"HTTP/";
        let n = have.len().min(prefix.len());
        if have[..n] != prefix[..n] {
            return Err(malformed(format!(
                "the answer does not start with `HTTP/` but with {}",
                snippet(have)
            )));
        }
        if let Some(end) = find_head_end(wire.buf, scanned) {
            let head = parse_head(wire.buf.get(start..end).unwrap_or_default())?;
            return Ok((head, end));
        }
        scanned = wire.buf.len().saturating_sub(3).max(start);
        if wire.buf.len() - start > MAX_HEAD {
            return Err(malformed("a response head over 64 KiB"));
        }
        if !wire.fill().await? {
            let got = wire.buf.len() - start;
            return Err(if got == 0 {
                closed(
                    "the server closed the connection without answering",
                    start > 0,
                )
            } else {
                closed(
                    format!("closed after {got} bytes of the response head"),
                    true,
                )
            });
        }
    }
}

/// The index just past the empty line ending a head (CRLF or bare LF line ends).
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&c| c == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

fn parse_head(raw: &[u8]) -> Result<Head, ReadFailure> {
    let text = std::str::from_utf8(raw).map_err(|_| malformed("the response head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let mut head = parse_status_line(status_line).ok_or_else(|| {
        malformed(format!(
            "bad status line {}",
            snippet(status_line.as_bytes())
        ))
    })?;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            return Err(malformed("a folded header line"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed(format!(
                "a header line without `:`: {}",
                snippet(line.as_bytes())
            )));
        };
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(malformed(format!(
                "a bad header name {}",
                snippet(name.as_bytes())
            )));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let len = value
                .parse::<usize>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    malformed(format!(
                        "a bad Content-Length {}",
                        snippet(value.as_bytes())
                    ))
                })?;
            if head.content_length.is_some_and(|l| l != len) {
                return Err(malformed("two different Content-Length headers"));
            }
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") {
                head.chunked = true;
            } else {
                head.other_encoding = true;
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("location") {
            head.location = Some(value.to_string());
        }
    }
    if head.other_encoding {
        // RFC 9112 §6.3: a non-chunked final encoding means the body runs to the close.
        head.chunked = false;
        head.content_length = None;
    } else if head.chunked {
        head.content_length = None;
    }
    Ok(head)
}

/// `HTTP/1.1 200 OK` → the status and the protocol minor version.
fn parse_status_line(line: &str) -> Option<Head> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut chars = rest.chars();
    let minor = chars.next()?;
    let http10 = match minor {
        '0' => true,
        '1' => false,
        _ => return None,
    };
    let rest = chars.as_str().strip_prefix(' ')?;
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = rest.get(3..)?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s))?;
    Some(Head {
        status,
        http10,
        ..Head::default()
    })
}

/// Decodes a chunked body starting at `buf[pos..]` into `body`; returns where it ends.
async fn read_chunked(
    wire: &mut Wire<'_>,
    mut pos: usize,
    body: &mut Vec<u8>,
) -> Result<usize, ReadFailure> {
    loop {
        let nl = wire.line_end(pos, "chunk size").await?;
        let line = wire.buf.get(pos..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let hex = line.split(|&b| b == b';').next().unwrap_or_default();
        let hex = std::str::from_utf8(hex).unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .ok()
            .filter(|_| !hex.is_empty() && !hex.starts_with('+'))
            .ok_or_else(|| malformed(format!("a bad chunk size {}", snippet(line))))?;
        pos = nl + 1;
        if size == 0 {
            // Trailer lines until an empty one.
            loop {
                let nl = wire.line_end(pos, "chunked trailer").await?;
                let line = wire.buf.get(pos..nl).unwrap_or_default();
                pos = nl + 1;
                if line.is_empty() || line == b"\r" {
                    return Ok(pos);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(malformed("a chunked body over the 1 MiB limit"));
        }
        wire.want(pos + size + 1, "chunked body").await?;
        body.extend_from_slice(wire.buf.get(pos..pos + size).unwrap_or_default());
        pos += size;
        // The chunk ends with CRLF (or a bare LF).
        if wire.buf.get(pos) == Some(&b'\r') {
            wire.want(pos + 2, "chunked body").await?;
            pos += 1;
        }
        if wire.buf.get(pos) != Some(&b'\n') {
            return Err(malformed("a chunk not followed by CRLF"));
        }
        pos += 1;
    }
}

/// The body's `version` field, when the answer has one.
#[derive(Deserialize)]
struct VersionDoc {
    #[serde(default)]
    version: Option<serde_json::Value>,
}

/// Turns a complete answer into the record's kind, version and detail.
fn classify(head: &Head, body: &[u8]) -> (Kind, Option<String>, Option<String>) {
    if (300..400).contains(&head.status) {
        let detail = match &head.location {
            Some(l) => format!("redirect to `{l}`"),
            None => "redirect without a Location header".to_string(),
        };
        return (Kind::Redirect, None, Some(detail));
    }
    if !(200..300).contains(&head.status) {
        return (
            Kind::HttpStatus,
            None,
            Some(format!("body starts {}", snippet(body))),
        );
    }
    let parsed = parse_version(body);
    let json_type = head.content_type.as_deref().is_some_and(|ct| {
        let media = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    });
    if !json_type {
        let detail = match &head.content_type {
            Some(ct) => format!("Content-Type is `{ct}`, not application/json"),
            None => "no Content-Type header".to_string(),
        };
        return (Kind::BadContentType, parsed.ok(), Some(detail));
    }
    match parsed {
        Ok(version) => (Kind::Ok, Some(version), None),
        Err((kind, detail)) => (kind, None, Some(detail)),
    }
}

fn parse_version(body: &[u8]) -> Result<String, (Kind, String)> {
    use serde_json::Value;
    // A derived struct would also accept an array (`["0.0.1"]`): require an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => (
                    Kind::NoVersion,
                    format!("the body is JSON but not an object: {}", snippet(body)),
                ),
                Err(e) => (Kind::NotJson, format!("{e}; body starts {}", snippet(body))),
            },
        );
    }
    match serde_json::from_slice::<VersionDoc>(body) {
        Ok(VersionDoc {
            version: Some(Value::String(v)),
        }) if !v.is_empty() => Ok(cut(v)),
        Ok(VersionDoc {
            version: Some(Value::String(_)),
        }) => Err((Kind::NoVersion, "`version` is empty".to_string())),
        Ok(VersionDoc { version: Some(v) }) => Err((
            Kind::NoVersion,
            format!(
                "`version` is not a string but {}",
                snippet(v.to_string().as_bytes())
            ),
        )),
        Ok(VersionDoc { version: None }) => Err((
            Kind::NoVersion,
            "the JSON object has no `version`".to_string(),
        )),
        Err(e) if e.classify() == serde_json::error::Category::Data => Err((
            Kind::NoVersion,
            format!("the body is JSON but not an object with a `version`: {e}"),
        )),
        Err(e) => Err((Kind::NotJson, format!("{e}; body starts {}", snippet(body)))),
    }
}

fn cut(mut v: String) -> String {
    if v.len() > MAX_VERSION {
        let mut at = MAX_VERSION;
        while !v.is_char_boundary(at) {
            at -= 1;
        }
        v.truncate(at);
    }
    v
}

/// The first bytes of `b`, quoted and escaped for a message.
fn snippet(b: &[u8]) -> String {
    let n = b.len().min(48);
    let more = if b.len() > n { "…" } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(&b[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target, String> {
        Target::parse(url).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_urls() {
        let t = target("http://127.0.0.1:8080").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/version")
        );
        let t = target("http://example.test/health?x=1#frag").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.port, t.path.as_str()), (80, "/health?x=1"));
        let t = target("http://[::1]:9000/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.path.as_str(),
                t.authority.as_str()
            ),
            ("::1", 9000, "/", "[::1]:9000")
        );
        let t = target("HTTP://h?q").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.path, "/version?q");
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        assert!(target("https://h/").is_err_and(|e| e.contains("https")));
        assert!(target("h:80").is_err_and(|e| e.contains("http://")));
        assert!(target("http://h:0/").is_err_and(|e| e.contains("port")));
        assert!(target("http://h:x/").is_err_and(|e| e.contains("port")));
        assert!(target("http://u:p@h/").is_err_and(|e| e.contains("credentials")));
        assert!(target("http:///x").is_err_and(|e| e.contains("host")));
        assert!(target("http://[::1/").is_err());
    }

    #[test]
    fn parses_heads() {
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-type: application/json\r\n\r\n",
        )
        .unwrap_or_else(|f| panic!("{}", f.detail));
        assert_eq!(
            (h.status, h.content_length, h.content_type.as_deref()),
            (200, Some(5), Some("application/json"))
        );
        let h = parse_head(b"HTTP/1.0 301 Moved\nLocation: /x\nConnection: keep-alive\n\n")
            .unwrap_or_else(|f| panic!("{}", f.detail));
        assert!(h.http10 && h.keep_alive && h.location.as_deref() == Some("/x"));
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn finds_the_end_of_a_head() {
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r\nbody", 0), Some(19));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\n\nbody", 0), Some(17));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn classifies_bodies() {
        let json = Head {
            status: 200,
            content_type: Some("application/json; charset=utf-8".into()),
            ..Head::default()
        };
        assert_eq!(classify(&json, br#"{"version":"0.0.1"}"#).0, Kind::Ok);
        assert_eq!(classify(&json, br#"{"version":"0.0.1""#).0, Kind::NotJson);
        assert_eq!(classify(&json, b"<html>").0, Kind::NotJson);
        assert_eq!(classify(&json, br#"{"v":1}"#).0, Kind::NoVersion);
        assert_eq!(classify(&json, br#"{"version":1}"#).0, Kind::NoVersion);
        assert_eq!(classify(&json, br#"["version"]"#).0, Kind::NoVersion);
        let html = Head {
            status: 200,
            content_type: Some("text/html".into()),
            ..Head::default()
        };
        let (kind, version, _) = classify(&html, br#"{"version":"0.0.1"}"#);
        assert_eq!(
            (kind, version.as_deref()),
            (Kind::BadContentType, Some("0.0.1"))
        );
        let redirect = Head {
            status: 302,
            location: Some("/elsewhere".into()),
            ..Head::default()
        };
        let (kind, _, detail) = classify(&redirect, b"");
        assert_eq!(kind, Kind::Redirect);
        assert!(detail.is_some_and(|d| d.contains("/elsewhere")));
        let error = Head {
            status: 503,
            ..Head::default()
        };
        assert_eq!(classify(&error, b"busy").0, Kind::HttpStatus);
    }

    #[test]
    fn cuts_long_versions_at_a_char_boundary() {
        let long = "é".repeat(200);
        let v = cut(long);
        assert!(v.len() <= MAX_VERSION && v.chars().all(|c| c == 'é'));
    }
}
