//! Small HTTP/1.1 servers on 127.0.0.1 for the probe tests: each answers every request as a
//! closure decides, from raw bytes, so tests can send exactly the broken answers they need.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::probe::{ProbeOptions, Rate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// What the server does with one request.
pub enum Reply {
    /// Write these bytes; keep the connection when the client asked for keep-alive.
    Bytes(Vec<u8>),
    /// Write these bytes, then close, whatever the client asked.
    BytesThenClose(Vec<u8>),
    /// Wait, then write these bytes.
    Delayed(Duration, Vec<u8>),
    /// Close without answering (a FIN).
    Close,
    /// Close with a reset (an RST).
    Reset,
}

/// A 200 answer with a JSON body.
pub fn json(body: &str) -> Vec<u8> {
    with_type("application/json", body)
}

/// A 200 answer with the given content type.
pub fn with_type(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `{"version":"V"}` answer.
pub fn version(v: &str) -> Vec<u8> {
    json(&format!(r#"{{"version":"{v}"}}"#))
}

/// Context a reply closure sees.
pub struct Request {
    /// Requests answered so far, over all connections.
    pub index: u64,
    /// Time since the server started.
    pub elapsed: Duration,
}

pub struct Server {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicU64>,
    /// Requests answered (or refused an answer) so far.
    pub requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}/version", self.addr)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReplyFn = Arc<dyn Fn(Request) -> Reply + Send + Sync>;

/// Starts a server on a free loopback port.
pub async fn serve(reply: impl Fn(Request) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    serve_on(listener, reply)
}

/// Serves on a bound listener.
pub fn serve_on(
    listener: TcpListener,
    reply: impl Fn(Request) -> Reply + Send + Sync + 'static,
) -> Server {
    let addr = listener.local_addr().expect("local addr");
    let connections = Arc::new(AtomicU64::new(0));
    let reply: ReplyFn = Arc::new(reply);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (conns, requests) = (connections.clone(), counter.clone());
    let task = tokio::spawn(async move {
        accept_loop(listener, reply, counter, conns, started, None).await;
    });
    Server {
        addr,
        connections,
        requests,
        task,
    }
}

/// Binds `addr` with SO_REUSEADDR so a test can stop and restart a server on the same port.
pub fn bind_reusable(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind");
    socket.listen(1024).expect("listen")
}

/// Accepts until `until` (forever when `None`), serving each connection on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    reply: ReplyFn,
    counter: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    started: Instant,
    until: Option<tokio::time::Instant>,
) {
    let never = tokio::time::Instant::now() + Duration::from_secs(3600);
    let deadline = until.unwrap_or(never);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(handle(stream, reply.clone(), counter.clone(), started));
            }
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

pub fn reply_fn(f: impl Fn(Request) -> Reply + Send + Sync + 'static) -> ReplyFn {
    Arc::new(f)
}

async fn handle(mut stream: TcpStream, reply: ReplyFn, counter: Arc<AtomicU64>, started: Instant) {
    let mut buf = Vec::with_capacity(1024);
    loop {
        // Read one request head.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let client_closes = head.contains("connection: close");
        let index = counter.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            index,
            elapsed: started.elapsed(),
        };
        let (bytes, close) = match reply(request) {
            Reply::Bytes(b) => (b, client_closes),
            Reply::BytesThenClose(b) => (b, true),
            Reply::Delayed(wait, b) => {
                tokio::time::sleep(wait).await;
                (b, client_closes)
            }
            Reply::Close => return,
            Reply::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Options for a short test run against `url` that writes into `dir`.
pub fn options(url: &str, dir: &Path) -> ProbeOptions {
    let mut o = ProbeOptions::new(url);
    o.rate = Rate::Fixed(50.0);
    o.duration = Some(Duration::from_millis(150));
    o.timeout = Duration::from_secs(1);
    o.results_dir = dir.to_path_buf();
    o
}
