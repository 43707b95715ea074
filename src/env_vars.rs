//! Every environment variable cutover reads, in one place, referenced from clap's `env =`.

pub const CONFIG: &str = "CUTOVER_CONFIG";
pub const OUTPUT: &str = "CUTOVER_OUTPUT";
/// `cutover deploy --mode`: codedeploy or ecs-native.
pub const DEPLOY_MODE: &str = "CUTOVER_DEPLOY_MODE";
pub const OUT_DIR: &str = "CUTOVER_OUT";
pub const TASKDEF: &str = "CUTOVER_TASKDEF";
pub const IMAGE: &str = "CUTOVER_IMAGE";
pub const DIGEST: &str = "CUTOVER_DIGEST";
pub const APPSPEC_FORMAT: &str = "CUTOVER_APPSPEC_FORMAT";

pub const SERVICE_NAME: &str = "CUTOVER_SERVICE_NAME";
pub const CLUSTER: &str = "CUTOVER_CLUSTER";
pub const SERVICE: &str = "CUTOVER_SERVICE";
pub const REPOSITORY: &str = "CUTOVER_REPOSITORY";
pub const DOCKERFILE: &str = "CUTOVER_DOCKERFILE";
pub const CONTEXT: &str = "CUTOVER_CONTEXT";
pub const TAGS: &str = "CUTOVER_TAGS";
pub const BUILD_ARGS: &str = "CUTOVER_BUILD_ARGS";
pub const TARGET: &str = "CUTOVER_TARGET";
pub const PLATFORM: &str = "CUTOVER_PLATFORM";
pub const APPLICATION: &str = "CUTOVER_APPLICATION";
pub const DEPLOYMENT_GROUP: &str = "CUTOVER_DEPLOYMENT_GROUP";
pub const CONTAINERS: &str = "CUTOVER_CONTAINERS";
pub const LB_CONTAINER: &str = "CUTOVER_LB_CONTAINER";
pub const PLATFORM_VERSION: &str = "CUTOVER_PLATFORM_VERSION";
pub const SUBNETS: &str = "CUTOVER_SUBNETS";
pub const SECURITY_GROUPS: &str = "CUTOVER_SECURITY_GROUPS";
pub const ASSIGN_PUBLIC_IP: &str = "CUTOVER_ASSIGN_PUBLIC_IP";
pub const CAPACITY_PROVIDERS: &str = "CUTOVER_CAPACITY_PROVIDERS";
pub const HOOKS: &str = "CUTOVER_HOOKS";
pub const CACHE_FROM: &str = "CUTOVER_CACHE_FROM";
pub const IMMUTABLE_TAGS: &str = "CUTOVER_IMMUTABLE_TAGS";
pub const NO_PUSH: &str = "CUTOVER_NO_PUSH";
/// `cutover build` as a dry-run: no Docker, no registry, no AWS (set by `dry-run --buildspec`).
pub const DRY_RUN: &str = "CUTOVER_DRY_RUN";
/// Registry credentials for non-ECR registries; read from the environment only, never a flag, so
/// the password is never in argv.
pub const REGISTRY_USERNAME: &str = "CUTOVER_REGISTRY_USERNAME";
pub const REGISTRY_PASSWORD: &str = "CUTOVER_REGISTRY_PASSWORD";

/// The HAProxy binary of `cutover rehearse`.
pub const HAPROXY: &str = "CUTOVER_HAPROXY";
/// The Docker CLI of `cutover rehearse` with images.
pub const DOCKER: &str = "CUTOVER_DOCKER";
/// Tests only: sample-app binaries built with `APP_VERSION=0.0.1` and `0.0.2` (scripts/test
/// builds them into target/test-bin/).
pub const TEST_SAMPLE_APP_V1: &str = "CUTOVER_TEST_SAMPLE_APP_V1";
pub const TEST_SAMPLE_APP_V2: &str = "CUTOVER_TEST_SAMPLE_APP_V2";

/// Set by CodeBuild: the commit being built (under CodePipeline).
pub const CODEBUILD_RESOLVED_SOURCE_VERSION: &str = "CODEBUILD_RESOLVED_SOURCE_VERSION";
/// Set by CodeBuild: the build's sequence number.
pub const CODEBUILD_BUILD_NUMBER: &str = "CODEBUILD_BUILD_NUMBER";
/// The standard AWS region variable (CodeBuild sets it).
pub const AWS_REGION: &str = "AWS_REGION";
/// Honoured by the colour choice of our messages.
pub const NO_COLOR: &str = "NO_COLOR";

// Set by `cutover buildspec run` in the build it runs, as CodeBuild sets them.
pub const CODEBUILD_SRC_DIR: &str = "CODEBUILD_SRC_DIR";
pub const CODEBUILD_SOURCE_VERSION: &str = "CODEBUILD_SOURCE_VERSION";
pub const CODEBUILD_BUILD_ID: &str = "CODEBUILD_BUILD_ID";
pub const CODEBUILD_BUILD_ARN: &str = "CODEBUILD_BUILD_ARN";
pub const CODEBUILD_INITIATOR: &str = "CODEBUILD_INITIATOR";
pub const CODEBUILD_START_TIME: &str = "CODEBUILD_START_TIME";
pub const CODEBUILD_BUILD_SUCCEEDING: &str = "CODEBUILD_BUILD_SUCCEEDING";
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Standard AWS retry variables: when either is set, cutover leaves the retry policy to aws-config.
pub const AWS_MAX_ATTEMPTS: &str = "AWS_MAX_ATTEMPTS";
pub const AWS_RETRY_MODE: &str = "AWS_RETRY_MODE";

/// `--from-service` / `[taskdef] from_service`: the template is the service's current task definition.
pub const FROM_SERVICE: &str = "CUTOVER_FROM_SERVICE";
/// `--pinned-images` / `[taskdef] pinned_images`: the template's images are deployed as they are.
pub const PINNED_IMAGES: &str = "CUTOVER_PINNED_IMAGES";

/// `cutover pipeline` and `cutover codebuild` settings (the `[pipeline]` and `[codebuild]` sections).
pub const PIPELINE_NAME: &str = "CUTOVER_PIPELINE_NAME";
pub const PIPELINE_DECLARATION: &str = "CUTOVER_PIPELINE_DECLARATION";
pub const PIPELINE_ROLE_ARN: &str = "CUTOVER_PIPELINE_ROLE_ARN";
pub const ARTIFACT_BUCKET: &str = "CUTOVER_ARTIFACT_BUCKET";
pub const ARTIFACT_KEY_ARN: &str = "CUTOVER_ARTIFACT_KEY_ARN";
pub const CONNECTION_ARN: &str = "CUTOVER_CONNECTION_ARN";
pub const FULL_REPOSITORY_ID: &str = "CUTOVER_FULL_REPOSITORY_ID";
pub const BRANCH: &str = "CUTOVER_BRANCH";
pub const PIPELINE_VARS: &str = "CUTOVER_PIPELINE_VARS";
pub const CODEBUILD_PROJECT: &str = "CUTOVER_CODEBUILD_PROJECT";
pub const CODEBUILD_DECLARATION: &str = "CUTOVER_CODEBUILD_DECLARATION";
pub const CODEBUILD_ROLE_ARN: &str = "CUTOVER_CODEBUILD_ROLE_ARN";

// `cutover local`.
pub const LOCAL_STATE_DIR: &str = "CUTOVER_LOCAL_STATE_DIR";
pub const LOCAL_PRODUCTION_PORT: &str = "CUTOVER_LOCAL_PRODUCTION_PORT";
pub const LOCAL_TEST_PORT: &str = "CUTOVER_LOCAL_TEST_PORT";
pub const LOCAL_DESIRED_COUNT: &str = "CUTOVER_LOCAL_DESIRED_COUNT";
pub const LOCAL_DEPLOYMENT_CONFIG: &str = "CUTOVER_LOCAL_DEPLOYMENT_CONFIG";
pub const LOCAL_MINUTE: &str = "CUTOVER_LOCAL_MINUTE";
pub const LOCAL_TERMINATION_WAIT: &str = "CUTOVER_LOCAL_TERMINATION_WAIT";
pub const LOCAL_READY_TIMEOUT: &str = "CUTOVER_LOCAL_READY_TIMEOUT";
pub const LOCAL_HOOK_TIMEOUT: &str = "CUTOVER_LOCAL_HOOK_TIMEOUT";
pub const LOCAL_DEREGISTRATION_DELAY: &str = "CUTOVER_LOCAL_DEREGISTRATION_DELAY";
pub const LOCAL_HEALTH_PATH: &str = "CUTOVER_LOCAL_HEALTH_PATH";
pub const LOCAL_HEALTH_INTERVAL: &str = "CUTOVER_LOCAL_HEALTH_INTERVAL";
pub const LOCAL_HEALTH_TIMEOUT: &str = "CUTOVER_LOCAL_HEALTH_TIMEOUT";
pub const LOCAL_HEALTHY_THRESHOLD: &str = "CUTOVER_LOCAL_HEALTHY_THRESHOLD";
pub const LOCAL_UNHEALTHY_THRESHOLD: &str = "CUTOVER_LOCAL_UNHEALTHY_THRESHOLD";
pub const LOCAL_HEALTH_MATCHER: &str = "CUTOVER_LOCAL_HEALTH_MATCHER";
pub const LOCAL_DOCKER: &str = "CUTOVER_LOCAL_DOCKER";
pub const LOCAL_HAPROXY: &str = "CUTOVER_LOCAL_HAPROXY";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
