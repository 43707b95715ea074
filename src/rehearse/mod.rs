//! `cutover rehearse`: a shortcut onto the local engine ([`crate::local`]) for two versions given
//! by hand. Blue (`--blue-cmd` or `--blue-image`) becomes the first revision of a throwaway local
//! service, green (`--green-cmd` or `--green-image`) the second: the engine runs CodeDeploy's
//! lifecycle between them with the traffic moved as the deployment configuration says, blue
//! drained and stopped, the probe recording every request from before Install to after blue has
//! stopped; then the service is removed. One engine does every local cutover; this module turns
//! the flags into its options and its outcome into the rehearsal's report.
//!
//! What the rehearsal adds: processes as tasks (a command with `{port}`), the injected outages
//! (`--inject-outage`, done by the engine just before the first shift), the load balancer and the
//! processes tied to this cutover (the kernel stops them if it is SIGKILLed), and the owner label
//! on its containers, so the next rehearsal removes those a SIGKILLed one left ([`backends`]).

pub mod backends;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::lifecycle::traffic as plan;
use crate::lifecycle::DeploymentStatus;
pub use crate::local::Outage;
use crate::local::{self, revision::Revision, LocalError, Note};
use crate::probe::{self, record::format_unix_us, ProbeError, Rate, Record, Summary};
pub use crate::proc::Stopped;
use backends::{Role, Spec};

/// Requests per second of the probe when none is given: dense enough that a 10 ms gap shows.
pub const DEFAULT_RATE: f64 = 200.0;
/// The load balancer's health check here: every 100 ms, up after 2, down after 2.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

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
    #[error("`{command}` failed: {stderr}\nhint: is the Docker engine running, and the image present (`docker image ls`)?")]
    Docker { command: String, stderr: String },
    /// A side did not come up (it exited, or was not healthy in time).
    #[error("{message}")]
    Start { role: Role, message: String },
    #[error("cannot create the results directory `{}`\nhint: pass a writable directory with --results DIR", path.display())]
    ResultsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the probe failed")]
    Probe(#[from] ProbeError),
    #[error("the local engine failed")]
    Engine(#[from] LocalError),
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
        let stamp = crate::probe::record::now_rfc3339()
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

/// The engine's options for a rehearsal: a throwaway service in `state_dir`, the load balancer
/// tied to this process, the probe on the version path.
fn engine_options(
    opts: &Options,
    state_dir: PathBuf,
    docker: &Path,
    haproxy: &Path,
    containers: bool,
) -> local::Options {
    let owner = backends::owner_of(std::process::id());
    local::Options {
        docker: docker.to_path_buf(),
        haproxy: haproxy.to_path_buf(),
        production_port: opts.port,
        plan: opts.plan,
        termination_wait: opts.termination_wait,
        health: local::lb::HealthCheck {
            path: opts.health_path.clone(),
            interval: CHECK_INTERVAL,
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        },
        // The longest drain is the stop timeout, as before SIGTERM.
        deregistration_delay: opts.stop_timeout,
        ready_timeout: opts.start_timeout,
        probe: Some(local::ProbeSpec {
            rate: opts.rate,
            path: opts.version_path.clone(),
            timeout: opts.timeout,
        }),
        probe_before: opts.probe_before,
        probe_after: opts.probe_after,
        probe_results: Some(opts.results_dir.clone()),
        version_path: Some(opts.version_path.clone()),
        labels: owner
            .map(|o| vec![(backends::OWNER_LABEL.to_string(), o)])
            .unwrap_or_default(),
        name_prefix: Some(format!("cutover-rehearse-task-{}", std::process::id())),
        detached: false,
        inject: opts.inject,
        containers,
        ..local::Options::new(state_dir)
    }
}

fn revision(spec: &Spec, stop_timeout: Duration) -> Result<Revision, RehearseError> {
    // ECS counts the stop timeout in whole seconds.
    let secs = stop_timeout.as_secs_f64().ceil().max(1.0) as u64;
    let r = match spec {
        Spec::Command { program, args } => Revision::of_process(program, args, secs),
        Spec::Image {
            image,
            container_port,
        } => Revision::of_image(image, *container_port, secs),
    };
    r.map_err(|e| RehearseError::Start {
        role: Role::Blue,
        message: e.to_string(),
    })
}

/// What the engine's run gave the rehearsal.
struct Ran {
    timeline: Vec<Note>,
    blue: Option<local::DeployOutcome>,
    green: Option<local::Deployed>,
    green_stopped: Option<Stopped>,
    blue_address: Option<String>,
    green_address: Option<String>,
    lb_log: PathBuf,
    production_url: String,
}

/// Runs a rehearsal. `interrupt` (Ctrl-C for the command) stops it early: the deployment rolls
/// back, everything is stopped, and the outcome says so. `progress` sees every event as it
/// happens.
pub async fn rehearse<F>(
    opts: &Options,
    interrupt: F,
    progress: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome, RehearseError>
where
    F: Future<Output = ()>,
{
    let haproxy_bin =
        crate::proc::find_program(&opts.haproxy).ok_or_else(|| RehearseError::HaproxyNotFound {
            name: opts.haproxy.clone(),
        })?;
    let uses_docker = [&opts.blue, &opts.green]
        .iter()
        .any(|s| matches!(s, Spec::Image { .. }));
    let docker_bin = if uses_docker {
        crate::proc::find_program(&opts.docker).ok_or_else(|| RehearseError::DockerNotFound {
            name: opts.docker.clone(),
        })?
    } else {
        opts.docker.clone()
    };
    let blue_rev = revision(&opts.blue, opts.stop_timeout)?;
    let green_rev = revision(&opts.green, opts.stop_timeout)?;
    let files = Files::new(opts)?;
    let start_unix_us = crate::probe::record::now_unix_us();
    let started = std::time::Instant::now();
    let mut early: Vec<Event> = Vec::new();
    let mut note = |what: String| {
        let since = started.elapsed();
        let e = Event {
            at: format_unix_us(start_unix_us + u64::try_from(since.as_micros()).unwrap_or(0)),
            unix_us: start_unix_us + u64::try_from(since.as_micros()).unwrap_or(0),
            probe_offset_ms: None,
            since_start_ms: since.as_secs_f64() * 1000.0,
            what,
        };
        progress(&e);
        early.push(e);
    };
    if uses_docker {
        for name in backends::remove_orphans(&docker_bin).await {
            note(format!(
                "removed {name}, left by a rehearsal whose cutover was killed"
            ));
        }
    }
    let state = tempfile::Builder::new()
        .prefix(".rehearse-state-")
        .tempdir_in(&opts.results_dir)
        .map_err(|source| RehearseError::ResultsDir {
            path: opts.results_dir.clone(),
            source,
        })?;
    let lopts = engine_options(
        opts,
        state.path().to_path_buf(),
        &docker_bin,
        &haproxy_bin,
        uses_docker,
    );
    let offset = started.elapsed().as_secs_f64() * 1000.0;
    let forward = |n: &Note| {
        progress(&Event {
            at: format_unix_us(n.unix_us),
            unix_us: n.unix_us,
            probe_offset_ms: None,
            since_start_ms: offset + n.since_start_ms,
            what: n.what.clone(),
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |rx: tokio::sync::watch::Receiver<bool>| async move {
        let mut rx = rx;
        let _ = rx.wait_for(|v| *v).await;
    };
    let work = async {
        let mut svc = local::Service::open(&lopts, &forward).await?;
        let mut ran = Ran {
            timeline: Vec::new(),
            blue: None,
            green: None,
            green_stopped: None,
            blue_address: None,
            green_address: None,
            lb_log: svc.lb_log(),
            production_url: svc.production_url(),
        };
        let blue = svc.deploy(&blue_rev, None, stopped(stop_rx.clone())).await;
        let blue = match blue {
            Ok(b) => b.outcome,
            Err(e) => {
                ran.timeline = svc.timeline();
                let _ = svc.down().await;
                return Err(RehearseError::Engine(e));
            }
        };
        ran.blue_address = svc.serving_addresses().into_iter().next();
        let blue_ok = blue.deployment.status == DeploymentStatus::Succeeded;
        ran.blue = Some(blue);
        if blue_ok && !*stop_rx.borrow() {
            let green = svc.deploy(&green_rev, None, stopped(stop_rx.clone())).await;
            match green {
                Ok(g) => {
                    if g.outcome.deployment.status == DeploymentStatus::Succeeded {
                        ran.green_address = svc.serving_addresses().into_iter().next();
                        ran.green_stopped = svc
                            .stop_serving(opts.stop_timeout, &green_rev.container)
                            .await
                            .into_iter()
                            .next();
                    }
                    ran.green = Some(g);
                }
                Err(e) => {
                    let _ = svc.down().await;
                    return Err(RehearseError::Engine(e));
                }
            }
        }
        ran.timeline = svc.timeline();
        let _ = std::fs::copy(&ran.lb_log, &files.haproxy_log);
        let _ = svc.down().await;
        Ok::<Ran, RehearseError>(ran)
    };
    tokio::pin!(work);
    tokio::pin!(interrupt);
    let mut interrupted = false;
    let ran = tokio::select! {
        r = &mut work => r,
        _ = &mut interrupt => {
            interrupted = true;
            let _ = stop_tx.send(true);
            work.await
        }
    }?;
    finish(opts, &files, early, ran, interrupted, offset, state.path())
}

/// Copies a task's log (the engine keeps it with its deployment) to the rehearsal's name.
fn copy_task_log(state: &Path, deployment: &local::DeployOutcome, to: &Path) {
    let dir = state.join("deployments").join(&deployment.deployment.id);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("task-") && name.ends_with(".log") {
            let _ = std::fs::copy(e.path(), to);
            return;
        }
    }
}

/// The verdict, the picture and the report file.
#[allow(clippy::too_many_arguments)]
fn finish(
    opts: &Options,
    files: &Files,
    early: Vec<Event>,
    ran: Ran,
    interrupted: bool,
    offset_ms: f64,
    state: &Path,
) -> Result<Outcome, RehearseError> {
    let Ran {
        timeline,
        blue,
        green,
        green_stopped,
        blue_address,
        green_address,
        lb_log: _,
        production_url,
    } = ran;
    let Some(blue) = blue else {
        return Err(RehearseError::Interrupted);
    };
    if blue.deployment.status != DeploymentStatus::Succeeded {
        // Blue never came up: nothing was probed.
        if interrupted || blue.deployment.status == DeploymentStatus::Stopped {
            return Err(RehearseError::Interrupted);
        }
        let message = blue
            .deployment
            .error
            .as_ref()
            .map_or_else(|| "blue did not start".to_string(), |e| e.message.clone());
        return Err(RehearseError::Start {
            role: Role::Blue,
            message,
        });
    }
    copy_task_log(state, &blue, &files.blue_log);
    let Some(green) = green else {
        return Err(RehearseError::Interrupted);
    };
    copy_task_log(state, &green.outcome, &files.green_log);
    let records = green.records;
    let g = &green.outcome;
    let summary = probe::summarize(&records);
    let t0 = records.iter().map(|r| r.start_unix_us).min();
    let mut events = early;
    events.extend(timeline.iter().map(|n| Event {
        at: format_unix_us(n.unix_us),
        unix_us: n.unix_us,
        probe_offset_ms: None,
        since_start_ms: offset_ms + n.since_start_ms,
        what: n.what.clone(),
    }));
    if let Some(t0) = t0 {
        for e in &mut events {
            e.probe_offset_ms = (e.unix_us >= t0).then(|| (e.unix_us - t0) as f64 / 1000.0);
        }
    }
    let stopped_early = g.deployment.status == DeploymentStatus::Stopped || interrupted;
    let error = match (&g.deployment.status, &g.deployment.error) {
        (DeploymentStatus::Failed, Some(e)) => Some(RehearseError::Start {
            role: Role::Green,
            message: e.message.clone(),
        }),
        _ => None,
    };
    let mut problems = verdict(
        &summary,
        &records,
        blue.version.as_deref(),
        g.version.as_deref(),
        stopped_early,
        error.as_ref().map(|e| e.to_string()).as_deref(),
    );
    let marks: Vec<probe::svg::Mark> = events
        .iter()
        .filter_map(|e| {
            mark_label(&e.what).map(|label| probe::svg::Mark {
                unix_us: e.unix_us,
                label,
            })
        })
        .collect();
    let svg = probe::svg::render_marked(&records, &summary, &marks);
    if let Err(e) = std::fs::write(&files.svg, svg) {
        problems.push(format!(
            "cannot write the picture `{}`: {e}",
            files.svg.display()
        ));
    }
    let side = |spec: &Spec,
                address: &Option<String>,
                version: &Option<String>,
                stopped: Option<Stopped>,
                log: &Path| {
        let port = address
            .as_deref()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Side {
            run: spec.describe(port),
            address: address.clone().unwrap_or_default(),
            version: version.clone(),
            stopped,
            log: log.to_path_buf(),
        }
    };
    let (records_file, summary_file) = g
        .probe
        .as_ref()
        .map(|p| (p.records_file.clone(), p.summary_file.clone()))
        .unwrap_or_default();
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
        load_balancer: production_url,
        blue: side(
            &opts.blue,
            &blue_address,
            &blue.version,
            g.original_stopped.clone(),
            &files.blue_log,
        ),
        green: side(
            &opts.green,
            &green_address,
            &g.version,
            green_stopped,
            &files.green_log,
        ),
        events,
        records_file,
        summary_file,
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
    Ok(Outcome {
        report,
        records,
        interrupted: stopped_early,
        error,
    })
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
