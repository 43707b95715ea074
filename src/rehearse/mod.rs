//! `cutover rehearse`: the blue/green cutover on this machine, under the probe.
//!
//! Blue (the current version) and green (the new one) run as local processes or containers
//! ([`backends`]); HAProxy stands in for the load balancer ([`haproxy`]), driven through its
//! runtime API; the traffic moves as a CodeDeploy configuration would move it ([`plan`]); and the
//! probe ([`crate::probe`]) records every request from before green starts until after blue has
//! stopped. The order, as CodeDeploy runs an ECS blue/green deployment:
//!
//! 1. start blue, then HAProxy with blue in service and green in maintenance; wait until HAProxy's
//!    health check sees blue up;
//! 2. start the probe; after `probe_before`, start green and wait for its health path;
//! 3. put green in service at weight 0 and wait until HAProxy's own health check passes;
//! 4. (`--inject-outage`: kill or freeze blue while it still takes every request);
//! 5. shift the traffic step by step (all at once, canary, linear);
//! 6. wait the termination time, drain blue (no new requests, wait for those in flight), take it
//!    out, stop it with SIGTERM (SIGKILL after the stop timeout);
//! 7. probe `probe_after` more, stop the probe; write the records, the summary, the picture and
//!    the rehearsal's report; stop green and HAProxy.
//!
//! Every child is stopped on every path: after an error or an interrupt the same teardown runs,
//! and a child whose handle is dropped is killed.

pub mod backends;
pub mod haproxy;
pub use crate::lifecycle::traffic as plan;
mod process;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::probe::{self, record::format_unix_us, ProbeError, Rate, Record, Summary};
use backends::{Backend, Role, Spec};
use haproxy::{Haproxy, ServerStat};
pub use process::Stopped;

/// Requests per second of the probe when none is given: dense enough that a 10 ms gap shows.
pub const DEFAULT_RATE: f64 = 200.0;
/// How long HAProxy gets to stop.
const HAPROXY_GRACE: Duration = Duration::from_secs(3);

/// An outage injected on purpose, to prove the probe catches one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// SIGKILL blue while it still takes every request, just before the first shift: no drain.
    KillBlue,
    /// Freeze blue (SIGSTOP, or `docker pause`) for this long just before the first shift.
    StallBlue(Duration),
}

impl FromStr for Outage {
    type Err = String;

    /// `kill-blue`, or `stall-blue:MS` (milliseconds; `200` or `200ms`).
    fn from_str(s: &str) -> Result<Outage, String> {
        let s = s.trim();
        if s == "kill-blue" {
            return Ok(Outage::KillBlue);
        }
        let bad = || {
            format!("`{s}` is not an outage: use kill-blue or stall-blue:MS (e.g. stall-blue:200)")
        };
        let ms = s.strip_prefix("stall-blue:").ok_or_else(bad)?;
        let ms = ms.strip_suffix("ms").unwrap_or(ms);
        match ms.trim().parse::<u64>() {
            Ok(ms) if (1..=60_000).contains(&ms) => {
                Ok(Outage::StallBlue(Duration::from_millis(ms)))
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outage::KillBlue => f.write_str("kill-blue"),
            Outage::StallBlue(d) => write!(f, "stall-blue:{}", d.as_millis()),
        }
    }
}

/// Everything a rehearsal needs: resolved and validated settings, not raw flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub blue: Spec,
    pub green: Spec,
    pub plan: plan::Plan,
    /// After the last shift, before blue is drained and stopped (CodeDeploy's
    /// `terminationWaitTimeInMinutes`).
    pub termination_wait: Duration,
    /// Probing before green starts, so the record shows blue alone first.
    pub probe_before: Duration,
    /// Probing after blue has stopped.
    pub probe_after: Duration,
    pub rate: Rate,
    /// Per probe request.
    pub timeout: Duration,
    pub results_dir: PathBuf,
    /// The picture; by default beside the records.
    pub svg: Option<PathBuf>,
    /// `haproxy`, looked up on `PATH`, or a path.
    pub haproxy: PathBuf,
    /// `docker`, for image backends.
    pub docker: PathBuf,
    /// The load balancer's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub health_path: String,
    pub version_path: String,
    /// For a backend to answer its health path, and for HAProxy to see it up.
    pub start_timeout: Duration,
    /// From SIGTERM to SIGKILL (ECS's `stopTimeout`); also the longest drain.
    pub stop_timeout: Duration,
    pub inject: Option<Outage>,
}

/// Why a rehearsal could not run (failed requests are not errors: they are the result).
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("HAProxy is not installed: `{}` is not an executable file on PATH\nhint: install Debian's package (`sudo apt-get install haproxy`) or pass --haproxy PATH", name.display())]
    HaproxyNotFound { name: PathBuf },
    #[error("the Docker CLI `{}` is not on PATH\nhint: install Docker, pass --docker PATH, or run blue and green as processes with --blue-cmd/--green-cmd", name.display())]
    DockerNotFound { name: PathBuf },
    #[error("cannot start {what} (`{}`)\nhint: check the path and that it is executable", program.display())]
    Spawn {
        what: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`kill -{signal} {pid}` failed: the process is gone")]
    Signal { signal: String, pid: u32 },
    #[error("HAProxy exited at start ({status}); its log `{}`:\n{tail}\nhint: a port in use or a bad --health-path show here", log.display())]
    HaproxyExited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{role} exited before it was healthy ({status}); its log `{}`:\n{tail}", log.display())]
    BackendExited {
        role: Role,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{what} was not ready after {waited:?}; log `{}`:\n{tail}\nhint: a slow start needs a longer --start-timeout; check the health path (--health-path)", log.display())]
    NotReady {
        what: String,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot read {role}'s version at `{url}`: {reason}\nhint: the version path (--version-path) must answer 200 with JSON such as {{\"version\":\"1.2.3\"}}")]
    Version {
        role: Role,
        url: String,
        reason: String,
    },
    #[error("HAProxy's runtime API failed on `{command}`")]
    Api {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HAProxy refused `{command}`: {answer}")]
    ApiRefused { command: String, answer: String },
    #[error("`{command}` failed: {stderr}\nhint: is the Docker engine running, and the image present (`docker image ls`)?")]
    Docker { command: String, stderr: String },
    #[error("cannot create the results directory `{}`\nhint: pass a writable directory with --results DIR", path.display())]
    ResultsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} `{}`", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the probe failed")]
    Probe(#[from] ProbeError),
    #[error("interrupted before the probe started: nothing was recorded")]
    Interrupted,
}

impl RehearseError {
    /// A mistake in the options rather than a failure of HAProxy, a backend or the engine.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RehearseError::ResultsDir { .. }
                | RehearseError::Probe(
                    ProbeError::InvalidOption { .. }
                        | ProbeError::InvalidUrl { .. }
                        | ProbeError::ResultsDir { .. }
                )
        )
    }
}

/// Something that happened, for the progress lines and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// RFC 3339 UTC.
    pub at: String,
    pub unix_us: u64,
    /// From the probe's first request, as the summary counts; `None` before it, or without one.
    pub probe_offset_ms: Option<f64>,
    /// From the start of the rehearsal.
    pub since_start_ms: f64,
    pub what: String,
}

/// One backend as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    pub run: String,
    pub address: String,
    pub version: Option<String>,
    /// How it stopped; `None` if it never started.
    pub stopped: Option<Stopped>,
    pub log: PathBuf,
}

/// The rehearsal's result, also its JSON form (written beside the records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// No request failed and the last answers came from green.
    pub passed: bool,
    /// Why it did not pass; empty when it did.
    pub problems: Vec<String>,
    /// CodeDeploy's name for the configuration.
    pub strategy: String,
    pub interval_ms: u64,
    /// `(milliseconds from the first shift, green's percent)`.
    pub steps: Vec<(u64, u8)>,
    pub termination_wait_ms: u64,
    pub outage: Option<String>,
    pub load_balancer: String,
    pub blue: Side,
    pub green: Side,
    pub events: Vec<Event>,
    pub records_file: PathBuf,
    pub summary_file: PathBuf,
    pub svg_file: PathBuf,
    pub report_file: PathBuf,
    pub haproxy_log: PathBuf,
    pub summary: Summary,
}

/// What a rehearsal produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub records: Vec<Record>,
    /// Stopped by the interrupt future (Ctrl-C) rather than at the end of the plan.
    pub interrupted: bool,
    /// Set when the rehearsal stopped on an error after the probe had started (green did not
    /// start, HAProxy refused a command): the record up to the error is kept, and the error
    /// is here.
    pub error: Option<RehearseError>,
}

/// The children and what is known of them; torn down by [`Rig::shutdown`] on every path.
struct Rig {
    blue: Option<Backend>,
    green: Option<Backend>,
    haproxy: Option<Haproxy>,
    blue_version: Option<String>,
    green_version: Option<String>,
    blue_stopped: Option<Stopped>,
    green_stopped: Option<Stopped>,
}

impl Rig {
    /// Stops whatever still runs: green and blue (SIGTERM, bounded), then HAProxy.
    async fn shutdown(&mut self, grace: Duration) {
        if let Some(g) = self.green.as_mut() {
            self.green_stopped = Some(g.stop(grace).await);
        }
        if let Some(b) = self.blue.as_mut() {
            let s = b.stop(grace).await;
            if self.blue_stopped.is_none() {
                self.blue_stopped = Some(s);
            }
        }
        if let Some(h) = self.haproxy.as_mut() {
            let _ = h.stop(HAPROXY_GRACE).await;
        }
        self.green = None;
        self.blue = None;
        self.haproxy = None;
    }
}

/// The progress sink and the events so far.
struct Timeline<'a> {
    start: Instant,
    start_unix_us: u64,
    events: Vec<Event>,
    progress: &'a (dyn Fn(&Event) + Sync),
}

impl Timeline<'_> {
    fn note(&mut self, what: impl Into<String>) {
        let since = self.start.elapsed();
        let unix_us = self
            .start_unix_us
            .saturating_add(u64::try_from(since.as_micros()).unwrap_or(u64::MAX));
        let event = Event {
            at: format_unix_us(unix_us),
            unix_us,
            probe_offset_ms: None,
            since_start_ms: since.as_secs_f64() * 1000.0,
            what: what.into(),
        };
        (self.progress)(&event);
        self.events.push(event);
    }
}

/// A future that can be awaited again after losing a `select!`, and stays done once done.
struct Interrupt<F> {
    fut: Pin<Box<F>>,
    fired: bool,
}

impl<F: Future<Output = ()>> Interrupt<F> {
    async fn wait(&mut self) {
        if !self.fired {
            self.fut.as_mut().await;
            self.fired = true;
        }
    }
}

/// Files of one rehearsal, under the results directory.
struct Files {
    report: PathBuf,
    svg: PathBuf,
    haproxy_log: PathBuf,
    blue_log: PathBuf,
    green_log: PathBuf,
}

impl Files {
    fn new(opts: &Options) -> Result<Files, RehearseError> {
        std::fs::create_dir_all(&opts.results_dir).map_err(|source| RehearseError::ResultsDir {
            path: opts.results_dir.clone(),
            source,
        })?;
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = format_unix_us(u64::try_from(unix.as_micros()).unwrap_or(0))
            .replace(['-', ':'], "")
            .replace('T', "-");
        // Two rehearsals in the same millisecond get different names.
        let mut n = 0u32;
        let base = loop {
            let name = if n == 0 {
                format!("rehearse-{stamp}")
            } else {
                format!("rehearse-{stamp}-{n}")
            };
            let report = opts.results_dir.join(format!("{name}.json"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&report)
            {
                Ok(_) => break name,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(source) => {
                    return Err(RehearseError::ResultsDir {
                        path: opts.results_dir.clone(),
                        source,
                    })
                }
            }
        };
        let file = |suffix: &str| opts.results_dir.join(format!("{base}{suffix}"));
        Ok(Files {
            report: file(".json"),
            svg: opts.svg.clone().unwrap_or_else(|| file(".svg")),
            haproxy_log: file(".haproxy.log"),
            blue_log: file(".blue.log"),
            green_log: file(".green.log"),
        })
    }
}

/// Ports of the rehearsal, all on 127.0.0.1.
struct Ports {
    lb: u16,
    blue: u16,
    green: u16,
}

/// Runs a rehearsal. `interrupt` (Ctrl-C for the command) stops it early: the probe stops, the
/// children are stopped, and the outcome says so. `progress` sees every event as it happens.
pub async fn rehearse<F>(
    opts: &Options,
    interrupt: F,
    progress: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome, RehearseError>
where
    F: Future<Output = ()>,
{
    let haproxy_bin =
        process::find_program(&opts.haproxy).ok_or_else(|| RehearseError::HaproxyNotFound {
            name: opts.haproxy.clone(),
        })?;
    let uses_docker = [&opts.blue, &opts.green]
        .iter()
        .any(|s| matches!(s, Spec::Image { .. }));
    let docker_bin = if uses_docker {
        process::find_program(&opts.docker).ok_or_else(|| RehearseError::DockerNotFound {
            name: opts.docker.clone(),
        })?
    } else {
        opts.docker.clone()
    };
    let files = Files::new(opts)?;
    let tmp = tempfile::Builder::new()
        .prefix("cutover-rehearse-")
        .tempdir()
        .map_err(|source| RehearseError::Io {
            what: "creating a temporary directory".into(),
            path: std::env::temp_dir(),
            source,
        })?;
    let ports = Ports {
        lb: if opts.port == 0 {
            process::free_port()?
        } else {
            opts.port
        },
        blue: process::free_port()?,
        green: process::free_port()?,
    };
    let mut interrupt = Interrupt {
        fut: Box::pin(interrupt),
        fired: false,
    };
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut timeline = Timeline {
        start: Instant::now(),
        start_unix_us: u64::try_from(unix.as_micros()).unwrap_or(0),
        events: Vec::new(),
        progress,
    };
    let mut rig = Rig {
        blue: None,
        green: None,
        haproxy: None,
        blue_version: None,
        green_version: None,
        blue_stopped: None,
        green_stopped: None,
    };

    // 1. Blue and HAProxy, before the probe.
    let setup = tokio::select! {
        r = setup(&mut rig, &mut timeline, opts, &ports, &files, &haproxy_bin, &docker_bin, tmp.path()) => Some(r),
        _ = interrupt.wait() => None,
    };
    match setup {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            rig.shutdown(opts.stop_timeout).await;
            return Err(e);
        }
        None => {
            rig.shutdown(opts.stop_timeout).await;
            return Err(RehearseError::Interrupted);
        }
    }

    // 2-7. The probe runs while the plan is driven.
    let probe_opts = probe::ProbeOptions {
        url: format!("http://127.0.0.1:{}{}", ports.lb, opts.version_path),
        rate: opts.rate,
        concurrency: probe::DEFAULT_CONCURRENCY,
        duration: None,
        until_version: None,
        stable_for: probe::DEFAULT_STABLE_FOR,
        timeout: opts.timeout,
        keep_alive: false,
        results_dir: opts.results_dir.clone(),
        max_failures: 0,
        live_status: false,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let probe_run = probe::run_until(&probe_opts, async {
        let _ = stop_rx.await;
    });
    tokio::pin!(probe_run);
    timeline.note(format!(
        "probe started: {} at {}",
        probe_opts.url, opts.rate
    ));
    let driven = tokio::select! {
        r = drive(&mut rig, &mut timeline, opts, &ports, &files, &docker_bin) => Some(r),
        _ = interrupt.wait() => None,
        // The probe only ends on its own when it cannot run at all.
        p = &mut probe_run => {
            rig.shutdown(opts.stop_timeout).await;
            return Err(match p {
                Err(e) => RehearseError::Probe(e),
                Ok(_) => RehearseError::Probe(ProbeError::RecorderLost),
            });
        }
    };
    let (interrupted, error) = match driven {
        Some(Ok(())) => (false, None),
        Some(Err(e)) => {
            timeline.note(format!("stopped on an error: {e}"));
            (false, Some(e))
        }
        None => {
            timeline.note("interrupted");
            (true, None)
        }
    };
    drop(stop_tx);
    let probed = probe_run.await;
    if error.is_some() || interrupted {
        // Errors and interrupts skip the orderly end; blue gets SIGTERM here.
        timeline.note("stopping blue, green and HAProxy");
    }
    rig.shutdown(opts.stop_timeout).await;
    let probed = probed?;
    Ok(finish(
        opts,
        &ports,
        &files,
        timeline,
        rig,
        probed,
        interrupted,
        error,
    ))
}

/// Blue, then HAProxy with blue up by its health check.
#[allow(clippy::too_many_arguments)]
async fn setup(
    rig: &mut Rig,
    tl: &mut Timeline<'_>,
    opts: &Options,
    ports: &Ports,
    files: &Files,
    haproxy_bin: &Path,
    docker_bin: &Path,
    tmp: &Path,
) -> Result<(), RehearseError> {
    if [&opts.blue, &opts.green]
        .iter()
        .any(|s| matches!(s, Spec::Image { .. }))
    {
        for name in backends::remove_orphans(docker_bin).await {
            tl.note(format!(
                "removed container {name}, left by a rehearsal whose cutover was killed"
            ));
        }
    }
    let blue = rig.blue.insert(
        Backend::start(
            Role::Blue,
            &opts.blue,
            ports.blue,
            &files.blue_log,
            docker_bin,
        )
        .await?,
    );
    tl.note(format!(
        "blue starting on {}: {}",
        blue.addr,
        opts.blue.describe(ports.blue)
    ));
    blue.wait_healthy(&opts.health_path, opts.start_timeout)
        .await?;
    let version = blue.version(&opts.version_path).await?;
    tl.note(format!("blue healthy, version {version}"));
    rig.blue_version = Some(version);
    let config = haproxy::Config {
        listen: ([127, 0, 0, 1], ports.lb).into(),
        socket: tmp.join("admin.sock"),
        health_path: opts.health_path.clone(),
        blue: ([127, 0, 0, 1], ports.blue).into(),
        green: ([127, 0, 0, 1], ports.green).into(),
    };
    let lb = rig.haproxy.insert(
        Haproxy::start(
            haproxy_bin,
            &config,
            tmp,
            &files.haproxy_log,
            opts.start_timeout,
        )
        .await?,
    );
    tl.note(format!(
        "HAProxy listening on http://{}: blue in service, green in maintenance",
        config.listen
    ));
    lb.wait_for(
        "blue",
        "up by health check",
        opts.start_timeout,
        ServerStat::is_up_by_check,
    )
    .await?;
    tl.note("blue up by HAProxy's health check");
    Ok(())
}

/// Green, the shifts, the termination wait, blue's drain and stop, the probe's last stretch.
async fn drive(
    rig: &mut Rig,
    tl: &mut Timeline<'_>,
    opts: &Options,
    ports: &Ports,
    files: &Files,
    docker_bin: &Path,
) -> Result<(), RehearseError> {
    tokio::time::sleep(opts.probe_before).await;
    let Rig {
        blue,
        green,
        haproxy,
        blue_stopped,
        green_version,
        ..
    } = rig;
    let (Some(blue), Some(lb)) = (blue.as_mut(), haproxy.as_mut()) else {
        return Ok(());
    };
    let green = green.insert(
        Backend::start(
            Role::Green,
            &opts.green,
            ports.green,
            &files.green_log,
            docker_bin,
        )
        .await?,
    );
    tl.note(format!(
        "green starting on {}: {}",
        green.addr,
        opts.green.describe(ports.green)
    ));
    green
        .wait_healthy(&opts.health_path, opts.start_timeout)
        .await?;
    let version = green.version(&opts.version_path).await?;
    tl.note(format!("green healthy, version {version}"));
    *green_version = Some(version);
    lb.set(&[
        format!("set weight {}/green 0", haproxy::BACKEND),
        format!("set server {}/green state ready", haproxy::BACKEND),
    ])
    .await?;
    lb.wait_for(
        "green",
        "up by health check",
        opts.start_timeout,
        ServerStat::is_up_by_check,
    )
    .await?;
    tl.note("green up by HAProxy's health check, weight 0");

    match opts.inject {
        Some(Outage::KillBlue) => {
            blue.kill().await?;
            tl.note("outage injected: blue killed with SIGKILL while taking every request");
            // Clients see the outage until the balancer marks blue down, then until the shift.
            let marked = lb
                .wait_for(
                    "blue",
                    "marked down",
                    opts.start_timeout,
                    ServerStat::is_down,
                )
                .await;
            if marked.is_ok() {
                tl.note("blue marked down by HAProxy's health check");
            }
        }
        Some(Outage::StallBlue(d)) => {
            blue.pause().await?;
            tl.note(format!(
                "outage injected: blue frozen for {} ms while taking every request",
                d.as_millis()
            ));
            tokio::time::sleep(d).await;
            blue.resume().await?;
            tl.note("blue resumed");
        }
        None => {}
    }

    let shift_start = tokio::time::Instant::now();
    for step in opts.plan.steps() {
        tokio::time::sleep_until(shift_start + step.at).await;
        lb.set(&haproxy::weights(step.green_percent)).await?;
        tl.note(format!(
            "shift: green {} %, blue {} %",
            step.green_percent,
            100 - step.green_percent
        ));
    }
    if !opts.termination_wait.is_zero() {
        tokio::time::sleep(opts.termination_wait).await;
        tl.note(format!(
            "termination wait of {} ms over",
            opts.termination_wait.as_millis()
        ));
    }
    lb.set(&[format!("set server {}/blue state drain", haproxy::BACKEND)])
        .await?;
    tl.note("blue draining: no new requests");
    match lb
        .wait_for("blue", "drained", opts.stop_timeout, |s| s.sessions == 0)
        .await
    {
        Ok(_) => tl.note("blue drained: no request in flight"),
        Err(_) => tl.note(format!(
            "blue still had requests in flight after {} ms",
            opts.stop_timeout.as_millis()
        )),
    }
    lb.set(&[format!("set server {}/blue state maint", haproxy::BACKEND)])
        .await?;
    tl.note("blue out of the load balancer");
    let stopped = blue.stop(opts.stop_timeout).await;
    tl.note(format!(
        "blue stopped with SIGTERM: {} in {} ms",
        describe_stop(&stopped),
        stopped.took_ms
    ));
    *blue_stopped = Some(stopped);
    tokio::time::sleep(opts.probe_after).await;
    Ok(())
}

fn describe_stop(s: &Stopped) -> String {
    match (s.code, s.forced) {
        (Some(c), false) => format!("exit {c}"),
        (Some(c), true) => format!("exit {c} after SIGKILL"),
        (None, true) => "killed with SIGKILL after the stop timeout".into(),
        (None, false) => "ended by a signal".into(),
    }
}

/// The verdict, the picture and the report file.
#[allow(clippy::too_many_arguments)]
fn finish(
    opts: &Options,
    ports: &Ports,
    files: &Files,
    mut timeline: Timeline<'_>,
    rig: Rig,
    probed: probe::ProbeOutcome,
    interrupted: bool,
    error: Option<RehearseError>,
) -> Outcome {
    let summary = probed.summary;
    let t0 = probed.records.iter().map(|r| r.start_unix_us).min();
    if let Some(t0) = t0 {
        for e in &mut timeline.events {
            e.probe_offset_ms = (e.unix_us >= t0).then(|| (e.unix_us - t0) as f64 / 1000.0);
        }
    }
    let problems = verdict(
        &summary,
        &probed.records,
        rig.blue_version.as_deref(),
        rig.green_version.as_deref(),
        interrupted,
        error.as_ref().map(|e| e.to_string()).as_deref(),
    );
    let marks: Vec<probe::svg::Mark> = timeline
        .events
        .iter()
        .filter_map(|e| {
            mark_label(&e.what).map(|label| probe::svg::Mark {
                unix_us: e.unix_us,
                label,
            })
        })
        .collect();
    let svg = probe::svg::render_marked(&probed.records, &summary, &marks);
    let mut problems = problems;
    if let Err(e) = std::fs::write(&files.svg, svg) {
        problems.push(format!(
            "cannot write the picture `{}`: {e}",
            files.svg.display()
        ));
    }
    let side = |spec: &Spec,
                port: u16,
                version: &Option<String>,
                stopped: &Option<Stopped>,
                log: &Path| Side {
        run: spec.describe(port),
        address: format!("127.0.0.1:{port}"),
        version: version.clone(),
        stopped: stopped.clone(),
        log: log.to_path_buf(),
    };
    let mut report = Report {
        passed: false,
        problems: Vec::new(),
        strategy: opts.plan.strategy.to_string(),
        interval_ms: u64::try_from(opts.plan.interval.as_millis()).unwrap_or(u64::MAX),
        steps: opts
            .plan
            .steps()
            .iter()
            .map(|s| {
                (
                    u64::try_from(s.at.as_millis()).unwrap_or(u64::MAX),
                    s.green_percent,
                )
            })
            .collect(),
        termination_wait_ms: u64::try_from(opts.termination_wait.as_millis()).unwrap_or(u64::MAX),
        outage: opts.inject.map(|o| o.to_string()),
        load_balancer: format!("http://127.0.0.1:{}", ports.lb),
        blue: side(
            &opts.blue,
            ports.blue,
            &rig.blue_version,
            &rig.blue_stopped,
            &files.blue_log,
        ),
        green: side(
            &opts.green,
            ports.green,
            &rig.green_version,
            &rig.green_stopped,
            &files.green_log,
        ),
        events: timeline.events,
        records_file: probed.records_path,
        summary_file: probed.summary_path,
        svg_file: files.svg.clone(),
        report_file: files.report.clone(),
        haproxy_log: files.haproxy_log.clone(),
        summary,
    };
    report.passed = problems.is_empty();
    report.problems = problems;
    let written = serde_json::to_vec_pretty(&report)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&files.report, json));
    if let Err(e) = written {
        report.passed = false;
        report.problems.push(format!(
            "cannot write the report `{}`: {e}",
            files.report.display()
        ));
    }
    Outcome {
        report,
        records: probed.records,
        interrupted,
        error,
    }
}

/// The short label of an event worth a mark in the picture.
fn mark_label(what: &str) -> Option<String> {
    let label = if what.starts_with("green up by") {
        "green in service".to_string()
    } else if let Some(rest) = what.strip_prefix("shift: green ") {
        format!("green {}", rest.split(',').next().unwrap_or(rest).trim())
    } else if what.starts_with("outage injected") {
        "outage injected".to_string()
    } else if what.starts_with("blue draining") {
        "drain blue".to_string()
    } else if what.starts_with("blue stopped") {
        "SIGTERM blue".to_string()
    } else {
        return None;
    };
    Some(label)
}

/// Why the rehearsal did not pass (pure): failed requests, green's version not the last answer,
/// no visible switch, an interrupt or an error.
pub fn verdict(
    summary: &Summary,
    records: &[Record],
    blue_version: Option<&str>,
    green_version: Option<&str>,
    interrupted: bool,
    error: Option<&str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(e) = error {
        problems.push(format!("the rehearsal stopped on an error: {e}"));
    }
    if interrupted {
        problems.push("interrupted before the end of the plan".to_string());
    }
    if summary.total == 0 {
        problems.push("the probe recorded no request".to_string());
    }
    if summary.failed > 0 {
        let window = summary
            .longest_failure
            .as_ref()
            .map(|f| {
                format!(
                    "; the longest failure run: {} requests over {:.3} ms from {} to {}",
                    f.count, f.duration_ms, f.first.at, f.last.at
                )
            })
            .unwrap_or_default();
        problems.push(format!(
            "{} of {} requests failed{window}",
            summary.failed, summary.total
        ));
    }
    let mut order: Vec<&Record> = records.iter().filter(|r| r.kind.is_ok()).collect();
    order.sort_by_key(|r| (r.start_unix_us, r.seq));
    let last = order.last().and_then(|r| r.version.as_deref());
    match (blue_version, green_version) {
        (Some(b), Some(g)) if b == g => problems.push(format!(
            "blue and green both answer version {g}: the switch cannot be seen; build green with another version"
        )),
        (_, Some(g)) if last != Some(g) && !interrupted && error.is_none() => {
            problems.push(format!(
                "the last answer came from version {}, not green's {g}",
                last.unwrap_or("(none)")
            ))
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Kind;

    fn rec(seq: u64, ms: u64, kind: Kind, version: Option<&str>) -> Record {
        Record {
            seq,
            start_unix_us: 1_700_000_000_000_000 + ms * 1000,
            sched_delay_us: Some(10),
            latency_us: 500,
            kind,
            status: kind.is_ok().then_some(200),
            version: version.map(str::to_string),
            detail: None,
            retried: false,
        }
    }

    #[test]
    fn parses_outages() {
        assert_eq!("kill-blue".parse(), Ok(Outage::KillBlue));
        assert_eq!(
            "stall-blue:200".parse(),
            Ok(Outage::StallBlue(Duration::from_millis(200)))
        );
        assert_eq!(
            "stall-blue:50ms".parse(),
            Ok(Outage::StallBlue(Duration::from_millis(50)))
        );
        for bad in ["kill-green", "stall-blue", "stall-blue:0", "stall-blue:x"] {
            assert!(bad.parse::<Outage>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_clean_switch_passes() {
        let records = vec![
            rec(0, 0, Kind::Ok, Some("1")),
            rec(1, 5, Kind::Ok, Some("2")),
            rec(2, 10, Kind::Ok, Some("2")),
        ];
        let s = probe::summarize(&records);
        assert!(verdict(&s, &records, Some("1"), Some("2"), false, None).is_empty());
    }

    #[test]
    fn failures_wrong_versions_and_interrupts_fail() {
        let records = vec![
            rec(0, 0, Kind::Ok, Some("1")),
            rec(1, 5, Kind::ConnectRefused, None),
            rec(2, 10, Kind::Ok, Some("1")),
        ];
        let s = probe::summarize(&records);
        let p = verdict(&s, &records, Some("1"), Some("2"), false, None);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("1 of 3 requests failed; the longest failure run"));
        assert!(p[1].contains("not green's 2"));
        let same = verdict(&s, &records, Some("1"), Some("1"), false, None);
        assert!(same.iter().any(|p| p.contains("cannot be seen")));
        let stopped = verdict(&s, &records, Some("1"), Some("2"), true, None);
        assert!(stopped.iter().any(|p| p.contains("interrupted")));
        let none = probe::summarize(&[]);
        assert!(!verdict(&none, &[], Some("1"), Some("2"), false, None).is_empty());
    }

    #[test]
    fn marks_name_the_steps() {
        assert_eq!(
            mark_label("shift: green 10 %, blue 90 %"),
            Some("green 10 %".into())
        );
        assert_eq!(mark_label("blue healthy, version 1"), None);
    }
}
