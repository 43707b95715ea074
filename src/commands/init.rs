//! `cutover init [--from-service CLUSTER/SERVICE]`: the files written, the dry-run run, the next
//! commands printed; with a service, `cutover verify`'s findings as a to-do list.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use super::Ctx;
use crate::cli::InitArgs;
use crate::image_ref::ImageRef;
use crate::init::{self, files, InitError, Mode, Setup};
use crate::live::discover::{self, Controller};
use crate::output::{Exit, Failure};

/// The container name of pipeline/template.yaml's task definition and service.
const TEMPLATE_CONTAINER: &str = "app";
const DEFAULT_REGION: &str = "us-east-1";

pub(crate) fn init_cmd(ctx: &Ctx, args: InitArgs) -> Result<Exit, Failure> {
    let root = match &args.dir {
        Some(d) => ctx.cwd.join(d),
        None => ctx.cwd.clone(),
    };
    if !root.is_dir() {
        return Err(usage(InitError::Usage(format!(
            "--dir `{}` is not a directory",
            root.display()
        ))));
    }
    let setup = plan(ctx, &root, &args)?;
    let written = files::write(&root, &init::files(&setup), args.force)
        .with_context(|| format!("writing the files under `{}`", root.display()))
        .map_err(Failure::usage)?;
    report(ctx, &written);

    // The dry-run, as a user would run it next: the plan, or what is wrong.
    let exe = std::env::current_exe()
        .context("finding the cutover binary")
        .map_err(Failure::usage)?;
    let dry = run_self(&exe, &root, &["dry-run"])?;
    if !dry.success() {
        crate::say!("\nthe dry-run failed (above): fix cutover.toml or ecs/taskdef.json, then run `cutover dry-run`");
        return Ok(match dry.code() {
            Some(1) => Exit::CheckFailed,
            Some(2) => Exit::Usage,
            _ => Exit::External,
        });
    }
    if !ctx.quiet {
        for note in init::notes(&setup) {
            crate::say!("note: {note}");
        }
    }
    if let Some(svc) = &setup.from_service {
        crate::say!("\nto do, from `cutover verify` on {svc} (a finding is something to fix before the first deployment):");
        let mut verify = vec!["verify"];
        if setup.mode == Mode::EcsNative {
            verify.extend(["--mode", "ecs-native"]);
        }
        let _ = run_self(&exe, &root, &verify)?;
    }
    if !ctx.quiet {
        crate::say!("\nnext:");
        for (i, c) in init::next_commands(&setup).iter().enumerate() {
            crate::say!("  {}. {c}", i + 1);
        }
    }
    Ok(Exit::Ok)
}

fn usage(e: InitError) -> Failure {
    Failure::usage(anyhow::Error::new(e))
}

/// Works out the setup from the repository, and from the service when one is given.
fn plan(ctx: &Ctx, root: &Path, args: &InitArgs) -> Result<Setup, Failure> {
    let from_service = match &args.from_service {
        Some(from) => Some(
            from.split_once('/')
                .filter(|(c, s)| !c.is_empty() && !s.is_empty() && !s.contains('/'))
                .ok_or_else(|| {
                    usage(InitError::Usage(format!(
                        "--from-service `{from}` is not CLUSTER/SERVICE\n  hint: e.g. --from-service prod/shop"
                    )))
                })?,
        ),
        None => None,
    };
    let dockerfile = files::choose_dockerfile(root, args.dockerfile.as_deref()).map_err(usage)?;
    let text = std::fs::read_to_string(root.join(&dockerfile))
        .with_context(|| format!("reading `{}`", dockerfile.display()))
        .map_err(Failure::usage)?;
    let context = dockerfile
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    // The region as given; else, for a service, the SDK's chain (AWS_REGION, AWS_DEFAULT_REGION
    // through the profile); else the template's default.
    let given_region = args.region.clone().filter(|r| !r.is_empty());
    let region = given_region
        .clone()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());

    if let Some((cluster, service)) = from_service {
        let from = format!("{cluster}/{service}");
        let (found, region) = ctx.block_on(async {
            let sdk = crate::aws::sdk_config(given_region.as_deref()).await;
            let region = sdk
                .region()
                .map(|r| r.as_ref().to_string())
                .filter(|r| !r.is_empty())
                .ok_or(crate::live::LiveError::NoRegion)?;
            let aws = crate::live::Aws {
                sdk,
                region: region.clone(),
            };
            discover::discover(&aws, cluster, service)
                .await
                .map(|found| (found, region))
        })?;
        let repository = args
            .repository
            .clone()
            .or_else(|| {
                found
                    .image
                    .as_deref()
                    .and_then(|i| ImageRef::parse(i).ok())
                    .map(|r| r.repository())
            })
            .unwrap_or_else(|| init::placeholder_repository(service, &region));
        let name = args
            .name
            .clone()
            .or_else(|| {
                found.taskdef["taskDefinition"]["family"]
                    .as_str()
                    .map(init::service_name)
            })
            .unwrap_or_else(|| init::service_name(service));
        return Ok(Setup {
            name,
            dockerfile,
            context,
            container: found.container,
            port: found.port,
            health_path: args.health_path.clone(),
            repository,
            region,
            region_known: true,
            cluster: found.cluster,
            service: found.service,
            mode: match found.controller {
                Controller::CodeDeploy {
                    application,
                    deployment_group,
                } => Mode::CodeDeploy {
                    application,
                    deployment_group,
                },
                Controller::EcsNative => Mode::EcsNative,
            },
            live_taskdef: Some(found.taskdef),
            from_service: Some(from),
        });
    }

    let port = match args.port {
        Some(p) => p,
        None => init::exposed_port(&text, &dockerfile)
            .map_err(usage)?
            .ok_or_else(|| usage(InitError::NoPort(dockerfile.clone())))?,
    };
    let name = args.name.clone().unwrap_or_else(|| {
        init::service_name(
            &root
                .canonicalize()
                .unwrap_or_else(|_| root.to_path_buf())
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        )
    });
    Ok(Setup {
        repository: args
            .repository
            .clone()
            .unwrap_or_else(|| init::placeholder_repository(&name, &region)),
        dockerfile,
        context,
        container: TEMPLATE_CONTAINER.to_string(),
        port,
        health_path: args.health_path.clone(),
        region,
        region_known: given_region.is_some(),
        // The stack (pipeline/template.yaml, stack name = the service's name) names the
        // application after itself and the group `<stack>-dg`.
        cluster: name.clone(),
        service: name.clone(),
        mode: Mode::CodeDeploy {
            application: name.clone(),
            deployment_group: format!("{name}-dg"),
        },
        name,
        live_taskdef: None,
        from_service: None,
    })
}

fn report(ctx: &Ctx, w: &files::Written) {
    if ctx.quiet {
        return;
    }
    let list = |label: &str, paths: &[PathBuf]| {
        for p in paths {
            crate::say!("{label:<10} {}", p.display());
        }
    };
    list("wrote", &w.wrote);
    list("replaced", &w.replaced);
    list("left alone", &w.kept);
    if !w.kept.is_empty() {
        crate::say!("           (it exists with other content; --force replaces it)");
    }
    if w.nothing_changed() {
        crate::say!(
            "nothing changed: {} file(s) already as init writes them{}",
            w.unchanged.len(),
            if w.kept.is_empty() {
                ""
            } else {
                ", the others left alone"
            }
        );
    }
}

/// Runs this binary in `root` with its output passed through.
fn run_self(exe: &Path, root: &Path, args: &[&str]) -> Result<std::process::ExitStatus, Failure> {
    Command::new(exe)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running `cutover {}`", args.join(" ")))
        .map_err(Failure::external)
}
