//! `cutover local`'s settings: the flags (and their `CUTOVER_LOCAL_*` variables) over
//! cutover.toml's `[local]` over the defaults, resolved and checked once into the engine's
//! [`crate::local::Options`]. The defaults of the target groups' health check and drain are
//! pipeline/template.yaml's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{find_config, load_file, ConfigFile, SettingError, SettingsError, Source};
use crate::cli::{parse_duration, LocalArgs, LocalDeployArgs};
use crate::lifecycle::traffic::{Plan, Strategy};
use crate::local::{lb::HealthCheck, Options, ProbeSpec};

/// Where the state lives when nothing says: beside the config file, else in the working
/// directory.
pub const DEFAULT_STATE_DIR: &str = ".cutover/local";

/// The state directory and the Docker CLI: what every `cutover local` command needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCommon {
    pub state_dir: PathBuf,
    pub docker: PathBuf,
}

fn file(config: Option<&Path>, cwd: &Path) -> Result<(ConfigFile, Option<PathBuf>), SettingsError> {
    match find_config(config, cwd) {
        Some(p) => Ok((load_file(&p)?.0, Some(p))),
        None => Ok((ConfigFile::default(), None)),
    }
}

/// The state directory and the Docker CLI.
pub fn resolve_common(
    args: &LocalArgs,
    config: Option<&Path>,
    cwd: &Path,
) -> Result<LocalCommon, SettingsError> {
    let (f, path) = file(config, cwd)?;
    Ok(common(args, &f, path.as_deref(), cwd))
}

fn common(args: &LocalArgs, f: &ConfigFile, path: Option<&Path>, cwd: &Path) -> LocalCommon {
    let base = path
        .and_then(Path::parent)
        .map(|p| cwd.join(p))
        .unwrap_or_else(|| cwd.to_path_buf());
    let state_dir = match (&args.state_dir, &f.local.state_dir) {
        (Some(d), _) => cwd.join(d),
        (None, Some(d)) => base.join(d),
        (None, None) => base.join(DEFAULT_STATE_DIR),
    };
    LocalCommon {
        state_dir,
        docker: args
            .docker
            .clone()
            .unwrap_or_else(|| PathBuf::from("docker")),
    }
}

/// Every setting of `cutover local deploy`, checked: all the invalid ones at once.
pub fn resolve_deploy(
    args: &LocalDeployArgs,
    config: Option<&Path>,
    cwd: &Path,
) -> Result<Options, SettingsError> {
    let (f, path) = file(config, cwd)?;
    let c = common(&args.local, &f, path.as_deref(), cwd);
    let l = &f.local;
    let mut errors = Vec::new();
    let file_source = |key: &str| {
        Source::File {
            path: path
                .clone()
                .unwrap_or_else(|| PathBuf::from("cutover.toml")),
            line: None,
        }
        .with_key(key)
    };
    let mut duration =
        |flag: Option<Duration>, key: &str, value: &Option<String>, default: Duration| {
            if let Some(d) = flag {
                return d;
            }
            match value {
                None => default,
                Some(v) => match parse_duration(v) {
                    Ok(d) => d,
                    Err(message) => {
                        let (source, key) = file_source(key);
                        errors.push(SettingError {
                            source,
                            key,
                            message,
                            hint: Some("write a duration such as 500ms, 30s or 2m".into()),
                        });
                        default
                    }
                },
            }
        };
    let minute = duration(
        args.minute,
        "local.minute",
        &l.minute,
        Duration::from_secs(60),
    );
    let termination_wait = duration(
        args.termination_wait,
        "local.termination_wait",
        &l.termination_wait,
        Duration::ZERO,
    );
    let ready_timeout = duration(
        args.ready_timeout,
        "local.ready_timeout",
        &l.ready_timeout,
        Duration::from_secs(300),
    );
    let hook_timeout = duration(
        args.hook_timeout,
        "local.hook_timeout",
        &l.hook_timeout,
        Duration::from_secs(3600),
    );
    let deregistration_delay = duration(
        args.deregistration_delay,
        "local.deregistration_delay",
        &l.deregistration_delay,
        Duration::from_secs(30),
    );
    let h = &l.health_check;
    let interval = duration(
        args.health_interval,
        "local.health_check.interval",
        &h.interval,
        Duration::from_secs(10),
    );
    let timeout = duration(
        args.health_timeout,
        "local.health_check.timeout",
        &h.timeout,
        Duration::from_secs(5),
    );
    let flag = |name: &'static str, env_name: &'static str| Source::Flag {
        flag: name,
        env: env_name,
    };
    let mut bad = |source: Source, key: &str, message: String, hint: &str| {
        errors.push(SettingError {
            source,
            key: key.to_string(),
            message,
            hint: Some(hint.to_string()),
        })
    };
    if minute.is_zero() {
        bad(
            flag("--minute", crate::env_vars::LOCAL_MINUTE),
            "local.minute",
            "must be longer than zero".into(),
            "e.g. 2s, so ECSCanary10Percent5Minutes shifts the rest after 10 s",
        );
    }
    if interval.is_zero() || timeout.is_zero() {
        bad(
            flag("--health-interval", crate::env_vars::LOCAL_HEALTH_INTERVAL),
            "local.health_check.interval",
            "the health check's interval and timeout must be longer than zero".into(),
            "e.g. interval = \"200ms\"",
        );
    }
    let mut functions: BTreeMap<String, String> = l.functions.clone();
    let config_name = args
        .deployment_config
        .clone()
        .or_else(|| l.deployment_config.clone())
        .or_else(|| f.codedeploy.deployment_config.clone())
        .unwrap_or_else(|| "CodeDeployDefault.ECSAllAtOnce".into());
    let strategy = match config_name.parse::<Strategy>() {
        Ok(s) => s,
        Err(e) => {
            let source = if args.deployment_config.is_some() {
                flag(
                    "--deployment-config",
                    crate::env_vars::LOCAL_DEPLOYMENT_CONFIG,
                )
            } else {
                file_source("local.deployment_config").0
            };
            bad(
                source,
                "local.deployment_config",
                e.reason.clone(),
                "use a CodeDeploy ECS name such as CodeDeployDefault.ECSAllAtOnce, ECSCanary10Percent5Minutes or ECSLinear10PercentEvery1Minutes",
            );
            Strategy::AllAtOnce
        }
    };
    let mut termination_wait = termination_wait;
    let mut strategy = strategy;
    let native_given = {
        let n = &l.native;
        n.strategy.is_some()
            || n.bake_time_minutes.is_some()
            || n.step_percent.is_some()
            || n.step_bake_time_minutes.is_some()
            || n.canary_percent.is_some()
            || n.canary_bake_time_minutes.is_some()
            || !n.hooks.is_empty()
    };
    if l.mode.as_deref() == Some("ecs-native") {
        // Native mode decides the strategy and the wait: a CodeDeploy setting for them says
        // something else would happen.
        if args.deployment_config.is_some() || l.deployment_config.is_some() {
            bad(
                file_source("local.deployment_config").0,
                "local.deployment_config",
                "a CodeDeploy configuration, but [local] mode is ecs-native".into(),
                "set the strategy in [local.native] (strategy, step_percent, ...) and drop deployment_config / --deployment-config",
            );
        }
        if args.termination_wait.is_some() || l.termination_wait.is_some() {
            bad(
                file_source("local.termination_wait").0,
                "local.termination_wait",
                "CodeDeploy's termination wait, but [local] mode is ecs-native".into(),
                "set [local.native] bake_time_minutes instead",
            );
        }
    } else if native_given {
        bad(
            file_source("local.native").0,
            "local.native",
            "[local.native] is set, but [local] mode is not ecs-native: it would be ignored".into(),
            "add mode = \"ecs-native\" to [local], or remove [local.native]",
        );
    }
    let native = match l.mode.as_deref() {
        None | Some("codedeploy") => None,
        Some("ecs-native") => match native_settings(&l.native, minute) {
            Ok((s, bake, n)) => {
                strategy = s;
                termination_wait = bake;
                for (_, function) in &n.hooks {
                    if let Some(stage) = function.strip_prefix(NATIVE_HOOK_PREFIX) {
                        if let Some(cmd) = l.native.hooks.get(stage) {
                            functions.insert(function.clone(), cmd.clone());
                        }
                    }
                }
                Some(n)
            }
            Err((key, message, hint)) => {
                bad(file_source(&key).0, &key, message, &hint);
                None
            }
        },
        Some(other) => {
            bad(
                file_source("local.mode").0,
                "local.mode",
                format!("`{other}` is not a mode"),
                "write \"codedeploy\" or \"ecs-native\"",
            );
            None
        }
    };
    let desired_count = args.desired_count.or(l.desired_count).unwrap_or(1);
    if desired_count == 0 || desired_count > crate::local::lb::SLOTS {
        bad(
            flag("--desired-count", crate::env_vars::LOCAL_DESIRED_COUNT),
            "local.desired_count",
            format!(
                "{desired_count} tasks: the local service runs 1 to {}",
                crate::local::lb::SLOTS
            ),
            "set desired_count between 1 and 16",
        );
    }
    let matcher = args
        .health_matcher
        .clone()
        .or_else(|| h.matcher.clone())
        .unwrap_or_else(|| "200".into());
    if crate::local::lb::matcher_regex(&matcher).is_none() {
        bad(
            flag("--health-matcher", crate::env_vars::LOCAL_HEALTH_MATCHER),
            "local.health_check.matcher",
            format!("`{matcher}` is not an ALB matcher"),
            "write codes from 200 to 499: 200, 200,202 or 200-299",
        );
    }
    let health_path = args
        .health_path
        .clone()
        .or_else(|| h.path.clone())
        .unwrap_or_else(|| "/healthz".into());
    for (key, p) in [
        ("local.health_check.path", &health_path),
        ("--probe-path", &args.probe_path),
    ] {
        if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bad(
                Source::Default,
                key,
                format!("`{p}` is not a path"),
                "a path starts with / and has no spaces",
            );
        }
    }
    if !(args.probe_rate.is_finite() && args.probe_rate > 0.0 && args.probe_rate <= 1e5) {
        bad(
            Source::Default,
            "--probe-rate",
            format!("`{}` requests per second", args.probe_rate),
            "a rate from 0.001 to 100000",
        );
    }
    for f in &args.functions {
        match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                functions.insert(k.trim().to_string(), v.to_string());
            }
            _ => bad(
                Source::Default,
                "--function",
                format!("`{f}` is not NAME=COMMAND"),
                "e.g. --function 'smoke=./scripts/smoke.sh'",
            ),
        }
    }
    if !errors.is_empty() {
        return Err(SettingsError::Invalid(errors));
    }
    Ok(Options {
        state_dir: c.state_dir,
        docker: c.docker,
        haproxy: args
            .haproxy
            .clone()
            .unwrap_or_else(|| PathBuf::from("haproxy")),
        production_port: args.production_port.or(l.production_port).unwrap_or(0),
        test_port: args.test_port.or(l.test_port).unwrap_or(0),
        desired_count,
        plan: Plan {
            strategy,
            interval: minute,
        },
        termination_wait,
        health: HealthCheck {
            path: health_path,
            interval,
            timeout,
            healthy_threshold: args
                .healthy_threshold
                .or(h.healthy_threshold)
                .unwrap_or(2)
                .max(1),
            unhealthy_threshold: args
                .unhealthy_threshold
                .or(h.unhealthy_threshold)
                .unwrap_or(3)
                .max(1),
            matcher,
        },
        deregistration_delay,
        functions,
        secrets: l.secrets.clone(),
        hook_timeout,
        ready_timeout,
        probe: args.probe.then(|| ProbeSpec {
            rate: crate::probe::Rate::Fixed(args.probe_rate),
            path: args.probe_path.clone(),
            timeout: Duration::from_secs(2),
        }),
        version_path: args.probe.then(|| args.probe_path.clone()),
        native,
        ..Options::new(PathBuf::new())
    })
}

/// The function name a native hook runs under (a key of the engine's functions).
const NATIVE_HOOK_PREFIX: &str = "ecs-native:";

/// `[local.native]` as the engine runs it: the traffic strategy, the bake time (blue kept after
/// production moved) and the hooks by the event their stage falls in (pure). An error names the
/// key, what is wrong and the fix.
fn native_settings(
    n: &crate::settings::LocalNativeSection,
    minute: Duration,
) -> Result<(Strategy, Duration, crate::local::Native), (String, String, String)> {
    use crate::artifacts::appspec::HookEvent;
    let pct = |v: f64| v.round().clamp(1.0, 100.0) as u8;
    let name = n.strategy.as_deref().unwrap_or("BLUE_GREEN");
    let bake = n.bake_time_minutes.unwrap_or(0);
    let (strategy, label) = match name {
        "BLUE_GREEN" => (Strategy::AllAtOnce, "BLUE_GREEN".to_string()),
        "LINEAR" => {
            let p = n.step_percent.unwrap_or(10.0);
            if !(3.0..=100.0).contains(&p) {
                return Err((
                    "local.native.step_percent".into(),
                    format!("{p}: ECS takes 3 to 100"),
                    "e.g. step_percent = 25".into(),
                ));
            }
            let m = n.step_bake_time_minutes.unwrap_or(6);
            (
                Strategy::Linear {
                    percent: pct(p),
                    minutes: m,
                },
                format!("LINEAR {p}% every {m} min"),
            )
        }
        "CANARY" => {
            let p = n.canary_percent.unwrap_or(5.0);
            if !(0.1..=100.0).contains(&p) {
                return Err((
                    "local.native.canary_percent".into(),
                    format!("{p}: ECS takes 0.1 to 100"),
                    "e.g. canary_percent = 10".into(),
                ));
            }
            let m = n.canary_bake_time_minutes.unwrap_or(10);
            // The local load balancer's weights are whole percents.
            let local = if f64::from(pct(p)) == p {
                String::new()
            } else {
                format!(" (locally {}%)", pct(p))
            };
            (
                Strategy::Canary {
                    percent: pct(p),
                    minutes: m,
                },
                format!("CANARY {p}%{local} for {m} min"),
            )
        }
        other => {
            return Err((
                "local.native.strategy".into(),
                format!("`{other}` is not an ECS blue/green strategy"),
                "write BLUE_GREEN, LINEAR or CANARY".into(),
            ))
        }
    };
    let mut hooks = Vec::new();
    for stage in n.hooks.keys() {
        let event = crate::lifecycle::Event::from_ecs_stage(stage)
            .and_then(|e| e.hook())
            .filter(|_| stage != "TEST_TRAFFIC_SHIFT" && stage != "PRODUCTION_TRAFFIC_SHIFT");
        let Some(event) = event else {
            return Err((
                format!("local.native.hooks.{stage}"),
                format!("`{stage}` is not a stage the local engine runs a hook at"),
                "use RECONCILE_SERVICE, PRE_SCALE_UP, POST_SCALE_UP, POST_TEST_TRAFFIC_SHIFT or POST_PRODUCTION_TRAFFIC_SHIFT".into(),
            ));
        };
        if hooks.iter().any(|(e, _): &(HookEvent, String)| *e == event) {
            return Err((
                format!("local.native.hooks.{stage}"),
                format!("a second hook for the {} event", event.as_str()),
                "RECONCILE_SERVICE and PRE_SCALE_UP both run before the new tasks start: keep one"
                    .into(),
            ));
        }
        hooks.push((event, format!("{NATIVE_HOOK_PREFIX}{stage}")));
    }
    Ok((
        strategy,
        minute.saturating_mul(bake),
        crate::local::Native {
            label: format!("{label}, bake {bake} min"),
            hooks,
        },
    ))
}

impl Source {
    fn with_key(self, key: &str) -> (Source, String) {
        (self, key.to_string())
    }
}

/// `cutover local pipeline`'s settings: the engine's options as `local deploy` resolves them,
/// the declarations, and the placeholders' values.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub engine: Options,
    /// The folder cutover.toml is in (else the working directory): the repository.
    pub repo: PathBuf,
    pub declaration: PathBuf,
    pub codebuild: PathBuf,
    pub variables: BTreeMap<String, String>,
}

pub fn resolve_pipeline(
    args: &crate::cli::LocalPipelineArgs,
    config: Option<&Path>,
    cwd: &Path,
) -> Result<PipelineSettings, SettingsError> {
    let deploy = LocalDeployArgs {
        artifacts: None,
        local: args.local.clone(),
        probe: false,
        probe_rate: 100.0,
        probe_path: "/version".into(),
        haproxy: None,
        production_port: None,
        test_port: None,
        desired_count: None,
        deployment_config: None,
        minute: None,
        termination_wait: None,
        ready_timeout: None,
        hook_timeout: None,
        deregistration_delay: None,
        health_path: None,
        health_interval: None,
        health_timeout: None,
        healthy_threshold: None,
        unhealthy_threshold: None,
        health_matcher: None,
        functions: Vec::new(),
    };
    let engine = resolve_deploy(&deploy, config, cwd)?;
    let (f, path) = file(config, cwd)?;
    let repo = path
        .as_deref()
        .and_then(Path::parent)
        .map(|p| cwd.join(p))
        .unwrap_or_else(|| cwd.to_path_buf());
    let p = &f.local.pipeline;
    let mut variables = p.variables.clone();
    let mut errors = Vec::new();
    for v in &args.vars {
        match v.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => {
                variables.insert(k.trim().to_string(), val.to_string());
            }
            _ => errors.push(SettingError {
                source: Source::Default,
                key: "--var".into(),
                message: format!("`{v}` is not NAME=VALUE"),
                hint: Some("e.g. --var BRANCH_NAME=main".into()),
            }),
        }
    }
    match args.repository.clone().or_else(|| p.repository.clone()) {
        Some(r) => {
            variables.insert("REPOSITORY".into(), r);
        }
        None if variables.contains_key("REPOSITORY") => {}
        None => errors.push(SettingError {
            source: Source::Default,
            key: "local.pipeline.repository".into(),
            message: "the Build stage needs a repository to push the image to".into(),
            hint: Some("run a registry (e.g. Debian's docker-registry) and set [local.pipeline] repository = \"127.0.0.1:5000/sample-app\", or pass --repository".into()),
        }),
    }
    if !errors.is_empty() {
        return Err(SettingsError::Invalid(errors));
    }
    let at = |given: &Option<PathBuf>, file: &Option<PathBuf>, default: &str| match (given, file) {
        (Some(g), _) => cwd.join(g),
        (None, Some(f)) => repo.join(f),
        (None, None) => repo.join(default),
    };
    Ok(PipelineSettings {
        declaration: at(&args.declaration, &p.declaration, "pipeline/pipeline.yaml"),
        codebuild: at(&args.codebuild, &p.codebuild, "pipeline/codebuild.yaml"),
        engine,
        repo,
        variables,
    })
}
