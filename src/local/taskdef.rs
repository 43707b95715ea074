//! A registered task definition read the way Fargate runs it, and turned into `docker run`
//! arguments (pure). What Fargate does that Docker can do is honoured; what cannot be honoured on
//! one machine (secrets from Secrets Manager or SSM, EFS, awslogs, task-level limits) is named
//! in [`TaskSpec::notes`] with what is done instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

/// ECS's defaults for a container health check.
const HEALTH_INTERVAL: u64 = 30;
const HEALTH_TIMEOUT: u64 = 5;
const HEALTH_RETRIES: u32 = 3;
/// ECS's default `stopTimeout` on Fargate.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTask {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    cpu: Option<serde_json::Value>,
    #[serde(default)]
    memory: Option<serde_json::Value>,
    #[serde(default)]
    container_definitions: Vec<RawContainer>,
    #[serde(default)]
    volumes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    essential: Option<bool>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    entry_point: Vec<String>,
    #[serde(default)]
    working_directory: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    environment: Vec<NameValue>,
    #[serde(default)]
    secrets: Vec<RawSecret>,
    #[serde(default)]
    environment_files: Vec<serde_json::Value>,
    #[serde(default)]
    port_mappings: Vec<RawPort>,
    #[serde(default)]
    depends_on: Vec<RawDependency>,
    #[serde(default)]
    health_check: Option<RawHealth>,
    #[serde(default)]
    stop_timeout: Option<u64>,
    #[serde(default)]
    cpu: Option<u64>,
    #[serde(default)]
    memory: Option<u64>,
    #[serde(default)]
    memory_reservation: Option<u64>,
    #[serde(default)]
    readonly_root_filesystem: Option<bool>,
    #[serde(default)]
    ulimits: Vec<RawUlimit>,
    #[serde(default)]
    log_configuration: Option<RawLog>,
    #[serde(default)]
    mount_points: Vec<serde_json::Value>,
    #[serde(default)]
    linux_parameters: Option<RawLinux>,
}

#[derive(Debug, Clone, Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSecret {
    name: String,
    value_from: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPort {
    container_port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDependency {
    container_name: String,
    condition: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHealth {
    command: Vec<String>,
    interval: Option<u64>,
    timeout: Option<u64>,
    retries: Option<u32>,
    start_period: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUlimit {
    name: String,
    soft_limit: i64,
    hard_limit: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    log_driver: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLinux {
    init_process_enabled: Option<bool>,
}

/// `dependsOn` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Condition {
    /// The dependency has started.
    Start,
    /// It has run to completion (any exit code).
    Complete,
    /// It has exited 0.
    Success,
    /// Its container health check passed.
    Healthy,
}

/// A container health check as ECS runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The command run inside the container: `CMD` arguments as they are, `CMD-SHELL` as
    /// `/bin/sh -c`.
    pub exec: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    /// Failures within this time from the start do not count.
    pub start_period: Duration,
}

/// One container, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub essential: bool,
    pub depends_on: Vec<(String, Condition)>,
    pub health: Option<HealthCheck>,
    pub stop_timeout: Duration,
    pub ports: Vec<u16>,
    /// `docker run` options before the image (no values of variables: see [`Self::env`]).
    pub options: Vec<String>,
    /// Arguments after the image.
    pub args: Vec<String>,
    /// Environment: plain values, then secrets. Passed to the Docker CLI through its own
    /// environment (`-e NAME` without a value), so no value reaches a command line.
    pub env: Vec<(String, EnvValue)>,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    /// A secret: its `valueFrom` (an ARN), resolved locally by name.
    Secret {
        value_from: String,
    },
}

/// The task: its containers in start order and what could not be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub family: String,
    pub containers: Vec<ContainerSpec>,
    /// Every container port, for the task's network namespace to publish.
    pub ports: Vec<u16>,
    /// What is done differently from Fargate, one line each.
    pub notes: Vec<String>,
}

/// Why a task definition cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskDefError {
    #[error("taskdef.json is not a task definition: {0}")]
    Shape(String),
    #[error("taskdef.json: container `{container}` depends on `{on}`, which is not in the task definition")]
    UnknownDependency { container: String, on: String },
    #[error("taskdef.json: container `{container}`: dependsOn condition `{condition}` is not one of START, COMPLETE, SUCCESS, HEALTHY")]
    BadCondition {
        container: String,
        condition: String,
    },
    #[error("taskdef.json: container `{container}` depends on `{on}` with HEALTHY, but `{on}` has no healthCheck")]
    NoHealthCheck { container: String, on: String },
    #[error("taskdef.json: the containers' dependsOn form a cycle through `{0}`")]
    Cycle(String),
    #[error("taskdef.json: container `{container}`: healthCheck.command must start with CMD or CMD-SHELL")]
    BadHealthCommand { container: String },
    #[error("taskdef.json: container `{container}` has no image")]
    NoImage { container: String },
}

impl TaskSpec {
    /// Reads a task definition document (as registered: images substituted).
    pub fn parse(document: &serde_json::Value) -> Result<TaskSpec, TaskDefError> {
        let raw: RawTask = serde_json::from_value(document.clone())
            .map_err(|e| TaskDefError::Shape(e.to_string()))?;
        let mut notes = BTreeSet::new();
        let names: BTreeSet<&str> = raw
            .container_definitions
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let task_cpu = raw.cpu.as_ref().and_then(number);
        let task_memory = raw.memory.as_ref().and_then(number);
        if task_cpu.is_some() || task_memory.is_some() {
            notes.insert("task-level cpu and memory: applied to each container that sets none of its own (Docker has no task-wide limit)".to_string());
        }
        if !raw.volumes.is_empty() {
            notes.insert("task volumes (EFS, bind mounts, Docker volumes): not mounted here; the containers' mountPoints are left out".to_string());
        }
        let mut containers = Vec::new();
        for c in &raw.container_definitions {
            containers.push(container(c, &names, task_cpu, task_memory, &mut notes)?);
        }
        for c in &containers {
            for (on, cond) in &c.depends_on {
                if *cond == Condition::Healthy {
                    let dep = containers.iter().find(|d| &d.name == on);
                    if dep.is_some_and(|d| d.health.is_none()) {
                        return Err(TaskDefError::NoHealthCheck {
                            container: c.name.clone(),
                            on: on.clone(),
                        });
                    }
                }
            }
        }
        let containers = start_order(containers)?;
        let mut ports: Vec<u16> = containers.iter().flat_map(|c| c.ports.clone()).collect();
        ports.sort_unstable();
        ports.dedup();
        Ok(TaskSpec {
            family: raw.family.unwrap_or_else(|| "task".into()),
            containers,
            ports,
            notes: notes.into_iter().collect(),
        })
    }

    pub fn container(&self, name: &str) -> Option<&ContainerSpec> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The secrets' names and `valueFrom`s, for resolving them before anything starts.
    pub fn secrets(&self) -> Vec<(&str, &str, &str)> {
        self.containers
            .iter()
            .flat_map(|c| {
                c.env.iter().filter_map(move |(k, v)| match v {
                    EnvValue::Secret { value_from } => {
                        Some((c.name.as_str(), k.as_str(), value_from.as_str()))
                    }
                    EnvValue::Plain(_) => None,
                })
            })
            .collect()
    }
}

fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn container(
    c: &RawContainer,
    names: &BTreeSet<&str>,
    task_cpu: Option<u64>,
    task_memory: Option<u64>,
    notes: &mut BTreeSet<String>,
) -> Result<ContainerSpec, TaskDefError> {
    if c.image.trim().is_empty() {
        return Err(TaskDefError::NoImage {
            container: c.name.clone(),
        });
    }
    let mut depends_on = Vec::new();
    for d in &c.depends_on {
        if !names.contains(d.container_name.as_str()) {
            return Err(TaskDefError::UnknownDependency {
                container: c.name.clone(),
                on: d.container_name.clone(),
            });
        }
        let cond = match d.condition.as_str() {
            "START" => Condition::Start,
            "COMPLETE" => Condition::Complete,
            "SUCCESS" => Condition::Success,
            "HEALTHY" => Condition::Healthy,
            other => {
                return Err(TaskDefError::BadCondition {
                    container: c.name.clone(),
                    condition: other.to_string(),
                })
            }
        };
        depends_on.push((d.container_name.clone(), cond));
    }
    let health = match &c.health_check {
        None => None,
        Some(h) => {
            let exec = match h.command.split_first() {
                Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
                Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                    vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
                }
                _ => {
                    return Err(TaskDefError::BadHealthCommand {
                        container: c.name.clone(),
                    })
                }
            };
            Some(HealthCheck {
                exec,
                interval: Duration::from_secs(h.interval.unwrap_or(HEALTH_INTERVAL)),
                timeout: Duration::from_secs(h.timeout.unwrap_or(HEALTH_TIMEOUT)),
                retries: h.retries.unwrap_or(HEALTH_RETRIES),
                start_period: Duration::from_secs(h.start_period.unwrap_or(0)),
            })
        }
    };
    let stop_timeout = c
        .stop_timeout
        .map_or(DEFAULT_STOP_TIMEOUT, Duration::from_secs);
    let mut options = Vec::new();
    if let Some((first, _)) = c.entry_point.split_first() {
        options.extend(["--entrypoint".to_string(), first.clone()]);
    }
    if let Some(w) = &c.working_directory {
        options.extend(["--workdir".to_string(), w.clone()]);
    }
    if let Some(u) = &c.user {
        options.extend(["--user".to_string(), u.clone()]);
    }
    if let Some(cpu) = c.cpu.filter(|&n| n > 0) {
        // ECS gives a container's cpu units to Docker as CPU shares.
        options.extend(["--cpu-shares".to_string(), cpu.max(2).to_string()]);
    } else if let Some(cpu) = task_cpu.filter(|&n| n > 0) {
        options.extend(["--cpus".to_string(), format!("{:.3}", cpu as f64 / 1024.0)]);
    }
    match (c.memory, c.memory_reservation) {
        (Some(m), r) => {
            options.extend(["--memory".to_string(), format!("{m}m")]);
            if let Some(r) = r {
                options.extend(["--memory-reservation".to_string(), format!("{r}m")]);
            }
        }
        (None, Some(r)) => {
            options.extend(["--memory-reservation".to_string(), format!("{r}m")]);
        }
        (None, None) => {
            if let Some(m) = task_memory {
                options.extend(["--memory".to_string(), format!("{m}m")]);
            }
        }
    }
    if c.readonly_root_filesystem == Some(true) {
        options.push("--read-only".to_string());
    }
    for u in &c.ulimits {
        options.extend([
            "--ulimit".to_string(),
            format!("{}={}:{}", u.name, u.soft_limit, u.hard_limit),
        ]);
    }
    if c.linux_parameters
        .as_ref()
        .and_then(|l| l.init_process_enabled)
        == Some(true)
    {
        options.push("--init".to_string());
    }
    options.extend([
        "--stop-timeout".to_string(),
        stop_timeout.as_secs().to_string(),
    ]);
    let mut args: Vec<String> = c.entry_point.iter().skip(1).cloned().collect();
    args.extend(c.command.iter().cloned());
    // Later entries win, as in Docker; secrets after plain values, as ECS sets them.
    let mut env: BTreeMap<String, EnvValue> = BTreeMap::new();
    for v in &c.environment {
        env.insert(v.name.clone(), EnvValue::Plain(v.value.clone()));
    }
    for s in &c.secrets {
        env.insert(
            s.name.clone(),
            EnvValue::Secret {
                value_from: s.value_from.clone(),
            },
        );
    }
    if !c.secrets.is_empty() {
        notes.insert("secrets (Secrets Manager, SSM): taken from [local.secrets] in cutover.toml, else from the variable of the same name in cutover's environment".to_string());
    }
    if !c.environment_files.is_empty() {
        notes.insert(format!(
            "container `{}`: environmentFiles (S3) are not read here",
            c.name
        ));
    }
    if c.log_configuration
        .as_ref()
        .is_some_and(|l| l.log_driver != "json-file")
    {
        notes.insert("logConfiguration (awslogs, firelens): the containers log to Docker's json-file driver; `cutover local logs` shows them, and they are kept beside the deployment's report".to_string());
    }
    if !c.mount_points.is_empty() {
        notes.insert(format!(
            "container `{}`: mountPoints are not mounted here",
            c.name
        ));
    }
    let ports = c
        .port_mappings
        .iter()
        .filter_map(|p| p.container_port)
        .collect();
    Ok(ContainerSpec {
        name: c.name.clone(),
        image: c.image.clone(),
        essential: c.essential.unwrap_or(true),
        depends_on,
        health,
        stop_timeout,
        ports,
        options,
        args,
        env: env.into_iter().collect(),
    })
}

/// Orders the containers so that each comes after what it depends on (stable: the definition's
/// order where there is a choice).
fn start_order(mut pending: Vec<ContainerSpec>) -> Result<Vec<ContainerSpec>, TaskDefError> {
    let mut done: Vec<ContainerSpec> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|c| {
            c.depends_on
                .iter()
                .all(|(on, _)| done.iter().any(|d| &d.name == on))
        });
        match ready {
            Some(i) => done.push(pending.remove(i)),
            None => return Err(TaskDefError::Cycle(pending[0].name.clone())),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_fargates_settings_to_docker_options() {
        let doc = json!({
            "family": "svc", "cpu": "256", "memory": "512",
            "containerDefinitions": [{
                "name": "app", "image": "r/app:1",
                "entryPoint": ["/bin/app", "--serve"], "command": ["--port", "8080"],
                "workingDirectory": "/srv", "user": "65532",
                "environment": [{"name": "A", "value": "1"}],
                "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:x"}],
                "portMappings": [{"containerPort": 8080}],
                "readonlyRootFilesystem": true,
                "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
                "stopTimeout": 5,
                "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost"], "interval": 2, "retries": 1},
                "logConfiguration": {"logDriver": "awslogs", "options": {}}
            }]
        });
        let t = TaskSpec::parse(&doc).expect("parses");
        let c = &t.containers[0];
        assert_eq!(
            c.options,
            [
                "--entrypoint",
                "/bin/app",
                "--workdir",
                "/srv",
                "--user",
                "65532",
                "--cpus",
                "0.250",
                "--memory",
                "512m",
                "--read-only",
                "--ulimit",
                "nofile=1024:2048",
                "--stop-timeout",
                "5"
            ]
        );
        assert_eq!(c.args, ["--serve", "--port", "8080"]);
        assert_eq!(c.stop_timeout, Duration::from_secs(5));
        assert_eq!(t.ports, [8080]);
        let h = c.health.as_ref().expect("health");
        assert_eq!(h.exec, ["/bin/sh", "-c", "curl -f localhost"]);
        assert_eq!((h.interval, h.retries), (Duration::from_secs(2), 1));
        assert_eq!(t.secrets(), [("app", "TOKEN", "arn:aws:ssm:x")]);
        assert!(t.notes.iter().any(|n| n.contains("awslogs")));
        assert!(t.notes.iter().any(|n| n.contains("secrets")));
    }

    #[test]
    fn orders_by_depends_on_and_refuses_cycles_and_unknowns() {
        let doc = json!({"containerDefinitions": [
            {"name": "app", "image": "a", "dependsOn": [{"containerName": "side", "condition": "HEALTHY"}]},
            {"name": "side", "image": "s", "essential": false,
             "healthCheck": {"command": ["CMD", "/bin/check"]}}
        ]});
        let t = TaskSpec::parse(&doc).expect("parses");
        let names: Vec<_> = t.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["side", "app"]);
        assert!(!t.containers[0].essential);
        assert_eq!(
            t.containers[0].health.as_ref().unwrap().exec,
            ["/bin/check"]
        );
        let cycle = json!({"containerDefinitions": [
            {"name": "a", "image": "a", "dependsOn": [{"containerName": "b", "condition": "START"}]},
            {"name": "b", "image": "b", "dependsOn": [{"containerName": "a", "condition": "START"}]}
        ]});
        assert!(matches!(
            TaskSpec::parse(&cycle),
            Err(TaskDefError::Cycle(_))
        ));
        let unknown = json!({"containerDefinitions": [
            {"name": "a", "image": "a", "dependsOn": [{"containerName": "zz", "condition": "START"}]}
        ]});
        assert!(matches!(
            TaskSpec::parse(&unknown),
            Err(TaskDefError::UnknownDependency { .. })
        ));
        let no_check = json!({"containerDefinitions": [
            {"name": "a", "image": "a", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
            {"name": "b", "image": "b"}
        ]});
        assert!(matches!(
            TaskSpec::parse(&no_check),
            Err(TaskDefError::NoHealthCheck { .. })
        ));
    }
}
