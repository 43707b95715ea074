//! Child programs: finding one on `PATH`, spawning it with its output in a log file (its own
//! process group, killed on drop, SIGTERM from the kernel if cutover dies), signals, bounded
//! stops (SIGTERM, a grace time, SIGKILL), free ports and a log's tail for error messages.
//! Shared by the rehearsal and the local engine.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

/// The last `lines` lines of a log file, for an error message (empty when unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    all[from..]
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Searches `PATH` for `name`, or checks `name` itself when it holds a `/`.
pub fn find_program(name: &Path) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return is_exe(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
}

/// Spawns `program args` with stdin closed and stdout and stderr appended to `log`.
///
/// The child gets its own process group, so a Ctrl-C in the terminal reaches cutover only and
/// cutover stops its children in order; and it is killed if its handle is dropped, so no path
/// (an error, a panic) leaves it running. Where util-linux's `setpriv` is installed, the child
/// also gets SIGTERM from the kernel when cutover dies in a way no code of its own sees (SIGKILL,
/// the OOM killer): `setpriv --pdeathsig TERM` sets that and then execs the program, so the pid
/// is the program's. (The workspace forbids `unsafe`, so `prctl` cannot be called between fork
/// and exec here.)
pub fn spawn(
    program: &Path,
    args: &[String],
    envs: &[(&str, String)],
    log: &Path,
) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
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
    cmd.spawn()
}

/// The `setpriv` that can set a parent-death signal, checked once: util-linux before 2.33 and
/// BusyBox's applet have no `--pdeathsig`, and children then start without that protection.
pub fn pdeathsig_setpriv() -> Option<&'static Path> {
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

/// Sends `signal` to `pid`; an error when no such process is left.
pub fn signal(pid: u32, signal: rustix::process::Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::other("not a pid"))?;
    rustix::process::kill_process(pid, signal).map_err(std::io::Error::from)
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
pub async fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    let started = std::time::Instant::now();
    if let Ok(Some(status)) = child.try_wait() {
        return Stopped::from_status(status, false, Duration::ZERO);
    }
    if let Some(pid) = child.id() {
        // If the signal fails the child is gone; the wait below settles it.
        let _ = signal(pid, rustix::process::Signal::TERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => Stopped::from_status(status, false, started.elapsed()),
        _ => kill(child, started).await,
    }
}

/// SIGKILL and reap.
pub async fn kill(child: &mut Child, started: std::time::Instant) -> Stopped {
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
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("/bin/sh")).is_some());
        assert!(find_program(Path::new("no-such-program-cutover")).is_none());
        assert!(find_program(Path::new("./no/such/program")).is_none());
    }

    #[test]
    fn tails_logs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a\nb\nc\n").expect("write");
        assert_eq!(log_tail(&p, 2), "    | b\n    | c");
        assert_eq!(log_tail(&dir.path().join("none"), 2), "");
    }
}
