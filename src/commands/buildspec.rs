//! `cutover buildspec run`: the flags to [`Options`], the build of [`crate::buildspec::local`],
//! and its summary (text or `--output json` on stdout).

use std::time::SystemTime;

use crate::buildspec::local::{self, Summary};
use crate::buildspec::options::{git_head, machine_env, Options};
use crate::buildspec::run::Log;
use crate::cli::BuildspecRunArgs;
use crate::output::{print_json, Exit, Failure, OutputFormat};
use crate::problem::Severity;

use super::Ctx;

pub(crate) fn run_cmd(ctx: &Ctx, args: &BuildspecRunArgs) -> Result<Exit, Failure> {
    let machine = machine_env();
    let opts = Options::resolve(&ctx.cwd, args, &machine, git_head, SystemTime::now())
        .map_err(Failure::usage)?;
    let failure = |e: local::LocalError| {
        if e.is_usage() {
            Failure::usage(e)
        } else {
            Failure::external(e)
        }
    };
    let plan = local::read_plan(&opts).map_err(failure)?;
    for note in &plan.notes {
        eprintln!("warning: {note}");
    }
    let log = Log { quiet: ctx.quiet };
    let Some(summary) =
        local::run(ctx.handle(), &opts, &plan, machine, log, &ctx.cwd).map_err(failure)?
    else {
        eprintln!("error: interrupted: the build was stopped");
        return Ok(Exit::Interrupted);
    };
    match ctx.output {
        OutputFormat::Json => print_json(&summary),
        OutputFormat::Text => print_summary(&summary, ctx.quiet),
    }
    Ok(if summary.succeeded {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

fn print_summary(s: &Summary, quiet: bool) {
    for a in &s.artifacts {
        for p in &a.problems {
            if quiet && p.severity == Severity::Warning {
                continue;
            }
            crate::say!("{}: {p}", a.zip);
        }
    }
    if quiet {
        if let Some(e) = &s.upload_error {
            eprintln!("error: UPLOAD_ARTIFACTS failed: {e}");
        }
        for p in s.phases.iter().filter(|p| p.status == "FAILED") {
            if let (Some(c), Some(r)) = (&p.failed_command, &p.reason) {
                eprintln!("error: {} failed: `{c}`: {r}", p.phase);
            }
        }
        return;
    }
    crate::say!(
        "build            {}  ({}, build number {})",
        if s.succeeded { "SUCCEEDED" } else { "FAILED" },
        s.build_id,
        s.build_number
    );
    for p in &s.phases {
        let mut line = format!("{:<16} {:<9}", p.phase, p.status);
        if p.status != "SKIPPED" {
            line.push_str(&format!("  {:>6.2}s", p.duration_ms as f64 / 1000.0));
            if p.phase != "UPLOAD_ARTIFACTS" {
                let plural = if p.commands == 1 { "" } else { "s" };
                line.push_str(&format!("  {} command{plural}", p.commands));
            }
        }
        match (&p.failed_command, &p.reason) {
            (Some(c), Some(r)) => line.push_str(&format!("  `{c}`: {r}")),
            (None, Some(r)) => line.push_str(&format!("  {r}")),
            _ => {}
        }
        crate::say!("{}", line.trim_end());
    }
    for (k, v) in &s.exported_variables {
        match v.as_str() {
            Some(v) => crate::say!("exported         {k}={v}"),
            None => crate::say!("exported         {k} (unset)"),
        }
    }
    for a in &s.artifacts {
        let what = match &a.id {
            Some(id) => format!("artifact {id}"),
            None => "artifact".to_string(),
        };
        let check = if !a.validated {
            String::new()
        } else if a.valid {
            "  (valid)".to_string()
        } else {
            "  (invalid)".to_string()
        };
        crate::say!("{what:<16} {}{check}: {}", a.zip, a.files.join(" "));
    }
}
