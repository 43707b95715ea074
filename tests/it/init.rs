//! `cutover init`: in a scratch git repository with a Dockerfile, the files it writes make a
//! setup that `dry-run`, `validate`, `hooks install` and `scripts/lint-templates` accept; a second
//! init changes nothing; and `--from-service` against moto (a CODE_DEPLOY service with a sidecar,
//! secrets and a deployment group) yields a cutover.toml whose dry-run renders that service's task
//! definition, which the AWS CLI registers. Needs the services scripts/test starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::live_service::{service, task_definition};
use crate::support::aws::{aws_json, codedeploy_group, with_aws, ACCOUNT};
use crate::support::{repo_path, require_env, unique, Sandbox};

const BUNDLED: &[&str] = &[
    "buildspec/buildspec.yml",
    "pipeline/template.yaml",
    "pipeline/pipeline.yaml",
    "pipeline/pipeline-ecs-native.yaml",
    "pipeline/codebuild.yaml",
    "pipeline/README.md",
];

/// A git repository holding one service's Dockerfile (EXPOSE 3000) and its file.
fn repository() -> Sandbox {
    let sb = Sandbox::empty();
    sb.write(
        "shop/Dockerfile",
        "FROM scratch AS build\nCOPY server /server\nFROM scratch\nCOPY --from=build /server /server\nEXPOSE 3000/tcp\n",
    );
    sb.write("shop/server", "binary\n");
    sb.git(&["init", "-q"]);
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "-q", "-m", "service"]);
    sb
}

fn toml(sb: &Sandbox) -> toml::Value {
    toml::from_str(&sb.read("cutover.toml")).unwrap()
}

#[test]
fn init_in_a_repository_makes_a_setup_that_dry_run_validate_and_the_hook_accept() {
    let sb = repository();
    let r = sb.run(&["init", "--name", "shop"]);
    assert_eq!(r.code, 0, "{r:?}");
    for f in ["cutover.toml", "ecs/taskdef.json"].iter().chain(BUNDLED) {
        assert!(r.stdout.contains(&format!("wrote      {f}")), "{f}: {r:?}");
    }
    // The dry-run ran and printed its plan, then the next three commands.
    assert!(r.stdout.contains("container      app  port 3000"), "{r:?}");
    assert!(
        r.stdout.contains("\nnext:\n  1. aws cloudformation deploy"),
        "{r:?}"
    );
    assert!(r.stdout.contains("  3. git add"), "{r:?}");

    let t = toml(&sb);
    assert_eq!(t["image"]["dockerfile"].as_str(), Some("shop/Dockerfile"));
    assert_eq!(t["image"]["context"].as_str(), Some("shop"));
    assert_eq!(t["containers"][0]["name"].as_str(), Some("app"));
    assert_eq!(t["containers"][0]["port"].as_integer(), Some(3000));
    assert_eq!(
        t["codedeploy"]["deployment_group"].as_str(),
        Some("shop-dg")
    );
    assert_eq!(
        t["local"]["health_check"]["path"].as_str(),
        Some("/healthz")
    );
    let td: Value = serde_json::from_str(&sb.read("ecs/taskdef.json")).unwrap();
    assert_eq!(td["family"], "shop");
    assert_eq!(
        td["containerDefinitions"][0]["portMappings"][0]["containerPort"],
        3000
    );
    assert_eq!(
        td["containerDefinitions"][0]["logConfiguration"]["logDriver"],
        "awslogs"
    );
    // The bundled files are written unchanged, so an upgrade is a diff.
    for f in BUNDLED {
        assert_eq!(
            sb.read(f),
            std::fs::read_to_string(repo_path(f)).unwrap(),
            "{f}"
        );
    }

    let dry = sb.run(&["dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let validate = sb.run(&["validate", "out"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    let appspec = sb.read("out/appspec.yaml");
    assert!(
        appspec.contains("ContainerName: app") && appspec.contains("ContainerPort: 3000"),
        "{appspec}"
    );
    let hook = sb.run(&["hooks", "install"]);
    assert_eq!(hook.code, 0, "{hook:?}");
    assert!(sb.exists(".git/hooks/pre-push"));

    // Again: nothing changes, and it says so.
    let before = sb.read("cutover.toml");
    let again = sb.run(&["init", "--name", "shop"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("nothing changed: 8 file(s)"),
        "{again:?}"
    );
    assert!(
        !again.stdout.contains("wrote      cutover.toml")
            && !again.stdout.contains("wrote      ecs/"),
        "{again:?}"
    );
    assert_eq!(sb.read("cutover.toml"), before);

    // A file of one's own is left alone, and replaced only with --force.
    sb.write("cutover.toml", &format!("{before}\n# mine\n"));
    let kept = sb.run(&["init", "--name", "shop"]);
    assert_eq!(kept.code, 0, "{kept:?}");
    assert!(kept.stdout.contains("left alone cutover.toml"), "{kept:?}");
    assert!(sb.read("cutover.toml").ends_with("# mine\n"));
    let forced = sb.run(&["init", "--name", "shop", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(
        forced.stdout.contains("replaced   cutover.toml"),
        "{forced:?}"
    );
    assert_eq!(sb.read("cutover.toml"), before);
}

#[test]
fn the_generated_templates_pass_lint_templates() {
    let sb = repository();
    assert_eq!(sb.run(&["init"]).code, 0);
    // scripts/lint-templates checks the repository it lies in: put it in the scratch one.
    sb.copy_from_repo("scripts/lint-templates");
    let venv = PathBuf::from(require_env("CUTOVER_TEST_AWS_CLI"))
        .parent()
        .and_then(|bin| bin.parent())
        .unwrap()
        .to_path_buf();
    let mut cmd = Command::new("bash");
    sb.scrub(&mut cmd);
    let out = cmd
        .arg(sb.join("scripts/lint-templates"))
        .env("VENV", &venv)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .current_dir(sb.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("lint-templates: ok") || stdout.contains("lint-templates: ok"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn what_init_cannot_work_out_is_exit_2_with_the_fix_and_nothing_written() {
    let sb = Sandbox::empty();
    let none = sb.run(&["init"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no Dockerfile under"), "{none:?}");
    assert!(none.stderr.contains("hint:"), "{none:?}");

    sb.write("api/Dockerfile", "FROM scratch\n");
    sb.write("worker/Dockerfile", "FROM scratch\nEXPOSE 9000\n");
    let several = sb.run(&["init"]);
    assert_eq!(several.code, 2, "{several:?}");
    assert!(
        several.stderr.contains("`api/Dockerfile`")
            && several.stderr.contains("`worker/Dockerfile`")
            && several.stderr.contains("--dockerfile"),
        "{several:?}"
    );
    let no_port = sb.run(&["init", "--dockerfile", "api/Dockerfile"]);
    assert_eq!(no_port.code, 2, "{no_port:?}");
    assert!(
        no_port.stderr.contains("has no EXPOSE") && no_port.stderr.contains("--port"),
        "{no_port:?}"
    );
    assert!(
        !sb.exists("cutover.toml"),
        "nothing is written on a refusal"
    );

    let chosen = sb.run(&["init", "--dockerfile", "worker/Dockerfile"]);
    assert_eq!(chosen.code, 0, "{chosen:?}");
    assert_eq!(toml(&sb)["containers"][0]["port"].as_integer(), Some(9000));
    let given = sb.run(&[
        "init",
        "--dockerfile",
        "api/Dockerfile",
        "--port",
        "7000",
        "--force",
    ]);
    assert_eq!(given.code, 0, "{given:?}");
    assert_eq!(toml(&sb)["containers"][0]["port"].as_integer(), Some(7000));

    let bad = sb.run(&["init", "--from-service", "just-a-name"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("CLUSTER/SERVICE"), "{bad:?}");
}

#[test]
fn from_service_reads_the_service_and_its_deployment_group() {
    let sb = with_aws(repository());
    let (cluster, svc, family) = service(&sb);
    let app = unique("app");
    codedeploy_group(&sb, (&app, "blue-green"), (&cluster, &svc), None);
    let r = sb.run(&["init", "--from-service", &format!("{cluster}/{svc}")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("to do, from `cutover verify` on {cluster}/{svc}")),
        "{r:?}"
    );

    let t = toml(&sb);
    assert_eq!(t["service"]["cluster"].as_str(), Some(cluster.as_str()));
    assert_eq!(t["service"]["service"].as_str(), Some(svc.as_str()));
    assert_eq!(t["service"]["name"].as_str(), Some(family.as_str()));
    assert_eq!(t["codedeploy"]["application"].as_str(), Some(app.as_str()));
    assert_eq!(
        t["codedeploy"]["deployment_group"].as_str(),
        Some("blue-green")
    );
    assert_eq!(t["containers"][0]["name"].as_str(), Some("app"));
    assert_eq!(t["containers"][0]["port"].as_integer(), Some(8080));
    assert_eq!(
        t["image"]["repository"].as_str(),
        Some(format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app").as_str())
    );

    // The dry-run renders the service's task definition faithfully: secrets, the sidecar and
    // its pinned image, the fields cutover does not model, the tags.
    let dry = sb.run(&["dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let mut rendered: Value = serde_json::from_str(&sb.read("out/taskdef.json")).unwrap();
    for c in rendered["containerDefinitions"].as_array_mut().unwrap() {
        assert_eq!(c["cpu"], 0, "what ECS added on registration stays");
        c.as_object_mut().unwrap().remove("cpu");
    }
    let mut expected = task_definition(&family);
    expected["containerDefinitions"][0]["image"] = json!("<IMAGE1_NAME>");
    expected["tags"] = json!([{"key": "team", "value": "web"}]);
    assert_eq!(rendered, expected);

    let image = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:v2");
    sb.replace("out/taskdef.json", "<IMAGE1_NAME>", &image);
    let registered = aws_json(
        &sb,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://out/taskdef.json",
        ],
    );
    assert_eq!(registered["taskDefinition"]["revision"], 2);
    assert_eq!(
        registered["taskDefinition"]["containerDefinitions"][1]["image"],
        "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27"
    );
}

#[test]
fn from_service_without_a_deployment_group_says_what_is_missing() {
    let sb = with_aws(repository());
    let (cluster, svc, _) = service(&sb);
    let r = sb.run(&["init", "--from-service", &format!("{cluster}/{svc}")]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("CodeDeploy deployment group for the ECS service")
            && r.stderr.contains("hint:"),
        "{r:?}"
    );
    assert!(!sb.exists("cutover.toml"));
}
