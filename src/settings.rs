//! Settings: the `cutover.toml` model, its merge with flags, `CUTOVER_*` and CodeBuild variables,
//! and validation. Every problem names where the value came from (file and line, flag or variable),
//! the key, and what is allowed. Precedence: flag > `CUTOVER_*` variable > cutover.toml >
//! CodeBuild variable > built-in default. A list given by a flag or variable replaces the file's.

pub mod local;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::artifacts::appspec::{self, AwsvpcConfiguration, CapacityProviderItem, HookEvent};
use crate::cli::SettingsArgs;
use crate::env_vars;

pub const DEFAULT_CONFIG_FILE: &str = "cutover.toml";

// ---------------------------------------------------------------------------------------------
// The file model. `deny_unknown_fields` makes a typo an error that lists the allowed keys.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub service: ServiceSection,
    #[serde(default)]
    pub image: ImageSection,
    #[serde(default)]
    pub taskdef: TaskdefSection,
    #[serde(default)]
    pub codedeploy: CodeDeploySection,
    #[serde(default)]
    pub containers: Vec<ContainerSection>,
    #[serde(default)]
    pub appspec: AppSpecSection,
    #[serde(default)]
    pub artifacts: ArtifactsSection,
    #[serde(default)]
    pub pipeline: PipelineSection,
    #[serde(default)]
    pub codebuild: CodeBuildSection,
    #[serde(default)]
    pub local: LocalSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    pub name: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub repository: Option<String>,
    pub dockerfile: Option<PathBuf>,
    pub context: Option<PathBuf>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    /// Images to offer the build as cache, besides the parent commits' images.
    #[serde(default)]
    pub cache_from: Vec<String>,
    /// Refuse to move a tag that exists (for repositories with immutable tags).
    pub immutable_tags: Option<bool>,
    /// `false` builds locally only (the `--no-push` flag).
    pub push: Option<bool>,
    /// `false`: no cache image of the Dockerfile's earlier stages is pushed beside the build.
    pub stage_cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskdefSection {
    pub template: Option<PathBuf>,
    /// Read the template from the ECS service's current task definition instead of a file.
    pub from_service: Option<bool>,
    /// The template pins every image on purpose: no placeholder, no imageDetail.json.
    pub pinned_images: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeDeploySection {
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    /// The deployment configuration, e.g. `CodeDeployDefault.ECSAllAtOnce` (`cutover local`'s
    /// default).
    pub deployment_config: Option<String>,
}

/// `[local]`: the local service of `cutover local`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSection {
    pub state_dir: Option<PathBuf>,
    pub production_port: Option<u16>,
    pub test_port: Option<u16>,
    pub desired_count: Option<u32>,
    pub deployment_config: Option<String>,
    pub minute: Option<String>,
    pub termination_wait: Option<String>,
    pub ready_timeout: Option<String>,
    pub hook_timeout: Option<String>,
    pub deregistration_delay: Option<String>,
    #[serde(default)]
    pub health_check: LocalHealthSection,
    /// Hook function name (as the AppSpec names it) → local command.
    #[serde(default)]
    pub functions: std::collections::BTreeMap<String, String>,
    /// Secret name (the container's `secrets[].name`) → value.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub pipeline: LocalPipelineSection,
    /// `codedeploy` (CodeDeploy's events and configurations, the default) or `ecs-native` (ECS's
    /// strategies and stages, from `[local.native]`).
    pub mode: Option<String>,
    #[serde(default)]
    pub native: LocalNativeSection,
}

/// `[local.native]`: an ECS-native service's deployment configuration, for `[local] mode =
/// "ecs-native"` (minutes are `[local] minute` long).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalNativeSection {
    /// BLUE_GREEN (default), LINEAR or CANARY.
    pub strategy: Option<String>,
    pub bake_time_minutes: Option<u32>,
    pub step_percent: Option<f64>,
    pub step_bake_time_minutes: Option<u32>,
    pub canary_percent: Option<f64>,
    pub canary_bake_time_minutes: Option<u32>,
    /// Lifecycle stage (e.g. POST_TEST_TRAFFIC_SHIFT) → local command.
    #[serde(default)]
    pub hooks: std::collections::BTreeMap<String, String>,
}

/// `[local.pipeline]`: `cutover local pipeline`'s declaration and the values of its placeholders.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPipelineSection {
    /// The image repository the Build stage pushes to (`${REPOSITORY}`), e.g.
    /// `127.0.0.1:5000/sample-app`.
    pub repository: Option<String>,
    pub declaration: Option<PathBuf>,
    pub codebuild: Option<PathBuf>,
    /// `${PLACEHOLDER}` → value.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

/// `[local.health_check]`: the target groups' health check.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalHealthSection {
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSection {
    pub name: String,
    pub port: Option<u16>,
    #[serde(default = "one")]
    pub slot: u8,
    /// The image of a container in slot 2 to 4; slot 1 is the image cutover builds.
    pub image: Option<String>,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpecSection {
    pub format: Option<appspec::Format>,
    /// The container behind the load balancer; default: the first container with a port.
    pub container: Option<String>,
    pub platform_version: Option<String>,
    pub network: Option<NetworkSection>,
    #[serde(default)]
    pub capacity_provider_strategy: Vec<CapacityProviderSection>,
    #[serde(default)]
    pub hooks: HooksSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityProviderSection {
    pub capacity_provider: String,
    #[serde(default)]
    pub weight: u32,
    pub base: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    pub before_install: Option<String>,
    pub after_install: Option<String>,
    pub after_allow_test_traffic: Option<String>,
    pub before_allow_traffic: Option<String>,
    pub after_allow_traffic: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactsSection {
    pub out: Option<PathBuf>,
}

/// `[pipeline]`: the values `cutover pipeline` fills into the declaration's `${PLACEHOLDER}`s.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    pub name: Option<String>,
    pub declaration: Option<PathBuf>,
    pub role_arn: Option<String>,
    pub artifact_bucket: Option<String>,
    pub artifact_key_arn: Option<String>,
    pub connection_arn: Option<String>,
    pub full_repository_id: Option<String>,
    pub branch: Option<String>,
    /// Values of further placeholders, by name (`MY_VAR = "x"` fills `${MY_VAR}`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// `[codebuild]`: the CodeBuild project `cutover codebuild` manages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBuildSection {
    pub project: Option<String>,
    pub declaration: Option<PathBuf>,
    pub role_arn: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File {
        path: PathBuf,
        line: Option<usize>,
    },
    Flag {
        flag: &'static str,
        env: &'static str,
    },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File {
                path,
                line: Some(l),
            } => write!(f, "{}:{l}", path.display()),
            Source::File { path, line: None } => write!(f, "{}", path.display()),
            Source::Flag { flag, env } => write!(f, "flag {flag} (or {env})"),
            Source::Default => write!(f, "settings"),
        }
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub source: Source,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: {}", self.source, self.key, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All the invalid settings found in one pass, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<SettingError>),
}

// ---------------------------------------------------------------------------------------------
// Resolved settings.

/// A container whose image this deployment sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSetting {
    pub name: String,
    pub port: Option<u16>,
    pub slot: u8,
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSettings {
    pub repository: Option<String>,
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub cache_from: Vec<String>,
    pub immutable_tags: bool,
    pub push: bool,
    /// Push a cache image of each earlier named stage beside the build (`cache-<stage>-<sha>`).
    pub stage_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpecSettings {
    pub format: appspec::Format,
    pub lb_container: Option<String>,
    pub platform_version: Option<String>,
    pub network: Option<AwsvpcConfiguration>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    pub hooks: Vec<(HookEvent, String)>,
}

/// The `[pipeline]` and `[codebuild]` values from the file (paths resolved); the flags of the
/// `pipeline` and `codebuild` commands are laid over them by [`PipelineSettings::apply_flags`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSettings {
    pub name: Option<String>,
    pub declaration: PathBuf,
    pub role_arn: Option<String>,
    pub artifact_bucket: Option<String>,
    pub artifact_key_arn: Option<String>,
    pub connection_arn: Option<String>,
    pub full_repository_id: Option<String>,
    pub branch: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub codebuild_project: Option<String>,
    pub codebuild_declaration: PathBuf,
    pub codebuild_role_arn: Option<String>,
}

impl PipelineSettings {
    /// Lays the command's flags (or their variables) over the file's values.
    pub fn apply_flags(
        &mut self,
        args: &crate::cli::PipelineArgs,
        cwd: &Path,
    ) -> Result<(), SettingsError> {
        let cwd_rel = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                cwd.join(p)
            }
        };
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.clone());
            }
        };
        set(&mut self.name, &args.pipeline_name);
        set(&mut self.role_arn, &args.role_arn);
        set(&mut self.artifact_bucket, &args.artifact_bucket);
        set(&mut self.artifact_key_arn, &args.artifact_key_arn);
        set(&mut self.connection_arn, &args.connection_arn);
        set(&mut self.full_repository_id, &args.full_repository_id);
        set(&mut self.branch, &args.branch);
        set(&mut self.codebuild_project, &args.codebuild_project);
        set(&mut self.codebuild_role_arn, &args.codebuild_role_arn);
        if let Some(p) = &args.declaration {
            self.declaration = cwd_rel(p);
        }
        if let Some(p) = &args.codebuild_declaration {
            self.codebuild_declaration = cwd_rel(p);
        }
        let mut errs = Vec::new();
        for item in args.vars.iter().flatten() {
            match item.split_once('=') {
                Some((k, v)) if is_placeholder_name(k) => {
                    self.variables.insert(k.to_string(), v.to_string());
                }
                _ => errs.push(SettingError {
                    source: Source::Flag {
                        flag: "--var",
                        env: env_vars::PIPELINE_VARS,
                    },
                    key: "pipeline.variables".into(),
                    message: format!("`{item}` is not NAME=VALUE with NAME in UPPER_SNAKE_CASE"),
                    hint: Some("write --var MY_SETTING=value to fill ${MY_SETTING}".into()),
                }),
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Invalid(errs))
        }
    }
}

/// `UPPER_SNAKE`, the form of a declaration placeholder's name.
pub fn is_placeholder_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Every setting, resolved and validated once, before any work starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config file used, if one was found.
    pub config_file: Option<PathBuf>,
    pub service_name: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
    pub image: ImageSettings,
    pub taskdef: Option<PathBuf>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    pub containers: Vec<ContainerSetting>,
    pub appspec: AppSpecSettings,
    pub out_dir: PathBuf,
    /// The template is the service's current task definition (DescribeServices, then
    /// DescribeTaskDefinition), not the file `taskdef`.
    pub from_service: bool,
    /// Where `from_service` was switched on, for messages (`None` when it is off).
    pub from_service_source: Option<Source>,
    /// `[taskdef] pinned_images`: the template's images are deployed as they are.
    pub pinned_images: bool,
    pub pipeline: PipelineSettings,
    /// The commit being built: CodeBuild's resolved source version (git's HEAD is read by the
    /// image module when this is absent).
    pub commit: Option<String>,
    pub build_number: Option<String>,
}

/// The environment, passed in so that resolution is deterministic in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Finds the config file: `--config`, else `cutover.toml` in `cwd` or the nearest parent.
pub fn find_config(explicit: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let found = cwd
        .ancestors()
        .map(|d| d.join(DEFAULT_CONFIG_FILE))
        .find(|p| p.is_file())?;
    // Shown relative to the working directory in messages when it is there.
    Some(
        found
            .strip_prefix(cwd)
            .map(Path::to_path_buf)
            .unwrap_or(found),
    )
}

/// Reads and parses a config file; errors carry the file, key and line.
pub fn load_file(path: &Path) -> Result<(ConfigFile, String), SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = parse_file(&text, path)?;
    Ok((parsed, text))
}

pub fn parse_file(text: &str, path: &Path) -> Result<ConfigFile, SettingsError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, ConfigFile>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| line_of_offset(text, s.start));
        // serde quotes the value it could not use: never a secret's.
        let (message, hint) = if key.starts_with("local.secrets") {
            (
                "a secret's value must be a string".to_string(),
                Some("quote it: NAME = \"value\"".to_string()),
            )
        } else {
            let message = inner.message().to_string();
            let hint = allowed_hint(&message);
            (message, hint)
        };
        SettingsError::Invalid(vec![SettingError {
            source: Source::File {
                path: path.to_path_buf(),
                line,
            },
            key: if key == "." { "(file)".into() } else { key },
            message,
            hint,
        }])
    })
}

/// serde already lists the allowed keys or values in its message; point at the README for more.
fn allowed_hint(message: &str) -> Option<String> {
    if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        Some("see the cutover.toml reference in the README".into())
    } else {
        None
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// A path segment into the TOML document, for finding a key's line.
#[derive(Debug, Clone)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The 1-based line of the key (or value) at `path` in `text`, if it can be found.
fn line_of(text: &str, path: &[Seg<'_>]) -> Option<usize> {
    enum Node<'d> {
        Item(&'d toml_edit::Item),
        Table(&'d toml_edit::Table),
        Value(&'d toml_edit::Value),
    }
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut span = None;
    for seg in path {
        node = match (node, seg) {
            (Node::Item(item), Seg::Key(k)) => {
                let (key, it) = item.as_table_like()?.get_key_value(k)?;
                span = key.span().or(it.span());
                Node::Item(it)
            }
            (Node::Table(t), Seg::Key(k)) => {
                let (key, it) = t.get_key_value(k)?;
                span = key.span().or(it.span());
                Node::Item(it)
            }
            (Node::Value(v), Seg::Key(k)) => {
                let (key, it) = v.as_inline_table()?.get_key_value(k)?;
                span = key.span().or(it.span());
                Node::Item(it)
            }
            (Node::Item(item), Seg::Index(i)) => {
                if let Some(aot) = item.as_array_of_tables() {
                    let t = aot.get(*i)?;
                    span = t.span();
                    Node::Table(t)
                } else {
                    let v = item.as_array()?.get(*i)?;
                    span = v.span();
                    Node::Value(v)
                }
            }
            (Node::Value(v), Seg::Index(i)) => {
                let v = v.as_array()?.get(*i)?;
                span = v.span();
                Node::Value(v)
            }
            (Node::Table(_), Seg::Index(_)) => return None,
        };
    }
    span.map(|s| line_of_offset(text, s.start))
}

/// Collects setting errors while resolving.
struct Errors<'a> {
    file: Option<(&'a Path, &'a str)>,
    list: Vec<SettingError>,
}

impl Errors<'_> {
    fn file_source(&self, path: &[Seg<'_>]) -> Source {
        match self.file {
            Some((p, text)) => Source::File {
                path: p.to_path_buf(),
                line: line_of(text, path),
            },
            None => Source::Default,
        }
    }
    fn push(
        &mut self,
        source: Source,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.list.push(SettingError {
            source,
            key: key.into(),
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }
}

/// A value with where it came from.
struct Valued<T> {
    value: T,
    source: Source,
}

/// Picks flag/env over the file.
fn pick<T>(
    flag: Option<T>,
    names: (&'static str, &'static str),
    file: Option<T>,
    file_src: impl FnOnce() -> Source,
) -> Option<Valued<T>> {
    match (flag, file) {
        (Some(v), _) => Some(Valued {
            value: v,
            source: Source::Flag {
                flag: names.0,
                env: names.1,
            },
        }),
        (None, Some(v)) => Some(Valued {
            value: v,
            source: file_src(),
        }),
        (None, None) => None,
    }
}

/// Resolves the settings for this run from the file (if any), the flags and the environment.
pub fn resolve(
    args: &SettingsArgs,
    config: Option<&Path>,
    cwd: &Path,
    env: &dyn Env,
) -> Result<Settings, SettingsError> {
    resolve_with(args, config, cwd, env, true)
}

/// [`resolve`] for the commands that render no artifacts (`verify`, `pipeline`, `codebuild`):
/// an empty container list is not an error there.
pub fn resolve_live(
    args: &SettingsArgs,
    config: Option<&Path>,
    cwd: &Path,
    env: &dyn Env,
) -> Result<Settings, SettingsError> {
    resolve_with(args, config, cwd, env, false)
}

fn resolve_with(
    args: &SettingsArgs,
    config: Option<&Path>,
    cwd: &Path,
    env: &dyn Env,
    need_containers: bool,
) -> Result<Settings, SettingsError> {
    let config_file = find_config(config, cwd);
    let (file, text) = match &config_file {
        Some(p) => load_file(p)?,
        None => (ConfigFile::default(), String::new()),
    };
    // Paths in the file are relative to the file's folder; flag paths to the working directory.
    let base = config_file
        .as_deref()
        .and_then(Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(p)
            }
        })
        .unwrap_or_else(|| cwd.to_path_buf());
    let mut errs = Errors {
        file: config_file.as_deref().map(|p| (p, text.as_str())),
        list: Vec::new(),
    };
    let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let cwd_rel = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };

    let containers = resolve_containers(args, &file, need_containers, &mut errs);
    let appspec = resolve_appspec(args, file.appspec, &containers, &mut errs);

    let build_args = match &args.build_args {
        Some(list) => {
            let mut out = Vec::new();
            for item in list {
                match item.split_once('=') {
                    Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
                    _ => errs.push(
                        Source::Flag {
                            flag: "--build-arg",
                            env: env_vars::BUILD_ARGS,
                        },
                        "build_args",
                        format!("`{item}` is not KEY=VALUE"),
                        Some("write --build-arg APP_VERSION=0.0.2"),
                    ),
                }
            }
            out
        }
        None => file.image.build_args.into_iter().collect(),
    };
    let tags = args.tags.clone().unwrap_or(file.image.tags);
    for (i, t) in tags.iter().enumerate() {
        if !crate::image_ref::is_valid_tag(t) {
            let src = if args.tags.is_some() {
                Source::Flag {
                    flag: "--tag",
                    env: env_vars::TAGS,
                }
            } else {
                errs.file_source(&[Seg::Key("image"), Seg::Key("tags"), Seg::Index(i)])
            };
            errs.push(src, format!("image.tags[{i}]"), format!("`{t}` is not a valid image tag"),
                Some("a tag is 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"));
        }
    }
    let repository = pick(
        args.repository.clone(),
        ("--repository", env_vars::REPOSITORY),
        file.image.repository,
        || errs.file_source(&[Seg::Key("image"), Seg::Key("repository")]),
    );
    if let Some(r) = &repository {
        match crate::image_ref::ImageRef::parse(&r.value) {
            Ok(parsed) if parsed.tag.is_some() || parsed.digest.is_some() => errs.push(r.source.clone(), "image.repository",
                format!("`{}` has a tag or digest; the repository is the name without them", r.value),
                Some("write the repository only, e.g. 111122223333.dkr.ecr.us-east-1.amazonaws.com/app, and tags under image.tags")),
            Ok(_) => {}
            Err(e) => errs.push(r.source.clone(), "image.repository", e.to_string(), None),
        }
    }
    let from_service = args
        .from_service
        .or(file.taskdef.from_service)
        .unwrap_or(false);
    let cluster = args.cluster.clone().or(file.service.cluster);
    let service = args.service.clone().or(file.service.service);
    let from_service_source = from_service.then(|| {
        if args.from_service.is_some() {
            Source::Flag {
                flag: "--from-service",
                env: env_vars::FROM_SERVICE,
            }
        } else {
            errs.file_source(&[Seg::Key("taskdef"), Seg::Key("from_service")])
        }
    });
    let pinned_images = args
        .pinned_images
        .or(file.taskdef.pinned_images)
        .unwrap_or(false);
    if let (true, Some(src)) = (
        from_service && (cluster.is_none() || service.is_none()),
        from_service_source.clone(),
    ) {
        errs.push(
            src,
            "taskdef.from_service",
            "reading the task definition from the service needs the cluster and the service",
            Some("set [service] cluster and service in cutover.toml, or pass --cluster and --service"),
        );
    }
    for (key, value) in &file.pipeline.variables {
        if !is_placeholder_name(key) {
            let s = errs.file_source(&[Seg::Key("pipeline"), Seg::Key("variables"), Seg::Key(key)]);
            errs.push(
                s,
                format!("pipeline.variables.{key}"),
                format!("`{key}` (= `{value}`) is not an UPPER_SNAKE_CASE placeholder name"),
                Some("the name is what the declaration writes inside ${...}"),
            );
        }
    }
    let pipeline = PipelineSettings {
        name: file.pipeline.name,
        declaration: file
            .pipeline
            .declaration
            .map(rel)
            .unwrap_or_else(|| base.join("pipeline/pipeline.yaml")),
        role_arn: file.pipeline.role_arn,
        artifact_bucket: file.pipeline.artifact_bucket,
        artifact_key_arn: file.pipeline.artifact_key_arn,
        connection_arn: file.pipeline.connection_arn,
        full_repository_id: file.pipeline.full_repository_id,
        branch: file.pipeline.branch,
        variables: file.pipeline.variables,
        codebuild_project: file.codebuild.project,
        codebuild_declaration: file
            .codebuild
            .declaration
            .map(rel)
            .unwrap_or_else(|| base.join("pipeline/codebuild.yaml")),
        codebuild_role_arn: file.codebuild.role_arn,
    };
    let settings = Settings {
        service_name: args.service_name.clone().or(file.service.name),
        cluster,
        service,
        region: file
            .service
            .region
            .or_else(|| env.var(env_vars::AWS_REGION)),
        image: ImageSettings {
            repository: repository.map(|r| r.value),
            dockerfile: args
                .dockerfile
                .clone()
                .map(cwd_rel)
                .or(file.image.dockerfile.map(rel))
                .unwrap_or_else(|| base.join("Dockerfile")),
            context: args
                .context
                .clone()
                .map(cwd_rel)
                .or(file.image.context.map(rel))
                .unwrap_or_else(|| base.clone()),
            tags,
            build_args,
            target: args.target.clone().or(file.image.target),
            platform: args.platform.clone().or(file.image.platform),
            cache_from: args.cache_from.clone().unwrap_or(file.image.cache_from),
            immutable_tags: args
                .immutable_tags
                .or(file.image.immutable_tags)
                .unwrap_or(false),
            push: file.image.push.unwrap_or(true),
            stage_cache: file.image.stage_cache.unwrap_or(true),
        },
        taskdef: args
            .taskdef
            .clone()
            .map(cwd_rel)
            .or(file.taskdef.template.map(rel)),
        application: args.application.clone().or(file.codedeploy.application),
        deployment_group: args
            .deployment_group
            .clone()
            .or(file.codedeploy.deployment_group),
        containers,
        appspec,
        out_dir: args
            .out
            .clone()
            .map(cwd_rel)
            .or(file.artifacts.out.map(rel))
            .unwrap_or_else(|| cwd.join("out")),
        from_service,
        from_service_source,
        pinned_images,
        pipeline,
        commit: env.var(env_vars::CODEBUILD_RESOLVED_SOURCE_VERSION),
        build_number: env.var(env_vars::CODEBUILD_BUILD_NUMBER),
        config_file: config_file.clone(),
    };
    if errs.list.is_empty() {
        Ok(settings)
    } else {
        Err(SettingsError::Invalid(errs.list))
    }
}

/// Parses `--container NAME[:PORT[:SLOT]][=IMAGE]`.
pub fn parse_container_flag(s: &str) -> Result<ContainerSetting, String> {
    let (spec, image) = match s.split_once('=') {
        Some((a, b)) => (a, Some(b.to_string())),
        None => (s, None),
    };
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or_default().to_string();
    let port = match parts.next() {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("port `{p}` is not a number from 1 to 65535"))?,
        ),
    };
    let slot = match parts.next() {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u8>()
            .map_err(|_| format!("slot `{p}` is not a number from 1 to 4"))?,
    };
    if parts.next().is_some() {
        return Err("too many `:` parts; write NAME[:PORT[:SLOT]][=IMAGE]".into());
    }
    Ok(ContainerSetting {
        name,
        port,
        slot,
        image,
    })
}

fn resolve_containers(
    args: &SettingsArgs,
    file: &ConfigFile,
    need_containers: bool,
    errs: &mut Errors<'_>,
) -> Vec<ContainerSetting> {
    let from_flag = args.containers.is_some();
    let flag_src = || Source::Flag {
        flag: "--container",
        env: env_vars::CONTAINERS,
    };
    let list: Vec<ContainerSetting> = match &args.containers {
        Some(specs) => specs
            .iter()
            .filter_map(|s| match parse_container_flag(s) {
                Ok(c) => Some(c),
                Err(m) => {
                    errs.push(
                        flag_src(),
                        "containers",
                        format!("`{s}`: {m}"),
                        Some("write NAME[:PORT[:SLOT]][=IMAGE], e.g. app:8080:1"),
                    );
                    None
                }
            })
            .collect(),
        None => file
            .containers
            .iter()
            .map(|c| ContainerSetting {
                name: c.name.clone(),
                port: c.port,
                slot: c.slot,
                image: c.image.clone(),
            })
            .collect(),
    };
    let src = |errs: &Errors<'_>, i: usize, key: &'static str| {
        if from_flag {
            flag_src()
        } else {
            errs.file_source(&[Seg::Key("containers"), Seg::Index(i), Seg::Key(key)])
        }
    };
    if list.is_empty() && !from_flag && need_containers {
        let s = errs.file_source(&[]);
        errs.push(
            s,
            "containers",
            "no deployed container is configured",
            Some(
                "add [[containers]] with name, port and slot (1), e.g. name = \"app\", port = 8080",
            ),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        let ok_name = !c.name.is_empty()
            && c.name.len() <= 255
            && c.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            let s = src(errs, i, "name");
            errs.push(
                s,
                format!("containers[{i}].name"),
                format!("`{}` is not 1 to 255 letters, digits, `_` or `-`", c.name),
                Some("use the container's name from the task definition"),
            );
        } else if !seen.insert(c.name.clone()) {
            let s = src(errs, i, "name");
            errs.push(
                s,
                format!("containers[{i}].name"),
                format!("container `{}` is listed twice", c.name),
                None,
            );
        }
        if !(1..=4).contains(&c.slot) {
            let s = src(errs, i, "slot");
            errs.push(s, format!("containers[{i}].slot"), format!("{} is not allowed; allowed: 1 to 4", c.slot),
                Some("CodeDeployToECS has image slots 1 to 4 (Image1ContainerName to Image4ContainerName)"));
        }
        if c.port == Some(0) {
            let s = src(errs, i, "port");
            errs.push(
                s,
                format!("containers[{i}].port"),
                "0 is not allowed; allowed: 1 to 65535",
                None,
            );
        }
        if c.slot != 1 && c.image.is_none() {
            let s = src(errs, i, "slot");
            errs.push(s, format!("containers[{i}].image"), format!("container `{}` uses slot {} but has no image", c.name, c.slot),
                Some("slot 1 is the image cutover builds; give other slots their image, e.g. image = \"repo/sidecar:1.2\""));
        }
        if let Some(img) = &c.image {
            if let Err(e) = crate::image_ref::ImageRef::parse(img) {
                let s = src(errs, i, "image");
                errs.push(s, format!("containers[{i}].image"), e.to_string(), None);
            }
        }
    }
    let mut slots: Vec<u8> = list
        .iter()
        .map(|c| c.slot)
        .filter(|s| (1..=4).contains(s))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    if let Some(gap) = (1u8..)
        .zip(&slots)
        .find(|(want, have)| want != *have)
        .map(|(want, _)| want)
    {
        let s = if from_flag {
            flag_src()
        } else {
            errs.file_source(&[Seg::Key("containers")])
        };
        errs.push(s, "containers", format!("slot {gap} is unused while a higher slot is used; slots are numbered from 1 without gaps"),
            Some("renumber the slots"));
    }
    list
}

fn resolve_appspec(
    args: &SettingsArgs,
    a: AppSpecSection,
    containers: &[ContainerSetting],
    errs: &mut Errors<'_>,
) -> AppSpecSettings {
    let lb_container = pick(
        args.lb_container.clone(),
        ("--lb-container", env_vars::LB_CONTAINER),
        a.container,
        || errs.file_source(&[Seg::Key("appspec"), Seg::Key("container")]),
    );
    let lb_container = match lb_container {
        Some(v) => {
            match containers.iter().find(|c| c.name == v.value) {
                None => errs.push(
                    v.source,
                    "appspec.container",
                    format!("`{}` is not one of the deployed containers", v.value),
                    Some("name a container from `containers`"),
                ),
                Some(c) if c.port.is_none() => errs.push(
                    v.source,
                    "appspec.container",
                    format!("container `{}` has no port", v.value),
                    Some("give the container a port in `containers`"),
                ),
                Some(_) => {}
            }
            Some(v.value)
        }
        None => containers
            .iter()
            .find(|c| c.port.is_some())
            .map(|c| c.name.clone()),
    };
    if lb_container.is_none() && !containers.is_empty() {
        let s = if args.containers.is_some() {
            Source::Flag {
                flag: "--container",
                env: env_vars::CONTAINERS,
            }
        } else {
            errs.file_source(&[Seg::Key("containers")])
        };
        errs.push(
            s,
            "containers",
            "no deployed container has a port for the load balancer",
            Some("set `port` on the container behind the load balancer"),
        );
    }
    let platform_version = args.platform_version.clone().or(a.platform_version);

    let flag_net =
        args.subnets.is_some() || args.security_groups.is_some() || args.assign_public_ip.is_some();
    let network = if flag_net {
        Some(NetworkSection {
            subnets: args.subnets.clone().unwrap_or_default(),
            security_groups: args.security_groups.clone().unwrap_or_default(),
            assign_public_ip: args.assign_public_ip.clone(),
        })
    } else {
        a.network
    };
    let network = network.and_then(|n| {
        let src = |errs: &Errors<'_>, key: &'static str| {
            if flag_net {
                match key {
                    "subnets" => Source::Flag { flag: "--subnets", env: env_vars::SUBNETS },
                    "security_groups" => Source::Flag { flag: "--security-groups", env: env_vars::SECURITY_GROUPS },
                    _ => Source::Flag { flag: "--assign-public-ip", env: env_vars::ASSIGN_PUBLIC_IP },
                }
            } else {
                errs.file_source(&[Seg::Key("appspec"), Seg::Key("network"), Seg::Key(key)])
            }
        };
        let mut ok = true;
        for (key, list, max, prefix) in [
            ("subnets", &n.subnets, appspec::MAX_SUBNETS, "subnet-"),
            ("security_groups", &n.security_groups, appspec::MAX_SECURITY_GROUPS, "sg-"),
        ] {
            if list.is_empty() || list.len() > max {
                let s = src(errs, key);
                errs.push(s, format!("appspec.network.{key}"), format!("{} given; allowed: 1 to {max} (the network configuration is all or none)", list.len()),
                    Some("give subnets, security_groups and assign_public_ip together, or remove [appspec.network]"));
                ok = false;
            }
            if let Some(bad) = list.iter().find(|s| !s.starts_with(prefix)) {
                let s = src(errs, key);
                errs.push(s, format!("appspec.network.{key}"), format!("`{bad}` is not a `{prefix}...` ID"), None);
                ok = false;
            }
        }
        let assign = n.assign_public_ip.clone().unwrap_or_default();
        if assign != "ENABLED" && assign != "DISABLED" {
            let s = src(errs, "assign_public_ip");
            errs.push(s, "appspec.network.assign_public_ip",
                format!("{} is not allowed; allowed: ENABLED, DISABLED", if assign.is_empty() { "a missing value".to_string() } else { format!("`{assign}`") }),
                None);
            ok = false;
        }
        ok.then_some(AwsvpcConfiguration { subnets: n.subnets, security_groups: n.security_groups, assign_public_ip: assign })
    });

    let from_flag = args.capacity_providers.is_some();
    let cps: Vec<CapacityProviderSection> = match &args.capacity_providers {
        Some(list) => list
            .iter()
            .filter_map(|s| {
                let parts: Vec<&str> = s.split(':').collect();
                let parsed = match parts.as_slice() {
                    [name, w] => w.parse().ok().map(|w| (name, w, None)),
                    [name, w, b] => w.parse().ok().zip(b.parse().ok()).map(|(w, b)| (name, w, Some(b))),
                    _ => None,
                };
                match parsed {
                    Some((name, weight, base)) => Some(CapacityProviderSection { capacity_provider: name.to_string(), weight, base }),
                    None => {
                        errs.push(Source::Flag { flag: "--capacity-provider", env: env_vars::CAPACITY_PROVIDERS }, "appspec.capacity_provider_strategy",
                            format!("`{s}` is not NAME:WEIGHT[:BASE]"), Some("e.g. --capacity-provider FARGATE:1:1 --capacity-provider FARGATE_SPOT:3"));
                        None
                    }
                }
            })
            .collect(),
        None => a.capacity_provider_strategy,
    };
    let cp_src = |errs: &Errors<'_>| {
        if from_flag {
            Source::Flag {
                flag: "--capacity-provider",
                env: env_vars::CAPACITY_PROVIDERS,
            }
        } else {
            errs.file_source(&[Seg::Key("appspec"), Seg::Key("capacity_provider_strategy")])
        }
    };
    if cps.iter().filter(|c| c.base.is_some()).count() > 1 {
        let s = cp_src(errs);
        errs.push(
            s,
            "appspec.capacity_provider_strategy",
            "more than one entry sets `base`; only one may",
            None,
        );
    }
    if !cps.is_empty() && cps.iter().all(|c| c.weight == 0) {
        let s = cp_src(errs);
        errs.push(
            s,
            "appspec.capacity_provider_strategy",
            "no entry has a weight above 0",
            Some("give one capacity provider weight = 1"),
        );
    }
    for c in &cps {
        if c.weight > 1000 || c.base.is_some_and(|b| b > 100_000) {
            let s = cp_src(errs);
            errs.push(
                s,
                "appspec.capacity_provider_strategy",
                format!(
                    "`{}`: weight is 0 to 1000 and base 0 to 100000",
                    c.capacity_provider
                ),
                None,
            );
        }
    }

    let hooks: Vec<(HookEvent, String)> = match &args.hooks {
        Some(list) => list
            .iter()
            .filter_map(|s| {
                let parsed = s
                    .split_once('=')
                    .and_then(|(e, f)| HookEvent::parse(e).map(|e| (e, f.to_string())));
                if parsed.is_none() {
                    errs.push(
                        Source::Flag {
                            flag: "--hook",
                            env: env_vars::HOOKS,
                        },
                        "appspec.hooks",
                        format!(
                            "`{s}` is not EVENT=FUNCTION with EVENT one of {}",
                            HookEvent::names()
                        ),
                        None,
                    );
                }
                parsed
            })
            .collect(),
        None => {
            let h = a.hooks;
            [
                (HookEvent::BeforeInstall, h.before_install),
                (HookEvent::AfterInstall, h.after_install),
                (HookEvent::AfterAllowTestTraffic, h.after_allow_test_traffic),
                (HookEvent::BeforeAllowTraffic, h.before_allow_traffic),
                (HookEvent::AfterAllowTraffic, h.after_allow_traffic),
            ]
            .into_iter()
            .filter_map(|(e, f)| f.map(|f| (e, f)))
            .collect()
        }
    };
    for (e, f) in &hooks {
        if f.trim().is_empty() {
            let s = if args.hooks.is_some() {
                Source::Flag {
                    flag: "--hook",
                    env: env_vars::HOOKS,
                }
            } else {
                errs.file_source(&[
                    Seg::Key("appspec"),
                    Seg::Key("hooks"),
                    Seg::Key(e.config_key()),
                ])
            };
            errs.push(
                s,
                format!("appspec.hooks.{}", e.config_key()),
                "the function name is empty",
                Some("give the Lambda function's name or ARN"),
            );
        }
    }
    AppSpecSettings {
        format: args.appspec_format.or(a.format).unwrap_or_default(),
        lb_container,
        platform_version,
        network,
        capacity_provider_strategy: cps
            .into_iter()
            .map(|c| CapacityProviderItem {
                base: c.base,
                capacity_provider: c.capacity_provider,
                weight: c.weight,
            })
            .collect(),
        hooks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_flag_forms() {
        let c = parse_container_flag("app:8080:2=repo/x:1").unwrap();
        assert_eq!(
            (c.name.as_str(), c.port, c.slot, c.image.as_deref()),
            ("app", Some(8080), 2, Some("repo/x:1"))
        );
        let c = parse_container_flag("app").unwrap();
        assert_eq!((c.port, c.slot), (None, 1));
        assert!(parse_container_flag("app:http").is_err());
        assert!(parse_container_flag("app:1:2:3").is_err());
    }

    #[test]
    fn line_lookup_finds_array_of_tables_keys() {
        let text = "[service]\nname = \"x\"\n\n[[containers]]\nname = \"a\"\nport = 1\n\n[[containers]]\nname = \"b\"\nslot = 9\n";
        assert_eq!(
            line_of(text, &[Seg::Key("service"), Seg::Key("name")]),
            Some(2)
        );
        assert_eq!(
            line_of(
                text,
                &[Seg::Key("containers"), Seg::Index(1), Seg::Key("slot")]
            ),
            Some(10)
        );
        assert_eq!(
            line_of(
                text,
                &[Seg::Key("containers"), Seg::Index(0), Seg::Key("port")]
            ),
            Some(6)
        );
    }

    #[test]
    fn parse_errors_name_key_and_line() {
        let text = "[[containers]]\nname = \"a\"\nport = \"http\"\n";
        let Err(SettingsError::Invalid(errs)) = parse_file(text, Path::new("cutover.toml")) else {
            panic!()
        };
        assert_eq!(errs[0].key, "containers[0].port");
        assert_eq!(
            errs[0].source,
            Source::File {
                path: "cutover.toml".into(),
                line: Some(3)
            }
        );
        let text = "[appspec.hooks]\nbefore_instal = \"f\"\n";
        let Err(SettingsError::Invalid(errs)) = parse_file(text, Path::new("c.toml")) else {
            panic!()
        };
        assert!(
            errs[0].message.contains("before_install"),
            "{}",
            errs[0].message
        );
        assert_eq!(
            errs[0].source,
            Source::File {
                path: "c.toml".into(),
                line: Some(2)
            }
        );
    }
}
