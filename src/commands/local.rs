//! `cutover local deploy|status|logs|down`: flags to the engine's options, the artifact set read
//! and checked as CodeDeployToECS reads it, the engine (`crate::local`), and its report.

use anyhow::anyhow;

use super::{interrupted, Ctx};
use crate::cli::{LocalArgs, LocalCommand, LocalDeployArgs};
use crate::lifecycle::DeploymentStatus;
use crate::local::{self, revision, LocalError};
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::settings::local as local_settings;

pub(crate) fn local_cmd(ctx: &Ctx, cmd: LocalCommand) -> Result<Exit, Failure> {
    match cmd {
        LocalCommand::Deploy(args) => deploy_cmd(ctx, &args),
        LocalCommand::Status(args) => status_cmd(ctx, &args),
        LocalCommand::Logs { local, container } => logs_cmd(ctx, &local, container.as_deref()),
        LocalCommand::Down(args) => down_cmd(ctx, &args),
        LocalCommand::Pipeline(args) => pipeline_cmd(ctx, &args),
        LocalCommand::Remote { local, name } => remote_cmd(ctx, &local, &name),
        LocalCommand::Executions(args) => executions_cmd(ctx, &args),
    }
}

/// Git in `dir`, with the variables a hook sets (GIT_DIR, ...) removed: `-C` must win.
fn git_in(dir: &std::path::Path, args: &[&str]) -> Result<String, Failure> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .map_err(|e| Failure::external(anyhow!("cannot run git: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(Failure::usage(anyhow!(
            "`git {}` in `{}`: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn remote_cmd(ctx: &Ctx, args: &LocalArgs, name: &str) -> Result<Exit, Failure> {
    let c = common(ctx, args)?;
    let project = git_in(&ctx.cwd, &["rev-parse", "--show-toplevel"])?;
    let bare = c.state_dir.join("remotes").join(format!("{name}.git"));
    if !bare.join("HEAD").is_file() {
        std::fs::create_dir_all(&bare)
            .map_err(|e| Failure::usage(anyhow!("creating `{}`: {e}", bare.display())))?;
        git_in(&bare, &["init", "--bare", "--quiet"])?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::usage(anyhow!("finding the cutover binary: {e}")))?;
    let q = |p: &std::path::Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let hook = format!(
        "#!/bin/sh\n\
# Written by `cutover local remote`: a push runs the pipeline on this machine, as the\n\
# declaration's triggers say; its progress is shown to the pusher.\n\
unset GIT_DIR GIT_WORK_TREE GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n\
status=0\n\
while read old new ref; do\n\
  [ \"$new\" = 0000000000000000000000000000000000000000 ] && continue\n\
  (cd {project} && {exe} local pipeline \"$new\" --state-dir {state} --source-repo {bare} --trigger \"push $ref $old $new\") || status=1\n\
done\n\
exit $status\n",
        project = q(std::path::Path::new(&project)),
        exe = q(&exe),
        state = q(&c.state_dir),
        bare = q(&bare),
    );
    let hook_path = bare.join("hooks").join("post-receive");
    std::fs::write(&hook_path, hook)
        .map_err(|e| Failure::usage(anyhow!("writing `{}`: {e}", hook_path.display())))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Failure::usage(anyhow!("chmod `{}`: {e}", hook_path.display())))?;
    }
    let url = bare.display().to_string();
    let remotes = git_in(&ctx.cwd, &["remote"])?;
    if remotes.lines().any(|r| r == name) {
        git_in(&ctx.cwd, &["remote", "set-url", name, &url])?;
    } else {
        git_in(&ctx.cwd, &["remote", "add", name, &url])?;
    }
    crate::say!("remote `{name}` → {url}");
    crate::say!("a push to it runs the pipeline here: git push {name} HEAD:<branch>");
    Ok(Exit::Ok)
}

fn executions_cmd(ctx: &Ctx, args: &LocalArgs) -> Result<Exit, Failure> {
    let c = common(ctx, args)?;
    let list = crate::local_pipeline::history(&c.state_dir.join("executions"));
    match ctx.output {
        OutputFormat::Json => print_json(&list),
        OutputFormat::Text => {
            for e in &list {
                crate::say!(
                    "{}  {:<9}  {}  {}  {}",
                    e.execution_id,
                    e.status,
                    e.commit.chars().take(7).collect::<String>(),
                    e.started,
                    e.trigger
                );
            }
            if list.is_empty() && !ctx.quiet {
                crate::say!("no executions yet: `cutover local pipeline` or a push to `cutover local remote`");
            }
        }
    }
    Ok(Exit::Ok)
}

/// `local pipeline --watch`: the newest execution's progress file, followed until its record is
/// written.
fn watch_cmd(ctx: &Ctx, state_dir: &std::path::Path) -> Result<Exit, Failure> {
    let dir = state_dir.join("executions");
    let newest = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("progress.log").is_file())
        .max()
        .ok_or_else(|| {
            Failure::usage(anyhow!(
                "no execution to watch in `{}`\n  hint: `cutover local pipeline` or a push to `cutover local remote` starts one",
                dir.display()
            ))
        })?;
    let log = newest.join("progress.log");
    let record = newest.join("execution.json");
    let mut shown = 0usize;
    loop {
        // The record is written after the last progress line: read the lines once more then.
        let done = record.is_file();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.len() > shown {
            let new = &text[shown..];
            let upto = new.rfind('\n').map_or(0, |i| i + 1);
            eprint!("{}", &new[..upto]);
            shown += upto;
        }
        if done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let bytes = std::fs::read(&record)
        .map_err(|e| Failure::usage(anyhow!("`{}`: {e}", record.display())))?;
    let e: crate::local_pipeline::Execution = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::usage(anyhow!("`{}`: {e}", record.display())))?;
    print_execution(ctx, &e);
    Ok(if e.status == "Succeeded" {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

fn print_execution(ctx: &Ctx, execution: &crate::local_pipeline::Execution) {
    match ctx.output {
        OutputFormat::Json => print_json(execution),
        OutputFormat::Text => {
            crate::say!(
                "execution    {} {} ({})",
                execution.execution_id,
                execution.status,
                execution.commit
            );
            for st in &execution.stages {
                crate::say!("  {:<10} {}", st.name, st.status);
                for a in &st.actions {
                    crate::say!(
                        "    {:<10} {:<10} {:>6.1} s  {}",
                        a.name,
                        a.status,
                        a.seconds,
                        a.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
}

fn pipeline_cmd(ctx: &Ctx, args: &crate::cli::LocalPipelineArgs) -> Result<Exit, Failure> {
    if args.watch {
        let c = common(ctx, &args.local)?;
        return watch_cmd(ctx, &c.state_dir);
    }
    let s = local_settings::resolve_pipeline(args, ctx.config.as_deref(), &ctx.cwd)
        .map_err(Failure::usage)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::usage(anyhow!("finding the cutover binary: {e}")))?;
    let stamp = crate::probe::record::now_rfc3339()
        .replace(['-', ':'], "")
        .replace('T', "-");
    let work = s
        .engine
        .state_dir
        .join("executions")
        .join(format!("x-{stamp}"));
    let source_repo = args.source_repo.clone().unwrap_or_else(|| s.repo.clone());
    // The branch the pipeline watches: the project's current one, unless given.
    let mut s = s;
    if !s.variables.contains_key("BRANCH_NAME") {
        if let Ok(b) = git_in(&s.repo, &["rev-parse", "--abbrev-ref", "HEAD"]) {
            if b != "HEAD" {
                s.variables.insert("BRANCH_NAME".into(), b);
            }
        }
    }
    let mut inputs = crate::local_pipeline::Inputs {
        repo: source_repo.clone(),
        reference: args.reference.clone().unwrap_or_else(|| "HEAD".into()),
        declaration: s.declaration.clone(),
        codebuild: s.codebuild.clone(),
        variables: s.variables.clone(),
        work,
        engine: s.engine.clone(),
        exe,
        trigger: "manual".to_string(),
    };
    // A push: the declaration's trigger filters decide, on the pushed ref and changed files.
    if let Some(t) = &args.trigger {
        let parts: Vec<&str> = t.split_whitespace().collect();
        if let ["push", refname, old, new] = parts.as_slice() {
            match crate::local_pipeline::decide_push(&inputs, refname, old, new)
                .map_err(|e| Failure::usage(anyhow::Error::new(e)))?
            {
                crate::local_pipeline::PushDecision::Skip(why) => {
                    crate::say!(
                        "pipeline  push of {refname}: no trigger matched ({why}); nothing runs"
                    );
                    return Ok(Exit::Ok);
                }
                crate::local_pipeline::PushDecision::Run { commit, trigger } => {
                    inputs.trigger = trigger;
                    inputs.reference = commit;
                }
            }
        }
    }
    let quiet = ctx.quiet;
    let _queued = crate::local_pipeline::queue(&s.engine.state_dir, || {
        if !quiet {
            eprintln!("pipeline  queued: waiting for the execution before this one");
        }
    })
    .map_err(|e| Failure::external(anyhow::Error::new(e)))?;
    // Also into the execution's progress file, which `local pipeline --watch` follows.
    let _ = std::fs::create_dir_all(&inputs.work);
    let file = std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(inputs.work.join("progress.log"))
            .ok(),
    );
    let progress = move |line: &str| {
        if !quiet {
            eprintln!("pipeline  {line}");
        }
        if let Some(f) = file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            use std::io::Write as _;
            let _ = writeln!(f, "pipeline  {line}");
        }
    };
    let execution =
        match crate::local_pipeline::run(ctx.handle(), &inputs, interrupted(), &progress) {
            Ok(e) => e,
            Err(e) => {
                // A record all the same, so `--watch` and `executions` see the failure.
                progress(&format!("could not start: {e}"));
                let record = crate::local_pipeline::Execution {
                    execution_id: inputs
                        .work
                        .file_name()
                        .map_or("local".into(), |n| n.to_string_lossy().into_owned()),
                    commit: String::new(),
                    trigger: inputs.trigger.clone(),
                    started: crate::probe::record::now_rfc3339(),
                    status: "Failed".into(),
                    stages: Vec::new(),
                };
                let _ = std::fs::write(
                    inputs.work.join("execution.json"),
                    serde_json::to_vec_pretty(&record).unwrap_or_default(),
                );
                return Err(Failure::usage(
                    anyhow::Error::new(e).context("running the pipeline locally"),
                ));
            }
        };
    print_execution(ctx, &execution);
    Ok(if execution.status == "Succeeded" {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

fn engine_failure(e: LocalError) -> Failure {
    match e {
        LocalError::Interrupted => Failure {
            exit: Exit::Interrupted,
            error: anyhow::Error::new(e),
        },
        e if e.is_usage() => Failure::usage(e),
        e => Failure::external(anyhow::Error::new(e).context("running the local service")),
    }
}

fn deploy_cmd(ctx: &Ctx, args: &LocalDeployArgs) -> Result<Exit, Failure> {
    let opts = local_settings::resolve_deploy(args, ctx.config.as_deref(), &ctx.cwd)
        .map_err(Failure::usage)?;
    let (set, shown) = super::artifacts::read_valid_set(ctx, args.artifacts.as_deref())?;
    let rev = revision::prepare(&set).map_err(|e| Failure::usage(anyhow!("`{shown}`: {e}")))?;
    // ECS-native runs the hooks of [local.native.hooks], not the AppSpec's.
    let missing = if opts.native.is_some() {
        Vec::new()
    } else {
        revision::missing_functions(&rev, &opts.functions)
    };
    if let Some((event, function)) = missing.first() {
        return Err(Failure::usage(anyhow!(
            "the AppSpec's {event} hook calls `{function}`, which has no local command: nothing was started\n  hint: add it to cutover.toml:\n    [local.functions]\n    \"{function}\" = \"./scripts/smoke-test.sh\"\n  (or pass --function '{function}=COMMAND')",
            event = event.as_str()
        )));
    }
    let mut opts = opts;
    opts.live = !ctx.quiet;
    for (container, name, value_from) in rev.spec.secrets() {
        if opts.secrets.contains_key(name) {
            continue;
        }
        match std::env::var(name) {
            Ok(v) => {
                opts.secrets.insert(name.to_string(), v);
            }
            Err(_) => {
                return Err(Failure::usage(anyhow!(
                    "container `{container}` takes the secret `{name}` from `{value_from}`, which cannot be read here: nothing was started\n  hint: add it to cutover.toml as [local.secrets] {name} = \"...\", or set {name} in the environment"
                )))
            }
        }
    }
    // With an endpoint (moto in the tests), register the task definition as the action does.
    let arn = match std::env::var(crate::env_vars::AWS_ENDPOINT_URL) {
        Ok(endpoint) if !endpoint.is_empty() => Some(ctx.block_on(async {
            let sdk = crate::aws::sdk_config(None).await;
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            let aws = crate::live::Aws { sdk, region };
            crate::live::service::register_task_definition(&aws, &rev.taskdef)
                .await
                .map_err(|e| {
                    Failure::external(
                        anyhow::Error::new(e)
                            .context(format!("registering taskdef.json at {endpoint}")),
                    )
                })
        })?),
        _ => None,
    };
    if let Some(arn) = &arn {
        if !ctx.quiet {
            eprintln!("local: registered {arn}");
        }
    }
    let quiet = ctx.quiet;
    // On a terminal the probe's status line is redrawn in place: clear it before a line.
    let clear = {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal()
            && !matches!(std::env::var_os("TERM"), Some(t) if t == "dumb")
    };
    let progress = move |n: &local::Note| {
        if !quiet {
            let c = if clear { "\r\x1b[K" } else { "" };
            eprintln!("{c}local {:>8.3} s  {}", n.since_start_ms / 1000.0, n.what);
        }
    };
    let outcome = ctx
        .block_on(local::deploy(&opts, &rev, arn, interrupted(), &progress))
        .map_err(engine_failure)?;
    let d = &outcome.deployment;
    let probe_failed = outcome
        .probe
        .as_ref()
        .is_some_and(|p| p.summary.failed > 0 || p.summary.total == 0);
    match ctx.output {
        OutputFormat::Json => print_json(&outcome),
        OutputFormat::Text => {
            crate::say!(
                "deployment   {} {:?}{}",
                d.id,
                d.status,
                if outcome.created && d.status == DeploymentStatus::Succeeded {
                    " (the service was created: this revision serves)"
                } else {
                    ""
                }
            );
            crate::say!(
                "revision     {} {}",
                outcome.revision,
                outcome.image.as_deref().unwrap_or("")
            );
            crate::say!("production   {}", outcome.production_url);
            crate::say!("test         {}", outcome.test_url);
            for e in &d.events {
                let took = match (e.start_unix_us, e.end_unix_us) {
                    (Some(a), Some(b)) => {
                        format!("{:>8.0} ms", b.saturating_sub(a) as f64 / 1000.0)
                    }
                    _ => String::new(),
                };
                crate::say!(
                    "  {:<22} {:<10} {took:>11}  {}",
                    e.name.as_str(),
                    format!("{:?}", e.status),
                    e.message.as_deref().unwrap_or("")
                );
            }
            if let Some(err) = &d.error {
                crate::say!(
                    "error        {} at {}: {}",
                    err.code,
                    err.event,
                    err.message
                );
            }
            if d.rolled_back {
                crate::say!("rolled back  production and test listeners on the original revision; the replacement was removed");
            }
            if let Some(p) = &outcome.probe {
                crate::say!(
                    "probe        {} requests, {} failed, versions {}",
                    p.summary.total,
                    p.summary.failed,
                    p.versions.join(" → ")
                );
                for f in &p.failures {
                    crate::say!(
                        "  failed     {} during {} at green {} %",
                        f.count,
                        f.event.map_or("(before the first event)", |e| e.as_str()),
                        f.green_percent
                    );
                }
                crate::say!("records      {}", p.records_file.display());
                crate::say!("picture      {}", p.svg_file.display());
            }
            crate::say!("report       {}", outcome.report_file.display());
        }
    }
    Ok(match d.status {
        DeploymentStatus::Stopped => Exit::Interrupted,
        DeploymentStatus::Failed if outcome.infrastructure_failure => Exit::External,
        DeploymentStatus::Succeeded if !probe_failed => Exit::Ok,
        _ => Exit::CheckFailed,
    })
}

fn common(ctx: &Ctx, args: &LocalArgs) -> Result<local_settings::LocalCommon, Failure> {
    local_settings::resolve_common(args, ctx.config.as_deref(), &ctx.cwd).map_err(Failure::usage)
}

fn no_service(c: &local_settings::LocalCommon) -> Failure {
    Failure::usage(anyhow!(
        "no local service in `{}`\n  hint: `cutover local deploy` creates it",
        c.state_dir.display()
    ))
}

fn status_cmd(ctx: &Ctx, args: &LocalArgs) -> Result<Exit, Failure> {
    let c = common(ctx, args)?;
    let status = ctx
        .block_on(local::status(&c.state_dir, &c.docker))
        .map_err(engine_failure)?
        .ok_or_else(|| no_service(&c))?;
    match ctx.output {
        OutputFormat::Json => print_json(&status),
        OutputFormat::Text => {
            crate::say!(
                "revision     {}",
                status
                    .revision
                    .map_or("(none serves)".to_string(), |r| r.to_string())
            );
            crate::say!("image        {}", status.image.as_deref().unwrap_or("-"));
            crate::say!("production   {}", status.listeners.production);
            crate::say!("test         {}", status.listeners.test);
            for k in &status.containers {
                crate::say!(
                    "  task {:<8} {:<16} {:<8} {} {}",
                    k.task,
                    k.name,
                    k.state,
                    k.id,
                    k.image
                );
            }
            if let Some(d) = &status.last_deployment {
                crate::say!(
                    "last         {} {:?} ({} → revision {})",
                    d.id,
                    d.status,
                    d.deployment_config,
                    d.to_revision
                );
                if let Some(e) = &d.error {
                    crate::say!("  error      {} at {}: {}", e.code, e.event, e.message);
                }
            }
        }
    }
    Ok(Exit::Ok)
}

fn logs_cmd(ctx: &Ctx, args: &LocalArgs, container: Option<&str>) -> Result<Exit, Failure> {
    let c = common(ctx, args)?;
    let logs = ctx
        .block_on(local::logs(&c.state_dir, &c.docker, container))
        .map_err(engine_failure)?
        .ok_or_else(|| no_service(&c))?;
    if logs.is_empty() {
        return Err(Failure::usage(anyhow!(
            "no serving container named `{}`\n  hint: `cutover local status` lists them",
            container.unwrap_or("")
        )));
    }
    let many = logs.len() > 1;
    for (task, name, text) in logs {
        if many {
            crate::output::say_raw(&format!("==> task {task} container {name} <==\n"));
        }
        crate::output::say_raw(&text);
    }
    Ok(Exit::Ok)
}

fn down_cmd(ctx: &Ctx, args: &LocalArgs) -> Result<Exit, Failure> {
    let c = common(ctx, args)?;
    let removed = ctx
        .block_on(local::down(&c.state_dir, &c.docker))
        .map_err(engine_failure)?;
    match ctx.output {
        OutputFormat::Json => print_json(&removed),
        OutputFormat::Text => {
            if !ctx.quiet {
                crate::say!(
                    "removed {} container(s), {} network(s){}{}",
                    removed.containers,
                    removed.networks,
                    if removed.haproxy { ", HAProxy" } else { "" },
                    if removed.had_state {
                        ""
                    } else {
                        " (there was no local service)"
                    }
                );
            }
        }
    }
    Ok(Exit::Ok)
}
