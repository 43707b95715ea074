//! `cutover buildspec`: runs a CodeBuild buildspec (version 0.2) on this machine.
//!
//! This file holds the buildspec model, its parsing (errors name the file, the key and the line)
//! and [`plan`], which checks a parsed buildspec against what CodeBuild accepts and what a local
//! run can do, and turns it into a [`Plan`]. All of it is pure. The other rooms:
//! [`options`] (the flags and CodeBuild's variables for this build), [`glob`] (artifact path
//! patterns, pure), [`artifacts`] (file selection, pure, and packaging), [`run`] (the shell and
//! the phases) and [`local`] (a whole build, from the file to the checked summary).

pub mod artifacts;
pub mod glob;
pub mod local;
pub mod options;
pub mod run;

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

/// The buildspec CodeBuild reads when the project names none, relative to the source directory.
pub const DEFAULT_FILE: &str = "buildspec.yml";

/// The prefix CodeBuild reserves for its own variables.
pub const RESERVED_PREFIX: &str = "CODEBUILD_";

// ---------------------------------------------------------------------------------------------
// The model, as written in the file.

/// A buildspec as written. Keys CodeBuild knows but a local run cannot honour are kept as raw
/// values so that [`plan`] can name them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Buildspec {
    pub version: Version,
    #[serde(default)]
    pub run_as: Option<Scalar>,
    #[serde(default)]
    pub env: Option<Env>,
    #[serde(default)]
    pub proxy: Option<Value>,
    #[serde(default)]
    pub batch: Option<Value>,
    pub phases: Phases,
    #[serde(default)]
    pub reports: Option<Value>,
    #[serde(default)]
    pub artifacts: Option<ArtifactsSpec>,
    #[serde(default)]
    pub cache: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Env {
    #[serde(default)]
    pub shell: Option<Scalar>,
    #[serde(default)]
    pub variables: Option<Pairs<Scalar>>,
    #[serde(default)]
    pub parameter_store: Option<Value>,
    #[serde(default)]
    pub exported_variables: Option<Vec<Scalar>>,
    #[serde(default)]
    pub secrets_manager: Option<Value>,
    #[serde(default)]
    pub git_credential_helper: Option<YesNo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    #[serde(default)]
    pub install: Option<PhaseSpec>,
    #[serde(default)]
    pub pre_build: Option<PhaseSpec>,
    #[serde(default)]
    pub build: Option<PhaseSpec>,
    #[serde(default)]
    pub post_build: Option<PhaseSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PhaseSpec {
    #[serde(default)]
    pub run_as: Option<Scalar>,
    #[serde(default)]
    pub on_failure: Option<Scalar>,
    #[serde(default)]
    pub runtime_versions: Option<Value>,
    #[serde(default)]
    pub commands: Option<Vec<Scalar>>,
    #[serde(default)]
    pub finally: Option<Vec<Scalar>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArtifactsSpec {
    #[serde(default)]
    pub files: Option<OneOrMany>,
    #[serde(default)]
    pub name: Option<Scalar>,
    #[serde(default)]
    pub discard_paths: Option<YesNo>,
    #[serde(default)]
    pub base_directory: Option<Scalar>,
    #[serde(default)]
    pub exclude_paths: Option<OneOrMany>,
    #[serde(default)]
    pub enable_symlinks: Option<YesNo>,
    #[serde(default)]
    pub s3_prefix: Option<Scalar>,
    #[serde(default)]
    pub secondary_artifacts: Option<Pairs<ArtifactsSpec>>,
}

/// `version`: only 0.2 runs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version;

/// A YAML scalar read as text (`1`, `true` and `0.5` are the strings CodeBuild would see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

/// `yes`/`no` (or `true`/`false`), as CodeBuild's flags are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YesNo(pub bool);

/// One scalar or a list of them (`files: '**/*'` or `files: [a, b]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

/// A mapping with string keys, in file order, duplicates refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs<T>(pub Vec<(String, T)>);

/// Errors raised inside deserialization carry a hint after this marker; [`SpecError`] splits it.
const HINT_MARK: &str = "\n  hint: ";

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(ScalarVisitor)?;
        match text.as_str() {
            "0.2" => Ok(Version),
            "0.1" => Err(de::Error::custom(format!(
                "buildspec version 0.1 is deprecated and not supported here (it ran each command in its own shell){HINT_MARK}write `version: 0.2`"
            ))),
            other => Err(de::Error::custom(format!(
                "unsupported buildspec version `{other}`{HINT_MARK}write `version: 0.2`"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor).map(Scalar)
    }
}

impl<'de> Deserialize<'de> for YesNo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(ScalarVisitor)?;
        match text.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(YesNo(true)),
            "no" | "false" => Ok(YesNo(false)),
            _ => Err(de::Error::custom(format!("`{text}` is not `yes` or `no`"))),
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a list of paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pairs<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Pairs<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<T>, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(Scalar(key)) = map.next_key()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("the key `{key}` appears twice")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Reads any YAML scalar as the text CodeBuild would use; explains the common mistakes.
struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom(format!(
            "expected a string, found nothing (null){HINT_MARK}write a value, or quote an empty one: \"\""
        )))
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<String, A::Error> {
        Err(de::Error::custom(format!(
            "expected a string, found a mapping: YAML reads an unquoted `: ` (colon and space) as a key{HINT_MARK}quote the whole command, e.g. - \"echo a: b\""
        )))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<String, A::Error> {
        Err(de::Error::custom("expected a string, found a list"))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and notes, with file, key and line.

/// A problem with the buildspec: what, where (file, key, line) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", `{key}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "{HINT_MARK}{h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// Every problem found in one buildspec (printed after `error: `, so each further one gets its own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: "))]
pub struct SpecErrors(pub Vec<SpecError>);

/// A warning about the buildspec: a key that a local run ignores or honours only in part.
pub type Note = SpecError;

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Parses a buildspec. `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<Buildspec, SpecError> {
    let err = |line, message: String, hint: Option<&str>| SpecError {
        file: file.to_string(),
        line,
        key: None,
        message,
        hint: hint.map(str::to_string),
    };
    // The shape first: serde's message for a non-mapping names a Rust type.
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| from_yaml_error(file, e, None, text))?;
    let starter =
        Some("a buildspec is a mapping that starts with `version: 0.2` and has `phases:`");
    match value {
        Value::Mapping(_) => {}
        Value::Null => return Err(err(None, "the buildspec is empty".into(), starter)),
        other => {
            return Err(err(
                Some(1),
                format!(
                    "the buildspec is not a YAML mapping (it is {})",
                    kind(&other)
                ),
                starter,
            ))
        }
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        from_yaml_error(file, e.into_inner(), Some(path), text)
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The keys each mapping of the model accepts, for hints on unknown keys.
fn known_keys(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    Some(match last {
        "" | "." => "version, run-as, env, proxy, batch, phases, reports, artifacts, cache",
        "env" => "shell, variables, parameter-store, exported-variables, secrets-manager, git-credential-helper",
        "phases" => "install, pre_build, build, post_build",
        "install" | "pre_build" | "build" | "post_build" => {
            "run-as, on-failure, runtime-versions, commands, finally"
        }
        _ if path.starts_with("artifacts") => {
            "files, name, discard-paths, base-directory, exclude-paths, enable-symlinks, s3-prefix, secondary-artifacts"
        }
        _ => return None,
    })
}

fn from_yaml_error(
    file: &str,
    e: serde_yaml::Error,
    path: Option<String>,
    text: &str,
) -> SpecError {
    let line = e.location().map(|l| l.line());
    let mut message = e.to_string();
    if let Some(loc) = e.location() {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    let path = path.filter(|p| !p.is_empty() && p != ".");
    // serde_yaml prefixes its own path, which may stop short of the key: strip either.
    if let Some(p) = &path {
        let mut ancestor = p.as_str();
        loop {
            if let Some(stripped) = message.strip_prefix(&format!("{ancestor}: ")) {
                message = stripped.to_string();
                break;
            }
            match ancestor.rsplit_once('.') {
                Some((parent, _)) => ancestor = parent,
                None => break,
            }
        }
    }
    let (mut message, mut hint) = match message.split_once(HINT_MARK) {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (message, None),
    };
    let mut key = path.clone();
    let mut line = line;
    // serde's "unknown field `x`, expected one of ..." → our words, with the key's own line.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((name, _)) = rest.split_once('`') {
            // serde_path_to_error's path ends with the unknown key itself.
            let full = match &path {
                Some(p) if p == name || p.ends_with(&format!(".{name}")) => p.clone(),
                Some(p) => format!("{p}.{name}"),
                None => name.to_string(),
            };
            let parent = full
                .strip_suffix(name)
                .map(|p| p.trim_end_matches('.'))
                .unwrap_or_default();
            hint = known_keys(parent).map(|k| match parent {
                "" => format!("a buildspec's top-level keys are: {k}"),
                p => format!("`{p}` takes: {k}"),
            });
            message = format!("unknown key `{name}`");
            line = locate(text, &full.split('.').collect::<Vec<_>>()).or(line);
            key = Some(full);
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            if name == "version" {
                hint = Some("start the file with `version: 0.2`".into());
            }
            message = format!("`{name}` is required");
        }
    }
    SpecError {
        file: file.to_string(),
        line,
        key,
        message,
        hint,
    }
}

/// The 1-based line where a key path (`["env", "variables", "X"]`) is written, for block-style
/// YAML (what buildspecs are); `None` when the path is not found that way.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix("- ") {
            indent += 2 + (r.len() - r.trim_start().len());
            rest = r.trim_start();
        }
        let Some(key) = mapping_key(rest) else {
            continue;
        };
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        if stack.len() == path.len() && stack.iter().zip(path).all(|((_, k), p)| k == p) {
            return Some(i + 1);
        }
    }
    None
}

/// The key of a `key: value` (or `key:`) line, unquoted.
fn mapping_key(line: &str) -> Option<String> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = line[1..].find(q)? + 1;
        let after = &line[end + 1..];
        return (after.starts_with(':')).then(|| line[1..end].to_string());
    }
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t') {
            return Some(line[..i].trim_end().to_string());
        }
        if *b == b'#' && i > 0 && bytes[i - 1] == b' ' {
            return None;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The plan: what a local run does.

/// The four command phases, in CodeBuild's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 4] = [
        PhaseKind::Install,
        PhaseKind::PreBuild,
        PhaseKind::Build,
        PhaseKind::PostBuild,
    ];

    /// The key in the buildspec.
    pub fn key(self) -> &'static str {
        match self {
            PhaseKind::Install => "install",
            PhaseKind::PreBuild => "pre_build",
            PhaseKind::Build => "build",
            PhaseKind::PostBuild => "post_build",
        }
    }

    /// The name in CodeBuild's log and phase list.
    pub fn log_name(self) -> &'static str {
        match self {
            PhaseKind::Install => "INSTALL",
            PhaseKind::PreBuild => "PRE_BUILD",
            PhaseKind::Build => "BUILD",
            PhaseKind::PostBuild => "POST_BUILD",
        }
    }
}

/// `on-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// The default: a failed install or pre_build phase ends the build (after its `finally`).
    #[default]
    Abort,
    /// The next phases run; the build still fails.
    Continue,
}

/// The shell of `env.shell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    /// `/bin/sh`, CodeBuild's default on Linux.
    #[default]
    Sh,
    Bash,
}

impl Shell {
    pub fn program(self) -> &'static str {
        match self {
            Shell::Sh => "/bin/sh",
            Shell::Bash => "bash",
        }
    }
}

/// One phase as it will run; phases the file leaves out have no commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhasePlan {
    pub kind: PhaseKind,
    pub on_failure: OnFailure,
    pub commands: Vec<String>,
    pub finally: Vec<String>,
}

/// One artifact to package: the primary (`id` is `None`) or a secondary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRule {
    pub id: Option<String>,
    pub name: Option<String>,
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub exclude_paths: Vec<String>,
}

/// A checked buildspec: everything a run needs, and the warnings to print first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub shell: Shell,
    pub variables: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
    pub phases: Vec<PhasePlan>,
    pub artifacts: Vec<ArtifactRule>,
    pub notes: Vec<Note>,
}

/// Checks a parsed buildspec. `allow_unsupported` turns the errors for keys that need AWS
/// (`parameter-store`, `secrets-manager`, `batch`) into warnings.
pub fn plan(
    spec: &Buildspec,
    text: &str,
    file: &str,
    allow_unsupported: bool,
) -> Result<Plan, SpecErrors> {
    let mut c = Checker {
        text,
        file,
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let env = spec.env.clone().unwrap_or_default();

    let shell = match env.shell.as_ref().map(|s| s.0.as_str()) {
        None | Some("/bin/sh" | "sh") => Shell::Sh,
        Some("bash" | "/bin/bash" | "/usr/bin/bash") => Shell::Bash,
        Some(other) => {
            c.error(
                &["env", "shell"],
                format!("the shell `{other}` is not supported here"),
                Some("cutover runs Linux shells: `bash` or `/bin/sh`"),
            );
            Shell::Sh
        }
    };

    let mut variables = Vec::new();
    for (name, Scalar(value)) in env.variables.map(|p| p.0).unwrap_or_default() {
        if name.starts_with(RESERVED_PREFIX) {
            c.error(
                &["env", "variables", &name],
                format!("the variable name `{name}` starts with `{RESERVED_PREFIX}`, which CodeBuild reserves for its own variables"),
                Some("choose another name"),
            );
        } else if name.is_empty() {
            c.error(
                &["env", "variables"],
                "a variable has an empty name".into(),
                None,
            );
        } else {
            variables.push((name, value));
        }
    }

    let needs_aws = [
        (
            "parameter-store",
            "values from Systems Manager Parameter Store",
            env.parameter_store.is_some(),
        ),
        (
            "secrets-manager",
            "values from Secrets Manager",
            env.secrets_manager.is_some(),
        ),
    ];
    for (key, what, _) in needs_aws.into_iter().filter(|(_, _, present)| *present) {
        let message =
            format!("`env.{key}` is not supported locally: the build would run without its {what}");
        if allow_unsupported {
            c.note(
                &["env", key],
                format!("{message}; its variables are unset unless --env sets them"),
                None,
            );
        } else {
            c.error(
                &["env", key],
                message,
                Some("pass the values with --env NAME=VALUE and add --allow-unsupported"),
            );
        }
    }
    if env.git_credential_helper == Some(YesNo(true)) {
        c.note(
            &["env", "git-credential-helper"],
            "not supported locally: git uses this machine's credentials".into(),
            None,
        );
    }

    let mut exported_variables = Vec::new();
    for Scalar(name) in env.exported_variables.unwrap_or_default() {
        if name.is_empty() {
            c.error(
                &["env", "exported-variables"],
                "an exported variable has an empty name".into(),
                None,
            );
        } else if name.starts_with("AWS_") {
            c.note(
                &["env", "exported-variables"],
                format!("`{name}` is not exported: CodeBuild does not export variables that start with `AWS_`"),
                None,
            );
        } else if !exported_variables.contains(&name) {
            exported_variables.push(name);
        }
    }

    if spec.run_as.is_some() {
        c.note(
            &["run-as"],
            "not supported locally: commands run as the current user".into(),
            None,
        );
    }
    let ignored = [
        ("proxy", spec.proxy.is_some()),
        ("reports", spec.reports.is_some()),
        ("cache", spec.cache.is_some()),
    ];
    for (key, _) in ignored.into_iter().filter(|(_, present)| *present) {
        c.note(&[key], "not supported locally (ignored)".into(), None);
    }
    if spec.batch.is_some() {
        let message = "`batch` is not supported locally: a batch build runs several builds";
        if allow_unsupported {
            c.note(
                &["batch"],
                format!("{message}; running this buildspec as one build"),
                None,
            );
        } else {
            c.error(&["batch"], message.into(), Some("run the buildspec of each build of the batch, or add --allow-unsupported to run this one as a single build"));
        }
    }

    let mut phases = Vec::new();
    for kind in PhaseKind::ALL {
        let spec_phase = match kind {
            PhaseKind::Install => &spec.phases.install,
            PhaseKind::PreBuild => &spec.phases.pre_build,
            PhaseKind::Build => &spec.phases.build,
            PhaseKind::PostBuild => &spec.phases.post_build,
        };
        let mut phase = PhasePlan {
            kind,
            on_failure: OnFailure::Abort,
            commands: Vec::new(),
            finally: Vec::new(),
        };
        if let Some(p) = spec_phase {
            let key = kind.key();
            if p.run_as.is_some() {
                c.note(
                    &["phases", key, "run-as"],
                    "not supported locally: commands run as the current user".into(),
                    None,
                );
            }
            if p.runtime_versions.is_some() {
                c.note(
                    &["phases", key, "runtime-versions"],
                    "not supported locally: the build uses the tools installed on this machine"
                        .into(),
                    None,
                );
            }
            match p.on_failure.as_ref().map(|s| s.0.as_str()) {
                None | Some("ABORT") => {}
                Some("CONTINUE") => phase.on_failure = OnFailure::Continue,
                Some(other) => c.error(
                    &["phases", key, "on-failure"],
                    format!("`{other}` is not a value of `on-failure`"),
                    Some("write ABORT (the default) or CONTINUE"),
                ),
            }
            match &p.commands {
                Some(cmds) => phase.commands = cmds.iter().map(|s| s.0.clone()).collect(),
                None if kind != PhaseKind::Install => c.error(
                    &["phases", key],
                    format!("the `{key}` phase has no `commands`"),
                    Some("add `commands:` with at least one command, or remove the phase"),
                ),
                None => {}
            }
            phase.finally = p.finally.iter().flatten().map(|s| s.0.clone()).collect();
        }
        phases.push(phase);
    }

    let mut artifacts = Vec::new();
    if let Some(a) = &spec.artifacts {
        if let Some(rule) = c.artifact(a, None) {
            artifacts.push(rule);
        }
        for (id, sa) in a.secondary_artifacts.iter().flat_map(|p| p.0.iter()) {
            if !valid_artifact_id(id) {
                c.error(
                    &["artifacts", "secondary-artifacts", id],
                    format!("`{id}` is not a valid artifact identifier"),
                    Some("use 1 to 100 letters, digits, `_` or `-`: the identifier must match an output artifact name of the pipeline action"),
                );
            }
            if sa.secondary_artifacts.is_some() {
                c.error(
                    &[
                        "artifacts",
                        "secondary-artifacts",
                        id,
                        "secondary-artifacts",
                    ],
                    "a secondary artifact cannot have secondary artifacts".into(),
                    None,
                );
            }
            if let Some(rule) = c.artifact(sa, Some(id)) {
                artifacts.push(rule);
            }
        }
    }

    if c.errors.is_empty() {
        Ok(Plan {
            shell,
            variables,
            exported_variables,
            phases,
            artifacts,
            notes: c.notes,
        })
    } else {
        Err(SpecErrors(c.errors))
    }
}

/// CodePipeline's artifact names: 1 to 100 of `[A-Za-z0-9_-]`.
pub fn valid_artifact_id(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<SpecError>,
    notes: Vec<Note>,
}

impl Checker<'_> {
    fn at(&self, path: &[&str], message: String, hint: Option<&str>) -> SpecError {
        // The deepest ancestor written in block style gives the line.
        let line = (1..=path.len())
            .rev()
            .find_map(|n| locate(self.text, &path[..n]));
        SpecError {
            file: self.file.to_string(),
            line,
            key: Some(path.join(".")),
            message,
            hint: hint.map(str::to_string),
        }
    }

    fn error(&mut self, path: &[&str], message: String, hint: Option<&str>) {
        let e = self.at(path, message, hint);
        self.errors.push(e);
    }

    fn note(&mut self, path: &[&str], message: String, hint: Option<&str>) {
        let n = self.at(path, message, hint);
        self.notes.push(n);
    }

    fn artifact(&mut self, a: &ArtifactsSpec, id: Option<&str>) -> Option<ArtifactRule> {
        let base: Vec<&str> = match id {
            None => vec!["artifacts"],
            Some(id) => vec!["artifacts", "secondary-artifacts", id],
        };
        let path = |k: &'static str| {
            let mut p = base.clone();
            p.push(k);
            p
        };
        let files = match &a.files {
            Some(OneOrMany(f)) if !f.is_empty() => f.clone(),
            _ => {
                self.error(
                    &base,
                    "the artifact has no `files`".into(),
                    Some("list the paths to package, e.g. `files: ['**/*']` (CodeBuild requires `artifacts.files` even when only secondary artifacts are used)"),
                );
                return None;
            }
        };
        let mut ok = true;
        for f in &files {
            if let Err(e) = glob::Pattern::new(f) {
                self.error(&path("files"), e.to_string(), None);
                ok = false;
            }
        }
        let exclude_paths = a.exclude_paths.clone().map(|e| e.0).unwrap_or_default();
        for f in &exclude_paths {
            if let Err(e) = glob::Pattern::new(f) {
                self.error(&path("exclude-paths"), e.to_string(), None);
                ok = false;
            }
        }
        let base_directory = a.base_directory.as_ref().map(|s| s.0.clone());
        if let Some(b) = &base_directory {
            if let Err(e) = glob::Pattern::new(b) {
                self.error(&path("base-directory"), e.to_string(), None);
                ok = false;
            }
        }
        if a.enable_symlinks == Some(YesNo(true)) {
            self.note(
                &path("enable-symlinks"),
                "not supported locally: links are stored as the files they point to".into(),
                None,
            );
        }
        if a.s3_prefix.is_some() {
            self.note(
                &path("s3-prefix"),
                "not used locally: nothing is uploaded".into(),
                None,
            );
        }
        if id.is_some() && a.name.is_some() {
            self.note(
                &path("name"),
                "a secondary artifact's zip is named after its identifier here".into(),
                None,
            );
        }
        ok.then(|| ArtifactRule {
            id: id.map(str::to_string),
            name: a.name.as_ref().map(|s| s.0.clone()),
            files,
            base_directory,
            discard_paths: a.discard_paths.is_some_and(|d| d.0),
            exclude_paths,
        })
    }
}

/// Stands in for the AWS CLI when a buildspec runs on this machine (`dry-run --buildspec`,
/// `local pipeline`): only fetching the cutover binary is served (with this very binary, from
/// `CUTOVER_SELF`); anything else fails loudly.
pub const AWS_SHIM: &str = r#"#!/bin/sh
# cutover dry-run --buildspec: a stand-in for the AWS CLI, which a dry-run does not use.
if [ "$1" = s3 ] && [ "$2" = cp ]; then
  for arg in "$@"; do dest=$arg; done
  case "$*" in
    *cutover*) cp "$CUTOVER_SELF" "$dest" && echo "dry-run: aws $* -> served with this cutover binary" >&2; exit $? ;;
  esac
fi
echo "dry-run: the AWS CLI is not available in a dry-run (aws $*)" >&2
exit 1
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "buildspec.yml";

    fn parse_ok(text: &str) -> Buildspec {
        parse(text, FILE).unwrap_or_else(|e| panic!("{e}"))
    }

    fn plan_of(text: &str) -> Result<Plan, SpecErrors> {
        plan(&parse_ok(text), text, FILE, false)
    }

    #[test]
    fn a_full_buildspec_parses_and_plans() {
        let text = "version: 0.2\nenv:\n  shell: bash\n  variables:\n    A: 1\n    B: \"two\"\n  exported-variables:\n    - A\nphases:\n  install:\n    commands:\n      - echo hi\n  build:\n    on-failure: CONTINUE\n    commands:\n      - make\n    finally:\n      - echo done\nartifacts:\n  files:\n    - '**/*'\n  base-directory: out\n  discard-paths: yes\n  secondary-artifacts:\n    extra:\n      files: x.txt\n";
        let p = plan_of(text).unwrap();
        assert_eq!(p.shell, Shell::Bash);
        assert_eq!(
            p.variables,
            vec![("A".into(), "1".into()), ("B".into(), "two".into())]
        );
        assert_eq!(p.exported_variables, vec!["A".to_string()]);
        assert_eq!(p.phases.len(), 4);
        assert_eq!(p.phases[2].on_failure, OnFailure::Continue);
        assert_eq!(p.phases[2].finally, vec!["echo done".to_string()]);
        assert_eq!(p.artifacts.len(), 2);
        assert!(p.artifacts[0].discard_paths);
        assert_eq!(p.artifacts[1].id.as_deref(), Some("extra"));
        assert_eq!(p.artifacts[1].files, vec!["x.txt".to_string()]);
    }

    #[test]
    fn unknown_keys_name_the_key_and_its_line() {
        let e = parse(
            "version: 0.2\nphases:\n  build:\n    commands: [a]\nartefacts:\n  files: x\n",
            FILE,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("artefacts"));
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown key `artefacts`"), "{e}");
        assert!(e.hint.unwrap().contains("artifacts"));

        let e = parse(
            "version: 0.2\nphases:\n  build:\n    comands:\n      - make\n",
            FILE,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("phases.build.comands"));
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn version_0_1_is_refused_with_its_line() {
        let e = parse(
            "# c\nversion: 0.1\nphases:\n  build:\n    commands: [a]\n",
            FILE,
        )
        .unwrap_err();
        assert!(e.message.contains("deprecated"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = parse("version: '0.3'\nphases: {}\n", FILE).unwrap_err();
        assert!(
            e.message.contains("unsupported buildspec version `0.3`"),
            "{e}"
        );
    }

    #[test]
    fn documents_that_are_not_mappings_are_refused() {
        for text in ["", "just text", "- a\n- b\n", "42"] {
            let e = parse(text, FILE).unwrap_err();
            assert!(
                e.message.contains("empty") || e.message.contains("not a YAML mapping"),
                "{text:?}: {e}"
            );
        }
        let e = parse("version: 0.2\nphases: [\n", FILE).unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn a_command_with_an_unquoted_colon_is_explained() {
        let e = parse(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n",
            FILE,
        )
        .unwrap_err();
        assert!(e.message.contains("found a mapping"), "{e}");
        assert!(e.hint.is_some());
    }

    #[test]
    fn reserved_variable_names_are_refused() {
        let text = "version: 0.2\nenv:\n  variables:\n    OK: 1\n    CODEBUILD_X: 2\nphases:\n  build:\n    commands: [a]\n";
        let e = plan_of(text).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].key.as_deref(), Some("env.variables.CODEBUILD_X"));
        assert_eq!(e.0[0].line, Some(5));
    }

    #[test]
    fn parameter_store_needs_allow_unsupported() {
        let text = "version: 0.2\nenv:\n  parameter-store:\n    PW: /x/pw\nphases:\n  build:\n    commands: [a]\n";
        let e = plan_of(text).unwrap_err();
        assert!(
            e.0[0]
                .message
                .contains("`env.parameter-store` is not supported locally"),
            "{}",
            e
        );
        assert_eq!(e.0[0].line, Some(3));
        let p = plan(&parse_ok(text), text, FILE, true).unwrap();
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn cache_reports_and_proxy_are_warnings() {
        let text = "version: 0.2\nphases:\n  build:\n    commands: [a]\ncache:\n  paths: [x]\nreports:\n  r:\n    files: [x]\nproxy:\n  logs: yes\n";
        let p = plan_of(text).unwrap();
        let keys: Vec<_> = p.notes.iter().map(|n| n.key.clone().unwrap()).collect();
        assert_eq!(keys, vec!["proxy", "reports", "cache"]);
    }

    #[test]
    fn phase_rules_are_checked() {
        let e = plan_of("version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n    commands: [a]\n  post_build:\n    finally: [b]\n").unwrap_err();
        let keys: Vec<_> = e.0.iter().map(|n| n.key.clone().unwrap()).collect();
        assert_eq!(keys, vec!["phases.build.on-failure", "phases.post_build"]);
        // install may have only runtime-versions.
        assert!(plan_of(
            "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: 3.12\n"
        )
        .is_ok());
    }

    #[test]
    fn artifact_rules_are_checked() {
        let e = plan_of("version: 0.2\nphases: {}\nartifacts:\n  base-directory: out\n  secondary-artifacts:\n    'bad id':\n      files: ['../x']\n").unwrap_err();
        let keys: Vec<_> = e.0.iter().map(|n| n.key.clone().unwrap()).collect();
        assert_eq!(
            keys,
            vec![
                "artifacts",
                "artifacts.secondary-artifacts.bad id",
                "artifacts.secondary-artifacts.bad id.files"
            ]
        );
    }

    #[test]
    fn locate_follows_block_mappings_and_list_items() {
        let text = "version: 0.2\nenv:\n  variables:\n    A: 1 # c\n    \"B\": 2\nphases:\n  build:\n    commands:\n      - x\nartifacts:\n  secondary-artifacts:\n    one:\n      files:\n        - a\n";
        assert_eq!(locate(text, &["env", "variables", "A"]), Some(4));
        assert_eq!(locate(text, &["env", "variables", "B"]), Some(5));
        assert_eq!(locate(text, &["phases", "build", "commands"]), Some(8));
        assert_eq!(
            locate(text, &["artifacts", "secondary-artifacts", "one", "files"]),
            Some(13)
        );
        assert_eq!(locate(text, &["cache"]), None);
    }
}
