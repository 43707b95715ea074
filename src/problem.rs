//! One finding of a check over an artifact set: the rule, how bad, where (file and JSON path),
//! what and what to do. Below both the renderer (which reports problems of its inputs) and the
//! validator, so that neither imports the other for it.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding: `rule` is a stable identifier, `path` a JSON path into `file` (`$` is the whole file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub fn error(
        rule: &'static str,
        file: &str,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Problem {
            rule,
            severity: Severity::Error,
            file: file.to_string(),
            path: path.to_string(),
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}[{}]: {}: {}: {}",
            self.rule, self.file, self.path, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}
