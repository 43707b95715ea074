//! The command line: clap definitions only. Values are resolved into [`crate::settings::Settings`]
//! before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::artifacts::appspec;
use crate::env_vars as ev;
use crate::output::OutputFormat;

const AFTER_HELP: &str = "\
Exit codes: 0 ok · 1 the check failed (invalid artifacts, failed requests) · 2 usage or config error · \
3 an external service failed (AWS, registry, Docker engine) · 130 interrupted.

Settings come from cutover.toml (found in the current directory or a parent, or --config), each \
overridable by a flag or a CUTOVER_* environment variable.";

#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// The config file [default: cutover.toml in the current directory or the nearest parent]
    #[arg(long, global = true, env = ev::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output: text for people, json for programs (on stdout)
    #[arg(long, global = true, env = ev::OUTPUT, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only errors
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set a repository up for cutover: cutover.toml, the task definition template, the
    /// buildspec and the pipeline files, from its Dockerfile or from a running ECS service
    ///
    /// Then runs the dry-run and prints the next three commands. A file that exists is left alone
    /// unless --force.
    Init(InitArgs),
    /// Write and check the artifacts on this machine, with no AWS access and no network
    ///
    /// `from_service` (reading the template from the live ECS service) is refused here unless
    /// --taskdef FILE gives a template to use instead.
    #[command(name = "dry-run")]
    DryRun(DryRunArgs),
    /// Write and check the artifacts in the CodeBuild step, for a built image
    Artifacts(ArtifactsArgs),
    /// Check an artifact directory (or zip) as CodePipeline and CodeDeploy will
    ///
    /// `--rules` lists every rule; `--explain RULE` explains one with a bad and a good example.
    Validate(ValidateArgs),
    /// Build the image, push it, and write the artifacts for the pushed digest
    Build(BuildArgs),
    /// Call a version endpoint repeatedly, record every request, and prove no request failed
    Probe(ProbeArgs),
    /// The summary (and an SVG timeline) of a saved probe run
    Report(ReportArgs),
    /// Run a CodeBuild buildspec on this machine
    Buildspec(BuildspecArgs),
    /// Git hooks: `install` adds a pre-push hook that runs the dry-run
    Hooks {
        #[command(subcommand)]
        command: HooksCommand,
    },
    /// Rehearse the blue/green cutover of two versions given by hand, on the `local` engine:
    /// blue and green behind HAProxy, the traffic shifted as CodeDeploy would, blue drained and
    /// stopped, the probe throughout
    Rehearse(RehearseArgs),
    /// Deploy the artifact set on this machine as CodeDeploy would: real containers, HAProxy
    /// with production and test listeners, the AppSpec's hooks, rollback, the probe
    #[command(subcommand)]
    Local(LocalCommand),
    /// Deploy the artifact set through CodeDeploy as CodeDeployToECS does, and follow it
    ///
    /// `deploy [DIR|ZIP]` registers the task definition and creates the deployment, then waits;
    /// `deploy watch`, `deploy stop` and `deploy continue` act on a running one.
    Deploy(DeployArgs),
    /// Check the live AWS setup (ECS, CodeDeploy, load balancer, Lambda hooks, ECR) before a deployment
    Verify(VerifyArgs),
    /// Create, update, start and follow the CodePipeline pipeline
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Create, update, start and follow the CodeBuild project
    #[command(subcommand)]
    Codebuild(CodebuildCommand),
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Add a pre-push hook that stops a push whose artifacts would fail the Deploy stage
    Install {
        /// Replace a pre-push hook that cutover did not install
        #[arg(long)]
        force: bool,
    },
}

const REHEARSE_AFTER_HELP: &str = "\
A shortcut onto the `cutover local` engine: blue becomes the first revision of a throwaway local \
service, green the second, and the engine runs CodeDeploy's lifecycle between them; the service \
is removed at the end. Blue and green run as local processes (--blue-cmd/--green-cmd: split into words as a shell \
would, quotes and backslashes but no expansion: an unquoted $ ` | & ; < > ( ) is refused, wrap \
such a command in sh -c '...'; `{port}` in an argument becomes the port cutover \
chose, also given as PORT) or as \
one-container tasks on the Docker engine (--blue-image/--green-image). Both must \
answer the health path with 200 and the version path with JSON such as {\"version\":\"1.2.3\"}.

Example (the sample app, built twice with APP_VERSION=0.0.1 and 0.0.2):
  cutover rehearse --blue-cmd 'v1/sample-app --bind 127.0.0.1 --port {port}' \\
                   --green-cmd 'v2/sample-app --bind 127.0.0.1 --port {port}' \\
                   --strategy canary:10:1 --interval 2s

Exit codes: 0 no request failed and green answered last · 1 a request failed (the summary shows \
the longest failure run) or green did not take over · 2 usage error · 3 HAProxy, a backend or \
the Docker engine failed · 130 interrupted.";

#[derive(Debug, Args)]
#[command(after_help = REHEARSE_AFTER_HELP)]
pub struct RehearseArgs {
    /// Run blue (the current version) with this command
    #[arg(
        long,
        value_name = "CMD",
        required_unless_present = "blue_image",
        help_heading = "Backends"
    )]
    pub blue_cmd: Option<String>,

    /// Run green (the new version) with this command
    #[arg(
        long,
        value_name = "CMD",
        required_unless_present = "green_image",
        help_heading = "Backends"
    )]
    pub green_cmd: Option<String>,

    /// Run blue as a container of this image
    #[arg(
        long,
        value_name = "IMAGE",
        conflicts_with = "blue_cmd",
        help_heading = "Backends"
    )]
    pub blue_image: Option<String>,

    /// Run green as a container of this image
    #[arg(
        long,
        value_name = "IMAGE",
        conflicts_with = "green_cmd",
        help_heading = "Backends"
    )]
    pub green_image: Option<String>,

    /// The port the images listen on
    #[arg(long, default_value_t = 8080, help_heading = "Backends")]
    pub container_port: u16,

    /// The path HAProxy and cutover check for 200
    #[arg(long, default_value = "/healthz", help_heading = "Backends")]
    pub health_path: String,

    /// The path answering {"version":"..."}, which the probe calls
    #[arg(long, default_value = "/version", help_heading = "Backends")]
    pub version_path: String,

    /// all-at-once, canary:PCT:MINUTES, linear:PCT:MINUTES, or a CodeDeploy name such as
    /// ECSCanary10Percent5Minutes or ECSLinear10PercentEvery1Minutes
    #[arg(long, default_value = "all-at-once")]
    pub strategy: crate::rehearse::plan::Strategy,

    /// How long one of the strategy's minutes lasts here (e.g. 2s)
    #[arg(long, value_parser = parse_duration, default_value = "1m")]
    pub interval: std::time::Duration,

    /// After the last shift, before blue is drained and stopped
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub termination_wait: std::time::Duration,

    /// From SIGTERM to SIGKILL when stopping a backend (ECS's stopTimeout); also the longest drain
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub stop_timeout: std::time::Duration,

    /// For a backend to answer its health path and for HAProxy to see it up
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub start_timeout: std::time::Duration,

    /// Probe requests per second
    #[arg(long, default_value_t = crate::rehearse::DEFAULT_RATE, help_heading = "Probe")]
    pub rate: f64,

    /// Per probe request, connect included
    #[arg(long, value_parser = parse_duration, default_value = "2s", help_heading = "Probe")]
    pub timeout: std::time::Duration,

    /// Probe blue alone this long before green starts
    #[arg(long, value_parser = parse_duration, default_value = "1s", help_heading = "Probe")]
    pub probe_before: std::time::Duration,

    /// Keep probing this long after blue has stopped
    #[arg(long, value_parser = parse_duration, default_value = "1s", help_heading = "Probe")]
    pub probe_after: std::time::Duration,

    /// Where the records, summary, picture, report and logs go
    #[arg(long, value_name = "DIR", default_value = crate::probe::DEFAULT_RESULTS_DIR, help_heading = "Probe")]
    pub results: PathBuf,

    /// Write the picture here [default: rehearse-<time>.svg in --results]
    #[arg(long, value_name = "FILE", help_heading = "Probe")]
    pub svg: Option<PathBuf>,

    /// The HAProxy binary
    #[arg(long, env = ev::HAPROXY, value_name = "PATH", default_value = "haproxy")]
    pub haproxy: PathBuf,

    /// The Docker CLI, for --blue-image/--green-image
    #[arg(long, env = ev::DOCKER, value_name = "PATH", default_value = "docker")]
    pub docker: PathBuf,

    /// The load balancer's port on 127.0.0.1 (0: a free one)
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Prove the probe catches an outage: kill-blue (SIGKILL, no drain) or stall-blue:MS
    /// (frozen), while blue takes every request just before the shift
    #[arg(long, value_name = "OUTAGE")]
    pub inject_outage: Option<crate::rehearse::Outage>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// http://HOST[:PORT][/PATH]; the path defaults to /version
    pub url: String,

    /// Requests per second, or `max` (as fast as --concurrency workers can go)
    #[arg(long, default_value = "20")]
    pub rate: crate::probe::Rate,

    /// Workers at --rate max; at a fixed rate, the most requests in flight at once
    #[arg(long, default_value_t = crate::probe::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,

    /// Stop after this long (e.g. 30s, 500ms, 2m)
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Stop once this version has answered steadily for --stable-for; fail if it never does
    #[arg(long, value_name = "VERSION")]
    pub until_version: Option<String>,

    /// How long --until-version must answer without a break
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub stable_for: std::time::Duration,

    /// Per-request timeout, connect included
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub timeout: std::time::Duration,

    /// Reuse connections (default: a new connection per request, what a new client sees)
    #[arg(long)]
    pub keep_alive: bool,

    /// Where the JSON-lines record and the summary go
    #[arg(long, value_name = "DIR", default_value = crate::probe::DEFAULT_RESULTS_DIR)]
    pub results: PathBuf,

    /// Pass with at most this many failed requests
    #[arg(long, default_value_t = 0)]
    pub max_failures: u64,

    /// Also write the timeline picture here
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A probe run's JSON-lines file
    pub file: PathBuf,

    /// Write the timeline picture here
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// `500ms`, `30s`, `2m`, `1h`, or a plain number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 500ms, 30s or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: the unit must be ms, s, m or h")),
    };
    if !secs.is_finite() || !(0.0..=1e7).contains(&secs) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Build (and tag) locally only; the artifacts then name the tag, not a digest
    #[arg(long, env = ev::NO_PUSH, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_push: bool,

    /// Build nothing: report the tags and write the artifacts a build would (no Docker, no AWS)
    #[arg(long, env = ev::DRY_RUN, value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The Dockerfile to build, relative to the repository's root (needed when there are several)
    #[arg(long, value_name = "PATH")]
    pub dockerfile: Option<PathBuf>,

    /// The container's port, when the Dockerfile has no EXPOSE
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// The path the load balancer and `cutover local` health-check
    #[arg(long, value_name = "PATH", default_value = "/healthz")]
    pub health_path: String,

    /// Read the task definition, container, port, cluster, service and CodeDeploy application and
    /// deployment group (or ECS-native settings) from this running service
    #[arg(long, value_name = "CLUSTER/SERVICE")]
    pub from_service: Option<String>,

    /// The service's name (task family, repository, stack) [default: the folder's name, or the service's]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The image repository [default: the service's image repository, else an ECR placeholder]
    #[arg(long, value_name = "URI")]
    pub repository: Option<String>,

    /// The AWS region [default: AWS_REGION, else us-east-1]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// The repository's root [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Replace files that exist with what init would write
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Use this image reference instead of the one a build would push
    #[arg(long, env = ev::IMAGE, value_name = "URI")]
    pub image: Option<String>,

    /// Run the project's buildspec locally (as `cutover buildspec run`) with cutover in dry-run
    /// mode, and show the artifact zip the Deploy stage would receive [default: buildspec/buildspec.yml]
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "buildspec/buildspec.yml")]
    pub buildspec: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// The image to deploy (repo:tag or repo@sha256:...); the default is the repository with --digest
    #[arg(long, env = ev::IMAGE, value_name = "URI")]
    pub image: Option<String>,

    /// The pushed image's digest (sha256:...), to pin the image reference
    #[arg(long, env = ev::DIGEST, value_name = "DIGEST")]
    pub digest: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The artifact directory, or the artifact zip as CodePipeline stores it
    #[arg(value_name = "DIR", default_value = "out")]
    pub dir: PathBuf,

    /// List the rules (id, severity, what each checks) instead of checking a set
    #[arg(long, conflicts_with = "explain")]
    pub rules: bool,

    /// Explain one rule, with a bad and a good example
    #[arg(long, value_name = "RULE")]
    pub explain: Option<String>,
}

/// Every setting of cutover.toml as a flag; a given flag (or its variable) wins over the file.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// Where to write the artifacts [default: out]
    #[arg(long, env = ev::OUT_DIR, value_name = "DIR", help_heading = "Settings")]
    pub out: Option<PathBuf>,

    /// The task definition template: a RegisterTaskDefinition document or DescribeTaskDefinition output
    #[arg(long, env = ev::TASKDEF, value_name = "FILE", help_heading = "Settings")]
    pub taskdef: Option<PathBuf>,

    /// The image repository, e.g. 111122223333.dkr.ecr.us-east-1.amazonaws.com/app or 127.0.0.1:5000/app
    #[arg(long, env = ev::REPOSITORY, help_heading = "Settings")]
    pub repository: Option<String>,

    /// The Dockerfile
    #[arg(long, env = ev::DOCKERFILE, value_name = "FILE", help_heading = "Settings")]
    pub dockerfile: Option<PathBuf>,

    /// The build context directory
    #[arg(long, env = ev::CONTEXT, value_name = "DIR", help_heading = "Settings")]
    pub context: Option<PathBuf>,

    /// An extra image tag (repeatable; the variable takes a comma-separated list)
    #[arg(long = "tag", env = ev::TAGS, value_delimiter = ',', help_heading = "Settings")]
    pub tags: Option<Vec<String>>,

    /// A build argument KEY=VALUE (repeatable; values may hold commas, so the variable takes one)
    #[arg(long = "build-arg", env = ev::BUILD_ARGS, value_name = "KEY=VALUE", help_heading = "Settings")]
    pub build_args: Option<Vec<String>>,

    /// The Dockerfile stage to build
    #[arg(long, env = ev::TARGET, help_heading = "Settings")]
    pub target: Option<String>,

    /// The image platform, e.g. linux/amd64
    #[arg(long, env = ev::PLATFORM, help_heading = "Settings")]
    pub platform: Option<String>,

    /// An image to use as build cache (repeatable), besides the parent commits' images
    #[arg(long = "cache-from", env = ev::CACHE_FROM, value_delimiter = ',', value_name = "IMAGE", help_heading = "Settings")]
    pub cache_from: Option<Vec<String>>,

    /// The repository's tags are immutable: never move an existing tag
    #[arg(long, env = ev::IMMUTABLE_TAGS, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = "Settings")]
    pub immutable_tags: Option<bool>,

    /// The service's name (for messages and the plan)
    #[arg(long, env = ev::SERVICE_NAME, help_heading = "Settings")]
    pub service_name: Option<String>,

    /// The ECS cluster
    #[arg(long, env = ev::CLUSTER, help_heading = "Settings")]
    pub cluster: Option<String>,

    /// The ECS service
    #[arg(long, env = ev::SERVICE, help_heading = "Settings")]
    pub service: Option<String>,

    /// The CodeDeploy application
    #[arg(long, env = ev::APPLICATION, help_heading = "Settings")]
    pub application: Option<String>,

    /// The CodeDeploy deployment group
    #[arg(long, env = ev::DEPLOYMENT_GROUP, help_heading = "Settings")]
    pub deployment_group: Option<String>,

    /// A deployed container NAME[:PORT[:SLOT]][=IMAGE] (repeatable; replaces the file's list)
    #[arg(long = "container", env = ev::CONTAINERS, value_delimiter = ',', value_name = "SPEC", help_heading = "Settings")]
    pub containers: Option<Vec<String>>,

    /// The container behind the load balancer [default: the first container with a port]
    #[arg(long, env = ev::LB_CONTAINER, value_name = "NAME", help_heading = "Settings")]
    pub lb_container: Option<String>,

    /// The AppSpec's PlatformVersion, e.g. LATEST
    #[arg(long, env = ev::PLATFORM_VERSION, help_heading = "Settings")]
    pub platform_version: Option<String>,

    /// The AppSpec's subnets (comma-separated, 1 to 16)
    #[arg(long, env = ev::SUBNETS, value_delimiter = ',', help_heading = "Settings")]
    pub subnets: Option<Vec<String>>,

    /// The AppSpec's security groups (comma-separated, 1 to 5)
    #[arg(long, env = ev::SECURITY_GROUPS, value_delimiter = ',', help_heading = "Settings")]
    pub security_groups: Option<Vec<String>>,

    /// ENABLED or DISABLED
    #[arg(long, env = ev::ASSIGN_PUBLIC_IP, help_heading = "Settings")]
    pub assign_public_ip: Option<String>,

    /// A capacity provider NAME:WEIGHT[:BASE] (repeatable)
    #[arg(long = "capacity-provider", env = ev::CAPACITY_PROVIDERS, value_delimiter = ',', value_name = "SPEC", help_heading = "Settings")]
    pub capacity_providers: Option<Vec<String>>,

    /// A lifecycle hook EVENT=FUNCTION, e.g. AfterAllowTestTraffic=smoke-test (repeatable)
    #[arg(long = "hook", env = ev::HOOKS, value_delimiter = ',', value_name = "EVENT=FUNCTION", help_heading = "Settings")]
    pub hooks: Option<Vec<String>>,

    /// Write the AppSpec as yaml (appspec.yaml) or json (appspec.json)
    #[arg(long, env = ev::APPSPEC_FORMAT, value_enum, help_heading = "Settings")]
    pub appspec_format: Option<appspec::Format>,

    /// Take the task definition template from the ECS service (--cluster/--service) instead of a file
    #[arg(long, env = ev::FROM_SERVICE, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", help_heading = "Settings")]
    pub from_service: Option<bool>,

    /// The template pins every container's image on purpose: no <IMAGEn_NAME> is put in and no imageDetail.json is written
    #[arg(long, env = ev::PINNED_IMAGES, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", help_heading = "Settings")]
    pub pinned_images: Option<bool>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// The deployment path to check: codedeploy (CodeDeploy application, group, listeners) or
    /// ecs-native (strategy, advanced configuration, listener rules, hooks, the ECS action's time)
    #[command(flatten)]
    pub mode: ModeArgs,

    /// Also check that this image (repo:tag or repo@sha256:...) is in its ECR repository
    #[arg(long, env = ev::IMAGE, value_name = "URI")]
    pub image: Option<String>,

    /// Also check that this digest (sha256:...) is in the configured repository
    #[arg(long, env = ev::DIGEST, value_name = "DIGEST")]
    pub digest: Option<String>,
}

const DEPLOY_AFTER_HELP: &str = "\
What it does, as the pipeline's CodeDeployToECS action: taskdef.json with <IMAGE1_NAME> replaced by \
imageDetail.json's ImageURI is registered (RegisterTaskDefinition, tags kept); the AppSpec with \
<TASK_DEFINITION> replaced by the new ARN is sent as AppSpecContent to CreateDeployment on the \
[codedeploy] application and deployment group. Then it waits, showing each lifecycle event, the \
task sets and their traffic, until the deployment ends.

--probe URL runs a probe throughout: once more than --max-failures requests fail, the deployment \
is stopped with rollback at once. --test-probe URL probes the test listener at Ready (the group's \
deploymentReadyOption STOP_DEPLOYMENT) and continues only when no request failed (without a Ready \
wait: after AllowTestTraffic, and a failure stops the deployment).

Exit codes: 0 succeeded (and the probe passed) · 1 failed, stopped, rolled back, or still running \
at --timeout · 2 usage or config error · 3 AWS failed · 130 interrupted (the deployment goes on).";

/// `cutover deploy`: create a deployment, or act on one.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = DEPLOY_AFTER_HELP)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: Option<DeployCommand>,
    #[command(flatten)]
    pub create: DeployCreateArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Follow a deployment until it ends (default: the group's newest); the exit code follows it
    Watch(DeployWatchArgs),
    /// Stop a deployment (StopDeployment), rolling back unless --no-rollback
    Stop(DeployStopArgs),
    /// Continue a deployment waiting at Ready (ContinueDeployment), or end its termination wait
    Continue(DeployContinueArgs),
}

#[derive(Debug, Args)]
pub struct DeployCreateArgs {
    /// The artifact directory, or the artifact zip as CodePipeline stores it [default: out]
    #[arg(value_name = "DIR|ZIP")]
    pub artifacts: Option<PathBuf>,

    /// This deployment's configuration instead of the group's, e.g. CodeDeployDefault.ECSCanary10Percent5Minutes
    #[arg(long, value_name = "NAME")]
    pub deployment_config: Option<String>,

    /// The deployment's description
    #[arg(long)]
    pub description: Option<String>,

    /// Create the deployment and exit without waiting for it
    #[arg(long)]
    pub no_wait: bool,

    #[command(flatten)]
    pub gates: GateArgs,

    #[command(flatten)]
    pub poll: WatchArgs,

    #[command(flatten)]
    pub mode: ModeArgs,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Which deployment path the service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployMode {
    /// CodeDeploy blue/green (deployment controller CODE_DEPLOY): CreateDeployment on the group
    Codedeploy,
    /// ECS-native blue/green, linear or canary (deployment controller ECS): UpdateService
    EcsNative,
}

/// The deployment path, for the deploy commands.
#[derive(Debug, Clone, Args)]
pub struct ModeArgs {
    /// The deployment path [default: a given ID's form, else ecs-native when the configured
    /// service runs under the ECS controller, else codedeploy]
    #[arg(long, env = ev::DEPLOY_MODE, value_enum)]
    pub mode: Option<DeployMode>,
}

/// The probes that watch a deployment.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Probe this URL (the production listener) throughout; stop with rollback once more than --max-failures requests fail
    #[arg(long, value_name = "URL", help_heading = "Probe gate")]
    pub probe: Option<String>,

    /// Failed probe requests allowed before the deployment is stopped
    #[arg(long, default_value_t = 0, help_heading = "Probe gate")]
    pub max_failures: u64,

    /// Probe requests per second (both probes)
    #[arg(long, default_value = "20", help_heading = "Probe gate")]
    pub probe_rate: crate::probe::Rate,

    /// Probe this URL (the test listener) before production moves; continue only when no request failed
    #[arg(long, value_name = "URL", help_heading = "Probe gate")]
    pub test_probe: Option<String>,

    /// How long the test probe runs
    #[arg(long, value_parser = parse_duration, default_value = "10s", help_heading = "Probe gate")]
    pub test_probe_duration: std::time::Duration,

    /// Where the probes' records go
    #[arg(long, value_name = "DIR", default_value = crate::probe::DEFAULT_RESULTS_DIR, help_heading = "Probe gate")]
    pub results: PathBuf,
}

#[derive(Debug, Args)]
pub struct DeployWatchArgs {
    /// The deployment ID (d-XXXXXXXXX), or an ECS service deployment ARN [default: the newest]
    #[arg(value_name = "DEPLOYMENT_ID", conflicts_with = "latest")]
    pub id: Option<String>,

    /// Follow the group's newest deployment (one still running first)
    #[arg(long)]
    pub latest: bool,

    #[command(flatten)]
    pub gates: GateArgs,

    #[command(flatten)]
    pub poll: WatchArgs,

    #[command(flatten)]
    pub mode: ModeArgs,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Args)]
pub struct DeployStopArgs {
    /// The deployment ID [default: the group's newest still running]
    #[arg(value_name = "DEPLOYMENT_ID")]
    pub id: Option<String>,

    /// Stop without rolling back (green keeps whatever traffic it has)
    #[arg(long)]
    pub no_rollback: bool,

    #[command(flatten)]
    pub mode: ModeArgs,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Args)]
pub struct DeployContinueArgs {
    /// The deployment ID [default: the group's newest still running]
    #[arg(value_name = "DEPLOYMENT_ID")]
    pub id: Option<String>,

    /// End the termination wait (blue is terminated now) instead of the wait at Ready
    #[arg(long)]
    pub traffic_wait: bool,

    #[command(flatten)]
    pub mode: ModeArgs,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The values filled into the pipeline and CodeBuild declarations; each overrides cutover.toml.
#[derive(Debug, Clone, Default, Args)]
pub struct PipelineArgs {
    /// The pipeline's name [default: the CodeDeploy application's]
    #[arg(long, env = ev::PIPELINE_NAME, help_heading = "Pipeline")]
    pub pipeline_name: Option<String>,

    /// The pipeline declaration [default: pipeline/pipeline.yaml beside cutover.toml]
    #[arg(long, env = ev::PIPELINE_DECLARATION, value_name = "FILE", help_heading = "Pipeline")]
    pub declaration: Option<PathBuf>,

    /// The pipeline's service role ARN (${PIPELINE_ROLE_ARN})
    #[arg(long, env = ev::PIPELINE_ROLE_ARN, value_name = "ARN", help_heading = "Pipeline")]
    pub role_arn: Option<String>,

    /// The S3 artifact store bucket (${ARTIFACT_BUCKET})
    #[arg(long, env = ev::ARTIFACT_BUCKET, value_name = "BUCKET", help_heading = "Pipeline")]
    pub artifact_bucket: Option<String>,

    /// The KMS key ARN of the artifact store (${ARTIFACT_KEY_ARN})
    #[arg(long, env = ev::ARTIFACT_KEY_ARN, value_name = "ARN", help_heading = "Pipeline")]
    pub artifact_key_arn: Option<String>,

    /// The CodeConnections connection ARN (${CONNECTION_ARN})
    #[arg(long, env = ev::CONNECTION_ARN, value_name = "ARN", help_heading = "Pipeline")]
    pub connection_arn: Option<String>,

    /// The source repository as owner/name (${FULL_REPOSITORY_ID})
    #[arg(long, env = ev::FULL_REPOSITORY_ID, value_name = "OWNER/NAME", help_heading = "Pipeline")]
    pub full_repository_id: Option<String>,

    /// The branch built and deployed (${BRANCH_NAME}) [default: main]
    #[arg(long, env = ev::BRANCH, help_heading = "Pipeline")]
    pub branch: Option<String>,

    /// The CodeBuild project (${CODEBUILD_PROJECT}) [default: <pipeline name>-build]
    #[arg(long, env = ev::CODEBUILD_PROJECT, value_name = "NAME", help_heading = "Pipeline")]
    pub codebuild_project: Option<String>,

    /// The CodeBuild project declaration [default: pipeline/codebuild.yaml beside cutover.toml]
    #[arg(long, env = ev::CODEBUILD_DECLARATION, value_name = "FILE", help_heading = "Pipeline")]
    pub codebuild_declaration: Option<PathBuf>,

    /// The CodeBuild project's service role ARN (${CODEBUILD_ROLE_ARN})
    #[arg(long, env = ev::CODEBUILD_ROLE_ARN, value_name = "ARN", help_heading = "Pipeline")]
    pub codebuild_role_arn: Option<String>,

    /// Fill another placeholder: NAME=VALUE fills ${NAME} (repeatable)
    #[arg(long = "var", env = ev::PIPELINE_VARS, value_delimiter = ',', value_name = "NAME=VALUE", help_heading = "Pipeline")]
    pub vars: Option<Vec<String>>,
}

/// How long and how often a watch polls.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Give up (exit 1) after this long
    #[arg(long, value_parser = parse_duration, default_value = "60m")]
    pub timeout: std::time::Duration,

    /// Time between two polls
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub interval: std::time::Duration,
}

// Parsed once per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Create the pipeline, or update it when the declaration differs (the difference is shown)
    Apply(ApplyArgs),
    /// Start an execution
    Start(StartArgs),
    /// The stages and actions of an execution (default: the latest), once
    Status(ExecutionArgs),
    /// Follow an execution (default: the latest) until it ends; the exit code follows its result
    Watch(ExecutionWatchArgs),
    /// Download an execution's build output from the artifact store, unpack it and validate it
    Artifacts(PipelineArtifactsArgs),
}

// Parsed once per run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CodebuildCommand {
    /// Create the CodeBuild project, or update it when the declaration differs (the difference is shown)
    Apply(ApplyArgs),
    /// Start a build of the project
    Start(StartArgs),
    /// Follow a build (default: the project's latest) until it ends; the exit code follows its result
    Watch(BuildWatchArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Show the difference only and change nothing; exit 1 when there is one
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// The source version to build (a branch, tag or commit); CodeBuild only
    #[arg(long, value_name = "REF")]
    pub source_version: Option<String>,

    /// Follow the started execution or build until it ends
    #[arg(long)]
    pub watch: bool,

    #[command(flatten)]
    pub poll: WatchArgs,
}

#[derive(Debug, Args)]
pub struct ExecutionArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// The execution [default: the latest]
    #[arg(long, value_name = "ID")]
    pub execution_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecutionWatchArgs {
    #[command(flatten)]
    pub execution: ExecutionArgs,
    #[command(flatten)]
    pub poll: WatchArgs,
}

#[derive(Debug, Args)]
pub struct BuildWatchArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// The build ID (project:uuid) [default: the project's latest build]
    #[arg(value_name = "BUILD_ID")]
    pub build_id: Option<String>,

    #[command(flatten)]
    pub poll: WatchArgs,
}

#[derive(Debug, Args)]
pub struct PipelineArtifactsArgs {
    #[command(flatten)]
    pub execution: ExecutionArgs,

    /// The output artifact to download
    #[arg(long, value_name = "NAME", default_value = "BuildOutput")]
    pub artifact: String,

    /// Download this object instead of looking the execution up (s3://BUCKET/KEY)
    #[arg(long, value_name = "S3_URI", conflicts_with = "execution_id")]
    pub from: Option<String>,

    /// Where to unpack the artifact [default: artifacts/<execution or object>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildspecArgs {
    #[command(subcommand)]
    pub command: BuildspecCommand,
}

#[derive(Debug, Subcommand)]
pub enum BuildspecCommand {
    /// Run a version 0.2 buildspec as CodeBuild would: its phases, variables and artifact zips
    #[command(after_help = BUILDSPEC_RUN_AFTER_HELP)]
    Run(BuildspecRunArgs),
}

const BUILDSPEC_RUN_AFTER_HELP: &str = "\
Each command runs in a fresh shell (env.shell, default /bin/sh) that starts from the variables and \
directory the previous command left, as in CodeBuild. The output of the commands and CodeBuild's \
[Container] lines go to stderr; the summary (or --output json) to stdout. Artifact zips are checked \
with `cutover validate` when they hold deploy files.

Exit codes: 0 the build succeeded · 1 a phase or the artifact upload failed, or an artifact is invalid · \
2 the buildspec or a flag is wrong · 3 the shell could not run or a zip could not be written · \
130 interrupted.";

#[derive(Debug, Args)]
pub struct BuildspecRunArgs {
    /// The buildspec [default: buildspec.yml in the source directory]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The source directory: CODEBUILD_SRC_DIR, where the commands start [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub src: Option<PathBuf>,

    /// Where to write the artifact zips [default: target/buildspec]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// A variable NAME=VALUE for the build, over the buildspec's, as a start-build override (repeatable)
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// CODEBUILD_BUILD_NUMBER
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub build_number: u64,

    /// CODEBUILD_RESOLVED_SOURCE_VERSION and CODEBUILD_SOURCE_VERSION [default: git HEAD of the source directory]
    #[arg(long, value_name = "REF")]
    pub source_version: Option<String>,

    /// Run as the build of this pipeline: CODEBUILD_INITIATOR=codepipeline/NAME [default: local]
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,

    /// The CodeBuild project, for CODEBUILD_BUILD_ID and CODEBUILD_BUILD_ARN
    #[arg(long, value_name = "NAME", default_value = "local")]
    pub project: String,

    /// Run despite keys that need AWS (env.parameter-store, env.secrets-manager, batch); their variables stay unset unless --env sets them
    #[arg(long)]
    pub allow_unsupported: bool,

    /// Do not check the artifact zips with the validator
    #[arg(long)]
    pub no_validate: bool,
}

const LOCAL_DEPLOY_AFTER_HELP: &str = "\
The first deploy creates the local service: the revision starts as blue and serves both \
listeners. Each later deploy is a blue/green deployment from the revision that serves: \
BeforeInstall, Install (green started and healthy in the other target group), AfterInstall, \
AllowTestTraffic, AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic (per the deployment \
configuration), AfterAllowTraffic, then the termination wait and blue stopped. A failed hook, \
green not healthy within --ready-timeout, an essential container that exits, or Ctrl-C rolls \
back: both listeners on blue, green removed. Hooks run the commands of [local.functions] in \
cutover.toml (function name = command, run with sh -c) with CUTOVER_DEPLOYMENT_ID, \
CUTOVER_LIFECYCLE_EVENT, CUTOVER_TEST_URL and CUTOVER_PRODUCTION_URL set; exit 0 is Succeeded.

Example:
  cutover build --no-push && cutover local deploy out/ --probe
  cutover local status && cutover local down

Exit codes: 0 deployed · 1 the deployment failed and was rolled back (or a request failed under \
--probe) · 2 bad input: an invalid artifact set (nothing started), a hook without a local \
command, a bad setting · 3 Docker, HAProxy or a registry failed · 130 interrupted (rolled back).";

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Deploy an artifact set (a directory or the zip) to the local service
    #[command(after_help = LOCAL_DEPLOY_AFTER_HELP)]
    Deploy(Box<LocalDeployArgs>),
    /// Show the local service: revision, image, listeners, containers, last deployment
    Status(LocalArgs),
    /// Print the serving task's container logs (all containers, or CONTAINER)
    Logs {
        #[command(flatten)]
        local: LocalArgs,
        /// The container, as the task definition names it
        container: Option<String>,
    },
    /// Stop and remove everything the local service started: containers, network, HAProxy, state
    Down(LocalArgs),
    /// Run pipeline/pipeline.yaml on this machine for a commit: Source (the commit zipped),
    /// Build (the CodeBuild project's buildspec, the real `cutover build`), Deploy (the local
    /// service)
    Pipeline(LocalPipelineArgs),
    /// Add a git remote (a bare repository under the state directory) whose pushes run the
    /// pipeline as the declaration's triggers say
    Remote {
        #[command(flatten)]
        local: LocalArgs,
        /// The remote's name
        #[arg(default_value = "local")]
        name: String,
    },
    /// The local pipeline's executions: id, commit, trigger, status, time
    Executions(LocalArgs),
}

#[derive(Debug, Args)]
pub struct LocalPipelineArgs {
    /// The commit to run [default: HEAD]
    #[arg(value_name = "REF")]
    pub reference: Option<String>,

    #[command(flatten)]
    pub local: LocalArgs,

    /// The image repository the Build stage pushes to (fills ${REPOSITORY}) [default: [local.pipeline] repository]
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,

    /// A value for a ${PLACEHOLDER} of the declarations (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// The pipeline declaration [default: [local.pipeline] declaration, else pipeline/pipeline.yaml]
    #[arg(long, value_name = "FILE")]
    pub declaration: Option<PathBuf>,

    /// The CodeBuild project declaration [default: pipeline/codebuild.yaml]
    #[arg(long, value_name = "FILE")]
    pub codebuild: Option<PathBuf>,

    /// Follow the running execution (else the latest) to its end: its progress as it happens,
    /// then its result; the exit code is its status
    #[arg(long, conflicts_with_all = ["reference", "trigger"])]
    pub watch: bool,

    /// What started the execution, as `local executions` shows it (set by the push hook:
    /// `push REF OLD NEW`, which also applies the declaration's trigger filters)
    #[arg(long, value_name = "TEXT", hide = true)]
    pub trigger: Option<String>,

    /// The repository the Source stage reads the commit from (set by the push hook: the
    /// remote's bare repository) [default: the project's]
    #[arg(long, value_name = "DIR", hide = true)]
    pub source_repo: Option<PathBuf>,
}

/// Flags every `cutover local` command takes.
#[derive(Debug, Args, Clone)]
pub struct LocalArgs {
    /// Where the local service keeps its state [default: .cutover/local beside cutover.toml]
    #[arg(long, value_name = "DIR", env = ev::LOCAL_STATE_DIR)]
    pub state_dir: Option<PathBuf>,

    /// The Docker CLI
    #[arg(long, value_name = "PATH", env = ev::LOCAL_DOCKER)]
    pub docker: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LocalDeployArgs {
    /// The artifact set: a directory or the zip the Deploy stage receives [default: out/]
    pub artifacts: Option<PathBuf>,

    #[command(flatten)]
    pub local: LocalArgs,

    /// Run the probe on the production listener from before Install until blue has stopped;
    /// a failed request fails the deployment's check (exit 1)
    #[arg(long)]
    pub probe: bool,

    /// The probe's requests per second
    #[arg(long, default_value_t = 100.0, value_name = "RPS")]
    pub probe_rate: f64,

    /// The path the probe asks for its version
    #[arg(long, default_value = "/version", value_name = "PATH")]
    pub probe_path: String,

    /// HAProxy, looked up on PATH, or a path
    #[arg(long, value_name = "PATH", env = ev::LOCAL_HAPROXY, help_heading = "Local service")]
    pub haproxy: Option<PathBuf>,

    /// The production listener's port on 127.0.0.1, fixed when the service is created (0: a free port)
    #[arg(long, env = ev::LOCAL_PRODUCTION_PORT, help_heading = "Local service")]
    pub production_port: Option<u16>,

    /// The test listener's port (0: a free port)
    #[arg(long, env = ev::LOCAL_TEST_PORT, help_heading = "Local service")]
    pub test_port: Option<u16>,

    /// Tasks per task set, each in its own network namespace and target-group slot [default: 1]
    #[arg(long, env = ev::LOCAL_DESIRED_COUNT, help_heading = "Local service")]
    pub desired_count: Option<u32>,

    /// CodeDeploy's deployment configuration, e.g. CodeDeployDefault.ECSLinear10PercentEvery1Minutes
    /// [default: [codedeploy] deployment_config, else ECSAllAtOnce]
    #[arg(long, value_name = "NAME", env = ev::LOCAL_DEPLOYMENT_CONFIG, help_heading = "Deployment")]
    pub deployment_config: Option<String>,

    /// How long one of the configuration's minutes lasts here, e.g. 2s [default: 1m]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_MINUTE, value_parser = parse_duration, help_heading = "Deployment")]
    pub minute: Option<std::time::Duration>,

    /// After production has moved, before blue stops [default: 0s]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_TERMINATION_WAIT, value_parser = parse_duration, help_heading = "Deployment")]
    pub termination_wait: Option<std::time::Duration>,

    /// For green to be healthy in its target group before the deployment fails [default: 5m]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_READY_TIMEOUT, value_parser = parse_duration, help_heading = "Deployment")]
    pub ready_timeout: Option<std::time::Duration>,

    /// For a hook to answer before its event fails [default: 1h, as CodeDeploy]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_HOOK_TIMEOUT, value_parser = parse_duration, help_heading = "Deployment")]
    pub hook_timeout: Option<std::time::Duration>,

    /// A target's drain before it is taken out [default: 30s, as pipeline/template.yaml]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_DEREGISTRATION_DELAY, value_parser = parse_duration, help_heading = "Target groups")]
    pub deregistration_delay: Option<std::time::Duration>,

    /// The target groups' health check path [default: /healthz]
    #[arg(long, value_name = "PATH", env = ev::LOCAL_HEALTH_PATH, help_heading = "Target groups")]
    pub health_path: Option<String>,

    /// Between health checks [default: 10s]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_HEALTH_INTERVAL, value_parser = parse_duration, help_heading = "Target groups")]
    pub health_interval: Option<std::time::Duration>,

    /// One health check's timeout [default: 5s]
    #[arg(long, value_name = "DURATION", env = ev::LOCAL_HEALTH_TIMEOUT, value_parser = parse_duration, help_heading = "Target groups")]
    pub health_timeout: Option<std::time::Duration>,

    /// Checks in a row that make a target healthy [default: 2]
    #[arg(long, value_name = "N", env = ev::LOCAL_HEALTHY_THRESHOLD, help_heading = "Target groups")]
    pub healthy_threshold: Option<u32>,

    /// Failed checks in a row that make it unhealthy [default: 3]
    #[arg(long, value_name = "N", env = ev::LOCAL_UNHEALTHY_THRESHOLD, help_heading = "Target groups")]
    pub unhealthy_threshold: Option<u32>,

    /// The HTTP codes of a healthy answer: 200, 200,202 or 200-299 [default: 200]
    #[arg(long, value_name = "CODES", env = ev::LOCAL_HEALTH_MATCHER, help_heading = "Target groups")]
    pub health_matcher: Option<String>,

    /// A hook function's local command, NAME=COMMAND (adds to [local.functions]; repeatable)
    #[arg(long = "function", value_name = "NAME=COMMAND", help_heading = "Hooks")]
    pub functions: Vec<String>,
}
