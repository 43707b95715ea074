//! HAProxy as the rehearsal's load balancer: the configuration (pure), the `haproxy -db` child,
//! and its runtime API over the admin unix socket, through which cutover readies green, shifts
//! weights, drains and retires blue, and reads the servers' health.
//!
//! The configuration stands in for an ALB listener with two target groups: health checks on the
//! health path, a request routed to a dead server fails rather than being retried elsewhere (an
//! ALB answers 502 too), and the server side closes after each response (`http-server-close`),
//! so no idle pooled connection to blue outlives its drain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::process::Child;

use super::process::{self, Stopped};
use super::RehearseError;

/// The backend's name in the configuration and the runtime API.
pub const BACKEND: &str = "be";
/// How often HAProxy checks each server: fast, as everything is local.
const CHECK_INTER: &str = "100ms";
/// One runtime API exchange may take this long.
const API_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a wait polls the runtime API.
const POLL: Duration = Duration::from_millis(25);

/// What the configuration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The frontend (the "listener").
    pub listen: SocketAddr,
    /// The admin socket of the runtime API.
    pub socket: PathBuf,
    pub health_path: String,
    pub blue: SocketAddr,
    pub green: SocketAddr,
}

impl Config {
    /// The configuration text: blue takes all traffic, green starts in maintenance (no
    /// traffic, no checks) until cutover readies it.
    pub fn render(&self) -> String {
        format!(
            "\
# Written by cutover rehearse.
global
    stats socket {socket} mode 600 level admin
    stats timeout 10s
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option http-server-close
    # Like an ALB: a request sent to a dead target fails; it is not retried on another one.
    retries 0
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s

frontend fe
    bind {listen}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET {health}
    http-check expect status 200
    default-server inter {CHECK_INTER} fall 2 rise 2
    server blue {blue} check weight 100
    server green {green} check weight 0 disabled
",
            socket = self.socket.display(),
            listen = self.listen,
            health = self.health_path,
            blue = self.blue,
            green = self.green,
        )
    }
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    pub name: String,
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `UP 1/2` (going down), `DOWN 1/2` (going up), ...
    pub status: String,
    pub weight: u32,
    /// Current sessions (requests in flight, with `http-server-close`).
    pub sessions: u64,
    /// `L7OK`, `L4CON`, `INI`, ... empty when not checked.
    pub check_status: String,
}

impl ServerStat {
    /// Up, and so by a health check that passed (not merely assumed up after maintenance).
    pub fn is_up_by_check(&self) -> bool {
        self.status == "UP" && self.check_status == "L7OK"
    }

    /// Marked down by the health checks.
    pub fn is_down(&self) -> bool {
        self.status == "DOWN"
    }
}

/// The servers of [`BACKEND`] in `show stat` CSV output; columns are found by their header.
pub fn parse_stat(csv: &str) -> Vec<ServerStat> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(st), Some(w), Some(scur), Some(chk)) = (
        col("pxname"),
        col("svname"),
        col("status"),
        col("weight"),
        col("scur"),
        col("check_status"),
    ) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or_default();
            (get(px) == BACKEND && !matches!(get(sv), "BACKEND" | "FRONTEND" | "")).then(|| {
                ServerStat {
                    name: get(sv).to_string(),
                    status: get(st).to_string(),
                    weight: get(w).parse().unwrap_or(0),
                    sessions: get(scur).parse().unwrap_or(0),
                    check_status: get(chk).to_string(),
                }
            })
        })
        .collect()
}

/// The running `haproxy -db`.
pub struct Haproxy {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Haproxy {
    /// Writes the configuration into `dir`, starts `binary` on it, and waits (up to `timeout`)
    /// for the runtime API to answer.
    pub async fn start(
        binary: &Path,
        config: &Config,
        dir: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Result<Haproxy, RehearseError> {
        let cfg_path = dir.join("haproxy.cfg");
        std::fs::write(&cfg_path, config.render()).map_err(|source| RehearseError::Io {
            what: "writing the HAProxy configuration".into(),
            path: cfg_path.clone(),
            source,
        })?;
        let args = vec![
            "-f".to_string(),
            cfg_path.display().to_string(),
            "-db".to_string(),
        ];
        let child = process::spawn("HAProxy", binary, &args, &[], log)?;
        let mut haproxy = Haproxy {
            child,
            socket: config.socket.clone(),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                return Err(RehearseError::HaproxyExited {
                    status: status.to_string(),
                    log: haproxy.log.clone(),
                    tail: process::log_tail(&haproxy.log, 15),
                });
            }
            if haproxy.command("show info").await.is_ok() {
                return Ok(haproxy);
            }
            if Instant::now() >= deadline {
                return Err(RehearseError::NotReady {
                    what: "HAProxy's runtime API".into(),
                    waited: timeout,
                    log: haproxy.log.clone(),
                    tail: process::log_tail(&haproxy.log, 15),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends one command line (commands may be joined with `;`) and returns the answer.
    pub async fn command(&self, line: &str) -> Result<String, RehearseError> {
        let exchange = async {
            let mut s = UnixStream::connect(&self.socket).await?;
            s.write_all(format!("{line}\n").as_bytes()).await?;
            // Outside interactive mode HAProxy answers and closes.
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        match tokio::time::timeout(API_TIMEOUT, exchange).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(source)) => Err(RehearseError::Api {
                command: line.to_string(),
                source,
            }),
            Err(_) => Err(RehearseError::Api {
                command: line.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"),
            }),
        }
    }

    /// Runs `set ...` commands at once (one line, so HAProxy applies them back to back); any
    /// answer is an error message.
    pub async fn set(&self, commands: &[String]) -> Result<(), RehearseError> {
        let line = commands.join("; ");
        let answer = self.command(&line).await?;
        if answer.trim().is_empty() {
            Ok(())
        } else {
            Err(RehearseError::ApiRefused {
                command: line,
                answer: answer.trim().to_string(),
            })
        }
    }

    /// The servers' state.
    pub async fn servers(&self) -> Result<Vec<ServerStat>, RehearseError> {
        Ok(parse_stat(&self.command("show stat").await?))
    }

    /// Polls `show stat` until `server` satisfies `ready` or `timeout` passes.
    pub async fn wait_for(
        &mut self,
        server: &str,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&ServerStat) -> bool,
    ) -> Result<ServerStat, RehearseError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(RehearseError::HaproxyExited {
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: process::log_tail(&self.log, 15),
                });
            }
            let servers = self.servers().await?;
            let stat = servers.iter().find(|s| s.name == server);
            if let Some(s) = stat.filter(|s| ready(s)) {
                return Ok(s.clone());
            }
            if Instant::now() >= deadline {
                let seen = stat.map_or("not listed".to_string(), |s| {
                    format!("{} (check {})", s.status, s.check_status)
                });
                return Err(RehearseError::NotReady {
                    what: format!("{server} {what} in HAProxy (last seen: {seen})"),
                    waited: timeout,
                    log: self.log.clone(),
                    tail: process::log_tail(&self.log, 15),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Stops HAProxy (SIGTERM, then SIGKILL after `grace`).
    pub async fn stop(&mut self, grace: Duration) -> Stopped {
        process::terminate(&mut self.child, grace).await
    }
}

/// The command that sets green's share of new requests, blue getting the rest. Green's weight
/// goes first, so the instant between the two is a mix, never an empty backend.
pub fn weights(green_percent: u8) -> Vec<String> {
    let g = green_percent.min(100);
    vec![
        format!("set weight {BACKEND}/green {g}"),
        format!("set weight {BACKEND}/blue {}", 100 - g),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_checks_socket_and_green_in_maintenance() {
        let cfg = Config {
            listen: "127.0.0.1:8000".parse().expect("addr"),
            socket: PathBuf::from("/tmp/x/admin.sock"),
            health_path: "/healthz".into(),
            blue: "127.0.0.1:8001".parse().expect("addr"),
            green: "127.0.0.1:8002".parse().expect("addr"),
        };
        let text = cfg.render();
        for needle in [
            "stats socket /tmp/x/admin.sock mode 600 level admin",
            "bind 127.0.0.1:8000",
            "option httpchk GET /healthz",
            "http-check expect status 200",
            "server blue 127.0.0.1:8001 check weight 100",
            "server green 127.0.0.1:8002 check weight 0 disabled",
            "retries 0",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in\n{text}");
        }
    }

    #[test]
    fn parses_show_stat_by_header() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code\n\
fe,FRONTEND,,,0,1,262120,1,79,118,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,\n\
be,blue,0,0,3,1,,1,79,118,,0,,0,0,0,0,UP,100,1,0,0,0,5,0,,1,3,1,,1,,2,0,,1,L7OK,200\n\
be,green,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,0,1,0,0,0,0,0,,1,3,2,,0,,2,0,,0,INI,\n\
be,BACKEND,0,0,0,1,26212,1,79,118,0,0,,0,0,0,0,UP,100,1,0,,0,5,0,,1,3,0,,1,,1,0,,1,,\n";
        let s = parse_stat(csv);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].weight, s[0].sessions),
            ("blue", 100, 3)
        );
        assert!(s[0].is_up_by_check());
        assert_eq!(s[1].status, "UP 1/2");
        assert!(
            !s[1].is_up_by_check(),
            "up after maintenance is not yet up by check"
        );
        assert!(parse_stat("garbage").is_empty());
    }

    #[test]
    fn weights_put_green_first() {
        assert_eq!(
            weights(10),
            vec!["set weight be/green 10", "set weight be/blue 90"]
        );
        assert_eq!(weights(100)[1], "set weight be/blue 0");
    }
}
