//! An artifact set read as CodeDeployToECS reads it (pure): `<IMAGE1_NAME>` in `taskdef.json`
//! replaced by `imageDetail.json`'s `ImageURI`, the AppSpec parsed, its hooks and its
//! load-balanced container found, the task definition read for running ([`TaskSpec`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::taskdef::{TaskDefError, TaskSpec};
use crate::artifacts::appspec::{self, AppSpec, HookEvent};
use crate::artifacts::{taskdef, ArtifactSet};

/// A revision ready to deploy.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The task definition as CodeDeployToECS registers it.
    pub taskdef: Value,
    pub appspec: AppSpec,
    /// The AppSpec's text as it came.
    pub appspec_text: String,
    pub appspec_file: &'static str,
    /// `imageDetail.json`'s `ImageURI`, when the set has one.
    pub image: Option<String>,
    pub hooks: Vec<(HookEvent, String)>,
    pub container: String,
    pub container_port: u16,
    pub spec: TaskSpec,
    /// How the tasks run: the task definition's containers, or a local program.
    pub backend: super::task::Backend,
}

impl Revision {
    /// A revision of one container, `image`, listening on `port` (`cutover rehearse
    /// --blue-image`): the task definition and AppSpec such a service would have.
    pub fn of_image(image: &str, port: u16, stop_timeout: u64) -> Result<Revision, RevisionError> {
        let taskdef = serde_json::json!({
            "family": "rehearse",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [{
                "name": "app",
                "image": image,
                "essential": true,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "stopTimeout": stop_timeout
            }]
        });
        let appspec_text = format!(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: app\n          ContainerPort: {port}\n"
        );
        let appspec: AppSpec =
            serde_yaml::from_str(&appspec_text).map_err(|e| RevisionError::Unreadable {
                file: appspec::YAML_FILE_NAME,
                why: e.to_string(),
            })?;
        Ok(Revision {
            spec: TaskSpec::parse(&taskdef)?,
            taskdef,
            appspec,
            appspec_text,
            appspec_file: appspec::YAML_FILE_NAME,
            image: Some(image.to_string()),
            hooks: Vec::new(),
            container: "app".into(),
            container_port: port,
            backend: super::task::Backend::Containers,
        })
    }

    /// A revision whose one task is a local program (`cutover rehearse --blue-cmd`), given a
    /// free port through `{port}` in its arguments and `PORT`.
    pub fn of_process(
        program: &std::path::Path,
        args: &[String],
        stop_timeout: u64,
    ) -> Result<Revision, RevisionError> {
        let mut r = Revision::of_image("process", 1, stop_timeout)?;
        r.image = None;
        r.container_port = 0;
        r.backend = super::task::Backend::Process {
            program: program.to_path_buf(),
            args: args.to_vec(),
        };
        Ok(r)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("{file}: {why}")]
    Unreadable { file: &'static str, why: String },
    #[error("taskdef.json: container `{container}` has the image `{image}`, which no artifact fills\n  hint: CodeDeployToECS fills <IMAGE1_NAME> from imageDetail.json; use <IMAGE1_NAME> or a full image reference")]
    Unfilled { container: String, image: String },
    #[error("the AppSpec's load balancer container `{container}` is not in taskdef.json\n  hint: LoadBalancerInfo.ContainerName must name a container of the task definition")]
    NoContainer { container: String },
    #[error("the AppSpec's ContainerPort {port} is not a portMappings containerPort of `{container}`\n  hint: add {{\"containerPort\": {port}}} to its portMappings, or fix LoadBalancerInfo.ContainerPort")]
    NoPort { container: String, port: u16 },
    #[error(transparent)]
    TaskDef(#[from] TaskDefError),
}

/// Reads `set` (already validated) into a revision.
pub fn prepare(set: &ArtifactSet) -> Result<Revision, RevisionError> {
    let text = |name: &'static str| {
        set.get(name)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
    };
    let mut doc: Value =
        serde_json::from_str(&text("taskdef.json").unwrap_or_default()).map_err(|e| {
            RevisionError::Unreadable {
                file: "taskdef.json",
                why: e.to_string(),
            }
        })?;
    let image = match text("imageDetail.json") {
        Some(t) => {
            let v: Value = serde_json::from_str(&t).map_err(|e| RevisionError::Unreadable {
                file: "imageDetail.json",
                why: e.to_string(),
            })?;
            v.get("ImageURI")
                .and_then(Value::as_str)
                .map(str::to_string)
        }
        None => None,
    };
    if let Some(defs) = doc
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
    {
        for c in defs {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let Some(img) = c.get("image").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            match (taskdef::placeholder_slot(&img), &image) {
                (Some(1), Some(uri)) => {
                    c["image"] = Value::String(uri.clone());
                }
                (Some(_), _) => {
                    return Err(RevisionError::Unfilled {
                        container: name,
                        image: img,
                    })
                }
                (None, _) => {}
            }
        }
    }
    let (appspec_file, appspec_text) = match text(appspec::YAML_FILE_NAME) {
        Some(t) => (appspec::YAML_FILE_NAME, t),
        None => (
            appspec::JSON_FILE_NAME,
            text(appspec::JSON_FILE_NAME).unwrap_or_default(),
        ),
    };
    let spec: AppSpec =
        serde_yaml::from_str(&appspec_text).map_err(|e| RevisionError::Unreadable {
            file: appspec_file,
            why: e.to_string(),
        })?;
    let Some(resource) = spec.resources.first() else {
        return Err(RevisionError::Unreadable {
            file: appspec_file,
            why: "no Resources".into(),
        });
    };
    let lbi = &resource.target_service.properties.load_balancer_info;
    let (container, container_port) = (lbi.container_name.clone(), lbi.container_port);
    let mut hooks: BTreeMap<HookEvent, String> = BTreeMap::new();
    for h in &spec.hooks {
        for (k, v) in h {
            hooks.insert(*k, v.clone());
        }
    }
    let task = TaskSpec::parse(&doc)?;
    let Some(c) = task.container(&container) else {
        return Err(RevisionError::NoContainer { container });
    };
    if !c.ports.contains(&container_port) {
        return Err(RevisionError::NoPort {
            container,
            port: container_port,
        });
    }
    Ok(Revision {
        taskdef: doc,
        appspec: spec,
        appspec_text,
        appspec_file,
        image,
        hooks: hooks.into_iter().collect(),
        container,
        container_port,
        spec: task,
        backend: super::task::Backend::Containers,
    })
}

/// The AppSpec's hook functions that have no local command, as `(event, function)`.
pub fn missing_functions<'a>(
    rev: &'a Revision,
    functions: &BTreeMap<String, String>,
) -> Vec<(HookEvent, &'a str)> {
    rev.hooks
        .iter()
        .filter(|(_, f)| !functions.contains_key(f.as_str()))
        .map(|(e, f)| (*e, f.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::ArtifactFile;

    fn set(taskdef: &str, appspec: &str, detail: Option<&str>) -> ArtifactSet {
        let mut files = vec![
            ArtifactFile {
                name: "taskdef.json".into(),
                bytes: taskdef.as_bytes().to_vec(),
            },
            ArtifactFile {
                name: "appspec.yaml".into(),
                bytes: appspec.as_bytes().to_vec(),
            },
        ];
        if let Some(d) = detail {
            files.push(ArtifactFile {
                name: "imageDetail.json".into(),
                bytes: d.as_bytes().to_vec(),
            });
        }
        ArtifactSet { files }
    }

    const APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: app\n          ContainerPort: 8080\nHooks:\n  - AfterAllowTestTraffic: smoke\n";

    #[test]
    fn fills_image1_and_reads_hooks() {
        let td = r#"{"family":"f","containerDefinitions":[{"name":"app","image":"<IMAGE1_NAME>","portMappings":[{"containerPort":8080}]}]}"#;
        let r = prepare(&set(td, APPSPEC, Some(r#"{"ImageURI":"r/app:abc"}"#))).expect("ok");
        assert_eq!(r.taskdef["containerDefinitions"][0]["image"], "r/app:abc");
        assert_eq!(r.image.as_deref(), Some("r/app:abc"));
        assert_eq!(
            r.hooks,
            vec![(HookEvent::AfterAllowTestTraffic, "smoke".to_string())]
        );
        let none = BTreeMap::new();
        assert_eq!(missing_functions(&r, &none).len(), 1);
        let some = BTreeMap::from([("smoke".to_string(), "true".to_string())]);
        assert!(missing_functions(&r, &some).is_empty());
    }

    #[test]
    fn refuses_unfilled_slots_and_a_missing_port() {
        let td = r#"{"containerDefinitions":[{"name":"app","image":"<IMAGE2_NAME>","portMappings":[{"containerPort":8080}]}]}"#;
        assert!(matches!(
            prepare(&set(td, APPSPEC, Some(r#"{"ImageURI":"x"}"#))),
            Err(RevisionError::Unfilled { .. })
        ));
        let td = r#"{"containerDefinitions":[{"name":"app","image":"r/a:1","portMappings":[{"containerPort":9090}]}]}"#;
        assert!(matches!(
            prepare(&set(td, APPSPEC, None)),
            Err(RevisionError::NoPort { port: 8080, .. })
        ));
    }
}
