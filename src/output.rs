//! Exit codes, the failure type that carries one, and printing of messages for people.

use std::fmt;

/// The process exit codes; the README's table lists the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The check failed: invalid artifacts, failed requests, verify problems.
    CheckFailed = 1,
    /// Usage or configuration error, or unreadable input.
    Usage = 2,
    /// An external service failed: AWS, a registry, the Docker engine.
    External = 3,
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that ends the run, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::Usage,
            error: error.into(),
        }
    }
    pub fn external(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::External,
            error: error.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.error)?;
        for cause in self.error.chain().skip(1) {
            write!(f, "\n  caused by: {cause}")?;
        }
        Ok(())
    }
}

/// `--output`: text for people, json for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Writes a line to stdout. Unlike `println!`, a closed pipe (`cutover … | head`) is not a
/// panic: the rest of the output is dropped.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Writes text to stdout as is, ignoring a closed pipe.
pub fn say_raw(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Prints machine output to stdout; a failed write (closed pipe) is not worth a panic.
pub fn print_json<T: serde::Serialize>(value: &T) {
    if let Ok(text) = serde_json::to_string_pretty(value) {
        say!("{text}");
    }
}

/// Prints one JSON object as one line (a stream of events for machines, e.g. `deploy --output
/// json`), ignoring a closed pipe.
pub fn print_json_line<T: serde::Serialize>(value: &T) {
    if let Ok(text) = serde_json::to_string(value) {
        say!("{text}");
    }
}

/// A path as messages show it: relative to `cwd` when it is inside it.
pub fn display_path(p: &std::path::Path, cwd: &std::path::Path) -> String {
    p.strip_prefix(cwd).unwrap_or(p).display().to_string()
}
