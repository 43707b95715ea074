//! The listener, one thread per connection, and the SIGTERM drain.
//!
//! Drain order, so a blue/green cutover loses no request:
//! 1. the signal wakes the accept loop, which closes the listener: new connections are refused;
//! 2. a request already being handled finishes; its response says `Connection: close`;
//! 3. idle keep-alive connections notice within `POLL_INTERVAL` and are closed;
//! 4. the process exits once no connection is left, or after the shutdown timeout.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{Config, VERSION};
use crate::http::{self, Response, Version, MAX_HEAD_BYTES};
use crate::routes;
use crate::signal;

/// How often a connection waiting for a request checks for shutdown.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Idle keep-alive limit. Longer than a load balancer's (ALB: 60 s) so the balancer, not us,
/// closes idle connections: otherwise it may reuse one just as we close it.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);
/// Time allowed for a started request head or body to arrive in full.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection keeps reading what the client still sends, so our last
/// response is not destroyed by a reset (RFC 9112 §9.6).
const LINGER: Duration = Duration::from_millis(500);
const MAX_BODY_BYTES: u64 = 64 * 1024;
/// Beyond this many open connections new ones get 503, rather than a thread each.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every connection finished before the shutdown timeout.
    Drained,
    /// The shutdown timeout passed with connections still open.
    TimedOut,
}

/// `UPSTREAM_ADDR`, set once at start.
static UPSTREAM: std::sync::OnceLock<Option<std::net::SocketAddr>> = std::sync::OnceLock::new();

/// Serves until SIGTERM or SIGINT, then drains.
pub fn run(config: &Config) -> io::Result<Outcome> {
    let listener = TcpListener::bind(config.addr).map_err(|err| {
        io::Error::new(err.kind(), format!("listening on `{}`: {err}", config.addr))
    })?;
    // Non-blocking so a connection that vanishes between `poll` and `accept` cannot block us.
    listener.set_nonblocking(true)?;
    signal::install()?;
    // Tests read this line to learn the port when started with `--port 0`.
    log!(
        "sample-app {VERSION} listening on {}",
        listener.local_addr()?
    );

    let version_body: Arc<str> = routes::version_body(VERSION).into();
    let _ = UPSTREAM.set(config.upstream);
    let tracker = Arc::new(Tracker::default());
    while !signal::requested() {
        if let Err(err) = signal::wait_for_connection_or_signal(listener.as_raw_fd()) {
            log!("waiting for connections: {err}");
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if signal::requested() {
            break;
        }
        match listener.accept() {
            Ok((stream, _peer)) => spawn_connection(stream, &tracker, &version_body),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            // e.g. EMFILE: the connection stays queued; pause rather than spin on it.
            Err(err) => {
                log!("accepting a connection: {err}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    drop(listener);

    let open = tracker.open();
    log!("shutdown signal received: listener closed, draining {open} connection(s)");
    let left = tracker.wait_until_none(config.shutdown_timeout);
    if left == 0 {
        log!("drained, exiting");
        Ok(Outcome::Drained)
    } else {
        log!(
            "shutdown timeout of {} ms passed with {left} connection(s) open, exiting",
            config.shutdown_timeout.as_millis()
        );
        Ok(Outcome::TimedOut)
    }
}

fn spawn_connection(stream: TcpStream, tracker: &Arc<Tracker>, version_body: &Arc<str>) {
    if tracker.open() >= MAX_CONNECTIONS {
        // Short timeout: this write happens on the accept loop.
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let busy = Response::text(503, "too many connections");
        let _ = (&stream).write_all(&busy.to_bytes(true, false, Version::Http11));
        return;
    }
    let guard = tracker.enter();
    let version_body = Arc::clone(version_body);
    let spawned = thread::Builder::new()
        .name("connection".into())
        .spawn(move || {
            let _guard = guard;
            serve_connection(stream, &version_body);
        });
    if let Err(err) = spawned {
        // The closure, its guard and the stream are dropped: the count stays right.
        log!("starting a connection thread: {err}");
    }
}

fn serve_connection(stream: TcpStream, version_body: &str) {
    let Ok(mut conn) = Connection::new(stream) else {
        return;
    };
    loop {
        let head = match conn.next_request() {
            Next::Request(head) => head,
            Next::Close => return conn.close(),
            Next::Reject(response) => return conn.reject(&response),
        };
        if head.has_transfer_encoding {
            return conn.reject(&Response::text(501, "Transfer-Encoding is not supported"));
        }
        if head.content_length > MAX_BODY_BYTES {
            return conn.reject(&Response::text(413, "request body too large"));
        }
        if !conn.discard_body(head.content_length) {
            return conn.close();
        }

        let mut routed = routes::route(&head.method, &head.target, version_body);
        if let (Some(Some(up)), true) = (UPSTREAM.get(), head.target.starts_with("/healthz")) {
            if TcpStream::connect_timeout(up, Duration::from_millis(500)).is_err() {
                routed.response = Response::text(503, format!("upstream {up} refuses connections"));
            }
        }
        if !routed.delay.is_zero() {
            thread::sleep(routed.delay);
        }
        // Decided after the handler ran: a request in flight when SIGTERM came still gets
        // its answer, and the client learns not to reuse the connection.
        let keep_alive = head.keep_alive && !signal::requested();
        let bytes = routed
            .response
            .to_bytes(head.method != "HEAD", keep_alive, head.version);
        if (&conn.stream).write_all(&bytes).is_err() {
            return;
        }
        if !keep_alive {
            return conn.close();
        }
    }
}

enum Next {
    Request(http::RequestHead),
    /// End quietly: the client closed, the connection idled out, or we are shutting down.
    Close,
    /// Answer with this error response, then close.
    Reject(Response),
}

enum Fill {
    Data,
    Eof,
    /// Nothing arrived within `POLL_INTERVAL`.
    Idle,
}

struct Connection {
    stream: TcpStream,
    /// Bytes read but not consumed yet: the next (pipelined) request may already be here.
    buf: Vec<u8>,
}

impl Connection {
    fn new(stream: TcpStream) -> io::Result<Self> {
        // Accepted sockets inherit non-blocking from the listener on some systems (macOS).
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        // Responses go out in one write; do not let Nagle hold them back.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(1024),
        })
    }

    fn fill(&mut self) -> io::Result<Fill> {
        let mut chunk = [0u8; 4096];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => Ok(Fill::Eof),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(Fill::Data)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    Ok(Fill::Idle)
                }
                Err(err) => Err(err),
            };
        }
    }

    fn next_request(&mut self) -> Next {
        let idle_since = Instant::now();
        let mut started: Option<Instant> = None;
        loop {
            let blank = http::leading_blank_lines(&self.buf);
            self.buf.drain(..blank);
            if !self.buf.is_empty() {
                started.get_or_insert_with(Instant::now);
            }
            if let Some(end) = http::find_head_end(&self.buf) {
                if end > MAX_HEAD_BYTES {
                    return Next::Reject(Response::text(431, "request head too large"));
                }
                let parsed = http::parse_head(&self.buf[..end]);
                self.buf.drain(..end);
                return match parsed {
                    Ok(head) => Next::Request(head),
                    Err(http::Malformed(why)) => Next::Reject(Response::text(400, why)),
                };
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Next::Reject(Response::text(431, "request head too large"));
            }
            match self.fill() {
                Ok(Fill::Data) => {}
                Ok(Fill::Eof) | Err(_) => return Next::Close,
                Ok(Fill::Idle) => match started {
                    None if signal::requested() || idle_since.elapsed() >= KEEP_ALIVE_IDLE => {
                        return Next::Close
                    }
                    Some(at) if at.elapsed() >= REQUEST_TIMEOUT => {
                        return Next::Reject(Response::text(408, "request head incomplete"))
                    }
                    _ => {}
                },
            }
        }
    }

    /// Reads and drops a `Content-Length` body; false if it never arrived in full.
    fn discard_body(&mut self, mut remaining: u64) -> bool {
        let started = Instant::now();
        loop {
            let take = usize::try_from(remaining).map_or(self.buf.len(), |r| r.min(self.buf.len()));
            self.buf.drain(..take);
            remaining -= take as u64;
            if remaining == 0 {
                return true;
            }
            match self.fill() {
                Ok(Fill::Data) => {}
                Ok(Fill::Idle) if started.elapsed() < REQUEST_TIMEOUT => {}
                _ => return false,
            }
        }
    }

    fn reject(self, response: &Response) {
        if (&self.stream)
            .write_all(&response.to_bytes(true, false, Version::Http11))
            .is_ok()
        {
            self.close();
        }
    }

    /// Sends FIN, then reads until the client closes too (bounded by `LINGER`), so unread
    /// request bytes do not turn our close into a reset that eats the last response.
    fn close(mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }
}

/// Counts open connections so the drain knows when it is done.
#[derive(Default)]
struct Tracker {
    open: Mutex<usize>,
    closed: Condvar,
}

/// One open connection; dropping it (even while unwinding) counts the connection closed.
struct Guard(Arc<Tracker>);

impl Tracker {
    fn enter(self: &Arc<Self>) -> Guard {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Guard(Arc::clone(self))
    }

    fn open(&self) -> usize {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` for every connection to close; returns how many are still open.
    fn wait_until_none(&self, timeout: Duration) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, _) = self
            .closed
            .wait_timeout_while(open, timeout, |open| *open > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *open
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(PoisonError::into_inner);
        *open = open.saturating_sub(1);
        if *open == 0 {
            self.0.closed.notify_all();
        }
    }
}
