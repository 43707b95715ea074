//! One test per validator rule: each starts from a valid artifact set (tests/fixtures/valid),
//! breaks exactly one thing, and asserts the exact errors reported (rule, file, JSON path).
#![allow(clippy::unwrap_used)]

use cutover::artifacts::{ArtifactFile, ArtifactSet};
use cutover::validate::{validate, Severity};
use serde_json::{json, Value};

fn valid() -> ArtifactSet {
    cutover::artifacts::read::read_artifact(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/valid"
    )))
    .unwrap()
}

fn errors(set: &ArtifactSet) -> Vec<(String, String, String)> {
    validate(set)
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| (p.rule.to_string(), p.file, p.path))
        .collect()
}

fn assert_errors(set: &ArtifactSet, expected: &[(&str, &str, &str)]) {
    let got = errors(set);
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(r, f, p)| (r.to_string(), f.to_string(), p.to_string()))
        .collect();
    assert_eq!(got, want, "all problems: {:#?}", validate(set));
}

fn put(set: &mut ArtifactSet, name: &str, bytes: Vec<u8>) {
    match set.files.iter_mut().find(|f| f.name == name) {
        Some(f) => f.bytes = bytes,
        None => set.files.push(ArtifactFile {
            name: name.to_string(),
            bytes,
        }),
    }
}

fn remove(set: &mut ArtifactSet, name: &str) -> ArtifactFile {
    let i = set.files.iter().position(|f| f.name == name).unwrap();
    set.files.remove(i)
}

/// Applies `f` to a JSON file of the set.
fn edit_json(name: &str, f: impl FnOnce(&mut Value)) -> ArtifactSet {
    let mut set = valid();
    let mut v: Value = serde_json::from_slice(&set.get(name).unwrap().bytes).unwrap();
    f(&mut v);
    put(&mut set, name, serde_json::to_vec_pretty(&v).unwrap());
    set
}

/// Applies `f` to the AppSpec (parsed from YAML, written back as YAML).
fn edit_appspec(f: impl FnOnce(&mut Value)) -> ArtifactSet {
    let mut set = valid();
    let mut v: Value = serde_yaml::from_slice(&set.get("appspec.yaml").unwrap().bytes).unwrap();
    f(&mut v);
    put(
        &mut set,
        "appspec.yaml",
        serde_yaml::to_string(&v).unwrap().into_bytes(),
    );
    set
}

const PROPS: &str = "$.Resources[0].TargetService.Properties";

fn props(v: &mut Value) -> &mut Value {
    &mut v["Resources"][0]["TargetService"]["Properties"]
}

#[test]
fn the_fixture_is_valid_without_warnings() {
    assert_eq!(validate(&valid()), vec![]);
}

#[test]
fn file_name_case_is_reported_with_the_exact_name() {
    let mut set = valid();
    let mut f = remove(&mut set, "imageDetail.json");
    f.name = "imagedetail.json".into();
    set.files.push(f);
    assert_errors(
        &set,
        &[
            ("file-name", "imagedetail.json", "$"),
            ("image-detail-missing", "imageDetail.json", "$"),
        ],
    );
    let p = validate(&set)
        .into_iter()
        .find(|p| p.rule == "file-name")
        .unwrap();
    assert!(p.hint.unwrap().contains("rename it to `imageDetail.json`"));
}

#[test]
fn appspec_yml_is_not_appspec_yaml() {
    let mut set = valid();
    let mut f = remove(&mut set, "appspec.yaml");
    f.name = "appspec.yml".into();
    set.files.push(f);
    assert_errors(
        &set,
        &[
            ("file-name", "appspec.yml", "$"),
            ("file-missing", "appspec.yaml", "$"),
        ],
    );
}

#[test]
fn missing_taskdef() {
    let mut set = valid();
    remove(&mut set, "taskdef.json");
    assert_errors(&set, &[("file-missing", "taskdef.json", "$")]);
}

#[test]
fn missing_image_detail_when_a_placeholder_needs_it() {
    let mut set = valid();
    remove(&mut set, "imageDetail.json");
    assert_errors(&set, &[("image-detail-missing", "imageDetail.json", "$")]);
}

#[test]
fn unparsable_json_and_yaml() {
    let mut set = valid();
    put(&mut set, "taskdef.json", b"{\"family\": ".to_vec());
    put(&mut set, "appspec.yaml", b"version: [0.0\n".to_vec());
    assert_errors(
        &set,
        &[
            ("parse", "taskdef.json", "$"),
            ("parse", "appspec.yaml", "$"),
        ],
    );
}

#[test]
fn non_utf8_file() {
    let mut set = valid();
    put(&mut set, "imagedefinitions.json", vec![0xff, 0xfe, b'[']);
    assert_errors(&set, &[("parse", "imagedefinitions.json", "$")]);
}

#[test]
fn taskdef_over_32_kib() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["environment"] =
            json!([{"name": "BIG", "value": "x".repeat(33 * 1024)}]);
    });
    assert_errors(&set, &[("size", "taskdef.json", "$")]);
}

#[test]
fn image_definitions_over_100_kb() {
    let set = edit_json("imagedefinitions.json", |v| {
        v[0]["padding"] = json!("x".repeat(101 * 1024));
    });
    assert_errors(&set, &[("size", "imagedefinitions.json", "$")]);
}

#[test]
fn zipped_artifact_over_3_mb() {
    let mut set = valid();
    // Incompressible bytes (a simple LCG), so the zip stays large.
    let mut x: u64 = 12345;
    let blob: Vec<u8> = (0..3_300_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    put(&mut set, "blob.bin", blob);
    assert_errors(&set, &[("size", "(artifact zip)", "$")]);
}

#[test]
fn image_uri_missing_names_the_near_key() {
    let set = edit_json("imageDetail.json", |v| {
        let uri = v["ImageURI"].take();
        v.as_object_mut().unwrap().remove("ImageURI");
        v["ImageUri"] = uri;
    });
    assert_errors(&set, &[("image-uri", "imageDetail.json", "$.ImageURI")]);
    let p = validate(&set)
        .into_iter()
        .find(|p| p.rule == "image-uri")
        .unwrap();
    assert!(p.hint.unwrap().contains("rename `ImageUri` to `ImageURI`"));
}

#[test]
fn image_uri_invalid_digest() {
    let set = edit_json("imageDetail.json", |v| {
        v["ImageURI"] = json!("repo/app@sha256:1234")
    });
    assert_errors(&set, &[("image-uri", "imageDetail.json", "$.ImageURI")]);
}

#[test]
fn image_detail_not_an_object() {
    let set = edit_json("imageDetail.json", |v| *v = json!(["x"]));
    assert_errors(&set, &[("image-detail-shape", "imageDetail.json", "$")]);
}

#[test]
fn image_definitions_name_not_in_taskdef() {
    let set = edit_json("imagedefinitions.json", |v| v[0]["name"] = json!("web"));
    assert_errors(
        &set,
        &[(
            "image-definitions-name",
            "imagedefinitions.json",
            "$[0].name",
        )],
    );
    let p = validate(&set)
        .into_iter()
        .find(|p| p.rule == "image-definitions-name")
        .unwrap();
    assert!(
        p.message
            .contains("The AWS ECS container web does not exist"),
        "{}",
        p.message
    );
}

#[test]
fn image_definitions_not_an_array() {
    let set = edit_json("imagedefinitions.json", |v| {
        *v = json!({"name": "app", "imageUri": "a/b:c"})
    });
    assert_errors(
        &set,
        &[("image-definitions-shape", "imagedefinitions.json", "$")],
    );
}

#[test]
fn image_definitions_missing_image_uri() {
    let set = edit_json("imagedefinitions.json", |v| {
        v[0].as_object_mut().unwrap().remove("imageUri");
    });
    assert_errors(
        &set,
        &[(
            "image-definitions-shape",
            "imagedefinitions.json",
            "$[0].imageUri",
        )],
    );
}

#[test]
fn taskdef_still_wrapped_in_describe_output() {
    let set = edit_json("taskdef.json", |v| {
        *v = json!({"taskDefinition": v.clone()})
    });
    let got = errors(&set);
    assert_eq!(
        got[0],
        (
            "taskdef-shape".into(),
            "taskdef.json".into(),
            "$.taskDefinition".into()
        )
    );
}

#[test]
fn taskdef_read_only_key() {
    let set = edit_json("taskdef.json", |v| v["revision"] = json!(7));
    assert_errors(&set, &[("taskdef-read-only", "taskdef.json", "$.revision")]);
}

#[test]
fn taskdef_family_bad_name() {
    let set = edit_json("taskdef.json", |v| v["family"] = json!("sample app"));
    assert_errors(&set, &[("taskdef-name", "taskdef.json", "$.family")]);
}

#[test]
fn taskdef_family_missing() {
    let set = edit_json("taskdef.json", |v| {
        v.as_object_mut().unwrap().remove("family");
    });
    assert_errors(&set, &[("taskdef-family", "taskdef.json", "$.family")]);
}

#[test]
fn taskdef_cpu_as_number() {
    let set = edit_json("taskdef.json", |v| v["cpu"] = json!(256));
    assert_errors(&set, &[("taskdef-cpu-memory", "taskdef.json", "$.cpu")]);
}

#[test]
fn container_memory_as_string() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["memory"] = json!("512")
    });
    assert_errors(
        &set,
        &[(
            "taskdef-cpu-memory",
            "taskdef.json",
            "$.containerDefinitions[0].memory",
        )],
    );
}

#[test]
fn memory_nowhere() {
    let set = edit_json("taskdef.json", |v| {
        let o = v.as_object_mut().unwrap();
        o.remove("memory");
        o.remove("requiresCompatibilities");
    });
    assert_errors(
        &set,
        &[(
            "taskdef-memory",
            "taskdef.json",
            "$.containerDefinitions[0]",
        )],
    );
}

#[test]
fn fargate_needs_awsvpc() {
    let set = edit_json("taskdef.json", |v| v["networkMode"] = json!("bridge"));
    assert_errors(
        &set,
        &[("taskdef-fargate", "taskdef.json", "$.networkMode")],
    );
}

#[test]
fn more_than_ten_containers() {
    let set = edit_json("taskdef.json", |v| {
        let list = v["containerDefinitions"].as_array_mut().unwrap();
        for i in 0..10 {
            list.push(json!({"name": format!("side{i}"), "image": "busybox:1"}));
        }
    });
    assert_errors(
        &set,
        &[(
            "taskdef-containers",
            "taskdef.json",
            "$.containerDefinitions",
        )],
    );
}

#[test]
fn duplicate_container_name() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "app", "image": "busybox:1"}));
    });
    assert_errors(
        &set,
        &[(
            "taskdef-container-name",
            "taskdef.json",
            "$.containerDefinitions[1].name",
        )],
    );
}

#[test]
fn placeholder_slot_out_of_range() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["image"] = json!("<IMAGE5_NAME>")
    });
    assert_errors(
        &set,
        &[(
            "taskdef-placeholder",
            "taskdef.json",
            "$.containerDefinitions[0].image",
        )],
    );
}

#[test]
fn placeholder_without_angle_brackets() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["image"] = json!("IMAGE1_NAME")
    });
    assert_errors(
        &set,
        &[(
            "taskdef-placeholder",
            "taskdef.json",
            "$.containerDefinitions[0].image",
        )],
    );
}

#[test]
fn placeholder_slots_with_a_gap() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["image"] = json!("<IMAGE2_NAME>")
    });
    assert_errors(
        &set,
        &[("taskdef-slot-gap", "taskdef.json", "$.containerDefinitions")],
    );
    let p = validate(&set)
        .into_iter()
        .find(|p| p.rule == "taskdef-slot-gap")
        .unwrap();
    assert!(p.hint.unwrap().contains("Image1ContainerName"));
}

#[test]
fn awsvpc_host_port_differs() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["portMappings"][0]["hostPort"] = json!(80)
    });
    assert_errors(
        &set,
        &[(
            "taskdef-awsvpc-host-port",
            "taskdef.json",
            "$.containerDefinitions[0].portMappings[0].hostPort",
        )],
    );
}

#[test]
fn container_port_out_of_range() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]["portMappings"]
            .as_array_mut()
            .unwrap()
            .push(json!({"containerPort": 70000}));
    });
    assert_errors(
        &set,
        &[(
            "taskdef-port",
            "taskdef.json",
            "$.containerDefinitions[0].portMappings[1].containerPort",
        )],
    );
}

#[test]
fn null_value_in_taskdef() {
    let set = edit_json("taskdef.json", |v| v["taskRoleArn"] = Value::Null);
    assert_errors(
        &set,
        &[("taskdef-empty-value", "taskdef.json", "$.taskRoleArn")],
    );
}

#[test]
fn sidecar_with_invalid_image() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "envoy", "image": "Envoy Proxy"}));
    });
    assert_errors(
        &set,
        &[(
            "taskdef-image",
            "taskdef.json",
            "$.containerDefinitions[1].image",
        )],
    );
}

#[test]
fn container_without_image() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("image");
    });
    assert_errors(
        &set,
        &[(
            "taskdef-image",
            "taskdef.json",
            "$.containerDefinitions[0].image",
        )],
    );
}

#[test]
fn appspec_version_other_than_zero() {
    let set = edit_appspec(|v| v["version"] = json!(0.1));
    assert_errors(&set, &[("appspec-version", "appspec.yaml", "$.version")]);
}

#[test]
fn appspec_unknown_top_level_key() {
    let set = edit_appspec(|v| v["Files"] = json!([]));
    assert_errors(&set, &[("appspec-shape", "appspec.yaml", "$.Files")]);
}

#[test]
fn appspec_two_resources() {
    let set = edit_appspec(|v| {
        let r = v["Resources"][0].clone();
        v["Resources"].as_array_mut().unwrap().push(r);
    });
    assert_errors(
        &set,
        &[("appspec-resources", "appspec.yaml", "$.Resources")],
    );
}

#[test]
fn appspec_wrong_resource_type() {
    let set = edit_appspec(|v| {
        v["Resources"][0]["TargetService"]["Type"] = json!("AWS::Lambda::Function")
    });
    assert_errors(
        &set,
        &[(
            "appspec-resources",
            "appspec.yaml",
            "$.Resources[0].TargetService.Type",
        )],
    );
}

#[test]
fn appspec_task_definition_with_wildcard() {
    let set = edit_appspec(|v| {
        props(v)["TaskDefinition"] =
            json!("arn:aws:ecs:us-east-1:111122223333:task-definition/app:*");
    });
    assert_errors(
        &set,
        &[(
            "appspec-task-definition",
            "appspec.yaml",
            &format!("{PROPS}.TaskDefinition"),
        )],
    );
}

#[test]
fn appspec_task_definition_family_name_only() {
    let set = edit_appspec(|v| props(v)["TaskDefinition"] = json!("sample-app"));
    assert_errors(
        &set,
        &[(
            "appspec-task-definition",
            "appspec.yaml",
            &format!("{PROPS}.TaskDefinition"),
        )],
    );
}

#[test]
fn appspec_task_definition_full_arn_is_accepted() {
    let set = edit_appspec(|v| {
        props(v)["TaskDefinition"] =
            json!("arn:aws:ecs:us-east-1:111122223333:task-definition/sample-app:12");
    });
    assert_errors(&set, &[]);
}

#[test]
fn appspec_container_name_not_in_taskdef() {
    let set = edit_appspec(|v| props(v)["LoadBalancerInfo"]["ContainerName"] = json!("web"));
    assert_errors(
        &set,
        &[(
            "appspec-container",
            "appspec.yaml",
            &format!("{PROPS}.LoadBalancerInfo.ContainerName"),
        )],
    );
}

#[test]
fn appspec_container_port_not_mapped() {
    let set = edit_appspec(|v| props(v)["LoadBalancerInfo"]["ContainerPort"] = json!(9090));
    assert_errors(
        &set,
        &[(
            "appspec-container-port",
            "appspec.yaml",
            &format!("{PROPS}.LoadBalancerInfo.ContainerPort"),
        )],
    );
    let p = validate(&set)
        .into_iter()
        .find(|p| p.rule == "appspec-container-port")
        .unwrap();
    assert_eq!(
        p.message,
        "container `app` (taskdef.json $.containerDefinitions[0]) has containerPort 8080, not 9090"
    );
}

#[test]
fn appspec_container_port_as_string() {
    let set = edit_appspec(|v| props(v)["LoadBalancerInfo"]["ContainerPort"] = json!("8080"));
    assert_errors(
        &set,
        &[(
            "appspec-load-balancer",
            "appspec.yaml",
            &format!("{PROPS}.LoadBalancerInfo.ContainerPort"),
        )],
    );
}

#[test]
fn appspec_without_load_balancer_info() {
    let set = edit_appspec(|v| {
        props(v).as_object_mut().unwrap().remove("LoadBalancerInfo");
    });
    assert_errors(
        &set,
        &[(
            "appspec-load-balancer",
            "appspec.yaml",
            &format!("{PROPS}.LoadBalancerInfo"),
        )],
    );
}

#[test]
fn appspec_platform_version_lowercase() {
    let set = edit_appspec(|v| props(v)["PlatformVersion"] = json!("latest"));
    assert_errors(
        &set,
        &[(
            "appspec-platform-version",
            "appspec.yaml",
            &format!("{PROPS}.PlatformVersion"),
        )],
    );
}

#[test]
fn appspec_unknown_property() {
    let set = edit_appspec(|v| props(v)["LaunchType"] = json!("FARGATE"));
    assert_errors(
        &set,
        &[(
            "appspec-properties",
            "appspec.yaml",
            &format!("{PROPS}.LaunchType"),
        )],
    );
}

#[test]
fn network_configuration_is_all_or_none() {
    let set = edit_appspec(|v| {
        props(v)["NetworkConfiguration"]["AwsvpcConfiguration"]
            .as_object_mut()
            .unwrap()
            .remove("SecurityGroups");
    });
    assert_errors(
        &set,
        &[(
            "appspec-network",
            "appspec.yaml",
            &format!("{PROPS}.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups"),
        )],
    );
}

#[test]
fn more_than_16_subnets() {
    let set = edit_appspec(|v| {
        let subnets: Vec<String> = (0..17).map(|i| format!("subnet-{i:08x}")).collect();
        props(v)["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] = json!(subnets);
    });
    assert_errors(
        &set,
        &[(
            "appspec-network",
            "appspec.yaml",
            &format!("{PROPS}.NetworkConfiguration.AwsvpcConfiguration.Subnets"),
        )],
    );
}

#[test]
fn more_than_5_security_groups() {
    let set = edit_appspec(|v| {
        let sgs: Vec<String> = (0..6).map(|i| format!("sg-{i:08x}")).collect();
        props(v)["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] = json!(sgs);
    });
    assert_errors(
        &set,
        &[(
            "appspec-network",
            "appspec.yaml",
            &format!("{PROPS}.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups"),
        )],
    );
}

#[test]
fn assign_public_ip_must_be_enabled_or_disabled() {
    let set = edit_appspec(|v| {
        props(v)["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] = json!("YES")
    });
    assert_errors(
        &set,
        &[(
            "appspec-network",
            "appspec.yaml",
            &format!("{PROPS}.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp"),
        )],
    );
}

#[test]
fn capacity_providers_with_two_bases() {
    let set = edit_appspec(|v| {
        props(v)["CapacityProviderStrategy"] = json!([
            {"CapacityProvider": "FARGATE", "Weight": 1, "Base": 1},
            {"CapacityProvider": "FARGATE_SPOT", "Weight": 1, "Base": 1}
        ]);
    });
    assert_errors(
        &set,
        &[(
            "appspec-capacity-provider",
            "appspec.yaml",
            &format!("{PROPS}.CapacityProviderStrategy"),
        )],
    );
}

#[test]
fn capacity_providers_without_weight() {
    let set = edit_appspec(|v| {
        props(v)["CapacityProviderStrategy"] =
            json!([{"CapacityProvider": "FARGATE", "Weight": 0}]);
    });
    assert_errors(
        &set,
        &[(
            "appspec-capacity-provider",
            "appspec.yaml",
            &format!("{PROPS}.CapacityProviderStrategy"),
        )],
    );
}

#[test]
fn hook_name_not_a_lifecycle_event() {
    let set = edit_appspec(|v| v["Hooks"] = json!([{"BeforeDeploy": "fn"}]));
    assert_errors(
        &set,
        &[("appspec-hooks", "appspec.yaml", "$.Hooks[0].BeforeDeploy")],
    );
}

#[test]
fn hook_given_twice() {
    let set = edit_appspec(|v| v["Hooks"] = json!([{"AfterInstall": "a"}, {"AfterInstall": "b"}]));
    assert_errors(
        &set,
        &[("appspec-hooks", "appspec.yaml", "$.Hooks[1].AfterInstall")],
    );
}

#[test]
fn hooks_as_a_mapping() {
    let set = edit_appspec(|v| v["Hooks"] = json!({"AfterInstall": "a"}));
    assert_errors(&set, &[("appspec-hooks", "appspec.yaml", "$.Hooks")]);
}

#[test]
fn lowercase_resources_key_is_a_warning_not_an_error() {
    let set = edit_appspec(|v| {
        let r = v.as_object_mut().unwrap().remove("Resources").unwrap();
        v["resources"] = r;
    });
    assert_errors(&set, &[]);
    assert!(validate(&set)
        .iter()
        .any(|p| p.rule == "appspec-key-case" && p.path == "$.resources"));
}

#[test]
fn appspec_json_is_read_too() {
    let mut set = valid();
    let yaml = remove(&mut set, "appspec.yaml");
    let v: Value = serde_yaml::from_slice(&yaml.bytes).unwrap();
    let mut v2 = v.clone();
    v2["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]["ContainerName"] =
        json!("web");
    set.files.push(ArtifactFile {
        name: "appspec.json".into(),
        bytes: serde_json::to_vec(&v2).unwrap(),
    });
    assert_errors(
        &set,
        &[(
            "appspec-container",
            "appspec.json",
            &format!("{PROPS}.LoadBalancerInfo.ContainerName"),
        )],
    );
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let mut set = edit_json("taskdef.json", |v| {
        v["revision"] = json!(3);
        v["cpu"] = json!(256);
    });
    let mut spec: Value = serde_yaml::from_slice(&set.get("appspec.yaml").unwrap().bytes).unwrap();
    props(&mut spec)["LoadBalancerInfo"]["ContainerPort"] = json!(1234);
    put(
        &mut set,
        "appspec.yaml",
        serde_yaml::to_string(&spec).unwrap().into_bytes(),
    );
    assert_eq!(errors(&set).len(), 3, "{:#?}", validate(&set));
}

#[test]
fn a_resource_not_named_target_service() {
    let set = edit_appspec(|v| {
        let ts = v["Resources"][0]["TargetService"].take();
        v["Resources"][0] = json!({ "Service": ts });
    });
    assert_errors(
        &set,
        &[(
            "appspec-resources",
            "appspec.yaml",
            "$.Resources[0].Service",
        )],
    );
}

#[test]
fn problems_under_a_lowercase_key_name_the_key_as_written() {
    let set = edit_appspec(|v| {
        v.as_object_mut().unwrap().remove("Hooks");
        v["hooks"] = json!([{"BeforeDeploy": "fn"}]);
    });
    assert_errors(
        &set,
        &[("appspec-hooks", "appspec.yaml", "$.hooks[0].BeforeDeploy")],
    );
}

#[test]
fn capacity_provider_keys_match_case_insensitively() {
    let set = edit_appspec(|v| {
        props(v)["CapacityProviderStrategy"] =
            json!([{"capacityProvider": "FARGATE", "weight": 1}]);
    });
    assert_errors(&set, &[]);
}

#[test]
fn the_size_limit_counts_the_definition_without_indentation() {
    // About 31 KiB of values: over 32 KiB once pretty-printed, under it as sent.
    let set = edit_json("taskdef.json", |v| {
        let env: Vec<Value> = (0..500)
            .map(|i| json!({"name": format!("V{i:04}"), "value": "x".repeat(30)}))
            .collect();
        v["containerDefinitions"][0]["environment"] = json!(env);
    });
    assert!(set.get("taskdef.json").unwrap().bytes.len() > 32 * 1024);
    assert_errors(&set, &[]);
}

#[test]
fn slots_above_one_are_a_warning_about_other_artifacts() {
    let set = edit_json("taskdef.json", |v| {
        v["containerDefinitions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "envoy", "image": "<IMAGE2_NAME>"}));
    });
    assert_errors(&set, &[]);
    assert!(validate(&set)
        .iter()
        .any(|p| p.rule == "taskdef-slot-artifact"));
}
