//! `cutover hooks install`.
use anyhow::Context as _;

use crate::output::{Exit, Failure};
use crate::run::Ctx;

pub(crate) fn hooks_install(ctx: &Ctx, force: bool) -> Result<Exit, Failure> {
    let binary = std::env::current_exe()
        .context("finding the cutover binary")
        .map_err(Failure::usage)?;
    let config = ctx.config.as_deref().map(|c| ctx.cwd.join(c));
    let path = crate::hooks::install(&ctx.cwd, &binary, config.as_deref(), force)
        .map_err(Failure::usage)?;
    if !ctx.quiet {
        crate::say!(
            "installed {}: `git push` now runs `cutover dry-run` first",
            path.display()
        );
    }
    Ok(Exit::Ok)
}
