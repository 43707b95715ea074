//! `cutover init`: the files a repository needs to be deployed by cutover, worked out from its
//! Dockerfile or from a running ECS service, and rendered. Pure: texts and facts in, file
//! contents out; [`files`] finds and writes them, [`crate::live::discover`] reads a service.

pub mod files;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::image::stages;

/// The bundled buildspec and pipeline files, written unchanged so that an upgrade is a diff.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "buildspec/buildspec.yml",
        include_str!("../../buildspec/buildspec.yml"),
    ),
    (
        "pipeline/template.yaml",
        include_str!("../../pipeline/template.yaml"),
    ),
    (
        "pipeline/pipeline.yaml",
        include_str!("../../pipeline/pipeline.yaml"),
    ),
    (
        "pipeline/pipeline-ecs-native.yaml",
        include_str!("../../pipeline/pipeline-ecs-native.yaml"),
    ),
    (
        "pipeline/codebuild.yaml",
        include_str!("../../pipeline/codebuild.yaml"),
    ),
    (
        "pipeline/README.md",
        include_str!("../../pipeline/README.md"),
    ),
];

/// Where the task definition template goes.
pub const TASKDEF_PATH: &str = "ecs/taskdef.json";
/// Where the settings go.
pub const CONFIG_PATH: &str = "cutover.toml";

/// How the service is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// CODE_DEPLOY controller: the CodeDeploy application and deployment group.
    CodeDeploy {
        application: String,
        deployment_group: String,
    },
    /// ECS controller with the BLUE_GREEN strategy (ECS-native blue/green).
    EcsNative,
}

/// What `init` learned, from the repository or from the service.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The service's name: the task family, the repository name, the log group.
    pub name: String,
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    /// The container the build's image goes into, and its port.
    pub container: String,
    pub port: u16,
    pub health_path: String,
    pub repository: String,
    /// The region the service is in (written to cutover.toml when known), else the template's.
    pub region: String,
    pub region_known: bool,
    pub cluster: String,
    pub service: String,
    pub mode: Mode,
    /// The live task definition (DescribeTaskDefinition's answer), for `--from-service`.
    pub live_taskdef: Option<Value>,
    /// `CLUSTER/SERVICE` when read from a service.
    pub from_service: Option<String>,
}

/// An init that cannot go on: exit 2, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("no Dockerfile under `{0}`\n  hint: add one (cutover builds the image from it), or pass --dockerfile PATH")]
    NoDockerfile(PathBuf),
    #[error("several Dockerfiles under `{root}`: {list}\n  hint: pass --dockerfile with the one to build")]
    SeveralDockerfiles { root: PathBuf, list: String },
    #[error("`{0}` has no EXPOSE in its final stage, so the container's port is not known\n  hint: add `EXPOSE <port>` to the Dockerfile, or pass --port N")]
    NoPort(PathBuf),
    #[error("`{path}`: EXPOSE `{value}` is not a port number\n  hint: write `EXPOSE 8080` (or `8080/tcp`), or pass --port N")]
    BadPort { path: PathBuf, value: String },
    #[error("{0}")]
    Usage(String),
}

/// The port of the final stage's first EXPOSE (`8080`, `8080/tcp`); `Ok(None)` when it has none.
/// A variable (`EXPOSE $PORT`) cannot be read here and is an error that names it.
pub fn exposed_port(dockerfile: &str, path: &Path) -> Result<Option<u16>, InitError> {
    let mut port: Option<Result<u16, String>> = None;
    for instruction in stages::instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("FROM") {
            port = None; // a new stage: only the final one's EXPOSE counts
        } else if keyword.eq_ignore_ascii_case("EXPOSE") && port.is_none() {
            if let Some(value) = words.next() {
                let number = value.split('/').next().unwrap_or_default();
                port = Some(
                    number
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| value.to_string()),
                );
            }
        }
    }
    match port {
        None => Ok(None),
        Some(Ok(p)) => Ok(Some(p)),
        Some(Err(value)) => Err(InitError::BadPort {
            path: path.to_path_buf(),
            value,
        }),
    }
}

/// A name fit for a task family, an ECR repository and a stack: lowercase letters, digits and
/// `-`, from a directory name.
pub fn service_name(dir_name: &str) -> String {
    let mut out = String::new();
    for c in dir_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "app".into()
    } else {
        out
    }
}

/// A repository path for a name: `<name>` in the account's ECR registry of the region, with the
/// documentation account (the pipeline gives the real one as CUTOVER_REPOSITORY).
pub fn placeholder_repository(name: &str, region: &str) -> String {
    format!("111122223333.dkr.ecr.{region}.amazonaws.com/{name}")
}

/// Every file init writes, in order: the settings, the template, then the bundled files.
pub fn files(s: &Setup) -> Vec<(PathBuf, String)> {
    let mut out = vec![
        (PathBuf::from(CONFIG_PATH), render_config(s)),
        (PathBuf::from(TASKDEF_PATH), render_taskdef(s)),
    ];
    out.extend(
        BUNDLED
            .iter()
            .map(|(path, text)| (PathBuf::from(path), (*text).to_string())),
    );
    out
}

/// `cutover.toml`, every key with a comment that says why it has that value.
pub fn render_config(s: &Setup) -> String {
    let origin = match &s.from_service {
        Some(svc) => format!("read from the running service {svc}"),
        None => format!("worked out from {}", s.dockerfile.display()),
    };
    let mut t = format!(
        "# cutover's settings, written by `cutover init` ({origin}). Every key can be overridden by a\n\
         # flag or a CUTOVER_* variable; `cutover dry-run --help` and the README list them.\n\
         \n\
         [service]\n\
         # The task family, the ECR repository and the stack are named after it.\n\
         name = {name}\n\
         # The ECS cluster and service that `cutover verify` and `cutover deploy` look at.\n\
         cluster = {cluster}\n\
         service = {service}\n\
         {region}\
         \n\
         [image]\n\
         # Where `cutover build` pushes; in CodeBuild the pipeline sets CUTOVER_REPOSITORY instead.\n\
         repository = {repository}\n\
         # {dockerfile_why}\n\
         dockerfile = {dockerfile}\n\
         # The build context: the Dockerfile's folder (what `docker build` would be given).\n\
         context = {context}\n\
         \n\
         [taskdef]\n\
         # {taskdef_why}\n\
         template = {taskdef}\n",
        name = quote(&s.name),
        cluster = quote(&s.cluster),
        region = if s.region_known {
            format!("# The region of the service (it wins over AWS_REGION).\nregion = {}\n", quote(&s.region))
        } else {
            String::new()
        },
        service = quote(&s.service),
        repository = quote(&s.repository),
        dockerfile = quote(&path_text(&s.dockerfile)),
        dockerfile_why = if s.from_service.is_some() {
            "The Dockerfile of this repository that builds the service's image."
        } else {
            "The only Dockerfile found (or the one --dockerfile named)."
        },
        context = quote(&path_text(&s.context)),
        taskdef = quote(TASKDEF_PATH),
        taskdef_why = if s.from_service.is_some() {
            "The service's current task definition as DescribeTaskDefinition answered it."
        } else {
            "A Fargate task definition for the container below; edit cpu, memory and roles."
        },
    );
    match &s.mode {
        Mode::CodeDeploy {
            application,
            deployment_group,
        } => t.push_str(&format!(
            "\n[codedeploy]\n\
             # The CodeDeploy application and deployment group of the blue/green cutover.\n\
             application = {}\n\
             deployment_group = {}\n",
            quote(application),
            quote(deployment_group)
        )),
        Mode::EcsNative => t.push_str(
            "\n# The service deploys with ECS-native blue/green (deploymentController ECS, strategy\n\
             # BLUE_GREEN): no CodeDeploy application. `cutover verify --mode ecs-native` checks it.\n",
        ),
    }
    t.push_str(&format!(
        "\n# The container whose image the build sets: slot 1 is the image cutover builds.\n\
         [[containers]]\n\
         name = {container}\n\
         # {port_why}\n\
         port = {port}\n\
         slot = 1\n\
         \n\
         [appspec]\n\
         # Fargate's newest platform, as the pipeline's service uses.\n\
         platform_version = \"LATEST\"\n\
         \n\
         [local.health_check]\n\
         # The path `cutover local` health-checks, as the load balancer's target group does.\n\
         path = {health}\n",
        container = quote(&s.container),
        port = s.port,
        port_why = if s.from_service.is_some() {
            "The port the service's load balancer sends traffic to (without one: the container's first port)."
        } else {
            "The Dockerfile's EXPOSE (or --port)."
        },
        health = quote(&s.health_path),
    ));
    t
}

/// The task definition template: the live one for `--from-service`, else a Fargate template.
pub fn render_taskdef(s: &Setup) -> String {
    let doc = match &s.live_taskdef {
        Some(live) => live.clone(),
        None => fargate_template(s),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn fargate_template(s: &Setup) -> Value {
    json!({
        "family": s.name,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": format!("arn:aws:iam::111122223333:role/{}-task-execution", s.name),
        "runtimePlatform": { "operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64" },
        "containerDefinitions": [{
            "name": s.container,
            "image": format!("{}:latest", s.repository),
            "essential": true,
            "portMappings": [{ "containerPort": s.port, "protocol": "tcp" }],
            "stopTimeout": 30,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    // The stack's log group (pipeline/template.yaml's AppLogGroup, stack name =
                    // the service's), the only one the execution role may write to.
                    "awslogs-group": format!("/cutover/{}/app", s.name),
                    "awslogs-region": s.region,
                    "awslogs-stream-prefix": s.container
                }
            }
        }]
    })
}

/// What to look at before the first commit of the files.
pub fn notes(s: &Setup) -> Vec<String> {
    let mut out = Vec::new();
    match &s.live_taskdef {
        None => out.push(if s.repository.starts_with("111122223333.") {
            format!("{TASKDEF_PATH}'s executionRoleArn and cutover.toml's repository name the documentation account 111122223333: put your account's")
        } else {
            format!("{TASKDEF_PATH}'s executionRoleArn names the documentation account 111122223333: put your account's")
        }),
        Some(live) => {
            let plain: Vec<&str> = live["taskDefinition"]["containerDefinitions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|c| {
                    c["environment"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty())
                })
                .filter_map(|c| c["name"].as_str())
                .collect();
            if !plain.is_empty() {
                out.push(format!(
                    "{TASKDEF_PATH} holds the plain `environment` values of {} as the service has them: check that none is a secret before you commit it (secrets belong in `secrets`)",
                    plain.join(", ")
                ));
            }
        }
    }
    out
}

/// The three commands after init: stand the stack up, upload the binary, push.
pub fn next_commands(s: &Setup) -> Vec<String> {
    vec![
        format!(
            "aws cloudformation deploy --stack-name {name} --template-file pipeline/template.yaml \
             --capabilities CAPABILITY_NAMED_IAM --parameter-overrides RepositoryName={name} \
             ContainerPort={port} HealthCheckPath={health} \
             VpcId=... SubnetIds=... ConnectionArn=... FullRepositoryId=OWNER/REPO",
            name = s.name,
            port = s.port,
            health = s.health_path,
        ),
        format!(
            "cargo build --release && aws s3 cp target/release/cutover \
             s3://$(aws cloudformation describe-stacks --stack-name {} --query \
             \"Stacks[0].Outputs[?OutputKey=='ArtifactBucket'].OutputValue\" --output text)/tools/cutover",
            s.name
        ),
        "git add cutover.toml ecs buildspec pipeline && git commit -m 'cutover init' && git push"
            .to_string(),
    ]
}

fn path_text(p: &Path) -> String {
    let t = p.display().to_string();
    if t.is_empty() {
        ".".into()
    } else {
        t
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            name: "shop".into(),
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            container: "shop".into(),
            port: 3000,
            health_path: "/healthz".into(),
            repository: placeholder_repository("shop", "us-east-1"),
            region: "us-east-1".into(),
            region_known: true,
            cluster: "shop".into(),
            service: "shop".into(),
            mode: Mode::CodeDeploy {
                application: "shop".into(),
                deployment_group: "shop".into(),
            },
            live_taskdef: None,
            from_service: None,
        }
    }

    #[test]
    fn the_final_stages_first_expose_is_the_port() {
        let p = Path::new("Dockerfile");
        let d = "FROM a AS b\nEXPOSE 9999\nFROM c\nEXPOSE 8080/tcp 9090\n";
        assert_eq!(exposed_port(d, p).unwrap(), Some(8080));
        assert_eq!(
            exposed_port("FROM a\nEXPOSE 80\nFROM b\n", p).unwrap(),
            None
        );
        assert_eq!(
            exposed_port("FROM a\nexpose 3000\n", p).unwrap(),
            Some(3000)
        );
        assert!(matches!(
            exposed_port("FROM a\nEXPOSE $PORT\n", p),
            Err(InitError::BadPort { .. })
        ));
        assert!(exposed_port("FROM a\nEXPOSE 0\n", p).is_err());
    }

    #[test]
    fn names_from_directories() {
        assert_eq!(service_name("My_Shop.v2"), "my-shop-v2");
        assert_eq!(service_name("--"), "app");
        assert_eq!(service_name("api"), "api");
    }

    #[test]
    fn the_config_is_valid_toml_with_every_key_commented() {
        let text = render_config(&setup());
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["containers"][0]["port"].as_integer(), Some(3000));
        assert_eq!(v["codedeploy"]["application"].as_str(), Some("shop"));
        assert_eq!(
            v["local"]["health_check"]["path"].as_str(),
            Some("/healthz")
        );
        // Each key line follows a comment line.
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains(" = ") && !l.starts_with('#') && !matches!(*l, "slot = 1") {
                assert!(
                    lines[..i].iter().rev().take(3).any(|p| p.starts_with('#')),
                    "no comment near `{l}`"
                );
            }
        }
    }

    #[test]
    fn the_fargate_template_has_the_container_and_port() {
        let v: Value = serde_json::from_str(&render_taskdef(&setup())).unwrap();
        let c = &v["containerDefinitions"][0];
        assert_eq!(c["name"], "shop");
        assert_eq!(c["portMappings"][0]["containerPort"], 3000);
        assert_eq!(c["logConfiguration"]["logDriver"], "awslogs");
        assert_eq!(v["requiresCompatibilities"][0], "FARGATE");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
