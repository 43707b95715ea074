//! One task run as Fargate runs it, on Docker: a pause container holds the task's network
//! namespace (awsvpc: every container shares `localhost`) and publishes its ports on
//! 127.0.0.1; the containers start in `dependsOn` order, each when its conditions hold; the
//! container health checks run inside the containers (`docker exec`) with ECS's interval,
//! timeout, retries and start period; an essential container that exits stops the task; a stop
//! is SIGTERM, then SIGKILL after the container's `stopTimeout`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::docker::{self, Docker};
use super::state::{ContainerState, TaskState};
use super::taskdef::{Condition, ContainerSpec, EnvValue, HealthCheck, TaskSpec};
use super::LocalError;

const POLL: Duration = Duration::from_millis(50);

/// A container health check's status, as ECS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

/// A task being started or running, with its health checkers; or a local process standing in
/// for a task (`cutover rehearse --blue-cmd`).
pub struct Task {
    pub state: TaskState,
    health: BTreeMap<String, Arc<Mutex<Health>>>,
    checkers: Vec<tokio::task::JoinHandle<()>>,
    process: Option<Mutex<tokio::process::Child>>,
    /// Where the containers' output is saved when the task stops.
    pub log: std::path::PathBuf,
    /// Once in service: its target group, whose health check must keep passing.
    target: Option<(super::lb::Lb, super::lb::TargetGroup)>,
    /// How the exit of an essential container is noticed (see [`ExitWatch`]).
    exits: Mutex<ExitWatch>,
}

/// How [`Task::trouble`] notices that an essential container exited. A `docker inspect` at
/// every check (every 100 ms through a deployment) is a process each, about 25 ms of CPU; so one
/// `docker wait` per essential container is started at the first check and looked at in memory
/// after that, and `docker inspect` runs only once a wait has ended, to tell how the container
/// ended (or that it had not: the waits start again). Where the waits could not be started,
/// every check inspects.
#[derive(Debug)]
enum ExitWatch {
    NotStarted,
    Waiting(Vec<tokio::process::Child>),
    Inspect,
}

impl Drop for Task {
    fn drop(&mut self) {
        for c in &self.checkers {
            c.abort();
        }
    }
}

/// What a task needs to start.
pub struct Launch<'a> {
    pub docker: &'a Docker,
    pub spec: &'a TaskSpec,
    pub service: &'a str,
    pub network: &'a str,
    pub revision: u32,
    /// Task number within the service, for names.
    pub task_id: String,
    pub slot: u32,
    /// The load-balanced container port (the AppSpec's `ContainerPort`).
    pub lb_port: u16,
    /// Secret values by variable name.
    pub secrets: &'a BTreeMap<String, String>,
    /// How long a dependency condition may take.
    pub timeout: Duration,
    /// Labels added to every container.
    pub labels: &'a [(String, String)],
    /// Container names start with this.
    pub name_prefix: &'a str,
    /// The task's output is saved here when it stops.
    pub log: std::path::PathBuf,
}

/// How the revision's tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The task definition's containers on Docker.
    Containers,
    /// A local program, given a free port through `{port}` in its arguments and `PORT`.
    Process {
        program: std::path::PathBuf,
        args: Vec<String>,
    },
}

/// The placeholder in a process backend's arguments replaced by its port.
pub const PORT_PLACEHOLDER: &str = "{port}";

/// Why a task is not healthy, or stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// An essential container exited.
    EssentialExited { container: String, code: i32 },
    /// The target group's health check marked the task down.
    TargetDown { group: String, check: String },
    /// A container health check failed `retries` times.
    Unhealthy { container: String },
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::EssentialExited { container, code } => {
                write!(
                    f,
                    "essential container `{container}` exited with code {code}"
                )
            }
            Trouble::TargetDown { group, check } => {
                write!(
                    f,
                    "its target in {group} is DOWN by the health check (last check {check})"
                )
            }
            Trouble::Unhealthy { container } => {
                write!(
                    f,
                    "container `{container}` is UNHEALTHY by its health check"
                )
            }
        }
    }
}

impl Task {
    /// A task known only from the state (started by an earlier command): no health checks run.
    pub fn from_state(state: TaskState, log: std::path::PathBuf) -> Task {
        Task {
            state,
            health: BTreeMap::new(),
            checkers: Vec::new(),
            process: None,
            log,
            target: None,
            exits: Mutex::new(ExitWatch::NotStarted),
        }
    }

    /// Starts a local program as a task: one essential "container" on a free port.
    pub fn start_process(
        l: &Launch<'_>,
        program: &std::path::Path,
        args: &[String],
    ) -> Result<Task, LocalError> {
        let io = |what: &str, source| LocalError::Io {
            what: what.into(),
            path: program.to_path_buf(),
            source,
        };
        let port = crate::proc::free_port().map_err(|e| io("finding a free port for", e))?;
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace(PORT_PLACEHOLDER, &port.to_string()))
            .collect();
        let child = crate::proc::spawn(program, &args, &[("PORT", port.to_string())], &l.log)
            .map_err(|source| LocalError::Spawn {
                program: program.to_path_buf(),
                source,
            })?;
        let mut describe = program.display().to_string();
        for a in &args {
            describe.push(' ');
            describe.push_str(a);
        }
        Ok(Task {
            state: TaskState {
                id: l.task_id.clone(),
                pause: String::new(),
                host_port: port,
                slot: l.slot,
                containers: vec![ContainerState {
                    name: "app".into(),
                    id: format!("pid:{}", child.id().unwrap_or(0)),
                    image: describe,
                    essential: true,
                }],
            },
            health: BTreeMap::new(),
            checkers: Vec::new(),
            process: Some(Mutex::new(child)),
            log: l.log.clone(),
            target: None,
            exits: Mutex::new(ExitWatch::NotStarted),
        })
    }

    /// Starts the task's containers in order. On an error, what was started is removed.
    pub async fn start(l: &Launch<'_>) -> Result<Task, LocalError> {
        let mut task = Task {
            state: TaskState {
                id: l.task_id.clone(),
                pause: String::new(),
                host_port: 0,
                slot: l.slot,
                containers: Vec::new(),
            },
            health: BTreeMap::new(),
            checkers: Vec::new(),
            process: None,
            log: l.log.clone(),
            target: None,
            exits: Mutex::new(ExitWatch::NotStarted),
        };
        match task.start_inner(l).await {
            Ok(()) => Ok(task),
            Err(e) => {
                task.remove(l.docker).await;
                Err(e)
            }
        }
    }

    fn labels(l: &Launch<'_>, container: &str) -> Vec<String> {
        [
            format!("{}={}", docker::SERVICE_LABEL, l.service),
            format!("{}={}", docker::REVISION_LABEL, l.revision),
            format!("{}={}", docker::TASK_LABEL, l.task_id),
            format!("{}={container}", docker::CONTAINER_LABEL),
        ]
        .into_iter()
        .chain(l.labels.iter().map(|(k, v)| format!("{k}={v}")))
        .flat_map(|v| ["--label".to_string(), v])
        .collect()
    }

    async fn start_inner(&mut self, l: &Launch<'_>) -> Result<(), LocalError> {
        let base = format!("{}-{}", l.name_prefix, l.task_id);
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--name".into(),
            format!("{base}-pause"),
            "--network".into(),
            l.network.to_string(),
        ];
        args.extend(Self::labels(l, "pause"));
        for p in &l.spec.ports {
            args.extend(["--publish".into(), format!("127.0.0.1::{p}")]);
        }
        args.push(super::pause::IMAGE.into());
        let id = l.docker.run_with(&args, &[], None).await?;
        self.state.pause = id.trim().to_string();
        self.state.host_port = l
            .docker
            .published_port(&self.state.pause, l.lb_port)
            .await?;
        for c in &l.spec.containers {
            self.wait_dependencies(l, c).await?;
            self.start_container(l, c, &base).await?;
        }
        Ok(())
    }

    async fn start_container(
        &mut self,
        l: &Launch<'_>,
        c: &ContainerSpec,
        base: &str,
    ) -> Result<(), LocalError> {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--name".into(),
            format!("{base}-{}", c.name),
            "--network".into(),
            format!("container:{}", self.state.pause),
        ];
        args.extend(Self::labels(l, &c.name));
        // The values travel in an env file readable by this user only, removed once the
        // container is created: never on a command line, and not in the Docker CLI's own
        // environment, where a variable such as DOCKER_HOST or HOME would steer the CLI itself.
        let env_dir = tempfile::Builder::new()
            .prefix("cutover-env-")
            .tempdir()
            .map_err(|source| LocalError::Io {
                what: "creating a private folder for the container's environment".into(),
                path: std::env::temp_dir(),
                source,
            })?;
        if !c.env.is_empty() {
            let mut text = String::new();
            for (k, v) in &c.env {
                let value = match v {
                    EnvValue::Plain(s) => s.clone(),
                    EnvValue::Secret { .. } => l.secrets.get(k).cloned().unwrap_or_default(),
                };
                if value.contains('\n') || value.contains('\r') {
                    return Err(LocalError::MultilineEnv {
                        container: c.name.clone(),
                        name: k.clone(),
                    });
                }
                text.push_str(&format!("{k}={value}\n"));
            }
            let file = env_dir.path().join("env");
            std::fs::write(&file, text).map_err(|source| LocalError::Io {
                what: "writing the container's environment".into(),
                path: file.clone(),
                source,
            })?;
            args.extend(["--env-file".into(), file.display().to_string()]);
        }
        args.extend(c.options.iter().cloned());
        args.push(c.image.clone());
        args.extend(c.args.iter().cloned());
        let id = l
            .docker
            .run_with(&args, &[], None)
            .await
            .map_err(|e| match e {
                LocalError::Docker { stderr, .. } => LocalError::ContainerStart {
                    container: c.name.clone(),
                    image: c.image.clone(),
                    stderr,
                },
                e => e,
            })?;
        let id = id.trim().to_string();
        if let Some(h) = &c.health {
            let status = Arc::new(Mutex::new(Health::Unknown));
            self.health.insert(c.name.clone(), status.clone());
            self.checkers.push(tokio::spawn(run_health(
                l.docker.clone(),
                id.clone(),
                h.clone(),
                status,
            )));
        }
        self.state.containers.push(ContainerState {
            name: c.name.clone(),
            id,
            image: c.image.clone(),
            essential: c.essential,
        });
        Ok(())
    }

    /// Waits until every `dependsOn` condition of `c` holds.
    async fn wait_dependencies(&self, l: &Launch<'_>, c: &ContainerSpec) -> Result<(), LocalError> {
        let deadline = Instant::now() + l.timeout;
        for (on, cond) in &c.depends_on {
            let dep = self
                .state
                .containers
                .iter()
                .find(|d| &d.name == on)
                .map(|d| d.id.clone())
                .unwrap_or_default();
            loop {
                let state = l.docker.states(&[&dep]).await?.into_iter().next();
                let held = match (cond, &state) {
                    (_, None) => false,
                    (Condition::Start, Some(_)) => true,
                    (Condition::Complete, Some(s)) => s.exited(),
                    (Condition::Success, Some(s)) if s.exited() && s.exit_code != 0 => {
                        return Err(LocalError::Dependency {
                            container: c.name.clone(),
                            on: on.clone(),
                            why: format!("SUCCESS, but `{on}` exited with code {}", s.exit_code),
                        })
                    }
                    (Condition::Success, Some(s)) => s.exited(),
                    (Condition::Healthy, Some(s)) => {
                        if s.exited() {
                            return Err(LocalError::Dependency {
                                container: c.name.clone(),
                                on: on.clone(),
                                why: format!(
                                    "HEALTHY, but `{on}` exited with code {}",
                                    s.exit_code
                                ),
                            });
                        }
                        self.health(on) == Some(Health::Healthy)
                    }
                };
                if held {
                    break;
                }
                if self.health(on) == Some(Health::Unhealthy) {
                    return Err(LocalError::Dependency {
                        container: c.name.clone(),
                        on: on.clone(),
                        why: format!("{cond:?}, but `{on}` is UNHEALTHY"),
                    });
                }
                if Instant::now() >= deadline {
                    return Err(LocalError::Dependency {
                        container: c.name.clone(),
                        on: on.clone(),
                        why: format!("{cond:?} did not hold within {} s", l.timeout.as_secs_f64()),
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// A container's health-check status (`None` without a health check).
    pub fn health(&self, container: &str) -> Option<Health> {
        self.health
            .get(container)
            .map(|h| *h.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every container with a health check is HEALTHY (ECS's task health: all essential
    /// containers' checks pass).
    pub fn healthy(&self) -> bool {
        self.state
            .containers
            .iter()
            .filter(|c| c.essential)
            .all(|c| self.health(&c.name).map_or(true, |h| h == Health::Healthy))
    }

    /// From now on the task's target must stay up in `tg` (it passed the health check).
    pub fn watch_target(&mut self, lb: &super::lb::Lb, tg: super::lb::TargetGroup) {
        self.target = Some((lb.clone(), tg));
    }

    /// What is wrong with the task now, if anything.
    pub async fn trouble(&self, docker: &Docker) -> Result<Option<Trouble>, LocalError> {
        if let Some((lb, tg)) = &self.target {
            if let Ok(Some(s)) = lb.up(*tg, self.state.slot).await {
                if s.status == "DOWN" {
                    return Ok(Some(Trouble::TargetDown {
                        group: tg.name().to_string(),
                        check: s.check_status,
                    }));
                }
            }
        }
        if let Some(child) = &self.process {
            let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
            return Ok(match child.try_wait() {
                Ok(Some(status)) => Some(Trouble::EssentialExited {
                    container: "app".into(),
                    code: status.code().unwrap_or(-1),
                }),
                _ => None,
            });
        }
        let exited = if self.may_have_exited(docker) {
            check(docker, &self.state).await?
        } else {
            None
        };
        Ok(exited.or_else(|| {
            self.state
                .containers
                .iter()
                .filter(|c| c.essential)
                .find(|c| self.health(&c.name) == Some(Health::Unhealthy))
                .map(|c| Trouble::Unhealthy {
                    container: c.name.clone(),
                })
        }))
    }

    /// Whether an essential container may have exited since the last check: false while every
    /// one of the task's `docker wait`s is still waiting (see [`ExitWatch`]).
    fn may_have_exited(&self, docker: &Docker) -> bool {
        let mut watch = self.exits.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*watch, ExitWatch::NotStarted) {
            let waits: Result<Vec<_>, _> = self
                .state
                .containers
                .iter()
                .filter(|c| c.essential)
                .map(|c| docker.spawn_wait(&c.id))
                .collect();
            *watch = waits.map_or(ExitWatch::Inspect, ExitWatch::Waiting);
            // This check inspects, as before; a container that exits between that inspect and
            // its wait's start ends the wait at once, and the next check sees it.
            return true;
        }
        match &mut *watch {
            ExitWatch::Waiting(waits) => {
                let ended = waits.iter_mut().any(|w| !matches!(w.try_wait(), Ok(None)));
                if ended {
                    *watch = ExitWatch::NotStarted;
                }
                ended
            }
            _ => true,
        }
    }

    /// Removes everything of the task at once (SIGKILL): for a task that never served.
    pub async fn remove(&mut self, docker: &Docker) {
        for c in &self.checkers {
            c.abort();
        }
        if let Some(child) = self.process.take() {
            let mut child = child.into_inner().unwrap_or_else(|p| p.into_inner());
            crate::proc::kill(&mut child, Instant::now()).await;
            return;
        }
        save_logs(docker, &self.state, &self.log).await;
        remove(docker, &self.state).await;
    }

    /// Stops the task as ECS does (see [`stop`]); how its load-balanced container ended.
    pub async fn stop(
        &mut self,
        docker: &Docker,
        grace: &BTreeMap<String, Duration>,
        lb_container: &str,
    ) -> Stopped {
        for c in &self.checkers {
            c.abort();
        }
        if let Some(child) = self.process.take() {
            let mut child = child.into_inner().unwrap_or_else(|p| p.into_inner());
            let g = grace
                .values()
                .next()
                .copied()
                .unwrap_or(super::taskdef::DEFAULT_STOP_TIMEOUT);
            return crate::proc::terminate(&mut child, g).await;
        }
        stop(docker, &self.state, grace, lb_container, &self.log).await
    }

    /// The injected outage: SIGKILL to the load-balanced container (or the process), no drain.
    pub async fn kill(&self, docker: &Docker, lb_container: &str) -> Result<(), LocalError> {
        if let Some(child) = &self.process {
            let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
            let _ = child.start_kill();
            return Ok(());
        }
        match self
            .state
            .containers
            .iter()
            .find(|c| c.name == lb_container)
        {
            Some(c) => docker
                .run(&["kill", "--signal", "KILL", &c.id])
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// The injected stall: the task frozen (`docker pause`, or SIGSTOP), or thawed again.
    pub async fn freeze(&self, docker: &Docker, frozen: bool) -> Result<(), LocalError> {
        if let Some(child) = &self.process {
            let pid = child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .id()
                .unwrap_or(0);
            let sig = if frozen {
                rustix::process::Signal::STOP
            } else {
                rustix::process::Signal::CONT
            };
            return crate::proc::signal(pid, sig).map_err(|source| LocalError::Io {
                what: "signalling the task's process".into(),
                path: self.log.clone(),
                source,
            });
        }
        let verb = if frozen { "pause" } else { "unpause" };
        for c in &self.state.containers {
            docker.run(&[verb, &c.id]).await?;
        }
        Ok(())
    }
}

/// How a task's load-balanced container ended.
pub use crate::proc::Stopped;

/// An essential container of `task` that has exited, if one has (a container that is gone
/// counts as exited).
pub async fn check(docker: &Docker, task: &TaskState) -> Result<Option<Trouble>, LocalError> {
    let ids: Vec<&str> = task.containers.iter().map(|c| c.id.as_str()).collect();
    let states = docker.states(&ids).await?;
    for c in task.containers.iter().filter(|c| c.essential) {
        match states.iter().find(|s| s.id == c.id) {
            Some(s) if !s.exited() => {}
            Some(s) => {
                return Ok(Some(Trouble::EssentialExited {
                    container: c.name.clone(),
                    code: s.exit_code,
                }))
            }
            None => {
                return Ok(Some(Trouble::EssentialExited {
                    container: c.name.clone(),
                    code: -1,
                }))
            }
        }
    }
    Ok(None)
}

/// Stops a task as ECS does: every container gets SIGTERM and its own `stopTimeout`, in reverse
/// start order (dependents first); the output is saved to `log`, then everything is removed.
/// Returns how `lb_container` ended.
pub async fn stop(
    docker: &Docker,
    task: &TaskState,
    grace: &BTreeMap<String, Duration>,
    lb_container: &str,
    log: &std::path::Path,
) -> Stopped {
    let mut out = Stopped {
        code: None,
        forced: false,
        took_ms: 0,
    };
    for c in task.containers.iter().rev() {
        let g = grace
            .get(&c.name)
            .copied()
            .unwrap_or(super::taskdef::DEFAULT_STOP_TIMEOUT);
        let started = Instant::now();
        docker.stop(&c.id, g).await;
        if c.name == lb_container {
            let took = started.elapsed();
            out = Stopped {
                code: docker
                    .states(&[&c.id])
                    .await
                    .ok()
                    .and_then(|s| s.first().map(|s| s.exit_code)),
                forced: took >= g.max(Duration::from_secs(1)),
                took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            };
        }
    }
    save_logs(docker, task, log).await;
    remove(docker, task).await;
    out
}

/// Every container's output, one after the other, into `log` (best effort).
async fn save_logs(docker: &Docker, task: &TaskState, log: &std::path::Path) {
    let mut text = String::new();
    let many = task.containers.len() > 1;
    for c in &task.containers {
        if many {
            text.push_str(&format!("==> container {} <==\n", c.name));
        }
        text.push_str(&docker.logs(&c.id, None).await);
    }
    if !text.is_empty() {
        let _ = std::fs::write(log, text);
    }
}

async fn remove(docker: &Docker, task: &TaskState) {
    let mut ids: Vec<&str> = task.containers.iter().map(|c| c.id.as_str()).collect();
    if !task.pause.is_empty() {
        ids.push(&task.pause);
    }
    docker.remove(&ids).await;
}

/// ECS's container health check: every `interval`, the command with `timeout`; HEALTHY after a
/// success, UNHEALTHY after `retries` failures in a row outside the start period.
async fn run_health(docker: Docker, id: String, h: HealthCheck, status: Arc<Mutex<Health>>) {
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        let ok = docker.exec(&id, &h.exec, h.timeout).await == Some(0);
        let next = if ok {
            failures = 0;
            Some(Health::Healthy)
        } else if started.elapsed() >= h.start_period {
            failures += 1;
            (failures >= h.retries.max(1)).then_some(Health::Unhealthy)
        } else {
            None
        };
        if let Some(n) = next {
            *status.lock().unwrap_or_else(|p| p.into_inner()) = n;
        }
        tokio::time::sleep(h.interval).await;
    }
}
