//! moto server as the AWS endpoint (`CUTOVER_TEST_AWS_ENDPOINT`, started by scripts/test) with
//! throwaway credentials, the AWS CLI (`CUTOVER_TEST_AWS_CLI`) as the independent reader, and
//! [`World`]: a complete, correct blue/green setup created through the SDK that each live test
//! then breaks in one place. Names come from [`unique`], so tests run in parallel against one moto.

use std::process::Command;

use aws_config::BehaviorVersion;

use super::{require_env, to_run, unique, Run, Sandbox};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// moto server's address (`CUTOVER_TEST_AWS_ENDPOINT`).
pub fn endpoint() -> String {
    require_env("CUTOVER_TEST_AWS_ENDPOINT")
}

/// Sets the test AWS environment on a sandbox: moto's endpoint, dummy credentials, a region, no
/// instance metadata lookups.
pub fn with_aws(sb: Sandbox) -> Sandbox {
    sb.env("AWS_ENDPOINT_URL", &endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// The AWS CLI (`CUTOVER_TEST_AWS_CLI`) pointed at moto, run in the sandbox, with throwaway
/// credentials and no config files.
pub fn aws(sb: &Sandbox) -> Command {
    let mut cmd = Command::new(require_env("CUTOVER_TEST_AWS_CLI"));
    sb.scrub(&mut cmd);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint())
        .current_dir(sb.path());
    cmd
}

/// Runs the AWS CLI; asserts success and returns its JSON output.
pub fn aws_json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = aws(sb)
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let run = to_run(out);
    assert_eq!(run.code, 0, "aws {args:?}: {run:?}");
    if run.stdout.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&run.stdout).unwrap()
    }
}

/// The SDK configuration the tests use to create resources (cutover is not involved).
pub fn sdk() -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "tests");
    block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(endpoint())
            .credentials_provider(creds)
            .http_client(cutover::aws::http_client())
            .load(),
    )
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A CodeDeploy application (ECS) and a blue/green deployment group in it for
/// `cluster`/`service`, made in moto with the AWS CLI; `config` names the deployment config
/// (CodeDeploy's default when `None`).
pub fn codedeploy_group(
    sb: &Sandbox,
    (app, group): (&str, &str),
    (cluster, service): (&str, &str),
    config: Option<&str>,
) {
    aws_json(
        sb,
        &[
            "deploy",
            "create-application",
            "--application-name",
            app,
            "--compute-platform",
            "ECS",
        ],
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/codedeploy");
    let services = format!("clusterName={cluster},serviceName={service}");
    let mut args = vec![
        "deploy",
        "create-deployment-group",
        "--application-name",
        app,
        "--deployment-group-name",
        group,
        "--service-role-arn",
        &role,
        "--deployment-style",
        "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
        "--ecs-services",
        &services,
    ];
    if let Some(c) = config {
        args.extend(["--deployment-config-name", c]);
    }
    aws_json(sb, &args);
}

/// An IAM role in moto that `service` (e.g. `lambda.amazonaws.com`) may assume, created through
/// the SDK (setup, like the rest of [`World`]: one AWS CLI start costs about half a second of CPU).
pub fn role(name: &str, service: &str) -> String {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let iam = aws_sdk_iam::Client::new(&sdk());
    let out = block_on(
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send(),
    )
    .unwrap_or_else(|e| panic!("iam create-role {name}: {e:?}"));
    out.role()
        .expect("CreateRole returns the role")
        .arn()
        .to_string()
}

/// What to get wrong while building the world, for the checks that look at how resources were
/// created (the others are broken through cutover.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Break {
    #[default]
    Nothing,
    /// The service uses the ECS deployment controller.
    EcsController,
    /// The CodeDeploy application is for EC2/on-premises.
    ServerApplication,
    /// The deployment group deploys another service.
    GroupForOtherService,
    /// The deployment group's pair names a target group that does not exist.
    MissingTargetGroup,
    /// The production listener forwards to a third target group.
    ProdListenerElsewhere,
    /// The deployment group names a production listener that does not exist.
    MissingListener,
    /// The test listener is on another load balancer.
    TestListenerOnOtherLoadBalancer,
    /// The deployment group is in-place, not blue/green.
    InPlaceGroup,
}

/// A blue/green setup: cluster and service (CODE_DEPLOY controller, behind `blue` for container
/// `app`:8080), a CodeDeploy application and deployment group with the blue/green target group
/// pair and production and test listeners, an ECR repository with the tag `v1`, and a hook
/// function.
#[derive(Debug, Clone)]
pub struct World {
    pub cluster: String,
    pub service: String,
    pub application: String,
    pub group: String,
    pub blue: String,
    pub green: String,
    pub prod_listener: String,
    pub test_listener: String,
    pub repository: String,
    pub repository_uri: String,
    pub hook: String,
}

/// moto's default VPC and two of its subnets (the load balancer needs them): read once per test
/// process, since moto's default VPC is the same for every test.
fn default_subnets(sb: &Sandbox) -> (String, Vec<String>) {
    static SUBNETS: std::sync::OnceLock<(String, Vec<String>)> = std::sync::OnceLock::new();
    SUBNETS.get_or_init(|| read_default_subnets(sb)).clone()
}

fn read_default_subnets(sb: &Sandbox) -> (String, Vec<String>) {
    let v = aws_json(
        sb,
        &[
            "ec2",
            "describe-subnets",
            "--filters",
            "Name=default-for-az,Values=true",
        ],
    );
    let subnets = v["Subnets"].as_array().unwrap();
    let vpc = subnets[0]["VpcId"].as_str().unwrap().to_string();
    let ids = subnets
        .iter()
        .take(2)
        .map(|s| s["SubnetId"].as_str().unwrap().to_string())
        .collect();
    (vpc, ids)
}

impl World {
    pub fn build(sb: &Sandbox, brk: Break) -> World {
        use aws_sdk_codedeploy::types as cd;
        use aws_sdk_ecs::types as ecs;
        use aws_sdk_elasticloadbalancingv2::types as elb;

        let id = unique("w");
        let (vpc, subnets) = default_subnets(sb);
        let hook_role = role(&format!("{id}-hook"), "lambda.amazonaws.com");
        let sdk = sdk();
        let w = World {
            cluster: format!("{id}-c"),
            service: format!("{id}-s"),
            application: format!("{id}-app"),
            group: format!("{id}-dg"),
            blue: format!("{id}-blue"),
            green: format!("{id}-green"),
            prod_listener: String::new(),
            test_listener: String::new(),
            repository: format!("{id}-repo"),
            repository_uri: format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{id}-repo"),
            hook: format!("{id}-hook"),
        };
        block_on(async {
            let lb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
            let new_lb = |name: String| {
                let lb = lb.clone();
                let subnets = subnets.clone();
                async move {
                    lb.create_load_balancer()
                        .name(name)
                        .set_subnets(Some(subnets))
                        .send()
                        .await
                        .unwrap()
                        .load_balancers()[0]
                        .load_balancer_arn()
                        .unwrap()
                        .to_string()
                }
            };
            let lb_arn = new_lb(format!("{id}-lb")).await;
            let mut tg_arns = Vec::new();
            for name in [&w.blue, &w.green, &format!("{id}-other")] {
                let out = lb
                    .create_target_group()
                    .name(name)
                    .protocol(elb::ProtocolEnum::Http)
                    .port(8080)
                    .vpc_id(&vpc)
                    .target_type(elb::TargetTypeEnum::Ip)
                    .send()
                    .await
                    .unwrap();
                tg_arns.push(
                    out.target_groups()[0]
                        .target_group_arn()
                        .unwrap()
                        .to_string(),
                );
            }
            let forward = |tg: &str| {
                elb::Action::builder()
                    .r#type(elb::ActionTypeEnum::Forward)
                    .target_group_arn(tg)
                    .build()
            };
            let prod_target = if brk == Break::ProdListenerElsewhere {
                &tg_arns[2]
            } else {
                &tg_arns[0]
            };
            let prod = lb
                .create_listener()
                .load_balancer_arn(&lb_arn)
                .protocol(elb::ProtocolEnum::Http)
                .port(80)
                .default_actions(forward(prod_target))
                .send()
                .await
                .unwrap();
            let prod_arn = prod.listeners()[0].listener_arn().unwrap().to_string();
            let test_lb = if brk == Break::TestListenerOnOtherLoadBalancer {
                new_lb(format!("{id}-lb2")).await
            } else {
                lb_arn.clone()
            };
            let test = lb
                .create_listener()
                .load_balancer_arn(&test_lb)
                .protocol(elb::ProtocolEnum::Http)
                .port(8080)
                .default_actions(forward(&tg_arns[0]))
                .send()
                .await
                .unwrap();
            let test_arn = test.listeners()[0].listener_arn().unwrap().to_string();

            let e = aws_sdk_ecs::Client::new(&sdk);
            e.create_cluster()
                .cluster_name(&w.cluster)
                .send()
                .await
                .unwrap();
            let app = ecs::ContainerDefinition::builder()
                .name("app")
                .image(format!("{}:v1", w.repository_uri))
                .essential(true)
                .port_mappings(ecs::PortMapping::builder().container_port(8080).build())
                .build();
            let td = e
                .register_task_definition()
                .family(format!("{id}-td"))
                .network_mode(ecs::NetworkMode::Awsvpc)
                .requires_compatibilities(ecs::Compatibility::Fargate)
                .cpu("256")
                .memory("512")
                .container_definitions(app)
                .send()
                .await
                .unwrap();
            let td_arn = td
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap()
                .to_string();
            let controller = if brk == Break::EcsController {
                ecs::DeploymentControllerType::Ecs
            } else {
                ecs::DeploymentControllerType::CodeDeploy
            };
            e.create_service()
                .cluster(&w.cluster)
                .service_name(&w.service)
                .task_definition(&td_arn)
                .desired_count(1)
                .deployment_controller(
                    ecs::DeploymentController::builder()
                        .r#type(controller)
                        .build()
                        .unwrap(),
                )
                .load_balancers(
                    ecs::LoadBalancer::builder()
                        .target_group_arn(&tg_arns[0])
                        .container_name("app")
                        .container_port(8080)
                        .build(),
                )
                .send()
                .await
                .unwrap();

            let d = aws_sdk_codedeploy::Client::new(&sdk);
            let platform = if brk == Break::ServerApplication {
                cd::ComputePlatform::Server
            } else {
                cd::ComputePlatform::Ecs
            };
            d.create_application()
                .application_name(&w.application)
                .compute_platform(platform)
                .send()
                .await
                .unwrap();
            let pair_names = if brk == Break::MissingTargetGroup {
                vec![w.blue.clone(), format!("{id}-nope")]
            } else {
                vec![w.blue.clone(), w.green.clone()]
            };
            let prod_route = if brk == Break::MissingListener {
                format!("{}/0123456789abcdef", prod_arn.rsplit_once('/').unwrap().0)
            } else {
                prod_arn.clone()
            };
            let mut pair = cd::TargetGroupPairInfo::builder()
                .prod_traffic_route(
                    cd::TrafficRoute::builder()
                        .listener_arns(prod_route)
                        .build(),
                )
                .test_traffic_route(cd::TrafficRoute::builder().listener_arns(&test_arn).build());
            for n in pair_names {
                pair = pair.target_groups(cd::TargetGroupInfo::builder().name(n).build());
            }
            let (svc_cluster, svc_name) = if brk == Break::GroupForOtherService {
                (w.cluster.clone(), format!("{id}-other-service"))
            } else {
                (w.cluster.clone(), w.service.clone())
            };
            let (kind, option) = if brk == Break::InPlaceGroup {
                (
                    cd::DeploymentType::InPlace,
                    cd::DeploymentOption::WithoutTrafficControl,
                )
            } else {
                (
                    cd::DeploymentType::BlueGreen,
                    cd::DeploymentOption::WithTrafficControl,
                )
            };
            d.create_deployment_group()
                .application_name(&w.application)
                .deployment_group_name(&w.group)
                .service_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{id}-codedeploy"))
                .deployment_style(
                    cd::DeploymentStyle::builder()
                        .deployment_type(kind)
                        .deployment_option(option)
                        .build(),
                )
                .ecs_services(
                    cd::EcsService::builder()
                        .cluster_name(svc_cluster)
                        .service_name(svc_name)
                        .build(),
                )
                .load_balancer_info(
                    cd::LoadBalancerInfo::builder()
                        .target_group_pair_info_list(pair.build())
                        .build(),
                )
                .send()
                .await
                .unwrap();

            let r = aws_sdk_ecr::Client::new(&sdk);
            r.create_repository()
                .repository_name(&w.repository)
                .send()
                .await
                .unwrap();
            r.put_image()
                .repository_name(&w.repository)
                .image_tag("v1")
                .image_manifest(MANIFEST)
                .send()
                .await
                .unwrap();

            let l = aws_sdk_lambda::Client::new(&sdk);
            l.create_function()
                .function_name(&w.hook)
                .runtime(aws_sdk_lambda::types::Runtime::Python312)
                .role(&hook_role)
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_sdk_lambda::primitives::Blob::new(function_zip()))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            World {
                prod_listener: prod_arn,
                test_listener: test_arn,
                ..w
            }
        })
    }

    /// A cutover.toml describing this world (hooks, repository and the container included).
    pub fn config(&self) -> String {
        format!(
            r#"[service]
cluster = "{cluster}"
service = "{service}"

[image]
repository = "{repo}"

[codedeploy]
application = "{app}"
deployment_group = "{group}"

[[containers]]
name = "app"
port = 8080

[appspec.hooks]
after_allow_test_traffic = "{hook}"
"#,
            cluster = self.cluster,
            service = self.service,
            repo = self.repository_uri,
            app = self.application,
            group = self.group,
            hook = self.hook,
        )
    }

    /// A sandbox with this world's cutover.toml and the AWS test environment.
    pub fn sandbox(&self) -> Sandbox {
        let sb = with_aws(Sandbox::empty());
        sb.write("cutover.toml", &self.config());
        sb
    }
}

/// A Docker image manifest for ECR PutImage (ECR checks its shape, not the blobs).
pub const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]}"#;

/// A deployment package with one Python handler.
fn function_zip() -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"def handler(event, context):\n    return None\n")
        .unwrap();
    w.finish().unwrap().into_inner()
}

/// The verify report, parsed strictly (a renamed field fails the test).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub ok: bool,
    pub region: String,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub check: String,
    pub status: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub check: String,
    pub severity: String,
    pub resource: String,
    pub message: String,
    pub hint: String,
}

impl Report {
    pub fn status(&self, check: &str) -> &str {
        &self
            .checks
            .iter()
            .find(|c| c.check == check)
            .unwrap_or_else(|| panic!("no check {check} in {self:?}"))
            .status
    }
}

/// Runs `cutover verify --output json` and parses the report.
pub fn verify(sb: &Sandbox, extra: &[&str]) -> (Run, Report) {
    let mut args = vec!["verify", "--output", "json"];
    args.extend_from_slice(extra);
    let run = sb.run(&args);
    let report: Report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("verify printed no report ({e}): {run:?}"));
    (run, report)
}
