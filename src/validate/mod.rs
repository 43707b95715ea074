//! The validator: checks an artifact set as CodePipeline, CodeDeploy and ECS will, before they do.
//! One function per rule group; each pushes [`Problem`]s naming the file, the JSON/YAML path, what
//! is wrong and how to fix it. Pure: it reads the files' bytes, never the disk. Every rule id is
//! in the [`catalog`], with what it checks and a bad and a good example.

pub mod catalog;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::artifacts::appspec::{self, HookEvent};
use crate::artifacts::{image_definitions, image_detail, taskdef, ArtifactSet};
use crate::image_ref::ImageRef;

/// CodePipeline's limit on one input artifact of the deploy action (the zip it stores).
pub const MAX_ARTIFACT_ZIP_BYTES: usize = 3 * 1024 * 1024;

pub use crate::problem::{has_errors, Problem, Severity};

/// Collects problems with less ceremony at each call site.
struct Report {
    problems: Vec<Problem>,
}

impl Report {
    fn push(
        &mut self,
        sev: Severity,
        rule: &'static str,
        file: &str,
        path: &str,
        msg: String,
        hint: Option<&str>,
    ) {
        // Every test of the validator holds each report to the catalog's id and level.
        debug_assert!(
            catalog::find(rule).is_some_and(|r| match r.level {
                catalog::Level::Both => true,
                catalog::Level::Error => sev == Severity::Error,
                catalog::Level::Warning => sev == Severity::Warning,
            }),
            "rule `{rule}` reported as {sev:?} but the catalog says otherwise"
        );
        self.problems.push(Problem {
            rule,
            severity: sev,
            file: file.to_string(),
            path: path.to_string(),
            message: msg,
            hint: hint.map(str::to_string),
        });
    }
    fn err(&mut self, rule: &'static str, file: &str, path: &str, msg: String, hint: &str) {
        self.push(Severity::Error, rule, file, path, msg, Some(hint));
    }
    fn warn(&mut self, rule: &'static str, file: &str, path: &str, msg: String, hint: &str) {
        self.push(Severity::Warning, rule, file, path, msg, Some(hint));
    }
}

const TASKDEF: &str = taskdef::FILE_NAME;
const DETAIL: &str = image_detail::FILE_NAME;
const DEFS: &str = image_definitions::FILE_NAME;

/// Names users write instead of the exact ones, mapped to the exact name.
const NEAR_NAMES: &[(&str, &str)] = &[
    ("imagedetail.json", DETAIL),
    ("image_detail.json", DETAIL),
    ("imagedetails.json", DETAIL),
    ("image-detail.json", DETAIL),
    ("imagedefinition.json", DEFS),
    ("image_definitions.json", DEFS),
    ("image-definitions.json", DEFS),
    ("task-definition.json", TASKDEF),
    ("taskdefinition.json", TASKDEF),
    ("task_definition.json", TASKDEF),
    ("taskdef.yaml", TASKDEF),
    ("appspec.yml", appspec::YAML_FILE_NAME),
];

/// Checks a whole artifact set. The order of the result follows the files, then the rules.
pub fn validate(set: &ArtifactSet) -> Vec<Problem> {
    let mut r = Report {
        problems: Vec::new(),
    };
    check_names(set, &mut r);

    let detail = set
        .get(DETAIL)
        .and_then(|f| parse_json(&mut r, DETAIL, &f.bytes));
    let defs = set
        .get(DEFS)
        .and_then(|f| parse_json(&mut r, DEFS, &f.bytes));
    let task = set
        .get(TASKDEF)
        .and_then(|f| parse_json(&mut r, TASKDEF, &f.bytes));
    let (spec_name, spec) = match (
        set.get(appspec::YAML_FILE_NAME),
        set.get(appspec::JSON_FILE_NAME),
    ) {
        (Some(f), _) => (
            appspec::YAML_FILE_NAME,
            parse_yaml(&mut r, &f.name, &f.bytes),
        ),
        (None, Some(f)) => (
            appspec::JSON_FILE_NAME,
            parse_json(&mut r, &f.name, &f.bytes),
        ),
        (None, None) => (appspec::YAML_FILE_NAME, None),
    };

    if let Some(f) = set.get(DEFS) {
        if f.bytes.len() > image_definitions::MAX_BYTES {
            r.err(
                "size",
                DEFS,
                "$",
                format!(
                    "{} bytes; the ECS action reads at most 100 KB",
                    f.bytes.len()
                ),
                "list only the deployed containers",
            );
        }
    }
    // The quota counts the task definition as sent, without the file's indentation.
    let task_len = task
        .as_ref()
        .and_then(|t| serde_json::to_vec(t).ok())
        .map(|b| b.len());
    if let Some(len) = task_len {
        if len > taskdef::MAX_BYTES {
            r.err(
                "size",
                TASKDEF,
                "$",
                format!(
                    "{len} bytes (without indentation); a task definition may be at most 32 KiB"
                ),
                "move large values (environment, entry points) to secrets, files or a config store",
            );
        }
    }

    let containers = task.as_ref().map(|t| check_taskdef(t, &mut r));
    let slots = containers
        .as_ref()
        .map(|c| check_slots(c, &mut r))
        .unwrap_or_default();
    // An imageDetail.json that no placeholder reads: every run deploys the template's fixed
    // images and never the build's, while the deployment reports success.
    // Only when every image is a well-formed fixed reference: a malformed placeholder or image
    // has its own error already.
    let all_fixed = |cs: &[Container]| {
        cs.iter().all(|c| {
            c.image.as_deref().is_some_and(|i| {
                taskdef::placeholder_slot(i).is_none()
                    && !(i.contains("IMAGE") && i.contains("_NAME"))
                    && ImageRef::parse(i).is_ok()
            })
        })
    };
    if let Some(cs) = containers.as_deref().filter(|cs| !cs.is_empty()) {
        if slots.is_empty() && set.get(DETAIL).is_some() && all_fixed(cs) {
            let fixed = cs
                .iter()
                .map(|c| {
                    format!(
                        "`{}` ({})",
                        c.name,
                        c.image.as_deref().unwrap_or("no image")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            r.err("taskdef-no-placeholder", TASKDEF, "$.containerDefinitions",
                format!("no container uses <IMAGE1_NAME>, so the image in imageDetail.json is never deployed; every deployment runs the fixed images {fixed}"),
                "write \"image\": \"<IMAGE1_NAME>\" in the deployed container (`cutover artifacts` does it for the containers in cutover.toml); if every image is pinned on purpose, set [taskdef] pinned_images = true, and no imageDetail.json is written");
        }
    }
    if !slots.is_empty() && set.get(DETAIL).is_none() {
        r.err("image-detail-missing", DETAIL, "$",
            format!("taskdef.json uses <IMAGE{}_NAME> but the artifact has no imageDetail.json", slots[0]),
            "the deploy action fills the placeholder from imageDetail.json's ImageURI: run `cutover artifacts`, which writes it");
    }
    if let Some(d) = &detail {
        check_image_detail(d, &mut r);
    }
    if let Some(d) = &defs {
        check_image_definitions(d, containers.as_deref(), &mut r);
    }
    if let Some(s) = &spec {
        check_appspec(s, spec_name, containers.as_deref(), &mut r);
    }
    check_zip_size(set, &mut r);
    r.problems
}

fn check_names(set: &ArtifactSet, r: &mut Report) {
    let names = set.names();
    for name in &names {
        let lower = name.to_ascii_lowercase();
        let exact = NEAR_NAMES
            .iter()
            .find(|(near, _)| *near == lower)
            .map(|(_, exact)| *exact)
            .or_else(|| {
                [
                    DETAIL,
                    DEFS,
                    TASKDEF,
                    appspec::YAML_FILE_NAME,
                    appspec::JSON_FILE_NAME,
                ]
                .into_iter()
                .find(|e| e.to_ascii_lowercase() == lower && e != name)
            });
        if let Some(exact) = exact {
            if !names.contains(&exact) {
                r.err(
                    "file-name",
                    name,
                    "$",
                    format!("the file is named `{name}`; the pipeline looks for `{exact}`"),
                    &format!("rename it to `{exact}` (file names are case-sensitive)"),
                );
            }
        }
    }
    if !names.contains(&TASKDEF) {
        r.err("file-missing", TASKDEF, "$", "the artifact has no taskdef.json".into(),
            "CodeDeployToECS reads TaskDefinitionTemplatePath (default taskdef.json) from the artifact");
    }
    let yaml = names.contains(&appspec::YAML_FILE_NAME);
    let json = names.contains(&appspec::JSON_FILE_NAME);
    if !yaml && !json {
        r.err(
            "file-missing",
            appspec::YAML_FILE_NAME,
            "$",
            "the artifact has no appspec.yaml".into(),
            "CodeDeployToECS reads AppSpecTemplatePath (default appspec.yaml) from the artifact",
        );
    } else if yaml && json {
        r.warn(
            "file-name",
            appspec::JSON_FILE_NAME,
            "$",
            "both appspec.yaml and appspec.json are present".into(),
            "keep one; the action reads appspec.yaml unless AppSpecTemplatePath says otherwise",
        );
    } else if json {
        r.warn("file-name", appspec::JSON_FILE_NAME, "$", "the AppSpec is appspec.json".into(),
            "set AppSpecTemplatePath: appspec.json on the CodeDeployToECS action (its default is appspec.yaml)");
    }
}

fn parse_json(r: &mut Report, file: &str, bytes: &[u8]) -> Option<Value> {
    let text = utf8(r, file, bytes)?;
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            r.err(
                "parse",
                file,
                "$",
                format!("not valid JSON: {e}"),
                "fix the JSON syntax at that line and column",
            );
            None
        }
    }
}

fn parse_yaml(r: &mut Report, file: &str, bytes: &[u8]) -> Option<Value> {
    let text = utf8(r, file, bytes)?;
    match serde_yaml::from_str::<Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            r.err(
                "parse",
                file,
                "$",
                format!("not valid YAML: {e}"),
                "fix the YAML syntax at that line and column",
            );
            None
        }
    }
}

fn utf8<'b>(r: &mut Report, file: &str, bytes: &'b [u8]) -> Option<&'b str> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        r.err(
            "parse",
            file,
            "$",
            "not UTF-8 text".into(),
            "save the file as UTF-8",
        );
        return None;
    };
    if let Some(rest) = text.strip_prefix('\u{feff}') {
        r.err(
            "parse",
            file,
            "$",
            "the file starts with a byte order mark".into(),
            "save it as UTF-8 without BOM",
        );
        return Some(rest);
    }
    Some(text)
}

fn check_image_detail(d: &Value, r: &mut Report) {
    let Some(obj) = d.as_object() else {
        r.err(
            "image-detail-shape",
            DETAIL,
            "$",
            "imageDetail.json is not a JSON object".into(),
            r#"write {"ImageURI": "<registry>/<repo>@sha256:<digest>"}"#,
        );
        return;
    };
    match obj.get("ImageURI") {
        None => {
            let near = obj.keys().find(|k| k.eq_ignore_ascii_case("imageuri"));
            let hint = match near {
                Some(k) => format!("rename `{k}` to `ImageURI` (the key is case-sensitive)"),
                None => {
                    "add \"ImageURI\": the image to deploy, ideally digest-pinned (repo@sha256:...)"
                        .into()
                }
            };
            r.err(
                "image-uri",
                DETAIL,
                "$.ImageURI",
                "ImageURI is missing".into(),
                &hint,
            );
        }
        Some(Value::String(uri)) => check_image_ref(r, "image-uri", DETAIL, "$.ImageURI", uri),
        Some(other) => r.err(
            "image-uri",
            DETAIL,
            "$.ImageURI",
            format!("ImageURI is {}, not a string", kind(other)),
            "write the image reference as a JSON string",
        ),
    }
    for (key, v) in obj {
        if key != "ImageURI" && key != "ImageTags" && !v.is_string() {
            r.warn(
                "image-detail-shape",
                DETAIL,
                &format!("$.{key}"),
                format!(
                    "`{key}` is {}, the ECR source action writes a string",
                    kind(v)
                ),
                "write it as a string",
            );
        }
    }
}

fn check_image_ref(r: &mut Report, rule: &'static str, file: &str, path: &str, uri: &str) {
    if let Err(e) = ImageRef::parse(uri) {
        r.err(rule, file, path, e.to_string(), "use a reference such as 111122223333.dkr.ecr.us-east-1.amazonaws.com/app@sha256:<64 hex>");
    }
}

fn check_image_definitions(d: &Value, containers: Option<&[Container]>, r: &mut Report) {
    let Some(items) = d.as_array() else {
        r.err(
            "image-definitions-shape",
            DEFS,
            "$",
            "imagedefinitions.json is not a JSON array".into(),
            r#"write [{"name": "<container>", "imageUri": "<image>"}]"#,
        );
        return;
    };
    if items.is_empty() {
        r.err(
            "image-definitions-shape",
            DEFS,
            "$",
            "the array is empty".into(),
            "add one {name, imageUri} per deployed container",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("$[{i}]");
        let name = item.get("name").and_then(Value::as_str);
        let uri = item.get("imageUri").and_then(Value::as_str);
        match name {
            None => r.err(
                "image-definitions-shape",
                DEFS,
                &format!("{at}.name"),
                "`name` is missing or not a string".into(),
                "name the container of the task definition this image is for",
            ),
            Some(n) => {
                if !seen.insert(n) {
                    r.err(
                        "image-definitions-shape",
                        DEFS,
                        &format!("{at}.name"),
                        format!("container `{n}` is listed twice"),
                        "keep one entry per container",
                    );
                }
                if let Some(cs) = containers {
                    if !cs.iter().any(|c| c.name == n) {
                        r.err("image-definitions-name", DEFS, &format!("{at}.name"),
                            format!("`{n}` is not a container of taskdef.json (it has: {}); the ECS action fails with \"The AWS ECS container {n} does not exist\"", names(cs)),
                            "use the container's `name` from the task definition");
                    }
                }
            }
        }
        match uri {
            None => r.err(
                "image-definitions-shape",
                DEFS,
                &format!("{at}.imageUri"),
                "`imageUri` is missing or not a string".into(),
                "add the image reference (the key is `imageUri`, case-sensitive)",
            ),
            Some(u) => check_image_ref(r, "image-uri", DEFS, &format!("{at}.imageUri"), u),
        }
    }
}

/// What the cross-file rules need of a task definition container.
#[derive(Debug, Clone)]
struct Container {
    name: String,
    index: usize,
    image: Option<String>,
    container_ports: Vec<i64>,
}

fn names(cs: &[Container]) -> String {
    cs.iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// RegisterTaskDefinition's parameters, for the unknown-key warning.
const TASKDEF_KEYS: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "tags",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
];

fn check_taskdef(t: &Value, r: &mut Report) -> Vec<Container> {
    let Some(obj) = t.as_object() else {
        r.err(
            "taskdef-shape",
            TASKDEF,
            "$",
            "taskdef.json is not a JSON object".into(),
            "write a RegisterTaskDefinition document",
        );
        return Vec::new();
    };
    if obj.contains_key("taskDefinition") {
        r.err("taskdef-shape", TASKDEF, "$.taskDefinition",
            "this is DescribeTaskDefinition output, not a RegisterTaskDefinition document".into(),
            "render it with `cutover artifacts --taskdef FILE`, which unwraps it and strips read-only keys");
    }
    for key in taskdef::READ_ONLY_KEYS {
        if obj.contains_key(*key) {
            r.err("taskdef-read-only", TASKDEF, &format!("$.{key}"),
                format!("`{key}` is read-only; registration fails with \"Unknown parameter in input: {key}\""),
                "remove it (cutover strips it when it renders the template)");
        }
    }
    for key in obj.keys() {
        if !TASKDEF_KEYS.contains(&key.as_str())
            && !taskdef::READ_ONLY_KEYS.contains(&key.as_str())
            && key != "taskDefinition"
        {
            r.warn("taskdef-unknown-key", TASKDEF, &format!("$.{key}"),
                format!("`{key}` is not a RegisterTaskDefinition parameter cutover knows"),
                "check the spelling; if ECS does not know it either, registration fails with \"Unknown parameter\"");
        }
    }
    check_empty_values(t, "$", r);

    match obj.get("family") {
        Some(Value::String(f)) => check_name(r, "$.family", f, "family"),
        Some(v) => r.err(
            "taskdef-family",
            TASKDEF,
            "$.family",
            format!("`family` is {}, not a string", kind(v)),
            "write the family name as a string",
        ),
        None => r.err(
            "taskdef-family",
            TASKDEF,
            "$.family",
            "`family` is missing".into(),
            "add \"family\": the task definition family name",
        ),
    }
    for key in ["cpu", "memory"] {
        if let Some(v) = obj.get(key) {
            match v {
                Value::String(s) if !s.is_empty() => {}
                Value::Number(n) => r.err("taskdef-cpu-memory", TASKDEF, &format!("$.{key}"),
                    format!("task-level `{key}` is the number {n}; RegisterTaskDefinition wants a string"),
                    &format!("write \"{key}\": \"{n}\"")),
                other => r.err("taskdef-cpu-memory", TASKDEF, &format!("$.{key}"),
                    format!("task-level `{key}` is {}", kind(other)), &format!("write \"{key}\" as a string such as \"512\"")),
            }
        }
    }
    let fargate = obj
        .get("requiresCompatibilities")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("FARGATE")));
    let network_mode = obj.get("networkMode").and_then(Value::as_str);
    if fargate {
        for key in ["cpu", "memory"] {
            if !obj.contains_key(key) {
                r.err(
                    "taskdef-fargate",
                    TASKDEF,
                    &format!("$.{key}"),
                    format!("a FARGATE task definition needs task-level `{key}`"),
                    "set task-level cpu and memory, e.g. \"cpu\": \"256\", \"memory\": \"512\"",
                );
            }
        }
        if network_mode != Some("awsvpc") {
            r.err(
                "taskdef-fargate",
                TASKDEF,
                "$.networkMode",
                "a FARGATE task definition needs \"networkMode\": \"awsvpc\"".into(),
                "set networkMode to awsvpc",
            );
        }
    }
    let task_memory = obj.contains_key("memory");

    let Some(defs) = obj.get("containerDefinitions") else {
        r.err(
            "taskdef-containers",
            TASKDEF,
            "$.containerDefinitions",
            "`containerDefinitions` is missing".into(),
            "add the containers of the task",
        );
        return Vec::new();
    };
    let Some(defs) = defs.as_array() else {
        r.err(
            "taskdef-containers",
            TASKDEF,
            "$.containerDefinitions",
            "`containerDefinitions` is not an array".into(),
            "write a JSON array of container definitions",
        );
        return Vec::new();
    };
    if defs.is_empty() {
        r.err(
            "taskdef-containers",
            TASKDEF,
            "$.containerDefinitions",
            "`containerDefinitions` is empty".into(),
            "add at least one container",
        );
    }
    if defs.len() > taskdef::MAX_CONTAINERS {
        r.err(
            "taskdef-containers",
            TASKDEF,
            "$.containerDefinitions",
            format!(
                "{} containers; a task definition holds at most {}",
                defs.len(),
                taskdef::MAX_CONTAINERS
            ),
            "split the service or drop containers",
        );
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, c) in defs.iter().enumerate() {
        let at = format!("$.containerDefinitions[{i}]");
        let Some(c) = c.as_object() else {
            r.err(
                "taskdef-containers",
                TASKDEF,
                &at,
                "a container definition is not an object".into(),
                "write a JSON object",
            );
            continue;
        };
        let name = match c.get("name") {
            Some(Value::String(n)) => {
                check_name(r, &format!("{at}.name"), n, "container name");
                if !seen.insert(n.clone()) {
                    r.err(
                        "taskdef-container-name",
                        TASKDEF,
                        &format!("{at}.name"),
                        format!("container name `{n}` is used twice"),
                        "give each container its own name",
                    );
                }
                n.clone()
            }
            _ => {
                r.err(
                    "taskdef-container-name",
                    TASKDEF,
                    &format!("{at}.name"),
                    "the container has no string `name`".into(),
                    "add \"name\"",
                );
                String::new()
            }
        };
        let image = match c.get("image") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                r.err(
                    "taskdef-image",
                    TASKDEF,
                    &format!("{at}.image"),
                    format!("`image` is {}, not a string", kind(v)),
                    "write the image as a string",
                );
                None
            }
            None => {
                r.err("taskdef-image", TASKDEF, &format!("{at}.image"), "the container has no `image`".into(),
                    "set \"image\": \"<IMAGE1_NAME>\" for the deployed container, or a fixed image for a sidecar");
                None
            }
        };
        if let Some(img) = &image {
            check_container_image(r, &format!("{at}.image"), img);
        }
        for key in ["cpu", "memory", "memoryReservation"] {
            if let Some(v) = c.get(key) {
                if !v.is_i64() && !v.is_u64() {
                    r.err(
                        "taskdef-cpu-memory",
                        TASKDEF,
                        &format!("{at}.{key}"),
                        format!(
                            "container-level `{key}` is {}; it must be a whole number",
                            kind(v)
                        ),
                        &format!("write \"{key}\": 256 (no quotes)"),
                    );
                }
            }
        }
        if !task_memory && !c.contains_key("memory") && !c.contains_key("memoryReservation") {
            r.err("taskdef-memory", TASKDEF, &at,
                format!("container `{name}` has neither `memory` nor `memoryReservation`, and the task sets no `memory`"),
                "set task-level \"memory\" (required on Fargate) or the container's memory");
        }
        let mut container_ports = Vec::new();
        if let Some(pms) = c.get("portMappings").and_then(Value::as_array) {
            for (j, pm) in pms.iter().enumerate() {
                let pat = format!("{at}.portMappings[{j}]");
                let cp = pm.get("containerPort");
                match cp.and_then(Value::as_i64) {
                    Some(p) if (1..=65535).contains(&p) => container_ports.push(p),
                    Some(p) => r.err(
                        "taskdef-port",
                        TASKDEF,
                        &format!("{pat}.containerPort"),
                        format!("containerPort {p} is out of range"),
                        "use a port from 1 to 65535",
                    ),
                    None if cp.is_some() => r.err(
                        "taskdef-port",
                        TASKDEF,
                        &format!("{pat}.containerPort"),
                        "containerPort is not a whole number".into(),
                        "write the port as a number, without quotes",
                    ),
                    None => {}
                }
                if network_mode == Some("awsvpc") {
                    if let (Some(h), Some(c)) = (
                        pm.get("hostPort").and_then(Value::as_i64),
                        cp.and_then(Value::as_i64),
                    ) {
                        if h != c {
                            r.err("taskdef-awsvpc-host-port", TASKDEF, &format!("{pat}.hostPort"),
                                format!("hostPort {h} differs from containerPort {c}; in awsvpc mode they must be equal"),
                                &format!("set hostPort to {c} or remove it"));
                        }
                    }
                }
            }
        }
        out.push(Container {
            name,
            index: i,
            image,
            container_ports,
        });
    }
    out
}

fn check_name(r: &mut Report, path: &str, name: &str, what: &str) {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        r.err(
            "taskdef-name",
            TASKDEF,
            path,
            format!("{what} `{name}` is not 1 to 255 letters, digits, `_` or `-`"),
            "rename it using only letters, digits, hyphens and underscores",
        );
    }
}

fn check_container_image(r: &mut Report, path: &str, img: &str) {
    if let Some(slot) = taskdef::placeholder_slot(img) {
        if !(1..=4).contains(&slot) {
            r.err(
                "taskdef-placeholder",
                TASKDEF,
                path,
                format!("`{img}`: CodeDeployToECS has image slots 1 to 4 only"),
                "use <IMAGE1_NAME> to <IMAGE4_NAME>",
            );
        }
        return;
    }
    if img.contains("IMAGE") && img.contains("_NAME") {
        r.err("taskdef-placeholder", TASKDEF, path,
            format!("`{img}` looks like a placeholder but is not exactly `<IMAGEn_NAME>`; the action would leave it as is and the task would fail to pull it"),
            "write the whole image value as \"<IMAGE1_NAME>\", with the angle brackets and nothing else");
        return;
    }
    if let Err(e) = ImageRef::parse(img) {
        r.err(
            "taskdef-image",
            TASKDEF,
            path,
            e.to_string(),
            "use a valid image reference or a <IMAGEn_NAME> placeholder",
        );
    }
}

fn check_empty_values(v: &Value, path: &str, r: &mut Report) {
    let mut visit = |child: &Value, child_path: String| {
        if child.is_null() {
            r.err("taskdef-empty-value", TASKDEF, &child_path, "null value".into(),
                "remove the key: RegisterTaskDefinition rejects null (cutover drops it when it renders)");
        } else if taskdef::is_empty_value(child) {
            r.warn(
                "taskdef-empty-value",
                TASKDEF,
                &child_path,
                "empty value".into(),
                "remove it; AWS's deploy action drops empty values and some parameters reject them",
            );
        } else {
            check_empty_values(child, &child_path, r);
        }
    };
    match v {
        Value::Object(o) => o.iter().for_each(|(k, c)| visit(c, format!("{path}.{k}"))),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| visit(c, format!("{path}[{i}]"))),
        _ => {}
    }
}

/// The `<IMAGEn_NAME>` slots used, which must be 1..=k without gaps.
fn check_slots(containers: &[Container], r: &mut Report) -> Vec<u32> {
    let slots: BTreeSet<u32> = containers
        .iter()
        .filter_map(|c| c.image.as_deref().and_then(taskdef::placeholder_slot))
        .filter(|s| (1..=4).contains(s))
        .collect();
    for (expected, slot) in (1..).zip(&slots) {
        if *slot != expected {
            r.err("taskdef-slot-gap", TASKDEF, "$.containerDefinitions",
                format!("<IMAGE{slot}_NAME> is used but <IMAGE{expected}_NAME> is not; slots must be numbered from 1 without gaps"),
                &format!("renumber the placeholders, or the action fails with \"Action configuration is missing 'Image{expected}ContainerName' configuration\""));
            break;
        }
    }
    // Slots 2 to 4 come from other input artifacts of the Deploy action; say so once.
    if let Some(max) = slots.iter().copied().filter(|s| *s > 1).max() {
        r.warn(
            "taskdef-slot-artifact",
            TASKDEF,
            "$.containerDefinitions",
            format!("<IMAGE2_NAME> to <IMAGE{max}_NAME> are filled from other artifacts, which this check cannot see"),
            "give the CodeDeployToECS action ImageNArtifactName and ImageNContainerName for each, naming an artifact with its own imageDetail.json (an ECR source action writes one)",
        );
    }
    slots.into_iter().collect()
}

fn check_appspec(s: &Value, file: &str, containers: Option<&[Container]>, r: &mut Report) {
    let Some(top) = s.as_object() else {
        r.err(
            "appspec-shape",
            file,
            "$",
            "the AppSpec is not a mapping".into(),
            "start from `version: 0.0` and `Resources:`",
        );
        return;
    };
    match get_key(top, "version", file, r) {
        Some(v) if v.as_f64() == Some(0.0) || v.as_str() == Some("0.0") => {}
        Some(v) => r.err(
            "appspec-version",
            file,
            "$.version",
            format!("version is {v}; the only allowed value is 0.0"),
            "write `version: 0.0`",
        ),
        None => r.err(
            "appspec-version",
            file,
            "$.version",
            "`version` is missing".into(),
            "add `version: 0.0`",
        ),
    }
    for key in top.keys() {
        if !["version", "resources", "hooks"].contains(&key.to_ascii_lowercase().as_str()) {
            r.err(
                "appspec-shape",
                file,
                &format!("$.{key}"),
                format!("unknown top-level key `{key}`"),
                "an ECS AppSpec has only version, Resources and Hooks",
            );
        }
    }
    let (res_key, resources) = match get_entry(top, "Resources", file, r) {
        Some((k, v)) => (format!("$.{k}"), Some(v)),
        None => ("$.Resources".to_string(), None),
    };
    match resources {
        Some(Value::Array(res)) if res.len() == 1 => {
            check_target_service(&res[0], file, &format!("{res_key}[0]"), containers, r)
        }
        Some(Value::Array(res)) => r.err(
            "appspec-resources",
            file,
            &res_key,
            format!(
                "{} resources; an ECS AppSpec has exactly one TargetService",
                res.len()
            ),
            "keep one `- TargetService:` entry",
        ),
        Some(_) => r.err(
            "appspec-resources",
            file,
            &res_key,
            "`Resources` is not a list".into(),
            "write `Resources:` followed by `- TargetService:`",
        ),
        None => r.err(
            "appspec-resources",
            file,
            "$.Resources",
            "`Resources` is missing".into(),
            "add the TargetService with its Type and Properties",
        ),
    }
    if let Some((key, hooks)) = get_entry(top, "Hooks", file, r) {
        check_hooks(hooks, file, &format!("$.{key}"), r);
    }
}

/// Looks a key up case-insensitively, warning when its case differs from AWS's documented form.
fn get_key<'v>(
    obj: &'v serde_json::Map<String, Value>,
    key: &str,
    file: &str,
    r: &mut Report,
) -> Option<&'v Value> {
    get_entry(obj, key, file, r).map(|(_, v)| v)
}

/// [`get_key`], also giving the key as written, for the paths of later problems.
fn get_entry<'v>(
    obj: &'v serde_json::Map<String, Value>,
    key: &str,
    file: &str,
    r: &mut Report,
) -> Option<(&'v str, &'v Value)> {
    if let Some((k, v)) = obj.get_key_value(key) {
        return Some((k.as_str(), v));
    }
    let (actual, v) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
    r.warn(
        "appspec-key-case",
        file,
        &format!("$.{actual}"),
        format!("`{actual}` is written `{key}` in AWS's AppSpec reference"),
        &format!("write `{key}`; not every reader matches keys case-insensitively"),
    );
    Some((actual.as_str(), v))
}

fn check_target_service(
    res: &Value,
    file: &str,
    base: &str,
    containers: Option<&[Container]>,
    r: &mut Report,
) {
    let entry = res
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next());
    if let Some((name, _)) = entry {
        if !name.eq_ignore_ascii_case("TargetService") {
            r.err(
                "appspec-resources",
                file,
                &format!("{base}.{name}"),
                format!("the resource is named `{name}`; CodeDeploy reads `TargetService`"),
                "write `- TargetService:`",
            );
            return;
        }
    }
    let Some(ts) = entry.and_then(|(_, v)| v.as_object()) else {
        r.err(
            "appspec-resources",
            file,
            base,
            "the resource is not `TargetService: {Type, Properties}`".into(),
            "write `- TargetService:` with `Type: AWS::ECS::Service` and `Properties:`",
        );
        return;
    };
    let name = entry.map(|(k, _)| k.as_str()).unwrap_or_default();
    let base = format!("{base}.{name}");
    match get_key(ts, "Type", file, r).and_then(Value::as_str) {
        Some("AWS::ECS::Service") => {}
        other => r.err(
            "appspec-resources",
            file,
            &format!("{base}.Type"),
            format!(
                "Type is {}; an ECS deployment needs AWS::ECS::Service",
                other.map_or("missing".into(), |t| format!("`{t}`"))
            ),
            "write `Type: AWS::ECS::Service`",
        ),
    }
    let Some(props) = get_key(ts, "Properties", file, r).and_then(Value::as_object) else {
        r.err(
            "appspec-properties",
            file,
            &format!("{base}.Properties"),
            "`Properties` is missing or not a mapping".into(),
            "add Properties with TaskDefinition and LoadBalancerInfo",
        );
        return;
    };
    let p = format!("{base}.Properties");
    const KNOWN: &[&str] = &[
        "TaskDefinition",
        "LoadBalancerInfo",
        "PlatformVersion",
        "NetworkConfiguration",
        "CapacityProviderStrategy",
    ];
    for key in props.keys() {
        if !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            r.err(
                "appspec-properties",
                file,
                &format!("{p}.{key}"),
                format!("unknown property `{key}`"),
                &format!("the ECS TargetService properties are {}", KNOWN.join(", ")),
            );
        }
    }
    match get_key(props, "TaskDefinition", file, r) {
        Some(Value::String(td)) => {
            check_task_definition_ref(td, file, &format!("{p}.TaskDefinition"), r)
        }
        Some(v) => r.err(
            "appspec-task-definition",
            file,
            &format!("{p}.TaskDefinition"),
            format!("TaskDefinition is {}", kind(v)),
            "write TaskDefinition: \"<TASK_DEFINITION>\"",
        ),
        None => r.err(
            "appspec-task-definition",
            file,
            &format!("{p}.TaskDefinition"),
            "TaskDefinition is missing".into(),
            "add TaskDefinition: \"<TASK_DEFINITION>\"",
        ),
    }
    check_load_balancer_info(
        get_key(props, "LoadBalancerInfo", file, r),
        file,
        &format!("{p}.LoadBalancerInfo"),
        containers,
        r,
    );
    if let Some(pv) = get_key(props, "PlatformVersion", file, r) {
        let ok = pv
            .as_str()
            .is_some_and(|s| s == "LATEST" || is_platform_version(s));
        if !ok {
            r.err("appspec-platform-version", file, &format!("{p}.PlatformVersion"), format!("PlatformVersion {pv} is not LATEST or a version like 1.4.0"),
                "write PlatformVersion: LATEST (or a Fargate platform version such as 1.4.0), as a string");
        }
    }
    if let Some(nc) = get_key(props, "NetworkConfiguration", file, r) {
        check_network(nc, file, &format!("{p}.NetworkConfiguration"), r);
    }
    if let Some(cps) = get_key(props, "CapacityProviderStrategy", file, r) {
        check_capacity_providers(cps, file, &format!("{p}.CapacityProviderStrategy"), r);
    }
}

fn is_platform_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_task_definition_ref(td: &str, file: &str, path: &str, r: &mut Report) {
    if td == appspec::TASK_DEFINITION_PLACEHOLDER {
        return;
    }
    if td.contains('*') {
        r.err(
            "appspec-task-definition",
            file,
            path,
            format!("`{td}` contains a wildcard"),
            "use \"<TASK_DEFINITION>\" or a full task definition ARN",
        );
        return;
    }
    if !is_task_definition_arn(td) {
        r.err("appspec-task-definition", file, path,
            format!("`{td}` is neither <TASK_DEFINITION> nor a task definition ARN"),
            "write TaskDefinition: \"<TASK_DEFINITION>\" so the deploy action fills in the ARN it registers");
    }
}

/// `arn:<partition>:ecs:<region>:<12 digits>:task-definition/<family>:<revision>`.
fn is_task_definition_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, svc, region, account, rest] = parts.as_slice() else {
        return false;
    };
    let Some((family, revision)) = rest
        .strip_prefix("task-definition/")
        .and_then(|r| r.rsplit_once(':'))
    else {
        return false;
    };
    *arn == "arn"
        && partition.starts_with("aws")
        && *svc == "ecs"
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !family.is_empty()
        && family
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !revision.is_empty()
        && revision.bytes().all(|b| b.is_ascii_digit())
}

fn check_load_balancer_info(
    lbi: Option<&Value>,
    file: &str,
    p: &str,
    containers: Option<&[Container]>,
    r: &mut Report,
) {
    let Some(lbi) = lbi.and_then(Value::as_object) else {
        r.err("appspec-load-balancer", file, p, "LoadBalancerInfo is missing or not a mapping".into(),
            "add LoadBalancerInfo with ContainerName and ContainerPort of the container behind the load balancer");
        return;
    };
    let name = match get_key(lbi, "ContainerName", file, r) {
        Some(Value::String(n)) => Some(n.as_str()),
        _ => {
            r.err(
                "appspec-load-balancer",
                file,
                &format!("{p}.ContainerName"),
                "ContainerName is missing or not a string".into(),
                "name the container that receives the load balancer's traffic",
            );
            None
        }
    };
    let port = match get_key(lbi, "ContainerPort", file, r) {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|x| (1..=65535).contains(&x)) => {
            n.as_i64()
        }
        Some(Value::String(s)) => {
            r.err(
                "appspec-load-balancer",
                file,
                &format!("{p}.ContainerPort"),
                format!("ContainerPort is the string \"{s}\"; it must be a number"),
                &format!("write ContainerPort: {s} without quotes"),
            );
            None
        }
        _ => {
            r.err(
                "appspec-load-balancer",
                file,
                &format!("{p}.ContainerPort"),
                "ContainerPort is missing or not a port number".into(),
                "set ContainerPort to the containerPort the target groups send traffic to",
            );
            None
        }
    };
    let (Some(name), Some(cs)) = (name, containers) else {
        return;
    };
    let Some(c) = cs.iter().find(|c| c.name == name) else {
        r.err(
            "appspec-container",
            file,
            &format!("{p}.ContainerName"),
            format!(
                "`{name}` is not a container of taskdef.json (it has: {})",
                names(cs)
            ),
            "set ContainerName to the container behind the load balancer",
        );
        return;
    };
    if let Some(port) = port {
        if !c.container_ports.contains(&port) {
            let has = if c.container_ports.is_empty() {
                "no portMappings".to_string()
            } else {
                format!(
                    "containerPort {}",
                    c.container_ports
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            r.err("appspec-container-port", file, &format!("{p}.ContainerPort"),
                format!("container `{name}` (taskdef.json $.containerDefinitions[{}]) has {has}, not {port}", c.index),
                &format!("add a portMapping with containerPort {port} to `{name}`, or change ContainerPort"));
        }
    }
}

fn check_network(nc: &Value, file: &str, p: &str, r: &mut Report) {
    let Some(aws) = nc
        .as_object()
        .and_then(|o| get_key(o, "AwsvpcConfiguration", file, r))
        .and_then(Value::as_object)
    else {
        r.err("appspec-network", file, p, "NetworkConfiguration needs an AwsvpcConfiguration mapping".into(),
            "give AwsvpcConfiguration with Subnets, SecurityGroups and AssignPublicIp, or remove NetworkConfiguration");
        return;
    };
    let p = format!("{p}.AwsvpcConfiguration");
    for (key, max, prefix) in [
        ("Subnets", appspec::MAX_SUBNETS, "subnet-"),
        ("SecurityGroups", appspec::MAX_SECURITY_GROUPS, "sg-"),
    ] {
        match get_key(aws, key, file, r) {
            None => r.err("appspec-network", file, &format!("{p}.{key}"), format!("{key} is missing; NetworkConfiguration is all or none"),
                "give Subnets, SecurityGroups and AssignPublicIp together, or remove NetworkConfiguration"),
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > max {
                    r.err("appspec-network", file, &format!("{p}.{key}"), format!("{} {key}; allowed: 1 to {max}", items.len()),
                        &format!("list between 1 and {max} IDs"));
                }
                for (i, it) in items.iter().enumerate() {
                    if !it.as_str().is_some_and(|s| s.starts_with(prefix) && s.len() > prefix.len()) {
                        r.err("appspec-network", file, &format!("{p}.{key}[{i}]"), format!("{it} is not a `{prefix}...` ID"),
                            &format!("write the {key} IDs as strings starting with `{prefix}`"));
                    }
                }
            }
            Some(_) => r.err("appspec-network", file, &format!("{p}.{key}"), format!("{key} is not a list"), "write a list of IDs"),
        }
    }
    match get_key(aws, "AssignPublicIp", file, r).and_then(Value::as_str) {
        Some("ENABLED" | "DISABLED") => {}
        other => r.err(
            "appspec-network",
            file,
            &format!("{p}.AssignPublicIp"),
            format!(
                "AssignPublicIp is {}; allowed: ENABLED or DISABLED",
                other.map_or("missing".into(), |v| format!("`{v}`"))
            ),
            "write AssignPublicIp: DISABLED (or ENABLED for tasks in public subnets without NAT)",
        ),
    }
}

fn check_capacity_providers(cps: &Value, file: &str, p: &str, r: &mut Report) {
    let Some(items) = cps.as_array() else {
        r.err(
            "appspec-capacity-provider",
            file,
            p,
            "CapacityProviderStrategy is not a list".into(),
            "write a list of {CapacityProvider, Weight, Base}",
        );
        return;
    };
    let mut with_base = 0;
    let mut positive_weight = false;
    for (i, it) in items.iter().enumerate() {
        let at = format!("{p}[{i}]");
        let Some(o) = it.as_object() else {
            r.err(
                "appspec-capacity-provider",
                file,
                &at,
                "an entry is not a mapping".into(),
                "write {CapacityProvider, Weight, Base}",
            );
            continue;
        };
        if !get_key(o, "CapacityProvider", file, r)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            r.err(
                "appspec-capacity-provider",
                file,
                &format!("{at}.CapacityProvider"),
                "CapacityProvider is missing".into(),
                "name the capacity provider, e.g. FARGATE or FARGATE_SPOT",
            );
        }
        match get_key(o, "Weight", file, r).map(Value::as_i64) {
            None => {}
            Some(Some(w)) if (0..=1000).contains(&w) => positive_weight |= w > 0,
            Some(_) => r.err(
                "appspec-capacity-provider",
                file,
                &format!("{at}.Weight"),
                "Weight is not a number from 0 to 1000".into(),
                "write a whole number from 0 to 1000",
            ),
        }
        if let Some(b) = get_key(o, "Base", file, r) {
            with_base += 1;
            if !b.as_i64().is_some_and(|b| (0..=100_000).contains(&b)) {
                r.err(
                    "appspec-capacity-provider",
                    file,
                    &format!("{at}.Base"),
                    "Base is not a number from 0 to 100000".into(),
                    "write a whole number from 0 to 100000",
                );
            }
        }
    }
    if with_base > 1 {
        r.err(
            "appspec-capacity-provider",
            file,
            p,
            format!("{with_base} entries set Base; only one may"),
            "keep Base on one capacity provider",
        );
    }
    if !items.is_empty() && !positive_weight {
        r.err(
            "appspec-capacity-provider",
            file,
            p,
            "no entry has a Weight above 0".into(),
            "give at least one capacity provider Weight: 1 or more",
        );
    }
}

fn check_hooks(hooks: &Value, file: &str, base: &str, r: &mut Report) {
    let Some(items) = hooks.as_array() else {
        r.err(
            "appspec-hooks",
            file,
            base,
            "Hooks is not a list".into(),
            "write each hook as a list item: `- BeforeInstall: my-function`",
        );
        return;
    };
    let mut seen: BTreeMap<HookEvent, usize> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let Some(o) = it.as_object().filter(|o| o.len() == 1) else {
            r.err(
                "appspec-hooks",
                file,
                &at,
                "a hook entry is not a single `Event: function` pair".into(),
                "write `- BeforeInstall: my-function`",
            );
            continue;
        };
        for (event, f) in o {
            match HookEvent::parse(event) {
                None => r.err(
                    "appspec-hooks",
                    file,
                    &format!("{at}.{event}"),
                    format!("`{event}` is not an ECS lifecycle hook"),
                    &format!("use one of {}", HookEvent::names()),
                ),
                Some(e) => {
                    if let Some(prev) = seen.insert(e, i) {
                        r.err(
                            "appspec-hooks",
                            file,
                            &format!("{at}.{event}"),
                            format!("{event} is also given at {base}[{prev}]"),
                            "keep one function per hook",
                        );
                    }
                }
            }
            if !f.as_str().is_some_and(|s| !s.trim().is_empty()) {
                r.err(
                    "appspec-hooks",
                    file,
                    &format!("{at}.{event}"),
                    "the hook's function is missing or not a string".into(),
                    "give the Lambda function's name or ARN",
                );
            }
        }
    }
}

fn check_zip_size(set: &ArtifactSet, r: &mut Report) {
    match set.zip() {
        Ok(z) if z.len() > MAX_ARTIFACT_ZIP_BYTES => r.err("size", "(artifact zip)", "$",
            format!("the zipped artifact is {} bytes; CodeDeployToECS reads input artifacts of at most 3 MB", z.len()),
            "keep only the deploy files in the build's output artifact"),
        Ok(_) => {}
        Err(e) => r.err("size", "(artifact zip)", "$", format!("could not zip the artifact to measure it: {e}"), "check the file names"),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
