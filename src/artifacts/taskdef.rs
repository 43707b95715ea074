//! `taskdef.json`: a RegisterTaskDefinition document rendered from a template. The template may be
//! a plain RegisterTaskDefinition document or DescribeTaskDefinition output; read-only keys are
//! stripped, null and empty values dropped (as AWS's own deploy action does), and the image of each
//! deployed container becomes its `<IMAGEn_NAME>` placeholder. Every other key passes through
//! untouched, in its original order, so ECS fields cutover does not know yet survive. Pure.

use serde_json::{Map, Value};

pub const FILE_NAME: &str = "taskdef.json";
/// The task definition size quota (older ECS quota page: 32 KiB).
pub const MAX_BYTES: usize = 32 * 1024;
pub const MAX_CONTAINERS: usize = 10;
/// Keys DescribeTaskDefinition returns that RegisterTaskDefinition refuses.
pub const READ_ONLY_KEYS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "deregisteredAt",
    "deleteRequestedAt",
    "registeredBy",
];

/// The placeholder CodeDeployToECS replaces with the image of slot `slot` (1 to 4).
pub fn placeholder(slot: u8) -> String {
    format!("<IMAGE{slot}_NAME>")
}

/// The slot of a `<IMAGEn_NAME>` placeholder, with `n` any number (range is the validator's job).
pub fn placeholder_slot(image: &str) -> Option<u32> {
    image
        .strip_prefix("<IMAGE")?
        .strip_suffix("_NAME>")?
        .parse()
        .ok()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the task definition template is not valid JSON: {0}")]
    NotJson(String),
    #[error("the task definition template is not a JSON object")]
    NotObject,
    #[error("`taskDefinition` in the template is not a JSON object")]
    WrappedNotObject,
}

/// A container of the task definition to deploy: its image becomes slot `slot`'s placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed<'a> {
    pub name: &'a str,
    pub slot: u8,
}

/// The rendered document and the deployed containers the template does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub document: Value,
    pub missing_containers: Vec<String>,
}

pub fn parse_template(text: &str) -> Result<Value, TemplateError> {
    serde_json::from_str(text).map_err(|e| TemplateError::NotJson(e.to_string()))
}

/// Turns DescribeTaskDefinition output or a RegisterTaskDefinition document into the latter:
/// unwrapped, read-only keys stripped, empty values dropped.
pub fn normalize(template: Value) -> Result<Value, TemplateError> {
    let Value::Object(mut top) = template else {
        return Err(TemplateError::NotObject);
    };
    let mut doc = match top.remove("taskDefinition") {
        Some(Value::Object(inner)) => {
            let mut inner = inner;
            // DescribeTaskDefinition (with `--include TAGS`) puts the tags beside the definition.
            if let Some(tags) = top.remove("tags") {
                inner.entry("tags").or_insert(tags);
            }
            inner
        }
        Some(_) => return Err(TemplateError::WrappedNotObject),
        None => top,
    };
    for key in READ_ONLY_KEYS {
        // shift_remove keeps the order of the remaining keys (remove would swap the last in).
        doc.shift_remove(*key);
    }
    let mut value = Value::Object(doc);
    drop_empty(&mut value);
    Ok(value)
}

/// Normalizes the template and puts each deployed container's placeholder in its `image`.
pub fn render(template: Value, deployed: &[Deployed<'_>]) -> Result<Rendered, TemplateError> {
    render_as(template, deployed, false)
}

/// [`render`] for `[taskdef] pinned_images`: every image stays as the template pins it; the
/// deployed containers must still be in the template.
pub fn render_pinned(
    template: Value,
    deployed: &[Deployed<'_>],
) -> Result<Rendered, TemplateError> {
    render_as(template, deployed, true)
}

fn render_as(
    template: Value,
    deployed: &[Deployed<'_>],
    pinned: bool,
) -> Result<Rendered, TemplateError> {
    let mut document = normalize(template)?;
    let mut missing_containers = Vec::new();
    for d in deployed {
        match container_mut(&mut document, d.name) {
            Some(container) if !pinned => {
                container.insert("image".into(), Value::String(placeholder(d.slot)));
            }
            Some(_) => {}
            None => missing_containers.push(d.name.to_string()),
        }
    }
    Ok(Rendered {
        document,
        missing_containers,
    })
}

pub fn to_text(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default() + "\n"
}

/// Names of the containers in `containerDefinitions`, in order.
pub fn container_names(document: &Value) -> Vec<&str> {
    document
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The `image` of the container `name`, as the document has it.
pub fn container_image<'v>(document: &'v Value, name: &str) -> Option<&'v str> {
    document
        .get("containerDefinitions")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))?
        .get("image")?
        .as_str()
}

fn container_mut<'v>(document: &'v mut Value, name: &str) -> Option<&'v mut Map<String, Value>> {
    document
        .get_mut("containerDefinitions")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// AWS's deploy action's rule: null, `""`, and arrays or objects holding only such values go.
pub fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty_value),
        Value::Object(o) => o.values().all(is_empty_value),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn drop_empty(v: &mut Value) {
    match v {
        Value::Array(a) => {
            a.retain(|x| !is_empty_value(x));
            a.iter_mut().for_each(drop_empty);
        }
        Value::Object(o) => {
            o.retain(|_, x| !is_empty_value(x));
            o.values_mut().for_each(drop_empty);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unwraps_describe_output_and_strips_read_only_keys() {
        let t = json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/app:3",
                "family": "app", "revision": 3, "status": "ACTIVE",
                "compatibilities": ["EC2", "FARGATE"], "requiresAttributes": [{"name": "x"}],
                "registeredAt": "2026-01-01T00:00:00Z", "registeredBy": "arn:aws:iam::1:root",
                "containerDefinitions": [{"name": "app", "image": "old"}]
            },
            "tags": [{"key": "team", "value": "web"}]
        });
        let r = render(
            t,
            &[Deployed {
                name: "app",
                slot: 1,
            }],
        )
        .unwrap();
        assert_eq!(
            r.document,
            json!({"family": "app", "containerDefinitions": [{"name": "app", "image": "<IMAGE1_NAME>"}],
                   "tags": [{"key": "team", "value": "web"}]})
        );
        assert!(r.missing_containers.is_empty());
    }

    #[test]
    fn unknown_keys_pass_through_in_order_and_undeployed_containers_keep_their_image() {
        let text = r#"{"zNewEcsField": {"a": 1}, "family": "f", "containerDefinitions": [
            {"name": "app", "image": "x", "futureKnob": true},
            {"name": "envoy", "image": "envoy:v1"}]}"#;
        let r = render(
            parse_template(text).unwrap(),
            &[Deployed {
                name: "app",
                slot: 2,
            }],
        )
        .unwrap();
        let out = to_text(&r.document);
        assert!(out.find("zNewEcsField").unwrap() < out.find("family").unwrap());
        assert_eq!(
            r.document["containerDefinitions"][0]["futureKnob"],
            json!(true)
        );
        assert_eq!(
            r.document["containerDefinitions"][0]["image"],
            json!("<IMAGE2_NAME>")
        );
        assert_eq!(
            r.document["containerDefinitions"][1]["image"],
            json!("envoy:v1")
        );
    }

    #[test]
    fn stripping_keeps_the_order_of_the_other_keys() {
        let text = r#"{"taskDefinition": {"taskDefinitionArn": "a", "family": "f", "revision": 1,
            "networkMode": "awsvpc", "status": "ACTIVE", "containerDefinitions": [], "cpu": "256"}}"#;
        let doc = normalize(parse_template(text).unwrap()).unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["family", "networkMode", "cpu"]);
    }

    #[test]
    fn drops_null_and_empty_values_recursively() {
        let t = json!({"family": "f", "cpu": null, "volumes": [], "placementConstraints": [{}],
            "containerDefinitions": [{"name": "a", "image": "i", "environment": [{"name": "X", "value": ""}],
            "secrets": [], "portMappings": [{"containerPort": 80, "hostPort": null}]}]});
        let r = normalize(t).unwrap();
        assert_eq!(
            r,
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i",
            "environment": [{"name": "X"}], "portMappings": [{"containerPort": 80}]}]})
        );
    }

    #[test]
    fn reports_deployed_containers_the_template_lacks() {
        let t = json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]});
        let r = render(
            t,
            &[Deployed {
                name: "web",
                slot: 1,
            }],
        )
        .unwrap();
        assert_eq!(r.missing_containers, vec!["web"]);
    }

    #[test]
    fn rejects_non_objects() {
        assert_eq!(normalize(json!([1])), Err(TemplateError::NotObject));
        assert_eq!(
            normalize(json!({"taskDefinition": 3})),
            Err(TemplateError::WrappedNotObject)
        );
        assert!(matches!(
            parse_template("{"),
            Err(TemplateError::NotJson(_))
        ));
    }

    #[test]
    fn placeholder_slots() {
        assert_eq!(placeholder(3), "<IMAGE3_NAME>");
        assert_eq!(placeholder_slot("<IMAGE3_NAME>"), Some(3));
        assert_eq!(placeholder_slot("<IMAGE_NAME>"), None);
        assert_eq!(placeholder_slot("repo:tag"), None);
    }
}
