//! `cutover local`: the artifact set drives CodeDeploy's ECS blue/green lifecycle on this
//! machine. Real containers ([`task`], on Docker, as Fargate runs them), HAProxy as the load
//! balancer with a production and a test listener and two target groups ([`lb`]), the AppSpec's
//! hooks as local commands ([`hooks`]), CodeDeploy's automatic rollback, and the probe
//! throughout. The service lives between commands ([`state`]): the first deploy creates it, each
//! later one is a blue/green deployment from the revision that serves.
//!
//! The lifecycle's model is [`crate::lifecycle`]; this module is its local executor. The order:
//! BeforeInstall → Install (green tasks started, healthy in the other target group) →
//! AfterInstall → AllowTestTraffic (test listener to green) → AfterAllowTestTraffic →
//! BeforeAllowTraffic → AllowTraffic (production moved per the deployment configuration) →
//! AfterAllowTraffic → TerminateBlue (termination wait, blue drained and stopped). A failed hook,
//! green not healthy in time, an essential container exiting, or an interrupt rolls back:
//! both listeners back on blue, green drained and removed. Blue serves throughout.

pub mod docker;
pub mod hooks;
pub mod http;
pub mod lb;
pub mod pause;
pub mod revision;
pub mod state;
pub mod task;
pub mod taskdef;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{
    self, traffic, DeploymentReport, DeploymentStatus, ErrorInfo, Event, EventRecord, EventStatus,
    Weight,
};
use crate::probe::record::{format_unix_us, now_unix_us as now_us};
use crate::probe::{self, Rate, Summary};
use docker::Docker;
use lb::{Lb, Listener, TargetGroup};
use revision::Revision;
use state::{LbState, RevisionState, ServiceState, StateDir, TaskSetState};
pub use task::{Backend, Stopped};
use task::{Launch, Task, Trouble};

/// How often a running deployment looks at green's containers.
const WATCH: Duration = Duration::from_millis(100);
/// Probing before the first event and after the last, so the record shows both ends.
pub const PROBE_MARGIN: Duration = Duration::from_millis(300);
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

/// Why `cutover local` could not do what it was asked (a failed deployment is not an error: it is
/// the result, with its report).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the Docker CLI `{}` cannot be run\n  hint: install Docker or pass --docker PATH", program.display())]
    DockerMissing {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}\n  hint: is the Docker engine running (`docker info`)?")]
    Docker { command: String, stderr: String },
    #[error("container `{container}` (image `{image}`) did not start: {stderr}\n  hint: is the image in its registry, and the registry reachable (`docker pull {image}`)?")]
    ContainerStart {
        container: String,
        image: String,
        stderr: String,
    },
    #[error("HAProxy `{}` cannot be run\n  hint: install Debian's package (`sudo apt-get install haproxy`) or pass --haproxy PATH", program.display())]
    HaproxyMissing {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}; its log `{}`:\n{tail}", log.display())]
    Haproxy {
        what: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot start `{}`\n  hint: check the path and that it is executable", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container `{container}`: the value of `{name}` has a line break, which Docker's environment files cannot carry\n  hint: encode it (base64, say) and decode it in the container")]
    MultilineEnv { container: String, name: String },
    #[error("container `{container}` depends on `{on}`: {why}")]
    Dependency {
        container: String,
        on: String,
        why: String,
    },
    #[error("the state directory `{}`", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the local service's state `{}` cannot be read: {reason}\n  hint: `cutover local down` removes the service and its state", path.display())]
    BadState { path: PathBuf, reason: String },
    #[error("another `cutover local` command is driving the service in `{}`\n  hint: wait for it to end, or stop it (Ctrl-C)", path.display())]
    Busy { path: PathBuf },
    #[error("{what} `{}`", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the probe could not run")]
    Probe(#[from] probe::ProbeError),
    #[error("interrupted before the deployment started: nothing was changed")]
    Interrupted,
}

impl LocalError {
    /// A mistake of the user's (state, lock) rather than a failure of Docker or HAProxy.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LocalError::BadState { .. }
                | LocalError::Busy { .. }
                | LocalError::Dependency { .. }
                | LocalError::MultilineEnv { .. }
        )
    }
}

/// The probe of a deployment.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub rate: Rate,
    pub path: String,
    pub timeout: Duration,
}

/// Everything a deployment needs: resolved settings, not raw flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub state_dir: PathBuf,
    pub docker: PathBuf,
    pub haproxy: PathBuf,
    /// Fixed at the service's creation; 0 picks a free port.
    pub production_port: u16,
    pub test_port: u16,
    pub desired_count: u32,
    pub plan: traffic::Plan,
    pub termination_wait: Duration,
    pub health: lb::HealthCheck,
    pub deregistration_delay: Duration,
    /// Hook function name (as the AppSpec names it) → local command.
    pub functions: BTreeMap<String, String>,
    /// Secret values by variable name.
    pub secrets: BTreeMap<String, String>,
    pub hook_timeout: Duration,
    /// For green to become healthy in its target group.
    pub ready_timeout: Duration,
    pub probe: Option<ProbeSpec>,
    /// Probing before the first event and after the last.
    pub probe_before: Duration,
    pub probe_after: Duration,
    /// Where the probe's records go (default: the deployment's folder).
    pub probe_results: Option<PathBuf>,
    /// Each task set's version is read here once it is healthy (e.g. `/version`).
    pub version_path: Option<String>,
    /// Labels on every container and the network, besides the service's own.
    pub labels: Vec<(String, String)>,
    /// Container and network names start with this (default `cutover-local-<key>`).
    pub name_prefix: Option<String>,
    /// The load balancer outlives the command (`cutover local`); otherwise it gets SIGTERM when
    /// cutover dies (`cutover rehearse`).
    pub detached: bool,
    /// An outage hit on blue just before the first shift, to prove the probe catches one.
    pub inject: Option<Outage>,
    /// The probe's status line on stderr (the event, green's share, requests, failures): redrawn
    /// on a terminal, a plain line every 10 s otherwise.
    pub live: bool,
    /// The tasks run on Docker (the pause image and the service's network are made); a
    /// rehearsal of processes only needs no Docker at all.
    pub containers: bool,
    /// ECS-native semantics (`[local] mode = "ecs-native"`): the hooks come from these stages
    /// instead of the AppSpec, and the report names the ECS strategy.
    pub native: Option<Native>,
}

/// An ECS-native deployment configuration as the engine runs it: its strategy is `plan`, its
/// bake time `termination_wait` (blue kept, the rollback window), and these hooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Native {
    /// `LINEAR 25% every 1 min, bake 5 min`.
    pub label: String,
    /// The events the native stages fall in, with the function name each runs
    /// (`ecs-native:STAGE`, a key of [`Options::functions`]).
    pub hooks: Vec<(crate::artifacts::appspec::HookEvent, String)>,
}

impl Options {
    /// The defaults of `cutover local deploy`, for `state_dir`.
    pub fn new(state_dir: PathBuf) -> Options {
        Options {
            state_dir,
            docker: PathBuf::from("docker"),
            haproxy: PathBuf::from("haproxy"),
            production_port: 0,
            test_port: 0,
            desired_count: 1,
            plan: traffic::Plan {
                strategy: traffic::Strategy::AllAtOnce,
                interval: Duration::from_secs(60),
            },
            termination_wait: Duration::ZERO,
            health: lb::HealthCheck {
                path: "/healthz".into(),
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(5),
                healthy_threshold: 2,
                unhealthy_threshold: 3,
                matcher: "200".into(),
            },
            deregistration_delay: Duration::from_secs(30),
            functions: BTreeMap::new(),
            secrets: BTreeMap::new(),
            hook_timeout: Duration::from_secs(3600),
            ready_timeout: Duration::from_secs(300),
            probe: None,
            probe_before: PROBE_MARGIN,
            probe_after: PROBE_MARGIN,
            probe_results: None,
            version_path: None,
            native: None,
            labels: Vec::new(),
            name_prefix: None,
            detached: true,
            inject: None,
            live: false,
            containers: true,
        }
    }
}

/// One line of a deployment's progress, with its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub unix_us: u64,
    /// From the start of the command.
    pub since_start_ms: f64,
    pub what: String,
}

/// Where a failed request fell in the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureAt {
    pub event: Option<Event>,
    pub green_percent: u8,
    pub count: u64,
}

/// The probe's part of a deployment's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeReport {
    pub url: String,
    pub summary: Summary,
    /// Every failed request, grouped by the lifecycle event and production weight at its start.
    pub failures: Vec<FailureAt>,
    /// The versions answered, in the order first seen.
    pub versions: Vec<String>,
    pub records_file: PathBuf,
    pub summary_file: PathBuf,
    pub svg_file: PathBuf,
}

/// What `local deploy` did: the lifecycle report and, with `--probe`, the probe's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployOutcome {
    pub deployment: DeploymentReport,
    /// This deployment created the service (no cutover).
    pub created: bool,
    pub revision: u32,
    pub image: Option<String>,
    /// What RegisterTaskDefinition answered, when an endpoint was set.
    pub task_definition_arn: Option<String>,
    pub production_url: String,
    pub test_url: String,
    /// What was done differently from Fargate and CodeDeploy, one line each.
    pub notes: Vec<String>,
    /// The deployment failed because Docker, HAProxy or a registry did (exit 3), not because of
    /// the revision (exit 1).
    pub infrastructure_failure: bool,
    /// The version the new task set answered once healthy (with a version path).
    pub version: Option<String>,
    /// How the original task set's load-balanced container stopped (after a success).
    pub original_stopped: Option<Stopped>,
    /// Every progress line, with its time.
    pub timeline: Vec<Note>,
    pub probe: Option<ProbeReport>,
    pub report_file: PathBuf,
}

/// A deployment's outcome and the probe's records.
#[derive(Debug)]
pub struct Deployed {
    pub outcome: DeployOutcome,
    pub records: Vec<probe::Record>,
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

/// Why a step of the lifecycle failed.
struct StepError {
    code: &'static str,
    message: String,
    stopped: bool,
    /// Docker, HAProxy or a registry failed, not the revision.
    infrastructure: bool,
}

impl StepError {
    fn new(code: &'static str, message: impl Into<String>) -> StepError {
        StepError {
            code,
            message: message.into(),
            stopped: false,
            infrastructure: false,
        }
    }

    fn stop() -> StepError {
        StepError {
            stopped: true,
            ..StepError::new(
                "MANUAL_STOP",
                "interrupted (Ctrl-C or SIGTERM): stopped on request",
            )
        }
    }
}

impl From<LocalError> for StepError {
    fn from(e: LocalError) -> StepError {
        StepError {
            infrastructure: true,
            ..StepError::new("ECS_UPDATE_ERROR", error_chain(&e))
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

/// Polls green's tasks until one is in trouble; pending forever when all is well.
async fn watch(docker: &Docker, tasks: &[Task]) -> Trouble {
    loop {
        tokio::time::sleep(WATCH).await;
        for t in tasks {
            if let Ok(Some(trouble)) = t.trouble(docker).await {
                return trouble;
            }
        }
    }
}

/// Runs `step`, unless an interrupt or trouble in green's tasks comes first.
async fn guard<T, I: Future<Output = ()>>(
    step: impl Future<Output = Result<T, StepError>>,
    interrupt: &mut Interrupt<I>,
    docker: &Docker,
    green: &[Task],
) -> Result<T, StepError> {
    tokio::select! {
        r = step => r,
        _ = interrupt.wait() => Err(StepError::stop()),
        t = watch(docker, green) => Err(StepError::new("ECS_UPDATE_ERROR", format!("a green task stopped: {t}"))),
    }
}

/// The local service, open for commands: its state, its load balancer, and the tasks that serve
/// (started by this process, or known from the state). One command holds it at a time (a lock).
pub struct Service<'a> {
    opts: &'a Options,
    dir: StateDir,
    _lock: state::Lock,
    docker: Docker,
    lb: Lb,
    state: ServiceState,
    serving: Vec<Task>,
    progress: &'a (dyn Fn(&Note) + Sync),
    started: Instant,
    timeline: std::sync::Mutex<Vec<Note>>,
}

/// The parts of one deployment.
struct Run<'r, 'a> {
    svc: &'r mut Service<'a>,
    id: String,
    rev: &'r Revision,
    number: u32,
    events: Vec<EventRecord>,
    traffic: Vec<Weight>,
    /// The role names in messages: a first deploy starts "blue", a cutover "green".
    role: &'static str,
    version: Option<String>,
    original_stopped: Option<Stopped>,
    /// What the probe's status line shows first: the event and green's share.
    label: probe::LiveLabel,
}

impl<'a> Service<'a> {
    /// Opens the service in `opts.state_dir` (takes its lock), or creates its network and load
    /// balancer when there is none.
    pub async fn open(
        opts: &'a Options,
        progress: &'a (dyn Fn(&Note) + Sync),
    ) -> Result<Service<'a>, LocalError> {
        let dir = StateDir::new(opts.state_dir.clone());
        let lock = dir.lock()?;
        let docker_bin = match crate::proc::find_program(&opts.docker) {
            Some(p) => p,
            None if !opts.containers => opts.docker.clone(),
            None => {
                return Err(LocalError::DockerMissing {
                    program: opts.docker.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH"),
                })
            }
        };
        let docker = Docker {
            program: docker_bin,
        };
        let started = Instant::now();
        let (state, lb) = open_service(opts, &dir, &docker).await?;
        let serving = state
            .serving
            .iter()
            .flat_map(|s| s.tasks.iter())
            .map(|t| Task::from_state(t.clone(), dir.path.join(format!("task-{}.log", t.id))))
            .collect();
        let svc = Service {
            opts,
            dir,
            _lock: lock,
            docker,
            lb,
            state,
            serving,
            progress,
            started,
            timeline: std::sync::Mutex::new(Vec::new()),
        };
        svc.say(format!(
            "HAProxy listening on {} (production) and {} (test)",
            svc.production_url(),
            svc.test_url()
        ));
        svc.reconcile().await;
        Ok(svc)
    }

    /// Puts the service back in the shape its state says, after a command that died in the
    /// middle of a deployment (SIGKILL, a crash): both listeners on the serving task set, the
    /// other target group empty, and no container of another revision left.
    async fn reconcile(&self) {
        let Some(serving) = &self.state.serving else {
            return;
        };
        let tg = serving.target_group;
        let off = |l| async move { self.lb.share_to_b(l).await.ok() };
        let want = if tg == TargetGroup::TgB { 100 } else { 0 };
        let (p, t) = (off(Listener::Production).await, off(Listener::Test).await);
        if p != Some(want) || t != Some(want) {
            let _ = self.lb.route(Listener::Production, tg, 100).await;
            let _ = self.lb.route(Listener::Test, tg, 100).await;
            self.say(format!(
                "recovered: both listeners back on revision {} in {} (a deployment was cut short)",
                serving.revision,
                tg.name()
            ));
        }
        let other = tg.other();
        for s in self.lb.servers().await.unwrap_or_default() {
            if s.backend == other.name() && s.status != "MAINT" {
                if let Some(slot) = s.name.strip_prefix('t').and_then(|n| n.parse().ok()) {
                    let _ = self.lb.maint(other, slot).await;
                }
            }
        }
        let all = self
            .docker
            .labelled_containers(&self.state.key)
            .await
            .unwrap_or_default();
        let keep = self
            .docker
            .revision_containers(&self.state.key, serving.revision)
            .await
            .unwrap_or_default();
        let strays: Vec<&str> = all
            .iter()
            .filter(|id| !keep.contains(id))
            .map(String::as_str)
            .collect();
        if !strays.is_empty() {
            self.docker.remove(&strays).await;
            self.say(format!(
                "recovered: removed {} container(s) of a deployment that was cut short",
                strays.len()
            ));
        }
    }

    fn say(&self, line: impl AsRef<str>) {
        let since = self.started.elapsed();
        let note = Note {
            unix_us: now_us(),
            since_start_ms: since.as_secs_f64() * 1000.0,
            what: line.as_ref().to_string(),
        };
        (self.progress)(&note);
        self.timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note);
    }

    pub fn production_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.lb.production_port)
    }

    pub fn test_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.lb.test_port)
    }

    /// The serving tasks' load-balanced addresses.
    pub fn serving_addresses(&self) -> Vec<String> {
        self.serving
            .iter()
            .map(|t| format!("127.0.0.1:{}", t.state.host_port))
            .collect()
    }

    /// The load balancer's log.
    pub fn lb_log(&self) -> PathBuf {
        self.state.lb.log.clone()
    }

    /// Every progress line so far.
    pub fn timeline(&self) -> Vec<Note> {
        self.timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Deploys `rev`: creates the service's first task set, or runs a blue/green deployment from
    /// the one that serves. `interrupt` stops it with a rollback.
    pub async fn deploy<F>(
        &mut self,
        rev: &Revision,
        task_definition_arn: Option<String>,
        interrupt: F,
    ) -> Result<Deployed, LocalError>
    where
        F: Future<Output = ()>,
    {
        let opts = self.opts;
        let mut interrupt = Interrupt {
            fut: Box::pin(interrupt),
            fired: false,
        };
        let started = Instant::now();
        let number = self
            .state
            .revisions
            .iter()
            .map(|r| r.number)
            .max()
            .unwrap_or(0)
            + 1;
        let id = format!("d-LOCAL{:05}", self.state.deployments + 1);
        // The revision, kept as registered.
        let rdir = self.dir.revision_dir(number);
        let ddir = self.dir.deployment_dir(&id);
        for d in [&rdir, &ddir] {
            std::fs::create_dir_all(d).map_err(|source| LocalError::StateDir {
                path: d.clone(),
                source,
            })?;
        }
        let td_path = rdir.join("taskdef.json");
        let as_path = rdir.join(rev.appspec_file);
        let write = |path: &PathBuf, text: &str| {
            std::fs::write(path, text).map_err(|source| LocalError::Io {
                what: "writing the revision".into(),
                path: path.clone(),
                source,
            })
        };
        write(&td_path, &crate::artifacts::taskdef::to_text(&rev.taskdef))?;
        write(&as_path, &rev.appspec_text)?;
        self.state.revisions.push(RevisionState {
            number,
            image: rev.image.clone(),
            taskdef: td_path,
            appspec: as_path,
            task_definition_arn,
        });
        self.state.deployments += 1;
        self.dir.save(&self.state)?;
        let created = self.state.serving.is_none();
        let from = self.state.serving.as_ref().map(|s| s.revision);
        self.say(format!(
            "deployment {id}: revision {number} ({}) {}",
            rev.image.as_deref().unwrap_or("images as in taskdef.json"),
            match from {
                None => "creates the service".to_string(),
                Some(f) => format!("replaces revision {f} ({})", opts.plan.strategy),
            }
        ));
        for n in &rev.spec.notes {
            self.say(format!("note: {n}"));
        }
        let label = probe::LiveLabel::default();
        // Nothing serves before the deployment that creates the service: no probe for it.
        if created && opts.probe.is_some() {
            self.say(
                "no probe for the deployment that creates the service: nothing served before it",
            );
        }
        let probe_opts = opts
            .probe
            .as_ref()
            .filter(|_| !created)
            .map(|p| probe::ProbeOptions {
                url: format!("{}{}", self.production_url(), p.path),
                rate: p.rate,
                concurrency: probe::DEFAULT_CONCURRENCY,
                duration: None,
                until_version: None,
                stable_for: probe::DEFAULT_STABLE_FOR,
                timeout: p.timeout,
                keep_alive: false,
                results_dir: opts.probe_results.clone().unwrap_or_else(|| ddir.clone()),
                max_failures: 0,
                live_status: opts.live,
                live_label: Some(label.clone()),
                gate: None,
                keep_records: true,
            });
        if let Some(po) = &probe_opts {
            self.say(format!("probe started: {} at {}", po.url, po.rate));
        }
        let mut run = Run {
            svc: self,
            id: id.clone(),
            rev,
            number,
            events: lifecycle::plan_events(opts.native.as_ref().map_or(&rev.hooks, |n| &n.hooks)),
            traffic: Vec::new(),
            role: if created { "blue" } else { "green" },
            version: None,
            original_stopped: None,
            label,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let probe_fut = async {
            match &probe_opts {
                Some(po) => Some(
                    probe::run_until(po, async {
                        let _ = stop_rx.await;
                    })
                    .await,
                ),
                None => None,
            }
        };
        let (probed, result) = tokio::join!(probe_fut, async {
            if probe_opts.is_some() {
                tokio::time::sleep(opts.probe_before).await;
            }
            let r = if created {
                run.create(&mut interrupt).await
            } else {
                run.blue_green(&mut interrupt).await
            };
            if probe_opts.is_some() {
                tokio::time::sleep(opts.probe_after).await;
            }
            let _ = stop_tx.send(());
            r
        });
        let (status, error, infrastructure_failure) = result;
        let (probe, records) = match probed {
            Some(Ok(p)) => {
                let report = run.probe_report(&p, &ddir);
                (Some(report), p.records)
            }
            Some(Err(e)) => {
                run.svc.say(format!("the probe failed: {e}"));
                (None, Vec::new())
            }
            None => (None, Vec::new()),
        };
        let now = now_us();
        let report = DeploymentReport {
            id: id.clone(),
            status,
            deployment_config: match (&opts.native, created) {
                (_, true) => "(service created)".into(),
                (Some(n), false) => n.label.clone(),
                (None, false) => opts.plan.strategy.to_string(),
            },
            from_revision: from,
            to_revision: number,
            events: run.events.clone(),
            traffic: run.traffic.clone(),
            rolled_back: error.is_some() && !created,
            error,
            start: format_unix_us(
                now.saturating_sub(u64::try_from(started.elapsed().as_micros()).unwrap_or(0)),
            ),
            end: Some(format_unix_us(now)),
            notes: {
                let mut n = rev.spec.notes.clone();
                if opts.native.is_some() && !rev.hooks.is_empty() {
                    n.push("ECS-native: the AppSpec's Hooks are not run; the hooks of [local.native.hooks] are".into());
                }
                n
            },
        };
        let (version, original_stopped) = (run.version.take(), run.original_stopped.take());
        let svc = run.svc;
        svc.state.last_deployment = Some(report.clone());
        if svc.state.serving.is_some() {
            svc.dir.save(&svc.state)?;
        }
        let timeline = svc
            .timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let outcome = DeployOutcome {
            deployment: report,
            created,
            revision: number,
            image: rev.image.clone(),
            task_definition_arn: svc
                .state
                .revision(number)
                .and_then(|r| r.task_definition_arn.clone()),
            production_url: svc.production_url(),
            test_url: svc.test_url(),
            notes: rev.spec.notes.clone(),
            infrastructure_failure,
            version,
            original_stopped,
            timeline,
            probe,
            report_file: ddir.join("report.json"),
        };
        let _ = std::fs::write(
            &outcome.report_file,
            serde_json::to_vec_pretty(&outcome).unwrap_or_default(),
        );
        Ok(Deployed { outcome, records })
    }

    /// Whether a task set serves.
    pub fn has_serving(&self) -> bool {
        self.state.serving.is_some()
    }

    /// Stops the serving tasks (SIGTERM, their stop timeouts): how each load-balanced container
    /// ended. The service then has no task set.
    pub async fn stop_serving(&mut self, grace: Duration, lb_container: &str) -> Vec<Stopped> {
        let mut out = Vec::new();
        let grace: BTreeMap<String, Duration> = [(lb_container.to_string(), grace)].into();
        for mut t in std::mem::take(&mut self.serving) {
            out.push(t.stop(&self.docker, &grace, lb_container).await);
        }
        self.state.serving = None;
        out
    }

    /// Stops and removes everything of the service (see [`down`]).
    pub async fn down(self) -> Result<Removed, LocalError> {
        let Service {
            dir, docker, state, ..
        } = self;
        Ok(remove_service(&dir, &docker, Some(&state)).await)
    }

    /// Closes the service without a deployment; a service with no serving task set (a first
    /// deploy that failed) is removed.
    pub async fn close(self) {
        if self.state.serving.is_none() {
            let _ = self.down().await;
        }
    }
}

impl Run<'_, '_> {
    fn say(&self, line: impl AsRef<str>) {
        self.svc.say(line);
    }

    fn set_label(&self, e: Event) {
        let pct = self.traffic.last().map_or(0, |w| w.green_percent);
        self.label.set(format!("{e}  green {pct:>3} %"));
    }

    fn begin(&mut self, e: Event) {
        self.set_label(e);
        let now = now_us();
        if let Some(r) = self.events.iter_mut().find(|r| r.name == e) {
            r.status = EventStatus::InProgress;
            r.start_unix_us = Some(now);
            r.start = Some(format_unix_us(now));
        }
        self.say(format!("{e}: in progress"));
    }

    fn end(&mut self, e: Event, status: EventStatus, message: Option<String>) {
        let now = now_us();
        if let Some(r) = self.events.iter_mut().find(|r| r.name == e) {
            r.status = status;
            r.end_unix_us = Some(now);
            r.end = Some(format_unix_us(now));
            if message.is_some() {
                r.message = message.clone();
            }
        }
        let took = self
            .events
            .iter()
            .find(|r| r.name == e)
            .and_then(|r| Some(now.saturating_sub(r.start_unix_us?) as f64 / 1000.0))
            .unwrap_or(0.0);
        self.say(format!(
            "{e}: {status:?} ({took:.0} ms){}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        ));
    }

    fn opts(&self) -> &Options {
        self.svc.opts
    }

    fn grace(&self) -> BTreeMap<String, Duration> {
        self.rev
            .spec
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.stop_timeout))
            .collect()
    }

    fn name_prefix(&self) -> String {
        self.opts()
            .name_prefix
            .clone()
            .unwrap_or_else(|| format!("cutover-local-{}", self.svc.state.key))
    }

    /// Starts the task set of this revision in `tg` and waits until every task is healthy and
    /// in service. The tasks are pushed into `out` as they start, so a failure leaves them for
    /// the caller to remove.
    async fn install(&self, tg: TargetGroup, out: &mut Vec<Task>) -> Result<(), StepError> {
        let opts = self.opts();
        let svc = &*self.svc;
        let deadline = Instant::now() + opts.ready_timeout;
        let prefix = self.name_prefix();
        let ddir = svc.dir.deployment_dir(&self.id);
        for n in 1..=opts.desired_count {
            let task_id = format!("r{}-{n}", self.number);
            let launch = Launch {
                docker: &svc.docker,
                spec: &self.rev.spec,
                service: &svc.state.key,
                network: &svc.state.network,
                revision: self.number,
                task_id: task_id.clone(),
                slot: n,
                lb_port: self.rev.container_port,
                secrets: &opts.secrets,
                timeout: opts.ready_timeout,
                labels: &opts.labels,
                name_prefix: &prefix,
                log: ddir.join(format!("task-{task_id}.log")),
            };
            let started = match &self.rev.backend {
                Backend::Containers => Task::start(&launch).await,
                Backend::Process { program, args } => Task::start_process(&launch, program, args),
            };
            let t = started.map_err(|e| match e {
                LocalError::Dependency { .. } => {
                    StepError::new("HEALTH_CONSTRAINTS", error_chain(&e))
                }
                LocalError::MultilineEnv { .. } => {
                    StepError::new("ECS_UPDATE_ERROR", error_chain(&e))
                }
                e => StepError::from(e),
            })?;
            self.say(format!(
                "{} starting on 127.0.0.1:{}: task {} ({}), {} containers",
                self.role,
                t.state.host_port,
                t.state.id,
                describe(&t),
                t.state.containers.len()
            ));
            out.push(t);
        }
        for t in out.iter() {
            svc.lb.register(tg, t.state.slot, t.state.host_port).await?;
        }
        self.say(format!(
            "{} task(s) registered in {}, waiting for its health check ({} {}, {} × {} ms)",
            out.len(),
            tg.name(),
            opts.health.path,
            opts.health.matcher,
            opts.health.healthy_threshold,
            opts.health.interval.as_millis()
        ));
        loop {
            let mut all = true;
            let mut last = String::new();
            for t in out.iter() {
                if let Some(trouble) = t.trouble(&svc.docker).await? {
                    let tail = crate::proc::log_tail(&t.log, 10);
                    return Err(StepError::new(
                        "HEALTH_CONSTRAINTS",
                        format!(
                            "{} exited before it was healthy: task {}: {trouble}{}",
                            self.role,
                            t.state.id,
                            if tail.is_empty() {
                                String::new()
                            } else {
                                format!("; its log `{}`:\n{tail}", t.log.display())
                            }
                        ),
                    ));
                }
                let stat = svc.lb.up(tg, t.state.slot).await?;
                let up = stat.as_ref().is_some_and(lb::ServerStat::is_up_by_check);
                if !up || !t.healthy() {
                    all = false;
                    last = match stat {
                        Some(s) if !up => format!(
                            "task {} is {} in {} (check {})",
                            t.state.id,
                            s.status,
                            tg.name(),
                            s.check_status
                        ),
                        _ => format!(
                            "task {}: container health check not yet HEALTHY",
                            t.state.id
                        ),
                    };
                }
            }
            if all {
                self.say(format!(
                    "{} up by HAProxy's health check in {}",
                    self.role,
                    tg.name()
                ));
                for t in out.iter_mut() {
                    t.watch_target(&svc.lb, tg);
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StepError::new(
                    "HEALTH_CONSTRAINTS",
                    format!(
                        "{} was not healthy within {} s: {last}; the health check is GET {} expecting {} (the AppSpec sends it to {} port {})",
                        self.role,
                        opts.ready_timeout.as_secs_f64(),
                        opts.health.path,
                        opts.health.matcher,
                        self.rev.container,
                        self.rev.container_port
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The new task set's version, read once it is healthy, when a version path is set.
    async fn read_version(&mut self, tasks: &[Task]) {
        let (Some(path), Some(t)) = (self.opts().version_path.clone(), tasks.first()) else {
            return;
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], t.state.host_port));
        match http::get(addr, &path).await {
            Ok((200, body)) => match http::parse_version(&body) {
                Some(v) => {
                    self.say(format!("{} healthy, version {v}", self.role));
                    self.version = Some(v);
                }
                None => self.say(format!(
                    "{} healthy; no `version` in the answer of {path}",
                    self.role
                )),
            },
            Ok((status, _)) => self.say(format!(
                "{} healthy; {path} answered HTTP {status}",
                self.role
            )),
            Err(e) => self.say(format!("{} healthy; {path}: {e}", self.role)),
        }
    }

    async fn run_hook(&self, e: Event, function: &str) -> Result<String, StepError> {
        let opts = self.opts();
        let command = opts.functions.get(function).cloned().unwrap_or_default();
        let dir = self.svc.dir.deployment_dir(&self.id);
        let call = hooks::HookCall {
            function,
            command: &command,
            deployment_id: &self.id,
            event: e.as_str(),
            execution_id: format!("{}-{}", self.id, e.as_str()),
            test_url: self.svc.test_url(),
            production_url: self.svc.production_url(),
            service: &self.svc.state.key,
            revision: self.number,
            log: dir.join(format!("hook-{}.log", e.as_str())),
            timeout: opts.hook_timeout,
        };
        self.say(format!("{e}: hook `{function}`: {command}"));
        match hooks::run(&call).await {
            hooks::HookResult::Succeeded => Ok(format!("hook `{function}` succeeded")),
            hooks::HookResult::Failed { why } => Err(StepError::new("HOOK_FAILED", why)),
        }
    }

    /// Removes any container of this revision still there: one whose start an interrupt cut
    /// short is not in the task list.
    async fn remove_strays(&self) {
        let ids = self
            .svc
            .docker
            .revision_containers(&self.svc.state.key, self.number)
            .await
            .unwrap_or_default();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.svc.docker.remove(&refs).await;
    }

    /// The rollback: both listeners back on blue, green drained and removed.
    async fn roll_back(&mut self, blue_tg: TargetGroup, green: &mut Vec<Task>) {
        if let Err(e) = self.svc.lb.route(Listener::Production, blue_tg, 100).await {
            self.say(format!("rollback: {e}"));
        }
        if self.traffic.last().is_some_and(|w| w.green_percent > 0) {
            self.traffic.push(Weight {
                unix_us: now_us(),
                green_percent: 0,
            });
        }
        let _ = self.svc.lb.route(Listener::Test, blue_tg, 100).await;
        self.say("rollback: production and test listeners back on blue");
        let green_tg = blue_tg.other();
        let delay = self.opts().deregistration_delay;
        for t in green.iter() {
            let _ = self.svc.lb.deregister(green_tg, t.state.slot, delay).await;
        }
        let grace = self.grace();
        let lbc = self.rev.container.clone();
        for t in green.iter_mut() {
            t.stop(&self.svc.docker, &grace, &lbc).await;
        }
        green.clear();
        self.remove_strays().await;
        self.say("rollback: green stopped and removed");
    }

    /// The first deploy: the revision starts in `tg_a` and serves both listeners; no cutover.
    async fn create<I: Future<Output = ()>>(
        &mut self,
        interrupt: &mut Interrupt<I>,
    ) -> (DeploymentStatus, Option<ErrorInfo>, bool) {
        for r in self.events.iter_mut() {
            r.status = EventStatus::Skipped;
        }
        self.begin(Event::Install);
        let mut tasks = Vec::new();
        let tg = TargetGroup::TgA;
        let r = {
            let (run_ref, tasks_ref) = (&*self, &mut tasks);
            tokio::select! {
                r = run_ref.install(tg, tasks_ref) => r,
                _ = interrupt.wait() => Err(StepError::stop()),
            }
        };
        match r {
            Ok(()) => {
                self.read_version(&tasks).await;
                self.end(
                    Event::Install,
                    EventStatus::Succeeded,
                    Some(format!("service created: revision {} serves", self.number)),
                );
                self.svc.state.serving = Some(TaskSetState {
                    revision: self.number,
                    target_group: tg,
                    tasks: tasks.iter().map(|t| t.state.clone()).collect(),
                });
                self.svc.serving = tasks;
                (DeploymentStatus::Succeeded, None, false)
            }
            Err(e) => {
                self.end(Event::Install, EventStatus::Failed, Some(e.message.clone()));
                for t in tasks.iter_mut() {
                    t.remove(&self.svc.docker).await;
                }
                self.remove_strays().await;
                let status = if e.stopped {
                    DeploymentStatus::Stopped
                } else {
                    DeploymentStatus::Failed
                };
                (
                    status,
                    Some(ErrorInfo {
                        code: e.code.into(),
                        event: Event::Install,
                        message: e.message,
                    }),
                    e.infrastructure,
                )
            }
        }
    }

    /// The injected outage, on blue, just before the first shift.
    async fn inject(&self, outage: Outage, blue_tg: TargetGroup) -> Result<(), StepError> {
        let svc = &*self.svc;
        let lbc = &self.rev.container;
        match outage {
            Outage::KillBlue => {
                for t in &svc.serving {
                    t.kill(&svc.docker, lbc).await?;
                }
                self.say("outage injected: blue killed with SIGKILL while taking every request");
                // Clients see the outage until the balancer marks blue down, then until the shift.
                let deadline = Instant::now() + self.opts().ready_timeout;
                while Instant::now() < deadline {
                    let mut down = true;
                    for t in &svc.serving {
                        let s = svc.lb.up(blue_tg, t.state.slot).await?;
                        down &= s.is_some_and(|s| s.status == "DOWN");
                    }
                    if down {
                        self.say("blue marked down by HAProxy's health check");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Outage::StallBlue(d) => {
                let mut frozen = Ok(());
                let mut n = 0;
                for t in &svc.serving {
                    frozen = t.freeze(&svc.docker, true).await;
                    if frozen.is_err() {
                        break;
                    }
                    n += 1;
                }
                if frozen.is_ok() {
                    self.say(format!(
                        "outage injected: blue frozen for {} ms while taking every request",
                        d.as_millis()
                    ));
                    tokio::time::sleep(d).await;
                }
                // Every task is thawed, whatever happened above.
                let mut thawed = Ok(());
                for t in svc.serving.iter().take(n) {
                    let r = t.freeze(&svc.docker, false).await;
                    if thawed.is_ok() {
                        thawed = r;
                    }
                }
                frozen?;
                thawed?;
                self.say("blue resumed");
            }
        }
        Ok(())
    }

    /// The termination wait's end: blue drained, taken out, stopped.
    async fn terminate_blue(&mut self, blue_tg: TargetGroup, blue_revision: u32) -> String {
        let delay = self.opts().deregistration_delay;
        let lb = &self.svc.lb;
        for t in &self.svc.serving {
            let _ = lb.drain(blue_tg, t.state.slot).await;
        }
        self.say("blue draining: no new requests");
        let slots: Vec<u32> = self.svc.serving.iter().map(|t| t.state.slot).collect();
        match lb.wait_drained(blue_tg, &slots, delay).await {
            Ok(true) => self.say("blue drained: no request in flight"),
            _ => self.say(format!(
                "blue still had requests in flight after {} ms",
                delay.as_millis()
            )),
        }
        for s in &slots {
            let _ = lb.maint(blue_tg, *s).await;
        }
        self.say("blue out of the load balancer");
        let grace = self.svc_blue_grace(blue_revision);
        let lbc = self.rev.container.clone();
        let n = self.svc.serving.len();
        let mut stopped = None;
        for mut t in std::mem::take(&mut self.svc.serving) {
            let s = t.stop(&self.svc.docker, &grace, &lbc).await;
            self.say(format!(
                "blue stopped with SIGTERM: {} in {} ms",
                describe_stop(&s),
                s.took_ms
            ));
            stopped.get_or_insert(s);
        }
        self.original_stopped = stopped;
        format!(
            "termination wait of {} ms over; {n} blue task(s) drained and stopped",
            self.opts().termination_wait.as_millis()
        )
    }

    /// Blue's stop timeouts, from its own revision's task definition.
    fn svc_blue_grace(&self, blue_revision: u32) -> BTreeMap<String, Duration> {
        let doc = self
            .svc
            .state
            .revision(blue_revision)
            .and_then(|r| std::fs::read_to_string(&r.taskdef).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        match doc.and_then(|d| taskdef::TaskSpec::parse(&d).ok()) {
            Some(spec) => spec
                .containers
                .iter()
                .map(|c| (c.name.clone(), c.stop_timeout))
                .collect(),
            None => self.grace(),
        }
    }

    /// A blue/green deployment from the task set that serves.
    async fn blue_green<I: Future<Output = ()>>(
        &mut self,
        interrupt: &mut Interrupt<I>,
    ) -> (DeploymentStatus, Option<ErrorInfo>, bool) {
        let Some(blue) = self.svc.state.serving.clone() else {
            return (DeploymentStatus::Failed, None, false);
        };
        let blue_tg = blue.target_group;
        let green_tg = blue_tg.other();
        let mut green: Vec<Task> = Vec::new();
        let mut failure: Option<(Event, StepError)> = None;
        for e in Event::ALL {
            if failure.is_some() {
                break;
            }
            let hook = self
                .events
                .iter()
                .find(|r| r.name == e)
                .and_then(|r| r.hook.clone());
            if e.hook().is_some() && hook.is_none() {
                // No hook: the event passes at once, as in CodeDeploy.
                self.begin(e);
                self.end(e, EventStatus::Skipped, None);
                continue;
            }
            self.begin(e);
            let result: Result<Option<String>, StepError> = match e {
                Event::Install => {
                    let r = {
                        let (run_ref, green_ref) = (&*self, &mut green);
                        tokio::select! {
                            r = run_ref.install(green_tg, green_ref) => r,
                            _ = interrupt.wait() => Err(StepError::stop()),
                        }
                    };
                    if r.is_ok() {
                        self.read_version(&green).await;
                    }
                    r.map(|()| {
                        Some(format!(
                            "{} green task(s) healthy in {}",
                            green.len(),
                            green_tg.name()
                        ))
                    })
                }
                Event::AllowTestTraffic => {
                    let run_ref = &*self;
                    guard(
                        async {
                            run_ref.svc.lb.route(Listener::Test, green_tg, 100).await?;
                            Ok(Some(format!(
                                "test listener {} → green",
                                run_ref.svc.test_url()
                            )))
                        },
                        interrupt,
                        &self.svc.docker,
                        &green,
                    )
                    .await
                }
                Event::AllowTraffic => {
                    let r = self
                        .allow_traffic(green_tg, blue_tg, interrupt, &green)
                        .await;
                    if r.is_ok() {
                        // Production is on green: the state says so at once, so a cutover that
                        // dies from here on leaves a state naming what serves.
                        self.svc.state.serving = Some(TaskSetState {
                            revision: self.number,
                            target_group: green_tg,
                            tasks: green.iter().map(|t| t.state.clone()).collect(),
                        });
                        if let Err(e) = self.svc.dir.save(&self.svc.state) {
                            self.say(format!("warning: {e}"));
                        }
                    }
                    r
                }
                Event::TerminateBlue => {
                    let wait = self.opts().termination_wait;
                    let waited = guard(
                        async {
                            tokio::time::sleep(wait).await;
                            Ok(())
                        },
                        interrupt,
                        &self.svc.docker,
                        &green,
                    )
                    .await;
                    match waited {
                        Err(err) => Err(err),
                        // From here on the deployment is done: blue goes whatever happens.
                        Ok(()) => Ok(Some(self.terminate_blue(blue_tg, blue.revision).await)),
                    }
                }
                _ => match hook {
                    Some(function) => {
                        let run_ref = &*self;
                        guard(
                            async { run_ref.run_hook(e, &function).await.map(Some) },
                            interrupt,
                            &self.svc.docker,
                            &green,
                        )
                        .await
                    }
                    None => Ok(None),
                },
            };
            // Between events, green must still be whole.
            let result = match result {
                Ok(m) if e < Event::TerminateBlue => {
                    match first_trouble(&self.svc.docker, &green).await {
                        Some(t) => Err(StepError::new(
                            "ECS_UPDATE_ERROR",
                            format!("a green task stopped: {t}"),
                        )),
                        None => Ok(m),
                    }
                }
                r => r,
            };
            match result {
                Ok(m) => self.end(e, EventStatus::Succeeded, m),
                Err(err) => {
                    self.end(e, EventStatus::Failed, Some(err.message.clone()));
                    failure = Some((e, err));
                }
            }
        }
        for r in self.events.iter_mut() {
            if r.status == EventStatus::Pending {
                r.status = EventStatus::Skipped;
            }
        }
        match failure {
            None => {
                self.svc.state.serving = Some(TaskSetState {
                    revision: self.number,
                    target_group: green_tg,
                    tasks: green.iter().map(|t| t.state.clone()).collect(),
                });
                self.svc.serving = green;
                (DeploymentStatus::Succeeded, None, false)
            }
            Some((event, err)) => {
                self.say(format!("deployment failed at {event}: rolling back"));
                self.svc.state.serving = Some(blue.clone());
                let _ = self.svc.dir.save(&self.svc.state);
                self.roll_back(blue_tg, &mut green).await;
                let status = if err.stopped {
                    DeploymentStatus::Stopped
                } else {
                    DeploymentStatus::Failed
                };
                (
                    status,
                    Some(ErrorInfo {
                        code: err.code.into(),
                        event,
                        message: err.message,
                    }),
                    err.infrastructure,
                )
            }
        }
    }

    /// AllowTraffic: the injected outage if any, then production moved step by step, green's
    /// tasks and the interrupt checked between steps.
    async fn allow_traffic<I: Future<Output = ()>>(
        &mut self,
        green_tg: TargetGroup,
        blue_tg: TargetGroup,
        interrupt: &mut Interrupt<I>,
        green: &[Task],
    ) -> Result<Option<String>, StepError> {
        if let Some(outage) = self.opts().inject {
            // Not cut short by an interrupt: a stall ends with blue thawed (at most 60 s), so a
            // rollback never sends production to a frozen blue.
            self.inject(outage, blue_tg).await?;
        }
        let steps = self.opts().plan.steps();
        // Each weight holds for its whole interval: a step is due its interval after the
        // previous shift was done, not after the previous one was due (a shift that took long,
        // as on a loaded machine, would otherwise cut the next weight's time short).
        let mut previous: Option<(tokio::time::Instant, Duration)> = None;
        for step in steps {
            let due = match previous {
                Some((done, at)) => done + step.at.saturating_sub(at),
                None => tokio::time::Instant::now() + step.at,
            };
            let wait = tokio::time::sleep_until(due);
            guard(
                async {
                    wait.await;
                    Ok(())
                },
                interrupt,
                &self.svc.docker,
                green,
            )
            .await?;
            if let Some(t) = first_trouble(&self.svc.docker, green).await {
                return Err(StepError::new(
                    "ECS_UPDATE_ERROR",
                    format!("a green task stopped: {t}"),
                ));
            }
            self.svc
                .lb
                .route(Listener::Production, green_tg, step.green_percent)
                .await?;
            self.traffic.push(Weight {
                unix_us: now_us(),
                green_percent: step.green_percent,
            });
            previous = Some((tokio::time::Instant::now(), step.at));
            self.set_label(Event::AllowTraffic);
            self.say(format!(
                "shift: green {} %, blue {} %",
                step.green_percent,
                100 - step.green_percent
            ));
        }
        Ok(Some("production listener → green".to_string()))
    }

    fn probe_report(&self, p: &probe::ProbeOutcome, dir: &std::path::Path) -> ProbeReport {
        let mut failures: Vec<FailureAt> = Vec::new();
        for r in p.records.iter().filter(|r| !r.kind.is_ok()) {
            let event = lifecycle::event_at(&self.events, r.start_unix_us);
            let green_percent = lifecycle::weight_at(&self.traffic, r.start_unix_us);
            match failures
                .iter_mut()
                .find(|f| f.event == event && f.green_percent == green_percent)
            {
                Some(f) => f.count += 1,
                None => failures.push(FailureAt {
                    event,
                    green_percent,
                    count: 1,
                }),
            }
        }
        let mut order: Vec<&probe::Record> = p.records.iter().collect();
        order.sort_by_key(|r| (r.start_unix_us, r.seq));
        let mut versions: Vec<String> = Vec::new();
        for r in order {
            if let Some(v) = &r.version {
                if !versions.contains(v) {
                    versions.push(v.clone());
                }
            }
        }
        let mut marks: Vec<probe::svg::Mark> = self
            .events
            .iter()
            .filter(|e| e.status != EventStatus::Skipped)
            .filter_map(|e| {
                Some(probe::svg::Mark {
                    unix_us: e.start_unix_us?,
                    label: e.name.to_string(),
                })
            })
            .collect();
        marks.extend(self.traffic.iter().map(|w| probe::svg::Mark {
            unix_us: w.unix_us,
            label: format!("green {} %", w.green_percent),
        }));
        let svg_file = dir.join("probe.svg");
        let _ = std::fs::write(
            &svg_file,
            probe::svg::render_marked(&p.records, &p.summary, &marks),
        );
        ProbeReport {
            url: format!(
                "{}{}",
                self.svc.production_url(),
                self.opts().probe.as_ref().map_or("", |p| p.path.as_str())
            ),
            summary: p.summary.clone(),
            failures,
            versions,
            records_file: p.records_path.clone(),
            summary_file: p.summary_path.clone(),
            svg_file,
        }
    }
}

/// For messages: what a task runs.
fn describe(t: &Task) -> String {
    t.state
        .containers
        .iter()
        .map(|c| format!("{} {}", c.name, c.image))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_stop(s: &Stopped) -> String {
    match (s.code, s.forced) {
        (Some(c), false) => format!("exit {c}"),
        (Some(c), true) => format!("exit {c} after SIGKILL"),
        (None, true) => "killed with SIGKILL after the stop timeout".into(),
        (None, false) => "ended by a signal".into(),
    }
}

/// Runs `cutover local deploy` for a prepared revision: opens (or creates) the service, deploys,
/// closes it. `interrupt` (Ctrl-C) stops the deployment with a rollback; `progress` sees each line.
pub async fn deploy<F>(
    opts: &Options,
    rev: &Revision,
    task_definition_arn: Option<String>,
    interrupt: F,
    progress: &(dyn Fn(&Note) + Sync),
) -> Result<DeployOutcome, LocalError>
where
    F: Future<Output = ()>,
{
    let mut interrupt = Interrupt {
        fut: Box::pin(interrupt),
        fired: false,
    };
    // Opening is not cut short (it may be starting HAProxy); an interrupt during it is seen by
    // the deployment, which then stops at once.
    let mut svc = Service::open(opts, progress).await?;
    let deployed = svc.deploy(rev, task_definition_arn, interrupt.wait()).await;
    svc.close().await;
    deployed.map(|d| d.outcome)
}

/// Loads the service, or creates its network and load balancer; a creation that fails half-way
/// removes what it made.
async fn open_service(
    opts: &Options,
    dir: &StateDir,
    docker: &Docker,
) -> Result<(ServiceState, Lb), LocalError> {
    let existed = dir.load()?.is_some();
    match open_or_create(opts, dir, docker).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if !existed {
                remove_service(dir, docker, None).await;
            }
            Err(e)
        }
    }
}

async fn open_or_create(
    opts: &Options,
    dir: &StateDir,
    docker: &Docker,
) -> Result<(ServiceState, Lb), LocalError> {
    if opts.containers {
        docker.ensure_pause_image().await?;
    }
    if let Some(state) = dir.load()? {
        let lb = Lb {
            socket: state.lb.socket.clone(),
            map: state.lb.map.clone(),
            log: state.lb.log.clone(),
            pid: state.lb.pid,
        };
        if lb.command("show info").await.is_ok() {
            return Ok((state, lb));
        }
        return Err(LocalError::Haproxy {
            what: format!(
                "the local service's load balancer (HAProxy, pid {}) is not running\n  hint: `cutover local down` removes what is left, then deploy again",
                state.lb.pid
            ),
            log: state.lb.log.clone(),
            tail: crate::proc::log_tail(&state.lb.log, 10),
        });
    }
    let haproxy =
        crate::proc::find_program(&opts.haproxy).ok_or_else(|| LocalError::HaproxyMissing {
            program: opts.haproxy.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH"),
        })?;
    let key = dir.key();
    let network = opts
        .name_prefix
        .clone()
        .unwrap_or_else(|| format!("cutover-local-{key}"));
    // A network left by a service whose state was lost is reused.
    if opts.containers && docker.labelled_networks(&key).await?.is_empty() {
        let mut args: Vec<String> = vec![
            "network".into(),
            "create".into(),
            "--label".into(),
            format!("{}={key}", docker::SERVICE_LABEL),
        ];
        for (k, v) in &opts.labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.push(network.clone());
        docker.run_with(&args, &[], None).await?;
    }
    let lb_dir = dir.lb_dir();
    std::fs::create_dir_all(&lb_dir).map_err(|source| LocalError::StateDir {
        path: lb_dir.clone(),
        source,
    })?;
    let free = || {
        crate::proc::free_port().map_err(|source| LocalError::Io {
            what: "finding a free port".into(),
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })
    };
    let production_port = match opts.production_port {
        0 => free()?,
        p => p,
    };
    let test_port = match opts.test_port {
        0 => loop {
            let p = free()?;
            if p != production_port {
                break p;
            }
        },
        p => p,
    };
    // A unix socket's path has at most 107 bytes: a deep checkout gets one in the temp folder.
    let mut socket = lb_dir.join("admin.sock");
    if socket.as_os_str().len() > 100 {
        socket = std::env::temp_dir().join(format!("cutover-local-{key}.sock"));
    }
    let config = lb::Config {
        production_port,
        test_port,
        socket,
        map: lb_dir.join("listeners.map"),
        health: opts.health.clone(),
    };
    let lb = Lb::start(&haproxy, &config, &lb_dir, opts.detached).await?;
    let state = ServiceState {
        key,
        network,
        lb: LbState {
            pid: lb.pid,
            config: lb_dir.join("haproxy.cfg"),
            socket: config.socket.clone(),
            map: config.map.clone(),
            log: lb.log.clone(),
            production_port,
            test_port,
        },
        revisions: Vec::new(),
        serving: None,
        last_deployment: None,
        deployments: 0,
    };
    dir.save(&state)?;
    Ok((state, lb))
}

async fn first_trouble(docker: &Docker, tasks: &[Task]) -> Option<Trouble> {
    for t in tasks {
        if let Ok(Some(trouble)) = t.trouble(docker).await {
            return Some(trouble);
        }
    }
    None
}

/// What `local status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub state_dir: PathBuf,
    pub revision: Option<u32>,
    pub image: Option<String>,
    pub listeners: Listeners,
    pub target_group: Option<TargetGroup>,
    pub containers: Vec<ContainerStatus>,
    pub last_deployment: Option<DeploymentReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    pub production: String,
    pub test: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerStatus {
    pub task: String,
    pub name: String,
    pub id: String,
    pub image: String,
    /// Docker's state: `running`, `exited`, ... or `missing`.
    pub state: String,
}

/// The service's state, with each container's live state; `None` when there is no service.
pub async fn status(
    state_dir: &std::path::Path,
    docker: &std::path::Path,
) -> Result<Option<Status>, LocalError> {
    let dir = StateDir::new(state_dir.to_path_buf());
    let Some(state) = dir.load()? else {
        return Ok(None);
    };
    let docker = Docker {
        program: docker.to_path_buf(),
    };
    let mut containers = Vec::new();
    if let Some(set) = &state.serving {
        for t in &set.tasks {
            let ids: Vec<&str> = t.containers.iter().map(|c| c.id.as_str()).collect();
            let states = docker.states(&ids).await.unwrap_or_default();
            for c in &t.containers {
                containers.push(ContainerStatus {
                    task: t.id.clone(),
                    name: c.name.clone(),
                    id: c.id.chars().take(12).collect(),
                    image: c.image.clone(),
                    state: states
                        .iter()
                        .find(|s| s.id == c.id)
                        .map_or("missing".into(), |s| s.status.clone()),
                });
            }
        }
    }
    let serving = state.serving.as_ref();
    Ok(Some(Status {
        state_dir: state_dir.to_path_buf(),
        revision: serving.map(|s| s.revision),
        image: serving
            .and_then(|s| state.revision(s.revision))
            .and_then(|r| r.image.clone()),
        listeners: Listeners {
            production: format!("http://127.0.0.1:{}", state.lb.production_port),
            test: format!("http://127.0.0.1:{}", state.lb.test_port),
        },
        target_group: serving.map(|s| s.target_group),
        containers,
        last_deployment: state.last_deployment.clone(),
    }))
}

/// The serving task set's logs: of `container` (default every container), task by task.
pub async fn logs(
    state_dir: &std::path::Path,
    docker: &std::path::Path,
    container: Option<&str>,
) -> Result<Option<Vec<(String, String, String)>>, LocalError> {
    let dir = StateDir::new(state_dir.to_path_buf());
    let Some(state) = dir.load()? else {
        return Ok(None);
    };
    let docker = Docker {
        program: docker.to_path_buf(),
    };
    let mut out = Vec::new();
    for t in state.serving.iter().flat_map(|s| s.tasks.iter()) {
        for c in &t.containers {
            if container.map_or(true, |n| n == c.name) {
                out.push((t.id.clone(), c.name.clone(), docker.logs(&c.id, None).await));
            }
        }
    }
    Ok(Some(out))
}

/// What `local down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub haproxy: bool,
    pub had_state: bool,
}

/// Stops and removes everything of the service: its containers and network (by label, so also
/// what a killed command left), its HAProxy, its state.
pub async fn down(
    state_dir: &std::path::Path,
    docker: &std::path::Path,
) -> Result<Removed, LocalError> {
    let dir = StateDir::new(state_dir.to_path_buf());
    if !state_dir.exists() {
        return Ok(Removed::default());
    }
    let _lock = dir.lock()?;
    let docker = Docker {
        program: docker.to_path_buf(),
    };
    let state = dir.load().unwrap_or(None);
    Ok(remove_service(&dir, &docker, state.as_ref()).await)
}

async fn remove_service(dir: &StateDir, docker: &Docker, state: Option<&ServiceState>) -> Removed {
    let mut removed = Removed {
        had_state: state.is_some(),
        ..Removed::default()
    };
    let key = state.map_or_else(|| dir.key(), |s| s.key.clone());
    let ids = docker.labelled_containers(&key).await.unwrap_or_default();
    removed.containers = ids.len();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    docker.remove(&refs).await;
    for n in docker.labelled_networks(&key).await.unwrap_or_default() {
        if docker.run(&["network", "rm", &n]).await.is_ok() {
            removed.networks += 1;
        }
    }
    // By its pid in the state, and by its configuration's path (a state that was lost or
    // cannot be read, a creation cut short).
    if let Some(s) = state {
        removed.haproxy = stop_haproxy(s.lb.pid, &s.lb.config).await;
    }
    let config = dir.lb_dir().join("haproxy.cfg");
    for pid in lb::haproxies_of(&config) {
        removed.haproxy |= stop_haproxy(pid, &config).await;
    }
    let _ = dir.remove_state();
    let _ = std::fs::remove_dir_all(dir.lb_dir());
    removed
}

/// SIGTERM to the service's HAProxy (only if the pid still runs it on `config`), SIGKILL if it
/// lingers.
async fn stop_haproxy(pid: u32, config: &std::path::Path) -> bool {
    if !lb::is_our_haproxy(pid, config) {
        return false;
    }
    let _ = crate::proc::signal(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while lb::is_our_haproxy(pid, config) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if lb::is_our_haproxy(pid, config) {
        let _ = crate::proc::signal(pid, rustix::process::Signal::KILL);
    }
    true
}
