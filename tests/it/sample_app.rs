//! End-to-end tests of the built `sample-app` binary over loopback: the endpoints, keep-alive,
//! bad input, and the SIGTERM drain a blue/green cutover depends on. The binary is the 0.0.1
//! build scripts/test makes (`CUTOVER_TEST_SAMPLE_APP_V1`), so these tests live in the one
//! integration-test binary rather than in one of sample-app's own.
//!
//! Each test starts its own server on `127.0.0.1:0` and reads the chosen port from the
//! `listening on` line on stderr, so tests never race for a port. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::require_env;

/// What the binary under test was built to answer: scripts/test builds it with APP_VERSION=0.0.1.
const EXPECTED_VERSION: &str = "0.0.1";

const IO_TIMEOUT: Duration = Duration::from_secs(5);

struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Receiver<String>,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(require_env("CUTOVER_TEST_SAMPLE_APP_V1"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .env_remove("PORT")
            .env_remove("SHUTDOWN_TIMEOUT_MS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sample-app");
        let pipe = child.stderr.take().expect("piped stderr");
        let (lines, stderr) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = stderr
            .recv_timeout(IO_TIMEOUT)
            .expect("sample-app prints its address on start");
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll child").is_none()
    }

    fn logs(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    BufReader::new(stream)
}

fn send(conn: &mut BufReader<TcpStream>, request: &str) {
    conn.get_mut()
        .write_all(request.as_bytes())
        .expect("send request");
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Reads one response, framed by its `Content-Length` exactly as a keep-alive client would.
fn read_reply(conn: &mut BufReader<TcpStream>) -> Reply {
    let mut line = String::new();
    conn.read_line(&mut line).expect("status line");
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line).expect("header line");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header has a colon");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .expect("Content-Length on every response");
    let mut body = vec![0; length];
    conn.read_exact(&mut body).expect("body");
    Reply {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

/// True once the server has closed its side: EOF, or a reset, within the I/O timeout.
fn closed_by_server(conn: &mut BufReader<TcpStream>) -> bool {
    let mut byte = [0u8; 1];
    match conn.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() == ErrorKind::ConnectionReset,
    }
}

/// Returns once every connection opened before this call has been accepted: the server
/// accepts in order on one thread, so answering a newer connection proves it.
fn accepted_so_far(addr: SocketAddr) {
    let mut conn = connect(addr);
    send(&mut conn, &get("/healthz"));
    assert_eq!(read_reply(&mut conn).status, 200);
}

fn version_json() -> String {
    format!("{{\"version\":\"{EXPECTED_VERSION}\"}}")
}

#[test]
fn version_answers_the_built_version_as_json() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(&mut conn, &get("/version"));
    let reply = read_reply(&mut conn);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, version_json());
}

#[test]
fn healthz_answers_ok() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(&mut conn, &get("/healthz"));
    let reply = read_reply(&mut conn);
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
}

#[test]
fn unknown_path_is_404_and_wrong_method_is_405() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(&mut conn, &get("/nope"));
    assert_eq!(read_reply(&mut conn).status, 404);
    send(&mut conn, "DELETE /version HTTP/1.1\r\nHost: test\r\n\r\n");
    let reply = read_reply(&mut conn);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(&mut conn, &get("/version"));
    let first = read_reply(&mut conn);
    assert_eq!(first.body, version_json());
    assert_eq!(first.header("Connection"), None, "must not close");
    send(&mut conn, &get("/healthz"));
    let second = read_reply(&mut conn);
    assert_eq!((second.status, second.body.as_str()), (200, "ok"));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(
        &mut conn,
        &format!("{}{}", get("/healthz"), get("/version")),
    );
    assert_eq!(read_reply(&mut conn).body, "ok");
    assert_eq!(read_reply(&mut conn).body, version_json());
}

#[test]
fn head_reports_the_length_without_a_body() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(&mut conn, "HEAD /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    send(&mut conn, &get("/healthz"));
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert_ne!(
            conn.read_line(&mut head).expect("HEAD response"),
            0,
            "{head:?}"
        );
    }
    assert!(head.contains("Content-Length: 2\r\n"), "{head}");
    // Had the HEAD response carried a body, it would precede this status line and break it.
    assert_eq!(read_reply(&mut conn).body, "ok");
}

#[test]
fn connection_close_is_honoured() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    send(
        &mut conn,
        "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    let reply = read_reply(&mut conn);
    assert_eq!(reply.header("Connection"), Some("close"));
    assert!(closed_by_server(&mut conn));
}

#[test]
fn malformed_request_gets_400_and_the_connection_closed() {
    let server = Server::start();
    for garbage in [
        "HELLO\r\n\r\n",
        "GET /version HTTP/9.9\r\n\r\n",
        "GET /version HTTP/1.1\r\nno-colon\r\n\r\n",
    ] {
        let mut conn = connect(server.addr);
        send(&mut conn, garbage);
        let reply = read_reply(&mut conn);
        assert_eq!(reply.status, 400, "{garbage:?}");
        assert_eq!(reply.header("Connection"), Some("close"));
        assert!(closed_by_server(&mut conn), "{garbage:?}");
    }
    // Still serving afterwards.
    let mut conn = connect(server.addr);
    send(&mut conn, &get("/healthz"));
    assert_eq!(read_reply(&mut conn).status, 200);
}

#[test]
fn oversized_head_gets_431() {
    let server = Server::start();
    let mut conn = connect(server.addr);
    let huge = format!(
        "GET /version HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    send(&mut conn, &huge);
    assert_eq!(read_reply(&mut conn).status, 431);
}

#[test]
fn sigterm_refuses_new_connections_but_finishes_in_flight_requests() {
    let mut server = Server::start();
    let addr = server.addr;

    // An idle keep-alive connection, used once: the drain must close it.
    let mut idle = connect(addr);
    send(&mut idle, &get("/healthz"));
    assert_eq!(read_reply(&mut idle).status, 200);

    let mut slow = connect(addr);
    let sent = Instant::now();
    send(&mut slow, &get("/slow?ms=1500"));
    accepted_so_far(addr);
    let signalled = Instant::now();
    server.sigterm();

    // New connections are refused while the slow request is still being handled.
    let mut refused = false;
    while !refused && signalled.elapsed() < Duration::from_secs(1) {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
                refused = true;
            }
            Ok(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(refused, "still accepting 1 s after SIGTERM");
    assert!(
        server.is_running(),
        "exited before the in-flight request finished"
    );

    let reply = read_reply(&mut slow);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, version_json());
    assert_eq!(reply.header("Connection"), Some("close"));
    assert!(
        sent.elapsed() >= Duration::from_millis(1500),
        "answered early"
    );
    assert!(closed_by_server(&mut slow));
    assert!(
        closed_by_server(&mut idle),
        "idle keep-alive connection left open"
    );

    let status = server
        .exited_within(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no exit 5 s after the drain; stderr:\n{}", server.logs()));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.logs());
}

#[test]
fn sigterm_when_idle_exits_zero_at_once() {
    // A drain timeout far beyond the wait below: an idle server that waited for it fails here.
    // (How fast the exit is: bench/stop.sh.)
    let mut server = Server::start_with(&[("SHUTDOWN_TIMEOUT_MS", "600000")]);
    server.sigterm();
    let status = server
        .exited_within(Duration::from_secs(60))
        .expect("exits at once, not after its 10-minute drain timeout");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn shutdown_timeout_bounds_the_drain() {
    let mut server = Server::start_with(&[("SHUTDOWN_TIMEOUT_MS", "300")]);
    let mut slow = connect(server.addr);
    send(&mut slow, &get("/slow?ms=20000"));
    accepted_so_far(server.addr);
    server.sigterm();
    let status = server
        .exited_within(Duration::from_secs(3))
        .expect("the shutdown timeout ends the drain");
    assert_eq!(
        status.code(),
        Some(1),
        "1 means it gave up on open requests"
    );
    assert!(server.logs().contains("shutdown timeout of 300 ms"));
}
