//! The one test harness: [`Sandbox`] runs the `cutover` binary in a scratch directory with a
//! scrubbed environment (no AWS credentials or config from the machine, `NO_COLOR=1`) and hands
//! back its exit code, stdout and stderr ([`Run`]), or a running child ([`Spawned`]) whose output
//! a test can wait for before it signals it. The parts for the services scripts/test starts:
//! [`aws`] (moto and the AWS CLI), [`registry`] (the Docker registries, read back with skopeo),
//! [`probe`] (small HTTP servers for the probe), [`rehearse`] (the sample app and HAProxy), and
//! [`buildspec`] (the `cutover buildspec run` summary). A missing service fails a test, never
//! skips it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod aws;
pub mod buildspec;
pub mod local;
pub mod probe;
pub mod project;
pub mod registry;
pub mod rehearse;
pub mod replay;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// How long a test waits for an event that normally takes well under a second, before it fails
/// saying what it waited for. Generous: a loaded 2-core machine is slow, never this slow.
pub const EVENT_WAIT: Duration = Duration::from_secs(60);

/// A file of the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(REPO).join(rel)
}

/// An environment variable scripts/test sets; a clear failure (never a skip) when it is absent.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with ./scripts/test, which starts the services \
             (moto, the registries), builds the sample app and sets it"
        )
    })
}

/// A short name no other test uses, also across test processes (ELB names are at most 32
/// characters).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{:x}{:x}{n}",
        std::process::id() % 0xfff,
        nanos % 0xfffff
    )
}

/// Polls `done` every 20 ms until it holds; fails the test naming `what` after `within`.
pub fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory to run cutover in, with the environment it gets.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Exit code, stdout and stderr as one text, for a snapshot of the whole output.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Snapshots a run's whole output (exit code, stdout, stderr), with what changes from run to
/// run replaced: the sandbox's path by `[SANDBOX]`, loopback ports by `[PORT]`, sha256 digests by
/// `[DIGEST]`; more `(regex, replacement)` filters may follow.
#[macro_export]
macro_rules! assert_run_snapshot {
    ($name:expr, $sb:expr, $run:expr $(, ($from:expr, $to:expr))* $(,)?) => {{
        let mut settings = insta::Settings::clone_current();
        for (from, to) in $crate::support::snapshot_filters(&$sb) {
            settings.add_filter(&from, to);
        }
        $(settings.add_filter($from, $to);)*
        settings.bind(|| insta::assert_snapshot!($name, $run.transcript()));
    }};
}

/// The filters every [`assert_run_snapshot!`] applies.
pub fn snapshot_filters(sb: &Sandbox) -> Vec<(String, &'static str)> {
    let mut filters = Vec::new();
    // The sandbox as given and with symlinks resolved (/tmp may be one).
    let mut paths = vec![sb.path().to_path_buf()];
    if let Ok(real) = sb.path().canonicalize() {
        if real != sb.path() {
            paths.push(real);
        }
    }
    for p in paths {
        filters.push((regex_escape(&p.display().to_string()), "[SANDBOX]"));
    }
    filters.push((r"sha256:[0-9a-f]{64}".to_string(), "sha256:[DIGEST]"));
    filters.push((r"127\.0\.0\.1:\d+".to_string(), "127.0.0.1:[PORT]"));
    filters
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Sandbox {
    /// An empty sandbox.
    pub fn empty() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// A sandbox holding the repository's sample settings (cutover.toml, ecs/taskdef.json) and a
    /// small fixed build context in `sample-app/`.
    pub fn sample() -> Self {
        let sb = Self::empty();
        sb.copy_from_repo("cutover.toml");
        sb.copy_from_repo("ecs/taskdef.json");
        sb.write("sample-app/Dockerfile", "FROM scratch\nCOPY app /app\n");
        sb.write("sample-app/app", "binary\n");
        sb
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Adds (or, given again, overrides) a variable of cutover's environment.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn copy_from_repo(&self, rel: &str) {
        let to = self.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_path(rel), to).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let to = self.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel))
            .unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    /// Edits a file of the sandbox with a string replacement that must apply.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "`{from}` not in {rel}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Names of the files in a directory of the sandbox, sorted, without cutover's marker file.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path().join(rel))
            .unwrap_or_else(|e| panic!("listing {rel}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != cutover::artifacts::write::MARKER)
            .collect();
        names.sort();
        names
    }

    /// `cutover ARGS` in the sandbox, to its end.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.path(), args)
    }

    /// `cutover ARGS` in `cwd`, to its end.
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        to_run(self.command(cwd).args(args).output().unwrap())
    }

    /// `cutover ARGS` in the sandbox, started: stdin closed, stdout and stderr read as they come.
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        let mut cmd = self.command(self.path());
        cmd.args(args);
        Spawned::start(cmd, &format!("cutover {}", args.join(" ")))
    }

    /// The cutover binary with the sandbox's environment and nothing else of the machine's:
    /// PATH, HOME in the sandbox, AWS config and credentials files that do not exist, NO_COLOR.
    pub fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        self.scrub(&mut cmd);
        cmd.current_dir(cwd).env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Clears a command's environment down to PATH, with HOME in the sandbox and AWS config and
    /// credentials files that do not exist.
    pub fn scrub(&self, cmd: &mut Command) {
        let none = self.path().join(".no-aws");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none);
    }

    /// `git ARGS` in the sandbox with a fixed identity and no user config; must succeed. Returns
    /// stdout, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        let r = self.git_run(args);
        assert_eq!(r.code, 0, "git {args:?}: {r:?}");
        r.stdout.trim().to_string()
    }

    /// `git ARGS` in the sandbox, whatever its outcome.
    pub fn git_run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("git");
        self.scrub(&mut cmd);
        let out = cmd
            .current_dir(self.path())
            .args([
                "-c",
                "user.name=cutover-test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git is installed");
        to_run(out)
    }
}

/// Output read from a child as it comes, and whether the pipe has closed.
#[derive(Default)]
struct Stream {
    bytes: Vec<u8>,
    closed: bool,
}

type Shared = Arc<(Mutex<Stream>, Condvar)>;

fn reader(mut pipe: impl std::io::Read + Send + 'static) -> (Shared, JoinHandle<()>) {
    let shared: Shared = Arc::default();
    let s = shared.clone();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let n = pipe.read(&mut buf).unwrap_or(0);
            let (lock, cvar) = &*s;
            let mut st = lock.lock().unwrap();
            if n == 0 {
                st.closed = true;
                cvar.notify_all();
                return;
            }
            st.bytes.extend_from_slice(&buf[..n]);
            cvar.notify_all();
        }
    });
    (shared, handle)
}

/// A started child process. Dropped before [`Spawned::wait`], it is killed.
pub struct Spawned {
    what: String,
    child: Child,
    stdout: (Shared, Option<JoinHandle<()>>),
    stderr: (Shared, Option<JoinHandle<()>>),
}

impl Spawned {
    /// Starts `cmd` with stdin closed and stdout and stderr piped; `what` names it in failures.
    pub fn start(mut cmd: Command, what: &str) -> Spawned {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let (out, out_thread) = reader(child.stdout.take().unwrap());
        let (err, err_thread) = reader(child.stderr.take().unwrap());
        Spawned {
            what: what.to_string(),
            child,
            stdout: (out, Some(out_thread)),
            stderr: (err, Some(err_thread)),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.0 .0.lock().unwrap().bytes).into_owned()
    }

    /// Waits until stderr satisfies `done`; fails the test, with the stderr so far, when the
    /// child closes stderr first or after [`EVENT_WAIT`].
    pub fn wait_for_stderr_with(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + EVENT_WAIT;
        let (lock, cvar) = &*self.stderr.0;
        let mut st = lock.lock().unwrap();
        loop {
            let text = String::from_utf8_lossy(&st.bytes);
            if done(&text) {
                return;
            }
            assert!(
                !st.closed,
                "{} ended its stderr before {what}; stderr:\n{text}",
                self.what
            );
            let now = Instant::now();
            assert!(
                now < deadline,
                "{} did not show {what} within {EVENT_WAIT:?}; stderr:\n{text}",
                self.what
            );
            st = cvar.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Waits until stderr contains `needle` (see [`Spawned::wait_for_stderr_with`]).
    pub fn wait_for_stderr(&self, needle: &str) {
        self.wait_for_stderr_with(&format!("`{needle}`"), |s| s.contains(needle));
    }

    /// Sends `signal` (a name such as `INT`, `TERM` or `KILL`) to the child.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}: {status}", self.what);
    }

    /// Waits for the child to end and for its output; kills it and fails the test, with its
    /// stderr, after `limit`.
    pub fn wait(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still ran after {limit:?}, killed; stderr:\n{}",
                    self.what,
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close when the child and anything that inherited them are gone.
        for handle in [self.stdout.1.take(), self.stderr.1.take()]
            .into_iter()
            .flatten()
        {
            handle.join().unwrap();
        }
        let text = |s: &Shared| String::from_utf8_lossy(&s.0.lock().unwrap().bytes).into_owned();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: text(&self.stdout.0),
            stderr: text(&self.stderr.0),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
