//! `imagedefinitions.json`: the `[{name, imageUri}]` file of the standard ECS deploy action. Pure.

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "imagedefinitions.json";
/// The ECS action refuses larger files.
pub const MAX_BYTES: usize = 100 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDefinition {
    pub name: String,
    #[serde(rename = "imageUri")]
    pub image_uri: String,
}

pub fn render(defs: &[ImageDefinition]) -> String {
    serde_json::to_string_pretty(defs).unwrap_or_default() + "\n"
}
