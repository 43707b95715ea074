//! `cutover artifacts --from-service` against moto: the task definition template is the live
//! service's current task definition (with its tags), registered beforehand with the AWS CLI with
//! secrets, a sidecar and fields cutover does not model; the rendered taskdef.json must keep them
//! all, and AWS's own model (the AWS CLI) must accept it for registration. Needs the services
//! scripts/test starts; fails (never skips) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::aws::{aws_json, with_aws, ACCOUNT};
use crate::support::{unique, Sandbox};
use serde_json::{json, Value};

/// A Fargate task definition with a secret, a sidecar and fields outside cutover's model.
pub(crate) fn task_definition(family: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/exec"),
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "containerDefinitions": [
            {
                "name": "app",
                "image": format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:old"),
                "essential": true,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf")}],
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/healthz || exit 1"], "interval": 10},
                "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
                "linuxParameters": {"initProcessEnabled": true}
            },
            {
                "name": "envoy",
                "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27",
                "essential": true,
                "user": "1337",
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]
            }
        ]
    })
}

/// Registers the task definition (tagged) and a CODE_DEPLOY service running it.
pub(crate) fn service(sb: &Sandbox) -> (String, String, String) {
    let id = unique("svc");
    let (cluster, service, family) = (format!("{id}-c"), format!("{id}-s"), format!("{id}-td"));
    sb.write("registered.json", &task_definition(&family).to_string());
    aws_json(sb, &["ecs", "create-cluster", "--cluster-name", &cluster]);
    aws_json(
        sb,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://registered.json",
            "--tags",
            "key=team,value=web",
        ],
    );
    aws_json(
        sb,
        &[
            "ecs",
            "create-service",
            "--cluster",
            &cluster,
            "--service-name",
            &service,
            "--task-definition",
            &family,
            "--desired-count",
            "1",
            "--deployment-controller",
            "type=CODE_DEPLOY",
        ],
    );
    (cluster, service, family)
}

#[test]
fn taskdef_from_the_live_service_keeps_secrets_sidecar_and_unmodelled_fields() {
    let sb = with_aws(Sandbox::empty());
    let (cluster, svc, family) = service(&sb);
    let image = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:v2");
    let r = sb.run(&[
        "artifacts",
        "--from-service",
        "--cluster",
        &cluster,
        "--service",
        &svc,
        "--container",
        "app:8080",
        "--image",
        &image,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    // The plan, with the names of this test's resources (all `ID-…`) made fixed.
    let id = cluster.strip_suffix("-c").unwrap();
    crate::assert_run_snapshot!("plan_from_service", sb, r, (id, "[ID]"));

    let rendered: Value = serde_json::from_str(&sb.read("out/taskdef.json")).unwrap();
    let mut expected = task_definition(&family);
    expected["containerDefinitions"][0]["image"] = json!("<IMAGE1_NAME>");
    expected["tags"] = json!([{"key": "team", "value": "web"}]);
    // What ECS adds on registration (cpu 0 per container) is the service's, and stays.
    for c in rendered["containerDefinitions"].as_array().unwrap() {
        assert_eq!(c["cpu"], 0, "{rendered:#}");
    }
    let mut without_defaults = rendered.clone();
    for c in without_defaults["containerDefinitions"]
        .as_array_mut()
        .unwrap()
    {
        c.as_object_mut().unwrap().remove("cpu");
    }
    assert_eq!(without_defaults, expected, "{rendered:#}");
    for key in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        assert!(rendered.get(key).is_none(), "{key} left in: {rendered:#}");
    }

    // AWS's model accepts it: register it again with the image put in, as the deploy action does.
    sb.replace("out/taskdef.json", "<IMAGE1_NAME>", &image);
    let again = aws_json(
        &sb,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://out/taskdef.json",
        ],
    );
    assert_eq!(again["taskDefinition"]["revision"], 2);
    assert_eq!(
        again["taskDefinition"]["containerDefinitions"][0]["image"],
        image.as_str()
    );
    assert_eq!(
        again["taskDefinition"]["containerDefinitions"][1]["ulimits"][0]["softLimit"],
        65536
    );
}

#[test]
fn from_service_in_cutover_toml() {
    let sb = with_aws(Sandbox::empty());
    let (cluster, svc, _) = service(&sb);
    sb.write(
        "cutover.toml",
        &format!("[service]\ncluster = \"{cluster}\"\nservice = \"{svc}\"\n\n[taskdef]\nfrom_service = true\n\n[[containers]]\nname = \"app\"\nport = 8080\n"),
    );
    let r = sb.run(&[
        "artifacts",
        "--image",
        "127.0.0.1:5000/app:v3",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(plan["taskdef_source"]
        .as_str()
        .unwrap()
        .starts_with(&format!("service {cluster}/{svc}")));
    let rendered: Value = serde_json::from_str(&sb.read("out/taskdef.json")).unwrap();
    assert_eq!(
        rendered["containerDefinitions"][0]["image"],
        "<IMAGE1_NAME>"
    );
    assert_eq!(
        rendered["containerDefinitions"][1]["image"],
        "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27"
    );
}

#[test]
fn a_missing_service_is_one_line_and_a_hint() {
    let sb = with_aws(Sandbox::empty());
    let (cluster, _, _) = service(&sb);
    let r = sb.run(&[
        "artifacts",
        "--from-service",
        "--cluster",
        &cluster,
        "--service",
        "nope",
        "--container",
        "app:8080",
        "--image",
        "x/app:1",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("error: ECS service `{cluster}/nope` does not exist in region `us-east-1`\n  hint: check [service] service in cutover.toml (or --service)\n")
    );
    assert!(!sb.exists("out"));
    let r = sb.run(&[
        "artifacts",
        "--from-service",
        "--cluster",
        "nope",
        "--service",
        "nope",
        "--container",
        "app:8080",
        "--image",
        "x/app:1",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: ECS cluster `nope` does not exist in region `us-east-1`"),
        "{r:?}"
    );
}

#[test]
fn from_service_needs_the_cluster_and_the_service() {
    let sb = Sandbox::empty();
    let r = sb.run(&[
        "artifacts",
        "--from-service",
        "--container",
        "app:8080",
        "--image",
        "x/app:1",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    crate::assert_run_snapshot!("from_service_without_service", sb, r);
}
