//! `cutover probe` and `cutover report`.

use anyhow::Context as _;

use super::Ctx;
use crate::output::{print_json, Exit, Failure, OutputFormat};

pub(crate) fn probe_cmd(ctx: &Ctx, args: crate::cli::ProbeArgs) -> Result<Exit, Failure> {
    use crate::probe::{self, ProbeError, StopReason};
    let opts = probe::ProbeOptions {
        url: args.url,
        rate: args.rate,
        concurrency: args.concurrency,
        duration: args.duration,
        until_version: args.until_version,
        stable_for: args.stable_for,
        timeout: args.timeout,
        keep_alive: args.keep_alive,
        results_dir: args.results,
        max_failures: args.max_failures,
        live_status: !ctx.quiet,
        live_label: None,
        gate: None,
        // Constant memory unless a picture needs every record.
        keep_records: args.svg.is_some(),
    };
    if opts.duration.is_none() && opts.until_version.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "the probe needs an end\n  hint: pass --duration 30s, or --until-version V (or both)"
        )));
    }
    let outcome = ctx.block_on(probe::run(&opts)).map_err(|e| {
        let usage = matches!(
            e,
            ProbeError::HttpsUnsupported { .. }
                | ProbeError::InvalidUrl { .. }
                | ProbeError::InvalidOption { .. }
        );
        let err = anyhow::Error::new(e);
        if usage {
            Failure::usage(err)
        } else {
            Failure::external(err)
        }
    })?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, probe::svg::render(&outcome.records, &outcome.summary))
            .with_context(|| format!("writing `{}`", svg.display()))
            .map_err(Failure::usage)?;
    }
    match ctx.output {
        OutputFormat::Json => print_json(&outcome.summary),
        OutputFormat::Text => {
            crate::output::say_raw(&probe::render_text(&outcome.summary));
            if !ctx.quiet {
                crate::say!("records        {}", outcome.records_path.display());
                if let Some(r) = outcome.until_version_reached {
                    crate::say!(
                        "until-version  {}",
                        if r { "reached" } else { "NOT reached" }
                    );
                }
                crate::say!(
                    "result         {}",
                    if outcome.passed { "PASS" } else { "FAIL" }
                );
            }
        }
    }
    Ok(match (outcome.stop, outcome.passed) {
        (StopReason::Interrupted, _) => Exit::Interrupted,
        (_, true) => Exit::Ok,
        (_, false) => Exit::CheckFailed,
    })
}

pub(crate) fn report_cmd(ctx: &Ctx, args: &crate::cli::ReportArgs) -> Result<Exit, Failure> {
    use crate::probe;
    // A picture needs every record; the summary alone streams the file in constant memory.
    let summary = match &args.svg {
        Some(svg) => {
            let records = probe::report::read_records(&args.file).map_err(Failure::usage)?;
            let summary = probe::summarize(&records);
            std::fs::write(svg, probe::svg::render(&records, &summary))
                .with_context(|| format!("writing `{}`", svg.display()))
                .map_err(Failure::usage)?;
            summary
        }
        None => probe::report::summarize_file(&args.file).map_err(Failure::usage)?,
    };
    match ctx.output {
        OutputFormat::Json => print_json(&summary),
        OutputFormat::Text => crate::output::say_raw(&probe::render_text(&summary)),
    }
    Ok(if summary.failed == 0 {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}
