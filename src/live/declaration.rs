//! Declarations kept in the repository (`pipeline/pipeline.yaml`, `pipeline/codebuild.yaml`):
//! filling their `${PLACEHOLDER}`s from the settings, normalising a declaration for comparison,
//! and the unified diff `apply` shows. Pure.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::settings::{PipelineSettings, Settings};

#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    #[error("`{file}` is not valid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("`{file}`: {}", .missing.iter().map(|m| format!("${{{}}} has no value\n  hint: set {}", m.0, m.1)).collect::<Vec<_>>().join("\n"))]
    Unfilled {
        file: String,
        /// Each placeholder without a value, and where to set it.
        missing: Vec<(String, String)>,
    },
}

/// A placeholder's value, or where to set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Value(String),
    Unset { hint: String },
}

/// The placeholders cutover knows, their values from the settings, and where each is set.
/// `[pipeline.variables]` and `--var` fill any others (and may override these).
pub fn variables(s: &Settings) -> BTreeMap<String, Var> {
    let p: &PipelineSettings = &s.pipeline;
    let pipeline_name = p.name.clone().or_else(|| s.application.clone());
    let codebuild_project = p
        .codebuild_project
        .clone()
        .or_else(|| pipeline_name.as_ref().map(|n| format!("{n}-build")));
    let log_group = pipeline_name
        .as_ref()
        .map(|n| format!("/cutover/{n}/build"));
    let known: [(&str, Option<String>, &str); 16] = [
        ("PIPELINE_NAME", pipeline_name.clone(), "[pipeline] name, --pipeline-name or CUTOVER_PIPELINE_NAME (default: [codedeploy] application)"),
        ("PIPELINE_ROLE_ARN", p.role_arn.clone(), "[pipeline] role_arn, --role-arn or CUTOVER_PIPELINE_ROLE_ARN"),
        ("ARTIFACT_BUCKET", p.artifact_bucket.clone(), "[pipeline] artifact_bucket, --artifact-bucket or CUTOVER_ARTIFACT_BUCKET"),
        ("ARTIFACT_KEY_ARN", p.artifact_key_arn.clone(), "[pipeline] artifact_key_arn, --artifact-key-arn or CUTOVER_ARTIFACT_KEY_ARN"),
        ("CONNECTION_ARN", p.connection_arn.clone(), "[pipeline] connection_arn, --connection-arn or CUTOVER_CONNECTION_ARN"),
        ("FULL_REPOSITORY_ID", p.full_repository_id.clone(), "[pipeline] full_repository_id (owner/name), --full-repository-id or CUTOVER_FULL_REPOSITORY_ID"),
        ("BRANCH_NAME", Some(p.branch.clone().unwrap_or_else(|| "main".into())), ""),
        ("CODEBUILD_PROJECT", codebuild_project, "[codebuild] project, --codebuild-project or CUTOVER_CODEBUILD_PROJECT (default: <pipeline name>-build)"),
        ("CODEBUILD_ROLE_ARN", p.codebuild_role_arn.clone(), "[codebuild] role_arn, --codebuild-role-arn or CUTOVER_CODEBUILD_ROLE_ARN"),
        ("CODEDEPLOY_APPLICATION", s.application.clone(), "[codedeploy] application, --application or CUTOVER_APPLICATION"),
        ("DEPLOYMENT_GROUP", s.deployment_group.clone(), "[codedeploy] deployment_group, --deployment-group or CUTOVER_DEPLOYMENT_GROUP"),
        ("REPOSITORY", s.image.repository.clone(), "[image] repository, --repository or CUTOVER_REPOSITORY"),
        ("CLUSTER", s.cluster.clone(), "[service] cluster, --cluster or CUTOVER_CLUSTER"),
        ("SERVICE", s.service.clone(), "[service] service, --service or CUTOVER_SERVICE"),
        ("CUTOVER_BINARY_KEY", Some("tools/cutover".into()), ""),
        ("BUILD_LOG_GROUP", log_group, "[pipeline.variables] BUILD_LOG_GROUP (default: /cutover/<pipeline name>/build)"),
    ];
    let mut vars: BTreeMap<String, Var> = known
        .into_iter()
        .map(|(name, value, hint)| {
            let var = match value {
                Some(v) if !v.is_empty() => Var::Value(v),
                _ => Var::Unset {
                    hint: hint.to_string(),
                },
            };
            (name.to_string(), var)
        })
        .collect();
    for (k, v) in &p.variables {
        vars.insert(k.clone(), Var::Value(v.clone()));
    }
    vars
}

/// Parses a YAML declaration and fills every `${NAME}` (NAME in UPPER_SNAKE_CASE) in its strings.
/// All placeholders without a value are reported at once.
pub fn fill(
    file: &str,
    text: &str,
    vars: &BTreeMap<String, Var>,
) -> Result<Value, DeclarationError> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| DeclarationError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut missing = BTreeMap::new();
    fill_value(&mut value, vars, &mut missing);
    if missing.is_empty() {
        Ok(value)
    } else {
        Err(DeclarationError::Unfilled {
            file: file.to_string(),
            missing: missing.into_iter().collect(),
        })
    }
}

fn fill_value(v: &mut Value, vars: &BTreeMap<String, Var>, missing: &mut BTreeMap<String, String>) {
    match v {
        Value::String(s) if s.contains("${") => *s = fill_str(s, vars, missing),
        Value::Array(a) => a.iter_mut().for_each(|x| fill_value(x, vars, missing)),
        Value::Object(o) => o.values_mut().for_each(|x| fill_value(x, vars, missing)),
        _ => {}
    }
}

fn fill_str(
    s: &str,
    vars: &BTreeMap<String, Var>,
    missing: &mut BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if crate::settings::is_placeholder_name(&after[..end]) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(Var::Value(v)) => out.push_str(v),
                    Some(Var::Unset { hint }) => {
                        missing.insert(name.to_string(), hint.clone());
                    }
                    None => {
                        missing.insert(
                            name.to_string(),
                            format!("[pipeline.variables] {name} = \"...\" in cutover.toml, or --var {name}=..."),
                        );
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// For comparison: keys sorted, and null, `""`, `[]` and `{}` dropped (AWS omits empty values
/// or fills them in; neither is a difference).
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                let n = normalize(&o[k]);
                if !is_empty(&n) {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `live` reduced to the keys `desired` has (recursively; arrays element by element), for
/// resources whose description carries many server-side fields (a CodeBuild project's `arn`,
/// `created`, defaults). A key `desired` has and `live` lacks stays a difference.
pub fn project(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => Value::Object(
            d.keys()
                .filter_map(|k| l.get(k).map(|lv| (k.clone(), project(lv, &d[k]))))
                .collect(),
        ),
        (Value::Array(l), Value::Array(d)) if l.len() == d.len() => {
            Value::Array(l.iter().zip(d).map(|(lv, dv)| project(lv, dv)).collect())
        }
        (l, _) => l.clone(),
    }
}

/// A unified diff of two JSON values (pretty-printed), or `None` when they are equal.
pub fn diff(
    live: &Value,
    desired: &Value,
    live_label: &str,
    desired_label: &str,
) -> Option<String> {
    if live == desired {
        return None;
    }
    let a = serde_json::to_string_pretty(live).unwrap_or_default() + "\n";
    let b = serde_json::to_string_pretty(desired).unwrap_or_default() + "\n";
    Some(
        similar::TextDiff::from_lines(&a, &b)
            .unified_diff()
            .context_radius(3)
            .header(live_label, desired_label)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> BTreeMap<String, Var> {
        BTreeMap::from([
            ("NAME".to_string(), Var::Value("web".into())),
            (
                "ROLE".to_string(),
                Var::Unset {
                    hint: "[pipeline] role_arn".into(),
                },
            ),
        ])
    }

    #[test]
    fn fills_placeholders_inside_strings_and_leaves_other_dollars() {
        let v = fill(
            "p.yaml",
            "a: ${NAME}\nb: pre-${NAME}-post\nc: '#{Vars.X} ${lower} $5'\n",
            &vars(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": "web", "b": "pre-web-post", "c": "#{Vars.X} ${lower} $5"})
        );
    }

    #[test]
    fn reports_every_unfilled_placeholder_with_where_to_set_it() {
        let e = fill("p.yaml", "a: ${ROLE}\nb: ${OTHER}\n", &vars()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("${ROLE} has no value\n  hint: set [pipeline] role_arn"),
            "{text}"
        );
        assert!(text.contains("${OTHER} has no value"), "{text}");
        assert!(text.contains("--var OTHER="), "{text}");
    }

    #[test]
    fn normalize_sorts_and_drops_empty_values() {
        let v = json!({"b": 1, "a": {"z": [], "y": null, "x": ""}, "c": [{"k": {}}]});
        let n = normalize(&v);
        assert_eq!(n, json!({"b": 1, "c": [{}]}));
        assert_eq!(
            serde_json::to_string(&normalize(&json!({"b": 1, "a": 2}))).unwrap(),
            r#"{"a":2,"b":1}"#
        );
    }

    #[test]
    fn projection_keeps_only_the_declared_keys() {
        let live = json!({"name": "p", "arn": "x", "environment": {"image": "i", "type": "LINUX_CONTAINER",
            "environmentVariables": [{"name": "A", "value": "1", "type": "PLAINTEXT"}]}});
        let desired = json!({"name": "p", "environment": {"image": "i",
            "environmentVariables": [{"name": "A", "value": "1"}]}, "description": "d"});
        assert_eq!(
            project(&live, &desired),
            json!({"name": "p", "environment": {"image": "i", "environmentVariables": [{"name": "A", "value": "1"}]}})
        );
    }

    #[test]
    fn diff_is_none_when_equal_and_unified_otherwise() {
        let a = json!({"name": "p", "stages": [1, 2]});
        assert!(diff(&a, &a, "live", "file").is_none());
        let b = json!({"name": "p", "stages": [1, 3]});
        let d = diff(&a, &b, "live", "file").unwrap();
        assert!(d.starts_with("--- live\n+++ file\n@@"), "{d}");
        assert!(d.contains("-    2\n+    3\n"), "{d}");
    }
}
