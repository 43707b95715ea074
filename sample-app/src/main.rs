//! `sample-app`: the small HTTP service cutover deploys in its demo and tests.
//!
//! `GET /version` answers the version fixed at build time, so two builds of the same code
//! (`APP_VERSION=0.0.1`, `APP_VERSION=0.0.2`) can be told apart by a probe during a blue/green
//! cutover. On SIGTERM it drains instead of dropping requests (see `server`).
//!
//! Exit codes: 0 drained cleanly, 1 the drain hit `SHUTDOWN_TIMEOUT_MS` with requests still
//! open, 2 usage or config error, 3 could not listen.

/// `eprintln!` that cannot panic: a closed stderr (Rust ignores SIGPIPE) must not take the
/// server down mid-drain.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod config;
mod http;
mod routes;
mod server;
mod signal;

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(config::Parsed::Run(config)) => config,
        Ok(config::Parsed::Help) => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(config::USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            log!("error: {err}\n\n{}", config::USAGE);
            return ExitCode::from(2);
        }
    };
    match server::run(&config) {
        Ok(server::Outcome::Drained) => ExitCode::SUCCESS,
        Ok(server::Outcome::TimedOut) => ExitCode::from(1),
        Err(err) => {
            log!("error: {err}");
            ExitCode::from(3)
        }
    }
}
