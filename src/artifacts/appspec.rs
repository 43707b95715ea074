//! `appspec.yaml` (or `.json`): the CodeDeploy AppSpec for an ECS service. Pure.

use serde::{Deserialize, Serialize};

pub const YAML_FILE_NAME: &str = "appspec.yaml";
pub const JSON_FILE_NAME: &str = "appspec.json";
/// Left literally in the AppSpec; the deploy action writes the registered task definition's ARN there.
pub const TASK_DEFINITION_PLACEHOLDER: &str = "<TASK_DEFINITION>";
pub const MAX_SUBNETS: usize = 16;
pub const MAX_SECURITY_GROUPS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

impl Format {
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Yaml => YAML_FILE_NAME,
            Format::Json => JSON_FILE_NAME,
        }
    }
}

/// The five ECS lifecycle hooks, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HookEvent {
    BeforeInstall,
    AfterInstall,
    AfterAllowTestTraffic,
    BeforeAllowTraffic,
    AfterAllowTraffic,
}

impl HookEvent {
    pub const ALL: [HookEvent; 5] = [
        HookEvent::BeforeInstall,
        HookEvent::AfterInstall,
        HookEvent::AfterAllowTestTraffic,
        HookEvent::BeforeAllowTraffic,
        HookEvent::AfterAllowTraffic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::BeforeInstall => "BeforeInstall",
            HookEvent::AfterInstall => "AfterInstall",
            HookEvent::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            HookEvent::BeforeAllowTraffic => "BeforeAllowTraffic",
            HookEvent::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The snake_case key used in cutover.toml.
    pub fn config_key(self) -> &'static str {
        match self {
            HookEvent::BeforeInstall => "before_install",
            HookEvent::AfterInstall => "after_install",
            HookEvent::AfterAllowTestTraffic => "after_allow_test_traffic",
            HookEvent::BeforeAllowTraffic => "before_allow_traffic",
            HookEvent::AfterAllowTraffic => "after_allow_traffic",
        }
    }

    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppSpec {
    #[serde(rename = "version")]
    pub version: Version,
    pub resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub hooks: Vec<std::collections::BTreeMap<HookEvent, String>>,
}

/// `version: 0.0`, written as a number as in AWS's examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(0.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.as_f64() == Some(0.0) || v.as_str() == Some("0.0") {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom("version must be 0.0"))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "TargetService")]
    pub target_service: TargetService,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetService {
    #[serde(rename = "Type")]
    pub kind: String,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    pub task_definition: String,
    pub load_balancer_info: LoadBalancerInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerInfo {
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: AwsvpcConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AwsvpcConfiguration {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapacityProviderItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
    pub capacity_provider: String,
    pub weight: u32,
}

impl AppSpec {
    /// An AppSpec for one ECS service with `<TASK_DEFINITION>` and hooks in lifecycle order.
    pub fn new(properties: Properties, hooks: &[(HookEvent, String)]) -> Self {
        let mut hooks = hooks.to_vec();
        hooks.sort_by_key(|(event, _)| *event);
        AppSpec {
            version: Version,
            resources: vec![Resource {
                target_service: TargetService {
                    kind: "AWS::ECS::Service".into(),
                    properties,
                },
            }],
            hooks: hooks
                .into_iter()
                .map(|(e, f)| [(e, f)].into_iter().collect())
                .collect(),
        }
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Yaml => serde_yaml::to_string(self).unwrap_or_default(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> Properties {
        Properties {
            task_definition: TASK_DEFINITION_PLACEHOLDER.into(),
            load_balancer_info: LoadBalancerInfo {
                container_name: "app".into(),
                container_port: 8080,
            },
            platform_version: None,
            network_configuration: None,
            capacity_provider_strategy: vec![],
        }
    }

    #[test]
    fn minimal_yaml() {
        let yaml = AppSpec::new(props(), &[]).render(Format::Yaml);
        assert_eq!(
            yaml,
            "version: 0.0\nResources:\n- TargetService:\n    Type: AWS::ECS::Service\n    Properties:\n      \
             TaskDefinition: <TASK_DEFINITION>\n      LoadBalancerInfo:\n        ContainerName: app\n        \
             ContainerPort: 8080\n"
        );
    }

    #[test]
    fn hooks_come_out_in_lifecycle_order() {
        let hooks = [
            (HookEvent::AfterAllowTraffic, "last".to_string()),
            (HookEvent::BeforeInstall, "first".to_string()),
        ];
        let yaml = AppSpec::new(props(), &hooks).render(Format::Yaml);
        assert!(
            yaml.ends_with("Hooks:\n- BeforeInstall: first\n- AfterAllowTraffic: last\n"),
            "{yaml}"
        );
    }

    #[test]
    fn json_round_trips() {
        let spec = AppSpec::new(props(), &[(HookEvent::AfterInstall, "fn".into())]);
        let back: AppSpec = serde_json::from_str(&spec.render(Format::Json)).unwrap();
        assert_eq!(back, spec);
        let back: AppSpec = serde_yaml::from_str(&spec.render(Format::Yaml)).unwrap();
        assert_eq!(back, spec);
    }
}
