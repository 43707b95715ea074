//! HAProxy as the local service's Application Load Balancer: a production and a test listener,
//! two target groups (`tg_a`, `tg_b`) with the target group's health check, and the listeners'
//! forwarding weights in a map that the runtime API changes. The configuration is pure; the
//! process runs detached, so the service outlives the command that created it, and is driven
//! through its admin socket.
//!
//! A listener forwards to `tg_b` with the probability in the map (0–100) and to `tg_a` otherwise,
//! request by request, as an ALB's weighted forward action does. A target group's server takes
//! requests only once its health check passes (`rise` checks), as a target is only in service
//! once healthy; deregistration drains (`state drain`) for the deregistration delay.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use super::LocalError;

/// Servers per target group: the most tasks a task set can have here.
pub const SLOTS: u32 = 16;
const API_TIMEOUT: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(20);

/// The two target groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetGroup {
    TgA,
    TgB,
}

impl TargetGroup {
    pub fn name(self) -> &'static str {
        match self {
            TargetGroup::TgA => "tg_a",
            TargetGroup::TgB => "tg_b",
        }
    }

    pub fn other(self) -> TargetGroup {
        match self {
            TargetGroup::TgA => TargetGroup::TgB,
            TargetGroup::TgB => TargetGroup::TgA,
        }
    }
}

/// The listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Production,
    Test,
}

impl Listener {
    fn key(self) -> &'static str {
        match self {
            Listener::Production => "production",
            Listener::Test => "test",
        }
    }
}

/// The target groups' health check, as an ALB target group's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// ALB's matcher: `200`, `200,202`, `200-299`.
    pub matcher: String,
}

/// Everything the configuration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub production_port: u16,
    pub test_port: u16,
    pub socket: PathBuf,
    pub map: PathBuf,
    pub health: HealthCheck,
}

/// An ALB matcher as the regular expression HAProxy's `http-check expect rstatus` takes; `None`
/// when it is not a list of codes and ranges from 200 to 499.
pub fn matcher_regex(matcher: &str) -> Option<String> {
    let mut codes = Vec::new();
    for part in matcher.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let c = part.parse::<u16>().ok()?;
                (c, c)
            }
        };
        if !(200..=499).contains(&lo) || !(200..=499).contains(&hi) || lo > hi {
            return None;
        }
        codes.extend(lo..=hi);
    }
    codes.sort_unstable();
    codes.dedup();
    let list: Vec<String> = codes.iter().map(u16::to_string).collect();
    Some(format!("^({})$", list.join("|")))
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

impl Config {
    /// The configuration text. `matcher` must have passed [`matcher_regex`].
    pub fn render(&self) -> String {
        let expect = matcher_regex(&self.health.matcher).unwrap_or_else(|| "^(200)$".into());
        let map = self.map.display();
        let mut out = format!(
            "\
# Written by cutover local: the local service's load balancer.
global
    stats socket {socket} mode 600 level admin
    stats timeout 10s
    # Notices only (a target going up or down), not a line per request: the service may run
    # for days under a probe.
    log stderr format raw local0 notice

defaults
    mode http
    log global
    option http-server-close
    # Like an ALB: a request sent to a target that fails is not retried on another one.
    retries 0
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check {check_timeout}
",
            socket = self.socket.display(),
            check_timeout = ms(self.health.timeout),
        );
        for (listener, port) in [
            (Listener::Production, self.production_port),
            (Listener::Test, self.test_port),
        ] {
            let key = listener.key();
            out.push_str(&format!(
                "
frontend {key}
    bind 127.0.0.1:{port}
    # The share of requests to tg_b (0-100), per request.
    http-request set-var(txn.to_b) str({key}),map_str_int({map},0)
    http-request set-var(txn.roll) rand(100)
    acl to_b var(txn.roll),sub(txn.to_b) lt 0
    use_backend tg_b if to_b
    default_backend tg_a
"
            ));
        }
        for tg in [TargetGroup::TgA, TargetGroup::TgB] {
            out.push_str(&format!(
                "
backend {name}
    balance roundrobin
    option httpchk GET {path}
    http-check expect rstatus {expect}
    default-server inter {inter} fall {fall} rise {rise}
",
                name = tg.name(),
                path = self.health.path,
                inter = ms(self.health.interval),
                fall = self.health.unhealthy_threshold.max(1),
                rise = self.health.healthy_threshold.max(1),
            ));
            for slot in 1..=SLOTS {
                out.push_str(&format!("    server t{slot} 127.0.0.1:1 check disabled\n"));
            }
        }
        out
    }
}

/// The initial map: both listeners on `tg_a`.
pub fn initial_map() -> String {
    "production 0\ntest 0\n".to_string()
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    pub backend: String,
    pub name: String,
    pub status: String,
    pub sessions: u64,
    pub check_status: String,
}

impl ServerStat {
    pub fn is_up_by_check(&self) -> bool {
        self.status == "UP" && self.check_status.starts_with("L7OK")
    }
}

/// The servers in `show stat` CSV output; columns are found by their header.
pub fn parse_stat(csv: &str) -> Vec<ServerStat> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(st), Some(scur), Some(chk)) = (
        col("pxname"),
        col("svname"),
        col("status"),
        col("scur"),
        col("check_status"),
    ) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or_default();
            (!matches!(get(sv), "BACKEND" | "FRONTEND" | "")).then(|| ServerStat {
                backend: get(px).to_string(),
                name: get(sv).to_string(),
                status: get(st).to_string(),
                sessions: get(scur).parse().unwrap_or(0),
                check_status: get(chk).to_string(),
            })
        })
        .collect()
}

/// The running load balancer, reached through its admin socket.
#[derive(Debug, Clone)]
pub struct Lb {
    pub socket: PathBuf,
    pub map: PathBuf,
    pub log: PathBuf,
    pub pid: u32,
}

impl Lb {
    /// Writes the configuration and the map into `dir` and starts `haproxy` detached (its own
    /// process group, not killed when this process ends), logging to `dir/haproxy.log`; waits
    /// for the runtime API.
    pub async fn start(
        binary: &Path,
        config: &Config,
        dir: &Path,
        detached: bool,
    ) -> Result<Lb, LocalError> {
        let io = |what: &str, path: &Path| {
            let what = what.to_string();
            let path = path.to_path_buf();
            move |source| LocalError::Io { what, path, source }
        };
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&config.map, initial_map())
            .map_err(io("writing the listeners' map", &config.map))?;
        std::fs::write(&cfg, config.render())
            .map_err(io("writing the HAProxy configuration", &cfg))?;
        let log = dir.join("haproxy.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io("creating the HAProxy log", &log))?;
        let err = out
            .try_clone()
            .map_err(io("opening the HAProxy log", &log))?;
        use std::os::unix::process::CommandExt as _;
        // Not detached (a rehearsal): the kernel sends it SIGTERM when cutover dies.
        let mut cmd = match (detached, crate::proc::pdeathsig_setpriv()) {
            (false, Some(setpriv)) => {
                let mut c = std::process::Command::new(setpriv);
                c.args(["--pdeathsig", "TERM", "--"]).arg(binary);
                c
            }
            _ => std::process::Command::new(binary),
        };
        let mut child = cmd
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .spawn()
            .map_err(|source| LocalError::HaproxyMissing {
                program: binary.to_path_buf(),
                source,
            })?;
        let lb = Lb {
            socket: config.socket.clone(),
            map: config.map.clone(),
            log: log.clone(),
            pid: child.id(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(LocalError::Haproxy {
                    what: format!("HAProxy exited at start ({status})"),
                    log: log.clone(),
                    tail: crate::proc::log_tail(&log, 15),
                });
            }
            if lb.command("show info").await.is_ok() {
                // The child is not waited for: it outlives this process by design.
                return Ok(lb);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LocalError::Haproxy {
                    what: "HAProxy's runtime API did not answer within 10 s".into(),
                    log: log.clone(),
                    tail: crate::proc::log_tail(&log, 15),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends one command line (commands joined with `;`) and returns the answer.
    pub async fn command(&self, line: &str) -> Result<String, LocalError> {
        let exchange = async {
            let mut s = UnixStream::connect(&self.socket).await?;
            s.write_all(format!("{line}\n").as_bytes()).await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        let failed = |why: String| LocalError::Haproxy {
            what: format!("HAProxy's runtime API failed on `{line}`: {why}"),
            log: self.log.clone(),
            tail: crate::proc::log_tail(&self.log, 10),
        };
        match tokio::time::timeout(API_TIMEOUT, exchange).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed("no answer in time".into())),
        }
    }

    /// Runs `set` commands back to back; any answer but an empty one is an error.
    pub async fn set(&self, commands: &[String]) -> Result<(), LocalError> {
        let line = commands.join("; ");
        let answer = self.command(&line).await?;
        let answer = answer.trim();
        if answer.is_empty() {
            Ok(())
        } else {
            Err(LocalError::Haproxy {
                what: format!("HAProxy refused `{line}`: {answer}"),
                log: self.log.clone(),
                tail: String::new(),
            })
        }
    }

    /// Sends `percent` of `listener`'s requests to `tg`'s group (the rest to the other).
    pub async fn route(
        &self,
        listener: Listener,
        tg: TargetGroup,
        percent: u8,
    ) -> Result<(), LocalError> {
        let to_b = match tg {
            TargetGroup::TgB => percent.min(100),
            TargetGroup::TgA => 100 - percent.min(100),
        };
        self.set(&[format!(
            "set map {} {} {to_b}",
            self.map.display(),
            listener.key()
        )])
        .await
    }

    /// Registers a target: the slot's address, then out of maintenance, so health checks start;
    /// it takes requests once they pass.
    pub async fn register(&self, tg: TargetGroup, slot: u32, port: u16) -> Result<(), LocalError> {
        let s = format!("{}/t{slot}", tg.name());
        // This one answers what it changed ("... port changed from '1' to '…'").
        let line = format!("set server {s} addr 127.0.0.1 port {port}");
        let answer = self.command(&line).await?;
        if !(answer.contains("changed") || answer.contains("no need")) {
            return Err(LocalError::Haproxy {
                what: format!("HAProxy refused `{line}`: {}", answer.trim()),
                log: self.log.clone(),
                tail: String::new(),
            });
        }
        self.set(&[format!("set server {s} state ready")]).await
    }

    /// No new requests to the target; those in flight go on.
    pub async fn drain(&self, tg: TargetGroup, slot: u32) -> Result<(), LocalError> {
        self.set(&[format!("set server {}/t{slot} state drain", tg.name())])
            .await
    }

    /// Takes the target out of its group.
    pub async fn maint(&self, tg: TargetGroup, slot: u32) -> Result<(), LocalError> {
        self.set(&[format!("set server {}/t{slot} state maint", tg.name())])
            .await
    }

    /// Waits until none of `slots` has a request in flight (`Ok(true)`), or `delay` passes
    /// (`Ok(false)`).
    pub async fn wait_drained(
        &self,
        tg: TargetGroup,
        slots: &[u32],
        delay: Duration,
    ) -> Result<bool, LocalError> {
        let names: Vec<String> = slots.iter().map(|s| format!("t{s}")).collect();
        let deadline = Instant::now() + delay;
        loop {
            let busy = self
                .servers()
                .await?
                .iter()
                .any(|x| x.backend == tg.name() && names.contains(&x.name) && x.sessions > 0);
            if !busy {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Drains a target (no new requests) for up to `delay` or until none is in flight, then
    /// takes it out.
    pub async fn deregister(
        &self,
        tg: TargetGroup,
        slot: u32,
        delay: Duration,
    ) -> Result<(), LocalError> {
        self.drain(tg, slot).await?;
        self.wait_drained(tg, &[slot], delay).await?;
        self.maint(tg, slot).await
    }

    pub async fn servers(&self) -> Result<Vec<ServerStat>, LocalError> {
        Ok(parse_stat(&self.command("show stat").await?))
    }

    /// The state of `tg`'s slot.
    pub async fn up(&self, tg: TargetGroup, slot: u32) -> Result<Option<ServerStat>, LocalError> {
        let name = format!("t{slot}");
        Ok(self
            .servers()
            .await?
            .into_iter()
            .find(|s| s.backend == tg.name() && s.name == name))
    }

    /// The share of `listener`'s requests that go to `tg_b` now.
    pub async fn share_to_b(&self, listener: Listener) -> Result<u8, LocalError> {
        let out = self
            .command(&format!("show map {}", self.map.display()))
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, k, v) = (f.next()?, f.next()?, f.next()?);
                (k == listener.key()).then(|| v.parse().ok()).flatten()
            })
            .next()
            .unwrap_or(0))
    }
}

/// Whether `pid` is the HAProxy of `config` (its command line names the file), so a reused pid
/// is never signalled.
pub fn is_our_haproxy(pid: u32, config: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let want = config.as_os_str().as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == want)
}

/// The HAProxy processes running on `config` (found in /proc by their command line).
pub fn haproxies_of(config: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| is_our_haproxy(pid, config))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_become_status_regexes() {
        assert_eq!(matcher_regex("200").as_deref(), Some("^(200)$"));
        assert_eq!(matcher_regex("200,202").as_deref(), Some("^(200|202)$"));
        assert_eq!(
            matcher_regex("200-203").as_deref(),
            Some("^(200|201|202|203)$")
        );
        for bad in ["", "abc", "100", "500", "300-200", "200-"] {
            assert_eq!(matcher_regex(bad), None, "{bad}");
        }
    }

    #[test]
    fn config_has_two_listeners_two_groups_and_the_health_check() {
        let cfg = Config {
            production_port: 8000,
            test_port: 8001,
            socket: "/s/admin.sock".into(),
            map: "/s/routes.map".into(),
            health: HealthCheck {
                path: "/healthz".into(),
                interval: Duration::from_millis(200),
                timeout: Duration::from_secs(2),
                healthy_threshold: 2,
                unhealthy_threshold: 3,
                matcher: "200".into(),
            },
        };
        let text = cfg.render();
        for needle in [
            "frontend production\n    bind 127.0.0.1:8000",
            "frontend test\n    bind 127.0.0.1:8001",
            "map_str_int(/s/routes.map,0)",
            "backend tg_a",
            "backend tg_b",
            "option httpchk GET /healthz",
            "http-check expect rstatus ^(200)$",
            "default-server inter 200ms fall 3 rise 2",
            "server t16 127.0.0.1:1 check disabled",
            "retries 0",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in\n{text}");
        }
    }

    #[test]
    fn parses_servers_of_both_groups() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status\n\
tg_a,t1,0,0,2,1,,1,79,118,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,1,,2,0,,1,L7OK\n\
tg_b,t1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,0,0,,1,3,2,,0,,2,0,,0,\n\
tg_b,BACKEND,0,0,0,1,26212,1,79,118,0,0,,0,0,0,0,UP,100,1,0,,0,5,0,,1,3,0,,1,,1,0,,1,\n";
        let s = parse_stat(csv);
        assert_eq!(s.len(), 2);
        assert!(s[0].is_up_by_check());
        assert_eq!((s[0].backend.as_str(), s[0].sessions), ("tg_a", 2));
        assert_eq!(s[1].status, "MAINT");
    }
}
