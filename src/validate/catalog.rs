//! The validator's rules as data: each id with its severity, what it checks in one line, and a
//! bad and a good example (`cutover validate --rules`, `cutover validate --explain ID`). The
//! README's rule table and every id the validator reports are checked against this table.

use serde::Serialize;

/// How a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    /// An error for some findings, a warning for milder ones (the explanation says which).
    Both,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Both => "error or warning",
        }
    }
}

/// One rule of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub level: Level,
    /// What it checks, in one line.
    pub summary: &'static str,
    /// A file (or part of one) that breaks it.
    pub bad: &'static str,
    /// The same, fixed.
    pub good: &'static str,
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

const fn rule(
    id: &'static str,
    level: Level,
    summary: &'static str,
    bad: &'static str,
    good: &'static str,
) -> Rule {
    Rule {
        id,
        level,
        summary,
        bad,
        good,
    }
}

use Level::{Both, Error, Warning};

/// Every rule, in the order the validator runs them.
pub const RULES: &[Rule] = &[
    rule("file-missing", Error,
        "taskdef.json and appspec.yaml are in the artifact (the Deploy action reads them by name)",
        "out/: imageDetail.json, taskdef.json", "out/: appspec.yaml, imageDetail.json, taskdef.json"),
    rule("file-name", Both,
        "files have their exact names: a near miss (imagedetail.json, appspec.yml) is an error; appspec.json is a warning (it needs AppSpecTemplatePath)",
        "out/: imagedetail.json, appspec.yml", "out/: imageDetail.json, appspec.yaml"),
    rule("parse", Error,
        "each file is UTF-8 without a BOM and parses as JSON (or YAML for the AppSpec)",
        "{\"family\": \"app\",}", "{\"family\": \"app\"}"),
    rule("size", Error,
        "imagedefinitions.json at most 100 KB, taskdef.json at most 32 KiB without indentation, the zipped artifact at most 3 MB",
        "taskdef.json with 40 KiB of environment values", "large values moved to secrets or a config store"),
    rule("image-detail-missing", Error,
        "imageDetail.json is present when taskdef.json uses a placeholder (the action fills <IMAGE1_NAME> from it)",
        "out/: taskdef.json (with <IMAGE1_NAME>), appspec.yaml", "out/: imageDetail.json, taskdef.json, appspec.yaml"),
    rule("image-uri", Error,
        "ImageURI (and each imageUri) is a valid image reference; a digest is sha256: and 64 hex",
        "{\"ImageURI\": \"repo/app@sha256:abc\"}", "{\"ImageURI\": \"111122223333.dkr.ecr.us-east-1.amazonaws.com/app@sha256:<64 hex>\"}"),
    rule("image-detail-shape", Both,
        "imageDetail.json is an object with ImageURI (case-sensitive); other fields are strings (a warning)",
        "{\"imageUri\": \"repo/app:1\"}", "{\"ImageURI\": \"repo/app:1\"}"),
    rule("image-definitions-shape", Error,
        "imagedefinitions.json is an array of {name, imageUri}",
        "{\"app\": \"repo/app:1\"}", "[{\"name\": \"app\", \"imageUri\": \"repo/app:1\"}]"),
    rule("image-definitions-name", Error,
        "each name in imagedefinitions.json is a container of taskdef.json",
        "[{\"name\": \"web\", \"imageUri\": \"repo/app:1\"}] with container `app`", "[{\"name\": \"app\", \"imageUri\": \"repo/app:1\"}]"),
    rule("taskdef-shape", Error,
        "taskdef.json is a RegisterTaskDefinition document, not DescribeTaskDefinition output",
        "{\"taskDefinition\": {\"family\": \"app\", ...}}", "{\"family\": \"app\", ...}"),
    rule("taskdef-read-only", Error,
        "no read-only keys (taskDefinitionArn, revision, status, registeredAt, ...)",
        "{\"family\": \"app\", \"revision\": 7, ...}", "{\"family\": \"app\", ...}"),
    rule("taskdef-unknown-key", Warning,
        "every top-level key is a RegisterTaskDefinition parameter (a misspelt one fails registration)",
        "{\"family\": \"app\", \"contianerDefinitions\": [...]}", "{\"family\": \"app\", \"containerDefinitions\": [...]}"),
    rule("taskdef-empty-value", Both,
        "no null values (an error: registration rejects them); empty strings, arrays and objects are a warning",
        "{\"family\": \"app\", \"taskRoleArn\": null}", "{\"family\": \"app\"}"),
    rule("taskdef-family", Error,
        "family is a string of 1 to 255 letters, digits, `_` or `-`",
        "{\"family\": \"my app\"}", "{\"family\": \"my-app\"}"),
    rule("taskdef-name", Error,
        "names (family, container names) are 1 to 255 letters, digits, `_` or `-`",
        "\"name\": \"app.web\"", "\"name\": \"app-web\""),
    rule("taskdef-container-name", Error,
        "every container has a name, and no two share one",
        "[{\"name\": \"app\"}, {\"name\": \"app\"}]", "[{\"name\": \"app\"}, {\"name\": \"envoy\"}]"),
    rule("taskdef-cpu-memory", Error,
        "task-level cpu and memory are strings, container-level ones numbers",
        "{\"cpu\": 256, \"memory\": 512}", "{\"cpu\": \"256\", \"memory\": \"512\"}"),
    rule("taskdef-memory", Error,
        "memory is set for the task or for every container",
        "a task without memory whose container has no memory or memoryReservation", "{\"memory\": \"512\"}"),
    rule("taskdef-fargate", Error,
        "a Fargate task definition has task-level cpu and memory and networkMode awsvpc",
        "{\"requiresCompatibilities\": [\"FARGATE\"], \"networkMode\": \"bridge\"}", "{\"requiresCompatibilities\": [\"FARGATE\"], \"networkMode\": \"awsvpc\", \"cpu\": \"256\", \"memory\": \"512\"}"),
    rule("taskdef-containers", Error,
        "containerDefinitions holds 1 to 10 containers",
        "{\"containerDefinitions\": []}", "{\"containerDefinitions\": [{\"name\": \"app\", ...}]}"),
    rule("taskdef-image", Error,
        "every container has an image: a valid reference or a <IMAGEn_NAME> placeholder",
        "{\"name\": \"app\"}", "{\"name\": \"app\", \"image\": \"<IMAGE1_NAME>\"}"),
    rule("taskdef-port", Error,
        "container and host ports are numbers from 1 to 65535",
        "\"portMappings\": [{\"containerPort\": 0}]", "\"portMappings\": [{\"containerPort\": 8080}]"),
    rule("taskdef-awsvpc-host-port", Error,
        "with networkMode awsvpc, a hostPort equals its containerPort",
        "{\"containerPort\": 8080, \"hostPort\": 80}", "{\"containerPort\": 8080}"),
    rule("taskdef-no-placeholder", Error,
        "when the set has imageDetail.json, some container uses <IMAGE1_NAME>: otherwise every deployment runs the template's fixed images, never the build's",
        "\"image\": \"111122223333.dkr.ecr.us-east-1.amazonaws.com/app:latest\" beside an imageDetail.json", "\"image\": \"<IMAGE1_NAME>\" (or [taskdef] pinned_images = true, which writes no imageDetail.json)"),
    rule("taskdef-placeholder", Error,
        "placeholders are exactly <IMAGE1_NAME> to <IMAGE4_NAME>",
        "\"image\": \"IMAGE1_NAME\"", "\"image\": \"<IMAGE1_NAME>\""),
    rule("taskdef-slot-gap", Error,
        "placeholders are numbered from 1 without gaps",
        "<IMAGE1_NAME> and <IMAGE3_NAME>", "<IMAGE1_NAME> and <IMAGE2_NAME>"),
    rule("taskdef-slot-artifact", Warning,
        "slots 2 to 4 are filled from other input artifacts of the Deploy action, which this check cannot see",
        "<IMAGE2_NAME> with no Image2ArtifactName on the action", "<IMAGE2_NAME> and Image2ArtifactName/Image2ContainerName naming an artifact with its own imageDetail.json"),
    rule("appspec-version", Error,
        "the AppSpec has version: 0.0",
        "version: 1.0", "version: 0.0"),
    rule("appspec-shape", Error,
        "the AppSpec is a mapping with Resources (and optional Hooks)",
        "- Resources", "version: 0.0\nResources: [...]"),
    rule("appspec-resources", Error,
        "Resources holds exactly one TargetService of Type AWS::ECS::Service",
        "Resources: []", "Resources:\n  - TargetService:\n      Type: AWS::ECS::Service"),
    rule("appspec-properties", Error,
        "TargetService Properties has TaskDefinition and LoadBalancerInfo, and only keys AWS's AppSpec reference knows",
        "Properties: {TaskDefinition: <TASK_DEFINITION>, LoadBalancer: ...}", "Properties: {TaskDefinition: <TASK_DEFINITION>, LoadBalancerInfo: ...}"),
    rule("appspec-key-case", Warning,
        "keys are written in the case of AWS's AppSpec reference",
        "taskDefinition: <TASK_DEFINITION>", "TaskDefinition: <TASK_DEFINITION>"),
    rule("appspec-task-definition", Error,
        "TaskDefinition is <TASK_DEFINITION> (the action fills it) or a full task-definition ARN, no wildcards",
        "TaskDefinition: sample-app:*", "TaskDefinition: <TASK_DEFINITION>"),
    rule("appspec-load-balancer", Error,
        "LoadBalancerInfo has ContainerName (a string) and ContainerPort (a number)",
        "LoadBalancerInfo: {ContainerName: app, ContainerPort: \"8080\"}", "LoadBalancerInfo: {ContainerName: app, ContainerPort: 8080}"),
    rule("appspec-container", Error,
        "ContainerName is a container of taskdef.json",
        "ContainerName: web (taskdef.json has `app`)", "ContainerName: app"),
    rule("appspec-container-port", Error,
        "ContainerPort is a containerPort of that container's portMappings",
        "ContainerPort: 80 (the container maps 8080)", "ContainerPort: 8080"),
    rule("appspec-platform-version", Error,
        "PlatformVersion is LATEST or x.y.z",
        "PlatformVersion: latest-1", "PlatformVersion: LATEST"),
    rule("appspec-network", Error,
        "NetworkConfiguration's AwsvpcConfiguration has 1 to 16 subnets, 1 to 5 security groups and AssignPublicIp ENABLED or DISABLED",
        "AssignPublicIp: \"yes\"", "AssignPublicIp: DISABLED"),
    rule("appspec-capacity-provider", Error,
        "CapacityProviderStrategy has at most one Base and at least one Weight above 0",
        "[{CapacityProvider: FARGATE, Weight: 0}]", "[{CapacityProvider: FARGATE, Weight: 1}]"),
    rule("appspec-hooks", Error,
        "Hooks are among the five ECS lifecycle events, each at most once, naming a Lambda function",
        "Hooks: [{BeforeInstall: fn}]", "Hooks: [{BeforeInstall: LambdaFunctionToValidateBeforeInstall}] (BeforeInstall is an ECS event)"),
    rule("config-container-missing", Error,
        "(dry-run, artifacts, build) a container configured in cutover.toml is in the task definition template",
        "[[containers]] name = \"web\" with a template holding `app`", "[[containers]] name = \"app\""),
];

/// The catalog as a table for people: one line per rule.
pub fn render_table() -> String {
    let width = RULES.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in RULES {
        out.push_str(&format!(
            "{:<width$}  {:<16}  {}\n",
            r.id,
            r.level.as_str(),
            r.summary
        ));
    }
    out
}

/// One rule explained, with its examples.
pub fn render_explanation(r: &Rule) -> String {
    format!(
        "{} ({})\n  {}\n\nbad:\n{}\n\ngood:\n{}\n",
        r.id,
        r.level.as_str(),
        r.summary,
        indent(r.bad),
        indent(r.good)
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every id the validator (and the renderer) can report, read from their source.
    fn reported_ids() -> BTreeSet<String> {
        let sources = [include_str!("mod.rs"), include_str!("../artifacts/mod.rs")];
        let mut ids = BTreeSet::new();
        for src in sources {
            for (i, _) in src.match_indices('"') {
                let rest = &src[i + 1..];
                let Some(end) = rest.find('"') else { continue };
                let word = &rest[..end];
                let known_prefix = ["file-", "image-", "taskdef-", "appspec-", "config-"]
                    .iter()
                    .any(|p| word.starts_with(p));
                let is_id = word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit());
                if (known_prefix && is_id && word.contains('-'))
                    || word == "parse"
                    || word == "size"
                {
                    ids.insert(word.to_string());
                }
            }
        }
        ids
    }

    #[test]
    fn every_reported_rule_is_in_the_catalog_and_back() {
        let catalog: BTreeSet<String> = RULES.iter().map(|r| r.id.to_string()).collect();
        let reported = reported_ids();
        let missing: Vec<_> = reported.difference(&catalog).collect();
        assert!(
            missing.is_empty(),
            "reported but not in the catalog: {missing:?}"
        );
        let unused: Vec<_> = catalog.difference(&reported).collect();
        assert!(
            unused.is_empty(),
            "in the catalog but never reported: {unused:?}"
        );
        assert_eq!(catalog.len(), RULES.len(), "an id appears twice");
    }

    #[test]
    fn the_readme_rule_table_lists_exactly_the_catalog() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("## What `validate` checks")
            .expect("the README's rule section");
        let table: BTreeSet<String> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| rule"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .flat_map(|l| {
                let first = l.split('|').nth(1).unwrap_or_default();
                first
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let catalog: BTreeSet<String> = RULES.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(
            table, catalog,
            "README rule table (left) vs the catalog (right)"
        );
    }

    #[test]
    fn explanations_have_both_examples() {
        for r in RULES {
            assert!(
                !r.bad.is_empty() && !r.good.is_empty() && r.bad != r.good,
                "{}",
                r.id
            );
        }
        let text = render_explanation(find("taskdef-no-placeholder").unwrap_or(&RULES[0]));
        assert!(
            text.starts_with("taskdef-no-placeholder (error)\n"),
            "{text}"
        );
    }
}
