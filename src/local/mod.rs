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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{
    self, traffic, DeploymentReport, DeploymentStatus, ErrorInfo, Event, EventRecord, EventStatus,
    Weight,
};
use crate::probe::{self, record::format_unix_us, Rate, Summary};
use docker::Docker;
use lb::{Lb, Listener, TargetGroup};
use revision::Revision;
use state::{LbState, RevisionState, ServiceState, StateDir, TaskSetState};
use task::{Launch, Task, Trouble};

/// How often a running deployment looks at green's containers.
const WATCH: Duration = Duration::from_millis(100);
/// Probing before the first event and after the last, so the record shows both ends.
const PROBE_MARGIN: Duration = Duration::from_millis(300);

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
            LocalError::BadState { .. } | LocalError::Busy { .. } | LocalError::Dependency { .. }
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
    pub probe: Option<ProbeReport>,
    pub report_file: PathBuf,
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

fn now_us() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_micros()).unwrap_or(0)
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

/// The running parts of one deployment.
struct Run<'a> {
    opts: &'a Options,
    dir: StateDir,
    docker: Docker,
    lb: Lb,
    state: ServiceState,
    id: String,
    rev: &'a Revision,
    number: u32,
    events: Vec<EventRecord>,
    traffic: Vec<Weight>,
    progress: &'a (dyn Fn(&str) + Sync),
    started: Instant,
}

impl Run<'_> {
    fn say(&self, line: impl AsRef<str>) {
        (self.progress)(&format!(
            "local {:>8.3} s  {}",
            self.started.elapsed().as_secs_f64(),
            line.as_ref()
        ));
    }

    fn begin(&mut self, e: Event) {
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

    fn production_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.lb.production_port)
    }

    fn test_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.lb.test_port)
    }

    fn grace(&self) -> BTreeMap<String, Duration> {
        self.rev
            .spec
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.stop_timeout))
            .collect()
    }

    /// Starts the task set of this revision in `tg` and waits until every task is healthy and
    /// in service. The tasks are pushed into `out` as they start, so a failure leaves them for
    /// the caller to remove.
    async fn install(&self, tg: TargetGroup, out: &mut Vec<Task>) -> Result<(), StepError> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        for n in 1..=self.opts.desired_count {
            let launch = Launch {
                docker: &self.docker,
                spec: &self.rev.spec,
                service: &self.state.key,
                network: &self.state.network,
                revision: self.number,
                task_id: format!("r{}-{n}", self.number),
                slot: n,
                lb_port: self.rev.container_port,
                secrets: &self.opts.secrets,
                timeout: self.opts.ready_timeout,
            };
            let t = Task::start(&launch).await.map_err(|e| match e {
                LocalError::Dependency { .. } => {
                    StepError::new("HEALTH_CONSTRAINTS", error_chain(&e))
                }
                e => StepError::from(e),
            })?;
            self.say(format!(
                "Install: task {} started ({} containers), {} port {} on 127.0.0.1:{}",
                t.state.id,
                t.state.containers.len(),
                self.rev.container,
                self.rev.container_port,
                t.state.host_port
            ));
            out.push(t);
        }
        for t in out.iter() {
            self.lb
                .register(tg, t.state.slot, t.state.host_port)
                .await?;
        }
        self.say(format!(
            "Install: {} task(s) registered in {}, waiting for its health check ({} {}, {} × {} ms)",
            out.len(),
            tg.name(),
            self.opts.health.path,
            self.opts.health.matcher,
            self.opts.health.healthy_threshold,
            self.opts.health.interval.as_millis()
        ));
        loop {
            let mut all = true;
            let mut last = String::new();
            for t in out.iter() {
                if let Some(trouble) = t.trouble(&self.docker).await? {
                    return Err(StepError::new(
                        "HEALTH_CONSTRAINTS",
                        format!("task {}: {trouble}", t.state.id),
                    ));
                }
                let stat = self.lb.up(tg, t.state.slot).await?;
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
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StepError::new(
                    "HEALTH_CONSTRAINTS",
                    format!(
                        "green was not healthy within {} s: {last}; the health check is GET {} expecting {} (the AppSpec sends it to {} port {})",
                        self.opts.ready_timeout.as_secs_f64(),
                        self.opts.health.path,
                        self.opts.health.matcher,
                        self.rev.container,
                        self.rev.container_port
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn run_hook(&self, e: Event, function: &str) -> Result<String, StepError> {
        let command = self
            .opts
            .functions
            .get(function)
            .cloned()
            .unwrap_or_default();
        let dir = self.dir.deployment_dir(&self.id);
        let call = hooks::HookCall {
            function,
            command: &command,
            deployment_id: &self.id,
            event: e.as_str(),
            execution_id: format!("{}-{}", self.id, e.as_str()),
            test_url: self.test_url(),
            production_url: self.production_url(),
            service: &self.state.key,
            revision: self.number,
            log: dir.join(format!("hook-{}.log", e.as_str())),
            timeout: self.opts.hook_timeout,
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
            .docker
            .revision_containers(&self.state.key, self.number)
            .await
            .unwrap_or_default();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.docker.remove(&refs).await;
    }

    /// The rollback: both listeners back on blue, green drained and removed.
    async fn roll_back(&mut self, blue_tg: TargetGroup, green: &mut Vec<Task>) {
        if let Err(e) = self.lb.route(Listener::Production, blue_tg, 100).await {
            self.say(format!("rollback: {e}"));
        }
        if self.traffic.last().is_some_and(|w| w.green_percent > 0) {
            self.traffic.push(Weight {
                unix_us: now_us(),
                green_percent: 0,
            });
        }
        let _ = self.lb.route(Listener::Test, blue_tg, 100).await;
        self.say("rollback: production and test listeners back on blue");
        let green_tg = blue_tg.other();
        for t in green.iter() {
            let _ = self
                .lb
                .deregister(green_tg, t.state.slot, self.opts.deregistration_delay)
                .await;
        }
        let grace = self.grace();
        for t in green.iter_mut() {
            task::stop(&self.docker, &t.state, &grace).await;
        }
        green.clear();
        self.remove_strays().await;
        self.say("rollback: green stopped and removed");
    }
}

/// Runs `cutover local deploy` for a prepared revision. `interrupt` (Ctrl-C) stops it with a
/// rollback; `progress` sees each line as it happens.
pub async fn deploy<F>(
    opts: &Options,
    rev: &Revision,
    task_definition_arn: Option<String>,
    interrupt: F,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<DeployOutcome, LocalError>
where
    F: Future<Output = ()>,
{
    let dir = StateDir::new(opts.state_dir.clone());
    let _lock = dir.lock()?;
    let docker_bin =
        docker::find_program(&opts.docker).ok_or_else(|| LocalError::DockerMissing {
            program: opts.docker.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH"),
        })?;
    let docker = Docker {
        program: docker_bin,
    };
    let mut interrupt = Interrupt {
        fut: Box::pin(interrupt),
        fired: false,
    };
    let started = Instant::now();
    let (state, lb) = tokio::select! {
        r = open_service(opts, &dir, &docker) => r?,
        _ = interrupt.wait() => return Err(LocalError::Interrupted),
    };
    let number = state.revisions.iter().map(|r| r.number).max().unwrap_or(0) + 1;
    let id = format!("d-LOCAL{:05}", state.deployments + 1);
    // The revision, kept as registered.
    let rdir = dir.revision_dir(number);
    let ddir = dir.deployment_dir(&id);
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
    let mut state = state;
    state.revisions.push(RevisionState {
        number,
        image: rev.image.clone(),
        taskdef: td_path,
        appspec: as_path,
        task_definition_arn,
    });
    state.deployments += 1;
    dir.save(&state)?;

    let created = state.serving.is_none();
    let mut run = Run {
        opts,
        dir: dir.clone(),
        docker,
        lb,
        state,
        id: id.clone(),
        rev,
        number,
        events: lifecycle::plan_events(&rev.hooks),
        traffic: Vec::new(),
        progress,
        started,
    };
    run.say(format!(
        "deployment {id}: revision {number} ({}) {}",
        rev.image.as_deref().unwrap_or("images as in taskdef.json"),
        if created {
            "creates the service".to_string()
        } else {
            format!(
                "replaces revision {} ({})",
                run.state.serving.as_ref().map_or(0, |s| s.revision),
                opts.plan.strategy
            )
        }
    ));
    for n in &rev.spec.notes {
        run.say(format!("note: {n}"));
    }

    // The probe, from before the first event until after the last.
    let probe_opts = opts.probe.as_ref().map(|p| probe::ProbeOptions {
        url: format!("{}{}", run.production_url(), p.path),
        rate: p.rate,
        concurrency: probe::DEFAULT_CONCURRENCY,
        duration: None,
        until_version: None,
        stable_for: probe::DEFAULT_STABLE_FOR,
        timeout: p.timeout,
        keep_alive: false,
        results_dir: ddir.clone(),
        max_failures: 0,
        live_status: false,
    });
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
        if probe_opts.is_some() && !created {
            tokio::time::sleep(PROBE_MARGIN).await;
        }
        let r = if created {
            create(&mut run, &mut interrupt).await
        } else {
            blue_green(&mut run, &mut interrupt).await
        };
        if probe_opts.is_some() {
            tokio::time::sleep(PROBE_MARGIN).await;
        }
        let _ = stop_tx.send(());
        r
    });
    let status = result;
    let probe = match probed {
        Some(Ok(p)) => Some(probe_report(&run, p, &ddir)),
        Some(Err(e)) => {
            run.say(format!("the probe failed: {e}"));
            None
        }
        None => None,
    };
    let (status, error, infrastructure_failure) = status;
    let now = now_us();
    let report = DeploymentReport {
        id: id.clone(),
        status,
        deployment_config: if created {
            "(service created)".into()
        } else {
            opts.plan.strategy.to_string()
        },
        from_revision: if created {
            None
        } else {
            Some(number.saturating_sub(1))
        },
        to_revision: number,
        events: run.events.clone(),
        traffic: run.traffic.clone(),
        rolled_back: error.is_some() && !created,
        error,
        start: format_unix_us(
            now.saturating_sub(u64::try_from(started.elapsed().as_micros()).unwrap_or(0)),
        ),
        end: Some(format_unix_us(now)),
        notes: rev.spec.notes.clone(),
    };
    run.state.last_deployment = Some(report.clone());
    if run.state.serving.is_none() {
        // A first deploy that failed leaves no service.
        teardown(&run.dir, &run.docker, &run.state).await;
    } else {
        run.dir.save(&run.state)?;
    }
    let outcome = DeployOutcome {
        deployment: report,
        created,
        revision: number,
        image: rev.image.clone(),
        task_definition_arn: run
            .state
            .revision(number)
            .and_then(|r| r.task_definition_arn.clone()),
        production_url: run.production_url(),
        test_url: run.test_url(),
        notes: rev.spec.notes.clone(),
        infrastructure_failure,
        probe,
        report_file: ddir.join("report.json"),
    };
    let _ = std::fs::write(
        &outcome.report_file,
        serde_json::to_vec_pretty(&outcome).unwrap_or_default(),
    );
    Ok(outcome)
}

/// Loads the service, or creates its network and load balancer.
async fn open_service(
    opts: &Options,
    dir: &StateDir,
    docker: &Docker,
) -> Result<(ServiceState, Lb), LocalError> {
    docker.ensure_pause_image().await?;
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
    let network = format!("cutover-local-{key}");
    // A network left by a service whose state was lost is reused.
    if docker.labelled_networks(&key).await?.is_empty() {
        docker
            .run(&[
                "network",
                "create",
                "--label",
                &format!("{}={key}", docker::SERVICE_LABEL),
                &network,
            ])
            .await?;
    }
    let lb_dir = dir.lb_dir();
    std::fs::create_dir_all(&lb_dir).map_err(|source| LocalError::StateDir {
        path: lb_dir.clone(),
        source,
    })?;
    let free = || {
        std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|source| LocalError::Io {
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
    let config = lb::Config {
        production_port,
        test_port,
        socket: lb_dir.join("admin.sock"),
        map: lb_dir.join("listeners.map"),
        health: opts.health.clone(),
    };
    let lb = Lb::start(&haproxy, &config, &lb_dir).await?;
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

/// The first deploy: the revision starts in `tg_a` and serves both listeners; no cutover.
async fn create<I: Future<Output = ()>>(
    run: &mut Run<'_>,
    interrupt: &mut Interrupt<I>,
) -> (DeploymentStatus, Option<ErrorInfo>, bool) {
    for r in run.events.iter_mut() {
        r.status = EventStatus::Skipped;
    }
    run.begin(Event::Install);
    let mut tasks = Vec::new();
    let tg = TargetGroup::TgA;
    let r = {
        let (run_ref, tasks_ref) = (&*run, &mut tasks);
        tokio::select! {
            r = run_ref.install(tg, tasks_ref) => r,
            _ = interrupt.wait() => Err(StepError::stop()),
        }
    };
    match r {
        Ok(()) => {
            run.end(
                Event::Install,
                EventStatus::Succeeded,
                Some(format!("service created: revision {} serves", run.number)),
            );
            run.state.serving = Some(TaskSetState {
                revision: run.number,
                target_group: tg,
                tasks: tasks.iter().map(|t| t.state.clone()).collect(),
            });
            (DeploymentStatus::Succeeded, None, false)
        }
        Err(e) => {
            run.end(Event::Install, EventStatus::Failed, Some(e.message.clone()));
            for t in tasks.iter_mut() {
                t.remove(&run.docker).await;
            }
            run.remove_strays().await;
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

/// A blue/green deployment from the task set that serves.
async fn blue_green<I: Future<Output = ()>>(
    run: &mut Run<'_>,
    interrupt: &mut Interrupt<I>,
) -> (DeploymentStatus, Option<ErrorInfo>, bool) {
    let Some(blue) = run.state.serving.clone() else {
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
        let hook = run
            .events
            .iter()
            .find(|r| r.name == e)
            .and_then(|r| r.hook.clone());
        if e.hook().is_some() && hook.is_none() {
            // No hook: the event passes at once, as in CodeDeploy.
            run.begin(e);
            run.end(e, EventStatus::Skipped, None);
            continue;
        }
        run.begin(e);
        let result: Result<Option<String>, StepError> = match e {
            Event::Install => {
                let r = {
                    let (run_ref, green_ref) = (&*run, &mut green);
                    tokio::select! {
                        r = run_ref.install(green_tg, green_ref) => r,
                        _ = interrupt.wait() => Err(StepError::stop()),
                    }
                };
                r.map(|()| {
                    Some(format!(
                        "{} green task(s) healthy in {}",
                        green.len(),
                        green_tg.name()
                    ))
                })
            }
            Event::AllowTestTraffic => {
                let run_ref = &*run;
                guard(
                    async {
                        run_ref.lb.route(Listener::Test, green_tg, 100).await?;
                        Ok(Some(format!(
                            "test listener {} → green",
                            run_ref.test_url()
                        )))
                    },
                    interrupt,
                    &run.docker,
                    &green,
                )
                .await
            }
            Event::AllowTraffic => {
                // The shift records its weights as it goes, so it runs on the Run itself; the
                // watch and the interrupt are checked between steps.
                let mut r = Ok(());
                let steps = run.opts.plan.steps();
                let start = tokio::time::Instant::now();
                for step in steps {
                    let wait = tokio::time::sleep_until(start + step.at);
                    if let Err(err) = guard(
                        async {
                            wait.await;
                            Ok(())
                        },
                        interrupt,
                        &run.docker,
                        &green,
                    )
                    .await
                    {
                        r = Err(err);
                        break;
                    }
                    if let Some(t) = first_trouble(&run.docker, &green).await {
                        r = Err(StepError::new(
                            "ECS_UPDATE_ERROR",
                            format!("a green task stopped: {t}"),
                        ));
                        break;
                    }
                    if let Err(err) = run
                        .lb
                        .route(Listener::Production, green_tg, step.green_percent)
                        .await
                    {
                        r = Err(err.into());
                        break;
                    }
                    run.traffic.push(Weight {
                        unix_us: now_us(),
                        green_percent: step.green_percent,
                    });
                    run.say(format!(
                        "AllowTraffic: production {} % green, {} % blue",
                        step.green_percent,
                        100 - step.green_percent
                    ));
                }
                r.map(|()| Some("production listener → green".to_string()))
            }
            Event::TerminateBlue => {
                let wait = run.opts.termination_wait;
                let waited = guard(
                    async {
                        tokio::time::sleep(wait).await;
                        Ok(())
                    },
                    interrupt,
                    &run.docker,
                    &green,
                )
                .await;
                match waited {
                    Err(err) => Err(err),
                    Ok(()) => {
                        // From here on the deployment is done: blue goes whatever happens.
                        for t in &blue.tasks {
                            let _ = run
                                .lb
                                .deregister(blue_tg, t.slot, run.opts.deregistration_delay)
                                .await;
                        }
                        let grace = run.grace_of_blue();
                        for t in &blue.tasks {
                            task::stop(&run.docker, t, &grace).await;
                        }
                        Ok(Some(format!(
                            "termination wait of {} ms over; {} blue task(s) drained and stopped",
                            wait.as_millis(),
                            blue.tasks.len()
                        )))
                    }
                }
            }
            _ => match hook {
                Some(function) => {
                    let run_ref = &*run;
                    guard(
                        async { run_ref.run_hook(e, &function).await.map(Some) },
                        interrupt,
                        &run.docker,
                        &green,
                    )
                    .await
                }
                None => Ok(None),
            },
        };
        // Between events, green must still be whole.
        let result = match result {
            Ok(m) if e < Event::TerminateBlue => match first_trouble(&run.docker, &green).await {
                Some(t) => Err(StepError::new(
                    "ECS_UPDATE_ERROR",
                    format!("a green task stopped: {t}"),
                )),
                None => Ok(m),
            },
            r => r,
        };
        match result {
            Ok(m) => run.end(e, EventStatus::Succeeded, m),
            Err(err) => {
                run.end(e, EventStatus::Failed, Some(err.message.clone()));
                failure = Some((e, err));
            }
        }
    }
    for r in run.events.iter_mut() {
        if r.status == EventStatus::Pending {
            r.status = EventStatus::Skipped;
        }
    }
    match failure {
        None => {
            run.state.serving = Some(TaskSetState {
                revision: run.number,
                target_group: green_tg,
                tasks: green.iter().map(|t| t.state.clone()).collect(),
            });
            (DeploymentStatus::Succeeded, None, false)
        }
        Some((event, err)) => {
            run.say(format!("deployment failed at {event}: rolling back"));
            run.roll_back(blue_tg, &mut green).await;
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

async fn first_trouble(docker: &Docker, tasks: &[Task]) -> Option<Trouble> {
    for t in tasks {
        if let Ok(Some(trouble)) = t.trouble(docker).await {
            return Some(trouble);
        }
    }
    None
}

impl Run<'_> {
    /// Blue's stop timeouts, from its own revision's task definition.
    fn grace_of_blue(&self) -> BTreeMap<String, Duration> {
        let blue = self.state.serving.as_ref().map(|s| s.revision);
        let doc = blue
            .and_then(|n| self.state.revision(n))
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
}

fn probe_report(run: &Run<'_>, p: probe::ProbeOutcome, dir: &std::path::Path) -> ProbeReport {
    let mut failures: Vec<FailureAt> = Vec::new();
    for r in p.records.iter().filter(|r| !r.kind.is_ok()) {
        let event = lifecycle::event_at(&run.events, r.start_unix_us);
        let green_percent = lifecycle::weight_at(&run.traffic, r.start_unix_us);
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
    let mut marks: Vec<probe::svg::Mark> = run
        .events
        .iter()
        .filter(|e| e.status != EventStatus::Skipped || e.start_unix_us.is_some())
        .filter_map(|e| {
            Some(probe::svg::Mark {
                unix_us: e.start_unix_us?,
                label: e.name.to_string(),
            })
        })
        .collect();
    marks.extend(run.traffic.iter().map(|w| probe::svg::Mark {
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
            run.production_url(),
            run.opts.probe.as_ref().map_or("", |p| p.path.as_str())
        ),
        summary: p.summary,
        failures,
        versions,
        records_file: p.records_path,
        summary_file: p.summary_path,
        svg_file,
    }
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
    let mut removed = Removed {
        had_state: state.is_some(),
        ..Removed::default()
    };
    let key = state.as_ref().map_or_else(|| dir.key(), |s| s.key.clone());
    let ids = docker.labelled_containers(&key).await?;
    removed.containers = ids.len();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    docker.remove(&refs).await;
    for n in docker.labelled_networks(&key).await? {
        if docker.run(&["network", "rm", &n]).await.is_ok() {
            removed.networks += 1;
        }
    }
    if let Some(s) = &state {
        removed.haproxy = stop_haproxy(s).await;
    }
    dir.remove_state()?;
    let _ = std::fs::remove_dir_all(dir.lb_dir());
    Ok(removed)
}

async fn teardown(dir: &StateDir, docker: &Docker, state: &ServiceState) {
    let ids = docker
        .labelled_containers(&state.key)
        .await
        .unwrap_or_default();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    docker.remove(&refs).await;
    for n in docker
        .labelled_networks(&state.key)
        .await
        .unwrap_or_default()
    {
        let _ = docker.run(&["network", "rm", &n]).await;
    }
    stop_haproxy(state).await;
    let _ = dir.remove_state();
    let _ = std::fs::remove_dir_all(dir.lb_dir());
}

/// SIGTERM to the service's HAProxy (only if the pid is still ours), SIGKILL if it lingers.
async fn stop_haproxy(state: &ServiceState) -> bool {
    let pid = state.lb.pid;
    if !lb::is_our_haproxy(pid, &state.lb.config) {
        return false;
    }
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while lb::is_our_haproxy(pid, &state.lb.config) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if lb::is_our_haproxy(pid, &state.lb.config) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
    true
}
