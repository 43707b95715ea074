//! `cutover rehearse`: flags to options, the rehearsal, and its report.

use super::{interrupted, Ctx};
use crate::output::{print_json, Exit, Failure, OutputFormat};

/// Resolves `cutover rehearse`'s flags into the rehearsal's options.
pub(crate) fn rehearse_options(
    args: crate::cli::RehearseArgs,
) -> Result<crate::rehearse::Options, Failure> {
    use crate::rehearse::{backends::Spec, plan::Plan, Options};
    let side = |role: &str, cmd: Option<String>, image: Option<String>| {
        match (cmd, image) {
        (Some(cmd), _) => Spec::command(&cmd).map_err(|why| {
            Failure::usage(anyhow::anyhow!(
                "--{role}-cmd `{cmd}`: {why}\n  hint: pass the program and its arguments, quoted as in a shell, e.g. --{role}-cmd 'sample-app --port {{port}}'"
            ))
        }),
        (None, Some(image)) => Ok(Spec::Image {
            image,
            container_port: args.container_port,
        }),
        (None, None) => Err(Failure::usage(anyhow::anyhow!(
            "no {role} backend\n  hint: pass --{role}-cmd CMD or --{role}-image IMAGE"
        ))),
    }
    };
    let blue = side("blue", args.blue_cmd, args.blue_image)?;
    let green = side("green", args.green_cmd, args.green_image)?;
    for (flag, path) in [
        ("--health-path", &args.health_path),
        ("--version-path", &args.version_path),
    ] {
        if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
            return Err(Failure::usage(anyhow::anyhow!(
                "{flag} `{path}` must be a path starting with / and without spaces"
            )));
        }
    }
    if args.interval.is_zero() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--interval must be longer than zero"
        )));
    }
    let rate = crate::probe::Rate::Fixed(args.rate);
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e6) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--rate `{}` must be a number of requests per second from 0.001 to 1000000",
            args.rate
        )));
    }
    Ok(Options {
        blue,
        green,
        plan: Plan {
            strategy: args.strategy,
            interval: args.interval,
        },
        termination_wait: args.termination_wait,
        probe_before: args.probe_before,
        probe_after: args.probe_after,
        rate,
        timeout: args.timeout,
        results_dir: args.results,
        svg: args.svg,
        haproxy: args.haproxy,
        docker: args.docker,
        port: args.port,
        health_path: args.health_path,
        version_path: args.version_path,
        start_timeout: args.start_timeout,
        stop_timeout: args.stop_timeout,
        inject: args.inject_outage,
    })
}

pub(crate) fn rehearse_cmd(ctx: &Ctx, args: crate::cli::RehearseArgs) -> Result<Exit, Failure> {
    use crate::rehearse::{self, RehearseError};
    let opts = rehearse_options(args)?;
    let quiet = ctx.quiet;
    let progress = move |e: &rehearse::Event| {
        if !quiet {
            eprintln!("rehearse {:>9.3} s  {}", e.since_start_ms / 1000.0, e.what);
        }
    };
    // Ctrl-C, or SIGTERM (a CI timeout, `kill`): either way the children are stopped first.
    let interrupt = interrupted();
    let outcome = ctx
        .block_on(rehearse::rehearse(&opts, interrupt, &progress))
        .map_err(|e| match e {
            RehearseError::Interrupted => Failure {
                exit: Exit::Interrupted,
                error: anyhow::Error::new(e),
            },
            e if e.is_usage() => Failure::usage(e),
            e => Failure::external(anyhow::Error::new(e).context("rehearsing the cutover")),
        })?;
    let report = &outcome.report;
    match ctx.output {
        OutputFormat::Json => print_json(report),
        OutputFormat::Text => {
            crate::output::say_raw(&crate::probe::render_text(&report.summary));
            if !ctx.quiet {
                let version = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
                crate::say!(
                    "strategy     {} ({} ms a minute), termination wait {} ms{}",
                    report.strategy,
                    report.interval_ms,
                    report.termination_wait_ms,
                    report
                        .outage
                        .as_ref()
                        .map(|o| format!(", outage injected: {o}"))
                        .unwrap_or_default()
                );
                crate::say!(
                    "blue         {} at {}, version {}",
                    report.blue.run,
                    report.blue.address,
                    version(&report.blue.version)
                );
                crate::say!(
                    "green        {} at {}, version {}",
                    report.green.run,
                    report.green.address,
                    version(&report.green.version)
                );
                for e in &report.events {
                    let at = e
                        .probe_offset_ms
                        .map(|ms| format!("{:+.3} s", ms / 1000.0))
                        .unwrap_or_else(|| "before".into());
                    crate::say!("  {at:>10}  {}", e.what);
                }
                crate::say!("records      {}", report.records_file.display());
                crate::say!("picture      {}", report.svg_file.display());
                crate::say!("report       {}", report.report_file.display());
                for p in &report.problems {
                    crate::say!("problem      {p}");
                }
                crate::say!(
                    "result       {}",
                    if report.passed { "PASS" } else { "FAIL" }
                );
            }
        }
    }
    if let Some(e) = outcome.error {
        return Err(Failure::external(
            anyhow::Error::new(e).context("the rehearsal stopped early"),
        ));
    }
    Ok(if outcome.interrupted {
        Exit::Interrupted
    } else if report.passed {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}
