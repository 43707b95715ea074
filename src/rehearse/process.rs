//! Child processes of a rehearsal: spawning with output to a log file, signals through the
//! `kill` command (the workspace forbids `unsafe`, so no `libc::kill`), bounded stops, and the
//! tail of a log for error messages.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::RehearseError;
pub(crate) use crate::proc::{find_program, log_tail};

/// Spawns `program args` with stdin closed and stdout and stderr appended to `log`.
///
/// The child gets its own process group, so a Ctrl-C in the terminal reaches cutover only and
/// cutover stops its children in order; and it is killed if its handle is dropped, so no path
/// (an error, a panic) leaves it running. Where util-linux's `setpriv` is installed, the child
/// also gets SIGTERM from the kernel when cutover dies in a way no code of its own sees (SIGKILL,
/// the OOM killer): `setpriv --pdeathsig TERM` sets that and then execs the program, so the pid
/// is the program's. (The workspace forbids `unsafe`, so `prctl` cannot be called between fork
/// and exec here.)
pub(crate) fn spawn(
    what: &str,
    program: &Path,
    args: &[String],
    envs: &[(&str, String)],
    log: &Path,
) -> Result<Child, RehearseError> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| RehearseError::Io {
            what: "creating the log file".into(),
            path: log.to_path_buf(),
            source,
        })?;
    let err = out.try_clone().map_err(|source| RehearseError::Io {
        what: "opening the log file".into(),
        path: log.to_path_buf(),
        source,
    })?;
    let mut cmd = match (pdeathsig_setpriv(), find_program(program)) {
        // A program that cannot be found is spawned directly, for the usual spawn error.
        (Some(setpriv), Some(resolved)) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "TERM", "--"]).arg(resolved);
            c
        }
        _ => Command::new(program),
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().map_err(|source| RehearseError::Spawn {
        what: what.to_string(),
        program: program.to_path_buf(),
        source,
    })
}

/// The `setpriv` that can set a parent-death signal, checked once: util-linux before 2.33 and
/// BusyBox's applet have no `--pdeathsig`, and children then start without that protection.
pub(crate) fn pdeathsig_setpriv() -> Option<&'static Path> {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            if !cfg!(target_os = "linux") {
                return None;
            }
            let setpriv = find_program(Path::new("setpriv"))?;
            let works = std::process::Command::new(&setpriv)
                .args(["--pdeathsig", "TERM", "--", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            works.then_some(setpriv)
        })
        .as_deref()
}

/// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`) to `pid`.
pub(crate) async fn signal(pid: u32, signal: &str) -> Result<(), RehearseError> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|source| RehearseError::Spawn {
            what: format!("sending SIG{signal}"),
            program: PathBuf::from("kill"),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(RehearseError::Signal {
            signal: signal.to_string(),
            pid,
        })
    }
}

/// How a stopped child ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stopped {
    /// The exit code, when it exited rather than died of a signal.
    pub code: Option<i32>,
    /// It did not stop within the grace time and was killed.
    pub forced: bool,
    /// How long the stop took, in milliseconds.
    pub took_ms: u64,
}

impl Stopped {
    fn from_status(status: ExitStatus, forced: bool, took: Duration) -> Stopped {
        Stopped {
            code: status.code(),
            forced,
            took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// SIGTERM, then up to `grace` for the child to exit, then SIGKILL.
pub(crate) async fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    let started = std::time::Instant::now();
    if let Ok(Some(status)) = child.try_wait() {
        return Stopped::from_status(status, false, Duration::ZERO);
    }
    if let Some(pid) = child.id() {
        // If `kill` fails the child is gone or unreachable; the wait below settles which.
        let _ = signal(pid, "TERM").await;
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => Stopped::from_status(status, false, started.elapsed()),
        _ => kill(child, started).await,
    }
}

/// SIGKILL and reap.
pub(crate) async fn kill(child: &mut Child, started: std::time::Instant) -> Stopped {
    let _ = child.start_kill();
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => Stopped::from_status(status, true, started.elapsed()),
        _ => Stopped {
            code: None,
            forced: true,
            took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
    }
}

/// A free TCP port on 127.0.0.1, found by binding port 0. Another process could take it before
/// it is used; on loopback in a test run that is rare, and the start then fails clearly.
pub(crate) fn free_port() -> Result<u16, RehearseError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| RehearseError::Io {
            what: "finding a free port".into(),
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })
}
