//! cutover: writes and checks the artifacts of an ECS blue/green deployment through CodePipeline,
//! in the CodeBuild step and, as a dry-run, on a developer's machine; probes a cutover, and
//! rehearses one locally behind HAProxy.

pub mod artifacts;
pub mod aws;
pub mod buildspec;
pub mod cli;
pub mod commands;
pub mod env_vars;
pub mod hooks;
pub mod image;
pub mod image_ref;
pub mod init;
pub mod lifecycle;
pub mod live;
pub mod local;
pub mod local_pipeline;
pub mod output;
pub mod plan;
pub mod probe;
pub mod problem;
pub mod proc;
pub mod rehearse;
pub mod secret;
pub mod settings;
pub mod validate;

use clap::Parser as _;

/// Entry point used by `main.rs`: parses the command line, runs, prints the error chain, and
/// returns the process exit code.
pub fn main_entry() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return e.exit_code();
        }
    };
    match commands::run(cli) {
        Ok(exit) => exit.code(),
        Err(failure) => {
            eprintln!("{failure}");
            failure.exit.code()
        }
    }
}
