//! `cutover hooks install`.
use anyhow::Context as _;

use super::Ctx;
use crate::output::{Exit, Failure};

pub(crate) fn install_cmd(ctx: &Ctx, force: bool) -> Result<Exit, Failure> {
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
